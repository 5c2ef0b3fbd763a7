"""supcon_loss against a plain double loop written from the formula."""

from __future__ import annotations

import math

import torch

from clinvla_kit.train.supcon import supcon_loss


def reference(z, groups, t):
    z = [[x / math.sqrt(sum(y * y for y in v)) for x in v] for v in z.tolist()]
    g = groups.tolist()
    n = len(z)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    losses = []
    for i in range(n):
        pos = [p for p in range(n) if p != i and g[p] == g[i]]
        if not pos:
            continue
        denom = sum(math.exp(dot(z[i], z[a]) / t) for a in range(n) if a != i)
        losses.append(-sum(math.log(math.exp(dot(z[i], z[p]) / t) / denom) for p in pos) / len(pos))
    return sum(losses) / len(losses)


def test_matches_loop_reference():
    torch.manual_seed(0)
    z = torch.randn(9, 5)
    groups = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4])  # groups 2 and 4 have no positive
    for t in (0.05, 0.5):
        assert abs(supcon_loss(z, groups, t).item() - reference(z, groups, t)) < 1e-4


def test_no_positives_is_zero_and_differentiable():
    z = torch.randn(3, 4, requires_grad=True)
    loss = supcon_loss(z, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0.0


def test_pulls_variants_together():
    z = torch.randn(6, 8, requires_grad=True)
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    opt = torch.optim.SGD([z], lr=0.5)
    first = supcon_loss(z, groups, 0.2).item()
    for _ in range(50):
        opt.zero_grad()
        supcon_loss(z, groups, 0.2).backward()
        opt.step()
    assert supcon_loss(z, groups, 0.2).item() < first
