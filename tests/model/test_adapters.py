"""Bottleneck adapters, Transformer-Adapt wrapping of BertOutput, and the invertible adapter."""

from __future__ import annotations

import torch
from torch import nn

from clinvla_kit.model.adapters import (
    AdaptedBertOutput,
    BottleneckAdapter,
    TransformerAdapt,
    add_transformer_adapt,
)
from clinvla_kit.model.invertible import InvertibleAdapter


def test_bottleneck_is_identity_at_init_and_matches_reference_after_update():
    a = BottleneckAdapter(6, 3)
    x = torch.randn(2, 5, 6)
    assert torch.equal(a(x), x)
    with torch.no_grad():
        a.up.weight.normal_()
    ref = torch.empty_like(x)
    for i in range(2):
        for t in range(5):
            h = torch.relu(a.down.weight @ x[i, t] + a.down.bias)
            ref[i, t] = x[i, t] + a.up.weight @ h + a.up.bias
    assert torch.allclose(a(x), ref, atol=1e-6)


def _plain_adapter(a: BottleneckAdapter, x: torch.Tensor, act=torch.relu) -> torch.Tensor:
    """Reference: the adapter's branch up(act(down(x))) written out with matrix products."""
    return act(x @ a.down.weight.T + a.down.bias) @ a.up.weight.T + a.up.bias


def test_transformer_adapt_is_mad_x_stacking():
    """MAD-X: the language adapter's output feeds the task adapter; only the task branch is added to x."""
    ta = TransformerAdapt(4, 2)
    with torch.no_grad():
        for m in (ta.language_adapter, ta.task_adapter):
            m.up.weight.normal_()
            m.up.bias.normal_()
    x = torch.randn(3, 4)
    lang = x + _plain_adapter(ta.language_adapter, x)
    ref = x + _plain_adapter(ta.task_adapter, lang)
    assert torch.allclose(ta(x), ref, atol=1e-6)
    off = TransformerAdapt(4, 2, enabled=False)
    assert isinstance(off.language_adapter, nn.Identity) and torch.equal(off(x), x)


def test_fresh_task_adapter_hides_any_language_adapter():
    """A fresh task adapter (zero up-projection) leaves the layer's output unchanged whatever the language adapter."""
    ta = TransformerAdapt(6, 3)
    with torch.no_grad():
        ta.language_adapter.up.weight.normal_(std=3.0)
        ta.language_adapter.up.bias.normal_(std=3.0)
    x = torch.randn(2, 5, 6)
    assert torch.equal(ta(x), x)


def test_bert_layer_with_fresh_task_adapter_equals_plain_layer(tiny_bert_dir):
    from transformers import AutoModel

    torch.manual_seed(0)
    plain = AutoModel.from_pretrained(tiny_bert_dir).eval()
    adapted = AutoModel.from_pretrained(tiny_bert_dir).eval()
    add_transformer_adapt(adapted, 32, 8)
    with torch.no_grad():
        for layer in adapted.encoder.layer:
            layer.output.adapt.language_adapter.up.weight.normal_(std=2.0)
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    a, b = plain(input_ids=ids).last_hidden_state, adapted(input_ids=ids).last_hidden_state
    assert (a - b).abs().max() < 1e-5


def test_gelu_adapter_matches_reference():
    a = BottleneckAdapter(5, 3, activation="gelu")
    with torch.no_grad():
        a.up.weight.normal_()
    x = torch.randn(4, 5)
    assert torch.allclose(a(x), x + _plain_adapter(a, x, act=torch.nn.functional.gelu), atol=1e-6)
    import pytest

    with pytest.raises(ValueError, match="model.adapters.activation"):
        BottleneckAdapter(5, 3, activation="tanh")


def test_wrapped_bert_output_equals_original_at_init(tiny_bert_dir):
    from transformers import AutoModel

    torch.manual_seed(0)
    model = AutoModel.from_pretrained(tiny_bert_dir).eval()
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    before = model(input_ids=ids).last_hidden_state
    n = add_transformer_adapt(model, 32, 8)
    assert n == 2
    assert all(isinstance(layer.output, AdaptedBertOutput) for layer in model.encoder.layer)
    after = model(input_ids=ids).last_hidden_state
    assert torch.allclose(before, after, atol=1e-6)


def test_invertible_round_trip_and_coupling_formula():
    torch.manual_seed(0)
    inv = InvertibleAdapter(7, init="he")  # odd width: halves of 3 and 4
    x = torch.randn(4, 5, 7)
    y = inv(x)
    assert not torch.allclose(y, x)  # He init on both layers: not the identity
    assert (inv.inverse(y) - x).abs().max() < 1e-5
    e1, e2 = x[..., :3], x[..., 3:]
    o1 = e1 + inv.F(e2)
    o2 = e2 + inv.G(o1)
    assert torch.allclose(y, torch.cat([o1, o2], -1))


def test_invertible_default_is_identity_at_init_but_trainable():
    inv = InvertibleAdapter(8)
    x = torch.randn(3, 8)
    assert torch.equal(inv(x), x)
    inv(x).pow(2).sum().backward()
    assert inv.F[2].weight.grad.abs().sum() > 0
