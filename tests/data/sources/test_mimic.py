"""MIMIC-CXR-JPG loader on a hand-written fixture in the real format."""

from __future__ import annotations

import gzip
import shutil

import pytest

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources.mimic import load_mimic


def by_id(records):
    return {r.study_id: r for r in records}


def test_slots_priors_and_order(mimic_dir):
    recs = load_mimic(mimic_dir)
    # 50000011 has only an "AP AXIAL" image: dropped and counted.
    assert recs.dropped_no_view == ["50000011"]
    # sorted by subject (numeric), then date/time: 9000003 < 10000001 < 10000002; 50000003 (07:00) before 50000002.
    assert [r.study_id for r in recs] == ["50000020", "50000001", "50000003", "50000002", "50000010"]
    r = by_id(recs)
    assert r["50000001"].dicom_ids["frontal"] == "a2"  # PA preferred over AP
    assert r["50000001"].dicom_ids["lateral"] == "a3"
    assert r["50000001"].prior_study_id is None and r["50000001"].images["prior_frontal"] is None
    assert r["50000002"].dicom_ids["frontal"] == "b1" and r["50000002"].dicom_ids["lateral"] == "b2"  # AP, LL
    # prior by (date, time): same date, earlier time
    assert r["50000002"].prior_study_id == "50000003"
    assert r["50000002"].dicom_ids["prior_frontal"] is None and r["50000002"].dicom_ids["prior_lateral"] == "c1"
    assert r["50000003"].present == (False, True, True, True)
    assert r["50000003"].images["prior_frontal"] == mimic_dir / "files/p10/p10000001/s50000001/a2.jpg"
    assert r["50000003"].study_datetime == "20200301 070000"
    assert r["50000020"].images["frontal"] == mimic_dir / "files/p90/p9000003/s50000020/f1.jpg"
    assert r["50000010"].split == "test"
    labels = r["50000001"].labels
    assert labels["Atelectasis"] == 1.0 and labels["Cardiomegaly"] is None
    assert labels["Consolidation"] == 0.0 and labels["Edema"] == -1.0
    assert "FINDINGS" in r["50000001"].report
    assert r["50000001"].report_path.name == "s50000001.txt"


def test_options_and_splits(mimic_dir):
    recs = load_mimic(mimic_dir, splits=["train"], use_lateral=False, use_prior=False)
    assert {r.split for r in recs} == {"train"}
    r = by_id(recs)
    assert r["50000002"].present == (True, False, False, False)
    assert "50000003" not in r  # lateral-only study: no usable view without laterals
    assert "50000003" in recs.dropped_no_view
    with pytest.raises(ValueError, match="unknown split"):
        load_mimic(mimic_dir, splits=["training"])


def test_gz_csvs(mimic_dir):
    for name in ("metadata", "split", "chexpert"):
        p = mimic_dir / f"mimic-cxr-2.0.0-{name}.csv"
        with open(p, "rb") as f, gzip.open(str(p) + ".gz", "wb") as g:
            shutil.copyfileobj(f, g)
        p.unlink()
    assert len(load_mimic(mimic_dir)) == 5


def test_errors_name_file_row_field(mimic_dir):
    p = mimic_dir / "mimic-cxr-2.0.0-chexpert.csv"
    lines = p.read_text().splitlines()
    lines[2] = lines[2].replace("-1.0", "2.0", 1)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        load_mimic(mimic_dir)
    assert e.value.file == p and e.value.row == 2 and e.value.field == "Edema"
    meta = mimic_dir / "mimic-cxr-2.0.0-metadata.csv"
    meta.write_text(meta.read_text().replace("ViewPosition", "View"))
    with pytest.raises(DataError, match="ViewPosition") as e:
        load_mimic(mimic_dir)
    assert e.value.file == meta
    (mimic_dir / "mimic-cxr-2.0.0-split.csv").unlink()
    meta.write_text(meta.read_text().replace(",View,", ",ViewPosition,"))
    with pytest.raises(DataError, match="split"):
        load_mimic(mimic_dir)
