"""Temporal progression (improving / stable / worsening) on MS-CXR-T-format pairs: zero-shot and a probe.

Zero-shot, two named methods:

- ``difference`` (default): for study i with finding f, ``delta_i = cos(current_i, t_f) - cos(prior_i, t_f)``, where
  ``t_f`` is the finding's prompt embedding ("pleural effusion"). This is ``(current - prior) . t_f`` for unit
  vectors: the change of the image embedding projected on the finding's text direction. worsening if
  ``delta > band``, improving if ``delta < -band``, else stable. We chose it because it only needs what contrastive
  training learns directly (how much an image shows a finding) and works with a single-image model. ``band=None``
  takes the tertile of |delta| over the test set (about a third called stable): label-free, but batch-dependent.
- ``joint``: the current image is encoded *with* its prior in the temporal slots (one embedding per pair) and compared
  with change prompts ("worsening pleural effusion", ``prompts.temporal_prompts``). This tests the temporal tower,
  but needs reports that describe change during training.

Probe: multinomial logistic regression on ``[current, prior, current - prior]`` with stratified k-fold
cross-validation, because MS-CXR-T-sized sets are too small for a separate training split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clinvla_kit.eval.zeroshot import class_scores, l2_normalize

PROGRESSION: tuple[str, ...] = ("improving", "stable", "worsening")


def progression_delta(current: np.ndarray, prior: np.ndarray, finding_emb: np.ndarray) -> np.ndarray:
    """[N] ``cos(current_i, t_i) - cos(prior_i, t_i)``; all inputs [N, D] (row i's finding embedding in ``finding_emb``)."""
    cur, pri, txt = l2_normalize(current), l2_normalize(prior), l2_normalize(finding_emb)
    if not (cur.shape == pri.shape == txt.shape):
        raise ValueError(f"current {cur.shape}, prior {pri.shape} and finding {txt.shape} embeddings must match")
    return (cur * txt).sum(axis=1) - (pri * txt).sum(axis=1)


def difference_scores(delta: np.ndarray, band: float | None = None) -> tuple[np.ndarray, float]:
    """[N, 3] scores in ``PROGRESSION`` order whose argmax is the band rule; returns (scores, band used).

    scores = [-delta - band, 0, delta - band]: worsening wins iff delta > band, improving iff delta < -band.
    """
    d = np.asarray(delta, dtype=np.float64)
    if band is None:
        band = float(np.quantile(np.abs(d), 1.0 / 3.0))
    return np.stack([-d - band, np.zeros_like(d), d - band], axis=1), float(band)


def joint_scores(study_emb: np.ndarray, findings: Sequence[str], prompt_embs: dict[str, list[np.ndarray]]) -> np.ndarray:
    """[N, 3] scores of pair embeddings against each row's own finding's change prompts.

    Args:
        study_emb: [N, D] embeddings of current studies encoded with their priors.
        findings: [N] finding name of each row.
        prompt_embs: finding -> three arrays [P, D] (improving, stable, worsening prompt embeddings).
    """
    emb = np.asarray(study_emb, dtype=np.float64)
    out = np.zeros((emb.shape[0], 3))
    findings = np.asarray(findings)
    for f in np.unique(findings):
        if f not in prompt_embs:
            raise ValueError(f"no change prompts for finding {f!r}; have {sorted(prompt_embs)}")
        rows = np.flatnonzero(findings == f)
        out[rows] = class_scores(emb[rows], prompt_embs[f], aggregate="mean")
    return out


def label_ids(labels: Sequence[str]) -> np.ndarray:
    """"improving"/"stable"/"worsening" (any case) -> 0/1/2; an unknown label names its row."""
    out = []
    for i, lab in enumerate(labels):
        key = str(lab).strip().lower()
        if key not in PROGRESSION:
            raise ValueError(f"row {i}: progression label {lab!r} is not one of {PROGRESSION}")
        out.append(PROGRESSION.index(key))
    return np.asarray(out, dtype=np.int64)


def temporal_probe_cv(
    current: np.ndarray, prior: np.ndarray, labels: Sequence[int], n_splits: int = 5, seed: int = 0, c: float = 1.0
) -> dict[str, float]:
    """Cross-validated probe accuracy on ``[current, prior, current - prior]`` features.

    Returns ``{"acc": out-of-fold accuracy, "macro_acc": mean per-class recall, "n_splits": k}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    cur, pri = l2_normalize(current), l2_normalize(prior)
    x = np.concatenate([cur, pri, cur - pri], axis=1)
    y = np.asarray(labels, dtype=np.int64)
    k = min(n_splits, int(np.bincount(y)[np.bincount(y) > 0].min()))
    if k < 2 or len(np.unique(y)) < 2:
        raise ValueError("temporal probe needs at least two classes with two examples each")
    pred = np.zeros_like(y)
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        mu, sd = x[tr].mean(axis=0), x[tr].std(axis=0)
        sd = np.where(sd == 0, 1.0, sd)  # standardised per fold, as probe.py (nearly collinear embeddings)
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit((x[tr] - mu) / sd, y[tr])
        pred[te] = model.predict((x[te] - mu) / sd)
    per_class = [float((pred[y == cls] == cls).mean()) for cls in np.unique(y)]
    return {"acc": float((pred == y).mean()), "macro_acc": float(np.mean(per_class)), "n_splits": float(k)}
