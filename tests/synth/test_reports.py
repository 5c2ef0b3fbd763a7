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


# What a broken sentence looks like: a hedge dropped into a frame that does not take it ("There is may represent
# X", "Findings possible X"), what the cleaner used to leave of it ("There is represents X", "Findings show
# represent X"), a plural head with a singular verb, a doubled space or an empty sentence.
_BROKEN = re.compile(
    r"(?i)\bthere (?:is|are) (?:may|might|could|cannot|can not|concerning|suggestive|represents?|reflects?)\b"
    r"|\bfindings (?:possible|likely|cannot|concerning|suggestive)\b"
    r"|\bfindings show (?:represent|reflect|is|are)\b"
    r"|\bopacities\b[^.]*\b(?:is|has)\b(?! to\b)"
    r"|  |\. *\.|^\s*\.|\s[.,]"
)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]


def test_hedged_sentences_are_grammatical_before_and_after_cleaning():
    """Every (hedge, frame) pair of the generator, with a singular and a plural finding, reads as English in the
    report and after the cleaner removed or rewrote its hedge (the old frames "There is {hedge} X." / "Findings
    {hedge} X." fail here)."""
    from clinvla_kit.data.reports import clean_report
    from clinvla_kit.synth.reports import _HEDGED, _agree

    phrases = ["moderate right pleural effusion", "mild patchy airspace opacities concerning for infection in the RLL"]
    for hedge, frames in zip(_HEDGE, _HEDGED):
        for frame in frames:
            for phrase in phrases:
                raw = _agree(frame, phrase).format(phrase)
                raw = raw[0].upper() + raw[1:]
                assert hedge.split()[0] in raw.lower(), raw
                cleaned = clean_report("FINDINGS:  " + raw)
                for text in (raw, cleaned):
                    assert not _BROKEN.search(text), (frame, text)
                    assert text[0].isupper() and text.endswith("."), text
                assert "cannot" not in cleaned and hedge not in cleaned.lower(), cleaned


def test_generated_reports_stay_grammatical_through_the_cleaner():
    """Many generated reports: no broken sentence in the FINDINGS/IMPRESSION text as written or as cleaned, and the
    hedged ones among them are still there (so the test sees every hedge)."""
    from clinvla_kit.data.reports import clean_report, select_text

    hedges_seen = set()
    for p in make_plan(300, 11):
        text, _ = write_report(p, np.random.default_rng([11, 7, p.index]))
        body, cleaned = select_text(text), clean_report(text)
        for s in _sentences(body) + _sentences(cleaned):
            assert not _BROKEN.search(s), (p.study_id, s)
            assert s[0].isupper() or s[0].isdigit(), (p.study_id, s)
        hedges_seen |= {h for h in _HEDGE if h.split()[0] in body.lower()}
    assert hedges_seen == set(_HEDGE)

