"""CheXpert 5x200 (GLoRIA format) and 8x200 (ConVIRT format) loaders on tiny fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from realdata_fixtures import write_csv, write_image

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.data.sources.benchmarks import (
    CLASSES_5X200,
    CLASSES_8X200,
    load_chexpert_5x200,
    load_chexpert_8x200,
)

HEADER_5 = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS, "Report Impression"]


def row5(path: str, positives: list[str], report: str = "Finding present.") -> list[str]:
    return [path, "Male", "50", "Frontal", "AP", *["1.0" if c in positives else "0.0" for c in CHEXPERT_LABELS], report]


def make5(tmp: Path, rows: list[list[str]] | None = None) -> Path:
    rows = rows or [row5(f"CheXpert-v1.0/train/patient{i:05d}/study1/view1_frontal.jpg", [c])
                    for i, c in enumerate(CLASSES_5X200 * 2)]
    for r in rows:
        write_image(tmp / r[0])
    return write_csv(tmp / "chexpert_5x200.csv", HEADER_5, rows)


def test_5x200_reads_in_file_order(tmp_path):
    df = load_chexpert_5x200(make5(tmp_path))
    assert list(df.columns) == ["path", "label", "label_index", "report"]
    assert list(df.label) == list(CLASSES_5X200 * 2)
    assert list(df.label_index) == [0, 1, 2, 3, 4] * 2
    assert df.path.iloc[0].is_file()


@pytest.mark.parametrize("positives", [[], ["Edema", "Atelectasis"]])
def test_5x200_needs_exactly_one_positive(tmp_path, positives):
    rows = [row5("a/patient00001/study1/view1_frontal.jpg", ["Edema"]), row5("a/patient2/v.jpg", positives)]
    with pytest.raises(DataError) as e:
        load_chexpert_5x200(make5(tmp_path, rows))
    assert e.value.row == 2 and "exactly one positive" in str(e.value)


def test_5x200_other_errors(tmp_path):
    rows = [row5("a/x1.jpg", ["Edema"]), row5("a/x2.jpg", ["Edema"], report="  ")]
    with pytest.raises(DataError) as e:
        load_chexpert_5x200(make5(tmp_path, rows))
    assert (e.value.row, e.value.field) == (2, "Report Impression")
    rows = [row5("a/x1.jpg", ["Edema"]), row5("a/x1.jpg", ["Edema"])]
    with pytest.raises(DataError, match="duplicated"):
        load_chexpert_5x200(make5(tmp_path, rows))
    write_csv(tmp_path / "bad.csv", [c for c in HEADER_5 if c != "Report Impression"], [])
    with pytest.raises(DataError) as e:
        load_chexpert_5x200(tmp_path / "bad.csv")
    assert e.value.field == "Report Impression"


def make8(tmp: Path, per_class: int = 2, img: str = "img") -> Path:
    d = tmp / "chexpert_8x200"

    def onehot(c):
        return ["1" if k == c else "0" for k in CLASSES_8X200]

    for name, n in (("query", 1), ("candidate", per_class)):
        rows = []
        for c in CLASSES_8X200:
            for j in range(n):
                p = f"CheXpert-v1.0/valid/{name}/{c.replace(' ', '_')}_{j}.jpg"
                write_image(tmp / img / p)
                rows.append([p, *onehot(c)])
        write_csv(d / "image-retrieval" / f"{name}.csv", ["Path", *CLASSES_8X200], rows)
    texts = [[f"report about {c} {j}", *onehot(c)] for c in CLASSES_8X200 for j in range(5)]
    write_csv(d / "text-retrieval" / "query.csv", ["Text", *CLASSES_8X200], texts)
    return d


def test_8x200_reads_three_tables(tmp_path):
    q, c, t = load_chexpert_8x200(make8(tmp_path), image_root=tmp_path / "img")
    assert list(q.columns) == ["path", "label"] and list(t.columns) == ["text", "label"]
    assert len(q) == 8 and len(c) == 16 and len(t) == 40
    assert c.label.value_counts().to_dict() == {k: 2 for k in CLASSES_8X200}
    assert t.text.iloc[0] == "report about No Finding 0"


def test_8x200_errors(tmp_path):
    d = make8(tmp_path)
    with pytest.raises(DataError) as e:  # images are under img/, not under the folder itself
        load_chexpert_8x200(d)
    assert e.value.field == "Path" and e.value.row == 1
    (d / "text-retrieval" / "query.csv").unlink()
    with pytest.raises(DataError, match="file not found"):
        load_chexpert_8x200(d, image_root=tmp_path / "img")
    write_csv(d / "text-retrieval" / "query.csv", ["Text", *CLASSES_8X200],
              [["two classes", "1", "1", "0", "0", "0", "0", "0", "0"]])
    with pytest.raises(DataError) as e:
        load_chexpert_8x200(d, image_root=tmp_path / "img")
    assert e.value.row == 1 and e.value.file.name == "query.csv"
