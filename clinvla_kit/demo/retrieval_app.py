"""Retrieval demo logic as plain functions (no ipywidgets here: the view in ``view.py`` only wires widgets to these).

- ``search_by_text``: free-text query -> top-k studies (every view's path, score, labels) and a heatmap of where the
  query's words match the top study's patches.
- ``reports_for_study``: a study -> its top-k reports, the ground-truth report marked, and the true report's rank.
- ``compare_missing_view``: the same query with a view (the lateral) dropped from every archive study.

The heatmap (``query_heatmap``), two methods:
- ``"attention"`` (default for a ClinVLA): the local loss's own word-to-patch attention of the query with the study
  (``clinvla_kit.viz.word_patch.word_patch_attention``: one softmax over the patches of all present views), averaged
  over the query's words: exactly what training optimises;
- ``"similarity"`` (fallback for models without a timm ViT, e.g. test stand-ins): the cosine of each word's local
  embedding with each patch's local embedding, averaged over words; unnormalised, so an unrelated query gives a
  flat, low map rather than a confident-looking one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from clinvla_kit.config import SLOTS
from clinvla_kit.data.batch import Batch
from clinvla_kit.data.records import CHEXPERT_LABELS, StudyRecord
from clinvla_kit.demo.archive import Archive


@dataclass
class Hit:
    """One retrieved study: rank order is the list order."""

    index: int
    study_id: str
    score: float
    views: dict[str, Path | None]
    labels: list[str]
    report: str


@dataclass
class SearchResult:
    """``hits`` best first; ``heatmap`` maps slot -> [gh, gw] similarity grid of the top hit (None when off)."""

    query: str
    hits: list[Hit]
    heatmap: dict[str, np.ndarray] | None = None
    drop_views: tuple[str, ...] = ()
    label_filter: str | None = None
    hit_heatmaps: list[dict[str, np.ndarray]] | None = None  # one slot -> grid dict per hit (``heatmaps_for_hits``)
    chance: Any = None  # ``demo.chance.ChanceLevel`` of the query, or None when its findings are unknown
    kind: str = "text"  # "text" or "image" (a query study or an uploaded file)


@dataclass
class ReportHit:
    study_id: str
    score: float
    text: str
    is_ground_truth: bool


@dataclass
class ReportResult:
    """``hits`` best first; ``gt_rank`` = 1-based rank of the study's own report among all archive reports."""

    study_id: str
    hits: list[ReportHit]
    gt_rank: int
    views: dict[str, Path | None] = field(default_factory=dict)


def positive_labels(record: StudyRecord) -> list[str]:
    """CheXpert observations marked positive (1.0) in a study; uncertain (-1) and blank are not positive."""
    return [n for n in CHEXPERT_LABELS if record.labels.get(n) == 1.0]


def top_k(scores: torch.Tensor | np.ndarray, k: int, allowed: Sequence[int] | None = None) -> list[int]:
    """Indices of the ``k`` highest scores, ties broken by ascending index (the kit's P@k rule), optionally only
    among ``allowed`` indices."""
    s = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    if allowed is not None:
        keep = {int(i) for i in allowed}
        order = np.array([i for i in order if i in keep], dtype=np.int64)
    return [int(i) for i in order[: max(int(k), 0)]]


@torch.no_grad()
def embed_query(archive: Archive, model: Any, query: str) -> torch.Tensor:
    """A free-text query -> [D] normalised text embedding (tokenised exactly as reports were)."""
    if not query or not query.strip():
        raise ValueError("the query is empty: type a finding, e.g. 'left pleural effusion'")
    ids, mask = archive.tokenize(query.strip())
    model.eval()
    return model.encode_text(ids[None], mask[None], normalize=True)[0]


@torch.no_grad()
def query_heatmap(model: Any, images: torch.Tensor, present: torch.Tensor, input_ids: torch.Tensor,
                  attention_mask: torch.Tensor, method: str = "auto") -> dict[str, np.ndarray]:
    """Where a query's words land on one study, per present view.

    Args:
        images: [4, C, H, W]; present: [4] bool; input_ids, attention_mask: [T].
        method: "attention", "similarity" or "auto" (attention when the model has a timm ViT image tower).
    Returns:
        slot -> [gh, gw] float array averaged over the query's words (see the module docstring); only slots the
        model encoded (present and selected by its ``eval_views``) appear.
    """
    model.eval()
    batch = Batch(images=images[None], present=present[None], input_ids=input_ids[None],
                  attention_mask=attention_mask[None], labels=torch.full((1, len(CHEXPERT_LABELS)), float("nan")),
                  study_ids=["query"], texts=[""])
    if method == "auto":
        method = "attention" if hasattr(getattr(model, "vision", None), "vit") else "similarity"
    if method == "attention":
        from clinvla_kit.viz.word_patch import word_patch_attention

        result = word_patch_attention(model, batch, 0)
        return {slot: m.mean(axis=0) for slot, m in result["maps"].items()}
    if method != "similarity":
        raise ValueError(f"heatmap method must be 'auto', 'attention' or 'similarity', got {method!r}")
    out = model(batch)
    if out.vision is None:
        raise ValueError("the model's output carries no patch ids (ClinVLAOutput.vision is None): no heatmap")
    words = F.normalize(out.txt_local[0], dim=-1)  # [T, D]
    patches = F.normalize(out.img_local[0], dim=-1)  # [P, D]
    wmask = out.word_mask[0].bool()
    if not wmask.any():
        raise ValueError("the query has no word tokens after tokenisation")
    sim = (words[wmask] @ patches.T).mean(dim=0)  # [P]
    ids = out.vision.patch_ids[0]  # [P, 3] (slot, row, col)
    valid = out.patch_mask[0].bool()
    gh, gw = int(ids[:, 1].max()) + 1, int(ids[:, 2].max()) + 1
    maps: dict[str, np.ndarray] = {}
    for k, slot in enumerate(SLOTS):
        sel = valid & (ids[:, 0] == k)
        if not sel.any():
            continue
        grid = np.full((gh, gw), np.nan, dtype=np.float32)
        grid[ids[sel, 1].numpy(), ids[sel, 2].numpy()] = sim[sel].float().numpy()
        maps[slot] = grid
    return maps


def search_by_text(archive: Archive, model: Any, query: str, k: int = 5, label_filter: str | None = None,
                   drop_views: Sequence[str] = (), heatmap: bool = True) -> SearchResult:
    """Top-``k`` archive studies for a free-text query.

    Args:
        label_filter: keep only studies positive for this CheXpert observation (None: all).
        drop_views: slots removed from every archive study before embedding (e.g. ``("lateral",)``).
        heatmap: compute the word-to-patch heatmap on the top hit (one extra forward pass).
    """
    q = embed_query(archive, model, query)
    result = search_by_embedding(archive, model, q, query, k, label_filter, drop_views)
    if heatmap and result.hits:
        images, present = archive.load_batch([result.hits[0].index], drop_views)
        ids, mask = archive.tokenize(query.strip())
        result.heatmap = query_heatmap(model, images[0], present[0], ids, mask)
    return result


@torch.no_grad()
def search_by_embedding(archive: Archive, model: Any, q: torch.Tensor, query: str, k: int = 5,
                        label_filter: str | None = None, drop_views: Sequence[str] = (),
                        exclude: Sequence[int] = ()) -> SearchResult:
    """Top-``k`` archive studies for a query embedding ``q`` [D] (normalised): a text's or an image's.

    ``exclude``: archive indices never returned (a query study is not its own best hit).
    """
    if label_filter is not None and label_filter not in CHEXPERT_LABELS:
        raise ValueError(f"unknown label {label_filter!r}; labels are {CHEXPERT_LABELS}")
    emb = archive.image_embeddings(model, drop_views)
    scores = emb @ torch.as_tensor(q, dtype=emb.dtype)
    skip = {int(i) for i in exclude}
    allowed = [i for i, r in enumerate(archive.records)
               if i not in skip and (label_filter is None or r.labels.get(label_filter) == 1.0)]
    hits = [Hit(index=i, study_id=archive.records[i].study_id, score=float(scores[i]),
                views={s: (p if s not in drop_views else None) for s, p in archive.records[i].images.items()},
                labels=positive_labels(archive.records[i]), report=archive.reports[i])
            for i in top_k(scores, k, allowed)]
    return SearchResult(query=query, hits=hits, drop_views=tuple(drop_views), label_filter=label_filter)


@torch.no_grad()
def search_by_image(archive: Archive, model: Any, query: str | torch.Tensor | np.ndarray, k: int = 5,
                    label_filter: str | None = None, drop_views: Sequence[str] = ()) -> SearchResult:
    """Image-to-image search: ``query`` is an archive study id (its embedding with every view; the study itself is
    left out of the hits) or an image embedding [D] (e.g. ``InferenceModel.embed_images`` of an uploaded file)."""
    if isinstance(query, str):
        i = archive.index_of(query)
        res = search_by_embedding(archive, model, archive.image_emb[i], f"study {query}", k, label_filter,
                                  drop_views, exclude=[i])
    else:
        q = torch.nn.functional.normalize(torch.as_tensor(np.asarray(query), dtype=torch.float32).flatten(), dim=0)
        res = search_by_embedding(archive, model, q, "uploaded image", k, label_filter, drop_views)
    res.kind = "image"
    return res


@torch.no_grad()
def heatmaps_for_hits(archive: Archive, model: Any, result: SearchResult) -> list[dict[str, np.ndarray]]:
    """The query's word heatmap on every view of every hit (one forward pass per hit), stored in
    ``result.hit_heatmaps`` (and the first in ``result.heatmap``). Text queries only: an image has no words."""
    if result.kind != "text":
        raise ValueError("word heatmaps need a text query")
    ids, mask = archive.tokenize(result.query.strip())
    maps = []
    for hit in result.hits:
        images, present = archive.load_batch([hit.index], result.drop_views)
        maps.append(query_heatmap(model, images[0], present[0], ids, mask))
    result.hit_heatmaps = maps
    result.heatmap = maps[0] if maps else None
    return maps


def view_shares(maps: dict[str, np.ndarray] | None) -> dict[str, float] | None:
    """Share of the query's attention on each view: the maps' sums, scaled to 1 over the views.

    Meaningful for the attention heatmap (one softmax over the patches of all views, so the sums are the share of
    the words' attention each view receives); None for maps with negative values (the similarity fallback)."""
    if not maps:
        return None
    sums = {s: float(np.nansum(m)) for s, m in maps.items()}
    if any(float(np.nanmin(m)) < 0 for m in maps.values()) or sum(sums.values()) <= 0:
        return None
    total = sum(sums.values())
    return {s: v / total for s, v in sums.items()}


@torch.no_grad()
def reports_for_study(archive: Archive, model: Any, study_id: str, k: int = 5,
                      drop_views: Sequence[str] = ()) -> ReportResult:
    """The ``k`` archive reports closest to a study's image embedding; its own report is the ground truth."""
    i = archive.index_of(study_id)
    if drop_views:
        images, present = archive.load_batch([i], drop_views)
        if not present.any():
            raise ValueError(f"study {study_id} has no view left after dropping {list(drop_views)}")
        model.eval()
        img = model.encode_image(images, present, normalize=True)[0]
    else:
        img = archive.image_emb[i]
    scores = archive.report_embeddings(model) @ img
    order = top_k(scores, len(archive.records))
    hits = [ReportHit(study_id=archive.records[j].study_id, score=float(scores[j]), text=archive.reports[j],
                      is_ground_truth=(j == i)) for j in order[:k]]
    return ReportResult(study_id=str(study_id), hits=hits, gt_rank=order.index(i) + 1,
                        views=dict(archive.records[i].images))


def compare_missing_view(archive: Archive, model: Any, query: str, k: int = 5, drop: Sequence[str] = ("lateral",),
                         label_filter: str | None = None) -> dict[str, Any]:
    """The query against the full archive and against the archive with ``drop`` removed from every study.

    Returns:
        ``{"full": SearchResult, "dropped": SearchResult, "entered": [study ids new in the top k],
        "left": [ids that fell out], "score_change": {study id: dropped - full score} for studies in both}``.
    """
    full = search_by_text(archive, model, query, k, label_filter, (), heatmap=False)
    dropped = search_by_text(archive, model, query, k, label_filter, tuple(drop), heatmap=False)
    a = {h.study_id: h.score for h in full.hits}
    b = {h.study_id: h.score for h in dropped.hits}
    return {"full": full, "dropped": dropped, "entered": [s for s in b if s not in a],
            "left": [s for s in a if s not in b], "score_change": {s: b[s] - a[s] for s in a if s in b}}
