"""Typed outputs of the towers and of the composed model (style rule 8: embeddings plus masks, never losses)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class VisionOutput:
    """Image tower output for a batch of studies.

    Attributes:
        global_emb: [B, Dv] mean of the per-view CLS tokens over present views.
        view_cls: [B, V, Dv] CLS token of each slot (V = 4 slots; zeros where absent).
        patch_tokens: [B, P, Dv] kept patch tokens of all slots concatenated (P = sum of kept patches per slot).
        patch_ids: [B, P, 3] long, (slot, row, col) of each patch token on the full patch grid.
        patch_mask: [B, P] bool, True for tokens of present views (False for the missing-view token's slot).
    """

    global_emb: torch.Tensor
    view_cls: torch.Tensor
    patch_tokens: torch.Tensor
    patch_ids: torch.Tensor
    patch_mask: torch.Tensor


@dataclass
class TextOutput:
    """Text tower output.

    Attributes:
        global_emb: [B, Dt] CLS embedding.
        word_emb: [B, T, Dt] token embeddings.
        word_mask: [B, T] bool, True for real words (padding and special tokens excluded).
    """

    global_emb: torch.Tensor
    word_emb: torch.Tensor
    word_mask: torch.Tensor


@dataclass
class ClinVLAOutput:
    """Everything the losses need, in the joint space.

    Attributes:
        img_global: [B, D] projected global image embedding (not normalised).
        txt_global: [B, D] projected global report embedding (not normalised).
        img_local: [B, P, D] projected patch features.
        txt_local: [B, T, D] projected word features.
        patch_mask: [B, P] bool.  word_mask: [B, T] bool.
        logit_scale: scalar tensor, the multiplier itself (exp of the learnable log scale, clamped).
        local_temps: [3] tensor (t1, t2, t3) of the local loss.
        vision: the raw VisionOutput (patch ids for attention maps).
        extra_losses: optional auxiliary terms computed inside the model (e.g. {"mae": ..., "mlm": ...}),
            empty when their weights are zero.
    """

    img_global: torch.Tensor
    txt_global: torch.Tensor
    img_local: torch.Tensor
    txt_local: torch.Tensor
    patch_mask: torch.Tensor
    word_mask: torch.Tensor
    logit_scale: torch.Tensor
    local_temps: torch.Tensor
    vision: VisionOutput | None = None
    extra_losses: dict[str, torch.Tensor] | None = None
