"""Retrieval metrics as pure functions over a similarity matrix.

Two families, because papers mean two different things by "retrieval":

- **Label relevance** (``precision_at_k``): a candidate is relevant when its class label equals the query's. This is
  what GLoRIA, ALTA and ClinVLA report on CheXpert 8x200 (image-to-image, text-to-image, P@5/10/50) and 5x200
  (image-to-text, P@5/10/100).
- **Instance relevance** (``recall_at_k``, ``rank_stats``): query ``i``'s only match is candidate ``i`` (its own
  report), as CXR-CLIP reports Recall@1/5/10 and mean/median rank.

Tie rule (stated, tested): candidates are ranked by descending similarity and equal similarities keep ascending
candidate index. We get it with a *stable* sort of ``-sim``; an unstable sort would make P@k depend on the sort
algorithm whenever scores tie (common with low-precision embeddings or a collapsed model).

Each metric has a ``*_per_query`` form returning one value per query, so ``bootstrap.metric_with_ci`` can resample
queries without recomputing the ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayLike = np.ndarray | Sequence


def _as_sim(sim: ArrayLike) -> np.ndarray:
    try:
        import torch

        if isinstance(sim, torch.Tensor):
            sim = sim.detach().float().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a hard dependency of the kit
        pass
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity matrix must be 2-D [queries, candidates], got shape {sim.shape}")
    if not np.isfinite(sim).all():
        bad = np.argwhere(~np.isfinite(sim))[0]
        raise ValueError(f"similarity matrix has a non-finite value at (query {bad[0]}, candidate {bad[1]})")
    return sim


def rank_candidates(sim: ArrayLike, top: int | None = None) -> np.ndarray:
    """Candidate indices of each query, best first.

    Args:
        sim: [Q, C] similarities (higher = more similar).
        top: keep only the first ``top`` columns (all when None).
    Returns:
        [Q, top or C] int64 candidate indices; ties in ascending candidate index (stable sort of ``-sim``).
    """
    sim = _as_sim(sim)
    order = np.argsort(-sim, axis=1, kind="stable")
    return order if top is None else order[:, :top]


def _check_ks(ks: Sequence[int], n_cand: int) -> list[int]:
    ks = [int(k) for k in ks]
    for k in ks:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if k > n_cand:
            raise ValueError(f"k={k} exceeds the number of candidates ({n_cand})")
    return ks


def precision_at_k_per_query(
    sim: ArrayLike, query_labels: ArrayLike, cand_labels: ArrayLike, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Per-query P@k: share of the top ``k`` candidates whose label equals the query's.

    Args:
        sim: [Q, C] similarities.  query_labels: [Q].  cand_labels: [C] (any hashable, compared with ``==``).
        ks: cut-offs.
    Returns:
        ``{"P@k": [Q] float array}`` for each k.
    """
    sim = _as_sim(sim)
    q_lab = np.asarray(query_labels)
    c_lab = np.asarray(cand_labels)
    if q_lab.shape != (sim.shape[0],):
        raise ValueError(f"query_labels has shape {q_lab.shape}, expected ({sim.shape[0]},) to match sim {sim.shape}")
    if c_lab.shape != (sim.shape[1],):
        raise ValueError(f"cand_labels has shape {c_lab.shape}, expected ({sim.shape[1]},) to match sim {sim.shape}")
    ks = _check_ks(ks, sim.shape[1])
    order = rank_candidates(sim, top=max(ks))
    hits = c_lab[order] == q_lab[:, None]  # [Q, max k] bool
    cum = np.cumsum(hits, axis=1)
    return {f"P@{k}": cum[:, k - 1] / k for k in ks}


def precision_at_k(
    sim: ArrayLike, query_labels: ArrayLike, cand_labels: ArrayLike, ks: Sequence[int] = (5, 10, 50)
) -> dict[str, float]:
    """P@k averaged over queries (docs/ARCHITECTURE.md, "Contracts"). Returns ``{"P@k": float in [0, 1]}``."""
    per_q = precision_at_k_per_query(sim, query_labels, cand_labels, ks)
    return {name: float(v.mean()) for name, v in per_q.items()}


def true_match_ranks(sim: ArrayLike) -> np.ndarray:
    """1-based rank of candidate ``i`` for query ``i`` under the stable tie rule.

    Args:
        sim: [N, C] with C >= N; query i's match is candidate i.
    Returns:
        [N] int64 ranks (1 = retrieved first).
    """
    sim = _as_sim(sim)
    n, c = sim.shape
    if c < n:
        raise ValueError(f"instance retrieval needs at least as many candidates as queries, got sim {sim.shape}")
    diag = sim[np.arange(n), np.arange(n)]
    # Rank = 1 + (#candidates strictly better) + (#equal candidates with a lower index): the stable-sort position.
    better = (sim > diag[:, None]).sum(axis=1)
    idx = np.arange(c)[None, :]
    tied_before = ((sim == diag[:, None]) & (idx < np.arange(n)[:, None])).sum(axis=1)
    return (1 + better + tied_before).astype(np.int64)


def recall_at_k_per_query(sim: ArrayLike, ks: Sequence[int] = (1, 5, 10)) -> dict[str, np.ndarray]:
    """Per-query instance recall: 1.0 when query i's own candidate is in its top k, else 0.0."""
    sim = _as_sim(sim)
    ks = _check_ks(ks, sim.shape[1])
    ranks = true_match_ranks(sim)
    return {f"R@{k}": (ranks <= k).astype(np.float64) for k in ks}


def recall_at_k(sim: ArrayLike, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Instance-level Recall@k (CXR-CLIP style): query i's match is candidate i. Returns ``{"R@k": float}``."""
    return {name: float(v.mean()) for name, v in recall_at_k_per_query(sim, ks).items()}


def rank_stats(sim: ArrayLike) -> dict[str, float]:
    """Mean and median 1-based rank of each query's own candidate (lower is better)."""
    ranks = true_match_ranks(sim)
    return {"mean_rank": float(ranks.mean()), "median_rank": float(np.median(ranks))}
