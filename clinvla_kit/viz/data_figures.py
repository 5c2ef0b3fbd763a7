"""Figures and small tables for the data notebook (01_data_and_preprocessing).

Each helper turns the output of one preprocessing step (marker boxes, quality verdicts, DICOM decoding stages,
normalisation presets, the MAE patch mask, the labeler, the tokenizer) into something a learner can look at. They
compute nothing the data package does not already compute, except ``dicom_stages``, which re-runs pydicom's
stages one by one so the notebook can show each intermediate image (``read_image`` returns only the last).
Like ``viz.figures``, every helper returns a figure, a DataFrame or an HTML string and draws nothing itself.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.viz.figures import image_grid

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive, as ``clinvla_kit.data.markers`` returns


def draw_boxes(img: np.ndarray, boxes: Sequence[Box], color: tuple[float, float, float] = (1.0, 0.0, 0.0),
               width: int = 1) -> np.ndarray:
    """Outline ``boxes`` on a grey ``[H, W]`` image in [0, 1] -> RGB ``[H, W, 3]`` float32.

    Drawn in numpy (not ``cv2.rectangle``) so that the box edges are exactly the pixels ``x0 .. x1 - 1``,
    ``y0 .. y1 - 1`` of the exclusive convention the marker detector uses.
    """
    img = np.asarray(img, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"draw_boxes expects a grey [H, W] image, got shape {img.shape}")
    out = np.repeat(np.clip(img, 0.0, 1.0)[..., None], 3, axis=2)
    h, w = img.shape
    col = np.asarray(color, dtype=np.float32)
    for x0, y0, x1, y1 in boxes:
        x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
        if x1 <= x0 or y1 <= y0:
            continue
        out[y0 : min(y0 + width, y1), x0:x1] = col
        out[max(y1 - width, y0) : y1, x0:x1] = col
        out[y0:y1, x0 : min(x0 + width, x1)] = col
        out[y0:y1, max(x1 - width, x0) : x1] = col
    return out


def marker_figure(before: np.ndarray, after: np.ndarray, boxes: Sequence[Box], title: str | None = None,
                  size: float = 3.0):
    """Before (detected boxes in red) | after inpainting | what changed (|after - before|, brightest = most).

    The third panel is the honest check: removal must change only the glyph pixels, never the lung.
    """
    before = np.asarray(before, dtype=np.float32)
    after = np.asarray(after, dtype=np.float32)
    if before.shape != after.shape:
        raise ValueError(f"marker_figure: before {before.shape} and after {after.shape} differ in shape")
    diff = np.abs(after - before)
    return image_grid([draw_boxes(before, boxes), after, diff],
                      [f"before: {len(boxes)} marker box(es)", "after inpainting", "changed pixels"],
                      size=size, suptitle=title)


def quality_figure(images: Sequence[np.ndarray], results: Sequence[Any], names: Sequence[str] | None = None,
                   size: float = 2.6, ncols: int = 4, wrap: int = 30):
    """One panel per image titled with its ``screen_quality`` verdict (reason wrapped to ``wrap`` characters)."""
    if len(images) != len(results):
        raise ValueError(f"quality_figure: {len(images)} images but {len(results)} results")
    titles = []
    for i, r in enumerate(results):
        head = f"{names[i]}: " if names is not None else ""
        verdict = "OK" if r.ok else "REJECT"
        titles.append(textwrap.fill(f"{head}{verdict} - {r.reason}", wrap))
    return image_grid(list(images), titles, ncols=ncols, size=size)


def dicom_header(path: str | Path) -> dict[str, Any]:
    """The tags that decide how a DICOM radiograph is turned into grey values (header only, no pixels)."""
    import pydicom

    ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    keys = ("PhotometricInterpretation", "BitsAllocated", "BitsStored", "RescaleSlope", "RescaleIntercept",
            "WindowCenter", "WindowWidth", "Rows", "Columns")
    out = {k: ds.get(k) for k in keys}
    out["VOILUTSequence"] = "present" if ds.get("VOILUTSequence") else None
    return {k: (str(v) if v is not None else None) for k, v in out.items()}


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)


def dicom_stages(path: str | Path) -> dict[str, np.ndarray]:
    """The decoding stages of one DICOM, each min-max scaled to [0, 1] for display ([H, W] float32 each).

    Keys, in order: "stored pixels" (raw ``pixel_array``), "modality LUT" (RescaleSlope/Intercept applied),
    "windowed" (WindowCenter/Width, or unchanged when the file has none), "MONOCHROME1 inverted" (only for
    MONOCHROME1, which stores bone dark) and "read_image" (what the kit feeds the model; equals the previous
    stage). Showing them side by side makes the two classic silent bugs visible: a MONOCHROME1 film shown
    negative, and a 12-bit film shown without its window (flat grey).
    """
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_windowing

    from clinvla_kit.data.images import read_image

    ds = pydicom.dcmread(str(path))
    raw = ds.pixel_array
    stages = {"stored pixels": _unit(raw)}
    arr = np.asarray(apply_modality_lut(raw, ds), dtype=np.float64)
    stages["modality LUT"] = _unit(arr)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        arr = np.asarray(apply_windowing(arr, ds, index=0), dtype=np.float64)
    stages["windowed"] = _unit(arr)
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        stages["MONOCHROME1 inverted"] = 1.0 - stages["windowed"]
    stages["read_image"] = read_image(path)
    return stages


def normalization_table(img: np.ndarray) -> Any:
    """DataFrame: per preset in ``NORMALIZATION`` its (mean, std) and the mean / std / min / max of the model
    input it produces from ``img`` ([H, W] in [0, 1]). The presets differ because each protocol matches the
    statistics its backbone was trained with; a checkpoint must see inputs normalised its own way."""
    import pandas as pd

    from clinvla_kit.data.images import NORMALIZATION, to_model_input

    rows = []
    for name, (mean, std) in NORMALIZATION.items():
        x = to_model_input(np.asarray(img, dtype=np.float32), name).numpy()
        rows.append({"preset": name, "mean": str(mean), "std": str(std), "input mean": float(x.mean()),
                     "input std": float(x.std()), "input min": float(x.min()), "input max": float(x.max())})
    return pd.DataFrame(rows)


def normalization_figure(img: np.ndarray, bins: int = 60):
    """Histograms of the model input (channel 0) under every normalisation preset, on shared axes."""
    import matplotlib.pyplot as plt

    from clinvla_kit.data.images import NORMALIZATION, to_model_input

    fig, ax = plt.subplots(figsize=(6, 3))
    for name in NORMALIZATION:
        x = to_model_input(np.asarray(img, dtype=np.float32), name)[0].numpy().ravel()
        ax.hist(x, bins=bins, histtype="step", label=name)
    ax.axvline(0.0, color="grey", lw=0.5)
    ax.set_xlabel("model input value")
    ax.set_ylabel("pixels")
    ax.set_title("one image, three normalisation presets")
    ax.legend()
    fig.tight_layout()
    return fig


def masked_views(images: Mapping[str, np.ndarray], ratio: float = 0.75, patch: int = 16, seed: int = 0,
                 size: float = 3.0):
    """Draw each view as the masked image encoder sees it (dropped patches black), independently per view.

    Args:
        images: view name -> ``[H, W]`` in [0, 1], sides multiples of ``patch``.
    Returns:
        (figure with one column per view: full image on top, masked below; kept indices per view ``{name: [K]}``).
        Each view gets its own stream (``seed + i``) because the model masks views independently: a finding
        hidden on one view may still be visible on the other.
    """
    from clinvla_kit.data.patches import draw_masked, random_patch_mask

    if not images:
        raise ValueError("masked_views needs at least one view")
    kept: dict[str, Any] = {}
    top, bottom, titles_top, titles_bottom = [], [], [], []
    for i, (name, img) in enumerate(images.items()):
        h, w = np.asarray(img).shape
        n = (h // patch) * (w // patch)
        keep = random_patch_mask(n, ratio, seed + i)
        kept[name] = keep
        top.append(np.asarray(img, dtype=np.float32))
        bottom.append(draw_masked(np.asarray(img, dtype=np.float32), keep, patch))
        titles_top.append(f"{name}: {n} patches")
        titles_bottom.append(f"kept {len(keep)} of {n} ({100 * len(keep) / n:.0f}%)")
    fig = image_grid(top + bottom, titles_top + titles_bottom, ncols=len(images), size=size,
                     suptitle=f"{100 * ratio:.0f}% of the {patch}x{patch} patches dropped, per view")
    return fig, kept


def _label_word(v: float | None) -> str:
    return {1.0: "positive", 0.0: "negative", -1.0: "uncertain"}.get(v, "not mentioned") if v is not None \
        else "not mentioned"


def label_comparison(predicted: Mapping[str, float | None], truth: Mapping[str, float | None]) -> Any:
    """DataFrame[observation, labeler, ground truth, agree]: one row per observation in ``truth`` (its order).

    Values are 1.0 / 0.0 / -1.0 / None (blank), shown as words; ``agree`` compares the raw values.
    """
    import pandas as pd

    rows = []
    for obs, t in truth.items():
        p = predicted.get(obs)
        rows.append({"observation": obs, "labeler": _label_word(p), "ground truth": _label_word(t),
                     "agree": p == t})
    return pd.DataFrame(rows, columns=["observation", "labeler", "ground truth", "agree"])


def tokens_html(tokenizer: Any, encoded: Mapping[str, Any], full_text: str, max_shown: int | None = None) -> str:
    """The tokens the model reads as coloured chips (special tokens grey, padding counted, not drawn), followed
    by the sentences that did not fit, struck through.

    Args:
        encoded: the dict of ``clinvla_kit.data.tokenize.tokenize_report`` (input_ids, attention_mask, text).
        full_text: the cleaned report before the cut (to show what was dropped).
    """
    from clinvla_kit.data.tokenize import split_sentences

    mask = np.asarray(encoded["attention_mask"]).astype(bool)
    ids = [int(i) for i in np.asarray(encoded["input_ids"])[mask]]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    special = set(getattr(tokenizer, "all_special_tokens", []))
    shown = tokens if max_shown is None else tokens[:max_shown]
    chips = []
    for t in shown:
        bg = "#e0e0e0" if t in special else ("#fff3c4" if t.startswith("##") else "#d7ecff")
        chips.append(f'<span style="background:{bg};border-radius:3px;padding:1px 3px;margin:1px;'
                     f'display:inline-block">{html.escape(t)}</span>')
    kept_sentences = set(split_sentences(str(encoded["text"])))
    dropped = [s for s in split_sentences(full_text) if s not in kept_sentences]
    n_pad = int((~mask).sum())
    info = (f"<p><b>{len(tokens)}</b> real tokens + <b>{n_pad}</b> padding = <b>{mask.size}</b>"
            f"{'' if max_shown is None or len(tokens) <= max_shown else f' (first {max_shown} shown)'}</p>")
    cut = ""
    if dropped:
        cut = ("<p>cut at a sentence boundary; dropped: " + " ".join(
            f'<span style="color:#b00020;text-decoration:line-through">{html.escape(s)}</span>' for s in dropped)
            + "</p>")
    return f'<div style="font-family:monospace;line-height:1.8">{info}{"".join(chips)}{cut}</div>'
