"""Tiny random text encoders saved to a local folder (no downloads), for tests, smoke runs and the notebook's
LLM-encoder demo: a 2-layer BERT and a 2-layer Llama (hidden 32) sharing a small WordPiece tokenizer, and a data
directory that holds only ``report_variants.jsonl`` (no images). Random weights: they exercise the code paths, they
do not encode meaning."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ["no", "acute", "pleural", "effusion", "pneumothorax", "consolidation", "left", "right", "lower", "upper",
         "lobe", "heart", "size", "normal", "mild", "moderate", "large", "small", "there", "is", "a", "the", "of",
         "in", "ptx", "eff", "sm", "lt", "rt", "mod", "lg", "atx", "atelectasis", "edema", "pulmonary", "pulm",
         "cardiomegaly", "nodule", "cm", "tube", "carina", "above", "abv", "ett", "absent", "possible", "new",
         "unchanged", "pneumonia", "pna", "findings", "impression", "rib", "fracture", "fx", "given", "report"]


def tokenizer(d: Path):
    """A small lower-case WordPiece tokenizer (report words + telegraphic abbreviations) saved to ``d``."""
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", ":", "-"] + [str(i) for i in range(10)] + WORDS
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(str(d))
    return tok


def save_tiny_bert(d: Path) -> str:
    """A random BertModel (hidden 32, 2 layers) + tokenizer in ``d``; returns the path."""
    from transformers import BertConfig, BertModel

    tok = tokenizer(d)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=160)
    BertModel(cfg).save_pretrained(str(d))
    return str(d)


def save_tiny_llama(d: Path) -> str:
    """A random LlamaForCausalLM (hidden 32, 2 layers, 2 heads) + tokenizer in ``d``; returns the path."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer(d)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=256,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(str(d))
    return str(d)


def save_variants_dir(d: Path, studies: int = 24, seed: int = 0) -> str:
    """``report_variants.jsonl`` (+ errors) of a ``studies``-study SynthCXR plan in ``d``, without images."""
    from clinvla_kit.synth.plan import make_plan
    from clinvla_kit.synth.report_variants import write_report_variants

    d.mkdir(parents=True, exist_ok=True)
    write_report_variants(d, make_plan(studies, seed), seed)
    return str(d)
