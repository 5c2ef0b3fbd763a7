"""The per-view AUC of a finding's zero-shot score against a plain reference: the one-view embedding through the
Grad-CAM tower, the cosine to the mean prompt embedding, and the Mann-Whitney pair count."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clinvla_kit.data.batch import Batch
from clinvla_kit.viz.attention import SlotImageTower, encode_prompt
from clinvla_kit.viz.view_evidence import view_finding_auc


def _pair_auc(score, y):
    pos, neg = score[y == 1], score[y == 0]
    return np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg])


@pytest.fixture(scope="module")
def six_studies(tiny_model):
    g = torch.Generator().manual_seed(3)
    images = torch.randn(6, 4, 3, 32, 32, generator=g)
    present = torch.tensor([[1, 1, 0, 0]] * 4 + [[1, 0, 0, 0]] * 2, dtype=torch.bool)
    batch = Batch(images=images, present=present, input_ids=torch.zeros(6, 4, dtype=torch.long),
                  attention_mask=torch.ones(6, 4, dtype=torch.long), labels=torch.zeros(6, 14),
                  study_ids=[str(i) for i in range(6)], texts=["x"] * 6)
    # frontal: positives 0, 2, 4; study 5 uncertain (left out); lateral (studies 0-3): positives 0, 2
    labels = [1.0, 0.0, 1.0, None, 1.0, -1.0]
    records = [SimpleNamespace(study_id=str(i), labels={"Cardiomegaly": v}) for i, v in enumerate(labels)]
    return batch, records


def test_view_auc_equals_the_pair_count_on_each_views_own_embedding(tiny_model, six_studies):
    batch, records = six_studies
    prompts = {"Cardiomegaly": ["mild cardiomegaly", "large heart"]}
    got = view_finding_auc(tiny_model, batch, records, ["Cardiomegaly"], prompts=prompts, n_boot=50)
    mean = torch.stack([encode_prompt(tiny_model, t) for t in prompts["Cardiomegaly"]]).mean(0)
    for slot, rows, y in [("frontal", [0, 1, 2, 3, 4], [1, 0, 1, 0, 1]), ("lateral", [0, 1, 2, 3], [1, 0, 1, 0])]:
        s = 0 if slot == "frontal" else 1
        with torch.no_grad():
            emb = SlotImageTower(tiny_model, slot)(batch.images[rows, s])
        score = (emb @ F.normalize(mean, dim=0)).numpy()
        row = got[got["view"] == slot].iloc[0]
        assert row["images"] == len(rows) and row["positives"] == sum(y)
        assert row["auc"] == pytest.approx(_pair_auc(score, np.array(y)), abs=1e-9)
        assert row["lo"] <= row["auc"] <= row["hi"] and row["chance"] == 0.5
        assert row["verdict"] == ("tells it" if row["lo"] > 0.5 else "below chance" if row["hi"] < 0.5
                                  else "at chance")
    assert set(got["view"]) == {"frontal", "lateral"}  # no prior images: those slots give no row


def test_view_auc_refuses_a_mismatched_batch_and_missing_prompts(tiny_model, six_studies):
    batch, records = six_studies
    with pytest.raises(ValueError, match="5 records for a batch of 6"):
        view_finding_auc(tiny_model, batch, records[:5], ["Cardiomegaly"], prompts={"Cardiomegaly": ["a"]})
    with pytest.raises(ValueError, match="no prompts for finding 'Edema'"):
        view_finding_auc(tiny_model, batch, records, ["Edema"], prompts={"Cardiomegaly": ["heart"]})


def test_rank_auc_counts_ties_as_half_like_the_pair_count():
    from clinvla_kit.viz.view_evidence import _binary_auc

    rng = np.random.default_rng(0)
    score = rng.integers(0, 4, size=40).astype(float)  # many ties
    y = (rng.random(40) < 0.3).astype(int)
    assert _binary_auc(score, y) == pytest.approx(_pair_auc(score, y), abs=1e-12)
    assert np.isnan(_binary_auc(score, np.zeros(40, int)))


def test_verdict_names_an_interval_below_chance():
    from clinvla_kit.viz.view_evidence import _verdict

    assert _verdict(0.55, 0.9) == "tells it"
    assert _verdict(0.2, 0.46) == "below chance"
    assert _verdict(0.4, 0.6) == "at chance"
