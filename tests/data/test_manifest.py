"""Manifest hashing, writing and comparison with known (fixture) hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from clinvla_kit.data.manifest import (
    canonical_image_id,
    compare_hashes,
    file_hash,
    list_hash,
    load_known_hashes,
    write_manifest,
)
from clinvla_kit.data.validation import VALIDATORS, ValidationReport


def reference_hash(items: list[str]) -> str:
    text = ""
    for k, item in enumerate(items):
        text += ("\n" if k else "") + item
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_list_hash_matches_plain_reference_and_is_order_sensitive():
    items = ["patient1/study1/view1_frontal.jpg\tEdema", "patient2/study1/view1_frontal.jpg\tAtelectasis"]
    assert list_hash(items) == reference_hash(items)
    assert list_hash(items) != list_hash(items[::-1])
    assert list_hash([]) == hashlib.sha256(b"").hexdigest()


def test_file_hash(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"Path,Label\nx,1\n")
    assert file_hash(p) == hashlib.sha256(b"Path,Label\nx,1\n").hexdigest()


def test_canonical_image_id_ignores_the_root():
    a = canonical_image_id(Path("/data/CheXpert-v1.0/train/patient1/study2/view1_frontal.jpg"))
    b = canonical_image_id("other/place/patient1/study2/view1_frontal.jpg")
    assert a == b == "patient1/study2/view1_frontal.jpg"


def test_compare_with_fixture_hashes():
    items = ["a", "b", "c"]
    lists = {"rows": {"count": 3, "sha256": list_hash(items)}}
    ok = ValidationReport(Path("."), "k")
    compare_hashes("k", lists, {"k": {"rows": {"count": 3, "sha256": list_hash(items)}}}, ok)
    assert ok.ok and not ok.warnings and ok.stats["rows_matches_published"] == 1
    same_size = ValidationReport(Path("."), "k")
    compare_hashes("k", lists, {"k": {"rows": {"count": 3, "sha256": list_hash(["a", "c", "b"])}}}, same_size)
    assert len(same_size.errors) == 1 and "differs from the published" in same_size.errors[0].message
    scaled = ValidationReport(Path("."), "k")
    compare_hashes("k", lists, {"k": {"rows": {"count": 1000, "sha256": "0" * 64}}}, scaled)
    assert scaled.ok and len(scaled.warnings) == 1
    unknown = ValidationReport(Path("."), "k")
    compare_hashes("k", lists, {"k": {"rows": {"count": 1000, "sha256": None, "note": "n/a"}}}, unknown)
    assert unknown.ok and "no published sha256" in unknown.warnings[0].message


def test_write_manifest_merges_kinds(tmp_path):
    (tmp_path / "x.csv").write_text("a\n")
    rep = ValidationReport(tmp_path, "one")
    write_manifest(tmp_path, "one", {"ids": ["1", "2"]}, [tmp_path / "x.csv"], {"ids": 2}, {}, rep)
    write_manifest(tmp_path, "two", {"ids": ["3"]}, [], {"ids": 1}, {}, ValidationReport(tmp_path, "two"))
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert set(data) == {"one", "two"}
    assert data["one"]["lists"]["ids"] == {"count": 2, "sha256": reference_hash(["1", "2"])}
    assert data["one"]["files"] == {"x.csv": hashlib.sha256(b"a\n").hexdigest()}
    assert rep.stats["manifest_written"] == 1


def test_known_hashes_file_and_registry():
    known = load_known_hashes()
    assert known["chexpert-5x200"]["rows"]["count"] == 1000
    assert known["chexpert-8x200"]["candidates"]["count"] == 1600
    for kind in ("chexpert", "chexpert-5x200", "chexpert-8x200", "rsna", "openi", "nih", "ms-cxr", "ms-cxr-t"):
        assert kind in VALIDATORS
