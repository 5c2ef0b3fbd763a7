"""Quality screening: blur (variance of Laplacian) and saturation, with the reason."""

from __future__ import annotations

import numpy as np

from clinvla_kit.data.quality import laplacian_variance, saturation_shares, screen_quality


def ribbed(size: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = 0.2 + 0.4 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.55) ** 2) / 0.08)
    ribs = 0.1 * (np.sin(yy * 60) > 0.5)  # sharp-edged bands, like ribs
    return np.clip(body + ribs, 0, 1).astype(np.float32)


def test_good_image_passes():
    r = screen_quality(ribbed())
    assert r.ok and r.reason == "ok" and r.saturation < 0.05


def test_blurred_image_reason():
    import cv2

    blurred = cv2.GaussianBlur(ribbed(), (0, 0), 4)
    r = screen_quality(blurred)
    assert not r.ok and r.reason.startswith("blurred") and r.laplacian_var < laplacian_variance(ribbed())


def test_saturated_image_reason():
    img = np.clip(ribbed() * 4.0, 0, 1)
    r = screen_quality(img)
    assert not r.ok and "saturated" in r.reason and "white" in r.reason and r.saturation > 0.5


def test_washed_out_image_reason():
    img = ribbed() * 0.3 + 0.65  # compressed into a pale band, nothing clipped
    r = screen_quality(img)
    assert not r.ok and r.reason.startswith("washed out") and r.saturation == 0.0
    lo, hi = sorted(img.ravel())[int(0.01 * (img.size - 1))], sorted(img.ravel())[int(0.99 * (img.size - 1))]
    assert abs(r.dynamic_range - (hi - lo)) < 0.01


def test_saturation_shares_reference():
    img = np.array([[0.0, 0.01, 0.5], [0.99, 1.0, 0.3]], np.float32)
    dark = sum(1 for v in img.ravel() if v <= 0.02) / img.size
    white = sum(1 for v in img.ravel() if v >= 0.98) / img.size
    assert saturation_shares(img) == (dark, white)


def test_laplacian_variance_reference():
    rng = np.random.default_rng(0)
    img = rng.random((256, 256)).astype(np.float32)  # already 256 px: no resampling
    a = img.astype(np.float64) * 255
    lap = []
    for i in range(256):
        for j in range(256):
            up, down = a[i - 1, j] if i > 0 else a[i + 1, j], a[i + 1, j] if i < 255 else a[i - 1, j]
            left, right = a[i, j - 1] if j > 0 else a[i, j + 1], a[i, j + 1] if j < 255 else a[i, j - 1]
            lap.append(up + down + left + right - 4 * a[i, j])  # reflect-101 border, as OpenCV's default
    assert abs(laplacian_variance(img) - float(np.var(lap))) / float(np.var(lap)) < 1e-4
