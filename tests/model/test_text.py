"""Text tower: word mask, pooling, freezing, adapters identity at init; MiniLM from the shipped package."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from clinvla_kit.config import AdapterCfg, TextCfg
from clinvla_kit.model.text import TextTower, minilm_dir, resolve_text_source


def test_word_mask_excludes_padding_and_special_tokens(tiny_bert_dir):
    t = TextTower(TextCfg(name_or_path=tiny_bert_dir), AdapterCfg(bottleneck=4)).eval()
    enc = t.tokenizer(["no acute process", "pleural effusion"], padding="longest", return_tensors="pt")
    out = t(enc["input_ids"], enc["attention_mask"])
    assert out.word_emb.shape == (2, 5, 32) and out.global_emb.shape == (2, 32)
    assert out.word_mask.tolist() == [[False, True, True, True, False], [False, True, True, False, False]]
    assert torch.equal(out.global_emb, out.word_emb[:, 0])  # CLS pooling


def test_mean_pooling_over_real_tokens(tiny_bert_dir):
    t = TextTower(TextCfg(name_or_path=tiny_bert_dir, pooling="mean"), AdapterCfg(bottleneck=4)).eval()
    enc = t.tokenizer(["no acute process", "pleural effusion"], padding="longest", return_tensors="pt")
    out = t(enc["input_ids"], enc["attention_mask"])
    assert torch.allclose(out.global_emb[1], out.word_emb[1, :4].mean(0), atol=1e-6)


def test_adapters_identity_at_init_and_frozen_backbone(tiny_bert_dir):
    from transformers import AutoModel

    plain = AutoModel.from_pretrained(tiny_bert_dir).eval()
    t = TextTower(TextCfg(name_or_path=tiny_bert_dir), AdapterCfg(bottleneck=4)).eval()
    ids = torch.tensor([[2, 7, 8, 3]])
    mask = torch.ones_like(ids)
    assert torch.allclose(t(ids, mask).word_emb, plain(input_ids=ids).last_hidden_state, atol=1e-5)
    trainable = [n for n, p in t.named_parameters() if p.requires_grad]
    assert trainable and all(".adapt." in n or n.startswith("invertible.") for n in trainable)
    assert sum(".language_adapter." in n for n in trainable) == 8  # 2 layers x (down, up) x (weight, bias)
    # the invertible adapter sits on the token embeddings: changing it changes the output
    with torch.no_grad():
        t.invertible.F[2].weight.normal_()
    assert not torch.allclose(t(ids, mask).word_emb, plain(input_ids=ids).last_hidden_state, atol=1e-3)


def test_dropout_setting_reaches_every_dropout(tiny_bert_dir):
    from transformers import AutoConfig

    ids = torch.tensor([[2, 7, 8, 9, 3]])
    mask = torch.ones_like(ids)
    noisy = TextTower(TextCfg(name_or_path=tiny_bert_dir), AdapterCfg(bottleneck=4)).train()
    p_default = AutoConfig.from_pretrained(tiny_bert_dir).hidden_dropout_prob
    assert p_default > 0  # the fixture has dropout, else this test could not fail
    torch.manual_seed(0)
    assert not torch.equal(noisy(ids, mask).word_emb, noisy(ids, mask).word_emb)  # dropout draws differ
    quiet = TextTower(TextCfg(name_or_path=tiny_bert_dir, dropout=0.0), AdapterCfg(bottleneck=4)).train()
    assert torch.equal(quiet(ids, mask).word_emb, quiet(ids, mask).word_emb)  # train mode, yet deterministic
    assert quiet.backbone.config.hidden_dropout_prob == 0.0 == quiet.backbone.config.attention_probs_dropout_prob
    assert torch.allclose(quiet(ids, mask).word_emb, noisy.eval()(ids, mask).word_emb, atol=1e-6)
    with pytest.raises(ValueError, match="text.dropout"):
        TextTower(TextCfg(name_or_path=tiny_bert_dir, dropout=1.0), AdapterCfg(bottleneck=4))


def test_full_finetune_unfreezes(tiny_bert_dir):
    t = TextTower(TextCfg(name_or_path=tiny_bert_dir), AdapterCfg(bottleneck=4, full_finetune=True))
    assert all(p.requires_grad for p in t.parameters())


def test_minilm_resolves_to_the_shipped_package():
    path = minilm_dir()
    assert (path / "config.json").exists() and resolve_text_source("minilm") == str(path)
    t = TextTower(replace(TextCfg(), name_or_path="minilm"), AdapterCfg()).eval()
    assert t.dim == 384 and len([m for m in t.modules() if type(m).__name__ == "AdaptedBertOutput"]) == 6
    enc = t.tokenizer(["no pleural effusion."], return_tensors="pt")
    out = t(enc["input_ids"], enc["attention_mask"])
    assert out.word_mask.sum() == enc["input_ids"].shape[1] - 2
