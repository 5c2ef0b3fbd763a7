"""Burned-in marker detection and removal (side letters, "PORTABLE", kV values, ID strings).

Markers are small, high-contrast, sharp-edged bright glyphs placed near the corners. Anatomy is large and smooth at
that scale, so a white top-hat (image minus its morphological opening with a structuring element larger than a
glyph stroke) keeps the glyphs and removes the anatomy. We look only in the corner regions because that is where
scanners and technologists put them, and because searching the whole film would flag ribs and lines. Pixels that
pass the top-hat threshold *and* lie on a strong edge are grouped by a closing into text blobs; each blob's box is
returned. Removal inpaints only the glyph pixels (dilated), so the surrounding tissue in the box stays untouched.
"""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in pixels, x1/y1 exclusive."""


def _corner_windows(h: int, w: int, frac_h: float, frac_w: float) -> list[tuple[int, int, int, int]]:
    ch, cw = max(1, round(h * frac_h)), max(1, round(w * frac_w))
    return [(0, 0, cw, ch), (w - cw, 0, w, ch), (0, h - ch, cw, h), (w - cw, h - ch, w, h)]


def marker_mask(
    img: np.ndarray, corner_frac: tuple[float, float] = (0.15, 0.3), min_contrast: float = 0.2
) -> np.ndarray:
    """Boolean ``[H, W]`` mask of marker-glyph pixels in the corner regions.

    Args:
        img: ``[H, W]`` float in [0, 1].
        corner_frac: (height, width) share of the image searched in each corner.
        min_contrast: a glyph must stand this much above its local background (top-hat value) to count.
    """
    import cv2

    img = np.ascontiguousarray(img, dtype=np.float32)
    h, w = img.shape
    # Structuring element wider than a glyph stroke but narrower than a rib or clavicle: ~1/40 of the image side.
    k = max(5, round(min(h, w) / 40) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    tophat = cv2.morphologyEx(img, cv2.MORPH_TOPHAT, kernel)
    u8 = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    edges = cv2.Canny(u8, 50, 150) > 0
    edges = cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    bright = tophat > min_contrast
    mask = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in _corner_windows(h, w, *corner_frac):
        mask[y0:y1, x0:x1] = bright[y0:y1, x0:x1] & edges[y0:y1, x0:x1]
    return mask


def detect_markers(
    img: np.ndarray, corner_frac: tuple[float, float] = (0.15, 0.3), min_contrast: float = 0.2,
    min_area: int = 4, min_peak: float = 0.98,
) -> list[Box]:
    """Boxes of burned-in markers in the corners of ``img`` ([H, W] float in [0, 1]).

    Glyph pixels (see ``marker_mask``) are merged by a closing so that the letters of one word form one box;
    blobs smaller than ``min_area`` pixels (noise) are dropped, and so are blobs whose brightest pixel is below
    ``min_peak``: burned-in text is drawn at (near) full white, anatomy edges are not. Boxes are padded by 2 px and
    clipped to the image.
    """
    import cv2

    mask = marker_mask(img, corner_frac, min_contrast)
    h, w = mask.shape
    gap = max(3, round(min(h, w) / 64))
    merged = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((gap, gap * 2 + 1), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    boxes: list[Box] = []
    for i in range(1, n):
        x, y, bw, bh, _area = (int(v) for v in stats[i])
        glyph = mask[y : y + bh, x : x + bw] & (labels[y : y + bh, x : x + bw] == i)
        if int(glyph.sum()) < min_area or float(img[y : y + bh, x : x + bw][glyph].max()) < min_peak:
            continue
        boxes.append((max(0, x - 2), max(0, y - 2), min(w, x + bw + 2), min(h, y + bh + 2)))
    return sorted(boxes)


def remove_markers(
    img: np.ndarray, corner_frac: tuple[float, float] = (0.15, 0.3), min_contrast: float = 0.2,
    radius: int = 5,
) -> tuple[np.ndarray, list[Box]]:
    """Detect markers and inpaint them (Telea); returns ``(clean [H, W] float32, boxes)``.

    Only glyph pixels (dilated by 2 px to cover anti-aliased edges) inside the detected boxes are inpainted.
    """
    import cv2

    img = np.ascontiguousarray(img, dtype=np.float32)
    boxes = detect_markers(img, corner_frac, min_contrast)
    if not boxes:
        return img.copy(), boxes
    glyphs = marker_mask(img, corner_frac, min_contrast).astype(np.uint8)
    glyphs = cv2.dilate(glyphs, np.ones((5, 5), np.uint8))
    inside = np.zeros_like(glyphs)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = 1
    mask = (glyphs & inside).astype(np.uint8)
    # cv2.inpaint works on 8/16-bit images; 16 bits keep the float precision for our purposes.
    u16 = (np.clip(img, 0, 1) * 65535).round().astype(np.uint16)
    filled = cv2.inpaint(u16, mask, radius, cv2.INPAINT_TELEA).astype(np.float32) / 65535.0
    out = img.copy()
    out[mask > 0] = filled[mask > 0]  # only glyph pixels change; the rest keeps full float precision
    return out, boxes
