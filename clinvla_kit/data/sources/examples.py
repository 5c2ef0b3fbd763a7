"""Tiny example copies of every real data set's published layout, so notebook 09 runs each loader without data.

``write_examples(out)`` writes a few studies per data set in the exact file formats the loaders read (column
names, path patterns, DICOM tags) and returns where each one is. The pixels are plain gradients: these files show
the *formats*, not radiographs (SynthCXR is the data set for learning). The loader tests write their own fixtures
independently, so a mistake here cannot hide a loader bug.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.data.sources.benchmarks import CLASSES_5X200, CLASSES_8X200

_REPORTS = (
    ("Heart size is normal. The lungs are clear. No pleural effusion or pneumothorax.", "No acute disease."),
    ("Moderate cardiomegaly. Small right pleural effusion.", "Cardiomegaly and small right effusion."),
    ("Patchy left lower lobe opacity, possibly pneumonia. No pneumothorax.", "Possible left lower lobe pneumonia."),
)


def _image(path: Path, size: int = 32, seed: int = 0) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size]
    cv2.imwrite(str(path), ((x * 3 + y * 5 + seed * 17) % 256).astype(np.uint8))


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _dicom(path: Path, patient_id: str, size: int = 32) -> None:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientID, ds.Modality, ds.BodyPartExamined, ds.ViewPosition = patient_id, "CR", "CHEST", "PA"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = (np.arange(size * size) % 256).astype(np.uint8).tobytes()
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)


def _onehot(c: str, classes: tuple[str, ...]) -> list[str]:
    return ["1" if k == c else "0" for k in classes]


def write_examples(out: str | Path) -> dict[str, Path]:
    """Write the example sets under ``out``; returns {kind: directory or file to pass to its loader/validator}."""
    out = Path(out)
    made: dict[str, Path] = {}
    # CheXpert train.csv + images, two studies (one with a lateral view)
    cx = out / "chexpert"
    rows = []
    for k, rel in enumerate(("patient00001/study1/view1_frontal.jpg", "patient00001/study1/view2_lateral.jpg",
                             "patient00002/study1/view1_frontal.jpg")):
        path = f"CheXpert-v1.0-small/train/{rel}"
        _image(cx / path, seed=k)
        labels = ["1.0" if (o == "Cardiomegaly" and k < 2) or (o == "No Finding" and k == 2) else ""
                  for o in CHEXPERT_LABELS]
        view = "Lateral" if "lateral" in rel else "Frontal"
        rows.append([path, "Female", "61", view, "" if view == "Lateral" else "PA", *labels])
    _csv(cx / "CheXpert-v1.0-small" / "train.csv", ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA",
                                                    *CHEXPERT_LABELS], rows)
    made["chexpert"] = cx
    # 5x200 (2 per class) and 8x200 (2 candidates, 1 image query, 5 text queries per class)
    bm = out / "chexpert-benchmarks"
    rows5 = []
    for i, c in enumerate(CLASSES_5X200 * 2):
        path = f"CheXpert-v1.0/train/patient{10 + i:05d}/study1/view1_frontal.jpg"
        _image(bm / path, seed=i)
        rows5.append([path, "Male", "50", "Frontal", "AP", *["1.0" if o == c else "0.0" for o in CHEXPERT_LABELS],
                      f"Findings consistent with {c.lower()}."])
    _csv(bm / "chexpert_5x200.csv", ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS,
                                     "Report Impression"], rows5)
    for name, n in (("query", 1), ("candidate", 2)):
        rows8 = []
        for c in CLASSES_8X200:
            for j in range(n):
                path = f"CheXpert-v1.0/valid/{name}/{c.replace(' ', '_').lower()}_{j}.jpg"
                _image(bm / path, seed=j)
                rows8.append([path, *_onehot(c, CLASSES_8X200)])
        _csv(bm / "chexpert_8x200" / "image-retrieval" / f"{name}.csv", ["Path", *CLASSES_8X200], rows8)
    texts = [[f"{c} example sentence {j}.", *_onehot(c, CLASSES_8X200)] for c in CLASSES_8X200 for j in range(5)]
    _csv(bm / "chexpert_8x200" / "text-retrieval" / "query.csv", ["Text", *CLASSES_8X200], texts)
    made["chexpert-5x200"] = made["chexpert-8x200"] = bm
    # RSNA: 4 train-label patients, one with two boxes; MRM/ALTA's test_list.txt in its released format: two
    # stage-2 test images ("stage_2_test_images/<patientId>.dcm <label>") that are not in the train labels
    rs = out / "rsna"
    ids = [f"0000000{k}-aaaa-4bbb-8ccc-00000000000{k}" for k in range(4)]
    for pid in ids:
        _dicom(rs / "stage_2_train_images" / f"{pid}.dcm", pid)
    _csv(rs / "stage_2_train_labels.csv", ["patientId", "x", "y", "width", "height", "Target"],
         [[ids[0], "", "", "", "", "0"], [ids[1], "4", "4", "8", "10", "1"], [ids[1], "18", "5", "8", "9", "1"],
          [ids[2], "", "", "", "", "0"], [ids[3], "10", "12", "6", "6", "1"]])
    test_ids = [f"0000001{k}-tttt-4bbb-8ccc-00000000001{k}" for k in range(2)]
    for pid in test_ids:
        _dicom(rs / "stage_2_test_images" / f"{pid}.dcm", pid)
    (rs / "test_list.txt").write_text(f"stage_2_test_images/{test_ids[0]}.dcm 1\n"
                                      f"stage_2_test_images/{test_ids[1]}.dcm 0\n")
    made["rsna"] = rs
    # Open-I, both layouts
    oi = out / "openi"
    xml = ('<?xml version="1.0" encoding="utf-8"?>\n<eCitation><uId id="CXR{n}"/><MedlineCitation><Article>'
           '<Abstract><AbstractText Label="INDICATION">Cough.</AbstractText><AbstractText Label="FINDINGS">{f}'
           '</AbstractText><AbstractText Label="IMPRESSION">{i}</AbstractText></Abstract></Article>'
           '</MedlineCitation>{imgs}</eCitation>\n')
    proj = []
    for n, (f, i) in enumerate(_REPORTS, start=1):
        imgs = ""
        for k, (cap, view) in enumerate((("Xray Chest PA", "Frontal"), ("Xray Chest Lateral", "Lateral"))):
            iid = f"CXR{n}_1_IM-000{n}-{1001 + k}"
            _image(oi / "NLMCXR_png" / f"{iid}.png", seed=n + k)
            _image(oi / "images" / "images_normalized" / f"{n}_IM-000{n}-{1001 + k}.dcm.png", seed=n + k)
            imgs += f'<parentImage id="{iid}"><caption>{cap}</caption></parentImage>'
            proj.append([str(n), f"{n}_IM-000{n}-{1001 + k}.dcm.png", view])
        (oi / "ecgen-radiology").mkdir(parents=True, exist_ok=True)
        (oi / "ecgen-radiology" / f"{n}.xml").write_text(xml.format(n=n, f=f, i=i, imgs=imgs))
    _csv(oi / "indiana_reports.csv", ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings",
                                      "impression"],
         [[str(n), "", "", "Xray Chest PA and Lateral", "Cough.", "None.", f, i]
          for n, (f, i) in enumerate(_REPORTS, start=1)])
    _csv(oi / "indiana_projections.csv", ["uid", "filename", "projection"], proj)
    made["openi"] = oi
    # NIH: three images in images_001/images/ and the official lists
    nih = out / "nih"
    entries = [("00000001_000.png", "Cardiomegaly|Effusion"), ("00000001_001.png", "No Finding"),
               ("00000002_000.png", "Pneumonia")]
    for k, (name, _) in enumerate(entries):
        _image(nih / "images_001" / "images" / name, seed=k)
    _csv(nih / "Data_Entry_2017.csv", ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
                                       "Patient Gender", "View Position", "OriginalImage[Width", "Height]",
                                       "OriginalImagePixelSpacing[x", "y]"],
         [[n, lab, n[9:12].lstrip("0") or "0", n[:8].lstrip("0"), "60", "F", "PA", "32", "32", "0.143", "0.143"]
          for n, lab in entries])
    (nih / "train_val_list.txt").write_text("00000001_000.png\n00000001_001.png\n")
    (nih / "test_list.txt").write_text("00000002_000.png\n")
    made["nih"] = nih
    # MS-CXR and MS-CXR-T over a MIMIC-CXR-JPG-style files/ tree
    ms = out / "mimic-subsets"
    rel = {}
    for study, dicom in (("50000001", "d-prior"), ("50000002", "d-current")):
        rel[dicom] = f"files/p10/p10000001/s{study}/{dicom}.jpg"
        _image(ms / rel[dicom], size=64)
    _csv(ms / "MS_CXR_Local_Alignment_v1.1.0.csv",
         ["dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width", "image_height",
          "split"],
         [["d-current", "Pneumonia", "left lower lobe pneumonia", rel["d-current"], "30", "34", "20", "18", "64",
           "64", "test"],
          ["d-current", "Cardiomegaly", "enlarged heart", rel["d-current"], "16", "24", "32", "28", "64", "64",
           "test"]])
    _csv(ms / "MS_CXR_T_temporal_image_classification_v1.0.0.csv",
         ["subject_id", "study_id", "dicom_id", "previous_study_id", "previous_dicom_id", "consolidation_progression",
          "edema_progression", "pleural_effusion_progression", "pneumonia_progression", "pneumothorax_progression"],
         [["10000001", "50000002", "d-current", "50000001", "d-prior", "", "", "stable", "worsening", ""]])
    made["ms-cxr"] = made["ms-cxr-t"] = ms
    return made
