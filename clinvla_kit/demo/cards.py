"""HTML of the demo app's results: one card per hit with every view, the query's heatmap on each view, the
ground-truth masks on request, the report text, view shares, and the query's chance level. Strings only (tested
without a browser); the app (``demo.app``) puts them in widget values.

Click to enlarge without JavaScript (widget HTML runs no scripts): each picture sits in a ``<label>`` with a
hidden checkbox, and a CSS rule shows the picture at 384 px while the box is checked, so a click
toggles it. Each picture is encoded once, at ``encode`` pixels, and shown at ``thumb`` until clicked.
Colours: heatmaps in viridis, mask outlines in Okabe-Ito orange, relevant hits marked with a check mark *and* the
word "relevant" (never by colour alone).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from clinvla_kit.config import SLOTS
from clinvla_kit.demo.render import data_uri, overlay, png_bytes, thumbnail

MASK_RGB = (230, 159, 0)  # Okabe-Ito orange: visible on grey and on viridis
ZOOM_CSS = ("<style>.demo-zoom{display:inline-block;margin:1px;vertical-align:top}.demo-zoom input{display:none}"
            ".demo-zoom img{cursor:zoom-in}.demo-zoom input:checked+img{width:384px;height:384px;cursor:zoom-out}"
            ".demo-report{font-size:12px;color:#333;max-width:820px}.demo-chance{font-size:13px}</style>")


def zoom_img(rgb_or_gray: np.ndarray, title: str, thumb: int) -> str:
    """A picture shown at ``thumb`` px that grows to 384 px on click (see the module docstring)."""
    return (f'<label class="demo-zoom" title="{html.escape(title)} (click to enlarge)"><input type="checkbox">'
            f'<img src="{data_uri(png_bytes(rgb_or_gray))}" width="{thumb}" height="{thumb}"></label>')


def with_masks(gray: np.ndarray, masks: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """[H, W] grey in [0, 1] -> [H, W, 3] uint8 RGB with each mask's outline drawn (masks resized to the image)."""
    rgb = np.repeat((np.clip(gray, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2).copy()
    h, w = gray.shape
    for _, m in masks:
        m8 = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(rgb, contours, -1, MASK_RGB, max(1, w // 96))
    return rgb


def missing_box(slot: str, thumb: int) -> str:
    return (f'<div title="{slot}: missing" style="display:inline-block;width:{thumb}px;height:{thumb}px;'
            f'border:1px dashed #bbb;margin:1px;vertical-align:top;font-size:10px;color:#777">{slot}<br>missing</div>')


def chance_html(result: Any, n_archive: int) -> str:
    """The query's chance line (or why there is none)."""
    if result.chance is not None:
        return f"<p class='demo-chance'>{html.escape(result.chance.text())}</p>"
    why = ("the uploaded image has no labels" if result.kind == "image" and result.query == "uploaded image"
           else "no finding recognised in the query" if result.kind == "text" else "the query study has no positive label")
    return f"<p class='demo-chance'>chance level: n/a ({why}; archive of {n_archive} studies)</p>"


def hit_card(rank: int, hit: Any, maps: dict[str, np.ndarray] | None, masks: Any = None, show_masks: bool = False,
             shares: dict[str, float] | None = None, relevant: bool | None = None, thumb: int = 96,
             encode: int = 192) -> str:
    """One hit: header (rank, study, score, labels, relevance), every view (with mask outlines when asked), the
    heatmap on every present view, the view shares, and the report text."""
    views, heats = [], []
    for slot in SLOTS:
        path = hit.views.get(slot)
        if path is None:
            views.append(missing_box(slot, thumb))
            continue
        gray = thumbnail(path, encode)
        found = masks.masks_for(path) if (show_masks and masks) else []
        pic = with_masks(gray, found) if found else gray
        note = f"{slot}: {path}" + (f"; mask: {', '.join(n for n, _ in found)}" if found else "")
        views.append(zoom_img(pic, note, thumb))
        if maps and slot in maps:
            heats.append(zoom_img(overlay(gray, maps[slot], colormap=cv2.COLORMAP_VIRIDIS), f"{slot} heatmap", thumb))
    labels = ", ".join(hit.labels) or "No positive label"
    mark = "" if relevant is None else (" <b>&#10003; relevant</b>" if relevant else " <i>not relevant</i>")
    share = ""
    if shares:
        share = "<br><small>view share of the query's attention: " + ", ".join(
            f"{s} {100 * v:.0f}%" for s, v in shares.items()) + "</small>"
    heat_row = (f"<br><small>where the query's words match (viridis, yellow = highest):</small><br>{''.join(heats)}"
                if heats else "")
    return (f'<div class="demo-hit" data-study="{html.escape(hit.study_id)}" style="margin:6px 0;padding:4px;'
            f'border-top:1px solid #ddd"><b>{rank}.</b> study {html.escape(hit.study_id)} '
            f'<span class="demo-score">score {hit.score:.3f}</span> <small>({html.escape(labels)})</small>{mark}<br>'
            f'{"".join(views)}{heat_row}{share}'
            f'<div class="demo-report">{html.escape(hit.report)}</div></div>')


def results_html(result: Any, n_archive: int, masks: Any = None, show_masks: bool = False,
                 uses_lateral: bool = False, thumb: int = 96, encode: int = 192) -> str:
    """Every hit of a ``SearchResult`` as cards, under the query's chance line."""
    from clinvla_kit.demo.retrieval_app import view_shares

    head = f"Top {len(result.hits)} for <i>{html.escape(result.query)}</i>"
    if result.label_filter:
        head += f" with label {html.escape(result.label_filter)}"
    if result.drop_views:
        head += f" (views dropped: {', '.join(result.drop_views)})"
    if not result.hits:
        return f"<div class='demo-results'>{ZOOM_CSS}<p>No study matches {head[6:]}.</p></div>"
    maps = result.hit_heatmaps or [None] * len(result.hits)
    rel = result.chance.relevant if result.chance is not None and result.chance.relevant else [None] * len(result.hits)
    cards = [hit_card(i + 1, h, m, masks, show_masks, view_shares(m) if uses_lateral else None, r, thumb, encode)
             for i, (h, m, r) in enumerate(zip(result.hits, maps, rel))]
    return (f"<div class='demo-results'>{ZOOM_CSS}<p>{head}</p>{chance_html(result, n_archive)}"
            + "".join(cards) + "</div>")
