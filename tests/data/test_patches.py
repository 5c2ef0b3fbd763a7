"""Patchify, random patch mask (49 of 196 at 0.75) and the masked drawing."""

from __future__ import annotations

import numpy as np
import torch

from clinvla_kit.data.patches import draw_masked, patchify, random_patch_mask, unpatchify


def test_patchify_matches_loop_reference():
    img = np.random.default_rng(0).random((32, 48)).astype(np.float32)
    got = patchify(img, 16)
    assert got.shape == (6, 256)
    ref = []
    for r in range(2):
        for c in range(3):
            ref.append([img[r * 16 + i, c * 16 + j] for i in range(16) for j in range(16)])
    np.testing.assert_array_equal(got, np.array(ref, np.float32))
    np.testing.assert_array_equal(unpatchify(got, 32, 48), img)
    t = torch.rand(3, 32, 32)
    p = patchify(t, 16)
    assert isinstance(p, torch.Tensor) and p.shape == (4, 768)
    assert torch.equal(unpatchify(p, 32, 32, channels=3), t)


def test_random_mask_keeps_49_of_196():
    kept = random_patch_mask(196, 0.75, seed=3)
    assert kept.shape == (49,) and kept.dtype == torch.long
    assert len(set(kept.tolist())) == 49 and kept.min() >= 0 and kept.max() < 196
    assert torch.equal(kept, random_patch_mask(196, 0.75, seed=3))
    assert not torch.equal(kept, random_patch_mask(196, 0.75, seed=4))
    assert torch.equal(kept, kept.sort().values)


def test_draw_masked_reference():
    img = np.random.default_rng(1).random((64, 64)).astype(np.float32) + 1.0  # > 0 everywhere
    kept = random_patch_mask(16, 0.75, seed=0)
    out = draw_masked(img, kept, 16, fill=0.0)
    keep = set(kept.tolist())
    for r in range(64):
        for c in range(64):
            idx = (r // 16) * 4 + c // 16
            assert out[r, c] == (img[r, c] if idx in keep else 0.0)
    assert img.min() >= 1.0  # input untouched
    x = torch.ones(3, 32, 32)
    y = draw_masked(x, torch.tensor([0, 3]), 16, fill=0.5)
    assert y[:, :16, :16].eq(1).all() and y[:, :16, 16:].eq(0.5).all() and y[:, 16:, 16:].eq(1).all()
