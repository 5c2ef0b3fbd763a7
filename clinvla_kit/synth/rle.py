"""Run-length encoding of binary masks as stored in ``annotations.jsonl``.

Encoding (documented in the data card): ``{"size": [H, W], "counts": [n0, n1, n2, ...]}`` where the mask is
flattened in row-major (C) order and the counts are alternating run lengths starting with a run of zeros (which
may be 0). Plain JSON integers, so any language decodes it without pycocotools (which uses column-major order
and a compressed string; we chose row-major to match numpy's default ``reshape``).
"""

from __future__ import annotations

import numpy as np


def rle_encode(mask: np.ndarray) -> dict:
    """[H, W] bool/uint8 mask -> {"size": [H, W], "counts": [...]}."""
    flat = np.asarray(mask, dtype=bool).ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(r) for r in runs]}


def rle_decode(rle: dict) -> np.ndarray:
    """Inverse of ``rle_encode``: uint8 [H, W] mask with values 0/1."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != h * w:
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, expected {h * w} for size {h}x{w}")
    values = np.arange(len(counts)) % 2
    return np.repeat(values, counts).astype(np.uint8).reshape(h, w)


def mask_bbox(mask: np.ndarray) -> list[int] | None:
    """[x, y, w, h] in pixels of the mask's non-zero pixels, or None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
