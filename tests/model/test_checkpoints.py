"""MAE / MRM / timm key conversion and local loading into the image tower."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from clinvla_kit.model.checkpoints import (
    convert_vit_keys,
    load_vision_init,
    load_vit_checkpoint,
    read_state_dict,
)
from clinvla_kit.model.vision import build_vit


def _vit(cfg, size=32):
    torch.manual_seed(1)
    return build_vit(cfg.model.vision, size)


def mrm_style(vit) -> dict[str, torch.Tensor]:
    """What an MRM/MAE training checkpoint looks like: DDP + wrapper prefixes, decoder and report branch keys."""
    sd = {f"module.{k}": v.clone() for k, v in vit.state_dict().items()}
    sd["module.mask_token"] = torch.zeros(1, 1, 32)
    sd["module.decoder_embed.weight"] = torch.zeros(16, 32)
    sd["module.decoder_blocks.0.attn.qkv.weight"] = torch.zeros(48, 16)
    sd["module.decoder_pred.weight"] = torch.zeros(192, 16)
    sd["module.bert_encoder.embeddings.word_embeddings.weight"] = torch.zeros(10, 8)
    sd["module.cls.predictions.bias"] = torch.zeros(10)
    sd["module.mlm_head.weight"] = torch.zeros(10, 8)
    return sd


def test_convert_mrm_keys_by_hand():
    sd = {"module.blocks.0.attn.qkv.weight": 1, "model.cls_token": 2, "module.decoder_pred.bias": 3,
          "module.bert.encoder.x": 4, "encoder.pos_embed": 5, "module.fc_norm.weight": 6, "mask_token": 7,
          "vision.vit.patch_embed.proj.weight": 8, "head.weight": 9}
    assert convert_vit_keys(sd) == {"blocks.0.attn.qkv.weight": 1, "cls_token": 2, "pos_embed": 5,
                                    "norm.weight": 6, "patch_embed.proj.weight": 8}


def test_load_mrm_checkpoint_pth(tiny_cfg, tmp_path):
    src = _vit(tiny_cfg)
    torch.save({"model": mrm_style(src), "epoch": 3}, tmp_path / "mrm.pth")
    dst = build_vit(tiny_cfg.model.vision, 32)
    load_vit_checkpoint(dst, tmp_path / "mrm.pth")
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_pos_embed_resampled_for_another_image_size(tiny_cfg, tmp_path):
    src = _vit(tiny_cfg, size=64)  # 8x8 grid
    save_file(src.state_dict(), str(tmp_path / "big.safetensors"))
    dst = build_vit(tiny_cfg.model.vision, 32)  # 4x4 grid
    load_vit_checkpoint(dst, tmp_path / "big.safetensors")
    assert dst.pos_embed.shape == (1, 17, 32)
    assert torch.equal(dst.blocks[0].attn.qkv.weight, src.blocks[0].attn.qkv.weight)


def test_mismatch_names_file_and_keys(tiny_cfg, tmp_path):
    sd = _vit(tiny_cfg).state_dict()
    sd.pop("blocks.1.mlp.fc1.weight")
    sd["blocks.5.norm1.weight"] = torch.ones(32)
    save_file(sd, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match=r"bad\.safetensors.*blocks\.1\.mlp\.fc1\.weight.*blocks\.5\.norm1\.weight"):
        load_vit_checkpoint(build_vit(tiny_cfg.model.vision, 32), tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError, match="nothere"):
        read_state_dict(tmp_path / "nothere.safetensors")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="unsupported"):
        read_state_dict(tmp_path / "x.txt")


def test_load_vision_init_from_mae_run_and_into_lora_model(tiny_cfg, tmp_path):
    from clinvla_kit.config import apply_overrides
    from clinvla_kit.model.clinvla import ClinVLA
    from clinvla_kit.model.mae import build_mae

    mae = build_mae(tiny_cfg)
    mae.save_encoder(tmp_path / "mae_run")
    for cfg in (tiny_cfg, apply_overrides(tiny_cfg, {"model.adapters.lora": True})):
        model = ClinVLA(cfg)
        load_vision_init(model, tmp_path / "mae_run")
        qkv = model.vision.vit.blocks[0].attn.qkv
        weight = qkv.base_layer.weight if hasattr(qkv, "base_layer") else qkv.weight
        assert torch.equal(weight, mae.vit.blocks[0].attn.qkv.weight)
        assert not weight.requires_grad  # loading keeps the backbone frozen


def test_load_vision_init_from_a_clinvla_run(tiny_cfg, tmp_path):
    from clinvla_kit.model.clinvla import ClinVLA

    torch.manual_seed(3)
    src = ClinVLA(tiny_cfg)
    src.save_pretrained(tmp_path / "run")
    torch.manual_seed(4)
    dst = ClinVLA(tiny_cfg)
    load_vision_init(dst, tmp_path / "run")
    assert torch.equal(dst.vision.vit.pos_embed, src.vision.vit.pos_embed)
