"""``clinvla-kit ablate``: train and evaluate the paper's Table 6 variants over seeds -> ablation.json + .md."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="MIMIC-format data directory with benchmarks (SynthCXR)")
    parser.add_argument("--out", required=True, help="output directory: OUT/<variant>/seed<k>/ runs, OUT/ablation.*")
    parser.add_argument("--preset", default="tiny", help="tiny | small | paper | path/to/config.json")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="slugs (default all): full no-adapt no-multiview no-invertible no-temporal-multiview "
                             "no-local no-global full-ft lora clip-scratch; 'full' is always run")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1), same for every variant")
    parser.add_argument("--seed-list", type=int, nargs="+", default=None,
                        help="explicit seeds instead of 0..N-1 (e.g. --seed-list 1 2 to add seeds to a table)")
    parser.add_argument("--max-steps", type=int, default=None, help="same step budget for every variant")
    parser.add_argument("--steps-for", nargs="+", default=[], metavar="SLUG=STEPS",
                        help="per-variant step budgets (e.g. full-ft=125 to match the adapters' wall clock)")
    parser.add_argument("--summarize-only", action="store_true",
                        help="train nothing: summarise every finished OUT/<variant>/seed<k>/metrics.json")
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
    from clinvla_kit.eval.ablation import (
        DEFAULT_METRICS,
        ablation_table,
        collect_runs,
        run_ablation,
        select_variants,
        summarize,
    )
    from clinvla_kit.eval.tasks import evaluate_run
    from clinvla_kit.train.align import train

    tasks = args.tasks or ["8x200", "5x200", "rsna", "temporal"]

    def train_fn(cfg, run_dir: Path) -> Path:
        return Path(train(cfg, args.data, run_dir, max_steps=cfg.train.max_steps).run_dir)

    def eval_fn(run_dir: Path) -> dict:
        return evaluate_run(run_dir, args.data, progress=False, tasks=tasks, n_boot=args.n_boot,
                            threshold=args.threshold, max_prompts=args.max_prompts)

    try:
        steps_for = parse_steps_for(args.steps_for)
        base = apply_overrides(load_preset(args.preset), list(args.overrides))
        variants = select_variants(args.variants)
        seeds = args.seed_list if args.seed_list is not None else list(range(args.seeds))
        if not args.summarize_only:
            run_ablation(base, variants, seeds, args.out, train_fn, eval_fn, max_steps=args.max_steps,
                         steps_for=steps_for, base_overrides=list(args.overrides),
                         log=lambda msg: print(msg, file=sys.stderr, flush=True))
        runs = collect_runs(args.out, variants)
        if "full" not in runs:
            raise ValueError(f"{args.out}: no finished run of 'full' (OUT/full/seed<k>/metrics.json)")
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"clinvla-kit ablate: error: {e}", file=sys.stderr)
        return 1

    from clinvla_kit.eval.chance import benchmark_chance

    summary = summarize(runs, DEFAULT_METRICS)
    out = Path(args.out)
    n_seeds = {slug: len(r) for slug, r in runs.items()}
    record = {"summary": summary, "seeds": n_seeds, "max_steps": args.max_steps, "steps_for": steps_for,
              "preset": args.preset, "overrides": list(args.overrides), "data": str(args.data),
              "variants": list(runs), "chance": benchmark_chance(args.data), "training": {slug: [r.get("train", {}) for r in rs] for slug, rs in runs.items()},
              "runs": runs}
    (out / "ablation.json").write_text(json.dumps(json_safe(record), indent=2) + "\n")
    table = ablation_table(summary, DEFAULT_METRICS)
    seeds_text = ", ".join(f"{slug} {n}" for slug, n in n_seeds.items())
    (out / "ablation.md").write_text(f"# Ablations ({args.preset}; seeds: {seeds_text}; "
                                     f"max_steps={args.max_steps}, per variant {steps_for or 'none'})\n\n" + table)
    print(table)
    return 0


def parse_steps_for(items: list[str]) -> dict[str, int]:
    """``["full-ft=125"]`` -> ``{"full-ft": 125}``; a malformed item is refused, naming it."""
    from clinvla_kit.eval.ablation import VARIANT_BY_SLUG

    out: dict[str, int] = {}
    for item in items:
        slug, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"--steps-for {item!r}: expected SLUG=STEPS with a positive integer")
        if slug.strip() not in VARIANT_BY_SLUG:
            raise ValueError(f"--steps-for {item!r}: unknown variant {slug.strip()!r}; choose from {list(VARIANT_BY_SLUG)}")
        out[slug.strip()] = int(value)
    return out
