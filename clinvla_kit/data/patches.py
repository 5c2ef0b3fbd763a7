"""Patches and random masking as the image tower sees them.

``random_patch_mask`` uses ``clinvla_kit.model.masking`` (the function the model itself calls), so the kept
indices a notebook draws are exactly those the model would keep for the same generator state.
"""

from __future__ import annotations

import numpy as np
import torch

from clinvla_kit.model.masking import random_keep_indices


def _as_tensor(img) -> tuple[torch.Tensor, bool]:
    if isinstance(img, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(img)), True
    return img, False


def patchify(img, patch: int = 16):
    """Cut an image into non-overlapping patches in raster order (row by row).

    Args:
        img: ``[H, W]`` or ``[C, H, W]`` (numpy or torch); H and W multiples of ``patch``.
    Returns:
        ``[N, C * patch * patch]`` with N = (H / patch) * (W / patch); ``[N, patch * patch]`` for ``[H, W]``.
        Within a patch values are ordered channel, row, column. Same array type as the input.
    """
    x, was_np = _as_tensor(img)
    if x.dim() == 2:
        x = x.unsqueeze(0)
    c, h, w = x.shape
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not a multiple of the patch size {patch}")
    gh, gw = h // patch, w // patch
    out = x.reshape(c, gh, patch, gw, patch).permute(1, 3, 0, 2, 4).reshape(gh * gw, c * patch * patch)
    return out.numpy() if was_np else out


def unpatchify(patches, height: int, width: int, channels: int = 1):
    """Inverse of ``patchify``: ``[N, C * p * p]`` -> ``[H, W]`` (C = 1) or ``[C, H, W]``."""
    x, was_np = _as_tensor(patches)
    p = round((x.shape[1] / channels) ** 0.5)
    gh, gw = height // p, width // p
    out = x.reshape(gh, gw, channels, p, p).permute(2, 0, 3, 1, 4).reshape(channels, height, width)
    if channels == 1:
        out = out[0]
    return out.numpy() if was_np else out


def random_patch_mask(num_patches: int, ratio: float = 0.75, seed: int | torch.Generator = 0) -> torch.Tensor:
    """Kept patch indices ``[K]`` (sorted), K = round(num_patches * (1 - ratio)): 49 of 196 at 0.75.

    ``seed`` is an int (a fresh generator) or a ``torch.Generator`` to continue a stream.
    """
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    return random_keep_indices(1, num_patches, ratio, generator=gen)[0]


def draw_masked(img, kept, patch: int = 16, fill: float = 0.0):
    """The image as the masked encoder sees it: patches not in ``kept`` are set to ``fill``.

    Args:
        img: ``[H, W]`` or ``[C, H, W]`` numpy/torch; kept: indices ``[K]`` into the raster-order patch grid.
    Returns:
        A copy of ``img`` (same type and shape) with the masked patches filled.
    """
    x, was_np = _as_tensor(img)
    x = x.clone()
    h, w = x.shape[-2:]
    gw = w // patch
    visible = torch.zeros((h // patch) * gw, dtype=torch.bool)
    visible[torch.as_tensor(kept, dtype=torch.long)] = True
    grid = visible.view(h // patch, gw).repeat_interleave(patch, 0).repeat_interleave(patch, 1)
    full = torch.zeros(h, w, dtype=torch.bool)
    full[: grid.shape[0], : grid.shape[1]] = grid
    x[..., ~full] = fill
    return x.numpy() if was_np else x
