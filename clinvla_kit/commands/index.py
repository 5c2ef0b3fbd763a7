"""``clinvla-kit index``: embed every study of an archive and write a FAISS index (INDEX + INDEX.json)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory of the model that embeds the archive")
    parser.add_argument("--data", required=True, help="MIMIC-format archive (SynthCXR output or MIMIC-CXR-JPG)")
    parser.add_argument("--out", required=True, help="index file to write (its sidecar is OUT.json)")
    parser.add_argument("--kind", default="flat", choices=["flat", "hnsw", "ivf"],
                        help="exact (flat) or approximate (hnsw, ivf)")
    parser.add_argument("--views", default="all", choices=["all", "frontal"], help="image slots used per study")
    parser.add_argument("--splits", nargs="+", default=None, help="MIMIC splits to index (default: all)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from clinvla_kit.data.errors import DataError
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.eval.embed import Embedder
    from clinvla_kit.eval.index import ArchiveIndex

    try:
        records = list(load_mimic(args.data, splits=args.splits))
        if not records:
            raise ValueError(f"{args.data}: no studies to index")
        emb = Embedder.from_run(args.run, device=args.device, batch_size=args.batch_size)
        z = emb.images(records, views=args.views)
        paths = [str(r.images["frontal"] or r.images["lateral"] or "") for r in records]
        index = ArchiveIndex.build(z, [r.study_id for r in records], paths, kind=args.kind)
        index.extra = {"run": str(Path(args.run).resolve()), "data": str(Path(args.data).resolve()),
                       "views": args.views}
        index.save(args.out)
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"clinvla-kit index: error: {e}", file=sys.stderr)
        return 1
    print(f"indexed {len(records)} studies ({args.kind}, dim {index.dim}) -> {args.out}")
    return 0
