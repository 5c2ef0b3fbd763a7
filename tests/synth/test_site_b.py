"""Site B: telegraphic impression-only reports in site A's formats, shifted ids, own splits and benchmarks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clinvla_kit.synth.generate import generate
from clinvla_kit.synth.site_b import ID_OFFSET, merge_sites, site_image


@pytest.fixture(scope="module")
def site_b(tmp_path_factory):
    out = tmp_path_factory.mktemp("site_b")
    generate(out, 24, 7, image_size=64, workers=1, site="B")
    return out


def test_site_b_reports_are_telegraphic_and_labels_match(site_b):
    from clinvla_kit.data.sources.mimic import load_mimic

    recs = list(load_mimic(site_b))
    assert recs
    for r in recs:
        assert "FINDINGS:" not in r.report and "IMPRESSION:" in r.report
        assert int(r.subject_id) >= 10_000_000 + ID_OFFSET
    variants = [json.loads(x) for x in (site_b / "report_variants.jsonl").read_text().splitlines()]
    tele = {v["study_id"]: v["text"] for v in variants if v["style"] == "telegraphic"}
    orig = {v["study_id"]: v["text"] for v in variants if v["style"] == "original"}
    assert all(orig[k].endswith(tele[k]) for k in tele)
    assert (site_b / "benchmarks" / "chexpert_5x200.csv").is_file()


def test_site_b_is_deterministic(site_b, tmp_path):
    again = tmp_path / "again"
    generate(again, 24, 7, image_size=64, workers=1, site="B")
    for name in ("mimic-cxr-2.0.0-split.csv", "report_variants.jsonl", "report_errors.jsonl"):
        assert (again / name).read_bytes() == (site_b / name).read_bytes()


def test_vendor_appearance_changes_pixels_only_monotonically():
    img = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    out = site_image(img, "vendor")
    assert out.dtype == np.uint8 and out.shape == img.shape and not np.array_equal(out, img)
    assert np.all(np.diff(out[32].astype(int)) >= -1)  # the grey ramp stays (nearly) monotone
    assert site_image(img, "same") is img


def test_merge_sites_keeps_b_test_out(synth_dir, site_b, tmp_path):
    merged = tmp_path / "ab"
    merge_sites(synth_dir, site_b, merged)
    split = pd.read_csv(merged / "mimic-cxr-2.0.0-split.csv")
    b = split[split["subject_id"] >= 10_000_000 + ID_OFFSET]
    assert len(b) and set(b["split"]) <= {"train", "validate"}
    assert len(split) > len(pd.read_csv(synth_dir / "mimic-cxr-2.0.0-split.csv"))
    from clinvla_kit.data.sources.mimic import load_mimic

    assert len(list(load_mimic(merged, splits=["train"]))) > 0


def test_unknown_site_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--site"):
        generate(tmp_path, 5, 0, image_size=64, workers=1, site="C")
