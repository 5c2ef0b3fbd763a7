"""What a SynthCXR finding is: kind, severity, side, lobe, change vs prior (plain data, no drawing).

Drawing lives in ``lesions.py``; report wording in ``reports.py``. Keeping the description apart lets the planner
(``plan.py``) decide every study's findings in the parent process cheaply and deterministically, and lets the
workers render from that plan alone.
"""

from __future__ import annotations

from dataclasses import dataclass

PATHOLOGIES: tuple[str, ...] = (
    "cardiomegaly",
    "pleural_effusion",
    "pneumothorax",
    "consolidation",
    "pneumonia",
    "atelectasis",
    "edema",
    "nodule",
    "fracture",
)
"""Pathological finding kinds (``support_devices`` is not a pathology: CheXpert's No Finding allows devices)."""

DEVICES: tuple[str, ...] = ("ett", "ngt", "central_line", "pacemaker")

FINDING_KINDS: tuple[str, ...] = PATHOLOGIES + ("support_devices",)

KIND_TO_CHEXPERT: dict[str, str] = {
    "cardiomegaly": "Cardiomegaly",
    "pleural_effusion": "Pleural Effusion",
    "pneumothorax": "Pneumothorax",
    "consolidation": "Consolidation",
    "pneumonia": "Pneumonia",
    "atelectasis": "Atelectasis",
    "edema": "Edema",
    "nodule": "Lung Lesion",
    "fracture": "Fracture",
    "support_devices": "Support Devices",
}
"""Each kind's CheXpert observation (a nodule or mass is CheXpert's "Lung Lesion")."""

OPACITY_KINDS: frozenset[str] = frozenset({"consolidation", "pneumonia"})
"""Kinds that also make CheXpert's "Lung Opacity" positive."""

CHANGES: tuple[str, ...] = ("new", "worse", "stable", "improved", "resolved")

LOBES: tuple[str, ...] = ("RUL", "RML", "RLL", "LUL", "lingula", "LLL")
LOBE_SIDE: dict[str, str] = {"RUL": "right", "RML": "right", "RLL": "right", "LUL": "left", "lingula": "left", "LLL": "left"}
LOBE_WORDS: dict[str, str] = {"RUL": "right upper lobe", "RML": "right middle lobe", "RLL": "right lower lobe",
                              "LUL": "left upper lobe", "lingula": "lingula", "LLL": "left lower lobe"}
"""Each lobe as a report spells it out."""


@dataclass(frozen=True)
class Finding:
    """One finding in one study.

    Attributes:
        kind: one of ``FINDING_KINDS``.
        severity: 0..1 (0 only for a finding that has ``resolved``: it is reported, not drawn).
        side: "left" | "right" | "bilateral" | "" (not lateralised, e.g. cardiomegaly).
        lobe: one of ``LOBES`` or "" (not lobar).
        change: vs the subject's previous study: one of ``CHANGES``, or "" for a first study.
        hedged: the report words it with a hedge ("may represent"), so its CheXpert label is -1.
        pos: (u, v) in [0, 1]^2 inside the lung zone, for focal findings (nodule, fracture) else (0.5, 0.5).
        size_cm: nodule/mass diameter in cm (measurements in the report), else 0.
        device: for support_devices, a "+"-joined subset of ``DEVICES``; else "".
        hidden_frontal: drawn so faint on the frontal that it is not visible there (retrocardiac LLL opacity,
            small effusion confined to the posterior sulcus); always visible on the lateral.
    """

    kind: str
    severity: float
    side: str = ""
    lobe: str = ""
    change: str = ""
    hedged: bool = False
    pos: tuple[float, float] = (0.5, 0.5)
    size_cm: float = 0.0
    device: str = ""
    hidden_frontal: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; kinds are {FINDING_KINDS}")
        if self.change and self.change not in CHANGES:
            raise ValueError(f"finding {self.kind}: unknown change {self.change!r}; changes are {CHANGES}")

    @property
    def present(self) -> bool:
        """Drawn in the images (a resolved finding is only mentioned in the report)."""
        return self.change != "resolved" and self.severity > 0

    @property
    def severity_word(self) -> str:
        """mild / moderate / severe, in the words radiologists use for this kind."""
        small = {"pleural_effusion", "pneumothorax", "nodule"}
        if self.severity < 0.4:
            return "small" if self.kind in small else "mild"
        if self.severity < 0.7:
            return "moderate"
        return "large" if self.kind in small else "severe"
