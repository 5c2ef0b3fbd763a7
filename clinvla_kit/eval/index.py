"""FAISS archive search over L2-normalised image embeddings (inner product = cosine).

Three index kinds:
- ``flat``: ``IndexFlatIP``, exact; the reference and the right choice up to a few hundred thousand studies.
- ``hnsw``: ``IndexHNSWFlat`` with the inner-product metric; approximate, sub-linear queries. ``ef_search`` trades
  speed for recall (bench/bench_index.py measures recall@10 against exact search). Slow to build on CPU.
- ``ivf``: ``IndexIVFFlat`` (inner product) with ``nlist`` k-means cells trained on a sample; ``nprobe`` cells are
  scanned per query. Fast to build; recall is set by ``nprobe``.

Saved as two files: ``INDEX`` (``faiss.write_index``) and ``INDEX.json`` (kind, dimension, study ids, paths), so
a search returns study ids and image paths, not row numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INDEX_KINDS: tuple[str, ...] = ("flat", "hnsw", "ivf")


@dataclass
class SearchHit:
    """One result: the study id, its cosine score and its image path."""

    study_id: str
    score: float
    path: str


def _as_float32(x: np.ndarray, dim: int | None, what: str) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise ValueError(f"{what} must be [N, {dim if dim is not None else 'D'}], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contains non-finite values (row {int(np.argwhere(~np.isfinite(x))[0, 0])})")
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n == 0, 1.0, n)


@dataclass
class ArchiveIndex:
    """A FAISS index plus the study ids and paths of its rows."""

    index: object
    kind: str
    dim: int
    study_ids: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # free JSON metadata saved in the sidecar (e.g. the run directory)

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        study_ids: list[str],
        paths: list[str] | None = None,
        kind: str = "flat",
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
        nlist: int | None = None,
        nprobe: int = 32,
        train_sample: int = 100_000,
        seed: int = 0,
    ) -> ArchiveIndex:
        """Index ``embeddings`` [N, D] (normalised here) under ``study_ids`` (and optional ``paths``).

        ``nlist`` (ivf) defaults to about ``4 * sqrt(N)`` cells, the usual FAISS rule of thumb; k-means is trained on
        a seeded sample of at most ``train_sample`` vectors.
        """
        import faiss

        x = _as_float32(embeddings, None, "embeddings")
        n, dim = x.shape
        paths = list(paths) if paths is not None else [""] * n
        if len(study_ids) != n or len(paths) != n:
            raise ValueError(f"{n} embeddings but {len(study_ids)} study ids and {len(paths)} paths")
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
        elif kind == "ivf":
            n_train = min(n, train_sample)
            nlist = nlist or max(1, min(n_train // 39, int(4 * np.sqrt(n))))  # FAISS wants >= 39 points per cell
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rows = np.random.default_rng(seed).choice(n, size=n_train, replace=False)
            index.train(x[np.sort(rows)])
            index.nprobe = min(nprobe, nlist)
        else:
            raise ValueError(f"index kind {kind!r} unknown; choose one of {INDEX_KINDS}")
        index.add(x)
        return cls(index=index, kind=kind, dim=dim, study_ids=[str(s) for s in study_ids], paths=[str(p) for p in paths])

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def set_ef_search(self, ef: int) -> None:
        """Breadth of search (higher = better recall, slower): HNSW ``efSearch`` or IVF ``nprobe``; no-op if exact."""
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = int(ef)
        elif self.kind == "ivf":
            import faiss

            faiss.extract_index_ivf(self.index).nprobe = int(ef)

    def search_arrays(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Raw search: ``queries`` [Q, D] -> (scores [Q, k'], row indices [Q, k']), k' = min(k, N)."""
        q = _as_float32(queries, self.dim, "query embeddings")
        k = min(int(k), len(self))
        if k < 1:
            raise ValueError("cannot search an empty index (or k < 1)")
        scores, rows = self.index.search(q, k)
        return scores, rows

    def search(self, queries: np.ndarray, k: int = 10) -> list[list[SearchHit]]:
        """For each query embedding, the ``k`` best studies as ``SearchHit`` (best first)."""
        scores, rows = self.search_arrays(queries, k)
        return [
            [SearchHit(self.study_ids[r], float(s), self.paths[r]) for s, r in zip(srow, rrow) if r >= 0]
            for srow, rrow in zip(scores, rows)
        ]

    def save(self, path: str | Path) -> None:
        """Write ``path`` (FAISS) and ``path.json`` (sidecar with kind, dim, study ids, paths)."""
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(path))
        meta = {"kind": self.kind, "dim": self.dim, "study_ids": self.study_ids, "paths": self.paths,
                "extra": self.extra}
        sidecar_path(path).write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> ArchiveIndex:
        """Read an index written by ``save``; a missing or inconsistent sidecar is an error naming the file."""
        import faiss

        path = Path(path)
        side = sidecar_path(path)
        if not path.exists():
            raise FileNotFoundError(f"index file {path} does not exist")
        if not side.exists():
            raise FileNotFoundError(f"index sidecar {side} is missing (study ids and paths live there)")
        try:
            meta = json.loads(side.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{side}: not valid JSON ({e}); the sidecar is truncated or damaged: rebuild the index "
                             "with `clinvla-kit index`") from e
        missing = [k for k in ("kind", "dim", "study_ids", "paths") if not isinstance(meta, dict) or k not in meta]
        if missing:
            raise ValueError(f"{side}: sidecar fields {missing} are missing; rebuild the index with `clinvla-kit index`")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:  # faiss raises RuntimeError on a truncated or foreign file
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"{path}: not a readable FAISS index (truncated or damaged file? faiss: {first}); "
                             "rebuild it with `clinvla-kit index`") from e
        if index.ntotal != len(meta["study_ids"]) or index.d != meta["dim"]:
            raise ValueError(
                f"{side}: sidecar lists {len(meta['study_ids'])} studies of dim {meta['dim']}, "
                f"but {path} holds {index.ntotal} vectors of dim {index.d}"
            )
        return cls(index=index, kind=meta["kind"], dim=meta["dim"], study_ids=meta["study_ids"], paths=meta["paths"],
                   extra=meta.get("extra", {}))


def sidecar_path(path: str | Path) -> Path:
    """``INDEX`` -> ``INDEX.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def recall_against_exact(approx_rows: np.ndarray, exact_rows: np.ndarray) -> float:
    """recall@k of an approximate search: mean share of the exact top-k rows that the approximate top-k contains."""
    a, e = np.asarray(approx_rows), np.asarray(exact_rows)
    if a.shape != e.shape:
        raise ValueError(f"approximate rows {a.shape} and exact rows {e.shape} differ in shape")
    k = e.shape[1]
    return float(np.mean([len(set(ar.tolist()) & set(er.tolist())) / k for ar, er in zip(a, e)]))
