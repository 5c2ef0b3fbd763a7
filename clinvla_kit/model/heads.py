"""Projection heads into the joint space and the learnable temperatures."""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_LOGIT_SCALE = 100.0


class Projection(nn.Module):
    """Standardise (optional) then project: x [..., Din] -> [..., Dout].

    Why standardise: frozen backbones give features that share a large common component (on SynthCXR the pairwise
    cosine of a frozen MAE encoder's study embeddings is 0.99, of mean-pooled BERT report embeddings 0.96). A linear
    head learns to subtract it only slowly, and until it does every pair looks alike and the contrastive losses sit
    at chance (ln B). A ``BatchNorm1d`` without affine parameters (as in SimCLR/BYOL projection heads) centres and
    scales each feature with batch statistics, so the head sees the differences between studies from step one. It
    uses only valid vectors (``mask``; padding words and missing views would distort the statistics) and running
    statistics in eval mode, so a single query at inference does not depend on other inputs. Under DDP the statistics
    are per process unless the trainer converts the norms to ``SyncBatchNorm``.
    """

    def __init__(self, in_dim: int, out_dim: int, standardize: bool = True) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(in_dim, affine=False) if standardize else None
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm is not None:
            x = self._standardize(x, mask)
        return self.proj(x)

    def _standardize(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        keep = None if mask is None else mask.reshape(-1).bool()
        rows = flat if keep is None else flat[keep]
        if self.training and rows.shape[0] < 2:  # batch statistics need two vectors: fall back to running ones
            normed = nn.functional.batch_norm(rows, self.norm.running_mean, self.norm.running_var, training=False,
                                              eps=self.norm.eps)
        else:
            normed = self.norm(rows)
        if keep is None:
            return normed.reshape(x.shape)
        out = torch.zeros_like(flat)
        out[keep] = normed.to(out.dtype)
        return out.reshape(x.shape)


class ProjectionHeads(nn.Module):
    """Global and local linear projections of both towers to ``embed_dim`` (128 in the paper).

    Linear heads (as GLoRIA's local embedders and CLIP's projections): the towers already carry the non-linearity,
    and a linear map keeps the word-patch dot products of the local loss interpretable. Inputs are standardised
    first when ``standardize`` (``ModelCfg.head_norm == "batch"``; see ``Projection``).
    """

    def __init__(self, vision_dim: int, text_dim: int, embed_dim: int, standardize: bool = True) -> None:
        super().__init__()
        self.img_global = Projection(vision_dim, embed_dim, standardize)
        self.txt_global = Projection(text_dim, embed_dim, standardize)
        self.img_local = Projection(vision_dim, embed_dim, standardize)
        self.txt_local = Projection(text_dim, embed_dim, standardize)


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
