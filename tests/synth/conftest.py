"""Shared small SynthCXR outputs for the synth tests (generated once per session, 64 px)."""

from __future__ import annotations

import pytest

from clinvla_kit.synth.generate import generate

STUDIES, SEED, SIZE = 30, 7, 64


@pytest.fixture(scope="session")
def synth_pair(tmp_path_factory):
    """Two generations with the same seed: workers=1 and workers=2 (returns (dir_a, dir_b, summary_a))."""
    a = tmp_path_factory.mktemp("synth_a")
    b = tmp_path_factory.mktemp("synth_b")
    summary = generate(a, STUDIES, SEED, image_size=SIZE, workers=1)
    generate(b, STUDIES, SEED, image_size=SIZE, workers=2)
    return a, b, summary


@pytest.fixture(scope="session")
def synth_dir(synth_pair):
    return synth_pair[0]
