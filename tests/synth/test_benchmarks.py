"""Benchmark cohorts drawn from the plans: the RSNA-format set follows RSNA's label semantics."""

from __future__ import annotations

from clinvla_kit.synth.benchmarks import rsna_cohort
from clinvla_kit.synth.plan import make_plan


def test_rsna_cohort_positives_show_pneumonia_and_negatives_have_no_airspace_opacity():
    plans = make_plan(600, 0)
    pos, neg = rsna_cohort(plans, 40)
    assert len(pos) == 40 and len(neg) == 40
    for p in pos + neg:
        assert p.split == "test" and not p.unusable
    for p in pos:
        pneumonias = [f for f in p.findings if f.kind == "pneumonia" and f.present]
        assert pneumonias and not any(f.hidden_frontal for f in pneumonias)
    for p in neg:
        present = {f.kind for f in p.findings if f.present}
        assert "pneumonia" not in present and "consolidation" not in present
    # the rule leaves consolidation-only studies out rather than calling them negatives, and keeps other findings
    test = [p for p in plans if p.split == "test" and not p.unusable]
    consolidation_only = [p for p in test if {"consolidation"} <= {f.kind for f in p.findings if f.present}
                          and "pneumonia" not in {f.kind for f in p.findings if f.present}]
    assert consolidation_only and not {id(p) for p in consolidation_only} & {id(p) for p in pos + neg}
    assert any(f.present for p in neg for f in p.findings if f.kind in ("pleural_effusion", "edema", "atelectasis"))
