"""Occlusion maps against plain references: painted windows re-encoded one by one through the ordinary one-view
path, left-out patches through the training masking path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clinvla_kit.viz.attention import SlotImageTower, encode_prompt
from clinvla_kit.viz.occlusion import occlusion_map, spread_to_cells, window_keep, window_positions


def test_window_geometry_by_hand():
    assert window_positions(3, 3, 2) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    keep = window_keep(3, 3, 2)
    assert keep.shape == (4, 5)
    assert keep[0].tolist() == [2, 5, 6, 7, 8]  # cells 0, 1, 3, 4 hidden
    assert keep[3].tolist() == [0, 1, 2, 3, 6]  # cells 4, 5, 7, 8 hidden
    spread = spread_to_cells(np.array([1.0, 2.0, 3.0, 4.0]), 3, 3, 2)
    # centre cell is covered by all four windows; corners by one; edges by two
    np.testing.assert_allclose(spread, [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]])
    with pytest.raises(ValueError, match="window must be"):
        window_positions(3, 3, 4)


def _one_view_sim(model, image, text):
    with torch.no_grad():
        return float(SlotImageTower(model, "frontal")(image[None])[0] @ F.normalize(text, dim=-1))


def test_fill_equals_painting_each_patch_and_reencoding(tiny_model, tiny_batch):
    image = tiny_batch.images[0, 0]
    text = encode_prompt(tiny_model, "large left pleural effusion")
    got = occlusion_map(tiny_model, image, text, "frontal", window=1, mode="fill", chunk=5)
    base = _one_view_sim(tiny_model, image, text)
    ref = np.zeros((4, 4))
    for r in range(4):
        for c in range(4):
            painted = image.clone()
            painted[:, r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] = 0
            ref[r, c] = base - _one_view_sim(tiny_model, painted, text)
    assert got.shape == (4, 4)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert np.abs(got).max() > 0


def test_drop_equals_training_masking_path(tiny_model, tiny_batch, monkeypatch):
    """Each window left out equals the model's own masked forward (train-mode masking given those kept patches),
    for a 2x2 window spread over the cells it covers."""
    import clinvla_kit.model.vision as vision_mod

    image = tiny_batch.images[1, 0]
    text = encode_prompt(tiny_model, "mild cardiomegaly")
    got = occlusion_map(tiny_model, image, text, "frontal", window=2, mode="drop")
    base = _one_view_sim(tiny_model, image, text)
    images = torch.zeros(1, 4, 3, 32, 32)
    images[0, 0] = image
    present = torch.zeros(1, 4, dtype=torch.bool)
    present[0, 0] = True
    drops = []
    for r, c in window_positions(4, 4, 2):
        hidden = {(r + i) * 4 + c + j for i in range(2) for j in range(2)}
        kept = torch.tensor([[p for p in range(16) if p not in hidden]])
        monkeypatch.setattr(vision_mod, "random_keep_indices", lambda *a, kept=kept, **k: kept)
        tiny_model.vision.train()
        try:
            with torch.no_grad():
                emb = tiny_model.vision(images, present).global_emb
        finally:
            tiny_model.vision.eval()
        with torch.no_grad():
            z = F.normalize(tiny_model.heads.img_global(emb), dim=-1)[0]
        drops.append(base - float(z @ F.normalize(text, dim=-1)))
    ref = np.zeros((4, 4))
    count = np.zeros((4, 4))
    for d, (r, c) in zip(drops, window_positions(4, 4, 2)):
        ref[r:r + 2, c:c + 2] += d
        count[r:r + 2, c:c + 2] += 1
    np.testing.assert_allclose(got, ref / count, atol=1e-5)


def test_many_texts_at_once_equal_one_at_a_time(tiny_model, tiny_batch):
    image = tiny_batch.images[0, 1]  # the lateral slot
    texts = torch.stack([encode_prompt(tiny_model, t) for t in ("left pleural effusion", "cardiomegaly")])
    both = occlusion_map(tiny_model, image, texts, "lateral")
    assert both.shape == (2, 4, 4)
    for i in range(2):
        np.testing.assert_allclose(both[i], occlusion_map(tiny_model, image, texts[i], "lateral"), atol=1e-6)
    assert not np.allclose(both[0], both[1])  # the map depends on the text


def test_bad_inputs_are_clear_errors(tiny_model, tiny_batch):
    image = tiny_batch.images[0, 0]
    text = encode_prompt(tiny_model, "effusion")
    with pytest.raises(ValueError, match="unknown occlusion mode"):
        occlusion_map(tiny_model, image, text, mode="blur")
    with pytest.raises(ValueError, match=r"image \[C, H, W\]"):
        occlusion_map(tiny_model, image[None], text)
    with pytest.raises(ValueError, match="window must be"):
        occlusion_map(tiny_model, image, text, window=5)
