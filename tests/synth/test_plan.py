"""The plan: split shares by patient, benchmark sizes at --studies 2000, priors and changes."""

from collections import Counter

from clinvla_kit.synth.plan import BENCH_CLASSES_8, is_bench_eligible, make_plan, per_class_target


def test_enough_single_finding_test_studies_at_2000():
    plans = make_plan(2000, 0)
    assert sum(p.cohort == "archive" for p in plans) == 2000
    have = Counter(is_bench_eligible(p) for p in plans)
    for c in BENCH_CLASSES_8:
        assert have[c] >= 200 + 10, c
    assert have["Consolidation"] >= 200
    assert per_class_target(2000) == 200 and per_class_target(20) == 2


def test_archive_split_shares_and_priors():
    plans = [p for p in make_plan(2000, 1) if p.cohort == "archive"]
    subjects = {}
    for p in plans:
        subjects.setdefault(p.subject_id, set()).add(p.split)
    assert all(len(s) == 1 for s in subjects.values())
    share = Counter(next(iter(s)) for s in subjects.values())
    n = len(subjects)
    assert abs(share["train"] / n - 0.7) < 0.05 and abs(share["test"] / n - 0.2) < 0.05
    with_prior = [p for p in plans if p.prior_study_id is not None]
    assert len(with_prior) > 300
    changes = Counter(f.change for p in with_prior for f in p.findings)
    assert {"new", "worse", "stable", "improved", "resolved"} <= set(changes)
    assert len({p.study_id for p in plans}) == len(plans)
    assert len({p.frontal_dicom for p in plans}) == len(plans)
