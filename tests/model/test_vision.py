"""Image tower: shapes, per-view masking, eval without masking, missing-view token, view switches, identity init."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from clinvla_kit.config import AdapterCfg
from clinvla_kit.model.vision import VisionTower


def tower(cfg, **vision):
    torch.manual_seed(0)
    return VisionTower(replace(cfg.model.vision, **vision), cfg.model.adapters, cfg.data.image_size)


def images(b=2, size=32, seed=0):
    return torch.randn(b, 4, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_shapes_train_and_eval(tiny_cfg):
    t = tower(tiny_cfg)
    x, present = images(), torch.ones(2, 4, dtype=torch.bool)
    out = t(x, present)  # train mode: 16 patches per view, 4 kept
    assert out.global_emb.shape == (2, 32) and out.view_cls.shape == (2, 4, 32)
    assert out.patch_tokens.shape == (2, 16, 32) and out.patch_ids.shape == (2, 16, 3)
    assert out.patch_mask.all()
    t.eval()
    out = t(x, present)
    assert out.patch_tokens.shape == (2, 64, 32)
    # no masking in eval: every (slot, row, col) appears once
    ids = out.patch_ids[0]
    assert len({tuple(r) for r in ids.tolist()}) == 64 and set(ids[:, 0].tolist()) == {0, 1, 2, 3}


def test_masking_is_independent_per_view(tiny_cfg):
    t = tower(tiny_cfg)
    torch.manual_seed(5)
    out = t(images(b=3), torch.ones(3, 4, dtype=torch.bool))
    kept = [tuple((ids[:, 1] * 4 + ids[:, 2]).tolist()) for ids in out.patch_ids.reshape(12, 4, 3)]
    assert len(set(kept)) > 1  # 12 views would share one pattern only if masking were shared
    t.eval()
    a = t(images(b=3), torch.ones(3, 4, dtype=torch.bool)).global_emb
    b = t(images(b=3), torch.ones(3, 4, dtype=torch.bool)).global_emb
    assert torch.equal(a, b)  # deterministic without masking


def missing(t, slot):
    """Reference: what an absent slot contributes: missing-view token + the slot's view and time embeddings."""
    return (t.missing_token + t.view_embed[slot % 2] + t.time_embed[slot // 2]).detach()


def test_global_is_mean_over_every_enabled_slot_with_missing_summaries(tiny_cfg):
    t = tower(tiny_cfg).eval()
    with torch.no_grad():
        t.view_embed.normal_()
        t.time_embed.normal_()
    present = torch.tensor([[True, False, True, False], [False, False, False, False]])
    out = t(images(), present)
    expected0 = (out.view_cls[0, 0] + missing(t, 1) + out.view_cls[0, 2] + missing(t, 3)) / 4
    assert torch.allclose(out.global_emb[0], expected0, atol=1e-6)
    expected1 = sum(missing(t, s) for s in range(4)) / 4  # no usable view at all
    assert torch.allclose(out.global_emb[1], expected1, atol=1e-6)
    assert out.patch_mask.reshape(2, 4, 16)[0].all(-1).tolist() == [True, False, True, False]
    # the study's embedding does not depend on an absent slot's pixels
    x2 = images()
    x2[0, 1] = 100.0
    assert torch.allclose(t(x2, present).global_emb[0], out.global_emb[0])


def test_missing_view_token_receives_gradient(tiny_cfg):
    t = tower(tiny_cfg).train()
    present = torch.tensor([[True, False, False, False], [True, True, False, False]])
    out = t(images(), present)
    out.global_emb.pow(2).sum().backward()
    assert t.missing_token.grad is not None and t.missing_token.grad.abs().sum() > 0
    assert t.missing_token.requires_grad


def test_eval_views_frontal_vs_all(tiny_cfg):
    present = torch.tensor([[True, True, True, True], [False, True, False, False]])
    x = images()
    t_all = tower(tiny_cfg, eval_views="all").eval()
    t_front = tower(tiny_cfg, eval_views="frontal").eval()
    t_front.load_state_dict(t_all.state_dict())
    o_all, o_front = t_all(x, present), t_front(x, present)
    assert o_front.patch_tokens.shape == (2, 16, 32)
    assert torch.allclose(o_front.global_emb[0], o_all.view_cls[0, 0], atol=1e-6)
    assert not torch.allclose(o_all.global_emb[0], o_all.view_cls[0, 0])
    # a study without a frontal falls back to its other views
    assert torch.allclose(o_front.global_emb[1], o_all.view_cls[1, 1], atol=1e-6)
    assert o_front.patch_ids[:, 0, 0].tolist() == [0, 1]  # slot id of the view actually used
    t_front.train()  # training always uses every enabled slot
    assert t_front(x, present).patch_tokens.shape == (2, 16, 32)


@pytest.mark.parametrize("multiview,temporal,slots", [(False, True, [0, 2]), (False, False, [0]), (True, False, [0, 1])])
def test_multiview_temporal_switches(tiny_cfg, multiview, temporal, slots):
    t = tower(tiny_cfg, multiview=multiview, temporal=temporal).eval()
    out = t(images(), torch.ones(2, 4, dtype=torch.bool))
    assert sorted(set(out.patch_ids[0, :, 0].tolist())) == slots
    assert torch.allclose(out.global_emb, out.view_cls[:, slots].mean(1), atol=1e-6)


def test_adapters_identity_at_init_equals_plain_timm(tiny_cfg):
    t = tower(tiny_cfg).eval()
    vit = t.vit
    x = images(b=2)[:, 0]
    plain = vit.forward_features(x)  # timm's own forward: [2, 1+16, 32]
    out = t(images(b=2), torch.tensor([[True, False, False, False]] * 2))
    assert torch.allclose(out.view_cls[:, 0], plain[:, 0], atol=1e-5)
    assert torch.allclose(out.patch_tokens[:, :16], plain[:, 1:], atol=1e-5)
    assert out.patch_mask.tolist() == [[True] * 16 + [False] * 48] * 2


def test_backbone_frozen_and_adapters_trainable(tiny_cfg):
    t = tower(tiny_cfg)
    assert not any(p.requires_grad for p in t.vit.parameters())
    trainable = [n for n, p in t.named_parameters() if p.requires_grad]
    assert any(".serial." in n for n in trainable) and any(".parallel." in n for n in trainable)
    assert "missing_token" in trainable and "view_embed" in trainable
    off = VisionTower(tiny_cfg.model.vision, AdapterCfg(vision_bottleneck=False, transformer_adapt_towers=(),
                                                        invertible_towers=()), 32)
    assert [n for n, p in off.named_parameters() if p.requires_grad] == ["view_embed", "time_embed", "missing_token"]


def test_wrong_image_shape_is_a_clear_error(tiny_cfg):
    with pytest.raises(ValueError, match=r"\[B, 4, C, H, W\]"):
        tower(tiny_cfg)(torch.randn(2, 3, 32, 32), torch.ones(2, 4, dtype=torch.bool))


def test_mean_pooling_is_mean_of_each_views_patch_tokens(tiny_cfg):
    t = tower(tiny_cfg, pooling="mean").eval()
    present = torch.tensor([[True, True, False, False], [True, False, False, False]])
    out = t(images(), present)
    tokens = out.patch_tokens.reshape(2, 4, 16, 32)
    # reference: per view, the plain average of its 16 patch tokens; study = average over present views
    expected0 = (tokens[0, 0].sum(0) / 16 + tokens[0, 1].sum(0) / 16 + missing(t, 2) + missing(t, 3)) / 4
    assert torch.allclose(out.global_emb[0], expected0, atol=1e-5)
    expected1 = (tokens[1, 0].sum(0) / 16 + missing(t, 1) + missing(t, 2) + missing(t, 3)) / 4
    assert torch.allclose(out.global_emb[1], expected1, atol=1e-5)


def test_max_pooling_is_channelwise_max_of_each_views_patch_tokens(tiny_cfg):
    t = tower(tiny_cfg, pooling="max").eval()
    present = torch.tensor([[True, True, False, False], [True, False, False, False]])
    out = t(images(), present)
    tokens = out.patch_tokens.reshape(2, 4, 16, 32)

    def plain_max(rows):  # reference: channel by channel, the largest value over the 16 patch tokens
        return torch.tensor([max(float(rows[p, c]) for p in range(16)) for c in range(32)])

    # study = average over the enabled slots (absent ones: their missing summaries)
    expected0 = (plain_max(tokens[0, 0]) + plain_max(tokens[0, 1]) + missing(t, 2) + missing(t, 3)) / 4
    assert torch.allclose(out.global_emb[0], expected0, atol=1e-5)
    expected1 = (plain_max(tokens[1, 0]) + missing(t, 1) + missing(t, 2) + missing(t, 3)) / 4
    assert torch.allclose(out.global_emb[1], expected1, atol=1e-5)


def test_max_pooling_with_masking_uses_kept_patches_only(tiny_cfg):
    t = tower(tiny_cfg, pooling="max", mask_ratio=0.75, multiview=False, temporal=False).train()
    out = t(images(), torch.tensor([[True, False, False, False]] * 2))
    kept = out.patch_tokens.reshape(2, 4, 32)  # 4 of 16 patches kept in the frontal slot (the only enabled one)
    assert torch.allclose(out.global_emb, kept.amax(1), atol=1e-5)


def test_unknown_pooling_is_a_clear_error_when_the_tower_is_built(tiny_cfg):
    with pytest.raises(ValueError, match="model.vision.pooling"):
        tower(tiny_cfg, pooling="sum")


def test_explicit_keep_encodes_those_patches_as_training_masking_does(tiny_cfg, monkeypatch):
    """encode_views(keep=...) = the training path with the same kept indices; all patches in order = no masking;
    a malformed keep is refused."""
    import clinvla_kit.model.vision as vision_mod

    t = tower(tiny_cfg).eval()
    x = images(b=1)[:, 0]
    slots = torch.zeros(1, dtype=torch.long)
    keep = torch.tensor([[0, 3, 5, 9, 15]])
    cls, tokens, k = t.encode_views(x, slots, 0.0, keep=keep)
    monkeypatch.setattr(vision_mod, "random_keep_indices", lambda m, n, ratio, generator=None, device=None: keep)
    ref_cls, ref_tokens, ref_k = t.encode_views(x, slots, 0.75)  # the training branch, given the same keep
    torch.testing.assert_close(cls, ref_cls)
    torch.testing.assert_close(tokens, ref_tokens)
    assert torch.equal(k, ref_k) and tokens.shape == (1, 5, 32)
    full, _, _ = t.encode_views(x, slots, 0.0, keep=torch.arange(16)[None])
    torch.testing.assert_close(full, t.encode_views(x, slots, 0.0)[0])
    with pytest.raises(ValueError, match="keep must be"):
        t.encode_views(x, slots, 0.0, keep=torch.arange(17)[None])
