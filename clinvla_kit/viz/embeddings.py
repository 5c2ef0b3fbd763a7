"""UMAP maps of the joint embedding space, interactive with plotly, linked to retrieval neighbours.

Images and reports live in one space after alignment, so both are projected *together* (one UMAP fit on the stacked
embeddings): a report near its own image in 2-D means the model matched them. UMAP is a picture, not a metric:
distances between far-apart clusters mean little, and the layout depends on the seed; retrieval numbers
(``eval.retrieval``) stay the measure, the map is for looking at what lies near what.

Costs (NOTEBOOK_FACTS.md): the first fit in a process spends ~9 s on numba compilation; ``random_state`` makes
layouts reproducible but single-threaded. Small n: UMAP needs n >= 3 (n_neighbors is capped at n - 1, and below
5 points the spectral initialisation is replaced by a random one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MIN_POINTS = 3


def _check_matrix(x: Any, name: str = "x") -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"{name} must be [N, D], got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
    if bad.size:
        raise ValueError(f"{name} has non-finite values in row(s) {bad[:10].tolist()}")
    return a


PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
                            "#999999", "#882255", "#44AA99", "#DDCC77")
"""Group colours: the eight Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), then
grey and three of Paul Tol's muted colours for the 9th-12th group (colours repeat beyond twelve groups)."""
FONT_SIZE = 13
"""Plotly font size in px for titles, legends and hover labels (about 10 pt: readable in the exported HTML)."""


def umap_embedding(x: Any, seed: int | None = 0, n_neighbors: int = 15, min_dist: float = 0.1,
                   metric: str = "cosine", n_epochs: int | None = None) -> np.ndarray:
    """Embeddings [N, D] -> 2-D coordinates [N, 2] (float32) with umap-learn.

    Args:
        seed: ``random_state`` (reproducible, single-threaded); None for a faster, non-deterministic layout.
        n_neighbors: capped at N - 1 (UMAP fails otherwise).
        metric: "cosine", because the model compares embeddings by cosine similarity.
        n_epochs: optimisation epochs (None: UMAP's default, 500 below 10k points; 200 is ~3x faster).
    Raises ValueError for N < 3 (no 2-D layout is meaningful) or non-finite rows (named).
    """
    a = _check_matrix(x)
    n = a.shape[0]
    if n < MIN_POINTS:
        raise ValueError(f"UMAP needs at least {MIN_POINTS} points, got {n}")
    import umap  # after the checks: importing umap (numba) costs seconds

    k = max(2, min(int(n_neighbors), n - 1))
    init = "spectral" if n >= 5 else "random"
    # A seed makes UMAP single-threaded anyway; saying so (n_jobs=1) spares the notebook its UserWarning about it.
    reducer = umap.UMAP(n_neighbors=k, min_dist=min_dist, metric=metric, random_state=seed, init=init,
                        n_epochs=n_epochs, n_components=2, n_jobs=1 if seed is not None else -1)
    return np.asarray(reducer.fit_transform(a), dtype=np.float32)


def pca_embedding(x: Any) -> np.ndarray:
    """Embeddings [N, D] -> the first two principal components [N, 2] (float32) of the L2-normalised rows.

    The quick, deterministic, linear alternative to UMAP (milliseconds, no compilation): global structure only.
    """
    from sklearn.decomposition import PCA

    a = _check_matrix(x)
    if a.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 points, got {a.shape[0]}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    out = PCA(n_components=min(2, a.shape[1]), svd_solver="full").fit_transform(a)
    if out.shape[1] < 2:
        out = np.concatenate([out, np.zeros_like(out)], axis=1)
    return np.asarray(out, dtype=np.float32)


def project_2d(x: Any, method: str = "umap", seed: int | None = 0, n_neighbors: int = 15,
               n_epochs: int | None = None) -> np.ndarray:
    """[N, D] -> [N, 2] by ``method`` "umap" (``umap_embedding``) or "pca" (``pca_embedding``): one parameter
    lets a notebook trade UMAP's first-call compilation (~10 s) for PCA's speed in quick runs."""
    if method == "umap":
        return umap_embedding(x, seed=seed, n_neighbors=n_neighbors, n_epochs=n_epochs)
    if method == "pca":
        return pca_embedding(x)
    raise ValueError(f"unknown projection method {method!r}; use 'umap' or 'pca'")


def stack_modalities(image_emb: Any, text_emb: Any, meta: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:  # noqa: F821
    """Image [N, D] and report [N, D] embeddings of the same N studies -> ([2N, D], meta [2N]).

    The meta table (one row per study, e.g. study_id, report, label, split) is repeated with a ``modality``
    column ("image" then "report") and a ``pair`` column (the study's row), so one UMAP fit shows both.
    """
    import pandas as pd

    img = _check_matrix(image_emb, "image_emb")
    txt = _check_matrix(text_emb, "text_emb")
    if img.shape != txt.shape or len(meta) != img.shape[0]:
        raise ValueError(f"image_emb {img.shape}, text_emb {txt.shape} and meta ({len(meta)} rows) must describe "
                         "the same studies")
    base = meta.reset_index(drop=True).assign(pair=np.arange(len(meta)))
    both = pd.concat([base.assign(modality="image"), base.assign(modality="report")], ignore_index=True)
    return np.concatenate([img, txt]), both


def snippet(text: Any, width: int = 60, max_chars: int = 240) -> str:
    """A report shortened for a hover label and wrapped with ``<br>`` (plotly hover text is HTML)."""
    import html
    import textwrap

    s = " ".join(str(text if text is not None else "").split())
    s = s if len(s) <= max_chars else s[: max_chars - 1] + "…"
    return "<br>".join(html.escape(line) for line in textwrap.wrap(s, width)) or "(empty)"


def embedding_figure(coords: Any, meta_df: pd.DataFrame, color_by: str = "label",  # noqa: F821
                     hover_cols: Sequence[str] = ("study_id", "report"), symbol_by: str | None = "modality",
                     title: str | None = None, height: int = 520):
    """Plotly scatter of 2-D coordinates [N, 2] with one meta row per point.

    Args:
        color_by: a meta column (label, view, split, modality, ...); numeric columns get a colour scale.
        hover_cols: columns shown on hover; a "report" column is shortened and wrapped.
        symbol_by: marker shape column (default ``modality``: images and reports look different); ignored
            when absent.
    The row number of each point is kept in ``customdata[0]`` so a selected point maps back to its embedding.
    """
    import plotly.graph_objects as go

    xy = _check_matrix(coords, "coords")
    if xy.shape[1] != 2 or len(meta_df) != xy.shape[0]:
        raise ValueError(f"coords {xy.shape} must be [N, 2] with N = len(meta_df) = {len(meta_df)}")
    missing = [c for c in [color_by, *hover_cols] if c not in meta_df.columns]
    if missing:
        raise ValueError(f"meta_df has no column(s) {missing}; it has {list(meta_df.columns)}")
    meta = meta_df.reset_index(drop=True)
    hover = ["<br>".join(f"<b>{c}</b>: " + (snippet(row[c]) if c == "report" else str(row[c])) for c in hover_cols)
             for _, row in meta.iterrows()]
    symbols = ["circle", "diamond", "square", "x", "triangle-up", "cross"]
    sym_groups = (list(dict.fromkeys(meta[symbol_by].astype(str))) if symbol_by and symbol_by in meta.columns
                  else [None])
    fig = go.Figure()
    colour = meta[color_by]
    numeric = colour.dtype.kind in "fiu" and colour.nunique() > 12
    groups = [None] if numeric else list(dict.fromkeys(colour.astype(str)))
    palette = PALETTE
    for si, sym in enumerate(sym_groups):
        in_sym = np.ones(len(meta), bool) if sym is None else (meta[symbol_by].astype(str) == sym).to_numpy()
        for gi, grp in enumerate(groups):
            sel = in_sym & (np.ones(len(meta), bool) if grp is None else (colour.astype(str) == grp).to_numpy())
            if not sel.any():
                continue
            idx = np.flatnonzero(sel)
            name = " · ".join(str(v) for v in (grp, sym) if v is not None) or color_by
            marker: dict[str, Any] = {"symbol": symbols[si % len(symbols)], "size": 8, "opacity": 0.8,
                                      "line": {"width": 0.5, "color": "white"}}
            if numeric:
                marker.update(color=colour.to_numpy()[idx], colorscale="Viridis", showscale=si == 0,
                              colorbar={"title": color_by})
            else:
                marker["color"] = palette[gi % len(palette)]
            fig.add_trace(go.Scatter(
                x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=name, marker=marker,
                text=[hover[i] for i in idx], customdata=idx[:, None], hovertemplate="%{text}<extra></extra>",
                legendgroup=str(grp)))
    fig.update_layout(title=title or f"UMAP of the joint space, coloured by {color_by}", template="plotly_white",
                      height=height, legend={"itemsizing": "constant"}, xaxis={"showticklabels": False},
                      font={"size": FONT_SIZE}, hoverlabel={"font_size": FONT_SIZE},
                      yaxis={"showticklabels": False, "scaleanchor": "x"})
    return fig


def neighbours(emb: Any, index: int, k: int = 5, candidates: Sequence[int] | np.ndarray | None = None) -> pd.DataFrame:  # noqa: F821
    """The ``k`` nearest rows of ``emb`` [N, D] to row ``index`` by cosine similarity (itself excluded).

    ``candidates`` restricts the search (e.g. only report rows, to go from an image to its retrieved reports).
    Ranked by descending similarity, ties by ascending row (the retrieval metrics' rule, ``rank_candidates``).
    Returns DataFrame columns rank (1-based), index (row of ``emb``), similarity.
    """
    import pandas as pd

    from clinvla_kit.eval.retrieval import rank_candidates

    a = _check_matrix(emb, "emb")
    n = a.shape[0]
    if not 0 <= int(index) < n:
        raise IndexError(f"index {index} out of range for {n} embeddings")
    cand = np.arange(n) if candidates is None else np.asarray(candidates, dtype=np.int64)
    if cand.size and (cand.min() < 0 or cand.max() >= n):
        raise IndexError(f"candidates must be rows of emb (0..{n - 1})")
    cand = cand[cand != int(index)]
    norm = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    sim = norm[cand] @ norm[int(index)]
    order = rank_candidates(sim[None], top=min(int(k), cand.size))[0]
    return pd.DataFrame({"rank": np.arange(1, order.size + 1), "index": cand[order], "similarity": sim[order]})


def highlight_neighbours(fig, coords: Any, index: int, neighbour_rows: Sequence[int], label: str = "selected"):
    """Add the selected point (a star) and lines to its neighbours to an ``embedding_figure``; returns the figure."""
    import plotly.graph_objects as go

    xy = _check_matrix(coords, "coords")
    rows = [int(r) for r in neighbour_rows]
    xs: list[float | None] = []
    ys: list[float | None] = []
    for r in rows:
        xs += [float(xy[index, 0]), float(xy[r, 0]), None]
        ys += [float(xy[index, 1]), float(xy[r, 1]), None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": "black", "width": 1}, name="neighbours",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[xy[index, 0]], y=[xy[index, 1]], mode="markers", name=label,
                             marker={"symbol": "star", "size": 18, "color": "#D55E00",
                                     "line": {"width": 1.5, "color": "black"}}))
    fig.add_trace(go.Scatter(x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=f"{len(rows)} nearest",
                             marker={"symbol": "circle-open", "size": 14, "color": "black", "line": {"width": 2}},
                             hoverinfo="skip"))
    return fig


def study_table(records: Sequence[Any]) -> pd.DataFrame:  # noqa: F821
    """One row per ``StudyRecord`` with the columns the embedding plots colour and hover by:
    study_id, report, label (the first positive CheXpert label other than "No Finding", else "No Finding"),
    n_positive, views (present slots joined by "+"), split."""
    import pandas as pd

    from clinvla_kit.config import SLOTS
    from clinvla_kit.data.records import CHEXPERT_LABELS

    rows = []
    for r in records:
        pos = [name for name in CHEXPERT_LABELS if (r.labels or {}).get(name) == 1.0 and name != "No Finding"]
        views = "+".join(s for s, p in zip(SLOTS, r.present) if p)
        rows.append({"study_id": str(r.study_id), "report": r.report, "label": pos[0] if pos else "No Finding",
                     "n_positive": len(pos), "views": views or "none", "split": r.split})
    return pd.DataFrame(rows, columns=["study_id", "report", "label", "n_positive", "views", "split"])
