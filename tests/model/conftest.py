"""Tiny model fixtures shared by the model tests: a random 2-layer BERT saved to a temp dir, tiny ViT configs."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ["no", "acute", "cardiopulmonary", "process", "pleural", "effusion", "pneumothorax", "consolidation", "left", "right", "lower", "lobe", "opacity", "heart", "size", "normal", "mild", "moderate", "large", "small", "lungs", "clear", "there", "is", "a", "the", "of", "and", "with", "stable"]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    """A random BertModel (hidden 32, 2 layers) and a WordPiece tokenizer, saved as a local directory."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + WORDS
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tok.save_pretrained(str(d))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(str(d))
    return str(d)


@pytest.fixture()
def tiny_cfg(tiny_bert_dir):
    """RunCfg: 32-px images, custom ViT (patch 8 -> 16 patches, dim 32, depth 2), tiny BERT, embed 16."""
    from clinvla_kit.config import RunCfg, apply_overrides

    return apply_overrides(RunCfg(), {
        "data.image_size": 32,
        "model.vision.model_name": "custom", "model.vision.embed_dim": 32, "model.vision.depth": 2,
        "model.vision.num_heads": 2, "model.vision.patch_size": 8,
        "model.text.name_or_path": tiny_bert_dir, "model.text.max_tokens": 32,
        "model.adapters.bottleneck": 8, "model.embed_dim": 16,
        "mae.decoder_dim": 16, "mae.decoder_depth": 1, "mae.decoder_heads": 2,
    })


def make_batch(model, b: int = 3, present=None, seed: int = 0):
    """A Batch of random images and short reports tokenised by the model's tokenizer."""
    from clinvla_kit.data.batch import Batch

    g = torch.Generator().manual_seed(seed)
    size = model.cfg.data.image_size
    images = torch.randn(b, 4, 3, size, size, generator=g)
    if present is None:
        present = torch.ones(b, 4, dtype=torch.bool)
    texts = [" ".join(WORDS[(i * 3) % 20:(i * 3) % 20 + 4 + i]) for i in range(b)]
    tok = model.tokenize(texts)
    return Batch(images=images, present=present, input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
                 labels=torch.zeros(b, 14), study_ids=[str(i) for i in range(b)], texts=texts)


@pytest.fixture()
def batch_of():
    """``batch_of(model, b=3, present=None, seed=0)`` -> Batch (see ``make_batch``)."""
    return make_batch
