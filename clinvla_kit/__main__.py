from clinvla_kit.cli import main

raise SystemExit(main())
