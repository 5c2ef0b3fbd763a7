"""Supervised contrastive loss (Khosla et al. 2020) over in-batch texts: positives share a group (the same study's
clinically equivalent report variants), every other text in the batch is a negative.

For anchor i with positives P(i) (same group, not i) and all others A(i) (everything but i):

    L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip / t) / sum_{a in A(i)} exp(s_ia / t) ),   s = cosine similarity

averaged over anchors that have at least one positive. Why this and not InfoNCE with one positive: a study brings
several variants (mimic, impression-only, telegraphic, structured), and all of them should pull together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supcon_loss(z: torch.Tensor, groups: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """z [N, D] (any scale; normalised here), groups [N] int -> scalar loss (0 when no anchor has a positive)."""
    if z.ndim != 2 or groups.shape != (z.shape[0],):
        raise ValueError(f"supcon_loss: z must be [N, D] and groups [N], got {tuple(z.shape)} and {tuple(groups.shape)}")
    z = F.normalize(z.float(), dim=-1)
    n = z.shape[0]
    logits = z @ z.T / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (groups[:, None] == groups[None, :]) & ~eye
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not has.any():
        return z.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~pos, 0.0).sum(1)[has] / n_pos[has])
    return per_anchor.mean()
