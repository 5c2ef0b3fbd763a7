"""Bootstrap intervals against a naive resampling loop."""

import numpy as np
import pytest

from clinvla_kit.eval.bootstrap import bootstrap_ci, mean_with_ci


def test_matches_naive_percentile_loop():
    values = np.random.default_rng(0).random(50)
    rng = np.random.default_rng(7)
    boots = []
    for _ in range(200):
        idx = rng.integers(0, 50, size=50)  # same draws as the code under test (same seed, same call)
        total = 0.0
        for i in idx:
            total += values[i]
        boots.append(total / 50)
    boots.sort()
    lo, hi = bootstrap_ci(lambda idx: values[idx].mean(), 50, n_boot=200, seed=7)
    assert lo == pytest.approx(np.quantile(boots, 0.025))
    assert hi == pytest.approx(np.quantile(boots, 0.975))
    assert lo <= values.mean() <= hi


def test_seeded_and_helper_layout():
    v = np.array([0.0, 1.0] * 20)
    a = mean_with_ci({"P@5": v}, n_boot=100, seed=3)
    b = mean_with_ci({"P@5": v}, n_boot=100, seed=3)
    assert a == b and a["P@5"] == 0.5 and len(a["P@5_ci95"]) == 2
    assert 0.0 <= a["P@5_ci95"][0] <= 0.5 <= a["P@5_ci95"][1] <= 1.0


def test_undefined_resamples_are_dropped():
    assert np.isnan(bootstrap_ci(lambda idx: float("nan"), 5, n_boot=10)[0])
    with pytest.raises(ValueError):
        bootstrap_ci(lambda idx: 0.0, 0)
