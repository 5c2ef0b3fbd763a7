"""The real-format loaders and validators read SynthCXR's benchmark files (tiny run: 40 studies at 64 px)."""

from __future__ import annotations

import pytest

from clinvla_kit.cli import main
from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200, load_chexpert_8x200
from clinvla_kit.data.sources.ms_cxr import load_ms_cxr_t
from clinvla_kit.data.sources.rsna import load_rsna
from clinvla_kit.data.validation import VALIDATORS


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "out"
    assert main(["synth", "--out", str(out), "--studies", "40", "--image-size", "64", "--workers", "1"]) == 0
    return out


def test_loaders_read_synth_benchmarks(synth):
    b = synth / "benchmarks"
    five = load_chexpert_5x200(b / "chexpert_5x200.csv", image_root=synth)
    assert len(five) > 0 and five.label_index.between(0, 4).all() and five.report.str.len().gt(0).all()
    q, c, t = load_chexpert_8x200(b / "chexpert_8x200", image_root=synth)
    assert len(c) > 0 and len(t) == 40 and not set(map(str, q.path)) & set(map(str, c.path))
    rsna = load_rsna(b / "rsna", check_headers=True)
    assert set(rsna.target) <= {0, 1} and (rsna.boxes.map(len).gt(0) == rsna.target.eq(1)).all()
    temporal = load_ms_cxr_t(b / "temporal.csv", image_root=synth)
    assert set(temporal.label) <= {"improving", "stable", "worsening"}


@pytest.mark.parametrize("kind", ["chexpert-5x200", "chexpert-8x200", "rsna", "ms-cxr-t"])
def test_validate_synth(synth, kind):
    rep = VALIDATORS[kind](synth, known={})
    assert rep.ok, rep.format()
