"""StudyDataset + collate: shapes, per-study augmentation applied identically to every view, skip-and-count."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from clinvla_kit.config import DataCfg
from clinvla_kit.data.batch import Batch
from clinvla_kit.data.dataset import Augment, StudyDataset, collate
from clinvla_kit.data.records import StudyRecord
from clinvla_kit.data.sources.mimic import load_mimic

CFG = DataCfg(image_size=32, max_tokens=48)


def test_items_and_collate(mimic_dir, minilm_tokenizer):
    recs = load_mimic(mimic_dir)
    ds = StudyDataset(recs, CFG, minilm_tokenizer, train=False)
    item = ds[1]  # 50000001: PA + LATERAL, no prior
    assert item["images"].shape == (4, 3, 32, 32) and item["present"].tolist() == [True, True, False, False]
    assert item["images"][2:].eq(0).all()
    assert torch.equal(item["images"][0, 0], item["images"][0, 1])  # grey replicated
    assert item["input_ids"].shape == (48,) and item["attention_mask"].dtype == torch.long
    assert item["labels"].shape == (14,) and item["labels"][0] == 1.0 and math.isnan(item["labels"][1])
    assert item["study_id"] == "50000001" and "pneumothorax" in item["text"] and "PTX" not in item["text"]
    batch = collate([ds[i] for i in range(len(ds))])
    assert isinstance(batch, Batch) and len(batch) == 5
    assert batch.images.shape == (5, 4, 3, 32, 32) and batch.present.shape == (5, 4)
    assert batch.input_ids.shape == (5, 48) and batch.labels.shape == (5, 14)
    assert batch.study_ids == [r.study_id for r in recs] and len(batch.texts) == 5
    assert batch.present[2].tolist() == [False, True, True, True]  # lateral-only study with its prior
    assert ds.skipped == []


def test_eval_is_deterministic_and_cfg_slots(mimic_dir, minilm_tokenizer):
    recs = load_mimic(mimic_dir)
    ds = StudyDataset(recs, CFG, minilm_tokenizer, train=False)
    assert torch.equal(ds[3]["images"], ds[3]["images"])
    solo = StudyDataset(recs, replace(CFG, use_lateral=False, use_prior=False), minilm_tokenizer, train=False)
    assert solo[3]["present"].tolist() == [True, False, False, False]


def test_cache_in_memory_gives_the_same_items_and_reads_each_file_once(mimic_dir, minilm_tokenizer, monkeypatch):
    import clinvla_kit.data.dataset as dataset_module

    recs = load_mimic(mimic_dir)
    plain = StudyDataset(recs, CFG, minilm_tokenizer, train=True)
    cached = StudyDataset(recs, replace(CFG, cache_in_memory=True), minilm_tokenizer, train=True)
    reads: dict[str, list[str]] = {"plain": [], "cached": []}
    real_read = dataset_module.read_image
    for epoch in (0, 1):  # the augmentation changes between epochs, the cached decode does not
        for name, ds in (("plain", plain), ("cached", cached)):
            monkeypatch.setattr(dataset_module, "read_image", lambda p, n=name: reads[n].append(str(p)) or real_read(p))
            ds.set_epoch(epoch)
            items = [ds[i] for i in range(len(recs))]
            if name == "plain":
                ref = items
        for a, b in zip(ref, items):
            assert torch.equal(a["images"], b["images"]) and torch.equal(a["input_ids"], b["input_ids"])
            assert a["text"] == b["text"] and torch.equal(a["attention_mask"], b["attention_mask"])
    assert sorted(reads["cached"]) == sorted(set(reads["plain"]))  # each file decoded once, in the first epoch
    assert len(reads["plain"]) >= 2 * len(set(reads["plain"]))  # the plain dataset decodes in every epoch
    assert len(cached._report_cache) == len(recs) and not plain._report_cache and not plain._image_cache


def pair_record(tmp_path, same: bool = True) -> StudyRecord:
    """A study whose frontal and lateral are the same asymmetric picture (or two different ones)."""
    from PIL import Image

    img = np.zeros((32, 32), np.uint8)
    img[4:12, 6:26] = 220
    img[12:28, 6:10] = 160
    Image.fromarray(img).save(tmp_path / "f.png")
    Image.fromarray(img if same else img.T.copy()).save(tmp_path / "l.png")
    images = {"frontal": tmp_path / "f.png", "lateral": tmp_path / "l.png", "prior_frontal": None,
              "prior_lateral": None}
    return StudyRecord("1", "s1", "", images, report="FINDINGS: Clear lungs.")


def test_same_augmentation_on_every_view(tmp_path, minilm_tokenizer):
    rec = pair_record(tmp_path)
    train = StudyDataset([rec], CFG, minilm_tokenizer, train=True, seed=1)
    plain = StudyDataset([rec], CFG, minilm_tokenizer, train=False)
    x = train[0]["images"]
    assert torch.equal(x[0], x[1])  # identical views stay identical: one draw per study
    assert not torch.equal(x[0], plain[0]["images"][0])  # and augmentation did something
    train.set_epoch(1)
    assert not torch.equal(train[0]["images"][0], x[0])  # a new draw per epoch
    # the transform of each view is the one the study drew, checked against a direct application
    from clinvla_kit.data.images import read_image, resize, to_model_input

    aug = train.augmentation(0)
    ref = to_model_input(aug.apply(resize(read_image(rec.images["lateral"]), 32)), "alta")
    assert torch.allclose(train[0]["images"][1], ref)


def test_augment_ranges_and_identity():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = Augment.draw(rng)
        assert -5 <= a.angle <= 5 and 0.95 <= a.scale <= 1.05 and 0.9 <= a.brightness <= 1.1
        assert 0.9 <= a.contrast <= 1.1 and abs(a.tx) <= 0.04 and abs(a.ty) <= 0.04
    geometric = Augment.draw(np.random.default_rng(3), intensity=0.0)
    full = Augment.draw(np.random.default_rng(3))
    assert geometric.brightness == geometric.contrast == 1.0 and full.brightness != 1.0
    assert (geometric.angle, geometric.scale, geometric.tx, geometric.ty) == (full.angle, full.scale, full.tx, full.ty)
    with pytest.raises(ValueError, match="augment_intensity"):
        Augment.draw(rng, intensity=1.5)
    img = np.random.default_rng(1).random((16, 16)).astype(np.float32)
    np.testing.assert_allclose(Augment().apply(img), img, atol=1e-5)
    # a pure translation by +2 px moves a bright pixel by 2 px (reference by hand)
    dot = np.zeros((16, 16), np.float32)
    dot[5, 5] = 1.0
    moved = Augment(tx=2 / 16).apply(dot)
    assert np.unravel_index(moved.argmax(), moved.shape) == (5, 7)


def test_skip_and_count(mimic_dir, minilm_tokenizer, caplog):
    recs = load_mimic(mimic_dir)
    bad_img = recs[4].images["frontal"]  # 50000010's PA, no other study uses it as a prior
    bad_img.write_bytes(b"garbage")
    ds = StudyDataset(recs, CFG, minilm_tokenizer, train=True)
    items = [ds[i] for i in range(len(ds))]
    assert len(items) == 5
    assert items[4]["study_id"] == recs[0].study_id  # replaced by the next loadable study (wrapping around)
    assert [s.study_id for s in ds.skipped] == [recs[4].study_id]
    assert str(bad_img) in ds.skipped[0].reason
    assert "skipping study" in caplog.text and str(bad_img) in caplog.text
    empty = replace(recs[0], report="FINDINGS: ___")
    ds2 = StudyDataset([empty, recs[0]], CFG, minilm_tokenizer, train=False)
    assert ds2[0]["study_id"] == recs[0].study_id and "empty" in ds2.skipped[0].reason
    dead = StudyDataset([empty], CFG, minilm_tokenizer, train=False, max_replacements=2)
    with pytest.raises(RuntimeError, match="validate"):
        dead[0]


def test_skip_count_is_shared_with_workers(mimic_dir, minilm_tokenizer):
    from torch.utils.data import DataLoader

    recs = load_mimic(mimic_dir)
    recs[4].images["frontal"].write_bytes(b"garbage")
    ds = StudyDataset(recs, CFG, minilm_tokenizer, train=False)
    batches = list(DataLoader(ds, batch_size=5, num_workers=1, collate_fn=collate))
    assert len(batches[0]) == 5
    assert len(ds.skipped) == 1  # counted in the worker, visible here


def test_view_dropout_keeps_a_view_and_is_seeded(mimic_dir, minilm_tokenizer):
    """Training drops each non-frontal slot with probability ``view_dropout`` (per study and epoch); the frontal, or a
    frontal-less study's first slot, always stays; evaluation never drops."""
    recs = load_mimic(mimic_dir)
    cfg = replace(CFG, view_dropout=0.5, augment=False)
    full = StudyDataset(recs, replace(cfg, view_dropout=0.0), minilm_tokenizer, train=True)
    ds = StudyDataset(recs, cfg, minilm_tokenizer, train=True, seed=3)
    kept_any_drop = False
    for epoch in range(12):
        ds.set_epoch(epoch)
        for i in range(len(recs)):
            have, got = full[i]["present"], ds[i]["present"]
            assert not (got & ~have).any() and got.any()
            first = int(have.long().argmax())
            assert got[first]  # frontal (or the first present slot) is never dropped
            kept_any_drop |= bool((have & ~got).any())
            if not got[1] and have[1]:
                assert ds[i]["images"][1].eq(0).all()
    assert kept_any_drop
    ds.set_epoch(4)
    again = StudyDataset(recs, cfg, minilm_tokenizer, train=True, seed=3)
    again.set_epoch(4)
    assert [ds[i]["present"].tolist() for i in range(len(recs))] == [again[i]["present"].tolist()
                                                                      for i in range(len(recs))]
    evaluation = StudyDataset(recs, cfg, minilm_tokenizer, train=False)
    assert all(torch.equal(evaluation[i]["present"], full[i]["present"]) for i in range(len(recs)))
    with pytest.raises(ValueError, match="view_dropout"):
        StudyDataset(recs, replace(cfg, view_dropout=1.0), minilm_tokenizer, train=True)[0]


def test_missing_lateral_file_leaves_the_slot_empty_and_is_counted(mimic_dir, minilm_tokenizer, caplog):
    """Issue 16 s4: a missing lateral file used to drop the whole study, good frontal included."""
    recs = load_mimic(mimic_dir)
    recs[1].images["lateral"].unlink()  # 50000001: PA + LATERAL
    ds = StudyDataset(recs, CFG, minilm_tokenizer, train=False)
    item = ds[1]
    assert item["study_id"] == "50000001" and item["present"].tolist() == [True, False, False, False]
    assert item["images"][1].eq(0).all() and ds.skipped == []
    assert len(ds.missing_views) == 1 and ds.missing_views[0].study_id == "50000001"
    assert "lateral" in ds.missing_views[0].reason and "lateral view of study 50000001" in caplog.text
    recs[1].images["frontal"].unlink()  # the frontal is not optional: the study is skipped as before
    assert ds[1]["study_id"] != "50000001" and [s.study_id for s in ds.skipped] == ["50000001"]
