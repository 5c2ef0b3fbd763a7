"""Convolutional stem: token grid like timm's PatchEmbed, locality, errors, and its use in the towers and MAE."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from clinvla_kit.config import apply_overrides
from clinvla_kit.model.stem import ConvStem
from clinvla_kit.model.vision import VisionTower, build_vit, patch_pixels


def conv_cfg(cfg):
    return apply_overrides(cfg, {"model.vision.stem": "conv"})


def test_grid_and_shape_match_linear_patch_embedding():
    stem = ConvStem(img_size=64, patch_size=8, in_chans=3, embed_dim=48)
    vit = VisionTransformer(img_size=64, patch_size=8, embed_dim=48, depth=1, num_heads=2, num_classes=0)
    x = torch.randn(2, 3, 64, 64)
    assert stem(x).shape == vit.patch_embed(x).shape == (2, 64, 48)
    assert stem.grid_size == tuple(vit.patch_embed.grid_size) and stem.num_patches == 64
    assert len([m for m in stem.convs if isinstance(m, torch.nn.Conv2d)]) == 3  # log2(8) stride-2 stages


def test_token_order_is_row_major_and_local():
    """Changing one pixel inside patch (row 2, col 5) of an 8x8 grid changes that token and, through the one-pixel
    kernel overlap, at most its direct neighbours, never a far token (so masking a patch hides its content)."""
    torch.manual_seed(0)
    stem = ConvStem(img_size=64, patch_size=8, in_chans=1, embed_dim=16).eval()
    x = torch.randn(1, 1, 64, 64)
    y = x.clone()
    y[0, 0, 2 * 8 + 4, 5 * 8 + 4] += 5.0  # centre of the patch
    changed = (stem(x) - stem(y)).abs().sum(-1)[0] > 1e-6  # [64]
    assert changed[2 * 8 + 5]
    rows, cols = torch.nonzero(changed.view(8, 8), as_tuple=True)
    assert (rows - 2).abs().max() <= 1 and (cols - 5).abs().max() <= 1


@pytest.mark.parametrize("patch,size,match", [(6, 36, "power of two"), (8, 60, "multiple")])
def test_bad_sizes_are_named(patch, size, match):
    with pytest.raises(ValueError, match=match):
        ConvStem(img_size=size, patch_size=patch)


def test_wrong_input_size_is_named():
    with pytest.raises(ValueError, match=r"does not match the image size \(32, 32\)"):
        ConvStem(img_size=32, patch_size=8)(torch.randn(1, 3, 64, 64))


def test_unknown_stem_is_named(tiny_cfg):
    bad = replace(tiny_cfg.model.vision, stem="resnet")
    with pytest.raises(ValueError, match="model.vision.stem"):
        build_vit(bad, tiny_cfg.data.image_size)


def test_vision_tower_and_mae_with_conv_stem(tiny_cfg):
    from clinvla_kit.model.mae import MAE

    cfg = conv_cfg(tiny_cfg)
    torch.manual_seed(0)
    tower = VisionTower(cfg.model.vision, cfg.model.adapters, cfg.data.image_size)
    assert isinstance(tower.vit.patch_embed, ConvStem) and patch_pixels(tower.vit) == (8, 3)
    x, present = torch.randn(2, 4, 3, 32, 32), torch.ones(2, 4, dtype=torch.bool)
    out = tower(x, present)
    assert out.patch_tokens.shape == (2, 16, 32)  # 16 patches per view, 75 % masked -> 4 kept x 4 slots
    mae = MAE(cfg)
    loss, pred, _ = mae(torch.randn(3, 3, 32, 32))
    assert pred.shape == (3, 16, 8 * 8 * 3) and torch.isfinite(loss)
    # an MAE encoder with the conv stem loads into the ClinVLA image tower (same keys)
    tower.vit.load_state_dict(mae.encoder_state_dict())


def test_frozen_backbone_keeps_stem_statistics(tiny_cfg):
    """A frozen backbone's BatchNorm running statistics are weights: training batches must not move them."""
    cfg = conv_cfg(tiny_cfg)
    torch.manual_seed(0)
    frozen = VisionTower(cfg.model.vision, cfg.model.adapters, cfg.data.image_size).train()
    stats = frozen.vit.patch_embed.convs[1].running_mean.clone()
    frozen(torch.randn(2, 4, 3, 32, 32) * 3 + 1, torch.ones(2, 4, dtype=torch.bool))
    assert torch.equal(frozen.vit.patch_embed.convs[1].running_mean, stats)

    trained_cfg = replace(cfg.model.vision, freeze_backbone=False)
    trained = VisionTower(trained_cfg, cfg.model.adapters, cfg.data.image_size).train()
    trained(torch.randn(2, 4, 3, 32, 32) * 3 + 1, torch.ones(2, 4, dtype=torch.bool))
    assert not torch.equal(trained.vit.patch_embed.convs[1].running_mean, stats)
