"""Hit cards: every view, a heatmap per present view, masks on request, report text, view shares, chance."""

from __future__ import annotations

import re

import numpy as np
import pytest

from clinvla_kit.demo.cards import results_html, with_masks
from clinvla_kit.demo.chance import chance_level
from clinvla_kit.demo.masks import MaskIndex
from clinvla_kit.demo.retrieval_app import heatmaps_for_hits, search_by_image, search_by_text, view_shares

IMG = re.compile(r'<img src="data:image/png;base64,')


class OneMask(MaskIndex):
    def masks_for(self, path):
        return [("Pleural Effusion", np.eye(8, dtype=bool))] if path is not None and path.stem.endswith("_frontal") \
            and "prior" not in path.stem else []

    def __bool__(self):
        return True


def test_cards_show_views_heatmaps_masks_and_reports(archive, model):
    res = search_by_text(archive, model, "pleural effusion", k=2, heatmap=False)
    maps = heatmaps_for_hits(archive, model, res)
    assert len(maps) == 2 and res.heatmap is maps[0]
    for hit, m in zip(res.hits, maps):  # a heatmap for every present view of every hit
        assert set(m) == {s for s, p in hit.views.items() if p is not None}
    res.chance = chance_level(archive.records, ["Pleural Effusion"], [h.index for h in res.hits])
    out = results_html(res, len(archive.records), OneMask(), show_masks=True)
    present = sum(p is not None for h in res.hits for p in h.views.values())
    assert out.count('class="demo-hit"') == 2 and len(IMG.findall(out)) == 2 * present
    assert out.count("mask: Pleural Effusion") == 2 and "click to enlarge" in out
    assert res.hits[0].report[:20] in out and "chance 0.17" in out
    assert ("&#10003; relevant" in out) == any(res.chance.relevant)
    plain = results_html(res, len(archive.records), OneMask(), show_masks=False)
    assert "mask:" not in plain and "view share" not in plain  # shares only for a model that reads the lateral


def test_image_search_excludes_the_query_study(archive, model):
    res = search_by_image(archive, model, "50000002", k=6)
    assert "50000002" not in [h.study_id for h in res.hits] and len(res.hits) == 5 and res.kind == "image"
    emb = archive.image_emb[2].numpy()
    up = search_by_image(archive, model, emb, k=1)
    assert up.hits[0].study_id == "50000002" and up.query == "uploaded image"
    with pytest.raises(ValueError, match="text query"):
        heatmaps_for_hits(archive, model, res)
    out = results_html(up, 6)
    assert "chance level: n/a (the uploaded image has no labels" in out


def test_view_shares_and_mask_outline():
    a, b = np.full((2, 2), 0.1), np.full((2, 2), 0.15)
    assert view_shares({"frontal": a, "lateral": b}) == pytest.approx({"frontal": 0.4, "lateral": 0.6})
    assert view_shares({"frontal": a - 1}) is None and view_shares(None) is None
    gray = np.zeros((16, 16))
    m = np.zeros((8, 8), dtype=bool)
    m[2:6, 2:6] = True
    rgb = with_masks(gray, [("x", m)])
    assert rgb.shape == (16, 16, 3) and (rgb[..., 0] > 0).sum() > 0 and rgb[0, 0].sum() == 0
