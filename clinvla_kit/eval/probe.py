"""Linear probes on frozen embeddings: logistic regression with 1%, 10% and 100% of the training labels.

Features are standardised with the mean and standard deviation of the training rows each regression uses (C=1).

Label policy for the 14 CheXpert observations (documented, as papers differ silently): per observation, rows whose
label is blank (NaN) or uncertain (-1) are ignored in training and in testing; 1 is positive, 0 negative. Other
papers map uncertain to positive ("U-ones") or negative ("U-zeros"); pass ``uncertain="ones"`` or ``"zeros"`` for
those. An observation with a single class in its training subset or its test set gets NaN and is listed in
``skipped`` instead of a made-up score.

Label subsets are seeded. Single-label targets are stratified (every class keeps at least one example); multi-label
targets draw a random subset and then add, per observation, one example of any class the subset lacks, so 1% of a
small set still trains every observation that has both classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FRACTIONS: tuple[float, ...] = (0.01, 0.1, 1.0)


def _fraction_name(f: float) -> str:
    return f"{100 * f:g}%"


def subset_indices(y: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Seeded training subset of about ``fraction`` of the rows (sorted indices).

    Args:
        y: [N] class ids (stratified) or [N, L] multi-label matrix (1/0/-1/NaN; random + class coverage).
        fraction: in (0, 1]; 1 returns every row.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    y = np.asarray(y)
    n = y.shape[0]
    if fraction >= 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if y.ndim == 1:
        chosen: list[int] = []
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            take = max(1, round(fraction * len(rows)))
            chosen.extend(rng.choice(rows, size=take, replace=False).tolist())
        return np.sort(np.asarray(chosen, dtype=np.int64))
    take = max(1, round(fraction * n))
    chosen_set = set(rng.choice(n, size=take, replace=False).tolist())
    for j in range(y.shape[1]):
        for value in (0.0, 1.0):
            rows = np.flatnonzero(y[:, j] == value)
            if len(rows) and not chosen_set.intersection(rows.tolist()):
                chosen_set.add(int(rng.choice(rows)))
    return np.sort(np.asarray(sorted(chosen_set), dtype=np.int64))


def binary_targets(column: np.ndarray, uncertain: str = "ignore") -> tuple[np.ndarray, np.ndarray]:
    """One observation's labels -> (kept row mask [N] bool, 0/1 targets of the kept rows)."""
    col = np.asarray(column, dtype=np.float64)
    if uncertain == "ignore":
        keep = (col == 0) | (col == 1)
        return keep, col[keep].astype(np.int64)
    if uncertain in ("ones", "zeros"):
        keep = ~np.isnan(col)
        vals = col[keep].copy()
        vals[vals == -1] = 1.0 if uncertain == "ones" else 0.0
        return keep, vals.astype(np.int64)
    raise ValueError(f"uncertain policy must be 'ignore', 'ones' or 'zeros', got {uncertain!r}")


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    """Standardise with the training rows' mean/std, then logistic regression.

    Why standardise: joint-space embeddings of a weakly trained model are nearly collinear (pairwise cosine ~0.98),
    and without rescaling the L2 penalty then swamps the small differences that carry the labels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed)).fit(x, y)


def probe_multilabel(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    label_names: Sequence[str],
    fraction: float = 1.0,
    seed: int = 0,
    c: float = 1.0,
    uncertain: str = "ignore",
) -> dict[str, object]:
    """One logistic regression per observation on frozen embeddings.

    Args:
        train_x: [N, D].  train_y: [N, L] 1/0/-1/NaN.  test_x: [M, D].  test_y: [M, L].
        label_names: L names.  fraction: share of training rows used (``subset_indices``).
    Returns:
        ``{"auc_macro", "acc_macro", "auc": {name: float}, "acc": {name: float}, "n_train": int, "skipped": [...]}``;
        ``acc`` is each observation's binary accuracy at probability 0.5 (the paper's Table 5 reports per-class
        accuracy and their mean).
    """
    from sklearn.metrics import roc_auc_score

    train_y, test_y = np.asarray(train_y, dtype=np.float64), np.asarray(test_y, dtype=np.float64)
    if train_y.shape[1] != len(label_names) or test_y.shape[1] != len(label_names):
        raise ValueError(f"label matrices have {train_y.shape[1]}/{test_y.shape[1]} columns, names {len(label_names)}")
    rows = subset_indices(train_y, fraction, seed)
    x_tr, y_tr = np.asarray(train_x)[rows], train_y[rows]
    auc: dict[str, float] = {}
    acc: dict[str, float] = {}
    skipped: list[str] = []
    for j, name in enumerate(label_names):
        keep_tr, t_tr = binary_targets(y_tr[:, j], uncertain)
        keep_te, t_te = binary_targets(test_y[:, j], uncertain)
        if len(np.unique(t_tr)) < 2 or len(np.unique(t_te)) < 2:
            auc[name] = acc[name] = float("nan")
            skipped.append(name)
            continue
        model = _fit_lr(x_tr[keep_tr], t_tr, c, seed)
        p = model.predict_proba(np.asarray(test_x)[keep_te])[:, 1]
        auc[name] = float(roc_auc_score(t_te, p))
        acc[name] = float(((p >= 0.5).astype(np.int64) == t_te).mean())
    good = [n for n in label_names if n not in skipped]
    return {
        "auc_macro": float(np.mean([auc[n] for n in good])) if good else float("nan"),
        "acc_macro": float(np.mean([acc[n] for n in good])) if good else float("nan"),
        "auc": auc,
        "acc": acc,
        "n_train": len(rows),
        "skipped": skipped,
    }


def probe_multiclass(
    train_x: np.ndarray,
    train_y: Sequence[int],
    test_x: np.ndarray,
    test_y: Sequence[int],
    fraction: float = 1.0,
    seed: int = 0,
    c: float = 1.0,
) -> dict[str, object]:
    """Multinomial logistic regression (e.g. 5x200 classes, temporal progression).

    Returns ``{"acc", "macro_acc" (mean of per-class recall), "per_class_acc": {class: float}, "n_train"}``.
    """
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    rows = subset_indices(train_y, fraction, seed)
    if len(np.unique(train_y[rows])) < 2:
        raise ValueError("probe needs at least two classes in the training subset")
    model = _fit_lr(np.asarray(train_x)[rows], train_y[rows], c, seed)
    pred = model.predict(np.asarray(test_x))
    per_class = {str(k): float((pred[test_y == k] == k).mean()) for k in np.unique(test_y)}
    return {
        "acc": float((pred == test_y).mean()),
        "macro_acc": float(np.mean(list(per_class.values()))),
        "per_class_acc": per_class,
        "n_train": len(rows),
    }


def probe_at_fractions(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    label_names: Sequence[str] | None = None,
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
) -> dict[str, dict[str, object]]:
    """``{"1%": result, "10%": ..., "100%": ...}``: multi-label when ``label_names`` is given, else multi-class."""
    out: dict[str, dict[str, object]] = {}
    for f in fractions:
        if label_names is not None:
            out[_fraction_name(f)] = probe_multilabel(train_x, train_y, test_x, test_y, label_names, f, seed)
        else:
            out[_fraction_name(f)] = probe_multiclass(train_x, train_y, test_x, test_y, f, seed)
    return out
