"""The style-shift table from a results dict (the experiment itself runs in bench/, minutes long)."""

from __future__ import annotations

from clinvla_kit.eval.style_shift import KS, style_shift_table


def _res(v):
    r = {f"R@{k}": v * k for k in KS}
    r.update({f"R@{k}_ci95": [v * k - 0.01, v * k + 0.01] for k in KS})
    r.update({f"R@{k}_seeds": {"mean": v * k, "sd": 0.01, "seeds": 2} for k in KS})
    return {**r, "n_queries": 100}


def test_table_has_every_row_and_the_changes():
    results = {"retrieval": {f"{e}|{t}|{s}": _res(0.02) for e in ("base", "adapted") for t in ("A", "A+B")
                             for s in ("A", "B")},
               "change": {f"{e}|{s}": _res(-0.01) for e in ("base", "adapted") for s in ("A", "B")},
               "text": {"base|B": {"acronym_retrieval": {"R@1": 0.5, "R@10": 0.9},
                                   "error_discrimination_text": {"acc": 0.4, "acc_ci95": [0.3, 0.5]},
                                   "summarisation_retrieval": {"skipped": "no FINDINGS"}}}}
    md = style_shift_table(results)
    assert md.count("| base | A |") == 1 and md.count("| adapted | A+B |") == 1
    assert "site B test" in md and "-1.0 [-2.0, 0.0]" in md
    assert "n/a (no FINDINGS)" in md and "chance R@10 = 10.0 %" in md
