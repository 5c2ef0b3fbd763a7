"""Zero-shot classification as pure functions over embeddings, with every protocol choice named.

Protocol choices (each an argument, documented where it is taken):

- class embedding: ``aggregate="mean"`` averages a class's prompt embeddings (then re-normalises; CLIP/GLoRIA) and
  ``"max"`` takes, per image, the best-matching prompt of the class.
- ``znorm=True``: per-class z-normalisation of the scores across the test set (GLoRIA does this). It removes a
  class's global bias but makes each image's score depend on the other images of the batch: the same image can get
  a different label in a different test set.
- binary thresholds (``THRESHOLD_METHODS``): ``argmax`` of the positive and negative prompt scores; ``fixed``
  threshold 0.5 on the two-prompt softmax probability (identical to argmax for two-prompt scores; meaningful for a
  probe's probabilities); ``cv-acc`` / ``cv-f1``: 10-fold stratified cross-validation, the threshold is chosen on
  nine folds by accuracy or by F1 (ALTA chooses by F1) and applied to the held-out fold, so no image is classified
  with a threshold that saw its own label.
- RSNA splits: ``test_list`` (MRM/ALTA's 3,000 images; read by the RSNA loader) and ``gloria`` (70/15/15 by patient,
  seed 0; ``rsna_patient_split``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLD_METHODS: tuple[str, ...] = ("argmax", "fixed", "cv-acc", "cv-f1")


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.where(n == 0, 1.0, n)


def class_scores(img_emb: np.ndarray, class_prompt_embs: Sequence[np.ndarray], aggregate: str = "mean") -> np.ndarray:
    """Cosine score of each image with each class.

    Args:
        img_emb: [N, D] image embeddings (normalised here).
        class_prompt_embs: K arrays [P_k, D], the prompt embeddings of each class (normalised here).
        aggregate: "mean" (mean prompt embedding, re-normalised) or "max" (best prompt per image).
    Returns:
        [N, K] scores.
    """
    img = l2_normalize(img_emb)
    cols = []
    for k, p in enumerate(class_prompt_embs):
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] != img.shape[1]:
            raise ValueError(f"class {k}: prompt embeddings must be [P>0, {img.shape[1]}], got {p.shape}")
        p = l2_normalize(p)
        if aggregate == "mean":
            cols.append(img @ l2_normalize(p.mean(axis=0)))
        elif aggregate == "max":
            cols.append((img @ p.T).max(axis=1))
        else:
            raise ValueError(f"aggregate must be 'mean' or 'max', got {aggregate!r}")
    return np.stack(cols, axis=1)


def znormalize(scores: np.ndarray) -> np.ndarray:
    """Per-class (column) z-score across the test set: (s - mean_k) / std_k.

    Batch-dependent by construction: an image's normalised score depends on every other image in ``scores``.
    """
    s = np.asarray(scores, dtype=np.float64)
    std = s.std(axis=0, keepdims=True)
    return (s - s.mean(axis=0, keepdims=True)) / np.where(std == 0, 1.0, std)


def multiclass_metrics(scores: np.ndarray, labels: Sequence[int]) -> dict[str, object]:
    """Accuracy of ``argmax`` and the confusion matrix (rows = true class, columns = predicted).

    Args:
        scores: [N, K].  labels: [N] ints in [0, K).
    Returns:
        ``{"acc": float, "confusion": K x K list of ints, "per_query_correct": [N] float array}``.
    """
    from sklearn.metrics import confusion_matrix

    s = np.asarray(scores)
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (s.shape[0],):
        raise ValueError(f"labels has shape {y.shape}, expected ({s.shape[0]},)")
    if y.min(initial=0) < 0 or y.max(initial=0) >= s.shape[1]:
        raise ValueError(f"labels must lie in [0, {s.shape[1]}), got range [{y.min()}, {y.max()}]")
    pred = s.argmax(axis=1)  # first maximum on ties: the lower class index
    correct = (pred == y).astype(np.float64)
    cm = confusion_matrix(y, pred, labels=list(range(s.shape[1])))
    return {"acc": float(correct.mean()), "confusion": cm.tolist(), "per_query_correct": correct}


def two_prompt_probability(pos_neg: np.ndarray, scale: float = 100.0) -> np.ndarray:
    """P(positive) = softmax(scale * [s_neg, s_pos])[1] from [N, 2] scores ordered (negative, positive).

    ``scale`` plays the role of CLIP's logit scale; it changes neither the AUC nor the argmax decision.
    """
    s = np.asarray(pos_neg, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"two-prompt scores must be [N, 2] (negative, positive), got {s.shape}")
    return 1.0 / (1.0 + np.exp(-scale * (s[:, 1] - s[:, 0])))


def _binary_stats(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    return float((pred == y).mean()), float(f1_score(y, pred, zero_division=0.0))


def choose_threshold(scores: np.ndarray, targets: np.ndarray, criterion: str = "f1") -> float:
    """Threshold t (predict positive when score >= t) maximising accuracy or F1 on these scores.

    Candidates are every observed score plus +inf (all negative); on equal criterion the lowest candidate wins.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    if criterion not in ("acc", "f1"):
        raise ValueError(f"criterion must be 'acc' or 'f1', got {criterion!r}")
    best_t, best_v = np.inf, -1.0
    for t in np.append(np.unique(s), np.inf):
        acc, f1 = _binary_stats((s >= t).astype(np.int64), y)
        v = acc if criterion == "acc" else f1
        if v > best_v:
            best_t, best_v = float(t), v
    return best_t


def cv_threshold_predictions(
    scores: np.ndarray, targets: np.ndarray, criterion: str = "f1", n_splits: int = 10, seed: int = 0
) -> np.ndarray:
    """Out-of-fold predictions: for each stratified fold, a threshold chosen on the other folds is applied to it.

    Returns [N] int predictions. ``n_splits`` is lowered to the minority-class count when the set is tiny.
    """
    from sklearn.model_selection import StratifiedKFold

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    n_splits = min(n_splits, int(np.bincount(y, minlength=2).min()))
    if n_splits < 2:
        raise ValueError("cross-validated threshold needs at least 2 positives and 2 negatives")
    pred = np.zeros_like(y)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train_idx, test_idx in folds.split(s.reshape(-1, 1), y):
        t = choose_threshold(s[train_idx], y[train_idx], criterion)
        pred[test_idx] = (s[test_idx] >= t).astype(np.int64)
    return pred


def binary_metrics(
    pos_neg: np.ndarray | None,
    targets: Sequence[int],
    threshold: str = "cv-f1",
    prob: np.ndarray | None = None,
    fixed_value: float = 0.5,
    seed: int = 0,
) -> dict[str, object]:
    """AUC, accuracy and F1 of a binary task with a named threshold method.

    Args:
        pos_neg: [N, 2] zero-shot scores ordered (negative prompt, positive prompt), or None when ``prob`` is given.
        targets: [N] 0/1.
        threshold: one of ``THRESHOLD_METHODS``.
        prob: [N] probability of the positive class (e.g. a probe); default: ``two_prompt_probability(pos_neg)``.
        fixed_value: the threshold of the "fixed" method.
        seed: seed of the cross-validation folds.
    Returns:
        ``{"auc", "acc", "f1", "threshold_method", "pred": [N] int array, "prob": [N] float array,
        "score": [N] the ranking score (AUC and cv thresholds use it: the margin s_pos - s_neg, or ``prob``)}``.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(targets, dtype=np.int64)
    if set(np.unique(y)) - {0, 1}:
        raise ValueError(f"binary targets must be 0/1, got values {sorted(set(np.unique(y).tolist()))}")
    if threshold not in THRESHOLD_METHODS:
        raise ValueError(f"threshold method {threshold!r} unknown; choose one of {THRESHOLD_METHODS}")
    if prob is None:
        if pos_neg is None:
            raise ValueError("binary_metrics needs pos_neg scores or prob")
        prob = two_prompt_probability(pos_neg)
        # Rank by the margin, not the softmax: exp saturates to exactly 0/1 in float64 and would create false ties.
        s = np.asarray(pos_neg, dtype=np.float64)
        rank_score = s[:, 1] - s[:, 0]
    else:
        rank_score = np.asarray(prob, dtype=np.float64)
    p = np.asarray(prob, dtype=np.float64)
    if threshold == "argmax":
        if pos_neg is None:
            raise ValueError("threshold 'argmax' needs the two prompt scores (pos_neg)")
        s = np.asarray(pos_neg)
        pred = (s[:, 1] > s[:, 0]).astype(np.int64)
    elif threshold == "fixed":
        pred = (p >= fixed_value).astype(np.int64)
    else:
        pred = cv_threshold_predictions(rank_score, y, criterion=threshold.split("-")[1], seed=seed)
    acc, f1 = _binary_stats(pred, y)
    auc = float(roc_auc_score(y, rank_score)) if len(np.unique(y)) == 2 else float("nan")
    return {"auc": auc, "acc": acc, "f1": f1, "threshold_method": threshold, "pred": pred, "prob": p, "score": rank_score}


def rsna_patient_split(patient_ids: Sequence[str], seed: int = 0) -> dict[str, np.ndarray]:
    """GLoRIA/MGCA/CXR-CLIP-style 70/15/15 split by patient, as row indices (no patient in two parts).

    The patient assignment is ``clinvla_kit.data.sources.rsna.gloria_rsna_split`` (sorted unique ids, permuted with
    ``numpy.random.default_rng(seed)``, cut at 70% and 85%): one definition shared with the RSNA loader, so the
    loader's ``split="gloria"`` column and this function never disagree. This maps it to rows (images).

    Returns:
        ``{"train": rows, "validate": rows, "test": rows}``, int arrays of row indices into ``patient_ids``.
    """
    from clinvla_kit.data.sources.rsna import gloria_rsna_split

    ids = [str(p) for p in patient_ids]
    part = {p: name for name, members in gloria_rsna_split(ids, seed=seed).items() for p in members}
    names = np.array([part[p] for p in ids])
    return {name: np.flatnonzero(names == name) for name in ("train", "validate", "test")}
