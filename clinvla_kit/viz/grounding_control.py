"""A control for prompt-driven maps: the same question asked about a patient who does not have the finding.

A finding's prompt states its place ("mild consolidation in the right lower lobe"; ``finding_queries.finding_prompt``).
A map could then "point" by reading the place words alone: a model that knows where the right lower lobe is would
light it up on any chest, lesion or not. The control tells the two apart: for every (image, finding) row, the map of
the *same prompt* on a study without that finding (same view) is scored against the *row's* mask. A map that finds
the lesion points in the real row and not in the control; one that reads the words points in both.

Control studies are shared round-robin (each serves several rows, with several prompts at once for occlusion), so
the control costs one map pass per control image rather than per row. The controls are other patients, so their
anatomy differs a little from the row's; the row's mask still marks where the place words point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def control_studies(records: Sequence[Any], annotations: Iterable[Mapping[str, Any]], findings: Sequence[str],
                    n: int, exclude: Iterable[Any] = ()) -> list[Any]:
    """Up to ``n`` records (in their order) with none of ``findings`` annotated on any image (visible or not) and
    not in ``exclude`` (study ids), so a control image holds no instance of the finding it is asked about."""
    if n < 1:
        raise ValueError(f"control_studies: n must be >= 1, got {n}")
    with_finding = {str(a["study_id"]) for a in annotations if a["finding"] in findings}
    skip = {str(s) for s in exclude}
    return [r for r in records if str(r.study_id) not in with_finding and str(r.study_id) not in skip][:n]


def control_maps(model: Any, batch: Any, records: Sequence[Any], annotations: Iterable[Mapping[str, Any]],
                 control_batch: Any, controls: Sequence[Any], method: str = "occlusion",
                 slots: Sequence[str] = ("frontal", "lateral"), findings: Sequence[str] | None = None,
                 ) -> dict[str, dict[str, np.ndarray]]:
    """Maps of each row's prompt on a control study, keyed by the *row's* image, so ``score_grounding`` and
    ``random_map_scores`` score them against the row's mask unchanged.

    Args:
        batch, records: the studies the real maps were drawn on (``finding_maps``' arguments).
        annotations: rows of ``load_annotations``; the visible masked rows of ``records``' images in ``slots`` (and
            ``findings``, when given) are the rows controlled, as in ``finding_maps``.
        control_batch, controls: studies without the findings (``control_studies``) and their collated batch.
        method: "occlusion" or "gradcam" (the prompt-driven maps; word maps read the study's own report).
    Returns:
        ``row dicom_id -> {finding: map of that row's prompt on its control image}``; rows whose view no control
        study has are left out.
    """
    import torch

    from clinvla_kit.config import SLOTS
    from clinvla_kit.viz.attention import encode_prompt, gradcam_batch
    from clinvla_kit.viz.finding_queries import finding_prompt
    from clinvla_kit.viz.grounding import OCCLUSION_WINDOW, annotations_by_image
    from clinvla_kit.viz.occlusion import occlusion_map

    if method not in ("occlusion", "gradcam"):
        raise ValueError(f"control_maps: method must be 'occlusion' or 'gradcam', got {method!r}")
    if len(controls) != len(control_batch):
        raise ValueError(f"control_maps: {len(controls)} controls for a batch of {len(control_batch)} studies")
    rows_by_image = annotations_by_image(annotations, findings=findings)
    out: dict[str, dict[str, np.ndarray]] = {}
    prompts: dict[str, torch.Tensor] = {}
    for slot in slots:
        s = SLOTS.index(slot)
        pool = [j for j, c in enumerate(controls) if bool(control_batch.present[j, s]) and c.dicom_ids.get(slot)]
        if not pool:
            continue
        jobs: dict[int, list[tuple[str, str, str]]] = {}  # control row -> (row dicom, finding, prompt)
        k = 0
        for i, rec in enumerate(records):
            dicom = str(rec.dicom_ids.get(slot) or "")
            if not dicom or not bool(batch.present[i, s]):
                continue
            for a in rows_by_image.get(dicom, []):
                query = finding_prompt(a)
                if query not in prompts:
                    prompts[query] = encode_prompt(model, query)
                jobs.setdefault(pool[k % len(pool)], []).append((dicom, str(a["finding"]), query))
                k += 1
        for j, mine in jobs.items():
            texts = torch.stack([prompts[q] for _, _, q in mine])
            if method == "occlusion":
                heats = occlusion_map(model, control_batch.images[j, s], texts, slot, OCCLUSION_WINDOW)
            else:
                heats = gradcam_batch(model, control_batch.images[[j] * len(mine), s], texts, slot=slot)
            for (dicom, finding, _), heat in zip(mine, heats):
                out.setdefault(dicom, {})[finding] = heat
    return out
