"""The bidirectional LLM encoder on a tiny random Llama saved locally (no downloads)."""

from __future__ import annotations

import os

import pytest
import torch

from clinvla_kit.model.llm_encoder import LLMEncoder, bidirectional_mask, make_meta, maybe_llm_encoder
from clinvla_kit.model.tiny_encoders import save_tiny_bert, save_tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


def _encoder(llama_dir, pooling="mean", instruction=""):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(llama_dir)
    base = AutoModelForCausalLM.from_pretrained(llama_dir).base_model.eval()
    return LLMEncoder(base, make_meta(tok, pooling, instruction)), tok, base


def test_bidirectional_mask_matches_loop():
    am = torch.tensor([[1, 1, 0], [1, 1, 1]])
    m = bidirectional_mask(am, torch.float32)
    for b in range(2):
        for q in range(3):
            for k in range(3):
                assert (m[b, 0, q, k] == 0) == bool(am[b, k])


def test_causal_loop_matches_the_library_forward(llama_dir):
    """Our layer loop with the causal triangle reproduces LlamaModel's own output: the loop itself is right."""
    from transformers import AutoModelForCausalLM

    enc, tok, _ = _encoder(llama_dir)
    fresh = AutoModelForCausalLM.from_pretrained(llama_dir).base_model.eval()  # untouched: still causal
    ids = tok(["small left effusion . no ptx", "no acute"], padding="longest", return_tensors="pt")
    with torch.no_grad():
        ours = enc.hidden_states(ids["input_ids"], torch.ones_like(ids["attention_mask"]), causal=True)
        lib = fresh(input_ids=ids["input_ids"]).last_hidden_state
    assert torch.allclose(ours, lib, atol=1e-5)


def test_attention_is_bidirectional_and_ignores_padding(llama_dir):
    enc, tok, _ = _encoder(llama_dir, instruction="given a report")
    a = tok(["small left effusion"], return_tensors="pt")
    b = tok(["small left pneumothorax"], return_tensors="pt")
    with torch.no_grad():
        ha = enc(a["input_ids"], a["attention_mask"]).last_hidden_state
        hb = enc(b["input_ids"], b["attention_mask"]).last_hidden_state
        assert ha.shape[1] == a["input_ids"].shape[1]  # instruction states dropped
        assert not torch.allclose(ha[0, 1], hb[0, 1])  # an early token sees a later word: not causal
        pad = torch.cat([a["input_ids"], torch.zeros(1, 3, dtype=torch.long)], 1)
        mask = torch.cat([a["attention_mask"], torch.zeros(1, 3, dtype=torch.long)], 1)
        hp = enc(pad, mask).last_hidden_state
    assert torch.allclose(hp[:, : ha.shape[1]], ha, atol=1e-5)


def test_latent_pooling_starts_as_identity(llama_dir):
    enc_m, tok, _ = _encoder(llama_dir, "mean")
    enc_l, _, _ = _encoder(llama_dir, "latent")
    x = tok(["moderate edema"], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(enc_m(**x).last_hidden_state, enc_l(**x).last_hidden_state, atol=1e-6)


def test_bert_config_is_not_an_llm(tmp_path):
    assert maybe_llm_encoder(save_tiny_bert(tmp_path), config_only=True) is None


def test_text_tower_loads_a_causal_lm_as_encoder(llama_dir):
    from clinvla_kit.config import AdapterCfg, TextCfg
    from clinvla_kit.model.text import TextTower

    tower = TextTower(TextCfg(name_or_path=llama_dir, pooling="mean", max_tokens=32),
                      AdapterCfg(transformer_adapt_towers=(), invertible_towers=()))
    assert isinstance(tower.backbone, LLMEncoder)
    x = tower.tokenizer(["small left effusion", "no ptx"], padding="longest", return_tensors="pt")
    out = tower(x["input_ids"], x["attention_mask"])
    assert out.global_emb.shape == (2, 32)
    with pytest.raises(ValueError, match="LLM encoder"):
        TextTower(TextCfg(name_or_path=llama_dir, pooling="mean"), AdapterCfg(transformer_adapt_towers=("text",)))
