"""Tokenisation that cuts at a sentence boundary (local MiniLM tokenizer, no network)."""

from __future__ import annotations

import torch

from clinvla_kit.data.tokenize import split_sentences, tokenize_report


def test_short_report_is_padded(minilm_tokenizer):
    out = tokenize_report("No pneumothorax. Heart size is normal.", minilm_tokenizer, max_tokens=32)
    assert out["input_ids"].shape == (32,) and out["attention_mask"].shape == (32,)
    n = int(out["attention_mask"].sum())
    ref = minilm_tokenizer("No pneumothorax. Heart size is normal.")["input_ids"]
    assert out["input_ids"][:n].tolist() == ref and not out["truncated"]
    assert out["input_ids"][n:].eq(minilm_tokenizer.pad_token_id).all() and out["attention_mask"][n:].eq(0).all()


def test_long_report_cut_at_sentence_boundary(minilm_tokenizer):
    sentences = [f"Finding number {i} is described here in some detail." for i in range(40)]
    text = " ".join(sentences)
    out = tokenize_report(text, minilm_tokenizer, max_tokens=64)
    assert out["truncated"] and out["input_ids"].shape == (64,)
    # reference: the longest prefix of whole sentences whose encoding fits, found by trying each in turn
    best = 0
    for k in range(1, len(sentences) + 1):
        if len(minilm_tokenizer(" ".join(sentences[:k]))["input_ids"]) <= 64:
            best = k
    assert out["text"] == " ".join(sentences[:best])
    n = int(out["attention_mask"].sum())
    assert out["input_ids"][:n].tolist() == minilm_tokenizer(out["text"])["input_ids"]
    assert out["input_ids"][n - 1].item() == minilm_tokenizer.sep_token_id


def test_first_sentence_too_long_is_cut_at_token_limit(minilm_tokenizer):
    text = "The " + "very " * 100 + "long sentence. Second."
    out = tokenize_report(text, minilm_tokenizer, max_tokens=16)
    assert out["attention_mask"].sum() == 16 and out["truncated"]
    assert out["input_ids"][0].item() == minilm_tokenizer.cls_token_id
    assert out["input_ids"][15].item() == minilm_tokenizer.sep_token_id
    assert isinstance(out["input_ids"], torch.Tensor) and out["input_ids"].dtype == torch.long


def test_split_sentences():
    assert split_sentences("A b. C d!  E f? G") == ["A b.", "C d!", "E f?", "G"]
    assert split_sentences("   ") == []
