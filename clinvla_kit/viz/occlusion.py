"""Occlusion maps: how much the image-report similarity falls when a window of patches is hidden from the model.

Grad-CAM reads gradients at one layer, and the local loss's word attention is only as good as that loss's training;
occlusion (Zeiler and Fergus, 2014) asks the model itself: hide a region, re-encode, and see how much the cosine
similarity between the view's embedding and a text drops. A region the model uses as evidence for "left pleural
effusion" is one whose removal makes the image look less like that text.

How a region is hidden, two ways:

- ``mode="fill"`` (default) paints the window with the normalised image mean (zeros), the classic occlusion;
- ``mode="drop"`` leaves the window's tokens out of the ViT (``VisionTower.encode_views(keep=...)``), the input the
  shipped encoder met in its masked pretraining, where a painted square is an image it never saw.

Measured on the tutorial's data with the shipped model (bench/RESULTS.md, "Occlusion maps" and "Session 10"): with
the finding's prompt worded as its report words it (``viz.finding_queries.finding_prompt``), "fill" points at the
enlarged heart, consolidation, pneumonia, edema and pneumothorax far above random; "drop" points at effusion and edema more
often than "fill" (0.48 vs 0.20 of frontal effusions, bench/bench_grounding_prompts.py) but never at the heart, whose evidence is the silhouette's
outline (hiding one patch of it leaves the outline readable from its neighbours, painting it breaks the outline).

Each view is encoded as a one-view study (the same study embedding ``viz.attention.SlotImageTower`` gives Grad-CAM),
so maps of different methods answer the same question about the same input.

Cost: one encoder pass per window position, batched (``chunk``): (rows - window + 1) x (cols - window + 1) passes
per image, 64 for the tiny preset's 8 x 8 grid at window 1.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clinvla_kit.config import SLOTS
from clinvla_kit.viz.attention import slot_index

OCCLUSION_MODES = ("drop", "fill")


def window_positions(rows: int, cols: int, window: int) -> list[tuple[int, int]]:
    """Top-left cells (r, c) of every ``window`` x ``window`` square inside a rows x cols grid, row-major."""
    if not 1 <= window <= min(rows, cols):
        raise ValueError(f"window must be in [1, {min(rows, cols)}] for a {rows}x{cols} patch grid, got {window}")
    return [(r, c) for r in range(rows - window + 1) for c in range(cols - window + 1)]


def window_keep(rows: int, cols: int, window: int) -> torch.Tensor:
    """[n_positions, rows*cols - window**2] flat indices of the patches *left visible* at each window position."""
    out = []
    for r, c in window_positions(rows, cols, window):
        hidden = {(r + i) * cols + (c + j) for i in range(window) for j in range(window)}
        out.append([p for p in range(rows * cols) if p not in hidden])
    return torch.tensor(out, dtype=torch.long)


def spread_to_cells(drops: np.ndarray, rows: int, cols: int, window: int) -> np.ndarray:
    """drops [n_positions] (one per ``window_positions``) -> [rows, cols]: each cell gets the mean drop of the windows
    that covered it (every cell is covered at least once)."""
    total = np.zeros((rows, cols), np.float64)
    count = np.zeros((rows, cols), np.float64)
    for d, (r, c) in zip(drops, window_positions(rows, cols, window)):
        total[r:r + window, c:c + window] += d
        count[r:r + window, c:c + window] += 1
    return (total / count).astype(np.float32)


def one_view_embedding(model: nn.Module, view_cls: torch.Tensor, slot: int) -> torch.Tensor:
    """Per-view summaries [M, D] of slot ``slot`` -> normalised study embeddings [M, E] of one-view studies."""
    vision = model.vision
    m = view_cls.shape[0]
    per_slot = vision.missing_token.to(view_cls.dtype).expand(m, len(SLOTS), -1).clone()
    per_slot[:, slot] = view_cls
    use = torch.zeros(m, len(SLOTS), dtype=torch.bool, device=view_cls.device)
    use[:, slot] = True
    return F.normalize(model.heads.img_global(vision.fuse_views(per_slot, use)), dim=-1)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def occlusion_map(model: nn.Module, image: torch.Tensor, text_embeddings: torch.Tensor, slot: str | int = "frontal",
                  window: int = 1, mode: str = "fill", chunk: int = 256) -> np.ndarray:
    """Occlusion maps of one view against T texts (the occluded encodings are shared by all texts).

    Args:
        image: [C, H, W] a model-normalised view of slot ``slot``.
        text_embeddings: [T, E] or [E] the texts' joint-space embeddings (normalised here).
        window: side of the hidden square, in patches (1: one patch at a time).
        mode: "fill" (the window's pixels are set to 0, the normalised mean) or "drop" (its patches are not
            encoded at all).
        chunk: encoder passes per forward call (memory vs per-call overhead).
    Returns:
        [T, rows, cols] float32 on the patch grid ([rows, cols] for a [E] text): similarity(whole view) -
        similarity(view with the window hidden), averaged over the windows covering each cell (positive: the
        region supports the text).
    """
    if mode not in OCCLUSION_MODES:
        raise ValueError(f"unknown occlusion mode {mode!r}; choose one of {OCCLUSION_MODES}")
    single = text_embeddings.dim() == 1
    texts = text_embeddings[None] if single else text_embeddings
    if image.dim() != 3 or texts.dim() != 2:
        raise ValueError(f"occlusion_map needs an image [C, H, W] and text_embeddings [T, E] or [E], got "
                         f"{tuple(image.shape)} and {tuple(text_embeddings.shape)}")
    s = slot_index(slot)
    vision = model.vision
    if not bool(vision.enabled_slots[s]):
        raise ValueError(f"slot {SLOTS[s]!r} is disabled by this model's config (model.vision.multiview / temporal)")
    model.eval()
    device = next(model.parameters()).device
    rows, cols = (int(g) for g in vision.vit.patch_embed.grid_size)
    ph, pw = (int(p) for p in vision.vit.patch_embed.patch_size)
    positions = window_positions(rows, cols, window)
    keep = window_keep(rows, cols, window).to(device)
    texts = F.normalize(texts.float().to(device), dim=-1)
    x = image.float().to(device)
    slots = torch.full((1,), s, dtype=torch.long, device=device)
    whole, _, _ = vision.encode_views(x[None], slots, 0.0)
    base = (one_view_embedding(model, whole, s) @ texts.T)[0]  # [T]
    sims = []
    for part in _chunks(len(positions), chunk):
        m = part.stop - part.start
        if mode == "drop":
            cls, _, _ = vision.encode_views(x[None].expand(m, -1, -1, -1), slots.expand(m), 0.0, keep=keep[part])
        else:
            filled = x[None].repeat(m, 1, 1, 1)
            for j, (r, c) in enumerate(positions[part]):
                filled[j, :, r * ph:(r + window) * ph, c * pw:(c + window) * pw] = 0
            cls, _, _ = vision.encode_views(filled, slots.expand(m), 0.0)
        sims.append(one_view_embedding(model, cls, s) @ texts.T)  # [m, T]
    drops = (base[None] - torch.cat(sims)).cpu().numpy()  # [positions, T]
    out = np.stack([spread_to_cells(drops[:, t], rows, cols, window) for t in range(texts.shape[0])])
    return out[0] if single else out
