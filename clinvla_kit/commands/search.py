"""``clinvla-kit search``: query a FAISS archive index by report text or by an image."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="index file written by `clinvla-kit index`")
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument("--text", default=None, help="free-text query, e.g. 'small left pleural effusion'")
    query.add_argument("--image", default=None, help="query image path (used as a frontal view)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--run", default=None, help="model run directory (default: the one the index was built with)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from clinvla_kit.data.errors import DataError
    from clinvla_kit.eval.embed import Embedder
    from clinvla_kit.eval.index import ArchiveIndex

    try:
        index = ArchiveIndex.load(args.index)
        run_dir = args.run or index.extra.get("run")
        if not run_dir:
            raise ValueError(f"{args.index}: the sidecar names no model run; pass --run")
        emb = Embedder.from_run(run_dir, cache_dir=None, progress=False)
        q = emb.texts([args.text]) if args.text is not None else emb.images([args.image], views="frontal")
        hits = index.search(q, k=args.k)[0]
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"clinvla-kit search: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([h.__dict__ for h in hits], indent=2))
    else:
        print("rank  score   study_id  path")
        for i, h in enumerate(hits, 1):
            print(f"{i:>4}  {h.score:6.3f}  {h.study_id}  {h.path}")
    return 0
