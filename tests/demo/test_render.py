"""Demo pictures (issue 16 s4): burned-in text removed from thumbnails; no file paths in the HTML titles."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from clinvla_kit.demo.render import search_html, thumbnail


def marked(path: Path) -> Path:
    import cv2

    img = np.full((128, 128), 90, np.uint8)
    cv2.putText(img, "R", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 2)
    Image.fromarray(img).save(path)
    return path


def test_thumbnail_removes_burned_in_text_by_default(tmp_path):
    p = marked(tmp_path / "m.png")
    assert thumbnail(p, 64, remove_burned_in=False)[:10, :10].max() > 0.9
    assert thumbnail(p, 64)[:10, :10].max() < 0.5


def test_search_html_titles_hold_no_paths(tmp_path):
    p = marked(tmp_path / "p10000032_s50414267_dicom.png")
    hit = SimpleNamespace(study_id="50414267", score=0.5, labels=[], views={"frontal": p, "lateral": None,
                                                                            "prior_frontal": None, "prior_lateral": None})
    html = search_html(SimpleNamespace(query="effusion", hits=[hit], heatmap=None, drop_views=(), label_filter=None))
    titles = re.findall(r'title="([^"]*)"', html)
    assert titles and all("p10000032" not in t and str(tmp_path) not in t for t in titles)
    assert "p10000032" not in html
