"""Report style variants, wrong variants and their files: determinism, equal labels, one error per variant."""

from __future__ import annotations

import json

import pytest

from clinvla_kit.data.labeler import label_report
from clinvla_kit.data.reports import expand_abbreviations
from clinvla_kit.synth.labels import study_labels
from clinvla_kit.synth.plan import make_plan
from clinvla_kit.synth.report_errors import ERROR_TYPES, difference_types, wrong_variants
from clinvla_kit.synth.report_styles import STYLES, all_styles
from clinvla_kit.synth.report_variants import ERRORS_FILE, VARIANTS_FILE, original_report, study_facts

SEED = 5


@pytest.fixture(scope="module")
def plans():
    return make_plan(150, SEED)


def test_styles_are_deterministic_and_distinct(plans):
    for p in plans[:40]:
        a = all_styles(study_facts(p, SEED), SEED)
        b = all_styles(study_facts(p, SEED), SEED)
        assert a == b
        if study_facts(p, SEED).statements:
            assert len({a["mimic"], a["impression"], a["telegraphic"], a["structured"]}) == 4, a


def test_expander_spells_out_every_telegraphic_abbreviation(plans):
    """The kit's abbreviation table turns the telegraphic style into the expanded one (up to case)."""
    for p in plans:
        v = all_styles(study_facts(p, SEED), SEED)
        assert expand_abbreviations(v["telegraphic"]).lower() == v["expanded"].lower()


def test_labeler_gives_every_style_the_same_labels(plans):
    """Variants are clinically equivalent: the rule labeler reads the same labels from each style."""
    differing = []
    for p in plans:
        v = all_styles(study_facts(p, SEED), SEED)
        ref = label_report(v["mimic"])
        differing += [(p.study_id, s) for s in STYLES if label_report(v[s]) != ref]
    assert not differing, differing[:5]


def test_facts_carry_the_study_labels(plans):
    """Every present/hedged/resolved finding and every negated kind of the original is a statement."""
    for p in plans[:60]:
        _, negated = original_report(p, SEED)
        facts = study_facts(p, SEED)
        kinds = {s.kind for s in facts.statements if not s.is_device}
        labelled = {f.kind for f in p.findings if f.kind != "support_devices"} | set(negated)
        assert kinds == labelled
        assert study_labels(p.findings, negated)  # the labels the variants stand for exist


def test_each_wrong_variant_differs_in_exactly_its_type(plans):
    seen = set()
    for p in plans:
        facts = study_facts(p, SEED)
        for v in wrong_variants(facts, SEED):
            assert difference_types(facts, v.facts) == {v.error_type}, (p.study_id, v.detail)
            seen.add(v.error_type)
    assert seen == set(ERROR_TYPES)


def test_wrong_variants_change_the_text_and_at_most_three_per_type(plans):
    for p in plans[:80]:
        facts = study_facts(p, SEED)
        orig = all_styles(facts, SEED)["mimic"]
        vs = wrong_variants(facts, SEED)
        for t in ERROR_TYPES:
            texts = [all_styles(v.facts, SEED)["mimic"] for v in vs if v.error_type == t]
            assert len(texts) <= 3 and len(set(texts)) == len(texts)
            assert orig not in texts


def test_presence_errors_change_the_labeler_labels(plans):
    """A false finding or a false negation is visible to the labeler (the other types keep the labels)."""
    for p in plans[:80]:
        facts = study_facts(p, SEED)
        ref = label_report(all_styles(facts, SEED)["mimic"])
        for v in wrong_variants(facts, SEED):
            if v.error_type in ("false_finding", "false_negation"):
                assert label_report(all_styles(v.facts, SEED)["mimic"]) != ref, v.detail


def test_generated_files(synth_dir):
    rows = [json.loads(line) for line in (synth_dir / VARIANTS_FILE).read_text().splitlines()]
    styles = {r["style"] for r in rows}
    assert styles == {"original", *STYLES}
    originals = {r["study_id"]: r["text"] for r in rows if r["style"] == "original"}
    some = next(iter(originals))
    path = next(synth_dir.glob(f"reports/files/p*/p*/s{some}.txt"))
    assert path.read_text() == originals[some]
    errs = [json.loads(line) for line in (synth_dir / ERRORS_FILE).read_text().splitlines()]
    assert {e["error_type"] for e in errs} <= {"none", *ERROR_TYPES}
    assert sum(e["error_type"] == "none" for e in errs) == len(originals)


def test_generated_files_do_not_depend_on_workers(synth_pair):
    a, b, _ = synth_pair
    for name in (VARIANTS_FILE, ERRORS_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes()
