"""validate_mimic and `clinvla-kit validate`: every kind of bad input is named by file, row and field."""

from __future__ import annotations

import numpy as np

from clinvla_kit.cli import main
from clinvla_kit.data.manifest import list_hash
from clinvla_kit.data.validation import VALIDATORS, ValidationReport, lazy_validator, validate_mimic

META = "mimic-cxr-2.0.0-metadata.csv"
SPLIT = "mimic-cxr-2.0.0-split.csv"
CHEX = "mimic-cxr-2.0.0-chexpert.csv"


def edit_line(path, index, old, new):
    lines = path.read_text().splitlines()
    assert old in lines[index], lines[index]
    lines[index] = lines[index].replace(old, new, 1)
    path.write_text("\n".join(lines) + "\n")


def find(report: ValidationReport, severity: str, text: str):
    return [p for p in report.problems if p.severity == severity and text in p.message]


def test_clean_fixture_passes_with_warnings(mimic_dir):
    r = validate_mimic(mimic_dir)
    assert r.ok, r.format()
    assert r.stats["studies"] == 6 and r.stats["images"] == 10 and r.stats["dropped_no_view"] == 1
    # 50000003 (lateral only) and 50000011 (AP AXIAL only) have no frontal view: warnings, not errors
    assert {p.message.split()[1] for p in r.warnings} == {"50000003", "50000011"}
    assert validate_mimic(mimic_dir, deep=True).ok


def test_every_problem_is_collected_and_located(mimic_dir):
    root = mimic_dir
    edit_line(root / CHEX, 2, "-1.0", "2.0")  # bad label: row 2, column Edema
    edit_line(root / CHEX, 3, "-1.0", "maybe")  # and another one: nothing is lost
    edit_line(root / META, 3, ",20200101,", ",2020-01-01,")  # bad StudyDate at row 3
    edit_line(root / SPLIT, 4, ",train", ",training")  # unknown split name at row 4
    lines = (root / META).read_text().splitlines()
    (root / META).write_text("\n".join(lines + [lines[1]]) + "\n")  # duplicated dicom_id a1 at row 11
    img = root / "files/p10/p10000002/s50000010/d2.jpg"
    img.unlink()  # missing image
    corrupt = root / "files/p10/p10000001/s50000002/b1.jpg"
    corrupt.write_bytes(b"not a jpeg")  # undecodable image
    empty = root / "reports/files/p10/p10000001/s50000001.txt"
    empty.write_text("FINDINGS: ___\nIMPRESSION:\n")  # empty after cleaning
    missing_report = root / "reports/files/p90/p9000003/s50000020.txt"
    missing_report.unlink()
    r = validate_mimic(root)
    assert not r.ok
    by = {(p.file.name if p.file else None, p.row, p.field): p for p in r.errors}
    assert (CHEX, 2, "Edema") in by and (CHEX, 3, "Edema") in by
    assert (META, 3, "StudyDate") in by
    assert (SPLIT, 4, "split") in by
    assert (META, 11, "dicom_id") in by and "duplicated" in by[(META, 11, "dicom_id")].message
    assert ("d2.jpg", None, None) in by and "does not exist" in by[("d2.jpg", None, None)].message
    assert ("b1.jpg", None, None) in by
    assert ("s50000001.txt", None, None) in by and "empty" in by[("s50000001.txt", None, None)].message
    assert ("s50000020.txt", None, None) in by
    assert len(r.errors) == 9, r.format()
    text = r.format()
    assert str(corrupt) in text and "row 2, field 'Edema'" in text and text.endswith(r.summary())


def test_missing_column_and_csv(mimic_dir):
    (mimic_dir / CHEX).write_text((mimic_dir / CHEX).read_text().replace("Pneumothorax", "PTX"))
    (mimic_dir / SPLIT).unlink()
    r = validate_mimic(mimic_dir)
    fields = {(p.file.name, p.field) for p in r.errors}
    assert (CHEX, "Pneumothorax") in fields and (SPLIT, None) in fields
    assert any("missing CSV" in p.message for p in r.errors)


def test_deep_mode_catches_truncated_jpeg(mimic_dir):
    from PIL import Image

    p = mimic_dir / "files/p10/p10000001/s50000001/a3.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(p, quality=95)
    data = p.read_bytes()
    p.write_bytes(data[:400])
    cheap = validate_mimic(mimic_dir)  # the header is intact, the end-of-image marker is not (issue 16 s4)
    assert [e.file for e in cheap.errors] == [p] and "end-of-image" in cheap.errors[0].message
    deep = validate_mimic(mimic_dir, deep=True)
    assert [e.file for e in deep.errors] == [p]
    # damaged inside but complete in length: only --deep decodes it
    p.write_bytes(data[:200] + bytes(len(data) - 202) + b"\xff\xd9")
    assert validate_mimic(mimic_dir).ok and not validate_mimic(mimic_dir, deep=True).ok


def test_registry():
    assert VALIDATORS["mimic"] is validate_mimic
    lazy = lazy_validator("clinvla_kit.data.validation", "validate_mimic")
    assert isinstance(lazy("/nonexistent/dir"), ValidationReport)


def test_cli_exit_codes(mimic_dir, capsys):
    assert main(["validate", "--data", str(mimic_dir)]) == 0
    out = capsys.readouterr().out
    assert "OK: mimic data" in out and "WARNING" in out
    (mimic_dir / "files/p10/p10000002/s50000010/d1.jpg").unlink()
    assert main(["validate", "--data", str(mimic_dir), "--kind", "mimic", "--deep"]) == 1
    out = capsys.readouterr().out
    assert "d1.jpg" in out and "FAILED" in out
    assert main(["validate", "--data", str(mimic_dir), "--kind", "nope"]) == 2


def test_validate_mimic_writes_a_manifest(mimic_dir, capsys):
    """Issue 16 s4: `validate --kind mimic` wrote no manifest.json although the README says validate does."""
    import json

    assert main(["validate", "--data", str(mimic_dir), "--kind", "mimic"]) == 0
    entry = json.loads((mimic_dir / "manifest.json").read_text())["mimic"]
    assert entry["counts"]["studies"] == 6 and entry["lists"]["images"]["count"] == 10
    assert entry["lists"]["split_test"]["count"] == 3 and META in entry["files"]
    studies = ["50000001", "50000002", "50000003", "50000010", "50000011", "50000020"]
    assert entry["lists"]["studies"]["sha256"] == list_hash(studies)


def test_duplicated_rows_are_found_without_the_image_checks(mimic_dir):
    from clinvla_kit.data.validation import mimic_duplicates

    assert mimic_duplicates(mimic_dir) == []
    meta = mimic_dir / "mimic-cxr-2.0.0-metadata.csv"
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join(lines + [lines[2]]) + "\n")
    dups = mimic_duplicates(mimic_dir)
    assert [(p.file, p.row, p.field) for p in dups] == [(meta, len(lines), "dicom_id")]
    assert "first at row 2" in dups[0].message


def test_non_utf8_report_is_a_warning_naming_the_fallback(mimic_dir):
    rp = mimic_dir / "reports/files/p10/p10000001/s50000001.txt"
    rp.write_bytes("FINDINGS: small effusion \u2013 unchanged.\n".encode("cp1252"))
    report = validate_mimic(mimic_dir)
    assert report.ok and report.stats["non_utf8_reports"] == 1
    assert any(w.file == rp and "decoded as cp1252" in w.message for w in report.warnings)
