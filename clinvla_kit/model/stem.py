"""Convolutional patch embedding for small ViTs trained from little data ("early convolutions", Xiao et al. 2021).

``ConvStem`` is a drop-in for timm's ``PatchEmbed`` (``VisionTransformer(embed_layer=ConvStem)``): images
[B, C, H, W] -> tokens [B, L, D] on the same (H/p) x (W/p) grid, so position embeddings, masking, the MAE decoder and
the local loss see exactly the tokens they would see with the linear patch embedding.

Why it exists: a ViT whose patch embedding is one linear map learns very slowly from a few thousand images. Measured
on SynthCXR (bench/RESULTS.md, "Image tower on CPU"): a 4-block ViT with the linear embedding, trained for 300
contrastive steps, stays at chance image-to-text P@5, whereas the same ViT with this stem is far above it after the
same steps. A likely reason: every token goes through a LayerNorm, which removes a flat patch's brightness (the
density an opacity adds); the stem's BatchNorm + ReLU layers turn brightness and edges into features first.

Layout: log2(p) stages of 3x3 convolution (stride 2) + BatchNorm + ReLU, channel widths doubling up to
``embed_dim``, then a 1x1 convolution (the token projection). The 3x3 kernels overlap by one pixel across patch
borders (a token sees a few pixels of its neighbours); measured, non-overlapping 2x2 kernels learned more slowly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class ConvStem(nn.Module):
    """images [B, C, H, W] -> tokens [B, (H/p)(W/p), D]; ``p`` must be a power of two (>= 2)."""

    def __init__(self, img_size: int | tuple[int, int] = 224, patch_size: int | tuple[int, int] = 16,
                 in_chans: int = 3, embed_dim: int = 768, **_: Any) -> None:
        super().__init__()
        p = patch_size[0] if isinstance(patch_size, tuple) else int(patch_size)
        size = img_size if isinstance(img_size, tuple) else (int(img_size), int(img_size))
        stages = round(math.log2(p))
        if p < 2 or 2**stages != p:
            raise ValueError(f"ConvStem: patch_size must be a power of two >= 2, got {p}")
        if size[0] % p or size[1] % p:
            raise ValueError(f"ConvStem: image size {size} is not a multiple of the patch size {p}")
        self.img_size = size
        self.patch_size = (p, p)
        self.grid_size = (size[0] // p, size[1] // p)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.in_chans = in_chans
        self.flatten = True
        self.dynamic_img_pad = False
        widths = [max(8, embed_dim // 2 ** (stages - 1 - i)) for i in range(stages)]
        layers: list[nn.Module] = []
        prev = in_chans
        for w in widths:
            layers += [nn.Conv2d(prev, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            prev = w
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(prev, embed_dim, 1)

    def feat_ratio(self, as_scalar: bool = True) -> int | tuple[int, int]:
        return self.patch_size[0] if as_scalar else self.patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != self.img_size:
            raise ValueError(f"ConvStem: input {tuple(x.shape[-2:])} does not match the image size {self.img_size}")
        return self.proj(self.convs(x)).flatten(2).transpose(1, 2)
