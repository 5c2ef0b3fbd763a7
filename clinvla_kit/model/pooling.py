"""How the image tower summarises one view's tokens into one vector (``model.vision.pooling``).

- ``"cls"``: the CLS token (ViT's default; what MAE/timm checkpoints were trained with).
- ``"mean"``: the mean of the kept patch tokens. Every patch counts equally, so findings that change much of the
  image (a big heart, edema in both lungs) dominate; a small focal finding moves the mean by its share of the
  patches only.
- ``"max"``: the per-channel maximum over the kept patch tokens. A channel that fires on one patch (a patchy opacity
  in one lobe, wherever it lies) reaches the summary at full strength: the pooling of the classic CNN classifiers and
  of supervised CheXNet-style detectors of focal findings (measured on SynthCXR in bench/RESULTS.md).
"""

from __future__ import annotations

import torch

POOLINGS: tuple[str, ...] = ("cls", "mean", "max")


def check_pooling(name: str) -> str:
    """Return ``name`` or raise ValueError naming the field and the choices."""
    if name not in POOLINGS:
        raise ValueError(f"model.vision.pooling must be one of {POOLINGS}, got {name!r}")
    return name


def pool_tokens(x: torch.Tensor, pooling: str) -> torch.Tensor:
    """x [M, 1 + K, D] (CLS first, then the K kept patch tokens) -> summary [M, D]."""
    check_pooling(pooling)
    if pooling == "cls":
        return x[:, 0]
    patches = x[:, 1:]
    return patches.mean(1) if pooling == "mean" else patches.amax(1)
