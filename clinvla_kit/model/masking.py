"""Random patch masking (MAE-style), as pure tensor functions.

The image tower and the preprocessing notebook share these functions, so "what the model sees" and "what the
notebook draws" are the same indices. Masking is independent per view and per sample; the functions return the
kept indices instead of hiding them inside a module, so attention maps and Grad-CAM can scatter tokens back
onto the full patch grid.
"""

from __future__ import annotations

import torch


def num_kept(num_patches: int, mask_ratio: float) -> int:
    """Patches kept at ``mask_ratio``: ``round(num_patches * (1 - mask_ratio))``, at least 1.

    196 patches of a 224-px view at ratio 0.75 keep 49.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    return max(1, int(round(num_patches * (1.0 - mask_ratio))))


def random_keep_indices(
    batch: int, num_patches: int, mask_ratio: float, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Indices of the patches each sample keeps.

    Returns:
        [batch, K] long, K = ``num_kept(num_patches, mask_ratio)``, sorted ascending within a row so kept tokens stay
        in raster order (makes drawing and debugging easier; attention is order-free anyway).
    """
    k = num_kept(num_patches, mask_ratio)
    noise = torch.rand(batch, num_patches, generator=generator, device=device)
    keep = noise.argsort(dim=1)[:, :k]
    return keep.sort(dim=1).values


def gather_tokens(tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Select kept tokens: tokens [B, N, D], keep [B, K] -> [B, K, D]."""
    return tokens.gather(1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def keep_to_mask(keep: torch.Tensor, num_patches: int) -> torch.Tensor:
    """Kept indices [B, K] -> boolean visibility mask [B, N] (True = kept/visible)."""
    mask = torch.zeros(keep.shape[0], num_patches, dtype=torch.bool, device=keep.device)
    mask.scatter_(1, keep, True)
    return mask


def scatter_to_grid(values: torch.Tensor, keep: torch.Tensor, num_patches: int, fill: float = 0.0) -> torch.Tensor:
    """Put per-kept-token values back on the full patch grid.

    values [B, K, ...] with keep [B, K] -> [B, N, ...], ``fill`` where a patch was masked. Used by Grad-CAM's
    reshape transform and the word-to-patch attention maps when training-time masking was on.
    """
    out_shape = (values.shape[0], num_patches) + tuple(values.shape[2:])
    out = torch.full(out_shape, fill, dtype=values.dtype, device=values.device)
    index = keep.view(keep.shape[0], keep.shape[1], *([1] * (values.dim() - 2))).expand_as(values)
    return out.scatter(1, index, values)
