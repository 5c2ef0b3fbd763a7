"""Report grammar: sections, negations labelled 0, hedges labelled -1 (from what the generator decided)."""

import re

import numpy as np

from clinvla_kit.synth.findings import Finding
from clinvla_kit.synth.labels import study_labels
from clinvla_kit.synth.plan import make_plan
from clinvla_kit.synth.reports import _HEDGE, _NEG, write_report

_SECTION = re.compile(r"^ ?([A-Z ]+):", re.MULTILINE)


def test_reports_have_sections_and_variants():
    plans = make_plan(120, 3)
    styles = set()
    for p in plans[:120]:
        text, _ = write_report(p, np.random.default_rng([3, 7, p.index]))
        names = _SECTION.findall(text)
        assert names[:3] == ["EXAMINATION", "INDICATION", "COMPARISON"]
        assert {"FINDINGS", "IMPRESSION"} & set(names)
        styles.add(tuple(n for n in names if n in ("FINDINGS", "IMPRESSION")))
        if p.prior_study_id is None:
            assert "COMPARISON:  None." in text
    assert styles == {("FINDINGS", "IMPRESSION"), ("FINDINGS",), ("IMPRESSION",)}


def test_negated_findings_are_in_text_and_labelled_zero():
    plans = make_plan(80, 5)
    seen = 0
    for p in plans:
        text, negated = write_report(p, np.random.default_rng([5, 7, p.index]))
        labels = study_labels(p.findings, negated)
        for kind in negated:
            assert any(s in text for s in _NEG[kind]), (kind, text)
            from clinvla_kit.synth.findings import KIND_TO_CHEXPERT
            assert labels[KIND_TO_CHEXPERT[kind]] == 0.0
            seen += 1
    assert seen > 20


def test_hedged_finding_is_hedged_in_text_and_labelled_minus_one():
    p = make_plan(5, 1)[0]
    from dataclasses import replace
    p = replace(p, findings=(Finding("pneumonia", 0.6, side="right", lobe="RLL", hedged=True),), prior_study_id=None)
    for i in range(10):
        text, negated = write_report(p, np.random.default_rng(i))
        stems = [h.split("{}")[0].strip() for h in _HEDGE]
        assert any(s.lower() in text.lower() for s in stems), text
        assert study_labels(p.findings, negated)["Pneumonia"] == -1.0
