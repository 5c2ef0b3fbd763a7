"""Per-finding grounding with a random-map baseline: selection, baseline and report against plain references."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from clinvla_kit.synth.rle import rle_encode
from clinvla_kit.viz.grounding import score_grounding
from clinvla_kit.viz.grounding_stats import (
    grounding_report,
    grounding_verdict,
    random_map_scores,
    select_grounding_studies,
)


def _ann(dicom, study, finding, mask, visible=True, view="PA"):
    return {"dicom_id": dicom, "study_id": study, "view": view, "finding": finding, "visible": visible,
            "mask": rle_encode(mask)}


def test_select_grounding_studies_caps_each_finding():
    m = np.ones((4, 4), bool)
    recs = [SimpleNamespace(study_id=str(i)) for i in range(6)]
    ann = [_ann("a0", "0", "eff", m), _ann("a1", "1", "eff", m), _ann("a2", "2", "eff", m),
           _ann("a3", "3", "card", m), _ann("a4", "4", "card", m, visible=False), _ann("a5", "5", "card", m)]
    got = [r.study_id for r in select_grounding_studies(recs, ann, per_finding=2)]
    # plain reference: walk the records, keep one while any of its visible findings has fewer than 2
    assert got == ["0", "1", "3", "5"]
    assert [r.study_id for r in select_grounding_studies(recs, ann, 5, findings=["card"])] == ["3", "5"]
    with pytest.raises(ValueError, match="per_finding"):
        select_grounding_studies(recs, ann, 0)


def test_select_grounding_studies_per_view_fills_the_lateral_rows_too():
    m = np.ones((4, 4), bool)
    recs = [SimpleNamespace(study_id=str(i)) for i in range(6)]
    # effusion on the frontal of every study, on the lateral of studies 2, 4 and 5 only
    ann = [_ann(f"f{i}", str(i), "eff", m) for i in range(6)]
    ann += [_ann(f"l{i}", str(i), "eff", m, view="LATERAL") for i in (2, 4, 5)]
    assert [r.study_id for r in select_grounding_studies(recs, ann, 2)] == ["0", "1"]
    # plain reference: keep a study while its frontal or its lateral row has fewer than 2 (0, 1: frontal; 2, 4: lateral)
    assert [r.study_id for r in select_grounding_studies(recs, ann, 2, per_view=True)] == ["0", "1", "2", "4"]
    assert select_grounding_studies(recs, ann, 2, findings=["card"], per_view=True) == []


def test_random_map_baseline_matches_a_plain_loop():
    mask = np.zeros((16, 16), bool)
    mask[:8, :8] = True  # a quarter of the image
    ann = [_ann("d1", "s1", "eff", mask), _ann("d2", "s2", "eff", mask, view="LATERAL")]
    maps = {"d1": np.zeros((4, 4)), "d2": np.zeros((4, 4))}
    r = random_map_scores(maps, ann, threshold=0.5, draws=400, seed=1)
    assert list(r["view_kind"]) == ["frontal", "lateral"]
    # a 4x4 grid on a 16x16 mask: 4 of the 16 cell centres (pixels 2 and 6 of each axis) are in the quarter
    assert list(r["random_pointing"]) == [0.25, 0.25]
    # same generator, same order: a plain loop reproduces the IoU exactly, and noise maps hit at the exact rate
    from clinvla_kit.viz.grounding import heatmap_iou, pointing_game

    rng = np.random.default_rng(1)
    ref, hits = [], []
    for _ in ann:
        draws = [rng.random((4, 4)) for _ in range(400)]
        ref.append(np.mean([heatmap_iou(d, mask) for d in draws]))
        hits += [pointing_game(d, mask) for d in draws]
    assert r["random_iou"].to_numpy() == pytest.approx(np.array(ref))
    assert np.mean(hits) == pytest.approx(0.25, abs=0.04)
    with pytest.raises(ValueError, match="draws"):
        random_map_scores(maps, ann, draws=0)


def test_pointing_chance_counts_the_cell_centres_inside_the_mask():
    from clinvla_kit.viz.grounding import pointing_chance

    mask = np.zeros((10, 10), bool)
    mask[0:3, 0:10] = True  # rows 0-2
    # a 3x3 map: cell centres at pixels floor(1.67)=1, floor(5)=5, floor(8.33)=8; only the top row (1) is inside
    assert pointing_chance((3, 3), mask) == pytest.approx(3 / 9)
    # a 10x10 map: every pixel its own cell, so the share of mask pixels
    assert pointing_chance((10, 10), mask) == pytest.approx(0.3)
    # noise maps of that grid hit at that rate (plain simulation)
    from clinvla_kit.viz.grounding import pointing_game

    rng = np.random.default_rng(0)
    assert np.mean([pointing_game(rng.random((3, 3)), mask) for _ in range(3000)]) == pytest.approx(3 / 9, abs=0.03)
    with pytest.raises(ValueError, match="non-empty"):
        pointing_chance((3, 3), np.zeros((4, 4), bool))


def test_grounding_report_intervals_and_verdict():
    mask = np.zeros((16, 16), bool)
    mask[:8, :8] = True
    ann = [_ann(f"d{i}", f"s{i}", "eff", mask) for i in range(10)]
    good = np.zeros((4, 4))
    good[0, 0] = 1.0  # inside the mask
    bad = np.zeros((4, 4))
    bad[3, 3] = 1.0
    maps = {f"d{i}": good if i < 8 else bad for i in range(10)}
    scores = score_grounding(maps, ann, method="m")
    rnd = random_map_scores(maps, ann, draws=50, seed=0, method="m")
    rep = grounding_report(scores, rnd, by=("method", "finding"), n_boot=200, seed=0)
    row = rep.iloc[0]
    assert row["n"] == 10 and row["n_studies"] == 10 and row["pointing"] == pytest.approx(0.8)
    assert row["random_pointing"] == pytest.approx(rnd["random_pointing"].mean())
    assert row["ratio"] == pytest.approx(0.8 / row["random_pointing"])
    assert row["pointing_lo"] <= 0.8 <= row["pointing_hi"]
    assert row["iou"] == pytest.approx(scores["iou"].mean())
    assert row["verdict"].startswith("yes") and "excludes it" in row["verdict"]
    assert grounding_verdict(0.3, 0.1, 0.5, 0.25).startswith("no: points 1.2x") and "includes it" in \
        grounding_verdict(0.3, 0.1, 0.5, 0.25)
    assert grounding_verdict(0.3, 0.1, 0.5, 0.0).startswith("n/a")
    assert grounding_verdict(0.22, 0.0, 0.56, 0.09).startswith("no: points 2.4x")  # 2x, but the interval includes it
    hidden = score_grounding(maps, [dict(a, visible=False) for a in ann], method="m")
    assert grounding_report(hidden, rnd, by=("method",)).empty
    assert isinstance(rep, pd.DataFrame)


def test_shared_baseline_and_figure():
    import matplotlib

    matplotlib.use("Agg")
    from clinvla_kit.viz.grounding_stats import grounding_figure

    mask = np.zeros((16, 16), bool)
    mask[:8, :8] = True
    ann = [_ann(f"d{i}", f"s{i}", "eff", mask) for i in range(4)]
    maps = {f"d{i}": np.eye(4) for i in range(4)}
    scores = pd.concat([score_grounding(maps, ann, method=m) for m in ("run_a", "run_b")], ignore_index=True)
    rnd = random_map_scores(maps, ann, draws=5, method="word_patch")
    assert grounding_report(scores, rnd, n_boot=20).empty  # methods differ: nothing joins
    rep = grounding_report(scores, rnd, n_boot=20, match_method=False)
    assert list(rep["method"]) == ["run_a", "run_b"] and (rep["random_pointing"] == rnd["random_pointing"].mean()).all()
    fig = grounding_figure(rep)
    assert len(fig.axes[0].patches) == 3  # two methods and the random map, one finding


def test_grounding_table_states_chance_for_every_metric(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from clinvla_kit.viz.grounding_stats import chance_position, grounding_table

    assert chance_position(0.3, 0.5, 0.1).startswith("above chance")
    assert chance_position(0.0, 0.0, 0.1).startswith("below chance")
    assert chance_position(0.0, 0.2, 0.1) == "at chance (interval includes it)"
    mask = np.zeros((16, 16), bool)
    mask[:8, :8] = True
    ann = [_ann(f"d{i}", f"s{i}", "pleural_effusion", mask) for i in range(6)]
    good = np.zeros((4, 4))
    good[0, 0] = 1.0
    maps = {f"d{i}": good for i in range(6)}
    rep = grounding_report(score_grounding(maps, ann, method="m"), random_map_scores(maps, ann, draws=20, method="m"),
                           n_boot=50)
    row = rep.iloc[0]
    assert row["iou_verdict"] == chance_position(row["iou_lo"], row["iou_hi"], row["random_iou"])
    tab = grounding_table(rep)
    assert list(tab.columns) == ["method", "finding", "view", "images", "pointing [95% CI]", "random map",
                                 "pointing vs random", "verdict", "IoU [95% CI]", "random IoU", "IoU vs random"]
    first = tab.iloc[0]
    assert first["finding"] == "pleural effusion" and first["pointing [95% CI]"] == "1.00 [1.00, 1.00]"
    assert first["verdict"] == "yes" and first["pointing vs random"] == "above chance"


def test_map_mask_figure_draws_one_row_per_view_and_finding():
    import matplotlib
    import torch

    matplotlib.use("Agg")
    from clinvla_kit.viz.map_mask import map_mask_figure

    mask = np.zeros((16, 16), bool)
    mask[:8, :8] = True
    ann = [_ann("f1", "s1", "pleural_effusion", mask), _ann("l1", "s1", "pleural_effusion", mask, view="LATERAL"),
           _ann("f1", "s1", "cardiomegaly", mask)]
    rec = SimpleNamespace(study_id="s1", dicom_ids={"frontal": "f1", "lateral": "l1"})
    maps = {"gradcam": {"f1": {"pleural_effusion": np.eye(8), "cardiomegaly": np.eye(8)}},
            "word_patch": {"l1": {"pleural_effusion": np.eye(4)}}}
    fig = map_mask_figure(rec, torch.zeros(4, 3, 16, 16), maps, ann)
    assert len(fig.axes) == 3 * 2  # (frontal: cardiomegaly, effusion; lateral: effusion) x two methods
    with pytest.raises(ValueError, match="no map"):
        map_mask_figure(SimpleNamespace(study_id="s9", dicom_ids={"frontal": "x"}), torch.zeros(4, 3, 16, 16), maps,
                        ann)
