"""Grad-CAM with a similarity target on the tiny four-slot model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from clinvla_kit.viz.attention import (
    SlotImageTower,
    encode_prompt,
    gradcam_similarity,
    gradcam_views,
    vit_reshape_transform,
)


def test_map_shape_finite_nonzero_and_text_dependent(tiny_model, tiny_batch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = [gradcam_similarity(tiny_model, tiny_batch, None, text) for text in
                ("large left pleural effusion", "no acute process lungs clear", "mild cardiomegaly")]
    for m in maps:
        assert m.shape == (32, 32) and m.dtype == np.float32
        assert np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1
    assert sum(bool(m.any()) for m in maps) >= 2
    assert any(not np.allclose(maps[0], m) for m in maps[1:])


def test_accepts_embedding_and_raw_images(tiny_model, tiny_batch):
    emb = encode_prompt(tiny_model, "large left pleural effusion")
    a = gradcam_similarity(tiny_model, tiny_batch.images, tiny_batch.present, emb, slot="lateral", index=0)
    b = gradcam_similarity(tiny_model, tiny_batch.images[0], tiny_batch.present[0], emb.numpy(), slot=1)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_missing_slot_and_bad_inputs_raise(tiny_model, tiny_batch):
    with pytest.raises(ValueError, match="no 'lateral' image"):
        gradcam_similarity(tiny_model, tiny_batch, None, "effusion", slot="lateral", index=2)
    with pytest.raises(ValueError, match="unknown slot"):
        gradcam_similarity(tiny_model, tiny_batch, None, "effusion", slot="side")
    with pytest.raises(ValueError, match=r"\[D\]"):
        gradcam_similarity(tiny_model, tiny_batch, None, torch.zeros(2, 16))
    with pytest.raises(ValueError, match="empty"):
        encode_prompt(tiny_model, "  ")


def test_views_of_one_study(tiny_model, tiny_batch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        maps = gradcam_views(tiny_model, tiny_batch, None, "pleural effusion", index=1)
    assert sorted(maps) == ["frontal", "prior_frontal"]


def test_reshape_transform_scatters_kept_tokens(tiny_model):
    """Naive reference: token j goes to grid cell keep[j] (row = keep // cols, col = keep % cols)."""
    vit = tiny_model.vision.vit
    keep = torch.tensor([[5, 0, 15, 9]])
    tokens = torch.randn(1, 1 + 4, 3)
    grid = vit_reshape_transform(vit, lambda: keep)(tokens)
    assert grid.shape == (1, 3, 4, 4)
    ref = torch.zeros(1, 3, 4, 4)
    for j, idx in enumerate(keep[0].tolist()):
        ref[0, :, idx // 4, idx % 4] = tokens[0, 1 + j]
    assert torch.equal(grid, ref)
    with pytest.raises(ValueError, match="no kept indices"):
        vit_reshape_transform(vit)(tokens)


def test_wrapper_matches_encode_image(tiny_model, tiny_batch):
    x = tiny_batch.images[:2, 0]
    z = SlotImageTower(tiny_model, "frontal")(x)
    images = torch.zeros_like(tiny_batch.images[:2])
    images[:, 0] = x
    present = torch.zeros(2, 4, dtype=torch.bool)
    present[:, 0] = True
    with torch.no_grad():
        ref = tiny_model.encode_image(images, present)
    torch.testing.assert_close(z.detach(), ref)


def test_gradcam_batch_equals_one_image_at_a_time(tiny_model, tiny_batch):
    """A chunk of (image, text) pairs gives each pair the map it gets alone: samples do not interact."""
    import warnings

    from clinvla_kit.viz.attention import encode_prompt, gradcam_batch

    texts = ["large left pleural effusion", "mild cardiomegaly", "no acute process"]
    emb = torch.stack([encode_prompt(tiny_model, t) for t in texts])
    images = tiny_batch.images[[0, 1, 2], 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        together = gradcam_batch(tiny_model, images, emb, slot="frontal", chunk=2)  # two chunks: 2 + 1
        alone = [gradcam_batch(tiny_model, images[i:i + 1], emb[i:i + 1], slot="frontal")[0] for i in range(3)]
    assert together.shape == (3, 32, 32)
    for i in range(3):
        np.testing.assert_allclose(together[i], alone[i], atol=1e-5)
    with pytest.raises(ValueError, match="same N"):
        gradcam_batch(tiny_model, images, emb[:2])
