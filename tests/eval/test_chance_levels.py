"""Chance levels against plain loops over the labels, the verdict rule, and the printed line."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from clinvla_kit.eval.chance import (
    benchmark_chance,
    chance_verdict,
    constant_positive_f1,
    label_match_chance,
    majority_chance,
    metric_versus_chance,
    versus_chance,
)


def test_label_match_chance_is_expected_precision_of_a_random_ranking():
    q = ["a", "b", "b", "c"]
    c = ["a", "a", "b", "c", "c", "c"]
    # plain reference: for each query, the share of candidates with its label
    ref = sum(sum(x == lab for x in c) / len(c) for lab in q) / len(q)
    assert label_match_chance(q, c) == pytest.approx(ref)
    # and it is the exact mean P@2 over every ordering of the candidates (a uniformly random ranking)
    p2 = [np.mean([sum(c[j] == lab for j in perm[:2]) / 2 for lab in q])
          for perm in itertools.permutations(range(len(c)))]
    assert label_match_chance(q, c) == pytest.approx(float(np.mean(p2)))
    assert label_match_chance([0, 1], [0, 1, 2, 3]) == pytest.approx(0.25)
    assert label_match_chance(["z"], ["a"]) == 0.0
    with pytest.raises(ValueError, match="need queries"):
        label_match_chance([], [1])


def test_majority_and_constant_f1():
    y = [1, 0, 0, 0, 1, 0, 0, 0]
    assert majority_chance(y) == pytest.approx(6 / 8)
    assert majority_chance(["x", "y", "z"]) == pytest.approx(1 / 3)
    # F1 of "all positive", from its definition
    tp, fp, fn = sum(y), len(y) - sum(y), 0
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    assert constant_positive_f1(y) == pytest.approx(2 * prec * rec / (prec + rec))
    assert constant_positive_f1([0, 0]) == 0.0
    with pytest.raises(ValueError):
        majority_chance([])


def test_verdict_and_line():
    assert chance_verdict(0.6, (0.5, 0.7), 0.2) == "above chance"
    assert chance_verdict(0.1, (0.05, 0.15), 0.2) == "below chance"
    assert chance_verdict(0.21, (0.15, 0.25), 0.2) == "at chance"
    assert chance_verdict(0.21, (0.2, 0.25), 0.2) == "at chance"  # a bound on chance includes it
    assert chance_verdict(0.21, None, 0.2) == "n/a" and chance_verdict(0.2, (0.1, 0.3), None) == "n/a"
    assert chance_verdict(0.2, (math.nan, math.nan), 0.1) == "n/a"
    line = versus_chance("P@5", 0.6123, (0.58, 0.641), 0.125)
    assert line.startswith("P@5 61.2 % [58.0, 64.1]; chance 12.5 %: above chance")
    assert "includes chance" in versus_chance("acc", 0.2, (0.15, 0.25), 0.2)
    assert versus_chance("rank", 3.25, (2.0, 4.5), 10.0, percent=False).startswith("rank 3.250 [2.000, 4.500]")
    assert "no interval" in versus_chance("acc", 0.5, None, 0.2)
    m = {"zeroshot": {"5x200": {"acc": 0.3, "acc_ci95": [0.25, 0.35]}}}
    assert metric_versus_chance(m, "zeroshot.5x200.acc", {"zeroshot.5x200.acc": 0.2}, name="zs") == \
        versus_chance("zs", 0.3, [0.25, 0.35], 0.2)
    assert "chance n/a" in metric_versus_chance(m, "zeroshot.5x200.acc", {})


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from clinvla_kit.synth.generate import generate

    out = tmp_path_factory.mktemp("chance_synth")
    generate(out, studies=60, seed=0, image_size=32, workers=1)
    return out


def test_benchmark_chance_from_the_files(synth):
    import pandas as pd

    ch = benchmark_chance(synth)
    five = pd.read_csv(synth / "benchmarks" / "chexpert_5x200.csv")
    classes = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
    labels = [next(c for c in classes if row[c] == 1.0) for _, row in five.iterrows()]  # one-hot columns
    share = {lab: labels.count(lab) / len(labels) for lab in set(labels)}
    assert ch["retrieval.img2txt_5x200.P@5"] == pytest.approx(sum(share[lab] for lab in labels) / len(labels))
    assert ch["zeroshot.5x200.acc"] == pytest.approx(max(share.values()))
    assert ch["zeroshot.pneumonia.auc"] == 0.5
    assert 0 < ch["retrieval.img2img_8x200.P@5"] < 1
    assert json.dumps(ch)  # plain floats
    assert benchmark_chance(synth / "nowhere") == {}


def test_proportion_versus_chance_interval_from_counts():
    from clinvla_kit.eval.bootstrap import bootstrap_ci
    from clinvla_kit.eval.chance import proportion_versus_chance

    v = np.array([1.0] * 30 + [0.0] * 70)
    lo, hi = bootstrap_ci(lambda idx: float(v[idx].mean()), 100, 300, 0)
    assert proportion_versus_chance("acc", 30, 100, 0.2, n_boot=300) == versus_chance("acc", 0.3, (lo, hi), 0.2)
    assert "includes chance" in proportion_versus_chance("P@5", 1, 5, 0.2, n_boot=200)
    with pytest.raises(ValueError, match="successes"):
        proportion_versus_chance("acc", 6, 5, 0.2)
