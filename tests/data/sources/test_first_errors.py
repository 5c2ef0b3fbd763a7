"""The first error a new user sees on the common mistakes: it names the file and says what was expected.

One test per loader of a published layout (MIMIC-CXR-JPG, CheXpert, 5x200, 8x200, RSNA, Open-I, NIH, MS-CXR,
MS-CXR-T): pointing at the parent folder, the ``-small`` CSV with full-resolution images (and back), JPEG instead
of PNG Open-I images, the 2017 vs 2020 NIH file names, a wrong MIMIC image root.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from realdata_fixtures import write_csv, write_image

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.records import CHEXPERT_LABELS


def error(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as e:
        fn(*args, **kwargs)
    return e.value


def test_mimic_parent_folder(tmp_path):
    from clinvla_kit.data.sources.mimic import load_mimic

    (tmp_path / "2.0.0").mkdir()
    (tmp_path / "2.0.0" / "mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(b"")
    e = error(load_mimic, tmp_path)
    assert e.file == tmp_path / "mimic-cxr-2.0.0-metadata.csv"
    assert "missing CSV; expected mimic-cxr-2.0.0-metadata.csv or .csv.gz in the MIMIC-CXR-JPG folder" in e.message
    assert f"point at {tmp_path / '2.0.0'} instead" in e.message


def chexpert_csv(tmp: Path, release: str, image_release: str | None = None) -> Path:
    rel = f"{release}/train/patient00001/study1/view1_frontal.jpg"
    write_image(tmp / (image_release or release) / "train/patient00001/study1/view1_frontal.jpg")
    row = [rel, "Female", "68", "Frontal", "AP", *["" for _ in CHEXPERT_LABELS]]
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS]
    return write_csv(tmp / (image_release or release) / "train.csv", header, [row])


def test_chexpert_folder_instead_of_csv_and_parent_folder(tmp_path):
    from clinvla_kit.data.sources.chexpert import load_chexpert

    csv_path = chexpert_csv(tmp_path, "CheXpert-v1.0-small")
    e = error(load_chexpert, csv_path.parent)
    assert e.file == csv_path.parent and "expected CheXpert's train.csv or valid.csv, got a folder" in e.message
    assert f"Found {csv_path}: pass that file" in e.message
    e = error(load_chexpert, tmp_path)  # the folder above CheXpert-v1.0-small
    assert f"Found {csv_path}" in e.message
    e = error(load_chexpert, tmp_path / "train.csv")
    assert e.file == tmp_path / "train.csv" and "expected CheXpert's train.csv" in e.message
    assert f"Found {csv_path}: point at {csv_path.parent} instead" in e.message


@pytest.mark.parametrize("csv_release, images, kind", [
    ("CheXpert-v1.0-small", "CheXpert-v1.0", "downsampled (-small)"),
    ("CheXpert-v1.0", "CheXpert-v1.0-small", "full-resolution"),
])
def test_chexpert_small_vs_full(tmp_path, csv_release, images, kind):
    from clinvla_kit.data.sources.chexpert import load_chexpert

    csv_path = chexpert_csv(tmp_path, csv_release, image_release=images)  # the CSV of the other release
    e = error(load_chexpert, csv_path, tmp_path)
    assert (e.file, e.row, e.field) == (csv_path, 1, "Path")
    assert f"The CSV lists the {kind} release ({csv_release}/...)" in e.message and f"holds {images}" in e.message


def test_5x200_folder_and_8x200_parent_folder(tmp_path):
    from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200, load_chexpert_8x200

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "chexpert_5x200.csv").write_text("Path\n")
    e = error(load_chexpert_5x200, tmp_path)
    assert "expected GLoRIA's 5x200 CSV (chexpert_5x200.csv), got a folder" in e.message
    assert f"Found {tmp_path / 'b' / 'chexpert_5x200.csv'}" in e.message
    d = tmp_path / "chexpert_8x200"
    (d / "image-retrieval").mkdir(parents=True)
    (d / "image-retrieval" / "candidate.csv").write_text("Path\n")
    e = error(load_chexpert_8x200, tmp_path)
    assert e.file == tmp_path / "image-retrieval" / "candidate.csv"
    assert "expected ConVIRT's 8x200 folder holding image-retrieval/query.csv" in e.message
    assert f"point at {d} instead" in e.message


def test_rsna_parent_folder(tmp_path):
    from clinvla_kit.data.sources.rsna import load_rsna

    write_csv(tmp_path / "rsna" / "stage_2_train_labels.csv", ["patientId"], [["x"]])
    e = error(load_rsna, tmp_path)
    assert e.file == tmp_path / "stage_2_train_labels.csv"
    assert "expected the RSNA folder holding stage_2_train_labels.csv and stage_2_train_images/" in e.message
    assert f"point at {tmp_path / 'rsna'} instead" in e.message


def test_openi_parent_folder_and_jpeg_images(tmp_path):
    from clinvla_kit.data.sources.openi import load_openi_csv, load_openi_xml

    d = tmp_path / "openi"
    (d / "ecgen-radiology").mkdir(parents=True)
    (d / "ecgen-radiology" / "1.xml").write_text(
        '<eCitation><uId id="CXR1"/><AbstractText Label="FINDINGS">Clear lungs.</AbstractText>'
        '<parentImage id="CXR1_1_IM-0001-3001"><caption>PA</caption></parentImage></eCitation>')
    e = error(load_openi_xml, tmp_path)
    assert e.file == tmp_path / "ecgen-radiology" and "missing report XML files (*.xml)" in e.message
    assert f"point at {d} instead" in e.message
    write_image(d / "NLMCXR_png" / "CXR1_1_IM-0001-3001.jpg")  # a JPEG copy where the release has PNG
    e = error(load_openi_xml, d)
    assert e.file == d / "ecgen-radiology" / "1.xml" and e.field == "parentImage"
    assert "CXR1_1_IM-0001-3001.png" in e.message and "found CXR1_1_IM-0001-3001.jpg instead" in e.message
    assert "as PNG" in e.message
    e = error(load_openi_xml, d, images_dir=tmp_path / "nowhere")
    assert "does not exist; pass images_dir" in e.message
    e = error(load_openi_csv, tmp_path)
    assert e.file == tmp_path / "indiana_reports.csv" and "indiana_projections.csv" in e.message


def test_nih_2017_vs_2020_names_and_parent_folder(tmp_path):
    from clinvla_kit.data.sources.nih import load_nih

    (tmp_path / "Data_Entry_2017_v2020.csv.gz").write_bytes(b"")
    e = error(load_nih, tmp_path, check_files=False)
    assert "found ['Data_Entry_2017_v2020.csv.gz'] but expected one of ['Data_Entry_2017.csv', " \
           "'Data_Entry_2017_v2020.csv']" in e.message
    (tmp_path / "Data_Entry_2017_v2020.csv.gz").unlink()
    write_csv(tmp_path / "nih" / "Data_Entry_2017_v2020.csv", ["Image Index"], [["x.png"]])
    e = error(load_nih, tmp_path, check_files=False)
    assert e.file == tmp_path / "Data_Entry_2017.csv"
    assert "Data_Entry_2017.csv (2017 release) or Data_Entry_2017_v2020.csv (2020 re-release)" in e.message
    assert f"point at {tmp_path / 'nih'} instead" in e.message
    e = error(load_nih, tmp_path / "nih", check_files=False)  # the right folder: now the real problem shows
    assert e.field == "Finding Labels"


def test_ms_cxr_and_ms_cxr_t_wrong_root(tmp_path):
    from clinvla_kit.data.sources.ms_cxr import MS_CXR_COLUMNS, _find_csv, load_ms_cxr, load_ms_cxr_t

    rel = "files/p10/p10000032/s50414267/abc.jpg"
    row = ["abc", "Pneumonia", "left lower lobe pneumonia", rel, "10", "20", "30", "40", "100", "120"]
    csv_path = write_csv(tmp_path / "ms-cxr" / "1.1.0" / "MS_CXR_Local_Alignment_v1.1.0.csv", list(MS_CXR_COLUMNS),
                         [row])
    e = error(load_ms_cxr, csv_path, tmp_path)
    assert (e.file, e.row, e.field) == (csv_path, 1, "path")
    assert "image_root must be the MIMIC-CXR-JPG folder that holds files/p10" in e.message
    e = error(_find_csv, tmp_path, ("MS_CXR_Local_Alignment_v*.csv", "*/MS_CXR_Local_Alignment_v*.csv"), "MS-CXR CSV")
    assert "expected MS_CXR_Local_Alignment_v*.csv" in e.message and f"point at {csv_path.parent}" in e.message
    header = ["subject_id", "study_id", "dicom_id", "previous_study_id", "previous_dicom_id",
              "consolidation_progression", "edema_progression", "pleural_effusion_progression",
              "pneumonia_progression", "pneumothorax_progression"]
    t_csv = write_csv(tmp_path / "MS_CXR_T_temporal_image_classification_v1.0.0.csv", header,
                      [["10000032", "50414267", "abc", "50000001", "def", "improving", "", "", "", ""]])
    e = error(load_ms_cxr_t, t_csv, tmp_path)
    assert (e.row, e.field) == (1, "dicom_id") and "image_root must be the MIMIC-CXR-JPG folder" in e.message
