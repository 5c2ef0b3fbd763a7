"""``clinvla-kit pretrain-mlm``: a small report BERT of our own (WordPiece + masked LM) -> RUN/text."""

from __future__ import annotations

import argparse

from clinvla_kit.commands._train_args import add_common, load_cfg, run_reporting_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser, "run directory (text/ = HF BERT + tokenizer, config.json, log.jsonl)")


def run(args: argparse.Namespace) -> int:
    from clinvla_kit.config import save_config
    from clinvla_kit.data.errors import DataError
    from clinvla_kit.data.reports import clean_report
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.model.mlm import pretrain_mlm

    def go() -> None:
        cfg = load_cfg(args)
        records = load_mimic(args.data, splits="train")
        texts = []
        for r in records:
            try:
                texts.append(clean_report(r.report, expand_abbreviations=cfg.data.expand_abbreviations,
                                          remove_hedges=cfg.data.remove_hedges, source=r.report_path))
            except DataError:
                continue  # an empty report has nothing to teach the language model
        text_dir = pretrain_mlm(texts, args.out, cfg.mlm, max_tokens=cfg.model.text.max_tokens,
                                seed=cfg.train.seed, max_steps=args.max_steps)
        save_config(cfg, text_dir.parent / "config.json")
        print(f"text model: {text_dir} (use: clinvla-kit train --init-text {text_dir.parent})")

    return run_reporting_errors("pretrain-mlm", go)
