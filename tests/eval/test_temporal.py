"""Temporal progression scoring against naive loops."""

import math

import numpy as np
import pytest

from clinvla_kit.eval.temporal import (
    difference_scores,
    joint_scores,
    label_ids,
    progression_delta,
    temporal_probe_cv,
)


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_delta_and_band_rule():
    rng = np.random.default_rng(0)
    cur, pri, txt = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    d = progression_delta(cur, pri, txt)
    for i in range(30):
        assert d[i] == pytest.approx(cos(cur[i], txt[i]) - cos(pri[i], txt[i]))
    scores, _ = difference_scores(d, band=0.1)
    for i in range(30):
        want = 2 if d[i] > 0.1 else 0 if d[i] < -0.1 else 1
        assert int(scores[i].argmax()) == want
    _, tert = difference_scores(d)
    assert sum(abs(v) <= tert for v in d) >= 10  # about a third inside the band


def test_joint_scores_per_finding():
    emb = np.array([[1.0, 0.0], [0.0, 1.0]])
    prompts = {"edema": [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([[-1.0, 0.0]])]}
    s = joint_scores(emb, ["edema", "edema"], prompts)
    assert s.argmax(axis=1).tolist() == [0, 1]
    with pytest.raises(ValueError, match="effusion"):
        joint_scores(emb, ["edema", "effusion"], prompts)


def test_labels_and_probe():
    assert label_ids(["Improving", "stable", "WORSENING"]).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="row 1"):
        label_ids(["stable", "better"])
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 20)
    pri = rng.normal(size=(60, 3))
    cur = pri + np.eye(3)[y] * 3
    out = temporal_probe_cv(cur, pri, y)
    assert out["acc"] > 0.8
