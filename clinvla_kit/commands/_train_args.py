"""Arguments shared by ``train``, ``pretrain-mae`` and ``recipe`` (argparse only: converted to a RunCfg at once)."""

from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--data", required=True, help="MIMIC-format data directory (clinvla-kit synth output)")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--preset", default="tiny", help="tiny | small | paper | path/to/config.json (default tiny)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimiser updates (default: the preset's epochs)")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. --set train.batch_size=8 model.vision.mask_ratio=0.5")


def load_cfg(args: argparse.Namespace):
    """argparse -> RunCfg (``load_preset`` + ``apply_overrides``); nothing deeper sees ``args``."""
    from clinvla_kit.config import apply_overrides, load_preset

    return apply_overrides(load_preset(args.preset), list(args.overrides))


def run_reporting_errors(name: str, fn) -> int:
    """Run ``fn()``; bad input and stopped training print one clear line (no traceback) and return 1."""
    import sys

    from clinvla_kit import distributed
    from clinvla_kit.train.loop import NonFiniteLossError, TooManySkippedError

    try:
        fn()
        return 0
    except (ValueError, FileNotFoundError, NonFiniteLossError, TooManySkippedError) as e:
        print(f"clinvla-kit {name}: error: {e}", file=sys.stderr)
        return 1
    finally:
        distributed.cleanup()
