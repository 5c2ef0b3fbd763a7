"""Word-to-patch attention of the local (GLoRIA-style) loss, as one heatmap per word and per view.

The local loss lets every word of a report attend over the patches of *all* present views of its image (one
softmax over the patches of frontal, lateral and priors together). Those attention weights are what the model
"looked at" when it matched the word, so they are shown directly: no gradients, no extra model. The weights come
from ``losses.local_alignment_loss`` itself (its second output), never from a copy of the formula, so the picture
is exactly what training optimises.

Because the softmax runs over all views at once, the per-view maps of one word sum to 1 together: the share of a
word's attention that lands on the lateral view is itself informative (``view_share``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from clinvla_kit.config import SLOTS
from clinvla_kit.losses import local_alignment_loss


def _subset(batch, index: int):
    """One study of a Batch as a batch of one (the attention of a report with its own image needs nothing else)."""
    from dataclasses import replace

    if not 0 <= index < len(batch):
        raise IndexError(f"study index {index} out of range for a batch of {len(batch)}")
    sl = slice(index, index + 1)
    return replace(batch, images=batch.images[sl], present=batch.present[sl], input_ids=batch.input_ids[sl],
                   attention_mask=batch.attention_mask[sl], labels=batch.labels[sl],
                   study_ids=list(batch.study_ids[sl]), texts=list(batch.texts[sl]))


def _merge_subwords(tokens: list[str], attn: np.ndarray) -> tuple[list[str], np.ndarray]:
    """WordPiece pieces ("effus", "##ion") -> whole words, attention averaged over the pieces. attn [W, P]."""
    words: list[str] = []
    groups: list[list[int]] = []
    for i, t in enumerate(tokens):
        if t.startswith("##") and groups:
            words[-1] += t[2:]
            groups[-1].append(i)
        else:
            words.append(t)
            groups.append([i])
    return words, np.stack([attn[g].mean(axis=0) for g in groups]) if groups else attn[:0]


def word_patch_attention(model: nn.Module, batch, index: int = 0, merge_subwords: bool = True) -> dict[str, Any]:
    """The local loss's word-to-patch attention of study ``index`` with its own report, per word and per view.

    Args:
        model: a ClinVLA (its ``forward`` gives the projected local features, masks and local temperatures).
        batch: a ``Batch``; only study ``index`` is encoded (eval mode: no patch masking).
        merge_subwords: average WordPiece pieces into whole words (the display unit a reader expects).
    Returns:
        ``{"study_id", "words": [W'], "attention": [W', P] float (rows sum to 1 over present patches),
        "maps": {slot: [W', rows, cols]} for each present slot, "view_share": {slot: [W']},
        "grid": (rows, cols), "slots": [present slot names]}``. Masked patches (none in eval mode) are 0.
    """
    sub = _subset(batch, index)
    dev = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        out = model(sub.to(dev))
        _, attention = local_alignment_loss(out.img_local, out.txt_local, out.word_mask, out.patch_mask,
                                            out.local_temps)
    wmask = out.word_mask[0].bool().cpu()
    if not wmask.any():
        raise ValueError(f"study {sub.study_ids[0] if sub.study_ids else index}: the report has no words")
    attn = attention[0].float().cpu()[wmask].numpy()  # [W, P]
    ids = out.vision.patch_ids[0].cpu()  # [P, 3] (slot, row, col)
    pmask = out.patch_mask[0].bool().cpu()
    tokens = model.tokenizer.convert_ids_to_tokens(sub.input_ids[0][wmask.to(sub.input_ids.device)].tolist())
    words, attn = _merge_subwords(tokens, attn) if merge_subwords else (list(tokens), attn)
    rows, cols = (int(g) for g in model.vision.vit.patch_embed.grid_size)
    maps: dict[str, np.ndarray] = {}
    share: dict[str, np.ndarray] = {}
    for s, name in enumerate(SLOTS):
        sel = ((ids[:, 0] == s) & pmask).numpy()
        if not sel.any():
            continue
        grid = np.zeros((len(words), rows, cols), dtype=np.float32)
        grid[:, ids[sel, 1].numpy(), ids[sel, 2].numpy()] = attn[:, sel]
        maps[name] = grid
        share[name] = attn[:, sel].sum(axis=1)
    return {"study_id": sub.study_ids[0] if sub.study_ids else str(index), "words": words, "attention": attn,
            "maps": maps, "view_share": share, "grid": (rows, cols), "slots": list(maps)}


def select_words(result: dict[str, Any], words: list[str] | None = None, max_words: int = 8,
                 skip: tuple[str, ...] = (".", ",", ":", ";", "-", "the", "a", "of", "and", "is", "there")) -> list[int]:
    """Row indices of the words to draw: the given words (in that order; an unknown word raises), else the first
    ``max_words`` words that are not punctuation or filler."""
    if words is not None:
        missing = [w for w in words if w.lower() not in [x.lower() for x in result["words"]]]
        if missing:
            raise ValueError(f"word(s) {missing} not in the report's words {result['words']}")
        lower = [x.lower() for x in result["words"]]
        return [lower.index(w.lower()) for w in words]
    return [i for i, w in enumerate(result["words"]) if w.lower() not in skip][:max_words]


def plot_word_patch(result: dict[str, Any], images: torch.Tensor | np.ndarray, words: list[str] | None = None,
                    max_words: int = 6, normalization: str = "alta", size: float = 1.8, alpha: float = 0.5):
    """Matplotlib figure: one row per word, one column per present view, attention upsampled over the image.

    Args:
        result: ``word_patch_attention``'s output.
        images: the study's images [4, C, H, W] (model-normalised tensor, undone with ``normalization``) or
            [4, H, W] display images in [0, 1].
    Colour scale (viridis, colour-blind safe) is shared across a word's views, so a view the word ignores looks
    empty (that is the point).
    """
    import matplotlib.pyplot as plt

    from clinvla_kit.viz.figures import overlay

    rows_idx = select_words(result, words, max_words)
    slots = result["slots"]
    if not rows_idx or not slots:
        raise ValueError("nothing to draw: no words selected or no present view")
    disp = _display_images(images, normalization)
    fig, axes = plt.subplots(len(rows_idx), len(slots), figsize=(size * len(slots), size * len(rows_idx)),
                             squeeze=False)
    for r, w in enumerate(rows_idx):
        vmax = max(float(result["maps"][s][w].max()) for s in slots) or 1.0
        for c, s in enumerate(slots):
            ax = axes[r, c]
            ax.imshow(overlay(disp[SLOTS.index(s)], result["maps"][s][w], alpha=alpha, vmax=vmax, cmap="viridis"))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(s.replace("_", " "), fontsize=9)
            if c == 0:
                ax.set_ylabel(result["words"][w], fontsize=9)
            ax.text(0.02, 0.02, f"{result['view_share'][s][w]:.0%}", color="white", fontsize=9,
                    transform=ax.transAxes)
    fig.suptitle(f"study {result['study_id']}: word-to-patch attention (share of the word's attention per view)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def _display_images(images: torch.Tensor | np.ndarray, normalization: str) -> list[np.ndarray]:
    """[4, C, H, W] normalised tensor -> 4 display images [H, W] in [0, 1]; [4, H, W] passes through."""
    from clinvla_kit.data.images import denormalize

    arr = images.detach().cpu() if torch.is_tensor(images) else np.asarray(images)
    if arr.ndim == 4:
        return [denormalize(arr[i], normalization) for i in range(arr.shape[0])]
    if arr.ndim == 3:
        return [np.asarray(arr[i], dtype=np.float32) for i in range(arr.shape[0])]
    raise ValueError(f"images must be [4, C, H, W] or [4, H, W], got {tuple(arr.shape)}")
