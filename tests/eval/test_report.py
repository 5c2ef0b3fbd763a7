"""Markdown tables from metrics dicts."""

from clinvla_kit.eval.report import NOT_COMPARABLE, extra_table, get_path, metrics_table, pct


def test_pct_and_table():
    assert pct(0.61234, [0.5, 0.7]) == "61.2 [50.0, 70.0]"
    assert pct(None) == "n/a" and pct(float("nan")) == "n/a"
    m = {"retrieval": {"img2txt_5x200": {"P@5": 0.25, "P@5_ci95": [0.2, 0.3]}}, "notes": ["skipped RSNA: missing"]}
    assert get_path(m, "retrieval.img2txt_5x200.P@5") == 0.25 and get_path(m, "zeroshot.x") is None
    t = metrics_table(m)
    assert "| Image-to-text retrieval, CheXpert 5x200 | P@5 | 25.0 [20.0, 30.0] | n/a | n/a |" in t
    assert NOT_COMPARABLE in t and "skipped RSNA" in t


def test_extra_table():
    m = {"retrieval": {"instance_img2txt": {"R@1": 0.1, "R@1_ci95": [0.05, 0.15], "mean_rank": 3.25,
                                            "mean_rank_ci95": [2.0, 4.5]}},
         "zeroshot": {"temporal": {"acc": 0.5}}, "probe": {"1%": {"auc_macro": 0.7, "acc_macro": 0.6}}}
    t = extra_table(m)
    assert "| Instance retrieval, image-to-report | R@1 | 10.0 [5.0, 15.0] |" in t
    assert "| Instance retrieval, image-to-report | mean_rank | 3.2 [2.0, 4.5] |" in t or "3.3 [2.0, 4.5]" in t
    assert "| Linear probe, 1% of labels | macro AUC | 70.0 |" in t
    assert extra_table({}) == ""
