"""RetrievalProbe: a balanced seeded 5x200 slice, image-to-text P@k against a plain loop, chance and interval."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from clinvla_kit.config import DataCfg
from clinvla_kit.data.sources.benchmarks import CLASSES_5X200
from clinvla_kit.eval.embed import Embedder
from clinvla_kit.eval.quick_retrieval import RetrievalProbe, random_ranking_precision

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PER_CLASS = {0: 4, 1: 3, 2: 5, 3: 3, 4: 4}  # unbalanced on purpose: the slice takes the smallest count (3)


class PixelTextModel(torch.nn.Module):
    """Images: [mean pixel, 1]; texts: [report length in tokens, 1]; so images and reports both carry the class."""

    def __init__(self):
        super().__init__()
        from transformers import AutoTokenizer

        from clinvla_kit.model.text import minilm_dir

        self.w = torch.nn.Parameter(torch.ones(1))
        self.tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))

    def encode_image(self, images, present, normalize=True):
        z = torch.stack([images[:, 0].mean(dim=(1, 2, 3)), torch.ones(images.shape[0])], 1) * self.w
        return torch.nn.functional.normalize(z, dim=-1)

    def encode_text(self, input_ids, attention_mask, normalize=True):
        z = torch.stack([attention_mask.sum(1).float() / 10 - 1, torch.ones(input_ids.shape[0])], 1)
        return torch.nn.functional.normalize(z, dim=-1)


@pytest.fixture()
def bench(tmp_path):
    rows = []
    rng = np.random.default_rng(0)
    for c, n in PER_CLASS.items():
        for j in range(n):
            rel = f"img/{c}_{j}.png"
            (tmp_path / "img").mkdir(exist_ok=True)
            value = int(np.clip(30 + 45 * c + rng.integers(-30, 30), 0, 255))
            Image.fromarray(np.full((16, 16), value, dtype=np.uint8)).save(tmp_path / rel)
            report = " ".join(["opacity"] * (1 + 2 * c + j % 2))
            rows.append({"Path": rel, **{name: float(i == c) for i, name in enumerate(CLASSES_5X200)},
                         "Report Impression": report})
    (tmp_path / "benchmarks").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "benchmarks" / "chexpert_5x200.csv", index=False)
    return tmp_path


def plain_precision_at_k(sim, labels, k):
    """For each query: sort candidates by (-similarity, index), count label matches in the first k."""
    out = []
    for q in range(sim.shape[0]):
        order = sorted(range(sim.shape[1]), key=lambda c: (-sim[q, c], c))[:k]
        out.append(sum(labels[c] == labels[q] for c in order) / k)
    return float(np.mean(out))


def test_slice_is_balanced_seeded_and_in_file_order(bench):
    a = RetrievalProbe.from_5x200(bench, per_class=10, seed=1)
    assert len(a.images) == 15 and sorted(np.bincount(a.labels)) == [3] * 5  # capped at the smallest class
    assert a.images == RetrievalProbe.from_5x200(bench, per_class=10, seed=1).images
    small = RetrievalProbe.from_5x200(bench, per_class=2, seed=1)
    assert len(small.images) == 10 and list(small.labels) == sorted(small.labels)  # file order = class order here
    assert small.images != RetrievalProbe.from_5x200(bench, per_class=2, seed=2).images
    assert a.chance == pytest.approx(3 / 15)


def test_precision_matches_a_plain_loop(bench):
    probe = RetrievalProbe.from_5x200(bench, per_class=3, k=5, n_boot=100)
    model = PixelTextModel()
    cfg = DataCfg(image_size=16)
    row = probe(model, data_cfg=cfg)
    emb = Embedder(model, cfg, progress=False)
    sim = emb.images(list(probe.images), views="frontal") @ emb.texts(list(probe.reports)).T
    assert row["value"] == pytest.approx(plain_precision_at_k(sim, list(probe.labels), 5))
    assert row["ci_lo"] <= row["value"] <= row["ci_hi"]
    assert row["chance"] == pytest.approx(0.2) and row["n"] == 15
    assert row["includes_chance"] == (row["ci_lo"] <= 0.2 <= row["ci_hi"])
    assert row["metric"].startswith("image-to-text P@5")


def test_random_ranking_precision_is_the_mean_same_label_share():
    labels = np.array([0, 0, 0, 1])
    assert random_ranking_precision(labels) == pytest.approx((3 * 3 / 4 + 1 / 4) / 4)


def test_too_few_candidates_is_a_clear_error():
    with pytest.raises(ValueError, match="more than 5 candidates"):
        RetrievalProbe(images=("a",) * 5, reports=("r",) * 5, labels=(0,) * 5, classes=("x",), k=5)
