"""Tiny fixtures for the viz tests: a random 2-layer BERT in a temp dir, a 32-px one-block ViT model, a batch."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ["no", "acute", "process", "pleural", "effusion", "pneumothorax", "consolidation", "left", "right", "lower", "lobe", "opacity", "heart", "size", "normal", "mild", "moderate", "large", "small", "lungs", "clear", "there", "is", "a", "the", "of", "and", "with", "stable", "cardiomegaly"]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    """A random BertModel (hidden 32, 1 layer) and a WordPiece tokenizer saved as a local directory."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("viz_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "##s"] + WORDS
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(d))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(str(d))
    return str(d)


@pytest.fixture(scope="session")
def tiny_model(tiny_bert_dir):
    """ClinVLA: 32-px images, patch 8 (4x4 grid), ViT dim 32 depth 1, tiny BERT, joint space 16; eval mode."""
    from clinvla_kit.config import RunCfg, apply_overrides
    from clinvla_kit.model.clinvla import ClinVLA

    cfg = apply_overrides(RunCfg(), {
        "data.image_size": 32, "data.normalization": "alta",
        "model.vision.model_name": "custom", "model.vision.embed_dim": 32, "model.vision.depth": 1,
        "model.vision.num_heads": 2, "model.vision.patch_size": 8,
        "model.text.name_or_path": tiny_bert_dir, "model.text.max_tokens": 32,
        "model.adapters.bottleneck": 8, "model.embed_dim": 16,
    })
    torch.manual_seed(0)
    model = ClinVLA(cfg)
    # Adapters start as the identity (zero up-projection): give them random weights so maps depend on them too.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "up" in name.split(".")[-2:][0] and p.dim() == 2:
                p.normal_(0, 0.02)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_batch(tiny_model):
    """3 studies: all four slots / no lateral / frontal only; short reports."""
    from clinvla_kit.data.batch import Batch

    g = torch.Generator().manual_seed(1)
    images = torch.randn(3, 4, 3, 32, 32, generator=g)
    present = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    images[~present] = 0
    texts = ["large left pleural effusion", "mild cardiomegaly with stable opacity", "no acute process lungs clear"]
    tok = tiny_model.tokenize(texts)
    return Batch(images=images, present=present, input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
                 labels=torch.zeros(3, 14), study_ids=["s1", "s2", "s3"], texts=texts)
