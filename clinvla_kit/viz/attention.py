"""Grad-CAM on the ViT image tower with a report-similarity target (pytorch-grad-cam).

What the map answers: "which patches of this view, if they changed, would most change how similar the image
embedding is to this report (or prompt)?" The target is the cosine similarity between the study's joint-space
image embedding and a text embedding, so the same image gets a different map for "left pleural effusion" than for
"cardiomegaly".

Choices (see NOTEBOOK_FACTS.md):
- target layer ``vit.blocks[-1].norm1``: the last block's input tokens still carry per-patch information;
  ``blocks[-1]`` itself or the final norm give all-zero maps with no error;
- reshape transform: drop the prefix (CLS) tokens and put the kept patch tokens back on the full patch grid with
  their kept indices (``scatter_to_grid``), so a masked forward pass can never be reshaped silently wrong;
- one slot at a time: the image tower fuses the present views by the mean of their CLS tokens, and Grad-CAM needs
  one activation row per target output, so the wrapper encodes a single slot's image as a one-view study
  ([B, C, H, W] -> [B, D]). The map explains that view's own embedding, not its share in a four-view study;
- no ``torch.no_grad()`` and the input is made to require grad, so a fully frozen tower (no adapters) still
  propagates gradients to the hooked layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clinvla_kit.config import SLOTS
from clinvla_kit.model.masking import scatter_to_grid


def slot_index(slot: str | int) -> int:
    """A slot name (``SLOTS``) or index -> index; a clear error for anything else."""
    if isinstance(slot, int) and 0 <= slot < len(SLOTS):
        return slot
    if isinstance(slot, str) and slot in SLOTS:
        return SLOTS.index(slot)
    raise ValueError(f"unknown slot {slot!r}; slots are {SLOTS}")


class SlotImageTower(nn.Module):
    """Wraps a ClinVLA so that one slot's image [B, C, H, W] maps to its normalised image embedding [B, D].

    The image is placed in slot ``slot`` of an otherwise empty study (present only there), which is what the tower
    encodes as a one-view study. Same computation as ``ClinVLA.encode_image`` (tower, global head, L2 norm), done
    here in two steps so that ``keep`` [B, K] (the flat patch index of every token of the last forward pass, from
    ``VisionOutput.patch_ids``) is available to the reshape transform.
    """

    def __init__(self, model: nn.Module, slot: str | int = "frontal") -> None:
        super().__init__()
        self.model = model
        self.slot = slot_index(slot)
        self.keep: torch.Tensor | None = None
        enabled = getattr(model.vision, "enabled_slots", None)
        if enabled is not None and not bool(enabled[self.slot]):
            raise ValueError(f"slot {SLOTS[self.slot]!r} is disabled by this model's config "
                             "(model.vision.multiview / temporal); its image is never encoded")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"SlotImageTower expects one view per study [B, C, H, W], got {tuple(x.shape)}")
        if not x.requires_grad:  # a frozen tower without adapters would otherwise give no gradient at all
            x = x.detach().requires_grad_(True)
        # The hooked layer's forward hook reshapes its tokens *during* this pass, before ``keep`` of this pass is
        # known: a value left from the previous pass (another batch size) would be used there. None means "every
        # patch in order", which is what eval mode encodes, and the transform raises for anything else.
        self.keep = None
        b = x.shape[0]
        images = x.new_zeros((b, len(SLOTS)) + tuple(x.shape[1:]))
        images = images.index_copy(1, torch.tensor([self.slot], device=x.device), x[:, None])
        present = torch.zeros(b, len(SLOTS), dtype=torch.bool, device=x.device)
        present[:, self.slot] = True
        vis = self.model.vision(images, present)
        ids, mask = vis.patch_ids, vis.patch_mask  # [B, P, 3], [B, P]: one present view -> its K tokens per study
        gw = int(self.model.vision.vit.patch_embed.grid_size[1])
        k = int(mask[0].sum())
        sel = (ids[..., 0] == self.slot) & mask
        if not bool((sel.sum(1) == k).all()):
            raise RuntimeError(f"slot {SLOTS[self.slot]!r} was not encoded for every study (eval_views setting?)")
        flat = ids[..., 1] * gw + ids[..., 2]
        self.keep = flat[sel].reshape(b, k)
        return F.normalize(self.model.heads.img_global(vis.global_emb), dim=-1)


class SimilarityTarget:
    """Grad-CAM target: cosine similarity between one sample's image embedding [D] and a text embedding [D]."""

    def __init__(self, text_embedding: torch.Tensor) -> None:
        self.text = text_embedding

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(model_output, self.text.to(model_output), dim=-1)


def vit_reshape_transform(
    vit: nn.Module, keep: Callable[[], torch.Tensor | None] | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Tokens [M, prefix + K, D] at a block of ``vit`` -> feature maps [M, D, rows, cols].

    ``keep()`` returns the kept flat patch indices [M, K] of the current pass (None or no callable: all patches in
    order, which is what eval mode encodes). Kept tokens are scattered back to the full grid, masked patches are
    zero. A token count that does not match (K > grid, or K < grid without indices) raises instead of reshaping
    silently wrong.
    """
    rows, cols = (int(g) for g in vit.patch_embed.grid_size)
    n_prefix = int(getattr(vit, "num_prefix_tokens", 1))

    def transform(tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, n_prefix:]
        m, k, d = patches.shape
        idx = keep() if keep is not None else None
        if idx is None:
            if k != rows * cols:
                raise ValueError(f"{k} patch tokens for a {rows}x{cols} grid and no kept indices to place them")
            grid = patches
        else:
            if tuple(idx.shape) != (m, k):
                raise ValueError(f"kept indices {tuple(idx.shape)} do not match the tokens [{m}, {k}]")
            grid = scatter_to_grid(patches, idx.to(patches.device), rows * cols)
        return grid.reshape(m, rows, cols, d).permute(0, 3, 1, 2)

    return transform


def encode_texts(model: nn.Module, texts: Sequence[str]) -> torch.Tensor:
    """Reports or prompts -> their normalised joint-space embeddings [T, D] in one forward pass (eval mode, no
    gradient)."""
    model.eval()
    tok = model.tokenize([str(t) for t in texts])
    dev = next(model.parameters()).device
    with torch.no_grad():
        return model.encode_text(tok["input_ids"].to(dev), tok["attention_mask"].to(dev), normalize=True)


def encode_prompt(model: nn.Module, text: str) -> torch.Tensor:
    """A report or prompt -> its normalised joint-space embedding [D] (eval mode, no gradient)."""
    if not str(text).strip():
        raise ValueError("encode_prompt: the text is empty")
    return encode_texts(model, [text])[0]


def _as_text_embedding(model: nn.Module, text_embedding) -> torch.Tensor:
    if isinstance(text_embedding, str):
        return encode_prompt(model, text_embedding)
    t = torch.as_tensor(np.asarray(text_embedding.detach().cpu() if torch.is_tensor(text_embedding)
                                   else text_embedding), dtype=torch.float32)
    if t.dim() == 2 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 1:
        raise ValueError(f"text_embedding must be [D] (or [1, D]) or a string, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError("text_embedding has non-finite values")
    return t


def _slot_images(batch_or_images, present, index: int, slot: int) -> torch.Tensor:
    """Batch / [B, 4, C, H, W] / [4, C, H, W] -> the chosen study's slot image [1, C, H, W] (checked present)."""
    if hasattr(batch_or_images, "images") and hasattr(batch_or_images, "present"):
        images, present = batch_or_images.images, batch_or_images.present if present is None else present
    else:
        images = torch.as_tensor(batch_or_images)
    if images.dim() == 4:
        images = images[None]
    if images.dim() != 5 or images.shape[1] != len(SLOTS):
        raise ValueError(f"images must be [B, 4, C, H, W] or [4, C, H, W], got {tuple(images.shape)}")
    if not 0 <= index < images.shape[0]:
        raise IndexError(f"study index {index} out of range for a batch of {images.shape[0]}")
    if present is not None:
        pres = torch.as_tensor(present).bool()
        pres = pres[None] if pres.dim() == 1 else pres
        if not bool(pres[index, slot]):
            raise ValueError(f"study {index} has no {SLOTS[slot]!r} image (present={pres[index].tolist()})")
    return images[index, slot][None].float()


def gradcam_similarity(
    model: nn.Module, batch_or_images, present: torch.Tensor | None, text_embedding, slot: str | int = "frontal",
    index: int = 0, eigen_smooth: bool = False,
) -> np.ndarray:
    """Grad-CAM of one view against a text: -> heatmap [H, W] in [0, 1] (the view's image size).

    Args:
        model: a ClinVLA (``vision.vit``, ``encode_image``, ``encode_text``, ``tokenize``); put in eval mode here.
        batch_or_images: a ``Batch``, images [B, 4, C, H, W] or one study [4, C, H, W] (model-normalised).
        present: [B, 4] / [4] presence (None: taken from the Batch, or not checked).
        text_embedding: [D] joint-space report/prompt embedding, or the text itself (encoded with the model).
        slot: which view to explain ("frontal", "lateral", "prior_frontal", "prior_lateral").
        index: which study of the batch.
        eigen_smooth: pytorch-grad-cam's first-principal-component smoothing (less noisy, sign-agnostic).
    Warns when the map is all zero: every patch pushes the similarity down (Grad-CAM keeps positive evidence only).
    """
    s = slot_index(slot)
    text = _as_text_embedding(model, text_embedding)
    x = _slot_images(batch_or_images, present, index, s)
    out = gradcam_batch(model, x, text[None], slot=s, eigen_smooth=eigen_smooth)[0]
    if not out.any():
        warnings.warn(f"Grad-CAM map of slot {SLOTS[s]!r} is all zero: no patch raises the similarity to this text "
                      "(try another text, eigen_smooth=True, or a trained run)", stacklevel=2)
    return out


def gradcam_batch(model: nn.Module, images: torch.Tensor, text_embeddings: torch.Tensor, slot: str | int = "frontal",
                  eigen_smooth: bool = False, chunk: int = 32, block: int = -1, cam_class: type | None = None,
                  ) -> np.ndarray:
    """Grad-CAM of N images of one slot, each against its own text: images [N, C, H, W] (model-normalised),
    text_embeddings [N, D] -> heatmaps [N, H, W] in [0, 1] (each scaled by its own maximum).

    One forward and backward pass per ``chunk`` images instead of one per image (the per-call cost of hooks and a
    batch of one dominates on a CPU). The maps equal ``gradcam_similarity``'s one by one: each sample's target
    depends on its own output only, the Grad-CAM weights are averaged per sample, and the heads' batch norm uses
    its running statistics in eval mode, so samples of a chunk do not interact.

    ``block`` (which ViT block's ``norm1`` is hooked) and ``cam_class`` (a pytorch-grad-cam class, default GradCAM)
    exist for comparing variants (``bench/bench_gradcam_variants.py``); the kit's maps use the defaults.
    """
    from pytorch_grad_cam import GradCAM

    cam_class = GradCAM if cam_class is None else cam_class

    s = slot_index(slot)
    if images.dim() != 4 or text_embeddings.dim() != 2 or images.shape[0] != text_embeddings.shape[0]:
        raise ValueError(f"gradcam_batch needs images [N, C, H, W] and text_embeddings [N, D] of the same N, got "
                         f"{tuple(images.shape)} and {tuple(text_embeddings.shape)}")
    device = next(model.parameters()).device
    model.eval()
    wrapper = SlotImageTower(model, s)
    vit = model.vision.vit
    cam = cam_class(model=wrapper, target_layers=[vit.blocks[block].norm1],
                  reshape_transform=vit_reshape_transform(vit, lambda: wrapper.keep))
    outs = []
    try:
        for start in range(0, images.shape[0], chunk):
            x = images[start:start + chunk].float().to(device)
            targets = [SimilarityTarget(t.to(device)) for t in text_embeddings[start:start + chunk]]
            with torch.enable_grad():
                outs.append(np.asarray(cam(input_tensor=x, targets=targets, eigen_smooth=eigen_smooth),
                                       dtype=np.float32))
    finally:
        cam.activations_and_grads.release()
    out = np.concatenate(outs) if outs else np.zeros((0,) + tuple(images.shape[-2:]), np.float32)
    if not np.isfinite(out).all():
        raise FloatingPointError("Grad-CAM produced non-finite values (non-finite weights or inputs?)")
    return out


def gradcam_views(
    model: nn.Module, batch_or_images, present: torch.Tensor | None, text_embedding, index: int = 0,
    eigen_smooth: bool = False,
) -> dict[str, np.ndarray]:
    """``gradcam_similarity`` for every present slot of one study: slot name -> heatmap [H, W]."""
    if hasattr(batch_or_images, "present") and present is None:
        present = batch_or_images.present
    if present is None:
        raise ValueError("gradcam_views needs `present` to know which slots hold an image")
    pres = torch.as_tensor(present).bool()
    pres = pres[None] if pres.dim() == 1 else pres
    text = _as_text_embedding(model, text_embedding)
    enabled = getattr(model.vision, "enabled_slots", torch.ones(len(SLOTS), dtype=torch.bool))
    out: dict[str, np.ndarray] = {}
    for s, name in enumerate(SLOTS):
        if bool(pres[index, s]) and bool(enabled[s]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[name] = gradcam_similarity(model, batch_or_images, pres, text, slot=s, index=index,
                                               eigen_smooth=eigen_smooth)
    return out
