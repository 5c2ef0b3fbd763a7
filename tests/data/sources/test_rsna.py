"""RSNA Pneumonia loader on a tiny fixture (labels CSV + DICOMs + split lists) and the GLoRIA split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from realdata_fixtures import write_csv, write_dicom

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources.rsna import RSNA_COLUMNS, gloria_rsna_split, load_rsna

IDS = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(6)]
TEST_IDS = [f"{i:08x}-1111-4000-8000-{i:012x}" for i in range(3)]  # stage-2 test images: not in the train CSV
VAL_IDS = [f"{i:08x}-2222-4000-8000-{i:012x}" for i in range(2)]


def write_mrm_list(path: Path, entries: list[tuple[str, int]], folder: str = "stage_2_test_images") -> Path:
    """An MRM/ALTA list in its released format: '<folder>/<patientId>.dcm <label>' per line."""
    for pid, _ in entries:
        write_dicom(path.parent / folder / f"{pid}.dcm", pid)
    path.write_text("".join(f"{folder}/{pid}.dcm {label}\n" for pid, label in entries))
    return path


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
    write_mrm_list(tmp / "test_list.txt", [(TEST_IDS[0], 1), (TEST_IDS[1], 0), (TEST_IDS[2], 1)])
    return write_csv(tmp / "stage_2_train_labels.csv", list(RSNA_COLUMNS), rows)


def test_one_row_per_patient_with_boxes(tmp_path):
    make(tmp_path)
    df = load_rsna(tmp_path, check_headers=True)
    assert list(df.columns) == ["path", "patient_id", "target", "boxes", "split"]
    assert list(df.patient_id) == sorted(IDS + TEST_IDS)
    one = df.set_index("patient_id").loc[IDS[1]]
    assert one.target == 1 and one.boxes == [(264.0, 152.0, 213.0, 379.0), (562.0, 152.0, 256.0, 453.0)]
    assert df.set_index("patient_id").loc[IDS[0]].boxes == []
    assert set(df.split) == {"train", "test"}


def test_mrm_test_list_uses_its_own_labels_and_paths(tmp_path):
    make(tmp_path)
    write_mrm_list(tmp_path / "val_list.txt", [(VAL_IDS[0], 0), (VAL_IDS[1], 1)])
    df = load_rsna(tmp_path, split="test_list", check_headers=True).set_index("patient_id")
    test = df[df.split == "test"]
    assert sorted(test.index) == sorted(TEST_IDS)  # none of them is in the train labels
    assert [int(test.target[p]) for p in TEST_IDS] == [1, 0, 1]
    assert all(test.path[p] == tmp_path / "stage_2_test_images" / f"{p}.dcm" for p in TEST_IDS)
    assert all(b == [] for b in test.boxes)  # the list gives no boxes
    assert sorted(df[df.split == "validate"].index) == sorted(VAL_IDS)
    assert [int(df.target[p]) for p in VAL_IDS] == [0, 1]
    assert sorted(df[df.split == "train"].index) == sorted(IDS)  # the Kaggle train labels stay "train"
    gloria = load_rsna(tmp_path, split="gloria")  # the GLoRIA split reads only the train labels, as before
    assert sorted(gloria.patient_id) == sorted(IDS)


def test_mrm_list_lines_are_checked(tmp_path):
    make(tmp_path)
    lst = tmp_path / "test_list.txt"
    lst.write_text(f"stage_2_test_images/{TEST_IDS[0]}.dcm 1\nstage_2_test_images/{TEST_IDS[1]}.dcm 2\n")
    with pytest.raises(DataError) as e:
        load_rsna(tmp_path)
    assert (e.value.file, e.value.row, e.value.field) == (lst, 2, "label")
    lst.write_text(f"stage_2_test_images/{TEST_IDS[0]}.dcm 1 extra\n")
    with pytest.raises(DataError, match="expected '<path> <label>'") as e:
        load_rsna(tmp_path)
    assert e.value.row == 1
    lst.write_text(f"stage_2_test_images/{TEST_IDS[0]}.dcm 1\nstage_2_test_images/{TEST_IDS[0]}.dcm 1\n")
    with pytest.raises(DataError, match="listed twice") as e:
        load_rsna(tmp_path)
    assert e.value.row == 2
    lst.write_text("stage_2_test_images/missing-id.dcm 0\n")
    with pytest.raises(DataError, match="image not found") as e:
        load_rsna(tmp_path)
    assert (e.value.row, e.value.field) == (1, "path")
    assert len(load_rsna(tmp_path, check_files=False)) == len(IDS) + 1
    lst.write_text("../../etc/x.dcm 0\n")
    with pytest.raises(DataError, match="outside the RSNA folder"):
        load_rsna(tmp_path, check_files=False)


def test_bare_id_list_still_reads_the_train_labels(tmp_path):
    make(tmp_path)
    (tmp_path / "test_list.txt").write_text(f"{IDS[1]}.dcm\n{IDS[2]}\n\n")
    df = load_rsna(tmp_path)
    assert sorted(df[df.split == "test"].patient_id) == sorted([IDS[1], IDS[2]])
    assert int(df.set_index("patient_id").target[IDS[1]]) == 1


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
    with pytest.raises(DataError, match="not in stage_2_train_labels.csv and its line has no label"):
        load_rsna(tmp_path)
    (tmp_path / "test_list.txt").unlink()
    with pytest.raises(DataError, match="split list not found"):
        load_rsna(tmp_path)
    with pytest.raises(ValueError, match="allowed set"):
        load_rsna(tmp_path, split="kaggle")
