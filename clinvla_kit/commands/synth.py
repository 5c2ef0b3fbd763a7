"""``clinvla-kit synth``: generate the SynthCXR data set in MIMIC-CXR-JPG format (see data_cards/synthcxr.md)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--studies", type=int, default=400, help="archive studies (benchmark cohort is added)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=256, help="square image side in pixels")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a previous SynthCXR output in --out (its images, reports, CSVs, benchmarks)")
    parser.add_argument("--site", default="A", choices=["A", "B"],
                        help="B: a second hospital with telegraphic impression-only reports (synth/site_b.py)")
    parser.add_argument("--appearance", default="same", choices=["same", "vendor"],
                        help="site B image look: same as site A, or another vendor's (gamma, contrast, blur)")


SYNTH_MARKER = "annotations.jsonl"
"""Written by every SynthCXR generation and by no real data set: what ``--overwrite`` requires before deleting."""
SYNTH_ENTRIES = ("annotations.jsonl", "benchmarks", "files", "reports", "report_errors.jsonl",
                 "report_variants.jsonl", "manifest.json", "mimic-cxr-2.0.0-metadata.csv", "mimic-cxr-2.0.0-split.csv",
                 "mimic-cxr-2.0.0-chexpert.csv")


def prepare_out(out, overwrite: bool) -> None:
    """Refuse a non-empty ``--out`` (old images would stay beside the new CSVs), unless ``--overwrite`` is given and
    the folder is a SynthCXR output (or an interrupted one: only ``files/`` and ``reports/``): then what synth
    wrote there is removed first (anything else is kept).

    Raises:
        FileExistsError: the folder is not empty, or (with ``--overwrite``) not a SynthCXR output.
    """
    import shutil
    from pathlib import Path

    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
    if not overwrite:
        raise FileExistsError(f"{out} is not empty ({shown}); choose an empty or new folder, or pass --overwrite to "
                              "replace a previous SynthCXR output there")
    interrupted = set(entries) <= {"files", "reports"}  # a killed synth: images and reports, no CSVs yet
    if not (out / SYNTH_MARKER).is_file() and not interrupted:
        raise FileExistsError(f"{out} does not look like a SynthCXR output (no {SYNTH_MARKER}); --overwrite deletes "
                              "only SynthCXR outputs: choose an empty or new folder")
    for name in SYNTH_ENTRIES:
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from clinvla_kit.synth.generate import generate

    try:
        prepare_out(args.out, args.overwrite)
    except FileExistsError as e:
        print(f"clinvla-kit synth: error: {e}", file=sys.stderr)
        return 1
    summary = generate(args.out, args.studies, args.seed, image_size=args.image_size, workers=args.workers,
                       site=args.site, appearance=args.appearance)
    print(json.dumps(summary, indent=2))
    return 0
