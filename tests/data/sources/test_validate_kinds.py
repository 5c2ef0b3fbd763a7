"""``clinvla-kit validate --kind K`` for every real-data kind, on the loaders' fixtures."""

from __future__ import annotations

import json

from realdata_fixtures import write_csv, write_image
from test_benchmarks import make5, make8
from test_chexpert import make as make_chexpert
from test_ms_cxr import WIDE, img
from test_nih import make as make_nih
from test_openi import make_csv as make_openi
from test_rsna import make as make_rsna

from clinvla_kit.cli import main
from clinvla_kit.data.manifest import list_hash
from clinvla_kit.data.validation import VALIDATORS


def test_5x200_scaled_set_warns_and_writes_manifest(tmp_path, capsys):
    make5(tmp_path)
    assert main(["validate", "--data", str(tmp_path), "--kind", "chexpert-5x200"]) == 0
    out = capsys.readouterr().out
    assert "instead of the published 1000" in out and "OK: chexpert-5x200" in out
    manifest = json.loads((tmp_path / "manifest.json").read_text())["chexpert-5x200"]
    assert manifest["lists"]["rows"]["count"] == 10


def test_5x200_matching_fixture_hash(tmp_path):
    make5(tmp_path)
    first = VALIDATORS["chexpert-5x200"](tmp_path, known={})
    sha = json.loads((tmp_path / "manifest.json").read_text())["chexpert-5x200"]["lists"]["rows"]["sha256"]
    again = VALIDATORS["chexpert-5x200"](tmp_path, known={"chexpert-5x200": {"rows": {"count": 10, "sha256": sha}}})
    assert first.ok and again.stats["rows_matches_published"] == 1
    bad = VALIDATORS["chexpert-5x200"](tmp_path, known={"chexpert-5x200": {"rows": {"count": 10,
                                                                                    "sha256": list_hash(["x"])}}})
    assert not bad.ok


def test_5x200_bad_row_is_reported(tmp_path, capsys):
    csv_path = make5(tmp_path)
    text = csv_path.read_text().splitlines()
    text[3] = text[3].replace("0.0", "1.0", 2)
    csv_path.write_text("\n".join(text) + "\n")
    assert main(["validate", "--data", str(tmp_path), "--kind", "chexpert-5x200"]) == 1
    assert "row 3" in capsys.readouterr().out


def test_8x200(tmp_path):
    make8(tmp_path, img="")  # Path column relative to the data root, as in the ConVIRT release
    rep = VALIDATORS["chexpert-8x200"](tmp_path, known={})
    assert rep.ok, rep.format()
    assert rep.stats["candidates"] == 16 and rep.stats["text_queries"] == 40


def test_rsna_chexpert_nih_openi(tmp_path):
    for kind, make in (("rsna", make_rsna), ("chexpert", make_chexpert), ("nih", make_nih), ("openi", make_openi)):
        d = tmp_path / kind
        d.mkdir()
        make(d)
        rep = VALIDATORS[kind](d, known={})
        assert rep.ok, rep.format()
        assert kind in json.loads((d / "manifest.json").read_text())
    rsna = VALIDATORS["rsna"](tmp_path / "rsna", known={})
    assert rsna.stats["test_list_test"] == 3 and rsna.stats["patients"] == 6  # the MRM list: 3 stage-2 test images


def test_ms_cxr_t_and_missing_data(tmp_path):
    img(tmp_path, "10000032", "2", "cur")
    img(tmp_path, "10000032", "1", "pre")
    write_csv(tmp_path / "MS_CXR_T_temporal_image_classification_v1.0.0.csv", WIDE,
              [["10000032", "2", "cur", "1", "pre", "improving", "", "", "", ""]])
    rep = VALIDATORS["ms-cxr-t"](tmp_path, known={})
    assert rep.ok and rep.stats["consolidation_improving"] == 1
    missing = VALIDATORS["ms-cxr"](tmp_path, known={})
    assert not missing.ok and "no MS-CXR CSV found" in missing.errors[0].message


def test_corrupt_image_is_an_error(tmp_path):
    make5(tmp_path)
    victim = next(tmp_path.rglob("*.jpg"))
    victim.write_bytes(b"")
    rep = VALIDATORS["chexpert-5x200"](tmp_path, known={})
    assert not rep.ok and any(p.file == victim for p in rep.errors)
    write_image(victim)
