"""CheXpert train/valid CSV loader on a tiny fixture in the released format."""

from __future__ import annotations

from pathlib import Path

import pytest
from realdata_fixtures import write_csv, write_image

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.data.sources.chexpert import CHEXPERT_COLUMNS, load_chexpert, parse_chexpert_path

ROOT = "CheXpert-v1.0-small"


def make(tmp_path: Path, rows: list[list] | None = None, header: list[str] | None = None) -> Path:
    paths = [f"{ROOT}/train/patient00001/study1/view1_frontal.jpg", f"{ROOT}/train/patient00001/study1/view2_lateral.jpg",
             f"{ROOT}/train/patient00002/study1/view1_frontal.jpg", f"{ROOT}/train/patient00002/study2/view1_frontal.jpg"]
    for p in paths:
        write_image(tmp_path / p)
    labels = ["" for _ in CHEXPERT_LABELS]
    pos = list(labels)
    pos[CHEXPERT_LABELS.index("Cardiomegaly")] = "1.0"
    pos[CHEXPERT_LABELS.index("Edema")] = "-1.0"
    pos[CHEXPERT_LABELS.index("Pneumothorax")] = "0.0"
    default = [
        [paths[0], "Female", "68", "Frontal", "AP", *pos],
        [paths[1], "Female", "68", "Lateral", "", *pos],
        [paths[2], "Male", "87", "Frontal", "PA", *labels],
        [paths[3], "Male", "87", "Frontal", "PA", *labels],
    ]
    return write_csv(tmp_path / ROOT / "train.csv", header or list(CHEXPERT_COLUMNS), rows if rows is not None else default)


def test_groups_views_of_a_study(tmp_path):
    recs = load_chexpert(make(tmp_path))
    assert [r.study_id for r in recs] == ["patient00001/study1", "patient00002/study1", "patient00002/study2"]
    first = recs[0]
    assert first.images["frontal"].name == "view1_frontal.jpg" and first.images["lateral"].name == "view2_lateral.jpg"
    assert first.present == (True, True, False, False)
    assert first.labels["Cardiomegaly"] == 1.0 and first.labels["Edema"] == -1.0
    assert first.labels["Pneumothorax"] == 0.0 and first.labels["Fracture"] is None
    assert recs[1].present == (True, False, False, False)
    assert first.split == "train" and first.report == ""


def test_image_root_may_be_either_folder(tmp_path):
    csv_path = make(tmp_path)
    assert len(load_chexpert(csv_path, image_root=tmp_path / ROOT)) == 3


def test_parse_path():
    assert parse_chexpert_path("x/train/patient00042/study3/view2_lateral.jpg") == ("patient00042", "study3", 2, "lateral")
    with pytest.raises(ValueError):
        parse_chexpert_path("x/train/p1/image.jpg")


def test_missing_column(tmp_path):
    header = [c for c in CHEXPERT_COLUMNS if c != "Pleural Effusion"]
    with pytest.raises(DataError) as e:
        load_chexpert(make(tmp_path, rows=[], header=header))
    assert e.value.field == "Pleural Effusion" and e.value.file.name == "train.csv"


def bad_rows(tmp_path, mutate):
    csv_path = make(tmp_path)
    import csv as _csv

    rows = list(_csv.reader(csv_path.open()))
    mutate(rows)
    return write_csv(csv_path, rows[0], rows[1:])


def test_label_outside_allowed_set(tmp_path):
    col = CHEXPERT_COLUMNS.index("Edema")
    csv_path = bad_rows(tmp_path, lambda r: r[3].__setitem__(col, "2"))
    with pytest.raises(DataError) as e:
        load_chexpert(csv_path)
    assert (e.value.row, e.value.field) == (3, "Edema")


def test_duplicated_path(tmp_path):
    csv_path = bad_rows(tmp_path, lambda r: r.append(list(r[2])))
    with pytest.raises(DataError) as e:
        load_chexpert(csv_path)
    assert (e.value.row, e.value.field) == (5, "Path") and "duplicated" in str(e.value)


def test_missing_image(tmp_path):
    csv_path = make(tmp_path)
    (tmp_path / ROOT / "train/patient00002/study2/view1_frontal.jpg").unlink()
    with pytest.raises(DataError) as e:
        load_chexpert(csv_path)
    assert (e.value.row, e.value.field) == (4, "Path") and "not found" in str(e.value)


def test_view_disagrees_with_file_name(tmp_path):
    csv_path = bad_rows(tmp_path, lambda r: r[2].__setitem__(3, "Frontal"))
    with pytest.raises(DataError) as e:
        load_chexpert(csv_path)
    assert (e.value.row, e.value.field) == (2, "Frontal/Lateral")
