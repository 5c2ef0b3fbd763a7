"""Demo logic against plain references computed in the test (loops over the stand-in model's outputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clinvla_kit.config import SLOTS
from clinvla_kit.demo.retrieval_app import (
    compare_missing_view,
    query_heatmap,
    reports_for_study,
    search_by_text,
    top_k,
)


def cos(a, b):
    a, b = [float(x) for x in a], [float(x) for x in b]
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def reference_scores(archive, model, query, drop=()):
    ids, mask = archive.tokenize(query)
    q = model.encode_text(ids[None], mask[None], normalize=False)[0].detach()
    scores = []
    for i in range(len(archive.records)):
        images, present = archive.load_study(i)
        present = present.clone()
        images = images.clone()
        for s in drop:
            present[SLOTS.index(s)] = False
            images[SLOTS.index(s)] = 0
        z = model.encode_image(images[None], present[None], normalize=False)[0].detach()
        scores.append(cos(z, q))
    return scores


def reference_order(scores, k, allowed=None):
    idx = [i for i in range(len(scores)) if allowed is None or i in allowed]
    return sorted(idx, key=lambda i: (-scores[i], i))[:k]


def test_top_k_ties_by_index():
    assert top_k(np.array([0.5, 0.9, 0.5, 0.9]), 3) == [1, 3, 0]
    assert top_k(np.array([0.5, 0.9, 0.5, 0.9]), 2, allowed=[0, 2]) == [0, 2]


def test_archive_embeddings_match_the_model(archive, model, records):
    assert archive.study_ids == [r.study_id for r in records]
    assert archive.image_emb.shape == (6, 8) and torch.allclose(archive.image_emb.norm(dim=1), torch.ones(6))
    assert "effusion" in archive.reports[0].lower()
    with pytest.raises(KeyError, match="not in the archive"):
        archive.index_of("nope")
    # report embeddings: lazily, padding columns trimmed, equal to embedding each padded report alone
    assert archive.report_emb is None
    rep = archive.report_embeddings(model)
    for j, text in enumerate(archive.reports):
        ids, mask = archive.tokenize(text)
        assert torch.allclose(rep[j], model.encode_text(ids[None], mask[None])[0], atol=1e-6)
    fresh = archive.without_embeddings()
    assert fresh.report_emb is None and fresh._cache == {} and archive._cache  # the original keeps its cache


@pytest.mark.parametrize("drop", [(), ("lateral",)])
def test_search_matches_reference(archive, model, drop):
    res = search_by_text(archive, model, "left pleural effusion", k=4, drop_views=drop, heatmap=False)
    ref = reference_scores(archive, model, "left pleural effusion", drop)
    order = reference_order(ref, 4)
    assert [h.index for h in res.hits] == order
    for h in res.hits:
        assert h.score == pytest.approx(ref[h.index], abs=1e-5)
        assert set(h.views) == set(SLOTS)
        if drop:
            assert h.views["lateral"] is None
    assert res.heatmap is None


def test_label_filter_and_errors(archive, model):
    res = search_by_text(archive, model, "heart", k=5, label_filter="Cardiomegaly", heatmap=False)
    assert [h.study_id for h in res.hits] == ["50000001"] and res.hits[0].labels == ["Cardiomegaly"]
    assert search_by_text(archive, model, "heart", k=5, label_filter="Fracture", heatmap=False).hits == []
    with pytest.raises(ValueError, match="unknown label"):
        search_by_text(archive, model, "heart", label_filter="Heart")
    with pytest.raises(ValueError, match="query is empty"):
        search_by_text(archive, model, "   ")
    with pytest.raises(ValueError, match="unknown view"):
        search_by_text(archive, model, "heart", drop_views=("side",))


def test_heatmap_matches_loop(archive, model):
    query = "effusion"
    res = search_by_text(archive, model, query, k=1)
    top = res.hits[0].index
    images, present = archive.load_study(top)
    ids, mask = archive.tokenize(query)
    maps = query_heatmap(model, images, present, ids, mask)
    assert set(maps) == {s for s, p in zip(SLOTS, present.tolist()) if p} == set(res.heatmap)
    # reference: per view, per patch (r, c): mean over word tokens of cos(word vector, patch feature)
    feats = model.patches(images[None])[0].detach()  # [4, N, D]
    words = [model.words[t].detach() for t, m in zip(ids.tolist(), mask.tolist())
             if m and t not in model.tokenizer.all_special_ids]
    g = maps["frontal"].shape[0]
    for s, grid in maps.items():
        k = SLOTS.index(s)
        for r in range(g):
            for c in range(g):
                expect = sum(cos(w, feats[k, r * g + c]) for w in words) / len(words)
                assert grid[r, c] == pytest.approx(expect, abs=1e-5)


def test_reports_for_study_marks_ground_truth(archive, model):
    res = reports_for_study(archive, model, "50000002", k=6)
    assert len(res.hits) == 6 and sum(h.is_ground_truth for h in res.hits) == 1
    gt = next(h for h in res.hits if h.is_ground_truth)
    assert gt.study_id == "50000002" and res.gt_rank == res.hits.index(gt) + 1
    img = archive.image_emb[2]
    rep = archive.report_embeddings(model)
    ref = [cos(img, rep[j]) for j in range(6)]
    assert [h.study_id for h in res.hits] == [archive.records[j].study_id for j in reference_order(ref, 6)]
    dropped = reports_for_study(archive, model, "50000002", k=2, drop_views=("lateral",))
    assert len(dropped.hits) == 2


def test_compare_missing_view(archive, model):
    c = compare_missing_view(archive, model, "pneumothorax", k=3)
    full = [h.study_id for h in c["full"].hits]
    dropped = [h.study_id for h in c["dropped"].hits]
    assert set(c["entered"]) == set(dropped) - set(full) and set(c["left"]) == set(full) - set(dropped)
    assert set(c["score_change"]) == set(full) & set(dropped)
    # study 3 has no lateral: its score cannot change when the lateral is dropped
    assert c["score_change"].get("50000003", 0.0) == pytest.approx(0.0, abs=1e-6)


def test_heatmap_attention_method_uses_the_local_loss_attention(archive, model):
    """With a model exposing a ViT grid, the default heatmap is the local loss's attention averaged over words:
    a softmax over the patches of all present views, so each word's maps sum to 1 over every view together."""
    from types import SimpleNamespace

    from clinvla_kit.viz.word_patch import word_patch_attention

    images, present = archive.load_study(5)  # all four views
    ids, mask = archive.tokenize("pleural effusion")
    model.vision = SimpleNamespace(vit=SimpleNamespace(patch_embed=SimpleNamespace(grid_size=(2, 2))))
    maps = query_heatmap(model, images, present, ids, mask)  # auto -> attention
    assert set(maps) == set(SLOTS)
    assert sum(float(m.sum()) for m in maps.values()) == pytest.approx(1.0, abs=1e-5)
    from clinvla_kit.data.batch import Batch

    ref = word_patch_attention(model, Batch(images=images[None], present=present[None], input_ids=ids[None],
                                            attention_mask=mask[None], labels=torch.zeros(1, 14),
                                            study_ids=["q"], texts=[""]), 0)
    for s in SLOTS:
        assert np.allclose(maps[s], ref["maps"][s].mean(axis=0))
    with pytest.raises(ValueError, match="heatmap method"):
        query_heatmap(model, images, present, ids, mask, method="gradcam")
