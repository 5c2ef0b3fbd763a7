"""Projection heads into the joint space and the learnable temperatures."""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_LOGIT_SCALE = 100.0


class ProjectionHeads(nn.Module):
    """Global and local linear projections of both towers to ``embed_dim`` (128 in the paper).

    Linear heads (as GLoRIA's local embedders and CLIP's projections): the towers already carry the non-linearity,
    and a linear map keeps the word-patch dot products of the local loss interpretable.
    """

    def __init__(self, vision_dim: int, text_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.img_global = nn.Linear(vision_dim, embed_dim)
        self.txt_global = nn.Linear(text_dim, embed_dim)
        self.img_local = nn.Linear(vision_dim, embed_dim)
        self.txt_local = nn.Linear(text_dim, embed_dim)


class Temperatures(nn.Module):
    """Logit scale of the global loss (stored as its log, init 1/0.07, clamped at 100 as in CLIP) and the local
    loss temperatures (t1, t2, t3), a parameter only when ``learn_local`` (stored as logs to stay positive)."""

    def __init__(self, init_logit_scale: float, local_temps: tuple[float, float, float], learn_local: bool) -> None:
        super().__init__()
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(init_logit_scale)))
        log_t = torch.log(torch.tensor(local_temps, dtype=torch.float32))
        if learn_local:
            self.log_local_temps = nn.Parameter(log_t)
        else:
            self.register_buffer("log_local_temps", log_t)

    def logit_scale(self) -> torch.Tensor:
        """Scalar multiplier exp(log s), clamped at 100 (the clamp stops the gradient above it, as in CLIP)."""
        return self.log_logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def local_temps(self) -> torch.Tensor:
        """[3] tensor (t1, t2, t3)."""
        return self.log_local_temps.exp()
