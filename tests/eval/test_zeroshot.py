"""Zero-shot scoring, thresholds and the RSNA split against naive references written here."""

import math

import numpy as np
import pytest

from clinvla_kit.eval.zeroshot import (
    binary_metrics,
    choose_threshold,
    class_scores,
    cv_threshold_predictions,
    multiclass_metrics,
    rsna_patient_split,
    znormalize,
)


def cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a)) / math.sqrt(sum(y * y for y in b))


def test_class_scores_mean_and_max():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(6, 5))
    prompts = [rng.normal(size=(3, 5)), rng.normal(size=(2, 5))]
    got_max = class_scores(img, prompts, aggregate="max")
    got_mean = class_scores(img, prompts, aggregate="mean")
    for i in range(6):
        for k, p in enumerate(prompts):
            assert got_max[i, k] == pytest.approx(max(cos(img[i], row) for row in p))
            unit = [r / np.linalg.norm(r) for r in p]
            mean = [sum(u[d] for u in unit) / len(unit) for d in range(5)]
            assert got_mean[i, k] == pytest.approx(cos(img[i], mean))
    with pytest.raises(ValueError, match="class 1"):
        class_scores(img, [prompts[0], np.zeros((0, 5))])


def test_znormalize_by_hand():
    s = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 8.0]])
    z = znormalize(s)
    for k in range(2):
        col = [row[k] for row in s]
        m = sum(col) / 3
        sd = math.sqrt(sum((c - m) ** 2 for c in col) / 3)
        for i in range(3):
            assert z[i, k] == pytest.approx((s[i, k] - m) / sd)


def test_multiclass_accuracy_and_confusion():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.5, 0.5, 0.0], [0.1, 0.2, 0.3]])
    labels = [0, 2, 1, 2]
    out = multiclass_metrics(scores, labels)
    cm = [[0] * 3 for _ in range(3)]
    correct = 0
    for i, row in enumerate(scores):
        pred = max(range(3), key=lambda k: (row[k], -k))  # ties -> lower class index
        cm[labels[i]][pred] += 1
        correct += pred == labels[i]
    assert out["confusion"] == cm and out["acc"] == correct / 4


def naive_best_threshold(s, y, crit):
    best_t, best_v = None, -1
    for t in sorted(set(s)) + [float("inf")]:
        tp = sum(1 for a, b in zip(s, y) if a >= t and b == 1)
        fp = sum(1 for a, b in zip(s, y) if a >= t and b == 0)
        fn = sum(1 for a, b in zip(s, y) if a < t and b == 1)
        acc = sum(1 for a, b in zip(s, y) if (a >= t) == (b == 1)) / len(y)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        v = acc if crit == "acc" else f1
        if v > best_v:
            best_t, best_v = t, v
    return best_t


@pytest.mark.parametrize("crit", ["acc", "f1"])
def test_choose_threshold_matches_naive(crit):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    s = np.round(y * 0.3 + rng.random(40), 2)
    assert choose_threshold(s, y, crit) == naive_best_threshold(list(s), list(y), crit)


def test_cv_threshold_uses_only_other_folds():
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 60)
    s = y * 0.4 + rng.random(60)
    got = cv_threshold_predictions(s, y, "f1", n_splits=10, seed=0)
    want = np.zeros(60, dtype=int)
    for tr, te in StratifiedKFold(10, shuffle=True, random_state=0).split(s.reshape(-1, 1), y):
        t = naive_best_threshold(list(s[tr]), list(y[tr]), "f1")
        for i in te:
            want[i] = int(s[i] >= t)
    assert got.tolist() == want.tolist()


def test_binary_metrics_methods():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 50)
    pos_neg = np.stack([rng.random(50), rng.random(50) + 0.3 * y], axis=1)
    a = binary_metrics(pos_neg, y, threshold="argmax")
    f = binary_metrics(pos_neg, y, threshold="fixed")
    pred = [int(p > n) for n, p in pos_neg]
    assert a["acc"] == pytest.approx(sum(int(p == t) for p, t in zip(pred, y)) / 50)
    assert a["pred"].tolist() == f["pred"].tolist() == pred  # fixed 0.5 on the two-prompt softmax == argmax
    assert a["auc"] == pytest.approx(roc_auc_score(y, pos_neg[:, 1] - pos_neg[:, 0]))
    assert binary_metrics(pos_neg, y, threshold="cv-acc")["threshold_method"] == "cv-acc"
    with pytest.raises(ValueError, match="threshold method"):
        binary_metrics(pos_neg, y, threshold="youden")
    with pytest.raises(ValueError, match="0/1"):
        binary_metrics(pos_neg, y + 1, threshold="argmax")


def test_rsna_patient_split():
    pids = [f"p{i % 37}" for i in range(100)]  # 37 patients, several images each
    split = rsna_patient_split(pids, seed=0)
    parts = {name: {pids[i] for i in idx} for name, idx in split.items()}
    assert not (parts["train"] & parts["validate"]) and not (parts["train"] & parts["test"])
    assert not (parts["validate"] & parts["test"])
    assert sum(len(v) for v in split.values()) == 100
    # naive reference: sorted unique ids, default_rng(0) permutation, cuts at floor(70%) and floor(85%)
    uniq = sorted(set(pids))
    perm = np.random.default_rng(0).permutation(len(uniq))
    shuffled = [uniq[j] for j in perm]
    assert parts["train"] == set(shuffled[: int(37 * 0.70)])
    assert parts["validate"] == set(shuffled[int(37 * 0.70) : int(37 * 0.85)])
    # input order does not matter
    again = rsna_patient_split(list(reversed(pids)), seed=0)
    assert {pids[::-1][i] for i in again["test"]} == parts["test"]
