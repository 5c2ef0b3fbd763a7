"""Open-I loaders: the NLM XML release and the Kaggle CSV variant, with frontal + lateral pairing."""

from __future__ import annotations

from pathlib import Path

import pytest
from realdata_fixtures import write_csv, write_image

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources.openi import load_openi_csv, load_openi_xml

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{n}"/>
  <pmcId id="{n}"/>
  <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
    <Article PubModel="Electronic">
      <Abstract>
        <AbstractText Label="COMPARISON">None.</AbstractText>
        <AbstractText Label="INDICATION">Cough, r/o pneumonia.</AbstractText>
        <AbstractText Label="FINDINGS">{findings}</AbstractText>
        <AbstractText Label="IMPRESSION">{impression}</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  {images}
</eCitation>
"""
IMG = '<parentImage id="{id}"><figureId>F{k}</figureId><caption>{caption}</caption><url>/x/{id}.jpg</url></parentImage>'


def make_xml(tmp: Path, n: int, findings: str, impression: str, captions=("PA", "Lateral")) -> None:
    ids = [f"CXR{n}_1_IM-000{n}-{1000 + k}" for k in range(len(captions))]
    for i in ids:
        write_image(tmp / "NLMCXR_png" / f"{i}.png")
    images = "\n".join(IMG.format(id=i, k=k + 1, caption=c) for k, (i, c) in enumerate(zip(ids, captions)))
    (tmp / "ecgen-radiology").mkdir(exist_ok=True)
    (tmp / "ecgen-radiology" / f"{n}.xml").write_text(XML.format(n=n, findings=findings, impression=impression,
                                                                  images=images))


def test_xml_release(tmp_path):
    make_xml(tmp_path, 1, "Heart size normal. Small right pleural effusion.", "Effusion.")
    make_xml(tmp_path, 2, "The lungs are clear.", "No acute disease.", captions=("Lateral", "PA"))
    recs = load_openi_xml(tmp_path)
    assert [r.study_id for r in recs] == ["CXR1", "CXR2"]
    r1, r2 = recs
    assert r1.images["frontal"].name.endswith("1000.png") and r1.images["lateral"].name.endswith("1001.png")
    assert r2.images["frontal"].name.endswith("1001.png") and r2.images["lateral"].name.endswith("1000.png")
    assert r1.report.startswith("FINDINGS: Heart size normal") and "IMPRESSION: Effusion." in r1.report
    assert r1.labels["Pleural Effusion"] == 1.0 and r1.labels["Cardiomegaly"] == 0.0
    assert r2.labels["No Finding"] == 1.0 and r2.labels["Pneumonia"] is None  # indication is not labelled
    assert r1.split == "test" and r1.report_path.name == "1.xml"


def test_xml_without_projection_warns_and_uses_order(tmp_path):
    make_xml(tmp_path, 3, "Normal.", "", captions=("Xray Chest", "Xray Chest"))
    with pytest.warns(UserWarning, match="assigned by order"):
        (rec,) = load_openi_xml(tmp_path)
    assert rec.present == (True, True, False, False)


def test_xml_errors(tmp_path):
    make_xml(tmp_path, 1, "", "")
    with pytest.raises(DataError) as e:
        load_openi_xml(tmp_path, on_empty="raise")
    assert e.value.file.name == "1.xml" and "empty report" in str(e.value)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert load_openi_xml(tmp_path, on_empty="skip") == []
    make_xml(tmp_path, 3, "Normal heart.", "", captions=())  # a report without any image
    (tmp_path / "ecgen-radiology" / "1.xml").unlink()
    with pytest.raises(DataError, match="no parentImage"):
        load_openi_xml(tmp_path, on_empty="error")  # the old name of "raise" still works
    with pytest.raises(ValueError, match="on_empty must be one of"):
        load_openi_xml(tmp_path, on_empty="ignore")
    make_xml(tmp_path, 1, "", "")
    with pytest.warns(UserWarning, match="skipped 2"):
        assert load_openi_xml(tmp_path, on_empty="skip") == []
    (tmp_path / "ecgen-radiology" / "2.xml").write_text("<eCitation><uId")
    with pytest.raises(DataError, match="not well-formed"):
        load_openi_xml(tmp_path, on_empty="skip")


def test_xml_default_skips_empty_reports_with_one_summary_warning(tmp_path):
    make_xml(tmp_path, 1, "Heart size normal.", "No acute disease.")
    make_xml(tmp_path, 2, "", "")
    make_xml(tmp_path, 3, "   ", "")
    with pytest.warns(UserWarning) as caught:
        recs = load_openi_xml(tmp_path)
    assert [r.study_id for r in recs] == ["CXR1"]
    skipped = [w for w in caught if "skipped" in str(w.message)]
    assert len(skipped) == 1 and "skipped 2 " in str(skipped[0].message)
    assert "2.xml" in str(skipped[0].message) and "3.xml" in str(skipped[0].message)


def test_xml_deid_token_reaches_neither_labeler_nor_cleaned_text(tmp_path):
    from clinvla_kit.data.labeler import find_mentions
    from clinvla_kit.data.reports import clean_report

    make_xml(tmp_path, 1, "There are no XXXX of a pleural effusion. There is no XXXX.", "Normal chest x-XXXX.")
    (rec,) = load_openi_xml(tmp_path)
    assert "XXXX" in rec.report  # the record keeps the release's text as it is
    assert rec.labels["Pleural Effusion"] == 0.0 and rec.labels["No Finding"] == 1.0
    assert all("xxxx" not in m.sentence for m in find_mentions(rec.report))
    cleaned = clean_report(rec.report)
    assert "XXXX" not in cleaned and "x-ray" in cleaned


def make_csv(tmp: Path) -> Path:
    write_csv(tmp / "indiana_reports.csv",
              ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"],
              [["1", "normal", "normal", "Xray Chest PA and Lateral", "Cough", "None", "The lungs are clear.",
                "Normal chest x-XXXX."],
               ["2", "Cardiomegaly/mild", "Cardiomegaly", "Chest", "", "", "Mild cardiomegaly. No PTX.", ""]])
    rows = [["1", "1_IM-0001-4001.dcm.png", "Frontal"], ["1", "1_IM-0001-3001.dcm.png", "Lateral"],
            ["2", "2_IM-0652-1001.dcm.png", "Frontal"]]
    for r in rows:
        write_image(tmp / "images" / "images_normalized" / r[1])
    return write_csv(tmp / "indiana_projections.csv", ["uid", "filename", "projection"], rows)


def test_csv_variant(tmp_path):
    make_csv(tmp_path)
    r1, r2 = load_openi_csv(tmp_path)
    assert r1.images["frontal"].name == "1_IM-0001-4001.dcm.png" and r1.images["lateral"].name.startswith("1_IM-0001-3")
    assert r2.present == (True, False, False, False)
    assert r2.labels["Cardiomegaly"] == 1.0 and r2.labels["Pneumothorax"] == 0.0


def test_csv_errors(tmp_path):
    proj = make_csv(tmp_path)
    write_csv(proj, ["uid", "filename", "projection"], [["1", "1_IM-0001-4001.dcm.png", "Oblique"]])
    with pytest.raises(DataError) as e:
        load_openi_csv(tmp_path)
    assert (e.value.row, e.value.field) == (1, "projection")
    write_csv(proj, ["uid", "filename", "projection"], [["9", "1_IM-0001-4001.dcm.png", "Frontal"]])
    with pytest.raises(DataError) as e:
        load_openi_csv(tmp_path)
    assert (e.value.row, e.value.field) == (1, "uid")
    write_csv(proj, ["uid", "filename", "projection"], [["1", "missing.png", "Frontal"]])
    with pytest.raises(DataError) as e:
        load_openi_csv(tmp_path)
    assert e.value.field == "filename" and "not found" in str(e.value)
    write_csv(proj, ["uid", "file", "projection"], [["1", "x.png", "Frontal"]])
    with pytest.raises(DataError) as e:
        load_openi_csv(tmp_path)
    assert e.value.field == "filename"
