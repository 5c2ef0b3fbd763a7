"""Own-BERT path: WordPiece training, 80/10/10 masking, a few MLM steps, loading the result as the text tower."""

from __future__ import annotations

import pytest
import torch

from clinvla_kit.config import AdapterCfg, MLMCfg, TextCfg
from clinvla_kit.model.mlm import mask_tokens, pretrain_mlm, train_wordpiece
from clinvla_kit.model.text import TextTower, resolve_text_source

REPORTS = ["No acute cardiopulmonary process.", "Small left pleural effusion.", "Right lower lobe consolidation.",
           "Heart size is normal. Lungs are clear.", "Moderate pulmonary edema.", "No pneumothorax."] * 3


def test_wordpiece_and_masking():
    tok = train_wordpiece(REPORTS, vocab_size=120)
    ids = tok("small left pleural effusion", return_tensors="pt")["input_ids"]
    assert tok.unk_token_id not in ids[0].tolist()
    special = torch.tensor(sorted(set(tok.all_special_ids)))
    x = torch.full((50, 20), 10)
    x[:, 0], x[:, -1] = tok.cls_token_id, tok.sep_token_id
    out, labels = mask_tokens(x, special, tok.mask_token_id, len(tok), 0.5, torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert not chosen[:, [0, -1]].any() and 0.35 < chosen.float().mean() < 0.6
    assert (out[chosen] == tok.mask_token_id).float().mean() > 0.6  # ~80% become [MASK]
    assert torch.equal(out[~chosen], x[~chosen])


def test_pretrain_mlm_writes_a_loadable_text_tower(tmp_path):
    cfg = MLMCfg(vocab_size=120, hidden=32, layers=2, heads=2, intermediate=64, batch_size=4, warmup_steps=1)
    text_dir = pretrain_mlm(REPORTS, tmp_path, cfg, max_tokens=32, max_steps=3, log=lambda s: None)
    assert (tmp_path / "log.jsonl").read_text().count("\n") == 3
    t = TextTower(TextCfg(name_or_path=str(text_dir)), AdapterCfg(bottleneck=4))
    enc = t.tokenizer(["small left pleural effusion"], return_tensors="pt")
    assert t(enc["input_ids"], enc["attention_mask"]).word_emb.shape[-1] == 32


def test_own_bert_name_without_pretraining_is_a_clear_error():
    with pytest.raises(ValueError, match="pretrain-mlm"):
        resolve_text_source("mlm")
