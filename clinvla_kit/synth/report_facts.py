"""A study's report content as a list of statements: the structured form every report style and error renders from.

Why a structured form: the style variants (``report_styles``) must say *the same thing* in different words, and the
error variants (``report_errors``) must say the same thing *except one fact*. Both are easy and checkable when the
content is a tuple of small frozen records built from the generator's own plan (``StudyPlan.findings``) and the
kinds the original report negated, and impossible to guarantee by string surgery on a finished report.

One ``Statement`` is one finding (present, hedged or resolved), one negated finding kind, or one support device.
The fields are what a radiologist can get wrong: presence, grade, side/lobe/rib, a measurement, a device's position,
the change against the prior study.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from clinvla_kit.synth.findings import LOBE_SIDE, Finding
from clinvla_kit.synth.plan import StudyPlan

GRADES: tuple[str, ...] = ("minimal", "mild", "moderate", "severe")
"""Canonical severity grades; the generator writes mild/moderate/severe, "minimal" exists so that every graded
finding has three wrong grades (the error benchmark's four choices)."""

GRADED_KINDS: frozenset[str] = frozenset({"cardiomegaly", "pleural_effusion", "pneumothorax", "consolidation",
                                          "pneumonia", "atelectasis", "edema"})
ETT_CM = 4.0
"""The ETT tip's distance above the carina that the generator's reports write ("ETT terminates 4 cm above ...")."""

DEVICE_OK: dict[str, str] = {"ett": "above_carina", "ngt": "stomach", "central_line": "svc", "pacemaker": "rv"}
"""Each device's correct position key (wrong ones are in ``report_errors.WRONG_POSITIONS``)."""


@dataclass(frozen=True)
class Statement:
    """One fact of a report.

    Attributes:
        kind: a finding kind (``findings.FINDING_KINDS`` without support_devices) or "device:<name>".
        polarity: "present" (drawn), "resolved" (reported as resolved, label 0) or "absent" (negated, label 0).
        grade: one of ``GRADES`` for graded kinds, else "".
        side / lobe: "left" | "right" | "bilateral" | ""; one of ``findings.LOBES`` or "".
        rib: fracture rib number (0 otherwise).
        size_cm: nodule diameter in cm (the long axis the original report gives first), else 0.
        change: vs the prior: new / worse / stable / improved / resolved, or "" (first study or no comparison).
        hedged: worded with a hedge (label -1).
        retrocardiac: an LLL opacity hidden behind the heart on the frontal (worded "retrocardiac").
        position: a device's position key (``DEVICE_OK`` when correct).
        ett_cm: the ETT tip's distance above the carina (ETT only, else 0).
    """

    kind: str
    polarity: str = "present"
    grade: str = ""
    side: str = ""
    lobe: str = ""
    rib: int = 0
    size_cm: float = 0.0
    change: str = ""
    hedged: bool = False
    retrocardiac: bool = False
    position: str = ""
    ett_cm: float = 0.0

    @property
    def is_device(self) -> bool:
        return self.kind.startswith("device:")

    @property
    def device(self) -> str:
        return self.kind.split(":", 1)[1] if self.is_device else ""


@dataclass(frozen=True)
class ReportFacts:
    """Everything a report of one study states (``statements``, in reading order) plus whether it has a prior."""

    study_id: int
    statements: tuple[Statement, ...]
    has_prior: bool

    def replace_statement(self, i: int, new: Statement | None) -> ReportFacts:
        """A copy with statement ``i`` replaced (``None`` removes it)."""
        st = list(self.statements)
        if new is None:
            del st[i]
        else:
            st[i] = new
        return replace(self, statements=tuple(st))

    def with_statement(self, new: Statement) -> ReportFacts:
        """A copy with ``new`` inserted before the first negation (positives first, as reports are written)."""
        st = list(self.statements)
        at = next((k for k, s in enumerate(st) if s.polarity == "absent"), len(st))
        st.insert(at, new)
        return replace(self, statements=tuple(st))


def grade_of(severity: float) -> str:
    """The generator's severity thresholds (``Finding.severity_word``) as a canonical grade."""
    if severity < 0.4:
        return "mild"
    return "moderate" if severity < 0.7 else "severe"


def wording_rng(seed: int, study_id: int, key: str) -> np.random.Generator:
    """A generator per (seed, study, statement key): one statement's wording never depends on the others, so an
    error variant differs from the original only where its error is."""
    return np.random.default_rng([seed, 15, study_id, zlib.crc32(key.encode())])


def statement_of(f: Finding, seed: int, study_id: int) -> list[Statement]:
    """The statement(s) of one planned finding (a device finding gives one statement per device)."""
    if f.kind == "support_devices":
        return [Statement(kind=f"device:{d}", position=DEVICE_OK[d],  # device changes are not worded
                          ett_cm=ETT_CM if d == "ett" else 0.0) for d in f.device.split("+")]
    polarity = "resolved" if f.change == "resolved" else "present"
    grade = grade_of(f.severity) if f.kind in GRADED_KINDS and polarity == "present" else ""
    lobe = f.lobe if f.kind in ("consolidation", "pneumonia", "nodule", "atelectasis") else ""
    size = float(f.size_cm) if f.kind == "nodule" else 0.0
    rib = int(f.pos[1]) + 2 if f.kind == "fracture" else 0
    return [Statement(kind=f.kind, polarity=polarity, grade=grade, side=f.side, lobe=lobe, rib=rib, size_cm=size,
                      change=f.change, hedged=f.hedged, retrocardiac=f.hidden_frontal and lobe == "LLL")]


def facts_of(plan: StudyPlan, negated: list[str] | tuple[str, ...], seed: int) -> ReportFacts:
    """The study's facts: its planned findings (present, hedged, resolved), then its devices, then the kinds its
    original report negated (``reports.write_report`` returns them), so the labels are the study's."""
    findings = [s for f in plan.findings if f.kind != "support_devices" for s in statement_of(f, seed, plan.study_id)]
    devices = [s for f in plan.findings if f.kind == "support_devices" and f.present
               for s in statement_of(f, seed, plan.study_id)]
    negs = [Statement(kind=k, polarity="absent") for k in sorted(negated)]
    return ReportFacts(study_id=plan.study_id, statements=tuple(findings + devices + negs),
                       has_prior=plan.prior_study_id is not None)


def side_of_lobe(lobe: str) -> str:
    return LOBE_SIDE.get(lobe, "")
