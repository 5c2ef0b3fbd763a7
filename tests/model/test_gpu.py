"""CUDA checks (skipped without a GPU): bf16 autocast forward/backward of the tiny model and the local loss."""

from __future__ import annotations

import pytest
import torch

from clinvla_kit.losses import local_alignment_loss, total_loss
from clinvla_kit.model.clinvla import ClinVLA

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_bf16_autocast_train_step(tiny_cfg, batch_of):
    model = ClinVLA(tiny_cfg).cuda()
    batch = batch_of(model).to("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, terms = total_loss(model(batch), tiny_cfg.loss)
    loss.backward()
    assert torch.isfinite(loss) and set(terms) == {"global", "local"}


def test_local_loss_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    p, w = torch.randn(8, 12, 16, generator=g), torch.randn(8, 6, 16, generator=g)
    wm = torch.ones(8, 6, dtype=torch.bool)
    cpu, _ = local_alignment_loss(p, w, wm, None, chunk=3)
    gpu, _ = local_alignment_loss(p.cuda(), w.cuda(), wm.cuda(), None, chunk=3)
    assert abs(cpu.item() - gpu.item()) < 1e-4
