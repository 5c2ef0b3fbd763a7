"""Linear probes: label policy, subsets and AUC against naive references written here."""

import numpy as np
import pytest

from clinvla_kit.eval.probe import (
    binary_targets,
    probe_at_fractions,
    probe_multiclass,
    probe_multilabel,
    subset_indices,
)


def naive_auc(y, p):
    """Share of (positive, negative) pairs ranked correctly, ties count one half."""
    pos = [s for s, t in zip(p, y) if t == 1]
    neg = [s for s, t in zip(p, y) if t == 0]
    total = 0.0
    for a in pos:
        for b in neg:
            total += 1.0 if a > b else 0.5 if a == b else 0.0
    return total / (len(pos) * len(neg))


def make(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.choice([1.0, 0.0, -1.0, np.nan], size=(n, 3), p=[0.4, 0.4, 0.1, 0.1])
    x = np.concatenate([np.nan_to_num(y, nan=0.5) + rng.normal(0, 0.7, size=(n, 3)), rng.normal(size=(n, 2))], 1)
    return x, y


def test_multilabel_policy_and_auc():
    from sklearn.linear_model import LogisticRegression

    xtr, ytr = make(120, 0)
    xte, yte = make(60, 1)
    out = probe_multilabel(xtr, ytr, xte, yte, ["a", "b", "c"], fraction=1.0, seed=0)
    for j, name in enumerate("abc"):
        tr = [i for i in range(120) if ytr[i, j] in (0.0, 1.0)]  # blank and uncertain ignored
        te = [i for i in range(60) if yte[i, j] in (0.0, 1.0)]
        # standardised with the mean/std of this observation's kept training rows
        mu = [sum(xtr[i, d] for i in tr) / len(tr) for d in range(5)]
        sd = [(sum((xtr[i, d] - mu[d]) ** 2 for i in tr) / len(tr)) ** 0.5 for d in range(5)]
        ztr = (xtr[tr] - np.array(mu)) / np.array(sd)
        zte = (xte[te] - np.array(mu)) / np.array(sd)
        m = LogisticRegression(max_iter=2000, random_state=0).fit(ztr, ytr[tr, j].astype(int))
        p = m.predict_proba(zte)[:, 1]
        assert out["auc"][name] == pytest.approx(naive_auc(list(yte[te, j]), list(p)))
        assert out["acc"][name] == pytest.approx(sum((pi >= 0.5) == (t == 1) for pi, t in zip(p, yte[te, j])) / len(te))
    assert out["auc_macro"] == pytest.approx(np.mean(list(out["auc"].values())))
    assert out["auc_macro"] > 0.7


def test_single_class_label_is_skipped_not_scored():
    xtr, ytr = make(40, 2)
    xte, yte = make(20, 3)
    yte[:, 1] = 1.0
    out = probe_multilabel(xtr, ytr, xte, yte, ["a", "b", "c"])
    assert out["skipped"] == ["b"] and np.isnan(out["auc"]["b"])


def test_subsets_seeded_stratified_and_covering():
    y = np.array([0] * 90 + [1] * 10)
    s = subset_indices(y, 0.1, seed=4)
    assert sorted(np.bincount(y[s]).tolist()) == [1, 9]
    assert s.tolist() == subset_indices(y, 0.1, seed=4).tolist()
    ml = np.zeros((200, 2))
    ml[5, 0] = 1.0  # a single positive of observation 0
    sub = subset_indices(ml, 0.01, seed=0)
    assert 5 in sub.tolist() and len(sub) <= 4
    with pytest.raises(ValueError):
        subset_indices(y, 0.0)


def test_uncertain_policies():
    col = np.array([1.0, 0.0, -1.0, np.nan])
    assert binary_targets(col)[0].tolist() == [True, True, False, False]
    assert binary_targets(col, "ones")[1].tolist() == [1, 0, 1]
    assert binary_targets(col, "zeros")[1].tolist() == [1, 0, 0]


def test_multiclass_and_fractions():
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(3), 40)
    x = np.eye(3)[y] * 2 + rng.normal(0, 0.5, size=(120, 3))
    res = probe_multiclass(x[::2], y[::2], x[1::2], y[1::2])
    pred_ok = res["acc"]
    assert 0.8 < pred_ok <= 1.0
    assert res["macro_acc"] == pytest.approx(np.mean(list(res["per_class_acc"].values())))
    out = probe_at_fractions(x[::2], y[::2], x[1::2], y[1::2], fractions=(0.1, 1.0))
    assert list(out) == ["10%", "100%"] and out["10%"]["n_train"] == 6
