"""``clinvla-kit synth``: generate the SynthCXR data set in MIMIC-CXR-JPG format (see data_cards/synthcxr.md)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument("--studies", type=int, default=400, help="archive studies (benchmark cohort is added)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=256, help="square image side in pixels")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--site", default="A", choices=["A", "B"],
                        help="B: a second hospital with telegraphic impression-only reports (synth/site_b.py)")
    parser.add_argument("--appearance", default="same", choices=["same", "vendor"],
                        help="site B image look: same as site A, or another vendor's (gamma, contrast, blur)")


def run(args: argparse.Namespace) -> int:
    import json

    from clinvla_kit.synth.generate import generate

    summary = generate(args.out, args.studies, args.seed, image_size=args.image_size, workers=args.workers,
                       site=args.site, appearance=args.appearance)
    print(json.dumps(summary, indent=2))
    return 0
