"""Neighbour label agreement: do studies with the same finding lie together in an embedding space? Measured, beside
a shuffled-label baseline, with bootstrap intervals, and written up as a sentence from the numbers.

For every point, take its ``k`` nearest other points by cosine similarity (ties by ascending row, the retrieval
metrics' rule) and count the share that carry its label. The mean over points is the agreement. A space that is not
organised by label still scores the label's base rate (a frequent label finds itself among any neighbours), so the
number is compared with the same statistic after **shuffling the labels** over the same neighbour graph: the chance
level of exactly this data. Intervals resample points (percentile bootstrap, seeded); the shuffled baseline of every
point is its mean over ``n_shuffles`` permutations, resampled with the same indices (paired).

A UMAP picture can suggest clusters that the full-dimensional space does not have (or hide ones it has); this number
is computed in the model's own space, so it is the one to quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from clinvla_kit.eval.bootstrap import bootstrap_ci
from clinvla_kit.eval.chance import chance_verdict


def knn_indices(emb: Any, k: int) -> np.ndarray:
    """[N, D] embeddings -> [N, k] rows of each point's ``k`` nearest other points by cosine similarity (itself
    excluded; ties by ascending row). Raises for k outside 1..N-1 or non-finite rows."""
    a = np.asarray(emb, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"embeddings must be [N, D], got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"embeddings have non-finite values in row(s) {np.flatnonzero(~np.isfinite(a).all(1))[:10]}")
    n = a.shape[0]
    if not 1 <= int(k) <= n - 1:
        raise ValueError(f"k must be in 1..{n - 1} for {n} points, got {k}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    sim = a @ a.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1, kind="stable")[:, : int(k)]


def _per_point(nn: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (labels[nn] == labels[:, None]).mean(axis=1)


def neighbour_agreement(emb: Any, labels: Sequence[Any], k: int = 10, n_shuffles: int = 20, n_boot: int = 1000,
                        seed: int = 0) -> dict[str, Any]:
    """Share of each point's ``k`` nearest neighbours with its label, beside the shuffled-label baseline.

    Args:
        emb: [N, D] embeddings; labels: [N] labels (any hashable).
        n_shuffles: label permutations for the baseline (seeded).
    Returns:
        {"n", "k", "agreement", "agreement_ci95", "shuffled", "shuffled_ci95", "vs_shuffled"} with fractions and
        ``vs_shuffled`` = ``chance_verdict`` of the agreement's interval against the shuffled mean.
    """
    lab = np.asarray(labels)
    nn = knn_indices(emb, k)
    if lab.shape[0] != nn.shape[0]:
        raise ValueError(f"{lab.shape[0]} labels for {nn.shape[0]} embeddings")
    if n_shuffles < 1:
        raise ValueError(f"n_shuffles must be >= 1, got {n_shuffles}")
    real = _per_point(nn, lab)
    rng = np.random.default_rng(seed)
    shuf = np.mean([_per_point(nn, rng.permutation(lab)) for _ in range(n_shuffles)], axis=0)
    n = len(real)
    ci = bootstrap_ci(lambda idx: float(real[idx].mean()), n, n_boot, seed)
    sci = bootstrap_ci(lambda idx: float(shuf[idx].mean()), n, n_boot, seed)
    value, base = float(real.mean()), float(shuf.mean())
    return {"n": n, "k": int(k), "agreement": value, "agreement_ci95": list(ci), "shuffled": base,
            "shuffled_ci95": list(sci), "vs_shuffled": chance_verdict(value, ci, base)}


def agreement_table(spaces: Mapping[str, Any], labels: Sequence[Any], k: int = 10, n_shuffles: int = 20,
                    n_boot: int = 1000, seed: int = 0) -> Any:
    """``neighbour_agreement`` of several embedding spaces of the same points (``{"image": [N, D], "report":
    [N, D]}``) -> DataFrame, one row per space: space, n, k, agreement, agreement_lo/hi, shuffled, shuffled_lo/hi,
    vs_shuffled."""
    import pandas as pd

    rows = []
    for name, emb in spaces.items():
        r = neighbour_agreement(emb, labels, k=k, n_shuffles=n_shuffles, n_boot=n_boot, seed=seed)
        rows.append({"space": name, "n": r["n"], "k": r["k"], "agreement": r["agreement"],
                     "agreement_lo": r["agreement_ci95"][0], "agreement_hi": r["agreement_ci95"][1],
                     "shuffled": r["shuffled"], "shuffled_lo": r["shuffled_ci95"][0],
                     "shuffled_hi": r["shuffled_ci95"][1], "vs_shuffled": r["vs_shuffled"]})
    return pd.DataFrame(rows, columns=["space", "n", "k", "agreement", "agreement_lo", "agreement_hi", "shuffled",
                                       "shuffled_lo", "shuffled_hi", "vs_shuffled"])


def agreement_sentences(table: Any) -> str:
    """The answer to "do studies with the same finding group together?", one sentence per row of
    ``agreement_table``, written from its numbers (so it stays true when the model changes)."""
    out = []
    for _, r in table.iterrows():
        head = (f"{r['space'].capitalize()} embeddings: a study's {r['k']} nearest neighbours share its label "
                f"{100 * r['agreement']:.1f} % of the time [{100 * r['agreement_lo']:.1f}, "
                f"{100 * r['agreement_hi']:.1f}], against {100 * r['shuffled']:.1f} % "
                f"[{100 * r['shuffled_lo']:.1f}, {100 * r['shuffled_hi']:.1f}] with the labels shuffled")
        if r["vs_shuffled"] == "above chance":
            ratio = r["agreement"] / r["shuffled"] if r["shuffled"] > 0 else float("inf")
            tail = (f" ({ratio:.1f}x): yes, studies with the same finding group together in the {r['space']} space.")
        elif r["vs_shuffled"] == "below chance":
            tail = ": below the shuffled baseline, so neighbours tend to carry *other* labels than the point itself."
        else:
            tail = (f": the interval includes the shuffled baseline, so the {r['space']} space is not measurably "
                    "organised by finding.")
        out.append(head + tail)
    return "\n".join(out)
