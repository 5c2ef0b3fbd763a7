"""Display images without burned-in text (issue 16 s4: SynthCXR's "R" / "kV=120" reached demo thumbnails)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from test_markers import phantom, with_marker

from clinvla_kit.data.display import read_for_display


def test_burned_in_text_is_removed_by_default_and_kept_on_request(tmp_path):
    img, glyph = with_marker(phantom(256), "R", (6, 22))
    Image.fromarray((img * 255).round().astype(np.uint8)).save(tmp_path / "x.png")
    kept = read_for_display(tmp_path / "x.png", remove_burned_in=False)
    clean = read_for_display(tmp_path / "x.png")
    assert kept[glyph].min() > 0.95  # the letter is there in the raw image
    assert clean[glyph].max() < 0.6 and clean.shape == (256, 256)  # and gone from the display copy
    far = np.zeros_like(glyph)
    far[100:160, 100:160] = True
    assert np.abs(clean[far] - kept[far]).max() < 1 / 255 + 1e-6  # the anatomy is untouched


def test_large_images_are_cleaned_on_a_reduced_copy(tmp_path):
    big = np.kron(phantom(256), np.ones((8, 8), np.float32))  # 2048 x 2048
    Image.fromarray((big * 255).round().astype(np.uint8)).save(tmp_path / "big.png")
    assert read_for_display(tmp_path / "big.png").shape == (512, 512)
