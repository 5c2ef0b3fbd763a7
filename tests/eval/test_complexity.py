"""Complexity: parameter counts and FLOPs against hand counts."""

import pytest
import torch

from clinvla_kit.eval.complexity import (
    complexity_table,
    count_parameters,
    flops_per_study,
    measure_complexity,
)


def tiny():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3))
    for p in m[0].parameters():
        p.requires_grad_(False)  # a frozen "backbone"
    return m


def test_counts_by_hand():
    m = tiny()
    total = 0
    trainable = 0
    for layer in (m[0], m[2]):
        n = layer.in_features * layer.out_features + layer.out_features
        total += n
        trainable += n if layer is m[2] else 0
    assert count_parameters(m) == (total, trainable)


def test_flops_per_study_by_hand():
    m = tiny()
    # one matmul of [B, i] x [i, o] costs 2 * B * i * o FLOPs (multiply + add); bias adds and ReLU are not counted.
    want = 2 * 10 * 20 + 2 * 20 * 3
    assert flops_per_study(m, torch.zeros(4, 10), batch_size=4) == pytest.approx(want)


def test_measure_and_table():
    m = tiny()
    row = measure_complexity(m, lambda b: torch.zeros(b, 10), name="tiny", batch_size=4, repeats=2)
    assert row.trainable_share == pytest.approx(63 / 283)
    assert row.latency_ms_b1 > 0 and row.peak_mem_mb > 0
    table = complexity_table([row])
    assert "| tiny | 0.00 |" in table and "Trainable %" in table


def test_clinvla_table7_row_on_a_tiny_model():
    import os

    from clinvla_kit.config import apply_overrides, load_preset
    from clinvla_kit.eval.complexity import clinvla_complexity

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = apply_overrides(load_preset("tiny"), ["data.image_size=32", "model.vision.depth=1",
                                                "model.text.max_tokens=16", "model.vision.checkpoint=null"])
    row = clinvla_complexity(cfg, "tiny", batch_size=2, repeats=1)
    assert 0.0 < row.trainable_share < 0.2  # frozen backbones, adapters and heads only
    assert row.gflops_per_study > 0 and row.latency_ms_batched > 0
