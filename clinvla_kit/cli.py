"""The ``clinvla-kit`` console script (also ``python -m clinvla_kit``).

Each sub-command lives in ``clinvla_kit/commands/<module>.py`` with two functions:
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their command runs, so
``clinvla-kit synth`` does not pay for importing torch, transformers and plotly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> (module under clinvla_kit.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("synth", "generate the SynthCXR data set in MIMIC-CXR-JPG format"),
    "validate": ("validate", "check a data directory and name every bad file, row or field"),
    "pretrain-mae": ("pretrain_mae", "masked-image (MAE) pretraining of the image tower"),
    "pretrain-mrm": ("pretrain_mrm", "masked-record pretraining (MAE + report MLM on the image) of the image tower"),
    "export-weights": ("export_weights", "a pretraining run's encoder -> shipped fp16 weights + registry entry"),
    "pretrain-mlm": ("pretrain_mlm", "masked-language pretraining of a small report BERT"),
    "pretrain-text": ("pretrain_text", "adapt a text encoder (BERT or LLM) to report styles: MLM + supervised contrastive"),
    "train": ("train", "ClinVLA alignment training (CPU, one GPU, or torchrun)"),
    "recipe": ("recipe", "every step of a preset's offline recipe: MAE pretraining, then alignment"),
    "evaluate": ("evaluate", "retrieval, zero-shot and probe metrics -> metrics.json"),
    "ablate": ("ablate", "train and evaluate the paper's Table 6 variants over seeds"),
    "style-shift": ("style_shift", "report-style degradation experiment: site A vs A + site B, base vs adapted text encoder"),
    "index": ("index", "build a FAISS index of image embeddings for an archive"),
    "embed": ("embed", "embed a folder of studies or image files -> .parquet / .npz (clinvla_kit.load)"),
    "search": ("search", "query a FAISS index by text or by image"),
    "notebooks": ("notebooks", "execute every notebook with papermill and export HTML"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clinvla-kit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            mod = importlib.import_module(f"clinvla_kit.commands.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"clinvla_kit.commands.{module}":
                raise
            p.set_defaults(_missing=True)
            continue
        mod.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_missing", False):
        print(f"clinvla-kit {args.command}: not available in this version", file=sys.stderr)
        return 2
    mod = importlib.import_module(f"clinvla_kit.commands.{args._module}")
    return int(mod.run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
