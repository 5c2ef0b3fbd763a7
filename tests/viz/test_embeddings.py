"""UMAP wrapper (small n), the plotly embedding figure, and retrieval neighbours against a naive reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clinvla_kit.viz.embeddings import (
    embedding_figure,
    highlight_neighbours,
    neighbours,
    pca_embedding,
    project_2d,
    snippet,
    stack_modalities,
    umap_embedding,
)


@pytest.mark.slow  # the first UMAP fit in a process compiles numba code: ~10 s alone, ~50 s on a busy machine
def test_umap_shapes_seed_and_small_n():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 8))
    a = umap_embedding(x, seed=0, n_neighbors=15, n_epochs=50)
    b = project_2d(x, "umap", seed=0, n_neighbors=15, n_epochs=50)
    assert a.shape == (30, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    for n in (3, 4):
        assert umap_embedding(x[:n], seed=0, n_epochs=20).shape == (n, 2)


def test_projection_input_checks_and_pca():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 8))
    with pytest.raises(ValueError, match="at least 3"):
        umap_embedding(x[:2])
    bad = x.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"row\(s\) \[5\]"):
        umap_embedding(bad)
    with pytest.raises(ValueError, match="unknown projection"):
        project_2d(x, "tsne")
    p = project_2d(x, "pca")
    assert p.shape == (30, 2) and np.isfinite(p).all()
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)  # reference: top-2 right singular vectors of centred rows
    c = xn - xn.mean(0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    ref = c @ vt[:2].T
    np.testing.assert_allclose(np.abs(p), np.abs(ref), atol=1e-4)
    assert pca_embedding(x[:2]).shape == (2, 2)


def naive_neighbours(emb, index, k, cands):
    sims = []
    for j in cands:
        if j == index:
            continue
        dot = sum(emb[index][d] * emb[j][d] for d in range(len(emb[j])))
        na = sum(v * v for v in emb[index]) ** 0.5
        nb = sum(v * v for v in emb[j]) ** 0.5
        sims.append((-dot / (na * nb), j))
    return [j for _, j in sorted(sims)[:k]]


def test_neighbours_against_naive_reference_and_ties():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(12, 5))
    got = neighbours(emb, 3, k=4)
    assert list(got["index"]) == naive_neighbours(emb.tolist(), 3, 4, range(12))
    assert list(got["rank"]) == [1, 2, 3, 4] and got["similarity"].is_monotonic_decreasing
    only = neighbours(emb, 0, k=3, candidates=[6, 7, 8, 9, 10, 11])
    assert list(only["index"]) == naive_neighbours(emb.tolist(), 0, 3, range(6, 12))
    tie = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    assert list(neighbours(tie, 2, k=3)["index"]) == [0, 1, 3]  # equal similarity: ascending row
    with pytest.raises(IndexError):
        neighbours(emb, 12)


def test_stack_and_figure_with_hover_and_markers():
    meta = pd.DataFrame({"study_id": ["s1", "s2", "s3"], "report": ["left <effusion>", "clear", "x " * 200],
                         "label": ["Pleural Effusion", "No Finding", "No Finding"], "split": ["train", "test", "test"]})
    x, both = stack_modalities(np.eye(3), np.eye(3) * 2, meta)
    assert x.shape == (6, 3) and list(both["modality"]) == ["image"] * 3 + ["report"] * 3
    assert list(both["pair"]) == [0, 1, 2, 0, 1, 2]
    coords = np.arange(12, dtype=float).reshape(6, 2)
    fig = embedding_figure(coords, both, color_by="label", hover_cols=("study_id", "report"))
    symbols = {t.marker.symbol for t in fig.data}
    assert symbols == {"circle", "diamond"}
    texts = [t for tr in fig.data for t in tr.text]
    assert any("s1" in t and "&lt;effusion&gt;" in t for t in texts)
    rows = sorted(int(c[0]) for tr in fig.data for c in tr.customdata)
    assert rows == list(range(6))
    fig = embedding_figure(coords, both, color_by="split")
    assert len(fig.data) == 4
    highlight_neighbours(fig, coords, 0, [3, 4])
    assert fig.data[-3].x[:2] == (0.0, 6.0)
    with pytest.raises(ValueError, match="no column"):
        embedding_figure(coords, both, color_by="view")
    assert len(snippet("word " * 100, max_chars=50)) < 80


def test_study_table(tmp_path):
    from clinvla_kit.data.records import StudyRecord
    from clinvla_kit.viz.embeddings import study_table

    p = tmp_path / "a.jpg"
    recs = [StudyRecord("1", "s1", "", {"frontal": p, "lateral": p, "prior_frontal": None, "prior_lateral": None},
                        report="r1", labels={"No Finding": 1.0}, split="test"),
            StudyRecord("1", "s2", "", {"frontal": p, "lateral": None, "prior_frontal": p, "prior_lateral": None},
                        report="r2", labels={"Edema": 1.0, "Cardiomegaly": 1.0}, split="train")]
    t = study_table(recs)
    assert list(t["label"]) == ["No Finding", "Cardiomegaly"] and list(t["n_positive"]) == [0, 2]
    assert list(t["views"]) == ["frontal+lateral", "frontal+prior_frontal"]
