"""The demo's archive: a set of studies with their image and report embeddings, and a way to reload any study.

Why an object: the widgets re-query the same archive many times (new query, k, label filter, dropped views), so
embeddings are computed once per "view configuration" and cached; a study's pixels are reloaded on demand (for
heatmaps and re-embedding) instead of being held in memory for the whole archive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from clinvla_kit.config import SLOTS, DataCfg
from clinvla_kit.data.records import StudyRecord


@dataclass
class Archive:
    """Studies, their embeddings and loaders.

    Attributes:
        records: the N studies (paths of every view, report, labels).
        image_emb: [N, D] L2-normalised image embeddings with every present view.
        report_emb: [N, D] L2-normalised embeddings of the studies' own (cleaned) reports, or None until
            ``report_embeddings`` first needs them (text encoding dominates the archive's cost on a CPU: about
            0.2 s per report for MiniLM at ~120 tokens on one core, so it is paid only when reports are searched).
        reports: N cleaned report texts (what was embedded).
        load_study: index -> (images [4, C, H, W], present [4] bool), model-ready.
        tokenize: text -> (input_ids [T], attention_mask [T]), exactly as training tokenised reports.
        normalization: name of the image normalisation (to undo it for display).
    """

    records: list[StudyRecord]
    image_emb: torch.Tensor
    reports: list[str]
    load_study: Callable[[int], tuple[torch.Tensor, torch.Tensor]]
    tokenize: Callable[[str], tuple[torch.Tensor, torch.Tensor]]
    report_emb: torch.Tensor | None = None
    normalization: str = "alta"
    _cache: dict[tuple[str, ...], torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = len(self.records)
        if n == 0:
            raise ValueError("an archive needs at least one study")
        n_rep = n if self.report_emb is None else self.report_emb.shape[0]
        if self.image_emb.shape[0] != n or n_rep != n or len(self.reports) != n:
            raise ValueError(f"archive of {n} studies got image_emb {tuple(self.image_emb.shape)}, "
                             f"{n_rep} report embeddings and {len(self.reports)} reports")
        self._cache[()] = self.image_emb

    @property
    def study_ids(self) -> list[str]:
        return [r.study_id for r in self.records]

    def index_of(self, study_id: str) -> int:
        for i, r in enumerate(self.records):
            if r.study_id == str(study_id):
                return i
        raise KeyError(f"study {study_id!r} is not in the archive ({len(self.records)} studies)")

    def load_batch(self, indices: Sequence[int], drop_views: Sequence[str] = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack studies: images [b, 4, C, H, W], present [b, 4]; slots in ``drop_views`` marked absent and zeroed
        (exactly how a study that lacks the view arrives from the data loader)."""
        for s in drop_views:
            if s not in SLOTS:
                raise ValueError(f"unknown view {s!r}; views are {SLOTS}")
        items = [self.load_study(i) for i in indices]
        images = torch.stack([im for im, _ in items]).clone()
        present = torch.stack([p for _, p in items]).clone()
        for s in drop_views:
            k = SLOTS.index(s)
            present[:, k] = False
            images[:, k] = 0
        return images, present

    def without_embeddings(self) -> Archive:
        """A copy that recomputes every embedding on demand (e.g. with the model's adapters switched off)."""
        copy = dataclasses.replace(self, report_emb=None)
        copy._cache = {}
        return copy

    @torch.no_grad()
    def report_embeddings(self, model: Any, batch_size: int = 16) -> torch.Tensor:
        """[N, D] normalised embeddings of the archive's reports (computed once, then kept)."""
        if self.report_emb is None:
            model.eval()
            out = []
            for start in range(0, len(self.reports), batch_size):
                toks = [self.tokenize(t) for t in self.reports[start:start + batch_size]]
                ids, mask = torch.stack([t[0] for t in toks]), torch.stack([t[1] for t in toks])
                length = max(int(mask.sum(dim=1).max()), 1)  # drop all-padding columns: same result, less work
                out.append(model.encode_text(ids[:, :length], mask[:, :length], normalize=True))
            self.report_emb = torch.cat(out)
        return self.report_emb

    @torch.no_grad()
    def image_embeddings(self, model: Any, drop_views: Sequence[str] = (), batch_size: int = 16) -> torch.Tensor:
        """[N, D] normalised image embeddings with ``drop_views`` removed from every study (cached per tuple)."""
        key = tuple(sorted(set(drop_views)))
        if key not in self._cache:
            model.eval()
            out = []
            for start in range(0, len(self.records), batch_size):
                images, present = self.load_batch(range(start, min(start + batch_size, len(self.records))), key)
                # a study left with no view at all keeps its frontal: an empty study cannot be embedded
                empty = ~present.any(dim=1)
                if empty.any():
                    full, full_present = self.load_batch([start + int(i) for i in torch.nonzero(empty)[:, 0]])
                    images[empty], present[empty] = full, full_present
                out.append(model.encode_image(images, present, normalize=True))
            self._cache[key] = torch.cat(out)
        return self._cache[key]


@torch.no_grad()
def build_archive(model: Any, records: Sequence[StudyRecord], data_cfg: DataCfg | None = None,
                  batch_size: int = 16, embed_reports: bool = False,
                  precomputed: dict[str, Any] | None = None) -> Archive:
    """Embed ``records`` (every present view) with ``model`` and return an ``Archive``; report embeddings are
    computed now with ``embed_reports``, else on first use (``reports_for_study``).

    Uses the kit's ``StudyDataset`` in eval mode (no augmentation), so the demo sees studies exactly as evaluation
    does. ``data_cfg`` defaults to ``model.cfg.data``.

    ``precomputed`` (from ``demo.cache``): ``{"image_emb": [N, D], "reports": N texts, "report_emb": [N, D] or
    None, "dropped": {("lateral",): [N, D], ...}}``; nothing is embedded then, so an app starts in a second.
    """
    from clinvla_kit.data.dataset import StudyDataset, collate
    from clinvla_kit.data.tokenize import tokenize_report

    data_cfg = data_cfg or model.cfg.data
    ds = StudyDataset(list(records), data_cfg, model.tokenizer, train=False)
    model.eval()
    img, texts = [], []
    if precomputed is not None:
        img, texts = [torch.as_tensor(precomputed["image_emb"])], list(precomputed["reports"])
    for start in range(0, len(ds) if precomputed is None else 0, batch_size):
        batch = collate([ds[i] for i in range(start, min(start + batch_size, len(ds)))])
        img.append(model.encode_image(batch.images, batch.present, normalize=True))
        texts += batch.texts
    if ds.skipped:
        raise ValueError(f"{len(ds.skipped)} archive studies failed to load: {[(s.study_id, s.reason) for s in ds.skipped[:5]]}")

    def load_study(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = ds.load(i)
        return item["images"], item["present"]

    def tokenize(text: str) -> tuple[torch.Tensor, torch.Tensor]:
        tok = tokenize_report(text, model.tokenizer, data_cfg.max_tokens)
        return tok["input_ids"], tok["attention_mask"]

    archive = Archive(records=list(records), image_emb=torch.cat(img), reports=texts, load_study=load_study,
                      tokenize=tokenize, normalization=data_cfg.normalization)
    if precomputed is not None:
        if precomputed.get("report_emb") is not None:
            archive.report_emb = torch.as_tensor(precomputed["report_emb"])
        for key, emb in (precomputed.get("dropped") or {}).items():
            archive._cache[tuple(sorted(key))] = torch.as_tensor(emb)
    if embed_reports:
        archive.report_embeddings(model, batch_size)
    return archive
