"""Published numbers of the ClinVLA paper and of ALTA, shown beside ours in ``metrics.md``.

They were measured on real data (MIMIC-CXR training, CheXpert 8x200 / 5x200 and RSNA evaluation) with the papers'
own checkpoints; they are NOT comparable to numbers on SynthCXR and are shown only as a reference for the layout of
the paper's Tables 3-4.

Every cell is ``None`` ("n/a" in the tables) unless the value has been checked against the paper's table; the
tables could not be retrieved while this module was written (offline work), so all cells are ``None`` for now.
To fill one in, put the value as a fraction in [0, 1] and its source in ``SOURCES``; never estimate a value.
"""

from __future__ import annotations

# metric path (same keys as metrics.json) -> {"ClinVLA (published)": value | None, "ALTA (published)": value | None}
PUBLISHED_COLUMNS: tuple[str, ...] = ("ClinVLA (published)", "ALTA (published)")

SOURCES: dict[str, str] = {
    "ClinVLA (published)": "Hao, Liu, Chen 2025, Front. Physiol. 16:1661960, Tables 3-4 (doi:10.3389/fphys.2025.1661960)",
    "ALTA (published)": "Lian et al. 2025, IEEE TMI, arXiv:2506.08990, retrieval and zero-shot tables",
}

_METRICS: tuple[str, ...] = (
    "retrieval.img2img_8x200.P@5",
    "retrieval.img2img_8x200.P@10",
    "retrieval.img2img_8x200.P@50",
    "retrieval.txt2img_8x200.P@5",
    "retrieval.txt2img_8x200.P@10",
    "retrieval.txt2img_8x200.P@50",
    "retrieval.img2txt_5x200.P@5",
    "retrieval.img2txt_5x200.P@10",
    "retrieval.img2txt_5x200.P@100",
    "zeroshot.5x200.acc",
    "zeroshot.pneumonia.acc",
    "zeroshot.pneumonia.f1",
    "zeroshot.pneumonia.auc",
)

PUBLISHED: dict[str, dict[str, float | None]] = {m: {c: None for c in PUBLISHED_COLUMNS} for m in _METRICS}


def published_value(metric: str, column: str) -> float | None:
    """The published value of ``metric`` (dotted metrics.json path) in ``column``, or None when not known."""
    return PUBLISHED.get(metric, {}).get(column)
