"""Torch Dataset over study records, and the collate function that builds a ``Batch``.

Augmentation (train only) is drawn once per study and applied identically to every view of the study. Why: in our
generator (and usually in practice) the views of one study share the patient's positioning and exposure, and the
image tower fuses the views; transforming them independently would break the correspondence between a finding's
frontal and lateral appearance that multi-view alignment is meant to learn. Parameters depend on (seed, epoch,
index) only, so a run is reproducible with any number of workers; call ``set_epoch`` each epoch to vary them.

A study that fails to load (unreadable image, empty report) is never a silent crash: it is recorded in
``dataset.skipped`` with the reason, logged, and the next loadable study is returned in its place.
``len(dataset.skipped)`` is a counter shared with DataLoader worker processes, so the trainer sees every skip; the
reasons themselves stay in the process that hit them (with ``num_workers > 0`` read them in the log lines).
An optional view (lateral, priors) that cannot be read does not cost the study: its slot is left empty (the model
has a missing-view path, as for a study that never had that view) and it is counted in ``dataset.missing_views``.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from clinvla_kit.config import SLOTS, DataCfg
from clinvla_kit.data.batch import Batch
from clinvla_kit.data.errors import DataError
from clinvla_kit.data.images import read_image, resize, to_model_input
from clinvla_kit.data.records import CHEXPERT_LABELS, StudyRecord
from clinvla_kit.data.reports import clean_report
from clinvla_kit.data.tokenize import tokenize_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Augment:
    """One study's augmentation: affine (degrees, scale, translation as a share of the side) + intensity."""

    angle: float = 0.0
    scale: float = 1.0
    tx: float = 0.0
    ty: float = 0.0
    brightness: float = 1.0
    contrast: float = 1.0

    @staticmethod
    def draw(rng: np.random.Generator, intensity: float = 0.1) -> Augment:
        """Rotation +-5 deg, scale 0.95-1.05, translation +-4 %, brightness and contrast +-``intensity``.

        The same number of draws whatever ``intensity``, so the geometric part does not change with it."""
        if not 0.0 <= intensity < 1.0:
            raise ValueError(f"data.augment_intensity must be in [0, 1), got {intensity}")
        return Augment(angle=float(rng.uniform(-5, 5)), scale=float(rng.uniform(0.95, 1.05)),
                       tx=float(rng.uniform(-0.04, 0.04)), ty=float(rng.uniform(-0.04, 0.04)),
                       brightness=float(rng.uniform(1 - intensity, 1 + intensity)),
                       contrast=float(rng.uniform(1 - intensity, 1 + intensity)))

    def apply(self, img: np.ndarray) -> np.ndarray:
        """``[H, W]`` in [0, 1] -> the same shape; outside the film after the affine is black (0), like air."""
        import cv2

        h, w = img.shape
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), self.angle, self.scale)
        m[0, 2] += self.tx * w
        m[1, 2] += self.ty * h
        out = cv2.warpAffine(np.ascontiguousarray(img, dtype=np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        mean = float(out.mean())
        out = ((out - mean) * self.contrast + mean) * self.brightness
        return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class SkippedSample:
    index: int
    study_id: str
    reason: str


class SkipLog:
    """Skipped samples: ``len()`` is a process-shared count, iteration yields this process's ``SkippedSample``s."""

    def __init__(self) -> None:
        self._count = multiprocessing.Value("i", 0)
        self._items: list[SkippedSample] = []

    def append(self, item: SkippedSample) -> None:
        with self._count.get_lock():
            self._count.value += 1
        self._items.append(item)

    def __len__(self) -> int:
        return int(self._count.value)

    def __iter__(self) -> Iterator[SkippedSample]:
        return iter(self._items)

    def __getitem__(self, i: int | slice):
        return self._items[i]

    def __eq__(self, other: object) -> bool:
        return list(self._items) == list(other) if isinstance(other, (list, SkipLog)) else NotImplemented

    def __repr__(self) -> str:
        return f"SkipLog(count={len(self)}, here={self._items!r})"


class StudyDataset(Dataset):
    """Studies -> dicts of tensors.

    Each item: ``images`` [4, 3, H, W] float (normalised, zeros for missing slots), ``present`` [4] bool,
    ``input_ids`` / ``attention_mask`` [T] long, ``labels`` [14] float (NaN = blank), ``study_id`` str,
    ``text`` str (the cleaned report that was tokenised).
    """

    def __init__(self, records: list[StudyRecord], data_cfg: DataCfg, tokenizer, train: bool, seed: int = 0,
                 max_replacements: int = 50) -> None:
        if len(records) == 0:
            raise ValueError("StudyDataset needs at least one study record")
        self.records = list(records)
        self.cfg = data_cfg
        self.tokenizer = tokenizer
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.max_replacements = max_replacements
        self.skipped = SkipLog()
        self.missing_views = SkipLog()  # optional views (not the frontal) that could not be read: slot left empty
        # data.cache_in_memory: report index -> (text, ids, mask); image path -> resized [H, W] float32
        self._report_cache: dict[int, tuple[str, torch.Tensor, torch.Tensor]] = {}
        self._image_cache: dict[str, np.ndarray] = {}
        self.use_slot = (True, data_cfg.use_lateral, data_cfg.use_prior, data_cfg.use_prior and data_cfg.use_lateral)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Vary the augmentation draw per epoch (as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def augmentation(self, index: int) -> Augment:
        """The study's augmentation: identity in eval mode or when ``cfg.augment`` is off."""
        if not (self.train and self.cfg.augment):
            return Augment()
        return Augment.draw(np.random.default_rng([self.seed, self.epoch, index]), self.cfg.augment_intensity)

    def dropped_slots(self, index: int) -> list[bool]:
        """Slots left out of this study for this epoch (``data.view_dropout``; never the frontal, never in eval).

        A study without a frontal keeps its first present slot, so no study loses every view."""
        p = self.cfg.view_dropout if self.train else 0.0
        if not 0.0 <= p < 1.0:
            raise ValueError(f"data.view_dropout must be in [0, 1), got {p}")
        if p == 0.0:
            return [False] * len(SLOTS)
        draw = np.random.default_rng([self.seed, self.epoch, index, 1]).random(len(SLOTS)) < p
        rec = self.records[index]
        usable = [rec.images[s] is not None and self.use_slot[k] for k, s in enumerate(SLOTS)]
        first = usable.index(True) if any(usable) else 0
        return [bool(draw[k]) and k != 0 and k != first for k in range(len(SLOTS))]

    def clean_text(self, rec: StudyRecord) -> str:
        return clean_report(rec.report, expand_abbreviations=self.cfg.expand_abbreviations,
                            remove_hedges=self.cfg.remove_hedges, source=rec.report_path or f"study {rec.study_id}")

    def report(self, index: int) -> tuple[str, torch.Tensor, torch.Tensor]:
        """The study's cleaned report and its tokens: (text, input_ids [T], attention_mask [T])."""
        if index in self._report_cache:
            return self._report_cache[index]
        text = self.clean_text(self.records[index])
        tok = tokenize_report(text, self.tokenizer, self.cfg.max_tokens)
        out = (text, tok["input_ids"], tok["attention_mask"])
        if self.cfg.cache_in_memory:
            self._report_cache[index] = out
        return out

    def image(self, path) -> np.ndarray:
        """One view decoded and resized to ``image_size``: [H, W] float32 in [0, 1] (before augmentation)."""
        key = str(path)
        if key in self._image_cache:
            return self._image_cache[key]
        img = resize(read_image(path), self.cfg.image_size, self.cfg.resize)
        if self.cfg.cache_in_memory:
            self._image_cache[key] = img
        return img

    def load(self, index: int) -> dict:
        """Load one study, raising ``DataError`` on bad input (``__getitem__`` turns that into a skip)."""
        rec = self.records[index]
        text, input_ids, attention_mask = self.report(index)
        aug = self.augmentation(index)
        size = self.cfg.image_size
        images = torch.zeros(len(SLOTS), 3, size, size)
        present = torch.zeros(len(SLOTS), dtype=torch.bool)
        dropped = self.dropped_slots(index)
        for k, slot in enumerate(SLOTS):
            path = rec.images[slot]
            if path is None or not self.use_slot[k] or dropped[k]:
                continue
            try:
                img = self.image(path)
            except (DataError, OSError) as e:
                if k == 0:  # the frontal is what every task reads: without it the study is skipped
                    raise
                self.missing_views.append(SkippedSample(index, rec.study_id, f"{slot}: {e}"))
                log.warning("%s view of study %s left empty (the study is kept): %s", slot, rec.study_id, e)
                continue
            images[k] = to_model_input(aug.apply(img), self.cfg.normalization)
            present[k] = True
        if not present.any():
            raise DataError(f"study {rec.study_id} has no usable image slot", file=rec.report_path)
        labels = torch.tensor([math.nan if rec.labels.get(n) is None else float(rec.labels[n])
                               for n in CHEXPERT_LABELS], dtype=torch.float32)
        return {"images": images, "present": present, "input_ids": input_ids.clone(),
                "attention_mask": attention_mask.clone(), "labels": labels, "study_id": rec.study_id, "text": text}

    def __getitem__(self, index: int) -> dict:
        for attempt in range(self.max_replacements + 1):
            i = (index + attempt) % len(self.records)
            try:
                return self.load(i)
            except (DataError, OSError) as e:
                skip = SkippedSample(i, self.records[i].study_id, str(e))
                self.skipped.append(skip)
                log.warning("skipping study %s (index %d): %s", skip.study_id, i, skip.reason)
        raise RuntimeError(f"{self.max_replacements + 1} consecutive studies failed to load from index {index}; "
                           f"last reasons: {[s.reason for s in self.skipped[-3:]]}. Run `clinvla-kit validate`.")


def collate(items: list[dict]) -> Batch:
    """Stack dataset items into a ``Batch`` (images [B, 4, 3, H, W], present [B, 4], ids/mask [B, T], labels [B, 14])."""
    if not items:
        raise ValueError("collate needs at least one item")
    return Batch(
        images=torch.stack([it["images"] for it in items]),
        present=torch.stack([it["present"] for it in items]),
        input_ids=torch.stack([it["input_ids"] for it in items]),
        attention_mask=torch.stack([it["attention_mask"] for it in items]),
        labels=torch.stack([it["labels"] for it in items]),
        study_ids=[it["study_id"] for it in items],
        texts=[it["text"] for it in items],
    )
