"""``clinvla-kit ablate``: train and evaluate the paper's Table 6 variants over seeds -> ablation.json + .md."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="MIMIC-format data directory with benchmarks (SynthCXR)")
    parser.add_argument("--out", required=True, help="output directory: OUT/<variant>/seed<k>/ runs, OUT/ablation.*")
    parser.add_argument("--preset", default="tiny", help="tiny | small | paper | path/to/config.json")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="slugs (default all): full no-adapt no-multiview no-invertible no-temporal-multiview "
                             "no-local no-global full-ft lora; 'full' is always run")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1), same for every variant")
    parser.add_argument("--max-steps", type=int, default=None, help="same step budget for every variant")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides applied to the base config before each variant's own")
    parser.add_argument("--tasks", nargs="+", default=None, help="evaluation tasks (default: all but probe)")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--threshold", default="cv-f1", choices=["argmax", "fixed", "cv-acc", "cv-f1"])
    parser.add_argument("--max-prompts", type=int, default=None, help="template prompts per class (default: all)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from clinvla_kit.commands.evaluate import json_safe
    from clinvla_kit.config import apply_overrides, load_preset
    from clinvla_kit.data.errors import DataError
    from clinvla_kit.eval.ablation import ablation_table, run_ablation, select_variants, summarize
    from clinvla_kit.eval.tasks import evaluate_run
    from clinvla_kit.train.align import train

    tasks = args.tasks or ["8x200", "5x200", "rsna", "temporal"]

    def train_fn(cfg, run_dir: Path) -> Path:
        return Path(train(cfg, args.data, run_dir, max_steps=cfg.train.max_steps).run_dir)

    def eval_fn(run_dir: Path) -> dict:
        m = evaluate_run(run_dir, args.data, progress=False, tasks=tasks, n_boot=args.n_boot,
                         threshold=args.threshold, max_prompts=args.max_prompts)
        (run_dir / "metrics.json").write_text(json.dumps(json_safe(m), indent=2) + "\n")
        return m

    try:
        base = apply_overrides(load_preset(args.preset), list(args.overrides))
        variants = select_variants(args.variants)
        runs = run_ablation(base, variants, list(range(args.seeds)), args.out, train_fn, eval_fn,
                            max_steps=args.max_steps)
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"clinvla-kit ablate: error: {e}", file=sys.stderr)
        return 1
    from clinvla_kit.eval.ablation import DEFAULT_METRICS

    summary = summarize(runs, DEFAULT_METRICS)
    out = Path(args.out)
    (out / "ablation.json").write_text(json.dumps(json_safe({"summary": summary, "seeds": args.seeds,
                                                             "max_steps": args.max_steps, "preset": args.preset,
                                                             "variants": [v.slug for v in variants]}), indent=2))
    table = ablation_table(summary, DEFAULT_METRICS)
    (out / "ablation.md").write_text(f"# Ablations ({args.preset}, {args.seeds} seed(s), "
                                     f"max_steps={args.max_steps})\n\n" + table)
    print(table)
    return 0
