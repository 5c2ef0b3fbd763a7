"""Layout, columns, determinism and ground-truth consistency of a small generated SynthCXR."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.synth.findings import KIND_TO_CHEXPERT
from clinvla_kit.synth.rle import rle_decode

from .conftest import SIZE


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _annotations(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "annotations.jsonl").read_text().splitlines()]


def test_layout_and_columns(synth_dir):
    d = synth_dir
    meta = _rows(d / "mimic-cxr-2.0.0-metadata.csv")
    assert list(meta[0]) == ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription",
                             "ViewPosition", "Rows", "Columns", "StudyDate", "StudyTime",
                             "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
                             "PatientOrientationCodeSequence_CodeMeaning"]
    assert list(_rows(d / "mimic-cxr-2.0.0-split.csv")[0]) == ["dicom_id", "study_id", "subject_id", "split"]
    assert list(_rows(d / "mimic-cxr-2.0.0-chexpert.csv")[0]) == ["subject_id", "study_id", *CHEXPERT_LABELS]
    views = {r["ViewPosition"] for r in meta}
    assert views <= {"PA", "AP", "LATERAL", "LL"} and {"PA", "LATERAL"} <= views
    for r in meta:
        s = r["subject_id"]
        assert len(s) == 8 and len(r["study_id"]) == 8 and len(str(r["StudyDate"])) == 8
        img = d / f"files/p{s[:2]}/p{s}/s{r['study_id']}/{r['dicom_id']}.jpg"
        assert img.is_file(), img
        assert (d / f"reports/files/p{s[:2]}/p{s}/s{r['study_id']}.txt").is_file()
        float(r["StudyTime"])
    im = cv2.imread(str(img), cv2.IMREAD_UNCHANGED)
    assert im.shape == (SIZE, SIZE) and im.dtype == np.uint8
    # some studies have no lateral view
    per_study = defaultdict(set)
    for r in meta:
        per_study[r["study_id"]].add(r["ViewPosition"])
    assert any(not (v & {"LATERAL", "LL"}) for v in per_study.values())
    for f in ["benchmarks/chexpert_5x200.csv", "benchmarks/chexpert_8x200/image-retrieval/query.csv",
              "benchmarks/chexpert_8x200/image-retrieval/candidate.csv",
              "benchmarks/chexpert_8x200/text-retrieval/query.csv", "benchmarks/rsna/stage_2_train_labels.csv",
              "benchmarks/rsna/test_list.txt", "benchmarks/temporal.csv", "benchmarks/README.md"]:
        assert (d / f).is_file(), f


def test_byte_identical_for_seed_and_workers(synth_pair):
    a, b, _ = synth_pair
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_split_is_by_patient(synth_dir):
    by_subject = defaultdict(set)
    for r in _rows(synth_dir / "mimic-cxr-2.0.0-split.csv"):
        by_subject[r["subject_id"]].add(r["split"])
    assert all(len(s) == 1 for s in by_subject.values())
    assert {"train", "test"} <= set().union(*by_subject.values())


def test_labels_agree_with_annotations(synth_dir):
    ann = defaultdict(set)
    for a in _annotations(synth_dir):
        if a["finding"] in KIND_TO_CHEXPERT:
            ann[a["study_id"]].add(KIND_TO_CHEXPERT[a["finding"]])
    for r in _rows(synth_dir / "mimic-cxr-2.0.0-chexpert.csv"):
        drawn = ann.get(int(r["study_id"]), set())
        for name in KIND_TO_CHEXPERT.values():
            positive = r[name] in ("1.0", "-1.0")
            assert positive == (name in drawn), (r["study_id"], name, r[name])
        pathology = drawn - {"Support Devices"}
        assert (r["No Finding"] == "1.0") == (not pathology)


def test_masks_inside_image_and_bbox_matches(synth_dir):
    n = 0
    for a in _annotations(synth_dir):
        if a["mask"] is None:
            continue
        m = rle_decode(a["mask"])
        assert m.shape == (SIZE, SIZE)
        ys, xs = np.nonzero(m)
        x, y, w, h = a["bbox"]
        assert 0 <= x and 0 <= y and x + w <= SIZE and y + h <= SIZE
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + w, y + h)
        n += 1
    assert n > 0


def _split_of_paths(d: Path) -> dict[str, str]:
    split = {r["dicom_id"]: r["split"] for r in _rows(d / "mimic-cxr-2.0.0-split.csv")}
    return split


def test_benchmarks_use_test_patients_only(synth_dir):
    d = synth_dir
    split = _split_of_paths(d)
    files = [d / "benchmarks/chexpert_5x200.csv", d / "benchmarks/chexpert_8x200/image-retrieval/query.csv",
             d / "benchmarks/chexpert_8x200/image-retrieval/candidate.csv"]
    for f in files:
        rows = _rows(f)
        assert rows, f
        for r in rows:
            assert (d / r["Path"]).is_file()
            assert split[Path(r["Path"]).stem] == "test", (f, r["Path"])
    for r in _rows(d / "benchmarks/temporal.csv"):
        assert split[r["dicom_id"]] == "test" and split[r["previous_dicom_id"]] == "test"


def test_5x200_one_positive_of_five_and_8x200_one_hot(synth_dir):
    five = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
    rows = _rows(synth_dir / "benchmarks/chexpert_5x200.csv")
    for r in rows:
        assert sum(r[c] == "1.0" for c in five) == 1
        assert r["Report Impression"].strip()
    assert {c for r in rows for c in five if r[c] == "1.0"} == set(five)
    eight = ["No Finding", "Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumonia", "Pneumothorax",
             "Fracture"]
    base = synth_dir / "benchmarks/chexpert_8x200"
    q, c = _rows(base / "image-retrieval/query.csv"), _rows(base / "image-retrieval/candidate.csv")
    t = _rows(base / "text-retrieval/query.csv")
    for r in q + c + t:
        assert sum(int(r[k]) for k in eight) == 1
    assert not {r["Path"] for r in q} & {r["Path"] for r in c}
    assert len(t) == 5 * 8 and all(r["Text"].strip() for r in t)
    per_class = {k: sum(int(r[k]) for r in c) for k in eight}
    assert min(per_class.values()) >= 2, per_class


def test_rsna_dicoms_read_back(synth_dir):
    import pydicom

    rdir = synth_dir / "benchmarks/rsna"
    ids = (rdir / "test_list.txt").read_text().split()
    rows = _rows(rdir / "stage_2_train_labels.csv")
    assert set(ids) == {r["patientId"] for r in rows}
    photometric = set()
    for r in rows:
        if r["Target"] == "1":
            assert float(r["width"]) > 0 and float(r["height"]) > 0
        else:
            assert r["x"] == r["width"] == ""
    assert any(r["Target"] == "1" for r in rows) and any(r["Target"] == "0" for r in rows)
    for pid in ids:
        ds = pydicom.dcmread(rdir / "stage_2_train_images" / f"{pid}.dcm")
        assert ds.file_meta.TransferSyntaxUID and ds.PatientID == pid
        px = ds.pixel_array.astype(np.float64)
        assert px.shape == (SIZE, SIZE)
        photometric.add((ds.PhotometricInterpretation, int(ds.BitsAllocated)))
    assert ("MONOCHROME1", 8) in photometric or ("MONOCHROME1", 16) in photometric
    assert {8, 16} <= {b for _, b in photometric}
