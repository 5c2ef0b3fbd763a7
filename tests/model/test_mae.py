"""MAE pretraining model: patchify round trip, loss vs a loop, shapes, reconstruction figure, encoder export."""

from __future__ import annotations

import torch

from clinvla_kit.model.mae import build_mae, mae_loss, patchify, reconstruct, unpatchify


def test_patchify_round_trip_and_order():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    p = patchify(x, 4)
    assert p.shape == (2, 4, 48)
    # patch 1 = top-right block, first value = pixel (0, 4) of channel 0
    assert p[0, 1, 0] == x[0, 0, 0, 4] and p[0, 1, 1] == x[0, 1, 0, 4]
    assert torch.equal(unpatchify(p, 4, (2, 2), 3), x)


def test_mae_loss_matches_loop():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(2, 1, 4, 4, generator=g)
    pred = torch.randn(2, 4, 4, generator=g)
    keep = torch.tensor([[0], [3]])
    total, n = 0.0, 0
    for b in range(2):
        for i in range(4):
            if i in keep[b].tolist():
                continue
            r, c = divmod(i, 2)
            t = images[b, 0, r * 2:(r + 1) * 2, c * 2:(c + 1) * 2].reshape(-1)
            t = (t - t.mean()) / (t.var() + 1e-6).sqrt()
            total += ((pred[b, i] - t) ** 2).mean().item()
            n += 1
    assert abs(mae_loss(pred, images, keep, 2, norm_pix=True).item() - total / n) < 1e-5


def test_mae_forward_encoder_and_reconstruct(tiny_cfg):
    torch.manual_seed(0)
    mae = build_mae(tiny_cfg)
    images = torch.randn(3, 3, 32, 32)
    loss, pred, keep = mae(images)
    assert loss.ndim == 0 and pred.shape == (3, 16, 8 * 8 * 3) and keep.shape == (3, 4)
    loss.backward()
    assert mae.vit.blocks[0].attn.qkv.weight.grad is not None  # MAE trains the whole encoder
    sd = mae.encoder_state_dict()
    assert "blocks.0.attn.qkv.weight" in sd and not any(k.startswith("decoder") for k in sd)
    masked, recon = reconstruct(mae, images, mask_ratio=0.75, seed=1)
    assert masked.shape == recon.shape == images.shape
    masked2, _ = reconstruct(mae, images, mask_ratio=0.75, seed=1)
    assert torch.equal(masked, masked2)  # seeded
    visible = (masked != 0).reshape(3, 3, 4, 8, 4, 8).any(1).any(2).any(-1)  # [3, 4, 4] per patch
    assert visible.sum().item() == 3 * 4
    assert torch.allclose(recon[masked != 0], images[masked != 0])
