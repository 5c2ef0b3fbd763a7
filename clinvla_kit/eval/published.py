"""Published numbers of the ClinVLA paper, shown beside ours in ``metrics.md`` (notebook 04) and in the ablation
comparison (notebook 08), every cell with the table and row it was copied from.

Source: Hao, Liu, Chen 2025, Front. Physiol. 16:1661960, doi:10.3389/fphys.2025.1661960, as copied (with the paper's
own inconsistencies listed) in ``docs/PAPER_TABLES.md``. They were measured on real data (MIMIC-CXR training,
CheXpert 8x200 / 5x200 and RSNA evaluation) with the papers' checkpoints; they are NOT comparable to numbers on
SynthCXR and are shown only for layout and scale: every table that prints them says so.

Rules: a value is a fraction in [0, 1] copied from ``docs/PAPER_TABLES.md``, never estimated; a metric the paper
does not report in that form stays ``None`` ("n/a") with the reason in ``CELL_NOTES``. ALTA's numbers are not in
``docs/PAPER_TABLES.md`` and are therefore not shown; the columns here are the paper's own rows (ClinVLA, its
strongest 224-px baseline GLoRIA-ViT, and the Random row of Table 3).
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER = "Hao, Liu, Chen 2025, Front. Physiol. 16:1661960 (doi:10.3389/fphys.2025.1661960)"

PUBLISHED_COLUMNS: tuple[str, ...] = ("ClinVLA (published)", "GLoRIA-ViT (published)", "Random (published)")

SOURCES: dict[str, str] = {
    "ClinVLA (published)": f"{PAPER}: retrieval from Table 6, row 'ClinVLA'; zero-shot from Table 4, row 'ClinVLA'",
    "GLoRIA-ViT (published)": f"{PAPER}: retrieval from Table 3, row 'GLoRIA-ViT'; zero-shot from Table 4, row "
                              "'GLoRIA-ViT'",
    "Random (published)": f"{PAPER}: Table 3, row 'Random' (retrieval only)",
}

# (metric path, Table 6 / Table 3 column as printed)
_RETRIEVAL: tuple[str, ...] = (
    "retrieval.img2img_8x200.P@5", "retrieval.img2img_8x200.P@10", "retrieval.img2img_8x200.P@50",
    "retrieval.txt2img_8x200.P@5", "retrieval.txt2img_8x200.P@10", "retrieval.txt2img_8x200.P@50",
    "retrieval.img2txt_5x200.P@5", "retrieval.img2txt_5x200.P@10",
)
_ZEROSHOT: tuple[str, ...] = ("zeroshot.5x200.acc", "zeroshot.pneumonia.acc", "zeroshot.pneumonia.f1",
                              "zeroshot.pneumonia.auc")


def _pct(values: tuple[float | None, ...]) -> tuple[float | None, ...]:
    return tuple(None if v is None else round(v / 100, 4) for v in values)


_CLINVLA = dict(zip(_RETRIEVAL + ("retrieval.img2txt_5x200.P@100",) + _ZEROSHOT,
                    _pct((52.5, 48.4, 39.8, 64.2, 66.1, 53.7, 56.2, 55.8, None, 55.5, 82.5, 78.9, 91.5))))
_GLORIA_VIT = dict(zip(_RETRIEVAL + ("retrieval.img2txt_5x200.P@100",) + _ZEROSHOT,
                       _pct((42.0, 40.9, 33.8, 50.0, 47.0, 42.3, 51.1, 49.4, 40.8, 47.2, 80.7, 75.8, 88.7))))
_RANDOM = dict(zip(_RETRIEVAL + ("retrieval.img2txt_5x200.P@100",) + _ZEROSHOT,
                   _pct((12.5, 12.5, 12.5, 12.5, 12.5, 12.5, 20.0, 20.0, 20.0, None, None, None, None))))

PUBLISHED: dict[str, dict[str, float | None]] = {
    m: {"ClinVLA (published)": _CLINVLA[m], "GLoRIA-ViT (published)": _GLORIA_VIT[m],
        "Random (published)": _RANDOM[m]}
    for m in _RETRIEVAL + ("retrieval.img2txt_5x200.P@100",) + _ZEROSHOT
}
"""metric path (same keys as metrics.json) -> column -> fraction or None."""

CELL_NOTES: dict[tuple[str, str], str] = {
    ("retrieval.img2txt_5x200.P@100", "ClinVLA (published)"):
        "Table 6 gives image-to-text P@50 (47.4), not P@100; no P@100 of ClinVLA is printed",
    ("retrieval.txt2img_8x200.P@5", "ClinVLA (published)"):
        "Table 6 prints 64.2 / 66.1 / 53.7 as text-to-image, while section 4.5.1 calls 64.2 / 66.1 the "
        "image-to-text P@5 / P@10 on 5x200",
    ("zeroshot.5x200.acc", "ClinVLA (published)"): "55.5 in Table 4 and the text, 56.6 in Table 6",
    ("zeroshot.5x200.acc", "Random (published)"): "Table 3's Random row has retrieval only",
}
"""(metric, column) -> why a cell is n/a or which of the paper's inconsistencies touches it."""

INCONSISTENCIES: tuple[str, ...] = (
    ("Table 6's first row gives 64.2 / 66.1 / 53.7 under CheXpert 8x200 text-to-image, while section 4.5.1 calls "
     "64.2 / 66.1 the image-to-text P@5 / P@10 on 5x200."),
    "The 5x200 zero-shot accuracy is 55.5 in Table 4 and in the text, 56.6 in Table 6.",
    "Table 7 gives 112.3M parameters in total, fewer than a ViT-B/16 plus a BERT-base backbone (about 194M).",
)
"""The paper's internal inconsistencies (docs/PAPER_TABLES.md), kept visible rather than fixed."""


def published_value(metric: str, column: str) -> float | None:
    """The published value of ``metric`` (dotted metrics.json path) in ``column``, or None when not reported."""
    return PUBLISHED.get(metric, {}).get(column)


@dataclass(frozen=True)
class PaperDelta:
    """One cell of the paper's Table 6: ``delta`` (fraction, variant minus ClinVLA) as printed, and a note where the
    printed delta disagrees with the printed values."""

    delta: float
    note: str = ""


TABLE6_COLUMNS: tuple[str, ...] = (
    "retrieval.img2img_8x200.P@5", "retrieval.img2img_8x200.P@10", "retrieval.img2img_8x200.P@50",
    "retrieval.txt2img_8x200.P@5", "retrieval.txt2img_8x200.P@10", "retrieval.txt2img_8x200.P@50",
    "retrieval.img2txt_5x200.P@5", "retrieval.img2txt_5x200.P@10", "retrieval.img2txt_5x200.P@50",
    "zeroshot.5x200.acc", "zeroshot.pneumonia.acc", "zeroshot.pneumonia.f1", "zeroshot.pneumonia.auc",
)
"""Table 6's columns as metrics.json paths (its image-to-text group ends with P@50, not Table 3's P@100)."""


def _row(*cells: float | tuple[float, str]) -> dict[str, PaperDelta]:
    out = {}
    for metric, c in zip(TABLE6_COLUMNS, cells):
        out[metric] = PaperDelta(c[0] / 100, c[1]) if isinstance(c, tuple) else PaperDelta(c / 100)
    return out


TABLE6_DELTAS: dict[str, dict[str, PaperDelta]] = {
    "no-adapt": _row(-7.3, -3.9, -3.8, -1.7, -4.6, -3.4, -0.8, -1.7, -1.3, -1.1, -0.9, -2.9, -0.5),
    "no-multiview": _row(-4.0, -4.1, -3.3, +4.0, -3.6, -2.4, -1.2, -1.6, -1.0, -0.1, -2.2, -2.4, -1.5),
    "no-invertible": _row(-8.5, -7.4, -5.3, -4.4, -6.6, -2.6, -1.0, -1.7, -1.3, -0.8,
                          (-0.1, "as printed; the values are 81.5 vs 82.5"), -2.1, -1.3),
    "no-temporal-multiview": _row(-7.5, -4.4, -3.7, -3.2, -6.9, -3.2, -5.1, -5.3, -2.8, -1.1,
                                  (-1.7, "as printed; the values are 79.7 vs 82.5"), -3.9, -1.4),
    "no-local": _row(-4.4, -2.4, -3.4, +3.3, -2.6, +1.9, +0.6, +0.0, -0.2, -2.3,
                     (-3.7, "as printed; the values are 78.9 vs 82.5"), -3.7, -2.2),
    "no-global": _row(-2.9, -1.5, -2.6, (-2.7, "as printed; the values are 64.7 vs 64.2"), -4.0, +2.3, +0.1, -0.8,
                      -0.3, (-3.6, "as printed; the values are 52.9 vs 56.6"), -3.6, -3.4, -1.7),
}
"""Variant slug (``eval.ablation.VARIANTS``) -> Table 6 column -> the paper's delta against its ClinVLA row."""

TABLE6_ROWS: dict[str, str] = {
    "no-adapt": "- Transformer-Adapt", "no-multiview": "- Multiview", "no-invertible": "- Inversed Adapter",
    "no-temporal-multiview": "- Temporal and Multiview", "no-local": "- Local Loss", "no-global": "- Global Loss",
}
"""Variant slug -> the row's name as Table 6 prints it (for citations)."""


def paper_delta(variant: str, metric: str) -> PaperDelta | None:
    """Table 6's delta of ``variant`` (slug) on ``metric``, or None (full fine-tuning, LoRA, a metric Table 6 lacks)."""
    return TABLE6_DELTAS.get(variant, {}).get(metric)
