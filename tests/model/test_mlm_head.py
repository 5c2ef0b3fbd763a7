"""The alignment's MLM term: BERT's head (transform + bias, tied decoder) conditioned on the image."""

from __future__ import annotations

import torch

from clinvla_kit.config import apply_overrides
from clinvla_kit.model.mlm_head import ConditionedMLMHead


def test_head_matches_plain_bert_formula():
    torch.manual_seed(0)
    head = ConditionedMLMHead(6, 4, 10)
    with torch.no_grad():
        head.bias.normal_()
        head.image.weight.normal_()
    h, emb, img = torch.randn(2, 3, 6), torch.randn(10, 6), torch.randn(2, 4)
    ref = torch.empty(2, 3, 10)
    for b in range(2):
        for t in range(3):
            x = h[b, t] + head.image.weight @ img[b] + head.image.bias
            x = torch.nn.functional.gelu(head.dense.weight @ x + head.dense.bias)
            x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-12) * head.norm.weight + head.norm.bias
            ref[b, t] = emb @ x + head.bias
    assert torch.allclose(head(h, emb, img), ref, atol=1e-5)


def test_fresh_image_projection_is_zero_and_bert_head_loads():
    from transformers import BertConfig, BertForMaskedLM

    head = ConditionedMLMHead(32, 8, 50)
    h, emb = torch.randn(1, 2, 32), torch.randn(50, 32)
    assert torch.equal(head(h, emb, torch.randn(1, 8)), head(h, emb, None))
    torch.manual_seed(1)
    bert = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64))
    with torch.no_grad():
        bert.cls.predictions.bias.normal_()
    assert head.load_bert_head(bert.state_dict())
    assert torch.equal(head.dense.weight, bert.cls.predictions.transform.dense.weight)
    assert torch.equal(head.bias, bert.cls.predictions.bias)
    assert not ConditionedMLMHead(32, 8, 50).load_bert_head({"unrelated": torch.zeros(1)})


def test_clinvla_mlm_term_reads_the_image_and_trains_the_head(batch_of, tiny_cfg):
    from clinvla_kit.model.clinvla import ClinVLA

    torch.manual_seed(0)
    cfg = apply_overrides(tiny_cfg, {"loss.mlm_weight": 1.0, "model.vision.allow_random_frozen": True})
    model = ClinVLA(cfg).train()
    out = model(batch_of(model))
    mlm = out.extra_losses["mlm"]
    assert torch.isfinite(mlm) and mlm > 0
    mlm.backward()
    assert model.mlm_head.image.weight.grad.abs().sum() > 0  # the image conditioning gets gradient
    assert model.mlm_head.bias.grad.abs().sum() > 0
    groups = model.parameter_groups()
    assert any(n.startswith("mlm_head.") for n, _ in groups["heads"])
