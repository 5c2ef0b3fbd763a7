"""Figures of the training and evaluation notebooks (02 masked pretraining, 04 retrieval and zero-shot).

- ``reconstruction_figure``: an MAE's reconstructions of a few images at several mask ratios (why 75%: the model
  still recovers the anatomy from a quarter of the patches);
- ``retrieval_examples_figure``: qualitative text-to-image and image-to-text results with similarity scores, laid
  out like the ClinVLA paper's Figures 3-4 (green title = same class as the query);
- ``confusion_figure``: a confusion matrix with counts.
All return matplotlib figures; ``viz.figures.save_figure`` writes them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

# Okabe-Ito blue / vermillion: told apart with every common colour-vision deficiency; a mark says it in text too
OK_COLOUR, BAD_COLOUR = "#0072B2", "#D55E00"
OK_MARK, BAD_MARK = "\u2713 same class", "\u2717 other class"


def to_display(img: torch.Tensor) -> np.ndarray:
    """A model-input image ``[C, H, W]`` (normalised, grey replicated to channels) -> ``[H, W]`` in [0, 1].

    Why min-max per image: the normalisation constants differ between presets, and MAE reconstructions with
    ``norm_pix_loss`` are only defined up to each patch's grey level; stretching makes both comparable by eye.
    """
    a = img.detach().float().cpu().numpy()
    a = a.mean(axis=0) if a.ndim == 3 else a
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a) if hi - lo < 1e-12 else (a - lo) / (hi - lo)


def reconstruction_figure(mae: Any, images: torch.Tensor, ratios: Sequence[float] = (0.25, 0.5, 0.75, 0.9),
                          seed: int = 0, panel: float = 1.6):
    """Rows = images, columns = the original, then (masked input, reconstruction) per mask ratio.

    Args:
        mae: a ``clinvla_kit.model.mae.MAE`` (trained or not).
        images: [N, C, H, W] model inputs at the MAE's image size.
        ratios: mask ratios in [0, 1); the same ``seed`` draws the masks, so columns differ only by the ratio.
    """
    import matplotlib.pyplot as plt

    from clinvla_kit.model.mae import reconstruct

    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"reconstruction_figure: images must be [N, C, H, W] with N >= 1, got {tuple(images.shape)}")
    bad = [r for r in ratios if not 0.0 <= float(r) < 1.0]
    if bad or not ratios:
        raise ValueError(f"reconstruction_figure: mask ratios must be in [0, 1), got {list(ratios)}")
    device = next(mae.parameters()).device
    images = images.to(device)
    results = [reconstruct(mae, images, mask_ratio=float(r), seed=seed) for r in ratios]
    n, ncols = images.shape[0], 1 + 2 * len(ratios)
    fig, axes = plt.subplots(n, ncols, figsize=(panel * ncols, panel * n), squeeze=False)
    for i in range(n):
        panels = [(to_display(images[i]), "original")]
        for r, (masked, recon) in zip(ratios, results):
            panels += [(to_display(masked[i]), f"{round(100 * r)}% masked"), (to_display(recon[i]), "recon.")]
        for ax, (arr, title) in zip(axes[i], panels):
            ax.imshow(arr, cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            if i == 0:
                ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _thumb(path: str, size: int) -> np.ndarray:
    from clinvla_kit.data.display import read_for_display  # burned-in text removed, as in the demo
    from clinvla_kit.data.images import resize

    return resize(read_for_display(path), size)


def retrieval_examples_figure(text_to_image: Sequence[Mapping[str, Any]], image_to_text: Sequence[Mapping[str, Any]],
                              size: int = 96, panel: float = 2.7, wrap: int = 26, report_chars: int = 120):
    """Qualitative retrieval, one row per query: the query (text or image), then its ranked hits with scores.

    Args:
        text_to_image / image_to_text: the lists of ``eval.tables.text_to_image_examples`` /
            ``image_to_text_examples`` (either may be empty, not both).
        size: thumbnail side in pixels; ``wrap`` / ``report_chars``: text layout of the text panels.
    """
    import matplotlib.pyplot as plt

    rows = [("t2i", q) for q in text_to_image] + [("i2t", q) for q in image_to_text]
    if not rows:
        raise ValueError("retrieval_examples_figure: no examples given")
    k = max(len(q["hits"]) for _, q in rows)
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(panel * (k + 1), panel * 1.25 * len(rows)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (kind, q) in enumerate(rows):
        head = axes[r][0]
        if kind == "t2i":
            head.text(0.0, 0.5, "TEXT QUERY\n" + textwrap.fill(str(q["query"])[:report_chars], wrap), fontsize=9,
                      va="center", ha="left", transform=head.transAxes, family="monospace")
        else:
            head.imshow(_thumb(q["path"], size), cmap="gray")
            head.set_title(f"IMAGE QUERY\n{q['label']}", fontsize=9)
        for c, hit in enumerate(q["hits"], start=1):
            ax = axes[r][c]
            colour = OK_COLOUR if hit["correct"] else BAD_COLOUR
            mark = OK_MARK if hit["correct"] else BAD_MARK
            if kind == "t2i":
                ax.imshow(_thumb(hit["path"], size), cmap="gray")
                ax.set_title(f"#{c} sim {hit['score']:.3f}\n{hit['label']}\n{mark}", fontsize=9, color=colour)
            else:
                own = " (own report)" if hit.get("own") else ""
                body = textwrap.fill(str(hit["report"]).replace("\n", " ")[:report_chars], wrap)
                ax.text(0.0, 1.0, f"#{c} sim {hit['score']:.3f}{own}\n{hit['label']} {mark}\n\n{body}", fontsize=9,
                        va="top", ha="left", transform=ax.transAxes, color=colour, family="monospace")
    fig.tight_layout()
    return fig


def confusion_figure(confusion: Sequence[Sequence[float]], classes: Sequence[str], title: str = "zero-shot 5x200",
                     size: float = 4.2):
    """Confusion matrix (rows = true class, columns = predicted), counts written in the cells."""
    import matplotlib.pyplot as plt

    m = np.asarray(confusion, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(classes):
        raise ValueError(f"confusion_figure: a {len(classes)}x{len(classes)} matrix is needed, got shape {m.shape}")
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(classes)), [c[:14] for c in classes], rotation=45, ha="right", fontsize=9)
    ax.set_yticks(range(len(classes)), [c[:14] for c in classes], fontsize=9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = m.max() if m.size else 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=9,
                    color="white" if top and m[i, j] > top / 2 else "black")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
