"""Paths from data files stay inside the data root (issue 16 s4): ``../``, absolute paths and ``/etc/passwd`` in a
benchmark CSV's Path column or a MIMIC dicom_id are refused, naming the file, row and field."""

from __future__ import annotations

import os

import pytest

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.paths import inside_root, is_inside, safe_component
from clinvla_kit.data.sources.benchmarks import CLASSES_5X200, REPORT_COLUMN, load_chexpert_5x200


def test_lexical_inside_check(tmp_path):
    assert is_inside(tmp_path, tmp_path / "a" / "b.jpg") and is_inside(tmp_path, tmp_path)
    assert not is_inside(tmp_path, tmp_path / ".." / "x.jpg")
    assert not is_inside(tmp_path / "data", tmp_path / "data-other" / "x.jpg")  # a prefix is not a parent
    assert not is_inside(tmp_path, "/etc/passwd")


def test_symlinked_folders_inside_the_root_are_allowed(tmp_path):
    """Data roots are often symlink farms: the check is on the cell's text, not on where links point."""
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "x.jpg").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(tmp_path / "big", root / "files")
    assert inside_root(root, root / "files" / "x.jpg") == root / "files" / "x.jpg"


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "/etc/passwd", "a\\b"])
def test_ids_must_be_plain_names(bad):
    with pytest.raises(DataError, match="not a plain name"):
        safe_component(bad, "meta.csv", 3, "dicom_id")
    assert safe_component("abc-123", "meta.csv", 3, "dicom_id") == "abc-123"


def write_5x200(path, cells):
    header = ",".join(["Path", *CLASSES_5X200, REPORT_COLUMN])
    rows = [",".join([c, *(["1"] + ["0"] * 4), "small effusion"]) for c in cells]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize("cell", ["../../../../etc/passwd", "/etc/passwd", "images/../../secret.jpg"])
def test_benchmark_path_outside_the_root_is_refused(tmp_path, cell):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"x")
    csv = write_5x200(tmp_path / "5x200.csv", ["images/a.jpg", cell])
    for check in (True, False):
        with pytest.raises(DataError) as e:
            load_chexpert_5x200(csv, image_root=tmp_path, check_files=check)
        assert e.value.file == csv and e.value.row == 2 and e.value.field == "Path"
        assert "outside the data root" in str(e.value) and cell in str(e.value)


def test_absolute_path_inside_the_root_still_works(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    csv = write_5x200(tmp_path / "5x200.csv", [str(tmp_path / "a.jpg")])
    assert list(load_chexpert_5x200(csv, image_root=tmp_path)["path"]) == [tmp_path / "a.jpg"]


@pytest.mark.parametrize("dicom", ["../../../../../../etc/passwd", "/etc/passwd"])
def test_mimic_dicom_id_with_a_path_is_refused(mimic_dir, dicom):
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.data.validation import validate_mimic

    for name in ("metadata", "split"):
        p = mimic_dir / f"mimic-cxr-2.0.0-{name}.csv"
        p.write_text(p.read_text().replace("a1,", f"{dicom},", 1))
    with pytest.raises(DataError) as e:
        load_mimic(mimic_dir)
    assert e.value.row == 1 and e.value.field == "dicom_id" and "metadata" in str(e.value.file)
    report = validate_mimic(mimic_dir)
    assert any(p.field == "dicom_id" and p.row == 1 and "plain name" in p.message for p in report.errors)


def test_nih_image_index_with_a_path_is_refused(tmp_path):
    from clinvla_kit.data.sources.nih import load_nih

    (tmp_path / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
        "../../etc/passwd,No Finding,0,1,50,M,PA,1024,1024,0.1,0.1\n")
    with pytest.raises(DataError) as e:
        load_nih(tmp_path, check_files=False)
    assert e.value.row == 1 and e.value.field == "Image Index" and "plain name" in str(e.value)


def test_openi_projection_filename_outside_the_images_is_refused(tmp_path):
    from clinvla_kit.data.sources.openi import load_openi_csv

    (tmp_path / "indiana_reports.csv").write_text("uid,findings,impression\n1,Heart normal.,No acute disease.\n")
    (tmp_path / "indiana_projections.csv").write_text("uid,filename,projection\n1,../../../etc/passwd,Frontal\n")
    with pytest.raises(DataError) as e:
        load_openi_csv(tmp_path, check_files=False)
    assert e.value.row == 1 and e.value.field == "filename" and "outside the data root" in str(e.value)
