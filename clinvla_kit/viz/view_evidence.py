"""Can one view alone tell a finding? The per-view AUC of a finding's zero-shot score, with an interval.

A map can only point at a finding in a view where the model *sees* that finding: if the lateral view alone does not
rank studies with an enlarged heart above those without, no map of the lateral can point at the heart for a reason
the model knows, and a pointing game at chance there says so rather than that the map method failed. This asks the
model directly, per view: encode each view as a one-view study (``viz.occlusion.one_view_embedding``, the embedding
occlusion and Grad-CAM explain), score it by its cosine to the finding's mean prompt embedding (the kit's prompt
table, ``eval.prompts.build_prompts``, as zero-shot uses), and compute the AUC of positives against negatives.

Labels: 1.0 is positive; 0.0 and blank (not mentioned) are negative; -1.0 (uncertain) is left out, CheXpert's
"U-ignore". Chance is an AUC of 0.5; the percentile bootstrap interval resamples images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

from clinvla_kit.config import SLOTS
from clinvla_kit.eval.bootstrap import bootstrap_ci
from clinvla_kit.viz.occlusion import one_view_embedding


def one_view_embeddings(model: Any, images: torch.Tensor, slot: int) -> torch.Tensor:
    """images [N, C, H, W] of one slot -> normalised one-view study embeddings [N, E] (eval mode, no gradient)."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        x = images.float().to(device)
        cls, _, _ = model.vision.encode_views(x, torch.full((len(x),), slot, dtype=torch.long, device=device), 0.0)
        return one_view_embedding(model, cls, slot)


def _binary_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """AUC by the Mann-Whitney rank sum (ties count one half), NaN with one class: the same number as
    ``sklearn.metrics.roc_auc_score`` at a fraction of its cost, which matters inside a 1,000-resample bootstrap."""
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    return float((rankdata(scores)[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _verdict(lo: float, hi: float) -> str:
    """"tells it" (interval above 0.5), "below chance" (interval below: the view ranks the finding's studies
    *under* the others, e.g. negatives that hold look-alike findings), else "at chance"."""
    if lo > 0.5:
        return "tells it"
    return "below chance" if hi < 0.5 else "at chance"


def view_finding_auc(model: Any, batch: Any, records: Sequence[Any], findings: Sequence[str],
                     prompts: Mapping[str, Sequence[str]] | None = None, n_boot: int = 1000, seed: int = 0,
                     max_prompts: int = 20, slots: Sequence[str] = ("frontal", "lateral")) -> Any:
    """Per (finding, view): how well the view alone ranks studies with the finding above those without.

    Args:
        model: a ``ClinVLA``.
        batch: the collated ``Batch`` of ``records`` (same order): ``images`` [B, S, C, H, W], ``present`` [B, S].
        records: ``StudyRecord``s, for their ``labels`` (CheXpert names -> 1.0 / 0.0 / -1.0 / None).
        findings: CheXpert names ("Cardiomegaly", "Pleural Effusion").
        prompts: finding -> prompt texts; None = the kit's prompt table (``build_prompts``, ``max_prompts`` each).
        n_boot, seed: the bootstrap of the interval (over images).
        slots: the views to ask about (the priors are few in a grounding selection: 3-7 images, no interval).
    Returns:
        DataFrame with finding, view, images, positives, auc, lo, hi, chance (0.5) and verdict ("tells it" when the
        interval lies above 0.5, "below chance" when it lies below, else "at chance"), one row per finding and
        enabled view that has both classes.
    """
    import pandas as pd

    from clinvla_kit.eval.prompts import build_prompts
    from clinvla_kit.viz.attention import encode_texts

    if len(records) != batch.images.shape[0]:
        raise ValueError(f"view_finding_auc: {len(records)} records for a batch of {batch.images.shape[0]} studies")
    texts = dict(prompts) if prompts is not None else build_prompts(list(findings), max_per_class=max_prompts,
                                                                    seed=seed)
    class_emb = {}
    for f in findings:
        if not texts.get(f):
            raise ValueError(f"view_finding_auc: no prompts for finding {f!r}")
        mean = encode_texts(model, list(texts[f])).mean(0)
        class_emb[f] = mean / mean.norm()
    rows = []
    for s, slot in enumerate(SLOTS):
        if slot not in slots or not bool(model.vision.enabled_slots[s]):
            continue
        have = batch.present[:, s].bool()
        if not have.any():
            continue
        emb = one_view_embeddings(model, batch.images[have, s], s)
        kept = [r for r, h in zip(records, have.tolist()) if h]
        for f in findings:
            lab = np.array([np.nan if r.labels.get(f) == -1.0 else float(r.labels.get(f) == 1.0) for r in kept])
            ok = ~np.isnan(lab)
            y = lab[ok].astype(int)
            if y.sum() == 0 or y.sum() == len(y):
                continue
            score = (emb @ class_emb[f].to(emb.device)).cpu().numpy()[ok]
            lo, hi = bootstrap_ci(lambda idx, s=score, t=y: _binary_auc(s[idx], t[idx]), len(y), n_boot, seed)
            auc = _binary_auc(score, y)
            rows.append({"finding": f, "view": slot, "images": len(y), "positives": int(y.sum()), "auc": auc,
                         "lo": lo, "hi": hi, "chance": 0.5, "verdict": _verdict(lo, hi)})
    return pd.DataFrame(rows, columns=["finding", "view", "images", "positives", "auc", "lo", "hi", "chance",
                                       "verdict"])
