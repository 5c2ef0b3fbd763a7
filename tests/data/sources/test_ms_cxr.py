"""MS-CXR (phrase grounding boxes) and MS-CXR-T (temporal progression) loaders on MIMIC-style fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from realdata_fixtures import write_csv, write_image

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources.ms_cxr import MS_CXR_COLUMNS, MS_CXR_T_FINDINGS, load_ms_cxr, load_ms_cxr_t


def img(root: Path, subject: str, study: str, dicom: str) -> str:
    rel = f"files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg"
    write_image(root / rel)
    return rel


def test_ms_cxr_groups_boxes_of_a_phrase(tmp_path):
    rel = img(tmp_path, "10000032", "50414267", "abc")
    rows = [["abc", "Pneumonia", "left lower lobe pneumonia", rel, "10", "20", "30", "40", "100", "120", "test"],
            ["abc", "Pneumonia", "left lower lobe pneumonia", rel, "50", "60", "10", "10", "100", "120", "test"],
            ["abc", "Cardiomegaly", "enlarged heart", rel, "0", "0", "100", "120", "100", "120", "test"]]
    csv_path = write_csv(tmp_path / "MS_CXR_Local_Alignment_v1.1.0.csv", [*MS_CXR_COLUMNS, "split"], rows)
    df = load_ms_cxr(csv_path, tmp_path)
    assert len(df) == 2
    assert df.boxes.iloc[0] == [(10.0, 20.0, 30.0, 40.0), (50.0, 60.0, 10.0, 10.0)]
    assert df.phrase.iloc[1] == "enlarged heart" and df.split.iloc[0] == "test"
    rows[1][4] = "95"  # x + w beyond the image width
    write_csv(csv_path, [*MS_CXR_COLUMNS, "split"], rows)
    with pytest.raises(DataError) as e:
        load_ms_cxr(csv_path, tmp_path)
    assert (e.value.row, e.value.field) == (2, "x")
    rows[1][4] = "5"
    rows[2][3] = "files/p10/p10000032/s1/missing.jpg"
    write_csv(csv_path, [*MS_CXR_COLUMNS, "split"], rows)
    with pytest.raises(DataError) as e:
        load_ms_cxr(csv_path, tmp_path)
    assert (e.value.row, e.value.field) == (3, "path")


WIDE = ["subject_id", "study_id", "dicom_id", "previous_study_id", "previous_dicom_id",
        *[f"{f}_progression" for f in MS_CXR_T_FINDINGS]]


def test_ms_cxr_t_wide_release(tmp_path):
    img(tmp_path, "10000032", "2", "cur")
    img(tmp_path, "10000032", "1", "pre")
    rows = [["10000032", "2", "cur", "1", "pre", "", "stable", "worsening", "", ""]]
    csv_path = write_csv(tmp_path / "MS_CXR_T_temporal_image_classification_v1.0.0.csv", WIDE, rows)
    df = load_ms_cxr_t(csv_path, tmp_path)
    assert list(df.columns) == ["path", "prior_path", "finding", "label"]
    assert df[["finding", "label"]].values.tolist() == [["edema", "stable"], ["pleural_effusion", "worsening"]]
    assert df.path.iloc[0].name == "cur.jpg" and df.prior_path.iloc[0].name == "pre.jpg"
    rows[0][6] = "better"
    write_csv(csv_path, WIDE, rows)
    with pytest.raises(DataError) as e:
        load_ms_cxr_t(csv_path, tmp_path)
    assert (e.value.row, e.value.field) == (1, "edema_progression")


def test_ms_cxr_t_path_ids_and_long_form(tmp_path):
    img(tmp_path, "10000032", "2", "cur")
    img(tmp_path, "10000032", "1", "pre")
    rows = [["p10/p10000032/s2/cur", "p10/p10000032/s1/pre", "pneumonia", "improving"]]
    csv_path = write_csv(tmp_path / "temporal.csv", ["dicom_id", "previous_dicom_id", "finding", "label"], rows)
    df = load_ms_cxr_t(csv_path, tmp_path)
    assert df.label.tolist() == ["improving"] and df.path.iloc[0].is_file()
    rows.append(["p10/p10000032/s2/cur", "p10/p10000032/s1/gone", "edema", "stable"])
    write_csv(csv_path, ["dicom_id", "previous_dicom_id", "finding", "label"], rows)
    with pytest.raises(DataError) as e:
        load_ms_cxr_t(csv_path, tmp_path)
    assert (e.value.row, e.value.field) == (2, "previous_dicom_id")
    write_csv(csv_path, ["dicom_id", "finding", "label"], [["a", "edema", "stable"]])
    with pytest.raises(DataError) as e:
        load_ms_cxr_t(csv_path, tmp_path)
    assert e.value.field == "previous_dicom_id"
