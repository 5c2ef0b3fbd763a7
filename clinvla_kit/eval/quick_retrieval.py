"""A retrieval check cheap enough to run between training segments: image-to-text P@k on a small, balanced slice of
the 5x200 benchmark, with its bootstrap interval and its chance level.

Why this metric: image-to-text P@5 on 5x200 is the benchmark notebook 04 reports and the paper's Table 3 uses, so a
curve of it during training shows the very number the evaluation will print, moving. Why a slice: on 2 CPU cores
embedding the 1,000 images and reports of the full set takes longer than the training steps between two
measurements; ``per_class`` images per class (default 20: 100 images, 100 reports) cost a few seconds. The slice is
drawn once (seeded) and reused at every step, so the points of the curve differ only by the weights.

Relevance is the label (an image's report counts as a hit when it has the image's class), candidates are the
slice's own reports, ties follow ``retrieval.rank_candidates``'s stable rule. Chance is what a random ranking scores
in expectation: the share of candidates with the query's class, averaged over queries (0.2 on a balanced slice).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from clinvla_kit.config import DataCfg
from clinvla_kit.eval.bootstrap import bootstrap_ci
from clinvla_kit.eval.retrieval import precision_at_k_per_query


def random_ranking_precision(labels: np.ndarray) -> float:
    """Expected P@k (any k) of a uniformly random ranking when queries and candidates are the same labelled items:
    mean over items of the share of items with the item's label. ``labels`` [N]."""
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return float((counts[inverse] / labels.size).mean())


@dataclass(frozen=True)
class RetrievalProbe:
    """Image-to-text P@``k`` on fixed images [N] and their reports [N] with class ``labels`` [N].

    Calling it on a model returns one row: ``{"metric", "value", "ci_lo", "ci_hi", "chance", "includes_chance",
    "n"}`` (fractions in [0, 1]; the interval is the seeded percentile bootstrap over query images).
    """

    images: tuple[Path, ...]
    reports: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    k: int = 5
    n_boot: int = 200
    seed: int = 0
    views: str = "frontal"  # the 5x200 protocol: one frontal image per query

    def __post_init__(self) -> None:
        n = len(self.images)
        if not (len(self.reports) == len(self.labels) == n):
            raise ValueError(f"RetrievalProbe: {n} images, {len(self.reports)} reports and {len(self.labels)} labels "
                             "must be as many")
        if n <= self.k:
            raise ValueError(f"RetrievalProbe: P@{self.k} needs more than {self.k} candidates, got {n}")

    @classmethod
    def from_5x200(cls, data_dir: str | Path, per_class: int = 20, k: int = 5, n_boot: int = 200,
                   seed: int = 0) -> RetrievalProbe:
        """``per_class`` seeded images of each 5x200 class (fewer where the file has fewer: the smallest class's
        count, so the slice stays balanced), in file order.

        Raises:
            FileNotFoundError / DataError: no ``chexpert_5x200.csv`` under ``data_dir`` (or a bad row, named).
        """
        from clinvla_kit.data.sources.benchmarks import CLASSES_5X200, load_chexpert_5x200
        from clinvla_kit.eval.tasks import benchmark_paths

        paths = benchmark_paths(data_dir)
        df = load_chexpert_5x200(paths["5x200"], image_root=paths["root"])
        counts = df["label_index"].value_counts()
        take = min(int(per_class), int(counts.min())) if len(counts) == len(CLASSES_5X200) else 0
        if take < 1:
            raise ValueError(f"{paths['5x200']}: every one of the {len(CLASSES_5X200)} classes needs at least one "
                             f"image, got counts {counts.to_dict()}")
        rng = np.random.default_rng(seed)
        keep = sorted(i for c in range(len(CLASSES_5X200))
                      for i in rng.choice(np.flatnonzero(df["label_index"].to_numpy() == c), take, replace=False))
        sub = df.iloc[keep]
        return cls(images=tuple(Path(p) for p in sub["path"]), reports=tuple(sub["report"]),
                   labels=tuple(int(x) for x in sub["label_index"]), classes=tuple(CLASSES_5X200), k=k,
                   n_boot=n_boot, seed=seed)

    @property
    def name(self) -> str:
        return f"image-to-text P@{self.k} ({len(self.classes)} classes x {len(self.images) // len(self.classes)})"

    @property
    def chance(self) -> float:
        return random_ranking_precision(np.asarray(self.labels))

    def __call__(self, model: nn.Module, data_cfg: DataCfg | None = None, batch_size: int = 32) -> dict[str, Any]:
        """Embed the slice with ``model`` (eval mode, no cache: the weights change between calls) and score it."""
        from clinvla_kit.eval.embed import Embedder

        emb = Embedder(model, data_cfg, batch_size=batch_size, progress=False)
        img = emb.images(list(self.images), views=self.views)  # [N, D]
        rep = emb.texts(list(self.reports), clean=True)  # [N, D]
        labels = np.asarray(self.labels)
        per_q = precision_at_k_per_query(img @ rep.T, labels, labels, [self.k])[f"P@{self.k}"]  # [N]
        lo, hi = bootstrap_ci(lambda idx: float(per_q[idx].mean()), len(per_q), self.n_boot, self.seed)
        chance = self.chance
        return {"metric": self.name, "value": float(per_q.mean()), "ci_lo": lo, "ci_hi": hi, "chance": chance,
                "includes_chance": bool(lo <= chance <= hi), "n": len(per_q)}
