"""``clinvla-kit pretrain-mrm``: masked-record pretraining of the image tower (MAE on the views plus report MLM
conditioned on the image's global token, as MRM / ALTA's starting point) -> RUN/encoder.safetensors."""

from __future__ import annotations

import argparse

from clinvla_kit.commands._train_args import (
    add_common,
    add_overwrite,
    check_out_dir,
    load_cfg,
    refuse_duplicated_rows,
    run_reporting_errors,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, "run directory (encoder.safetensors, config.json, log.jsonl, checkpoint/)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint/last.pt")
    add_overwrite(parser)


def run(args: argparse.Namespace) -> int:
    from clinvla_kit import distributed
    from clinvla_kit.train.pretrain_mrm import pretrain_mrm

    def go() -> None:
        refuse_duplicated_rows(args.data)
        check_out_dir(args.out, args.resume, args.overwrite, "pretrain-mrm")
        run_dir = pretrain_mrm(load_cfg(args), args.data, args.out, max_steps=args.max_steps, resume=args.resume)
        if distributed.is_main():
            print(f"encoder weights: {run_dir / 'encoder.safetensors'} (use: clinvla-kit train --init-vision {run_dir})")

    return run_reporting_errors("pretrain-mrm", go)
