"""Pictures and HTML for the demo, as strings and bytes (testable without a browser or ipywidgets).

Images are inlined as ``data:image/png;base64`` URIs: the widget values then carry everything a browser needs, the
demo works offline, and a headless test can find ``<img`` tags and scores in a widget's value.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import cv2
import numpy as np

from clinvla_kit.config import SLOTS


def png_bytes(img: np.ndarray) -> bytes:
    """[H, W] in [0, 1] (grey) or [H, W, 3] uint8 RGB -> PNG bytes."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255).astype(np.uint8)
    else:
        a = cv2.cvtColor(a.astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", a)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img_tag(png: bytes, title: str = "", size: int = 96) -> str:
    return f'<img src="{data_uri(png)}" title="{html.escape(title)}" width="{size}" height="{size}" style="margin:1px">'


def thumbnail(path: str | Path, size: int = 96, remove_burned_in: bool = True) -> np.ndarray:
    """An image file (JPG/PNG/DICOM) -> [size, size] grey in [0, 1] (square resize: thumbnails only).

    Burned-in text (side letters, "kV=120") is removed first unless ``remove_burned_in=False``
    (``clinvla_kit.data.display``)."""
    from clinvla_kit.data.display import read_for_display

    return cv2.resize(read_for_display(path, remove_burned_in), (size, size), interpolation=cv2.INTER_AREA)


def overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.45, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """A [H, W] image in [0, 1] with a [gh, gw] heat grid (NaN = no patch) blended as a colour map (JET by
    default; the app uses viridis, which colour-blind readers can order) -> [H, W, 3] uint8 RGB. The grid is
    min-max scaled within the image: the map shows *where*, not how strongly."""
    h, w = gray.shape
    g = np.asarray(heat, dtype=np.float32)
    finite = np.isfinite(g)
    lo, hi = (float(g[finite].min()), float(g[finite].max())) if finite.any() else (0.0, 1.0)
    g = np.where(finite, (g - lo) / (hi - lo + 1e-8), 0.0).astype(np.float32)
    big = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
    color = cv2.cvtColor(cv2.applyColorMap((big * 255).astype(np.uint8), colormap), cv2.COLOR_BGR2RGB)
    base = np.repeat((np.clip(gray, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)
    return cv2.addWeighted(base, 1 - alpha, color, alpha, 0)


def search_html(result, thumb: int = 96) -> str:
    """HTML for a ``SearchResult``: one row per hit with rank, score, labels and a thumbnail of every view
    (an empty box for a missing view), then the heatmap of the top hit over each of its views."""
    if not result.hits:
        return f"<p>No study matches <i>{html.escape(result.query)}</i>" + (
            f" with label {html.escape(result.label_filter)}" if result.label_filter else "") + ".</p>"
    rows = []
    for rank, hit in enumerate(result.hits, 1):
        cells = []
        for slot in SLOTS:
            p = hit.views.get(slot)
            if p is None:
                cells.append(f'<div title="{slot}: missing" style="display:inline-block;width:{thumb}px;height:{thumb}px;'
                             f'border:1px dashed #bbb;margin:1px;vertical-align:top;font-size:10px;color:#999">{slot}<br>missing</div>')
            else:
                # the title names the view, never the file path (MIMIC paths carry the subject id)
                cells.append(img_tag(png_bytes(thumbnail(p, thumb)), f"{slot} view of study {hit.study_id}", thumb))
        labels = ", ".join(hit.labels) or "No positive label"
        rows.append(f'<div class="demo-hit" data-study="{html.escape(hit.study_id)}"><b>{rank}.</b> study '
                    f'{html.escape(hit.study_id)} <span class="demo-score">score {hit.score:.3f}</span> '
                    f'<small>({html.escape(labels)})</small><br>{"".join(cells)}</div>')
    heat = ""
    if result.heatmap:
        top = result.hits[0]
        pics = [img_tag(png_bytes(overlay(thumbnail(top.views[s], 160), m)), f"{s} heatmap", 160)
                for s, m in result.heatmap.items() if top.views.get(s) is not None]
        heat = (f"<div><b>Where the query's words match study {html.escape(top.study_id)}</b> "
                f"(word-to-patch similarity, red = highest)<br>{''.join(pics)}</div>")
    dropped = f" (views dropped: {', '.join(result.drop_views)})" if result.drop_views else ""
    return (f"<div class='demo-results'><p>Top {len(result.hits)} for <i>{html.escape(result.query)}</i>{dropped}</p>"
            + "".join(rows) + heat + "</div>")


def reports_html(result) -> str:
    """HTML for a ``ReportResult``: the top reports with scores; the ground truth marked."""
    items = []
    for rank, h in enumerate(result.hits, 1):
        mark = " <b style='color:green'>[ground truth]</b>" if h.is_ground_truth else ""
        items.append(f"<li class='demo-report'><span class='demo-score'>score {h.score:.3f}</span> "
                     f"(study {html.escape(h.study_id)}){mark}<br><small>{html.escape(h.text[:400])}</small></li>")
    return (f"<div><p>Reports closest to study {html.escape(result.study_id)}; its own report ranks "
            f"<b>{result.gt_rank}</b>.</p><ol>{''.join(items)}</ol></div>")
