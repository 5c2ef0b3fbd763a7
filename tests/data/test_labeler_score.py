"""Per-observation precision / recall / F1 of a labeler against a binary reference, checked against sklearn."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import precision_recall_fscore_support

from clinvla_kit.data.labeler_score import is_positive, macro_f1, score


def test_is_positive():
    assert is_positive(1.0, False) and is_positive(-1.0, True)
    assert not any(is_positive(v, u) for v in (0.0, None) for u in (True, False)) and not is_positive(-1.0, False)


@pytest.mark.parametrize("u_ones", [True, False])
def test_matches_sklearn(u_ones):
    rng = random.Random(0)
    obs = ("A", "B")
    preds = [{o: rng.choice([1.0, 0.0, -1.0, None]) for o in obs} for _ in range(200)]
    refs = [{o: rng.random() < 0.3 for o in obs} for _ in range(200)]
    got = score(preds, refs, obs, u_ones=u_ones, explain=lambda i, o, fp: "fp" if fp else "fn",
                report_text=lambda i: f"report {i}")
    f1s = []
    for o in obs:
        y = [r[o] for r in refs]
        p = [v[o] == 1.0 or (u_ones and v[o] == -1.0) for v in preds]
        prec, rec, f1, _ = precision_recall_fscore_support(y, p, average="binary", zero_division=0)
        s = got[o]
        assert (s.precision, s.recall, s.f1) == pytest.approx((prec, rec, f1))
        assert s.tp + s.fp + s.fn + s.tn == 200 and s.fp_patterns["fp"] == s.fp and s.fn_patterns["fn"] == s.fn
        f1s.append(f1)
    assert macro_f1(got) == pytest.approx(sum(f1s) / 2)
    assert got["A"].examples[("fp", "fp")].startswith("report ")


def test_length_mismatch_and_empty_counts():
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        score([{"A": 1.0}], [{"A": True}, {"A": False}], ("A",))
    s = score([{"A": 0.0}], [{"A": False}], ("A",))["A"]
    assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)
