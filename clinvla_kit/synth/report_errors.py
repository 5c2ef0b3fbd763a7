"""Minimally wrong report variants: the study's facts with exactly one error, of a named type.

| error type | what changes (one statement) | example (original -> wrong) |
|---|---|---|
| ``false_finding`` | a pathology the report does not mention is added | (no word on the lungs) -> "There is moderate consolidation in the right lower lobe." |
| ``false_negation`` | a present finding is negated | "There is a small left pleural effusion." -> "No pleural effusion." |
| ``wrong_location`` | side, lobe or rib of one finding | "... in the right lower lobe" -> "... in the left lower lobe" |
| ``wrong_severity`` | the grade of one finding | "small left pleural effusion" -> "large left pleural effusion" |
| ``wrong_measurement`` | a nodule's size or the ETT-carina distance | "1.2 cm nodule" -> "3 cm mass" |
| ``wrong_device_position`` | where a device ends | "... ends in the superior vena cava" -> "... ends in the right atrium" |
| ``against_prior`` | the change vs the prior study | "has worsened since the prior study" -> "has improved since ..." |

Each type yields up to three *distinct* wrong variants per study (three wrong grades, three other lobes, ...), so the
error benchmark can build four-choice items of one type. ``difference_types(original, wrong)`` compares two facts
field by field and names the error types between them; the tests check it returns exactly the variant's own type.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from clinvla_kit.synth.findings import LOBE_SIDE, LOBES, PATHOLOGIES
from clinvla_kit.synth.plan import random_finding
from clinvla_kit.synth.report_facts import GRADES, ReportFacts, Statement, statement_of, wording_rng
from clinvla_kit.synth.report_styles import DEVICE_PROSE

ERROR_TYPES: tuple[str, ...] = ("false_finding", "false_negation", "wrong_location", "wrong_severity",
                                "wrong_measurement", "wrong_device_position", "against_prior")
MAX_PER_TYPE = 3

_MIRROR = {"RUL": "LUL", "RML": "lingula", "RLL": "LLL", "LUL": "RUL", "lingula": "RML", "LLL": "RLL"}
_OTHER_CHANGES = {"new": ("stable", "worse", "improved"), "worse": ("improved", "stable", "new"),
                  "stable": ("worse", "improved", "new"), "improved": ("worse", "stable", "new")}


@dataclass(frozen=True)
class WrongVariant:
    """One wrong variant: its type, what was changed (human-readable) and the wrong facts."""

    error_type: str
    detail: str
    facts: ReportFacts


def _present(facts: ReportFacts) -> list[tuple[int, Statement]]:
    return [(i, s) for i, s in enumerate(facts.statements) if not s.is_device and s.polarity == "present"]


def false_findings(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    mentioned = {s.kind for s in facts.statements}
    free = [k for k in PATHOLOGIES if k not in mentioned]
    rng = wording_rng(seed, facts.study_id, "error:false_finding")
    out = []
    for k in (rng.permutation(free).tolist() if free else [])[:MAX_PER_TYPE]:
        s = statement_of(random_finding(rng, str(k), allow_hidden=False), seed, facts.study_id)[0]
        out.append(WrongVariant("false_finding", f"adds {k}", facts.with_statement(s)))
    return out


def false_negations(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    return [WrongVariant("false_negation", f"negates {s.kind}", facts.replace_statement(i, Statement(s.kind, "absent")))
            for i, s in _present(facts)[:MAX_PER_TYPE]]


def _locations(s: Statement, rng) -> list[Statement]:
    if s.kind in ("cardiomegaly", "edema"):
        return []
    if s.lobe:
        others = [lb for lb in LOBES if lb not in (s.lobe, _MIRROR[s.lobe])]
        lobes = [_MIRROR[s.lobe]] + rng.permutation(others).tolist()[:2]
        return [replace(s, lobe=str(lb), side=LOBE_SIDE[str(lb)], retrocardiac=False) for lb in lobes]
    if s.kind == "fracture":
        flip = "left" if s.side == "right" else "right"
        return [replace(s, side=flip), replace(s, rib=s.rib + 2), replace(s, side=flip, rib=s.rib + 3)]
    if s.side:
        return [replace(s, side=side) for side in ("left", "right", "bilateral") if side != s.side]
    return []


def wrong_locations(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    rng = wording_rng(seed, facts.study_id, "error:wrong_location")
    out = []
    for i, s in _present(facts):
        for w in _locations(s, rng):
            out.append(WrongVariant("wrong_location", f"{s.kind}: {s.side}/{s.lobe or '-'}/{s.rib} -> "
                                    f"{w.side}/{w.lobe or '-'}/{w.rib}", facts.replace_statement(i, w)))
    return out[:MAX_PER_TYPE]


def wrong_severities(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    out = []
    for i, s in _present(facts):
        if not s.grade:
            continue
        for g in GRADES:
            if g != s.grade:
                out.append(WrongVariant("wrong_severity", f"{s.kind}: {s.grade} -> {g}",
                                        facts.replace_statement(i, replace(s, grade=g))))
    return out[:MAX_PER_TYPE]


def wrong_measurements(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    out = []
    for i, s in enumerate(facts.statements):
        if s.kind == "nodule" and s.polarity == "present" and s.size_cm:
            for f in (2.5, 0.5, 1.8):
                new = max(0.3, round(s.size_cm * f, 1))
                if new != s.size_cm:
                    out.append(WrongVariant("wrong_measurement", f"nodule {s.size_cm} cm -> {new} cm",
                                            facts.replace_statement(i, replace(s, size_cm=new))))
        if s.device == "ett" and s.position == "above_carina":
            for cm in (1.0, 7.0, 9.0):
                if cm != s.ett_cm:
                    out.append(WrongVariant("wrong_measurement", f"ETT {s.ett_cm} -> {cm} cm above the carina",
                                            facts.replace_statement(i, replace(s, ett_cm=cm))))
    return out[:MAX_PER_TYPE]


def wrong_device_positions(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    out = []
    for i, s in enumerate(facts.statements):
        if s.is_device:
            for pos in DEVICE_PROSE[s.device]:
                if pos != s.position:
                    out.append(WrongVariant("wrong_device_position", f"{s.device}: {s.position} -> {pos}",
                                            facts.replace_statement(i, replace(s, position=pos))))
    return out[:MAX_PER_TYPE]


def against_priors(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    if not facts.has_prior:
        return []
    out = []
    for i, s in _present(facts):
        if s.change in _OTHER_CHANGES and not s.hedged:
            for c in _OTHER_CHANGES[s.change]:
                out.append(WrongVariant("against_prior", f"{s.kind}: {s.change} -> {c}",
                                        facts.replace_statement(i, replace(s, change=c))))
    return out[:MAX_PER_TYPE]


_MAKERS = {"false_finding": false_findings, "false_negation": false_negations, "wrong_location": wrong_locations,
           "wrong_severity": wrong_severities, "wrong_measurement": wrong_measurements,
           "wrong_device_position": wrong_device_positions, "against_prior": against_priors}


def wrong_variants(facts: ReportFacts, seed: int) -> list[WrongVariant]:
    """Every applicable wrong variant (up to ``MAX_PER_TYPE`` per type), in ``ERROR_TYPES`` order."""
    return [v for t in ERROR_TYPES for v in _MAKERS[t](facts, seed)]


def difference_types(original: ReportFacts, wrong: ReportFacts) -> set[str]:
    """The error types that turn ``original`` into ``wrong`` (statements matched by kind)."""
    a = {s.kind: s for s in original.statements}
    b = {s.kind: s for s in wrong.statements}
    found: set[str] = set()
    for k in set(a) | set(b):
        sa, sb = a.get(k), b.get(k)
        if sa is None or sa.polarity == "absent":
            if sb is not None and sb.polarity != "absent":
                found.add("false_finding")
            elif sb is None and sa is not None:
                found.add("removed_negation")
            continue
        if sb is None:
            found.add("removed_statement")
            continue
        if sa.polarity != sb.polarity:
            found.add("false_negation" if sb.polarity == "absent" else "polarity")
            continue
        if (sa.side, sa.lobe, sa.rib) != (sb.side, sb.lobe, sb.rib):
            found.add("wrong_location")
        if sa.grade != sb.grade:
            found.add("wrong_severity")
        if sa.size_cm != sb.size_cm or sa.ett_cm != sb.ett_cm:
            found.add("wrong_measurement")
        if sa.position != sb.position:
            found.add("wrong_device_position")
        if sa.change != sb.change:
            found.add("against_prior")
        if sa.hedged != sb.hedged:
            found.add("hedge")
    return found
