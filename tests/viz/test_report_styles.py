"""Notebook 10's tables and figure on a variants-only data directory (no images, no model)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from clinvla_kit.model.tiny_encoders import save_variants_dir
from clinvla_kit.viz.report_styles import (
    similarity_figure,
    study_styles_table,
    style_similarity,
    text_benchmark_frame,
)


class HashEmbedder:
    def texts(self, texts, clean=True):
        out = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).normal(size=8)
               for t in texts]
        return np.array([v / np.linalg.norm(v) for v in out])


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    return save_variants_dir(tmp_path_factory.mktemp("v"), studies=30, seed=1)


def test_study_table_has_styles_and_wrong_variants(d):
    t = study_styles_table(d)
    assert {"style", "wrong"} == set(t["kind"]) and (t["name"] == "telegraphic").any()


def test_similarity_and_figure(d):
    sims, gap = style_similarity({"random": HashEmbedder()}, d, n_studies=3)
    assert sims["random"].shape == (12, 12) and np.allclose(np.diag(sims["random"]), 1.0)
    assert list(gap.columns) == ["encoder", "same study, other style", "other study", "gap"]
    similarity_figure(sims, n_styles=4)


def test_benchmark_frame():
    res = {"x": {"acronym_retrieval": {"R@1": 0.5, "R@1_ci95": [0.4, 0.6], "chance": {"R@1": 0.1}},
                 "summarisation_retrieval": {"skipped": "none"}}}
    f = text_benchmark_frame(res)
    assert f.loc[0, "value %"] == 50.0 and f.loc[0, "chance %"] == 10.0 and len(f) == 2


def test_benchmark_frame_says_where_the_interval_lies_against_chance():
    res = {"x": {"a": {"R@1": 0.5, "R@1_ci95": [0.4, 0.6], "chance": {"R@1": 0.1}},
                 "b": {"acc": 0.3, "acc_ci95": [0.2, 0.4], "chance": 0.25},
                 "c": {"acc": 0.1, "acc_ci95": [0.05, 0.2], "chance": 0.25,
                       "per_type": {"wrong_location": {"acc": 0.6, "acc_ci95": [0.2, 0.9], "n": 5}}},
                 "d": {"skipped": "none"}}}
    f = text_benchmark_frame(res).set_index("benchmark")["vs chance"]
    assert f["a"] == "above chance" and f["b"] == "includes chance" and f["c"] == "below chance"
    assert f["c: wrong_location"] == "includes chance" and f["d"] == "-"
