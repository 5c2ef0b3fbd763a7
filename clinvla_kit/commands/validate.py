"""``clinvla-kit validate --data DIR [--kind mimic] [--deep]``: name every bad file, row and field; exit 1 on errors."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="data directory")
    parser.add_argument("--kind", default="mimic",
                        help="data-set kind (a key of clinvla_kit.data.validation.VALIDATORS); default mimic")
    parser.add_argument("--deep", action="store_true", help="fully decode every image (default: header check)")
    parser.add_argument("--quiet", action="store_true", help="print errors and the summary only, not warnings")


def run(args: argparse.Namespace) -> int:
    import inspect
    import sys
    from pathlib import Path

    from clinvla_kit.data.validation import VALIDATORS

    if args.kind not in VALIDATORS:
        print(f"clinvla-kit validate: unknown --kind {args.kind!r}; known kinds: {sorted(VALIDATORS)}",
              file=sys.stderr)
        return 2
    validator = VALIDATORS[args.kind]
    kwargs = {}
    if args.deep:
        params = inspect.signature(validator).parameters
        if "deep" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs["deep"] = True
        else:
            print(f"note: the {args.kind} validator has no --deep mode; running its default checks", file=sys.stderr)
    report = validator(Path(args.data), **kwargs)
    for p in report.errors:
        print(p)
    if not args.quiet:
        for p in report.warnings:
            print(p)
    print(report.summary())
    return 0 if report.ok else 1
