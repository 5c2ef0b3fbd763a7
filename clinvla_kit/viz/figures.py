"""Figure helpers shared by the notebooks: studies, image grids, heatmap overlays, loss curves, report diffs.

Matplotlib for pictures of images (static, small in a saved notebook), plotly for curves a learner wants to hover
and zoom. Every helper returns the figure (or HTML string) and draws nothing by itself, so a notebook cell decides
whether to show it and ``save_figure`` writes it to ``out_dir`` for the notebook tests.
"""

from __future__ import annotations

import difflib
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.config import SLOTS

LOG_NON_LOSS_KEYS = frozenset({"step", "epoch", "time", "grad_norm", "studies_per_s", "skipped"})
"""Keys of ``log.jsonl`` records that are not loss terms (learning rates are recognised by their ``lr`` prefix)."""


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D float map to ``shape`` (rows, cols)."""
    import cv2

    if a.shape == tuple(shape):
        return a.astype(np.float32)
    return cv2.resize(a.astype(np.float32), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


def overlay(img: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, cmap: str = "jet",
            vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Heatmap over a grey (or RGB) image -> RGB [H, W, 3] float in [0, 1].

    Args:
        img: [H, W] or [H, W, 3], any range (min-max scaled for display).
        heatmap: [h, w], any size: upsampled bilinearly to the image (a 4x4 patch map becomes smooth blobs).
        vmin / vmax: colour limits (default the map's own min and max; give a shared vmax to compare maps).
    """
    import matplotlib

    img = np.asarray(img, dtype=np.float32)
    heat = np.asarray(heatmap, dtype=np.float32)
    if img.ndim not in (2, 3) or heat.ndim != 2:
        raise ValueError(f"overlay needs img [H, W] or [H, W, 3] and heatmap [h, w]; got {img.shape}, {heat.shape}")
    if not np.isfinite(heat).all():
        raise ValueError("overlay: heatmap has non-finite values")
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    base = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=2)
    heat = _resize(heat, base.shape[:2])
    lo = float(heat.min()) if vmin is None else float(vmin)
    hi = float(heat.max()) if vmax is None else float(vmax)
    norm = np.clip((heat - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(heat)
    colour = matplotlib.colormaps[cmap](norm)[..., :3]
    return np.clip((1 - alpha) * base + alpha * colour, 0.0, 1.0).astype(np.float32)


def image_grid(images: Sequence[np.ndarray | None], titles: Sequence[str] | None = None, ncols: int | None = None,
               size: float = 2.4, cmap: str = "gray", suptitle: str | None = None):
    """Matplotlib figure with one panel per image (``None`` draws an empty "missing" panel).

    images: [H, W] grey or [H, W, 3] RGB arrays; titles: one per image.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"image_grid: {n} images but {len(titles)} titles")
    ncols = min(n, ncols or n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        if img is None:
            ax.text(0.5, 0.5, "missing", ha="center", va="center", color="grey", transform=ax.transAxes)
        else:
            arr = np.asarray(img)
            ax.imshow(arr, cmap=cmap if arr.ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def show_study(record: Any, size: int = 128, titles: bool = True, panel: float = 2.4, remove_burned_in: bool = True):
    """The four slots of a ``StudyRecord`` in a row (frontal, lateral, prior frontal, prior lateral), with labels.

    Images are read with the data package's ``read_image`` (DICOM or JPEG/PNG; a bad file raises naming it),
    burned-in text removed (``remove_burned_in``, see ``clinvla_kit.data.display``) and resized to ``size``; the
    title names the positive CheXpert labels.
    """
    from clinvla_kit.data.display import read_for_display
    from clinvla_kit.data.images import resize

    imgs = []
    for slot in SLOTS:
        path = record.images.get(slot)
        imgs.append(None if path is None else resize(read_for_display(path, remove_burned_in), size))
    names = [s.replace("_", " ") for s in SLOTS] if titles else None
    positive = [k for k, v in (getattr(record, "labels", {}) or {}).items() if v == 1.0]
    sup = f"study {record.study_id} ({record.split}): {', '.join(positive) or 'no positive label'}"
    return image_grid(imgs, names, ncols=len(SLOTS), size=panel, suptitle=sup)


def loss_terms(records: Sequence[dict[str, Any]]) -> list[str]:
    """Loss-term keys of ``log.jsonl`` records, in first-seen order ("loss" first when present)."""
    keys: list[str] = []
    for r in records:
        for k, v in r.items():
            if k in LOG_NON_LOSS_KEYS or k.startswith("lr") or k in keys:
                continue
            if isinstance(v, (int, float)) or v in ("nan", "inf", "-inf"):
                keys.append(k)
    return sorted(keys, key=lambda k: (k != "loss", keys.index(k)))


def loss_curves(log_jsonl: str | Path, title: str | None = None):
    """Plotly figure of ``log.jsonl`` (a run directory or the file): one line per loss term against the step.

    Non-finite values (written as strings by the logger) become gaps. Raises naming the file when it is missing,
    empty, or has a line that is not JSON.
    """
    import json

    import plotly.graph_objects as go

    path = Path(log_jsonl)
    if path.is_dir():
        path = path / "log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training log (log.jsonl) here")
    records = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {i}: not valid JSON ({e})") from e
    if not records:
        raise ValueError(f"{path}: the log is empty (no step was logged yet)")
    fig = go.Figure()
    for term in loss_terms(records):
        rows = [r for r in records if term in r and "step" in r]
        ys = [float(r[term]) if isinstance(r[term], (int, float)) else None for r in rows]
        fig.add_trace(go.Scatter(x=[r["step"] for r in rows], y=ys, mode="lines+markers", name=term))
    fig.update_layout(title=title or f"loss terms ({path.parent.name})", xaxis_title="step", yaxis_title="loss",
                      template="plotly_white", height=360)
    return fig


def report_diff_html(before: str, after: str) -> str:
    """Word-level diff of a report before and after cleaning as HTML: removed words struck through in red,
    added words underlined in green, line breaks kept. Inputs are HTML-escaped."""
    import re

    a = re.findall(r"\S+|\n", before)
    b = re.findall(r"\S+|\n", after)
    parts: list[str] = []

    def emit(words: list[str], style: str | None) -> None:
        for w in words:
            if w == "\n":
                parts.append("<br>")
                continue
            text = html.escape(w)
            parts.append(f'<span style="{style}">{text}</span> ' if style else f"{text} ")

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            emit(a[i1:i2], None)
        if op in ("delete", "replace"):
            emit(a[i1:i2], "color:#b00020;text-decoration:line-through;background:#fde7ea")
        if op in ("insert", "replace"):
            emit(b[j1:j2], "color:#0a6e2e;text-decoration:underline;background:#e6f4ea")
    return '<div style="font-family:monospace;line-height:1.5">' + "".join(parts).rstrip() + "</div>"


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure (png/pdf/svg) or a plotly figure (.html with plotly.js inlined, so it opens with
    no network; .png needs kaleido and a browser) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(fig, "write_html"):
        if path.suffix == ".html":
            fig.write_html(str(path), include_plotlyjs=True, full_html=True)
        else:
            fig.write_image(str(path))
    elif hasattr(fig, "savefig"):
        fig.savefig(str(path), dpi=dpi, bbox_inches="tight")
    else:
        raise TypeError(f"save_figure: not a matplotlib or plotly figure: {type(fig).__name__}")
    return path
