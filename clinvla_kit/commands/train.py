"""``clinvla-kit train``: ClinVLA alignment training (CPU, one GPU, or ``torchrun`` for several)."""

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
    add_common(parser, "run directory (weights, config.json, tokenizer, log.jsonl, checkpoint/)")
    parser.add_argument("--init-vision", default=None, help="pretrain-mae run directory or encoder weights file")
    parser.add_argument("--init-text", default=None, help="local BERT directory (a pretrain-mlm run)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint/last.pt")
    add_overwrite(parser)


def run(args: argparse.Namespace) -> int:
    import json

    from clinvla_kit import distributed
    from clinvla_kit.train.align import train

    def go() -> None:
        refuse_duplicated_rows(args.data)
        check_out_dir(args.out, args.resume, args.overwrite, "train")
        result = train(load_cfg(args), args.data, args.out, init_vision=args.init_vision, init_text=args.init_text,
                       resume=args.resume, max_steps=args.max_steps)
        if distributed.is_main():
            print(json.dumps({"run_dir": str(result.run_dir), **result.metrics}, indent=2, default=str))

    return run_reporting_errors("train", go)
