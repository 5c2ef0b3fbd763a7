"""``clinvla-kit embed``: embed a folder of studies with a model (``clinvla_kit.load``) -> a .parquet or .npz file.

The folder is either a MIMIC-format data directory (SynthCXR output, MIMIC-CXR-JPG: every study with all its
views, optionally its report too) or a plain folder of image files (PNG, JPG, DICOM, searched recursively; each
file is one study in the frontal slot). Unreadable studies are skipped and counted, never silently dropped: their
ids and reasons are printed and stored in the output's metadata. An existing output is kept unless ``--overwrite``.

Output columns / arrays: ``study_id``, ``subject_id`` (MIMIC), one path per view, ``image_emb`` [N, D] (L2-normalised)
and, with ``--texts``, ``text_emb`` [N, D] of the cleaned reports.
"""

from __future__ import annotations

import argparse

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run directory or shipped model name (clinvla_kit.load)")
    parser.add_argument("--data", required=True, help="MIMIC-format data directory, or a folder of image files")
    parser.add_argument("--out", required=True, help="output file: .parquet or .npz")
    parser.add_argument("--views", default="all", choices=["all", "frontal"], help="image slots used per study")
    parser.add_argument("--splits", nargs="+", default=None, help="MIMIC splits to embed (default: all)")
    parser.add_argument("--texts", action="store_true", help="also embed each study's report (MIMIC format only)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def is_mimic_dir(path) -> bool:
    """True when ``path`` holds a MIMIC-CXR-JPG metadata CSV (plain or gzipped)."""
    from pathlib import Path

    from clinvla_kit.data.sources.mimic import PREFIX

    return any((Path(path) / f"{PREFIX}-metadata{s}").is_file() for s in (".csv", ".csv.gz"))


def image_files(folder) -> list:
    """Image files under ``folder`` (recursive, sorted), by suffix (case-insensitive)."""
    from pathlib import Path

    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def collect(data, splits, want_texts: bool) -> tuple[list, dict]:
    """-> (items to embed, table columns {name: list}) for a MIMIC directory or a folder of images."""
    from pathlib import Path

    from clinvla_kit.config import SLOTS

    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such directory")
    if is_mimic_dir(data):
        from clinvla_kit.data.sources.mimic import load_mimic

        records = list(load_mimic(data, splits=splits))
        cols = {"study_id": [r.study_id for r in records], "subject_id": [r.subject_id for r in records],
                "split": [r.split for r in records]}
        for s in SLOTS:
            cols[s] = [str(r.images[s]) if r.images[s] is not None else None for r in records]
        if want_texts:
            cols["report"] = [r.report for r in records]
        return records, cols
    if want_texts:
        raise ValueError(f"{data}: --texts needs a MIMIC-format directory (reports), this is a folder of images")
    if splits:
        raise ValueError(f"{data}: --splits needs a MIMIC-format directory, this is a folder of images")
    files = image_files(data)
    cols = {"study_id": [str(p.relative_to(data).with_suffix("")) for p in files], "frontal": [str(p) for p in files]}
    return [str(p) for p in files], cols


def write(out, cols: dict, image_emb, text_emb, meta: dict) -> None:
    """Write the table: .npz (arrays + a JSON ``meta``) or .parquet (one list column per embedding)."""
    import json
    from pathlib import Path

    import numpy as np

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    if out.suffix == ".npz":
        arrays = {k: np.array(["" if v is None else v for v in vals], dtype=str) for k, vals in cols.items()}
        arrays["image_emb"] = image_emb
        if text_emb is not None:
            arrays["text_emb"] = text_emb
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
    else:
        import pandas as pd

        df = pd.DataFrame(cols)
        df["image_emb"] = list(image_emb)
        if text_emb is not None:
            df["text_emb"] = list(text_emb)
        df.attrs["clinvla_kit"] = meta
        try:
            df.to_parquet(tmp, index=False)
        except ImportError as e:
            raise ValueError(f"{out}: writing parquet needs pyarrow ({e}); install it or write a .npz file") from e
    tmp.replace(out)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from clinvla_kit.data.errors import DataError

    out = Path(args.out)
    try:
        if out.suffix not in (".parquet", ".npz"):
            raise ValueError(f"{out}: the output must end in .parquet or .npz")
        if out.exists() and not args.overwrite:
            raise ValueError(f"{out} exists; pass --overwrite to replace it")
        items, cols = collect(args.data, args.splits, args.texts)
        if not items:
            raise ValueError(f"{args.data}: no studies or image files ({', '.join(IMAGE_SUFFIXES)}) found")
        import clinvla_kit

        model = clinvla_kit.load(args.run, device=args.device, batch_size=args.batch_size)
        z, kept, skipped = model.embed_images_skipping(items, views=args.views, progress=not args.quiet)
        if not kept:
            raise ValueError(f"{args.data}: every one of the {len(items)} studies failed, e.g. {skipped[0][1]}")
        cols = {k: [v[i] for i in kept] for k, v in cols.items()}
        text_emb = None
        if args.texts:
            text_emb = model.embed_texts(cols.pop("report"), clean=True)
        meta = {"run": str(model.source), "data": str(Path(args.data).resolve()), "views": args.views,
                "n": len(kept), "dim": int(z.shape[1]),
                "skipped": [{"study_id": str(getattr(items[i], "study_id", items[i])), "reason": why}
                            for i, why in skipped]}
        write(out, cols, z, text_emb, meta)
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"clinvla-kit embed: error: {e}", file=sys.stderr)
        return 1
    for entry in meta["skipped"][:10]:
        print(f"skipped {entry['study_id']}: {entry['reason']}", file=sys.stderr)
    print(f"embedded {len(kept)} studies (dim {z.shape[1]}, views {args.views}"
          f"{', with reports' if text_emb is not None else ''}); skipped {len(skipped)} -> {out}")
    return 0
