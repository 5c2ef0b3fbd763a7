"""Figure helpers: overlay, grids, the study panel, loss curves from log.jsonl, report diff HTML."""

from __future__ import annotations

import json

import cv2
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from clinvla_kit.config import SLOTS
from clinvla_kit.data.records import StudyRecord
from clinvla_kit.viz.figures import (
    image_grid,
    loss_curves,
    loss_terms,
    overlay,
    report_diff_html,
    save_figure,
    show_study,
)


def test_overlay_shape_range_and_upsampling():
    img = np.zeros((32, 32))  # flat image -> black base, so the output is alpha * colour
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = overlay(img, heat, alpha=0.5, cmap="jet")
    assert out.shape == (32, 32, 3) and out.min() >= 0 and out.max() <= 1
    jet = matplotlib.colormaps["jet"]
    np.testing.assert_allclose(out[0, 0], 0.5 * np.array(jet(1.0)[:3]), atol=1e-6)  # hottest pixel
    np.testing.assert_allclose(out[31, 31], 0.5 * np.array(jet(0.0)[:3]), atol=1e-6)  # coldest
    with pytest.raises(ValueError, match="non-finite"):
        overlay(img, np.full((4, 4), np.nan))


def test_grid_and_study(tmp_path):
    fig = image_grid([np.zeros((8, 8)), None, np.ones((8, 8, 3))], ["a", "b", "c"], ncols=2)
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="titles"):
        image_grid([np.zeros((8, 8))], ["a", "b"])
    p = tmp_path / "f.png"
    cv2.imwrite(str(p), (np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8))
    rec = StudyRecord(subject_id="1", study_id="s9", study_datetime="", split="test",
                      images={"frontal": p, "lateral": None, "prior_frontal": p, "prior_lateral": None},
                      labels={"Pleural Effusion": 1.0, "Edema": 0.0})
    fig = show_study(rec, size=32)
    assert [a.get_title() for a in fig.axes] == [s.replace("_", " ") for s in SLOTS]
    assert "Pleural Effusion" in fig._suptitle.get_text()
    assert save_figure(fig, tmp_path / "study.png").stat().st_size > 0


def test_loss_curves_one_line_per_term(tmp_path):
    log = tmp_path / "log.jsonl"
    recs = [{"step": s, "epoch": 0, "loss": 2.0 / s, "global": 1.0 / s, "local": 1.2 / s, "lr/heads": 1e-3,
             "grad_norm": 1.0, "studies_per_s": 5.0, "skipped": 0, "time": 0.0} for s in (1, 2, 3)]
    recs[2]["local"] = "nan"
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert loss_terms(recs) == ["loss", "global", "local"]
    fig = loss_curves(tmp_path)
    assert [t.name for t in fig.data] == ["loss", "global", "local"]
    assert fig.data[2].y[2] is None and list(fig.data[0].x) == [1, 2, 3]
    html_path = save_figure(fig, tmp_path / "loss.html")
    assert "plotly" in html_path.read_text()[:200000].lower()
    log.write_text("{bad\n")
    with pytest.raises(ValueError, match="line 1"):
        loss_curves(log)
    with pytest.raises(FileNotFoundError):
        loss_curves(tmp_path / "missing")


def test_report_diff_html():
    out = report_diff_html("FINDINGS: No PTX.\nSmall <eff>", "findings: no pneumothorax.\nSmall <eff>")
    assert "line-through" in out and "underline" in out
    assert "pneumothorax." in out and "PTX." in out and "&lt;eff&gt;" in out and "<br>" in out
    same = report_diff_html("a b", "a b")
    assert "line-through" not in same
