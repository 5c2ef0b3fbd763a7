"""Invertible adapter on token embeddings (MAD-X / ALTA): an additive two-half coupling with an exact inverse.

Forward: split e = [e1, e2] on the feature axis; o1 = e1 + F(e2); o2 = e2 + G(o1); output [o1, o2].
Inverse: e2 = o2 - G(o1); e1 = o1 - F(e2). Exact up to float rounding (round trip < 1e-5, tested), which is what
lets an MLM head map adapted token states back to the vocabulary through ``inverse``.

Initialisation (the identity-at-init question): the paper's Algorithm 1 uses He (Kaiming) initialisation for F and
G. With both layers He-initialised the coupling is far from the identity at step 0, so a *frozen* pretrained
backbone receives perturbed embeddings before any training ("he"). The default "he_zero_out" keeps He for the hidden
layer (Algorithm 1) but zero-initialises each output layer: the adapter is exactly the identity at init, gradients
still reach both layers (the hidden activations are non-zero), and it mirrors the zero up-projection of the
bottleneck adapters. Choose "he" to reproduce the paper literally.
"""

from __future__ import annotations

import torch
from torch import nn

INIT_MODES = ("he", "he_zero_out")


def _coupling_net(d_in: int, hidden: int, d_out: int, init: str) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    nn.init.kaiming_normal_(net[0].weight, nonlinearity="relu")
    nn.init.zeros_(net[0].bias)
    if init == "he":
        nn.init.kaiming_normal_(net[2].weight, nonlinearity="linear")
    else:
        nn.init.zeros_(net[2].weight)
    nn.init.zeros_(net[2].bias)
    return net


class InvertibleAdapter(nn.Module):
    """Additive coupling over the last axis: [..., D] -> [..., D], invertible.

    Args:
        dim: D (odd D is split as floor/ceil halves).
        reduction: hidden width of F and G is ``max(1, (D // 2) // reduction)`` (MAD-X uses a factor of 2).
        init: "he_zero_out" (identity at init, default) or "he" (paper's Algorithm 1 on both layers).
    """

    def __init__(self, dim: int, reduction: int = 2, init: str = "he_zero_out") -> None:
        super().__init__()
        if init not in INIT_MODES:
            raise ValueError(f"invertible adapter init must be one of {INIT_MODES}, got {init!r}")
        self.d1 = dim // 2
        self.d2 = dim - self.d1
        hidden = max(1, self.d1 // reduction)
        self.F = _coupling_net(self.d2, hidden, self.d1, init)
        self.G = _coupling_net(self.d1, hidden, self.d2, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1, e2 = x[..., : self.d1], x[..., self.d1 :]
        o1 = e1 + self.F(e2)
        o2 = e2 + self.G(o1)
        return torch.cat([o1, o2], dim=-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        o1, o2 = y[..., : self.d1], y[..., self.d1 :]
        e2 = o2 - self.G(o1)
        e1 = o1 - self.F(e2)
        return torch.cat([e1, e2], dim=-1)
