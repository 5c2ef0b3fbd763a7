"""ClinVLA composition: outputs, encode_*, parameter groups per ablation, LoRA, MAE term, save/load."""

from __future__ import annotations

import json

import pytest
import torch

from clinvla_kit.config import apply_overrides
from clinvla_kit.losses import total_loss
from clinvla_kit.model.clinvla import ClinVLA
from clinvla_kit.model.params import param_report


def build(cfg, **overrides):
    torch.manual_seed(0)
    return ClinVLA(apply_overrides(cfg, overrides) if overrides else cfg)


def test_forward_shapes_and_loss_backward(batch_of, tiny_cfg):
    model = build(tiny_cfg)
    batch = batch_of(model)
    out = model(batch)
    t = batch.input_ids.shape[1]
    assert out.img_global.shape == (3, 16) and out.txt_global.shape == (3, 16)
    assert out.img_local.shape == (3, 16, 16) and out.txt_local.shape == (3, t, 16)
    assert out.patch_mask.shape == (3, 16) and out.word_mask.shape == (3, t)
    assert out.logit_scale.item() == pytest.approx(1 / 0.07, rel=1e-5)
    assert out.local_temps.tolist() == pytest.approx([4.0, 5.0, 10.0])
    loss, terms = total_loss(out, model.cfg.loss)
    loss.backward()
    assert set(terms) == {"global", "local"}
    for name, p in model.named_parameters():
        if p.requires_grad and ".up." not in name:  # zero up-projections give zero grads to their down layers
            assert p.grad is not None, name
    model.eval()
    assert torch.allclose(model.encode_image(batch.images, batch.present).norm(dim=-1), torch.ones(3))
    assert model.encode_text(batch.input_ids, batch.attention_mask, normalize=False).shape == (3, 16)
    vis, txt = model.forward_features(batch)
    assert vis.patch_tokens.shape == (3, 64, 32) and txt.word_emb.shape == (3, t, 32)


def test_logit_scale_clamped_at_100(batch_of, tiny_cfg):
    model = build(tiny_cfg)
    with torch.no_grad():
        model.temps.log_logit_scale.fill_(10.0)
    assert model(batch_of(model)).logit_scale.item() == pytest.approx(100.0)


def test_parameter_groups_follow_ablation_switches(tiny_cfg):
    full = build(tiny_cfg).parameter_groups()
    assert set(full) == {"language_adapter", "task_adapter", "vision_adapter", "invertible_adapter", "heads",
                         "temperature"}
    no_ta = build(tiny_cfg, **{"model.adapters.transformer_adapt_towers": []}).parameter_groups()
    assert "language_adapter" not in no_ta and "task_adapter" not in no_ta
    no_inv = build(tiny_cfg, **{"model.adapters.invertible_towers": []}).parameter_groups()
    assert "invertible_adapter" not in no_inv
    text_only = build(tiny_cfg, **{"model.adapters.transformer_adapt_towers": ["text"]}).parameter_groups()
    assert all(n.startswith("text.") for n, _ in text_only["language_adapter"])
    learn = build(tiny_cfg, **{"loss.learn_local_temps": True}).parameter_groups()
    assert len(learn["temperature"]) == 2
    ft = build(tiny_cfg, **{"model.adapters.full_finetune": True}).parameter_groups()
    assert "backbone" in ft


def test_multiview_temporal_ablation_uses_frontal_only(batch_of, tiny_cfg):
    model = build(tiny_cfg, **{"model.vision.multiview": False, "model.vision.temporal": False})
    out = model(batch_of(model))
    assert out.img_local.shape == (3, 4, 16)


def test_lora_variant_trains_only_lora_in_towers(batch_of, tiny_cfg):
    model = build(tiny_cfg, **{"model.adapters.lora": True, "model.adapters.lora_rank": 2})
    groups = model.parameter_groups()
    assert set(groups) == {"lora", "heads", "temperature", "vision_adapter"}
    assert all(n.split(".")[1] in ("view_embed", "time_embed", "missing_token") for n, _ in groups["vision_adapter"])
    assert any(n.startswith("text.") for n, _ in groups["lora"]) and any(n.startswith("vision.") for n, _ in groups["lora"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD([p for g in groups.values() for _, p in g], lr=0.1)
    loss, _ = total_loss(model(batch_of(model)), model.cfg.loss)
    loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n or n.startswith(("heads.", "temps.", "vision.")) for n in changed)
    assert not any(n.startswith(("text.backbone.embeddings", "vision.vit.patch_embed")) for n in changed)


def test_mae_term(batch_of, tiny_cfg):
    model = build(tiny_cfg, **{"loss.mae_weight": 0.5})
    out = model(batch_of(model))
    assert out.extra_losses["mae"].ndim == 0 and torch.isfinite(out.extra_losses["mae"])
    _, terms = total_loss(out, model.cfg.loss)
    assert set(terms) == {"global", "local", "mae"}
    assert "heads" in model.parameter_groups()
    assert model.eval()(batch_of(model)).extra_losses == {}


def test_param_report(tiny_cfg):
    df = param_report(build(tiny_cfg))
    rows = df.set_index("group")
    assert rows.loc["backbone", "trainable"] == 0 and rows.loc["backbone", "total"] > 0
    assert rows.loc["total", "trainable"] == rows.drop("total")["trainable"].sum()


def test_save_load_round_trip_and_config_mismatch(batch_of, tiny_cfg, tmp_path):
    model = build(tiny_cfg)
    with torch.no_grad():  # make adapters non-trivial so the round trip checks them
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.01)
    model.eval()
    batch = batch_of(model)
    img = model.encode_image(batch.images, batch.present)
    txt = model.encode_text(batch.input_ids, batch.attention_mask)
    model.save_pretrained(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["embed_dim"] == 16
    assert not list((tmp_path / "run").glob("*.bin")) and not list((tmp_path / "run").glob("*.pt"))
    loaded = ClinVLA.from_pretrained(tmp_path / "run", expect_cfg=tiny_cfg).eval()
    assert torch.equal(loaded.encode_image(batch.images, batch.present), img)
    assert torch.equal(loaded.encode_text(batch.input_ids, batch.attention_mask), txt)
    other = apply_overrides(tiny_cfg, {"model.embed_dim": 24, "model.vision.depth": 3, "train.lr": 0.5})
    with pytest.raises(ValueError, match=r"model\.embed_dim.*model\.vision\.depth|model\.vision\.depth.*model\.embed_dim") as e:
        ClinVLA.from_pretrained(tmp_path / "run", expect_cfg=other)
    assert "train.lr" not in str(e.value)


def test_weights_from_another_config_name_keys(tiny_cfg, tmp_path):
    build(tiny_cfg).save_pretrained(tmp_path / "run")
    cfg2 = apply_overrides(tiny_cfg, {"model.vision.depth": 3})
    (tmp_path / "run" / "config.json").write_text(
        json.dumps(json.loads((tmp_path / "run" / "config.json").read_text()) | {"model": json.loads(
            json.dumps(__import__("clinvla_kit.config", fromlist=["to_dict"]).to_dict(cfg2)["model"]))}))
    with pytest.raises(ValueError, match=r"model\.vision\.depth: 2 in the weights, 3 in config.json"):
        ClinVLA.from_pretrained(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="not a ClinVLA run directory"):
        ClinVLA.from_pretrained(tmp_path)


def test_mlm_term_through_invertible_inverse(batch_of, tiny_cfg):
    from clinvla_kit.model.text import mask_for_mlm

    ids = torch.tensor([[2, 7, 8, 9, 3, 0], [2, 10, 3, 0, 0, 0]])
    wm = torch.tensor([[False, True, True, True, False, False], [False, True, False, False, False, False]])
    masked, labels = mask_for_mlm(ids, wm, mask_id=4, prob=0.0)
    assert (labels != -100).sum(1).tolist() == [1, 1]  # at least one real word each, never specials/padding
    assert torch.equal(masked[labels != -100], torch.tensor([4, 4]))
    model = build(tiny_cfg, **{"loss.mlm_weight": 0.1})
    out = model(batch_of(model))
    _, terms = total_loss(out, model.cfg.loss)
    assert set(terms) == {"global", "local", "mlm"} and torch.isfinite(terms["mlm"])
    terms["mlm"].backward()
    assert model.text.invertible.F[2].weight.grad.abs().sum() > 0  # the inverse carries gradient


def test_lora_model_save_load(batch_of, tiny_cfg, tmp_path):
    model = build(tiny_cfg, **{"model.adapters.lora": True, "model.adapters.lora_rank": 2}).eval()
    batch = batch_of(model)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()
    emb = model.encode_text(batch.input_ids, batch.attention_mask)
    model.save_pretrained(tmp_path / "run")
    loaded = ClinVLA.from_pretrained(tmp_path / "run").eval()
    assert torch.equal(loaded.encode_text(batch.input_ids, batch.attention_mask), emb)


def test_adapters_alone_can_fit_a_small_batch(batch_of, tiny_cfg):
    """Frozen backbones: a few Adam steps on the adapters, heads and temperature lower the total loss."""
    model = build(tiny_cfg)
    batch = batch_of(model, b=6)
    params = [p for g in model.parameter_groups().values() for _, p in g]
    opt = torch.optim.Adam(params, lr=3e-3)
    losses = []
    for _ in range(12):
        loss, _ = total_loss(model(batch), model.cfg.loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
