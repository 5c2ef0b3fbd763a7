"""One study's per-finding maps beside SynthCXR's ground-truth masks: the picture behind a pointing-game number.

A pointing rate says how often the peak is inside the mask; this figure shows where the peak went when it was not
(the image border, the other lung, the diaphragm...). Each panel: the map over the view (viridis, colour-blind
safe), the finding's mask as a white contour and the map's peak (``viz.grounding.peak_cells``, the point the
pointing game checks) as an orange cross outlined in black (visible on viridis' yellow too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def map_mask_figure(record: Any, images: Any, maps: Mapping[str, Mapping[str, Any]],
                    annotations: Iterable[Mapping[str, Any]], slots: Sequence[str] = ("frontal", "lateral"),
                    normalization: str = "alta", size: float = 2.2):
    """Rows: the (view, finding) pairs of ``record`` that have a map; columns: the methods of ``maps``.

    Args:
        record: the study's ``StudyRecord`` (``dicom_ids`` per slot).
        images: the study's model inputs [4, C, H, W] (``batch.images[i]``), undone with ``normalization``.
        maps: method -> (``dicom_id -> {finding: heatmap}``), as ``viz.grounding.finding_maps`` returns them.
        annotations: rows of ``load_annotations`` (the masks).
    Raises:
        ValueError when no map of any method belongs to this study.
    """
    import cv2
    import matplotlib.pyplot as plt
    from matplotlib import patheffects

    from clinvla_kit.config import SLOTS
    from clinvla_kit.data.images import denormalize
    from clinvla_kit.synth.rle import rle_decode
    from clinvla_kit.viz.figures import overlay
    from clinvla_kit.viz.grounding import peak_cells, view_kind

    methods = list(maps)
    by_dicom: dict[str, dict[str, Mapping[str, Any]]] = {}
    for a in annotations:
        if a.get("mask") is not None:
            by_dicom.setdefault(str(a["dicom_id"]), {})[str(a["finding"])] = a
    rows = [(s, f) for s in slots if record.dicom_ids.get(s)
            for f in sorted(by_dicom.get(str(record.dicom_ids[s]), {}))
            if any(f in maps[m].get(str(record.dicom_ids[s]), {}) for m in methods)]
    if not rows:
        raise ValueError(f"study {record.study_id}: no map of {methods} has a finding mask to draw")
    fig, axes = plt.subplots(len(rows), len(methods), figsize=(size * len(methods), size * len(rows)), squeeze=False)
    for r, (slot, finding) in enumerate(rows):
        dicom = str(record.dicom_ids[slot])
        disp = denormalize(images[SLOTS.index(slot)], normalization)
        mask = rle_decode(by_dicom[dicom][finding]["mask"]).astype(np.uint8)
        mask = cv2.resize(mask, (disp.shape[1], disp.shape[0]), interpolation=cv2.INTER_NEAREST)
        for c, m in enumerate(methods):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            heat = maps[m].get(dicom, {}).get(finding)
            if heat is None:
                ax.imshow(disp, cmap="gray")
                ax.text(0.5, 0.5, "no map", color="white", ha="center", fontsize=9, transform=ax.transAxes)
            else:
                ax.imshow(overlay(disp, np.asarray(heat), alpha=0.5, cmap="viridis"))
                py, px = peak_cells(np.asarray(heat), disp.shape)
                ax.plot(px, py, "x", color="#E69F00", markersize=8, mew=2,
                        path_effects=[patheffects.withStroke(linewidth=4, foreground="black")])
            ax.contour(mask, [0.5], colors="white", linewidths=1.2)
            if r == 0:
                ax.set_title(m.replace("_", " "), fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{finding.replace('_', ' ')}\n{view_kind(by_dicom[dicom][finding].get('view'))}",
                              fontsize=9)
    fig.suptitle(f"study {record.study_id}: map (viridis), mask (white), peak (orange x)", fontsize=9)
    fig.tight_layout()
    return fig
