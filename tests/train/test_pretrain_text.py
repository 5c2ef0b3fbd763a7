"""pretrain-text end to end on tiny local encoders: a few steps, the output loads as the ClinVLA text tower."""

from __future__ import annotations

import json
import os

import pytest
import torch

from clinvla_kit.model.tiny_encoders import save_tiny_bert, save_tiny_llama, save_variants_dir
from clinvla_kit.train.pretrain_text import PretrainTextCfg, load_variant_groups, pretrain_text, sample_batch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return save_variants_dir(tmp_path_factory.mktemp("variants"), studies=30)


def _tower(path):
    from clinvla_kit.config import AdapterCfg, TextCfg
    from clinvla_kit.model.text import TextTower

    return TextTower(TextCfg(name_or_path=str(path), pooling="mean", max_tokens=64),
                     AdapterCfg(transformer_adapt_towers=(), invertible_towers=()))


def test_groups_and_batches(variants):
    groups, skipped = load_variant_groups([variants], ("mimic", "telegraphic", "structured"))
    assert groups and skipped == 0 and all(2 <= len(g) <= 3 for g in groups)
    import numpy as np

    texts, gid = sample_batch(groups, 4, 2, np.random.default_rng(0))
    assert len(texts) == 8 and gid.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_bert_full_run_loads_as_text_tower(variants, tmp_path):
    src = save_tiny_bert(tmp_path / "bert")
    out = tmp_path / "adapted"
    s = pretrain_text([variants], out, PretrainTextCfg(name_or_path=src, max_steps=6, batch_size=6, lr=1e-3,
                                                      max_tokens=64), progress=False)
    assert s["steps"] == 6 and (out / "config.json").is_file()
    assert json.loads((out / "pretrain_text.json").read_text())["studies"] == s["studies"]
    tower = _tower(out)
    x = tower.tokenizer(["sm lt eff .", "no ptx ."], padding="longest", return_tensors="pt")
    assert tower(x["input_ids"], x["attention_mask"]).global_emb.shape == (2, 32)
    before = _tower(src).backbone.state_dict()
    after = tower.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained
    with pytest.raises(FileExistsError):
        pretrain_text([variants], out, PretrainTextCfg(name_or_path=src, max_steps=1), progress=False)


def test_supcon_alone_lowers_its_loss(variants, tmp_path):
    src = save_tiny_bert(tmp_path / "bert")
    s = pretrain_text([variants], tmp_path / "o", PretrainTextCfg(
        name_or_path=src, max_steps=30, batch_size=8, lr=3e-3, mlm_weight=0.0, max_tokens=64, warmup_steps=1,
        log_every=100), progress=False)
    assert s["last_supcon"] < s["first_supcon"]


def test_llm_lora_run_loads_as_text_tower(variants, tmp_path):
    from clinvla_kit.model.llm_encoder import LLMEncoder

    src = save_tiny_llama(tmp_path / "llama")
    out = tmp_path / "llm"
    s = pretrain_text([variants], out, PretrainTextCfg(name_or_path=src, lora=True, lora_rank=4, pooling="latent",
                                                      max_steps=4, batch_size=4, max_tokens=64,
                                                      instruction="given a report"), progress=False)
    assert s["llm"]
    tower = _tower(out)
    assert isinstance(tower.backbone, LLMEncoder) and tower.backbone.latent is not None
    assert tower.backbone.instruction_ids.numel() > 0
    assert not any("lora_" in k for k in tower.backbone.state_dict())  # merged before saving
    x = tower.tokenizer(["sm lt eff ."], return_tensors="pt")
    assert torch.isfinite(tower(x["input_ids"], x["attention_mask"]).global_emb).all()


def test_cli_names_a_missing_variants_file(tmp_path, capsys):
    from clinvla_kit.cli import main

    assert main(["pretrain-text", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--max-steps", "1"]) == 1
    assert "report_variants.jsonl" in capsys.readouterr().err
