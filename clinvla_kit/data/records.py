"""The study record: the one unit every loader produces and every dataset consumes.

A study holds up to four images in fixed slots (``SLOTS``: frontal, lateral, prior frontal, prior lateral), one
report and its labels. Missing slots are ``None`` and are carried as a presence mask all the way into the model,
so "no lateral view" is information, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from clinvla_kit.config import SLOTS

CHEXPERT_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)
"""The 14 CheXpert observations, in the column order of ``mimic-cxr-2.0.0-chexpert.csv``."""

LABEL_VALUES: frozenset[float] = frozenset({1.0, 0.0, -1.0})
"""1 positive, 0 negative, -1 uncertain (hedged); a missing value (blank in the CSV) is ``None``."""


@dataclass(frozen=True)
class StudyRecord:
    """One imaging study.

    Attributes:
        subject_id: patient id (string, as in the source CSVs).
        study_id: study id (string).
        study_datetime: ``"YYYYMMDD HHMMSS"`` (sortable) or ``""`` when unknown.
        images: slot name -> image path (``None`` when the slot is missing), keys exactly ``SLOTS``.
        dicom_ids: slot name -> the image's id in the source (``None`` when missing).
        report: report text as stored (not yet cleaned); ``""`` only when the source has none.
        labels: CheXpert observation -> 1.0 / 0.0 / -1.0 / None (blank).
        split: "train" | "validate" | "test" (MIMIC's names).
        prior_study_id: the previous study of the same subject, if any.
        report_path: where the report came from (for error messages).
    """

    subject_id: str
    study_id: str
    study_datetime: str
    images: dict[str, Path | None]
    dicom_ids: dict[str, str | None] = field(default_factory=dict)
    report: str = ""
    labels: dict[str, float | None] = field(default_factory=dict)
    split: str = "train"
    prior_study_id: str | None = None
    report_path: Path | None = None

    def __post_init__(self) -> None:
        if set(self.images) != set(SLOTS):
            raise ValueError(f"study {self.study_id}: images must have exactly the slots {SLOTS}, got {sorted(self.images)}")

    @property
    def present(self) -> tuple[bool, ...]:
        """Presence of each slot, in ``SLOTS`` order."""
        return tuple(self.images[s] is not None for s in SLOTS)

    def without(self, *slots: str) -> StudyRecord:
        """A copy with the given slots marked missing (used by the missing-view ablation and the demo)."""
        for s in slots:
            if s not in SLOTS:
                raise ValueError(f"unknown slot {s!r}; slots are {SLOTS}")
        images = {s: (None if s in slots else p) for s, p in self.images.items()}
        dicom_ids = {s: (None if s in slots else d) for s, d in self.dicom_ids.items()}
        return replace(self, images=images, dicom_ids=dicom_ids)
