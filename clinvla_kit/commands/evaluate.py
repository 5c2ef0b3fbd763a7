"""``clinvla-kit evaluate``: retrieval, zero-shot and probe metrics of a run -> metrics.json + metrics.md."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True,
                        help="run directory (config.json + model.safetensors) or a shipped aligned model's name")
    parser.add_argument("--data", required=True, help="data directory (SynthCXR output, or a folder of benchmarks)")
    parser.add_argument("--out", default=None, help="metrics.json path (default RUN/metrics.json); metrics.md beside it")
    parser.add_argument("--threshold", default="cv-f1", choices=["argmax", "fixed", "cv-acc", "cv-f1"],
                        help="binary threshold method for pneumonia ACC/F1 (default cv-f1, as ALTA)")
    parser.add_argument("--rsna-split", default="test_list", choices=["test_list", "gloria"],
                        help="test_list (MRM/ALTA) or gloria (70/15/15 by patient, seed 0)")
    parser.add_argument("--tasks", nargs="+", default=None, help="subset of: 8x200 5x200 rsna temporal probe")
    parser.add_argument("--prompts", default=None, help="JSON file class -> prompts (default: the kit's templates)")
    parser.add_argument("--aggregate", default="mean", choices=["mean", "max"], help="prompt aggregation per class")
    parser.add_argument("--max-prompts", type=int, default=None,
                        help="seeded subset of at most N template prompts per class (default: all)")
    parser.add_argument("--znorm", action="store_true", help="per-class z-normalisation (batch-dependent scores)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write RUN/embeddings/")


def json_safe(obj):
    """NaN/inf -> None and numpy scalars -> Python, so metrics.json is strict JSON."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def has_results(metrics: dict) -> bool:
    """Did any task produce a number (not only "skipped" notes)?"""
    return bool(metrics.get("retrieval") or metrics.get("zeroshot") or metrics.get("probe")
                or metrics.get("probe_temporal"))


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from clinvla_kit.aligned_weights import resolve_run
    from clinvla_kit.data.errors import DataError
    from clinvla_kit.eval.report import extra_table, metrics_table
    from clinvla_kit.eval.tasks import evaluate_run

    run_dir = resolve_run(args.run)  # a shipped aligned model's name -> its materialised run directory
    out = Path(args.out) if args.out else run_dir / "metrics.json"
    if not Path(args.data).is_dir():
        print(f"clinvla-kit evaluate: error: data directory {args.data} does not exist (nothing evaluated, "
              f"{out} left as it was)", file=sys.stderr)
        return 1
    try:
        metrics = evaluate_run(
            run_dir, args.data, cache=not args.no_cache, device=args.device, batch_size=args.batch_size,
            tasks=args.tasks, threshold=args.threshold, rsna_split=args.rsna_split, n_boot=args.n_boot,
            seed=args.seed, prompt_file=args.prompts, aggregate=args.aggregate, znorm=args.znorm,
            max_prompts=args.max_prompts, progress=not args.quiet,
        )
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"clinvla-kit evaluate: error: {e}", file=sys.stderr)
        return 1
    if not has_results(metrics):
        notes = "; ".join(metrics.get("notes", []))
        if out.exists():  # never replace results with an empty evaluation
            print(f"clinvla-kit evaluate: error: no task ran on {args.data} ({notes}); {out} left as it was",
                  file=sys.stderr)
            return 1
        print(f"clinvla-kit evaluate: warning: no task ran on {args.data} ({notes})", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json_safe(metrics), indent=2) + "\n")
    md = out.with_suffix(".md")
    extra = extra_table(metrics)
    from clinvla_kit.eval.chance import benchmark_chance

    chance = benchmark_chance(args.data)  # the same benchmark files the tasks read; missing ones give no keys
    md.write_text(f"# Evaluation of {args.run} on {args.data}\n\n" + metrics_table(metrics, chance=chance)
                  + (f"\n## Other metrics\n\n{extra}" if extra else ""))
    print(md.read_text())
    print(f"wrote {out} and {md}")
    return 0
