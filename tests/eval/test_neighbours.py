"""Neighbour label agreement against a plain double loop, the shuffled baseline, and the sentences."""

from __future__ import annotations

import numpy as np
import pytest

from clinvla_kit.eval.neighbours import agreement_sentences, agreement_table, knn_indices, neighbour_agreement


def naive_agreement(emb, labels, k):
    """For each point: cosine to every other point, sort by (-sim, row), share of the first k with its label."""
    emb = [np.asarray(e, float) / np.linalg.norm(e) for e in emb]
    out = []
    for i, e in enumerate(emb):
        others = sorted((j for j in range(len(emb)) if j != i), key=lambda j: (-float(e @ emb[j]), j))[:k]
        out.append(sum(labels[j] == labels[i] for j in others) / k)
    return sum(out) / len(out)


def test_agreement_matches_plain_loop_and_beats_shuffled_on_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 12)
    centres = {"a": [5, 0, 0], "b": [0, 5, 0], "c": [0, 0, 5]}
    emb = np.stack([np.asarray(centres[lab], float) + rng.normal(size=3) for lab in labels])
    r = neighbour_agreement(emb, labels, k=5, n_shuffles=30, n_boot=200, seed=0)
    assert r["agreement"] == pytest.approx(naive_agreement(emb, labels, 5))
    # shuffled labels over any graph: expected share of other points with my label = (12 - 1) / (36 - 1)
    assert r["shuffled"] == pytest.approx(11 / 35, abs=0.04)
    assert r["agreement_ci95"][0] <= r["agreement"] <= r["agreement_ci95"][1]
    assert r["vs_shuffled"] == "above chance"
    noise = rng.normal(size=(36, 3))
    assert neighbour_agreement(noise, labels, k=5, n_boot=200)["agreement"] == pytest.approx(
        naive_agreement(noise, labels, 5))


def test_knn_ties_and_errors():
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert knn_indices(emb, 2).tolist()[0] == [1, 2]  # equal similarity: ascending row
    with pytest.raises(ValueError, match="k must be"):
        knn_indices(emb, 4)
    with pytest.raises(ValueError, match="non-finite"):
        knn_indices(np.full((3, 2), np.nan), 1)
    with pytest.raises(ValueError, match="labels"):
        neighbour_agreement(emb, ["a", "b"], k=1)


def test_table_and_sentences_follow_the_numbers():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 15)
    clustered = np.stack([[4.0 * lab, 4.0 * (1 - lab)] for lab in labels]) + rng.normal(scale=0.3, size=(30, 2))
    noise = rng.normal(size=(30, 2))
    t = agreement_table({"image": noise, "report": clustered}, labels, k=3, n_boot=200)
    assert list(t["space"]) == ["image", "report"]
    text = agreement_sentences(t).splitlines()
    assert text[1].startswith("Report embeddings: a study's 3 nearest neighbours share its label")
    assert "yes, studies with the same finding group together in the report space" in text[1]
    assert f"{100 * t['agreement'].iloc[0]:.1f} %" in text[0]
    if t["vs_shuffled"].iloc[0] == "at chance":
        assert "not measurably organised" in text[0]
