"""NIH ChestX-ray14 loader on a tiny Data_Entry_2017.csv with images in images_001/images/."""

from __future__ import annotations

from pathlib import Path

import pytest
from realdata_fixtures import write_csv, write_image

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources.nih import load_nih

HEADER = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
          "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]"]


def make(tmp: Path, labels=("Cardiomegaly|Effusion", "No Finding", "Hernia")) -> Path:
    rows = []
    for k, lab in enumerate(labels):
        name = f"0000000{k + 1}_000.png"
        write_image(tmp / "images_001" / "images" / name)
        rows.append([name, lab, "0", str(k + 1), "58", "M", "PA", "2682", "2749", "0.143", "0.143"])
    (tmp / "train_val_list.txt").write_text("00000001_000.png\n00000002_000.png\n")
    (tmp / "test_list.txt").write_text("00000003_000.png\n")
    return write_csv(tmp / "Data_Entry_2017.csv", HEADER, rows)


def test_reads_labels_and_split(tmp_path):
    make(tmp_path)
    df = load_nih(tmp_path)
    assert list(df.image_index) == ["00000001_000.png", "00000002_000.png", "00000003_000.png"]
    assert df.labels.iloc[0] == ["Cardiomegaly", "Effusion"]
    assert df.Effusion.tolist() == [1, 0, 0] and df["No Finding"].tolist() == [0, 1, 0]
    assert df.split.tolist() == ["train", "train", "test"]
    assert df.path.iloc[0].is_file()


@pytest.mark.parametrize("labels, field", [(("Cardiomegaly|Covid",), "Finding Labels"),
                                           (("No Finding|Mass",), "Finding Labels")])
def test_bad_labels(tmp_path, labels, field):
    make(tmp_path, labels)
    with pytest.raises(DataError) as e:
        load_nih(tmp_path)
    assert (e.value.row, e.value.field) == (1, field)


def test_missing_image_and_duplicates(tmp_path):
    csv_path = make(tmp_path)
    (tmp_path / "images_001" / "images" / "00000002_000.png").unlink()
    with pytest.raises(DataError) as e:
        load_nih(tmp_path)
    assert (e.value.row, e.value.field) == (2, "Image Index")
    rows = [["00000001_000.png", "Mass", "0", "1", "5", "F", "PA", "1", "1", "1", "1"]] * 2
    write_csv(csv_path, HEADER, rows)
    with pytest.raises(DataError, match="duplicated"):
        load_nih(tmp_path)
    write_csv(csv_path, HEADER[:6], rows)
    with pytest.raises(DataError) as e:
        load_nih(tmp_path)
    assert e.value.field == "View Position"
