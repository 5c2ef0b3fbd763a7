"""The demo archive's embeddings on disk, so the app's first screen does not wait for the model to embed 400 studies.

Embedding an archive costs about 1 s per 10 studies on 2 CPU cores for the image side alone and as much again for
the reports; an app that did it at start would show its first screen after minutes. ``load_or_build_archive``
reads the embeddings from one ``.npz`` file when its key matches and computes and writes them otherwise;
``clinvla-kit``'s ``make demo`` precomputes the file before serving.

The key hashes the weights' fingerprint (sha256 of ``model.safetensors``), every study id with the path, size and
modification time of each of its views, and the preprocessing options, so another checkpoint, a regenerated image
or another archive is a new file. The file holds ``image_emb`` [N, D], ``report_emb`` [N, D], the cleaned
``reports``, and ``drop_<views>`` [N, D] for each dropped-view set computed (``drop_lateral`` where the model reads
the lateral view).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.data.records import StudyRecord
from clinvla_kit.demo.archive import Archive, build_archive


def archive_key(fingerprint: str, records: Sequence[StudyRecord], options: dict[str, Any]) -> str:
    """20 hex chars: weights fingerprint + options + every study's views (absolute path|size|mtime).

    Absolute, normalised paths (``os.path.abspath``, no ``..``): ``make demo`` precomputes from the repository
    root (``runs/data/synthcxr``) while the app's kernel runs in ``notebooks/`` (``../runs/data/synthcxr``); the
    same files must give the same key, or the app would embed the whole archive before its first screen."""
    from clinvla_kit.eval.embed import _file_id

    h = hashlib.sha256(json.dumps({"weights": fingerprint, "options": options}, sort_keys=True).encode())
    for r in records:
        views = [_file_id(os.path.abspath(p) if p is not None else None) for p in r.images.values()]
        h.update(json.dumps([r.study_id, views], default=str).encode())
    return h.hexdigest()[:20]


def cache_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"demo-archive-{key}.npz"


def _options(model: Any) -> dict[str, Any]:
    d = model.cfg.data
    return {"image_size": d.image_size, "resize": d.resize, "normalization": d.normalization,
            "max_tokens": d.max_tokens, "remove_hedges": d.remove_hedges,
            "expand_abbreviations": d.expand_abbreviations}


def read_cache(path: Path, n: int) -> dict[str, Any] | None:
    """The precomputed dict ``build_archive`` takes, or None when the file is missing, unreadable or of another
    size (it is then rebuilt, never trusted)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return None
    if data.get("image_emb") is None or data["image_emb"].shape[0] != n or len(data.get("reports", [])) != n:
        return None
    dropped = {tuple(k[len("drop_"):].split("+")): v for k, v in data.items() if k.startswith("drop_")}
    return {"image_emb": data["image_emb"], "report_emb": data.get("report_emb"),
            "reports": [str(t) for t in data["reports"]], "dropped": dropped}


def write_cache(path: Path, archive: Archive, model: Any, drop_sets: Sequence[Sequence[str]]) -> None:
    """Compute what is missing (reports, each dropped-view set) and write the file atomically."""
    arrays: dict[str, np.ndarray] = {
        "image_emb": archive.image_emb.detach().cpu().numpy().astype(np.float32),
        "report_emb": archive.report_embeddings(model).detach().cpu().numpy().astype(np.float32),
        "reports": np.array(archive.reports, dtype=str),
    }
    for views in drop_sets:
        if views:
            key = "drop_" + "+".join(sorted(views))
            arrays[key] = archive.image_embeddings(model, tuple(views)).detach().cpu().numpy().astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)


def load_or_build_archive(model: Any, records: Sequence[StudyRecord], fingerprint: str, cache_dir: str | Path,
                          drop_sets: Sequence[Sequence[str]] = ((),),
                          status: Callable[[str], None] | None = None) -> tuple[Archive, dict[str, Any]]:
    """The demo's archive from the cache file when it matches, else embedded now and written there.

    Args:
        fingerprint: identifies the weights (``file_sha256`` of the run's model.safetensors).
        drop_sets: dropped-view sets to precompute as well (``[(), ("lateral",)]`` for a multi-view model).
        status: called with a short message before each slow step (the app's loading indicator).
    Returns:
        (archive, info) with info ``{"path", "hit": bool}``.
    """
    say = status or (lambda _msg: None)
    path = cache_path(cache_dir, archive_key(fingerprint, records, _options(model)))
    pre = read_cache(path, len(records))
    if pre is not None and all(tuple(sorted(v)) in pre["dropped"] for v in drop_sets if v):
        say(f"reading {len(records)} precomputed study embeddings")
        return build_archive(model, records, precomputed=pre), {"path": path, "hit": True}
    say(f"embedding {len(records)} studies and their reports (once; cached in {path.name})")
    archive = build_archive(model, records)
    write_cache(path, archive, model, drop_sets)
    return archive, {"path": path, "hit": False}
