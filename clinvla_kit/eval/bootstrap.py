"""Seeded bootstrap confidence intervals over queries.

Why queries: in retrieval and classification benchmarks the test items (queries, images) are the random sample; the
candidate pool and the prompts are fixed. Resampling queries with replacement and recomputing the metric gives the
percentile interval that CXR-CLIP-style reports use. The seed is fixed so a re-run prints the same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray], float],
    n_queries: int,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric_fn`` over resampled queries.

    Args:
        metric_fn: takes an int array of ``n_queries`` query indices (drawn with replacement) and returns the metric
            on that resample. Resamples where it returns NaN (e.g. AUC with one class) are dropped.
        n_queries: number of queries in the full set.
        n_boot: number of resamples.
        seed: numpy Generator seed (the same seed gives the same interval).
        level: coverage (0.95 -> 2.5th and 97.5th percentiles).
    Returns:
        (lo, hi) floats; (nan, nan) when every resample was undefined.
    """
    if n_queries < 1:
        raise ValueError(f"bootstrap needs at least one query, got n_queries={n_queries}")
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot, dtype=np.float64)
    for b in range(n_boot):
        values[b] = metric_fn(rng.integers(0, n_queries, size=n_queries))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def mean_with_ci(per_query: Mapping[str, np.ndarray], n_boot: int = 1000, seed: int = 0) -> dict[str, object]:
    """``{"P@5": [Q] values, ...}`` -> ``{"P@5": mean, "P@5_ci95": [lo, hi], ...}``.

    All metrics share one stream of resamples per name (same seed), so intervals are reproducible. The per-query
    resampling of a mean is exact for P@k and R@k, which are averages of per-query values.
    """
    out: dict[str, object] = {}
    for name, values in per_query.items():
        v = np.asarray(values, dtype=np.float64)
        out[name] = float(v.mean())
        lo, hi = bootstrap_ci(lambda idx, v=v: float(v[idx].mean()), len(v), n_boot=n_boot, seed=seed)
        out[f"{name}_ci95"] = [lo, hi]
    return out
