"""Images for people to look at (demo thumbnails, notebook figures): burned-in text removed by default.

Burned-in markers (side letters, "PORTABLE", "kV=120", sometimes an ID string) are removed before training in the
paper, and the kit's figures and demo should show what the model sees, not text that can carry identifying or
distracting information. ``read_for_display`` is the one image path of the demo's and the figures' pictures; its
``remove_burned_in`` switch (on by default) exists so that notebook 01 can show the markers before and after.

Why work on a reduced copy: marker detection is a morphological top-hat and a Canny pass over the corners, whose
cost grows with the pixel count; a full MIMIC film (about 2500 x 3000) would take a large share of a second per
view, a 512-px copy a few milliseconds, and thumbnails are smaller than that anyway.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORK_SIZE = 512
"""Longer side of the copy on which markers are found and removed (smaller images are used as they are)."""


def read_for_display(path: str | Path, remove_burned_in: bool = True, work_size: int = WORK_SIZE) -> np.ndarray:
    """An image file -> ``[H, W]`` float32 in [0, 1] for display; longer side at most ``work_size`` when
    ``remove_burned_in`` (``data.markers.remove_markers`` applied), the full image otherwise."""
    from clinvla_kit.data.images import read_image

    img = read_image(path)
    if not remove_burned_in:
        return img
    return strip_burned_in(img, work_size)


def strip_burned_in(img: np.ndarray, work_size: int = WORK_SIZE) -> np.ndarray:
    """``[H, W]`` in [0, 1] -> the same content without burned-in corner text, longer side <= ``work_size``."""
    import cv2

    from clinvla_kit.data.markers import remove_markers

    h, w = img.shape
    scale = work_size / max(h, w)
    if scale < 1.0:
        img = cv2.resize(np.ascontiguousarray(img, dtype=np.float32), (max(2, round(w * scale)),
                         max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    clean, _ = remove_markers(img)
    return clean
