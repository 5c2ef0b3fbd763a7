"""Markdown tables from metrics dicts."""

import pytest

from clinvla_kit.eval.report import NOT_COMPARABLE, extra_table, get_path, metrics_table, pct


def test_pct_and_table():
    assert pct(0.61234, [0.5, 0.7]) == "61.2 [50.0, 70.0]"
    assert pct(None) == "n/a" and pct(float("nan")) == "n/a"
    m = {"retrieval": {"img2txt_5x200": {"P@5": 0.25, "P@5_ci95": [0.2, 0.3]}}, "notes": ["skipped RSNA: missing"]}
    assert get_path(m, "retrieval.img2txt_5x200.P@5") == 0.25 and get_path(m, "zeroshot.x") is None
    t = metrics_table(m)
    # ours, chance (none given), verdict, then ClinVLA (Table 6), GLoRIA-ViT (Table 3), Random (Table 3)
    assert "| Image-to-text retrieval, CheXpert 5x200 | P@5 | 25.0 [20.0, 30.0] | n/a | n/a | 56.2 | 51.1 | 20.0 |" in t
    assert NOT_COMPARABLE in t and "skipped RSNA" in t and "Table 6" in t and "Table 3" in t


def test_table_states_chance_and_keeps_paper_notes():
    m = {"retrieval": {"img2txt_5x200": {"P@5": 0.25, "P@5_ci95": [0.22, 0.3], "P@100": 0.21,
                                         "P@100_ci95": [0.19, 0.23]}},
         "chance": {"retrieval.img2txt_5x200.P@5": 0.2, "retrieval.img2txt_5x200.P@100": 0.2}}
    t = metrics_table(m)
    assert "| P@5 | 25.0 [22.0, 30.0] | 20.0 | above chance |" in t
    assert "| P@100 | 21.0 [19.0, 23.0] | 20.0 | at chance | n/a [" in t  # ClinVLA has no P@100: says why
    assert "not P@100" in t and "56.6 in Table 6" in t
    assert "| 20.0 | above chance |" not in metrics_table(m, chance={})  # an explicit mapping wins


def test_published_cells_match_the_paper_tables_file():
    """Every filled cell is a number printed in docs/PAPER_TABLES.md, in the row its source names."""
    import re
    from pathlib import Path

    from clinvla_kit.eval.published import PUBLISHED, TABLE6_DELTAS

    text = (Path(__file__).parents[2] / "docs" / "PAPER_TABLES.md").read_text()
    numbers: dict[str, set[float]] = {}  # row name -> every number printed in rows of that name (any table)
    for line in text.splitlines():
        if line.startswith("| "):
            cells = line.split("|")
            numbers.setdefault(cells[1].strip(), set()).update(
                float(x) for c in cells[2:] for x in re.findall(r"^\s*([-+]?\d+\.\d)", c))
    nums = numbers.__getitem__
    for metric, cols in PUBLISHED.items():
        for col, v in cols.items():
            if v is None:
                continue
            row = {"ClinVLA (published)": "ClinVLA", "GLoRIA-ViT (published)": "GLoRIA-ViT",
                   "Random (published)": "Random"}[col]
            assert round(100 * v, 1) in nums(row), (metric, col, v)
    assert PUBLISHED["retrieval.img2img_8x200.P@5"]["ClinVLA (published)"] == 0.525
    assert PUBLISHED["zeroshot.pneumonia.auc"]["GLoRIA-ViT (published)"] == 0.887
    assert TABLE6_DELTAS["no-local"]["zeroshot.5x200.acc"].delta == pytest.approx(-0.023)
    assert TABLE6_DELTAS["no-multiview"]["retrieval.txt2img_8x200.P@5"].delta == pytest.approx(0.04)


def test_extra_table():
    m = {"retrieval": {"instance_img2txt": {"R@1": 0.1, "R@1_ci95": [0.05, 0.15], "mean_rank": 3.25,
                                            "mean_rank_ci95": [2.0, 4.5]}},
         "zeroshot": {"temporal": {"acc": 0.5}}, "probe": {"1%": {"auc_macro": 0.7, "acc_macro": 0.6}}}
    t = extra_table(m)
    assert "| Instance retrieval, image-to-report | R@1 | 10.0 [5.0, 15.0] |" in t
    assert "| Instance retrieval, image-to-report | mean_rank | 3.2 [2.0, 4.5] |" in t or "3.3 [2.0, 4.5]" in t
    assert "| Linear probe, 1% of labels | macro AUC | 70.0 |" in t
    assert extra_table({}) == ""
