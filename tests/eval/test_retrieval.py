"""Retrieval metrics against naive loops written here."""

import numpy as np
import pytest

from clinvla_kit.eval.retrieval import (
    precision_at_k,
    rank_candidates,
    rank_stats,
    recall_at_k,
    true_match_ranks,
)


def naive_rank(row):
    """Selection by hand: repeatedly take the best remaining candidate; on equal scores the lowest index wins."""
    remaining = list(range(len(row)))
    order = []
    while remaining:
        best = remaining[0]
        for j in remaining[1:]:
            if row[j] > row[best]:
                best = j
        order.append(best)
        remaining.remove(best)
    return order


def naive_precision(sim, ql, cl, k):
    total = 0.0
    for i in range(len(sim)):
        order = naive_rank(list(sim[i]))
        total += sum(1 for j in order[:k] if cl[j] == ql[i]) / k
    return total / len(sim)


def test_precision_matches_naive_loop():
    rng = np.random.default_rng(1)
    sim = rng.normal(size=(13, 40))
    ql = rng.integers(0, 4, size=13)
    cl = rng.integers(0, 4, size=40)
    got = precision_at_k(sim, ql, cl, ks=(1, 5, 10, 40))
    for k in (1, 5, 10, 40):
        assert got[f"P@{k}"] == pytest.approx(naive_precision(sim, ql, cl, k))


def test_tie_rule_ascending_candidate_index():
    # All similarities equal: the top 2 must be candidates 0 and 1, whatever the labels are.
    sim = np.zeros((1, 4))
    assert rank_candidates(sim).tolist() == [[0, 1, 2, 3]]
    assert precision_at_k(sim, ["a"], ["a", "b", "a", "a"], ks=(1, 2, 3)) == {"P@1": 1.0, "P@2": 0.5, "P@3": 2 / 3}
    assert precision_at_k(sim, ["a"], ["b", "a", "a", "a"], ks=(1,)) == {"P@1": 0.0}
    # Partial ties among quantised scores: compare with the naive selection.
    rng = np.random.default_rng(2)
    sim = rng.integers(0, 3, size=(9, 12)).astype(float)
    ql, cl = rng.integers(0, 2, 9), rng.integers(0, 2, 12)
    for k in (1, 3, 7):
        assert precision_at_k(sim, ql, cl, (k,))[f"P@{k}"] == pytest.approx(naive_precision(sim, ql, cl, k))
    for i in range(9):
        assert rank_candidates(sim)[i].tolist() == naive_rank(list(sim[i]))


def test_recall_and_ranks_match_naive():
    rng = np.random.default_rng(3)
    sim = rng.integers(0, 4, size=(10, 15)).astype(float)  # many ties on purpose
    ranks = [naive_rank(list(sim[i])).index(i) + 1 for i in range(10)]
    assert true_match_ranks(sim).tolist() == ranks
    got = recall_at_k(sim, ks=(1, 5, 10))
    for k in (1, 5, 10):
        assert got[f"R@{k}"] == pytest.approx(sum(r <= k for r in ranks) / 10)
    stats = rank_stats(sim)
    assert stats["mean_rank"] == pytest.approx(sum(ranks) / 10)
    assert stats["median_rank"] == pytest.approx(float(np.median(ranks)))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="query_labels"):
        precision_at_k(np.zeros((2, 3)), [0], [0, 1, 2], ks=(1,))
    with pytest.raises(ValueError, match="exceeds"):
        precision_at_k(np.zeros((2, 3)), [0, 1], [0, 1, 2], ks=(5,))
    with pytest.raises(ValueError, match="non-finite"):
        recall_at_k(np.array([[np.nan, 0.0]]), ks=(1,))
    with pytest.raises(ValueError, match="at least as many candidates"):
        recall_at_k(np.zeros((3, 2)), ks=(1,))


def test_accepts_torch_tensor():
    import torch

    sim = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    assert recall_at_k(sim, ks=(1,)) == {"R@1": 1.0}
