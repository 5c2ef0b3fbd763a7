"""``clinvla_kit.load`` and ``clinvla-kit embed`` on a tiny random ClinVLA run and image files written here
(PNG, JPG, DICOM), against references computed in the test from the model's own encode functions."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SIZE = 32
WORDS = ["no", "acute", "pleural", "effusion", "pneumothorax", "consolidation", "left", "right", "heart", "large",
         "small", "lungs", "clear", "there", "is", "a", "the", "cardiomegaly", "edema", "enlarged", "pulmonary"]


def write_dicom(path, pixels: np.ndarray) -> None:
    """An 8-bit MONOCHROME2 DICOM file of ``pixels`` (uint8 [H, W]), written with pydicom here."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "CR", "test"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PixelRepresentation, ds.PhotometricInterpretation = 1, 0, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny random ClinVLA (custom ViT 32 px, random 2-layer BERT) saved with ``save_pretrained``; the lateral
    and prior slots are on (the default config)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from clinvla_kit.config import RunCfg, apply_overrides
    from clinvla_kit.model.clinvla import ClinVLA

    root = tmp_path_factory.mktemp("inference")
    bert = root / "bert"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + WORDS
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(bert))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(str(bert))
    cfg = apply_overrides(RunCfg(), {
        "data.image_size": SIZE, "model.vision.model_name": "custom", "model.vision.embed_dim": 32,
        "model.vision.depth": 1, "model.vision.num_heads": 2, "model.vision.patch_size": 8,
        "model.text.name_or_path": str(bert), "model.text.max_tokens": 32, "model.adapters.bottleneck": 8,
        "model.embed_dim": 16, "model.head_norm": "none"})
    model = ClinVLA(cfg)
    with torch.no_grad():  # adapters start at zero: give every parameter a value so each part matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    out = root / "run"
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def files(run_dir):
    """The same 40x40 pixels as PNG and DICOM, a JPG and a second PNG (the lateral view)."""
    root = run_dir.parent / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    px = (rng.random((40, 40)) * 255).astype(np.uint8)
    px[0, 0], px[0, 1] = 0, 255  # full range: the DICOM reader's min-max scaling then equals PNG's / 255
    Image.fromarray(px).save(root / "frontal.png")
    write_dicom(root / "frontal.dcm", px)
    cv2.imwrite(str(root / "other.jpg"), (rng.random((48, 40)) * 255).astype(np.uint8))
    Image.fromarray(255 - px).save(root / "lateral.png")
    return {"png": root / "frontal.png", "dcm": root / "frontal.dcm", "jpg": root / "other.jpg",
            "lateral": root / "lateral.png"}


@pytest.fixture(scope="module")
def m(run_dir):
    import clinvla_kit

    return clinvla_kit.load(run_dir)


def reference_image(model, slots: dict) -> np.ndarray:
    """Each view read, resized and normalised by hand, then ``model.encode_image`` (eval mode)."""
    from clinvla_kit.config import SLOTS

    images, present = torch.zeros(1, 4, 3, SIZE, SIZE), torch.zeros(1, 4, dtype=torch.bool)
    for s, path in slots.items():
        px = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0
        px = cv2.resize(px, (SIZE, SIZE), interpolation=cv2.INTER_AREA)  # downscaling: area filter, as the kit
        mean, std = 0.4785, 0.2834  # the "alta" normalisation of the default config (ALTA's MIMIC statistics)
        images[0, SLOTS.index(s)] = torch.from_numpy((px - mean) / std)[None].expand(3, -1, -1)
        present[0, SLOTS.index(s)] = True
    model.eval()
    with torch.no_grad():
        return model.encode_image(images, present, normalize=True)[0].numpy()


def test_package_exports_lazily():
    code = ("import sys, clinvla_kit; assert 'torch' not in sys.modules, 'import clinvla_kit imported torch'; "
            "from clinvla_kit import ClinVLA, load; from clinvla_kit.model.clinvla import ClinVLA as C; "
            "assert ClinVLA is C and callable(load) and 'load' in dir(clinvla_kit)")
    subprocess.run([sys.executable, "-c", code], check=True)
    import clinvla_kit

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        clinvla_kit.nope  # noqa: B018


def test_image_embeddings_match_the_model(m, files):
    assert m.data_cfg.normalization == "alta"
    z = m.embed_images(files["png"])
    assert z.shape == (16,) and z.dtype == np.float32 and math.isclose(float(np.linalg.norm(z)), 1.0, abs_tol=1e-5)
    assert np.allclose(z, reference_image(m.model, {"frontal": files["png"]}), atol=1e-5)
    assert np.allclose(m.embed_images(files["dcm"]), z, atol=1e-5)  # same pixels in a DICOM file: same embedding
    study = {"frontal": files["png"], "lateral": files["lateral"]}
    zs = m.embed_images([study, files["jpg"]])
    assert zs.shape == (2, 16)
    assert np.allclose(zs[0], reference_image(m.model, study), atol=1e-5)
    assert not np.allclose(zs[0], z, atol=1e-3)  # the lateral view changed the study's embedding
    assert np.allclose(m.embed_images(study, views="frontal"), z, atol=1e-5)
    assert m.uses_lateral and m.views_used() == ("frontal", "lateral", "prior_frontal", "prior_lateral")


def test_bad_inputs_name_the_problem(m, files, tmp_path):
    from clinvla_kit.data.errors import DataError

    with pytest.raises(DataError, match="missing.png"):
        m.embed_images(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="unknown view"):
        m.embed_images({"front": files["png"]})
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    z, kept, skipped = m.embed_images_skipping([files["png"], bad, files["jpg"]], chunk=2, progress=False)
    assert kept == [0, 2] and z.shape == (2, 16) and skipped[0][0] == 1 and "bad.png" in skipped[0][1]
    assert np.allclose(z[0], m.embed_images(files["png"]), atol=1e-6)


def test_text_embeddings_and_similarity(m, files):
    texts = ["FINDINGS: Large left pleural effusion. IMPRESSION: Effusion.", "the heart is enlarged"]
    zt = m.embed_texts(texts)
    from clinvla_kit.data.reports import clean_report

    for i, t in enumerate(texts):
        enc = m.tokenizer(clean_report(t), return_tensors="pt")
        with torch.no_grad():
            ref = m.model.encode_text(enc["input_ids"], enc["attention_mask"], normalize=True)[0].numpy()
        assert np.allclose(zt[i], ref, atol=1e-5)
    assert m.embed_texts("pleural effusion").shape == (16,)
    s = m.similarity([files["png"], files["jpg"]], texts)
    zi = m.embed_images([files["png"], files["jpg"]])
    assert s.shape == (2, 2) and np.allclose(s, zi @ zt.T, atol=1e-6)
    assert float(m.similarity(files["png"], "effusion")) == pytest.approx(float(zi[0] @ m.embed_texts("effusion")))


def test_zero_shot_against_a_plain_reference(m, files):
    prompts = {"Pleural Effusion": ["pleural effusion", "left effusion"], "Cardiomegaly": ["enlarged heart"],
               "Edema": ["pulmonary edema"]}
    r = m.zero_shot(files["png"], prompts)
    img = m.embed_images(files["png"]).tolist()
    scores = []
    for plist in prompts.values():
        vs = [m.embed_texts(p, clean=False).tolist() for p in plist]
        mean = [sum(col) / len(vs) for col in zip(*vs)]
        n = math.sqrt(sum(x * x for x in mean))
        scores.append(sum(a * b / n for a, b in zip(img, mean)))
    assert np.allclose(r.scores, scores, atol=1e-5)
    scale = float(m.model.temps.logit_scale().detach())
    e = [math.exp(scale * (s - max(scores))) for s in scores]
    assert np.allclose(r.probs, [x / sum(e) for x in e], atol=1e-5)
    assert r.label == list(prompts)[int(np.argmax(scores))] and set(r.as_dict()) == set(prompts)
    many = m.zero_shot([files["png"], files["jpg"]], prompts)
    assert len(many) == 2 and np.allclose(many[0].scores, r.scores, atol=1e-6)
    by_name = m.zero_shot(files["png"], ["Pleural Effusion", "Cardiomegaly", "my finding"], max_per_class=3)
    assert len(by_name.prompts["Pleural Effusion"]) == 3 and by_name.prompts["my finding"] == ["my finding"]
    with pytest.raises(ValueError, match="at least two classes"):
        m.zero_shot(files["png"], ["Edema"])


def test_load_by_name_through_the_registry_hook(run_dir, monkeypatch):
    """``load(name)`` asks ``clinvla_kit.weights.resolve``; a stand-in registry replaces the shipped one here."""
    import clinvla_kit

    fake = types.ModuleType("clinvla_kit.weights")
    fake.registry = lambda: {"clinvla-tiny": {"file": "run"}, "an-encoder": {"file": "enc.safetensors"}}

    def resolve(name):
        if name not in fake.registry():
            raise ValueError(f"{name!r} is not a shipped model")
        return run_dir if name == "clinvla-tiny" else run_dir / "model.safetensors"

    fake.resolve = resolve
    monkeypatch.setitem(sys.modules, "clinvla_kit.weights", fake)
    loaded = clinvla_kit.load("clinvla-tiny")
    assert loaded.source == run_dir and loaded.cfg.model.embed_dim == 16
    with pytest.raises(FileNotFoundError, match=r"known names: \['an-encoder', 'clinvla-tiny'\]"):
        clinvla_kit.load("no-such-model")
    with pytest.raises(ValueError, match="not an aligned model"):
        clinvla_kit.load("an-encoder")
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        clinvla_kit.load(run_dir.parent / "no_such_dir")


def test_embed_command_on_a_folder_of_images(run_dir, files, tmp_path):
    import pandas as pd

    from clinvla_kit.cli import main

    out = tmp_path / "emb.parquet"
    assert main(["embed", "--run", str(run_dir), "--data", str(files["png"].parent), "--out", str(out),
                 "--quiet"]) == 0
    df = pd.read_parquet(out)
    assert sorted(df["study_id"]) == ["frontal", "frontal", "lateral", "other"]
    assert len(df) == 4 and {"study_id", "frontal", "image_emb"} <= set(df.columns)
    row = df.set_index("frontal").loc[str(files["dcm"])]
    import clinvla_kit

    assert np.allclose(np.asarray(row["image_emb"]), clinvla_kit.load(run_dir).embed_images(files["dcm"]), atol=1e-5)
    assert main(["embed", "--run", str(run_dir), "--data", str(files["png"].parent), "--out", str(out)]) == 1  # kept


def test_embed_command_on_a_mimic_dir_with_reports(run_dir, tmp_path, capsys):
    from clinvla_kit.cli import main
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.synth.generate import generate

    data = tmp_path / "synth"
    generate(data, studies=6, seed=3, image_size=48, workers=1)
    records = list(load_mimic(data))
    bad = next(r for r in records if r.images["frontal"] is not None)
    bad.images["frontal"].write_bytes(b"")  # one unreadable study: skipped and counted, not fatal
    out = tmp_path / "emb.npz"
    assert main(["embed", "--run", str(run_dir), "--data", str(data), "--out", str(out), "--texts", "--quiet"]) == 0
    z = np.load(out)
    n = len(records) - 1
    assert z["image_emb"].shape == (n, 16) and z["text_emb"].shape == (n, 16) and bad.study_id not in z["study_id"]
    import json

    meta = json.loads(str(z["meta"]))
    assert meta["n"] == n and meta["skipped"][0]["study_id"] == bad.study_id and "empty" in meta["skipped"][0]["reason"]
    assert "skipped 1" in capsys.readouterr().out
