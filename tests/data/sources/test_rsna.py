"""RSNA Pneumonia loader on a tiny fixture (labels CSV + DICOMs + split lists) and the GLoRIA split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from realdata_fixtures import write_csv, write_dicom

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources.rsna import RSNA_COLUMNS, gloria_rsna_split, load_rsna

IDS = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(6)]


def make(tmp: Path, rows: list[list] | None = None) -> Path:
    rows = rows if rows is not None else [
        [IDS[0], "", "", "", "", "0"],
        [IDS[1], "264.0", "152.0", "213.0", "379.0", "1"],
        [IDS[1], "562.0", "152.0", "256.0", "453.0", "1"],
        [IDS[2], "", "", "", "", "0"],
        [IDS[3], "100", "100", "50", "60", "1"],
        [IDS[4], "", "", "", "", "0"],
        [IDS[5], "", "", "", "", "0"],
    ]
    for pid in {r[0] for r in rows}:
        write_dicom(tmp / "stage_2_train_images" / f"{pid}.dcm", pid)
    (tmp / "test_list.txt").write_text(f"{IDS[1]}.dcm\n{IDS[2]}\n\n")
    return write_csv(tmp / "stage_2_train_labels.csv", list(RSNA_COLUMNS), rows)


def test_one_row_per_patient_with_boxes(tmp_path):
    make(tmp_path)
    df = load_rsna(tmp_path, check_headers=True)
    assert list(df.columns) == ["path", "patient_id", "target", "boxes", "split"]
    assert list(df.patient_id) == sorted(IDS)
    one = df.set_index("patient_id").loc[IDS[1]]
    assert one.target == 1 and one.boxes == [(264.0, 152.0, 213.0, 379.0), (562.0, 152.0, 256.0, 453.0)]
    assert df.set_index("patient_id").loc[IDS[0]].boxes == []
    assert sorted(df[df.split == "test"].patient_id) == sorted([IDS[1], IDS[2]])
    assert set(df.split) == {"train", "test"}


def test_gloria_split_matches_a_plain_reference():
    ids = [f"p{i:03d}" for i in range(40)]
    got = gloria_rsna_split(reversed(ids), seed=0)
    # reference written out by hand: sorted ids, one permutation, cuts at 70% and 85%
    srt = sorted(ids)
    perm = np.random.default_rng(0).permutation(40)
    ref = {"train": [], "validate": [], "test": []}
    for rank, k in enumerate(perm):
        name = "train" if rank < 28 else ("validate" if rank < 34 else "test")
        ref[name].append(srt[k])
    assert got == {k: sorted(v) for k, v in ref.items()}
    assert [len(v) for v in got.values()] == [28, 6, 6]
    assert gloria_rsna_split(ids, seed=1) != got


def test_gloria_split_in_loader(tmp_path):
    make(tmp_path)
    df = load_rsna(tmp_path, split="gloria")
    ref = gloria_rsna_split(IDS)
    assert sorted(df[df.split == "test"].patient_id) == ref["test"]


def test_errors(tmp_path):
    make(tmp_path, rows=[[IDS[0], "", "", "", "", "0"], [IDS[1], "1", "2", "3", "4", "2"]])
    with pytest.raises(DataError) as e:
        load_rsna(tmp_path)
    assert (e.value.row, e.value.field) == (2, "Target")
    make(tmp_path, rows=[[IDS[0], "", "", "", "", "0"], [IDS[0], "", "", "", "", "0"]])
    with pytest.raises(DataError) as e:
        load_rsna(tmp_path)
    assert (e.value.row, e.value.field) == (2, "patientId") and "duplicated" in str(e.value)
    make(tmp_path, rows=[[IDS[1], "", "2", "3", "4", "1"]])
    with pytest.raises(DataError) as e:
        load_rsna(tmp_path)
    assert (e.value.row, e.value.field) == (1, "x")
    write_csv(tmp_path / "stage_2_train_labels.csv", ["patientId", "x", "y", "w", "h", "Target"], [])
    with pytest.raises(DataError) as e:
        load_rsna(tmp_path)
    assert e.value.field == "width"


def test_missing_image_and_bad_header(tmp_path):
    make(tmp_path)
    (tmp_path / "stage_2_train_images" / f"{IDS[4]}.dcm").unlink()
    with pytest.raises(DataError) as e:
        load_rsna(tmp_path)
    assert (e.value.row, e.value.field) == (6, "patientId")
    write_dicom(tmp_path / "stage_2_train_images" / f"{IDS[4]}.dcm", "someone-else")
    with pytest.raises(DataError) as e:
        load_rsna(tmp_path, check_headers=True)
    assert e.value.field == "PatientID"
    (tmp_path / "stage_2_train_images" / f"{IDS[4]}.dcm").write_bytes(b"not a dicom")
    with pytest.raises(DataError, match="not a readable DICOM"):
        load_rsna(tmp_path, check_headers=True)


def test_split_list_problems(tmp_path):
    make(tmp_path)
    (tmp_path / "test_list.txt").write_text("unknown-id\n")
    with pytest.raises(DataError, match="not in stage_2_train_labels.csv"):
        load_rsna(tmp_path)
    (tmp_path / "test_list.txt").unlink()
    with pytest.raises(DataError, match="split list not found"):
        load_rsna(tmp_path)
    with pytest.raises(ValueError, match="allowed set"):
        load_rsna(tmp_path, split="kaggle")
