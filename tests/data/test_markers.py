"""Burned-in marker detection and inpainting on a hand-made image."""

from __future__ import annotations

import numpy as np

from clinvla_kit.data.markers import detect_markers, remove_markers


def phantom(size: int = 256) -> np.ndarray:
    """A smooth 'body' blob on a darker background (no sharp structures in the corners)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    return (0.2 + 0.4 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.55) ** 2) / 0.08)).astype(np.float32)


def with_marker(img: np.ndarray, text: str, org: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    glyph = np.zeros(img.shape, np.uint8)
    cv2.putText(glyph, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 2)  # OpenCV draws text on 8-bit only
    out = img.copy()
    out[glyph > 0] = 1.0
    return out, glyph > 0


def overlaps(box, mask: np.ndarray) -> bool:
    x0, y0, x1, y1 = box
    return bool(mask[y0:y1, x0:x1].any())


def test_detects_drawn_marker_and_nothing_on_clean_image():
    clean = phantom()
    assert detect_markers(clean) == []
    img, glyph = with_marker(clean, "L", (6, 22))
    boxes = detect_markers(img)
    assert len(boxes) == 1 and overlaps(boxes[0], glyph)
    x0, y0, x1, y1 = boxes[0]
    ys, xs = np.nonzero(glyph)
    assert x0 <= xs.min() and y0 <= ys.min() and x1 > xs.max() and y1 > ys.max()  # the box covers the glyph


def test_word_in_other_corner_is_one_box():
    img, glyph = with_marker(phantom(), "PORT", (190, 246))
    boxes = detect_markers(img)
    assert len(boxes) == 1 and overlaps(boxes[0], glyph)


def test_removal_restores_background():
    clean = phantom()
    img, glyph = with_marker(clean, "R", (230, 20))
    out, boxes = remove_markers(img)
    assert boxes and out.shape == img.shape and out.dtype == np.float32
    x0, y0, x1, y1 = boxes[0]
    before = np.abs(img[y0:y1, x0:x1] - clean[y0:y1, x0:x1]).max()
    after = np.abs(out[y0:y1, x0:x1] - clean[y0:y1, x0:x1]).max()
    assert before > 0.5 and after < 0.05
    # outside the box nothing changed
    outside = np.ones_like(glyph)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], img[outside])
    same, none = remove_markers(clean)
    assert none == [] and np.array_equal(same, clean)
