"""``clinvla-kit style-shift``: the report-style degradation experiment (align on site A vs A + site B, base vs
adapted text encoder, evaluated on both sites' test sets; eval/style_shift.py)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from clinvla_kit.eval.style_shift import StyleShiftCfg

    d = StyleShiftCfg()
    parser.add_argument("--out", required=True, help="experiment directory (data, encoder, runs, style_shift.md)")
    parser.add_argument("--studies", type=int, default=d.studies, help="archive studies per site")
    parser.add_argument("--image-size", type=int, default=d.image_size)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds), help="alignment seeds")
    parser.add_argument("--steps", type=int, default=d.steps, help="alignment steps per run")
    parser.add_argument("--text-steps", type=int, default=d.text_steps, help="pretrain-text steps")
    parser.add_argument("--preset", default=d.preset)
    parser.add_argument("--set", nargs="*", default=list(d.overrides), dest="overrides",
                        help="config overrides for every alignment run")
    parser.add_argument("--eval-studies", type=int, default=d.eval_studies)
    parser.add_argument("--n-boot", type=int, default=d.n_boot)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    import sys

    from clinvla_kit.data.errors import DataError
    from clinvla_kit.eval.style_shift import StyleShiftCfg, run_style_shift

    cfg = StyleShiftCfg(studies=args.studies, image_size=args.image_size, seeds=tuple(args.seeds), steps=args.steps,
                        text_steps=args.text_steps, preset=args.preset, overrides=tuple(args.overrides),
                        eval_studies=args.eval_studies, n_boot=args.n_boot, workers=args.workers)
    try:
        run_style_shift(args.out, cfg, progress=not args.quiet)
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"clinvla-kit style-shift: error: {e}", file=sys.stderr)
        return 1
    from pathlib import Path

    print((Path(args.out) / "style_shift.md").read_text())
    return 0
