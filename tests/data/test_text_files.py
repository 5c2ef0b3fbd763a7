"""Report files that are not UTF-8: decoded with a stated fallback and counted (issue 16 s4), not with U+FFFD."""

from __future__ import annotations

import pytest

from clinvla_kit.data.text_files import decode_report_bytes, read_report_text

TEXT = "No pleural effusion. Heart size normal \u2013 stable. Caf\u00e9 au lait spot.\n"


@pytest.mark.parametrize("encoding, used", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("cp1252", "cp1252")])
def test_encodings_are_decoded_without_replacement_characters(encoding, used):
    text, enc = decode_report_bytes(TEXT.encode(encoding))
    assert text == TEXT and enc == used and "\ufffd" not in text


def test_bytes_cp1252_leaves_undefined_fall_back_to_latin1():
    text, enc = decode_report_bytes(b"effusion \x81\x8d")
    assert enc == "latin-1" and text == "effusion \x81\x8d"


def test_read_report_text_counts_and_logs_the_fallback(tmp_path, caplog):
    p = tmp_path / "s1.txt"
    p.write_bytes(TEXT.encode("cp1252"))
    seen: list = []
    with caplog.at_level("WARNING"):
        assert read_report_text(p, seen) == TEXT
    assert seen == [p] and "not valid UTF-8; decoded as cp1252" in caplog.text and str(p) in caplog.text
    (tmp_path / "ok.txt").write_text(TEXT, encoding="utf-8")
    assert read_report_text(tmp_path / "ok.txt", seen) == TEXT and seen == [p]


def test_load_mimic_reads_a_cp1252_report_without_fffd_and_counts_it(mimic_dir):
    from clinvla_kit.data.sources.mimic import load_mimic

    rp = mimic_dir / "reports/files/p10/p10000001/s50000001.txt"
    rp.write_bytes("FINDINGS: small effusion \u2013 unchanged.\n".encode("cp1252"))
    recs = load_mimic(mimic_dir)
    rec = next(r for r in recs if r.study_id == "50000001")
    assert "\ufffd" not in rec.report and "\u2013" in rec.report
    assert recs.non_utf8_reports == [rp]
