"""Word-to-patch attention maps: scattering onto each view's grid, checked against naive loops."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch

from clinvla_kit.config import SLOTS
from clinvla_kit.viz.word_patch import _merge_subwords, plot_word_patch, select_words, word_patch_attention


def naive_alpha(words, patches, t1):
    """GLoRIA's attention for one report/image pair, with loops: a = softmax over words, alpha = softmax over
    patches of t1 * a."""
    W, P = len(words), len(patches)
    s = [[sum(float(words[k][d]) * float(patches[p][d]) for d in range(len(words[k]))) for p in range(P)]
         for k in range(W)]
    a = [[0.0] * P for _ in range(W)]
    for p in range(P):
        z = sum(math.exp(s[k][p]) for k in range(W))
        for k in range(W):
            a[k][p] = math.exp(s[k][p]) / z
    alpha = []
    for k in range(W):
        z = sum(math.exp(t1 * a[k][p]) for p in range(P))
        alpha.append([math.exp(t1 * a[k][p]) / z for p in range(P)])
    return np.array(alpha)


def test_maps_match_naive_attention_and_grid(tiny_model, tiny_batch):
    res = word_patch_attention(tiny_model, tiny_batch, index=1, merge_subwords=False)
    assert res["slots"] == ["frontal", "prior_frontal"] and res["grid"] == (4, 4)
    sub_present = tiny_batch.present[1]
    with torch.no_grad():
        out = tiny_model(type(tiny_batch)(**{**tiny_batch.__dict__, "images": tiny_batch.images[1:2],
                                             "present": sub_present[None], "input_ids": tiny_batch.input_ids[1:2],
                                             "attention_mask": tiny_batch.attention_mask[1:2],
                                             "labels": tiny_batch.labels[1:2]}))
    wm = out.word_mask[0].bool()
    pm = out.patch_mask[0].bool()
    words = out.txt_local[0][wm]
    patches = out.img_local[0][pm]
    ref = naive_alpha(words.tolist(), patches.tolist(), float(out.local_temps[0]))
    ids = out.vision.patch_ids[0][pm]
    np.testing.assert_allclose(res["attention"][:, pm.numpy()], ref, atol=1e-5)
    for w in range(len(res["words"])):
        for j, (slot, r, c) in enumerate(ids.tolist()):
            assert res["maps"][SLOTS[slot]][w, r, c] == pytest.approx(ref[w, j], abs=1e-5)
        total = sum(res["maps"][s][w].sum() for s in res["slots"])
        assert total == pytest.approx(1.0, abs=1e-5)
        assert sum(res["view_share"][s][w] for s in res["slots"]) == pytest.approx(1.0, abs=1e-5)


def test_subword_merge_averages_pieces():
    words, attn = _merge_subwords(["effus", "##ion", "left", "lung", "##s"], np.arange(10.0).reshape(5, 2))
    assert words == ["effusion", "left", "lungs"]
    np.testing.assert_allclose(attn, [[1, 2], [4, 5], [7, 8]])


def test_select_and_plot(tiny_model, tiny_batch):
    res = word_patch_attention(tiny_model, tiny_batch, index=0)
    assert res["slots"] == list(SLOTS)
    idx = select_words(res, ["effusion", "left"])
    assert [res["words"][i] for i in idx] == ["effusion", "left"]
    with pytest.raises(ValueError, match="not in the report"):
        select_words(res, ["pneumothorax"])
    fig = plot_word_patch(res, tiny_batch.images[0], max_words=2)
    assert len(fig.axes) == 2 * 4
    with pytest.raises(IndexError):
        word_patch_attention(tiny_model, tiny_batch, index=7)
