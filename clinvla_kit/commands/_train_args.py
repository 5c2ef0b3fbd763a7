"""Arguments shared by ``train``, ``pretrain-mae`` and ``recipe`` (argparse only: converted to a RunCfg at once)."""

from __future__ import annotations

import argparse
import os
import sys


def add_common(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--data", required=True, help="MIMIC-format data directory (clinvla-kit synth output)")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--preset", default="tiny", help="tiny | small | paper | path/to/config.json (default tiny)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimiser updates (default: the preset's epochs)")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. --set train.batch_size=8 model.vision.mask_ratio=0.5")


RUN_ENTRIES: tuple[str, ...] = ("config.json", "model.safetensors", "encoder.safetensors", "log.jsonl",
                                 "train_metrics.json", "checkpoint", "recipe.json", "run", "mae", "mlm")
"""What marks a directory as holding a run (``train``/``pretrain-mae``) or a recipe's runs (``OUT/run``...)."""

STALE_ENTRIES: tuple[str, ...] = ("model.safetensors", "encoder.safetensors", "train_metrics.json", "checkpoint",
                                  "metrics.json", "metrics.md", "embeddings", "recipe.json")
"""What ``--overwrite`` removes before the new run starts, so that nothing of the old run (its weights, its
checkpoint, its metrics or cached embeddings) is left beside the new one if the new run stops early."""


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing run in --out (its weights, checkpoint, log and metrics)")


def check_out_dir(out, resume: bool, overwrite: bool, command: str) -> None:
    """Refuse to write a new run over an existing one unless ``--resume`` or ``--overwrite`` says so.

    Why: a run directory holds hours of work (weights, checkpoint, log); starting a fresh run there used to
    replace it silently. With ``--overwrite`` the old run's weights, checkpoint and metrics are removed first
    (``STALE_ENTRIES``, also inside ``run/``, ``mae/``, ``mlm/`` of a recipe), then the new run writes the rest.
    """
    import shutil
    from pathlib import Path

    out = Path(out)
    found = [n for n in RUN_ENTRIES if (out / n).exists()] if out.is_dir() else []
    if not found or resume:
        return
    if not overwrite:
        raise FileExistsError(f"{out} already holds a run ({', '.join(found)}); pass --resume to continue it, "
                              f"--overwrite to replace it, or choose another --out")
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun only rank 0 removes the old run
    for base in (out, out / "run", out / "mae", out / "mlm"):
        for name in STALE_ENTRIES:
            p = base / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
    log = out / "log.jsonl"
    log.unlink(missing_ok=True)
    print(f"clinvla-kit {command}: --overwrite: replacing the run in {out}", file=sys.stderr)


def refuse_duplicated_rows(data_dir) -> None:
    """Duplicated rows in the MIMIC-format CSVs (``validate`` names them as errors) stop a run before it starts.

    Why not train on: a repeated dicom_id or (subject, study) row means a broken merge or copy, and the loader would
    silently keep one of the two (possibly conflicting) rows."""
    from clinvla_kit.data.validation import mimic_duplicates

    dups = mimic_duplicates(data_dir, limit=4)
    if dups:
        shown = "; ".join(f"{p.file}, row {p.row}, field {p.field!r}: {p.message}" for p in dups[:3])
        raise ValueError(f"{data_dir}: duplicated rows in the CSVs ({shown}{' ...' if len(dups) > 3 else ''}); "
                         f"`clinvla-kit validate --data {data_dir}` lists them all")


def load_cfg(args: argparse.Namespace):
    """argparse -> RunCfg (``load_preset`` + ``apply_overrides``); nothing deeper sees ``args``."""
    from clinvla_kit.config import apply_overrides, load_preset

    return apply_overrides(load_preset(args.preset), list(args.overrides))


def run_reporting_errors(name: str, fn) -> int:
    """Run ``fn()``; bad input and stopped training print one clear line (no traceback) and return 1."""
    from clinvla_kit import distributed
    from clinvla_kit.train.loop import NonFiniteLossError, TooManySkippedError

    try:
        fn()
        return 0
    except (ValueError, FileNotFoundError, FileExistsError, NonFiniteLossError, TooManySkippedError) as e:
        print(f"clinvla-kit {name}: error: {e}", file=sys.stderr)
        return 1
    finally:
        distributed.cleanup()
