"""Every loader that can run without images, run on the real published metadata file (from ``torchxrayvision``).

The files are read from the installed package at run time (``clinvla_kit.data.sources.published``), never copied
into the repository. When the package is missing these tests FAIL (``make install-dev`` installs it): a skipped
real-file test would let a broken loader pass ``make test`` unnoticed. The expected counts were measured on the
files with plain pandas / ElementTree, and each test recomputes its reference in the same plain way.
"""

from __future__ import annotations

import glob
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources import published


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """A folder with the published files unpacked under their release names; fails when they are missing."""
    try:
        published.data_dir()
    except published.PublishedFilesMissing as e:
        pytest.fail(f"real-file tests need the dev extra: {e}", pytrace=False)
    return tmp_path_factory.mktemp("published")


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(published.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(published.PublishedFilesMissing, match="make install-dev"):
        published.data_dir()


def test_chexpert_train_csv(real):
    from clinvla_kit.data.sources.chexpert import load_chexpert

    csv_path = published.unpack("chexpert", real)
    recs = load_chexpert(csv_path, check_files=False)
    plain = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    studies = plain.Path.str.extract(r"(patient\d+)/(study\d+)/").drop_duplicates()
    assert len(plain) == 223_414 and len(studies) == 187_641
    assert len(recs) == 187_641
    assert sum(r.present[0] for r in recs) == 187_625  # 16 studies have only a lateral view
    assert sum(r.present[1] for r in recs) == 31_429
    assert len({r.subject_id for r in recs}) == 64_540
    assert recs[0].study_id == "patient00001/study1" and recs[0].labels["No Finding"] == 1.0


def test_nih_2020_data_entry(real):
    from clinvla_kit.data.sources.nih import load_nih

    published.unpack("nih", real)
    df = load_nih(real, check_files=False)
    assert len(df) == 112_120 and df.patient_id.nunique() == 30_805
    assert int(df["No Finding"].sum()) == 60_361
    assert df.view.value_counts().to_dict() == {"PA": 67_310, "AP": 44_810}


def test_rsna_kaggle_train_labels(real):
    from clinvla_kit.data.sources.rsna import load_rsna

    published.unpack("rsna", real)
    df = load_rsna(real, split="gloria", check_files=False)
    assert len(df) == 26_684  # one row per patient, of the CSV's 30,227 rows
    assert int(df.target.sum()) == 6_012 and int(df.boxes.map(len).sum()) == 9_555
    assert df.split.value_counts().to_dict() == {"train": 18_678, "validate": 4_003, "test": 4_003}
    with pytest.raises(DataError, match="split list not found"):  # Kaggle's files carry no MRM/ALTA list
        load_rsna(real, split="test_list", check_files=False)


@pytest.fixture(scope="module")
def openi(real):
    """(records, warnings) of the real NLM Open-I XML release, loaded with the defaults."""
    from clinvla_kit.data.sources.openi import load_openi_xml

    published.unpack("openi", real)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = load_openi_xml(real, check_files=False)
    return recs, [str(w.message) for w in caught]


def test_openi_xml_release_skips_and_counts(real, openi):
    from clinvla_kit.data.sources.openi import load_openi_xml

    recs, messages = openi
    files = glob.glob(str(real / "ecgen-radiology" / "*.xml"))
    empty = no_image = 0
    for f in files:  # the plain reference
        root = ET.parse(f).getroot()
        text = {a.get("Label"): (a.text or "").strip() for a in root.iter("AbstractText")}
        if not (text.get("FINDINGS") or text.get("IMPRESSION")):
            empty += 1
        elif not list(root.iter("parentImage")):
            no_image += 1
    assert (len(files), empty, no_image) == (3_955, 28, 101)
    assert len(recs) == 3_955 - 129 == 3_826
    summary = [m for m in messages if "skipped" in m]
    assert len(summary) == 1 and "skipped 129 reports" in summary[0]
    assert "28 with no findings and no impression" in summary[0] and "101 with no image" in summary[0]
    with pytest.raises(DataError, match="empty report") as e:
        load_openi_xml(real, check_files=False, on_empty="raise")
    assert e.value.file.name == "16.xml"


def test_openi_deid_token_never_reaches_the_labeler_or_the_cleaned_text(openi):
    from clinvla_kit.data.labeler import labelled_text, normalise
    from clinvla_kit.data.reports import clean_report

    recs, _ = openi
    with_token = [r for r in recs if "XXXX" in r.report]
    assert len(with_token) > 1_000  # the release really is full of it
    for r in with_token[:300]:
        assert "xxxx" not in normalise(labelled_text(r.report))
        assert "XXXX" not in clean_report(r.report)
    first = next(r for r in recs if r.study_id == "CXR1")
    assert "x-ray" in clean_report(first.report) and first.labels["Pleural Effusion"] == 0.0


def test_labeler_on_real_reports_against_mesh(openi):
    """The labeler's real-report score stays where ``bench/bench_labeler_openi.py`` measured it (RESULTS.md)."""
    from clinvla_kit.data import mesh
    from clinvla_kit.data.labeler_score import macro_f1, score

    recs, _ = openi
    refs, preds = [], []
    for r in recs:
        try:
            refs.append(mesh.mesh_observations(mesh.read_major_terms(r.report_path)))
        except ValueError:
            continue
        preds.append(r.labels)
    assert len(refs) == 3_734  # 92 loaded reports are indexed "No Indexing"
    zeros = score(preds, refs, mesh.SCORED, u_ones=False)
    ones = score(preds, refs, mesh.SCORED, u_ones=True)
    assert macro_f1(zeros) >= 0.88 and macro_f1(ones) >= 0.83
    assert zeros["Pneumothorax"].precision >= 0.85 and zeros["Pleural Effusion"].precision >= 0.85
