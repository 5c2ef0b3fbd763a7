"""Quality screening: exposure saturation and motion blur, with the reason returned.

Both measures are computed on a copy resized to 256 px so thresholds do not depend on the film's resolution.
- Saturation: the share of pixels clipped at either end (<= 0.02 or >= 0.98). An over- or under-exposed film loses
  contrast in the lungs and piles its pixels at one end of the range.
- Washed-out exposure: the 1st-99th percentile range of grey values. A film exposed far outside the detector's
  range can be compressed into a narrow band without clipping (pale, flat), which the saturation share misses.
- Blur: the variance of the Laplacian (on the 0-255 scale). Motion blur removes the sharp edges (ribs, vessels,
  device edges) that the Laplacian responds to. The threshold is data-dependent; the defaults suit SynthCXR and
  down-sampled MIMIC JPGs, and are parameters so a notebook can tune them on a histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QualityResult:
    """Outcome of ``screen_quality``.

    Attributes:
        ok: True when no check failed.
        reason: "ok" or a "; "-joined list of failures (e.g. "saturated: 61% of pixels clipped at white").
        saturation: share of clipped pixels at the worse end, in [0, 1].
        laplacian_var: variance of the Laplacian at 256 px (0-255 grey scale).
        dynamic_range: 99th minus 1st percentile of the grey values, in [0, 1].
    """

    ok: bool
    reason: str
    saturation: float
    laplacian_var: float
    dynamic_range: float = 1.0


def saturation_shares(img: np.ndarray, low: float = 0.02, high: float = 0.98) -> tuple[float, float]:
    """(share of pixels <= low, share >= high) of an ``[H, W]`` image in [0, 1]."""
    return float((img <= low).mean()), float((img >= high).mean())


def laplacian_variance(img: np.ndarray, size: int = 256) -> float:
    """Variance of the 3x3 Laplacian of ``img`` resized to ``size`` px, grey values on the 0-255 scale."""
    import cv2

    small = cv2.resize(np.ascontiguousarray(img, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA)
    lap = cv2.Laplacian(small * 255.0, cv2.CV_32F, ksize=1)
    return float(lap.var())


def screen_quality(
    img: np.ndarray, max_saturation: float = 0.5, min_dynamic_range: float = 0.35, min_laplacian_var: float = 60.0,
) -> QualityResult:
    """Screen an ``[H, W]`` image in [0, 1] for exposure saturation, a washed-out grey range and motion blur.

    Defaults were set on SynthCXR (``bench/bench_data_pipeline.py``): usable films there have at most 42 % clipped
    pixels (air around the body is black), a range of at least 0.5 and a Laplacian variance of at least ~100.
    """
    dark, white = saturation_shares(img)
    lap = laplacian_variance(img)
    lo, hi = np.percentile(img, [1, 99])
    rng = float(hi - lo)
    reasons = []
    if max(dark, white) > max_saturation:
        end = "white (over-exposed film / burned out)" if white >= dark else "black (under-penetrated or clipped)"
        reasons.append(f"saturated: {100 * max(dark, white):.0f}% of pixels clipped at {end}")
    if rng < min_dynamic_range:
        reasons.append(f"washed out: grey values span only {rng:.2f} (1st-99th percentile) < {min_dynamic_range}")
    if lap < min_laplacian_var:
        reasons.append(f"blurred: variance of Laplacian {lap:.1f} < {min_laplacian_var}")
    return QualityResult(ok=not reasons, reason="; ".join(reasons) or "ok", saturation=max(dark, white),
                         laplacian_var=lap, dynamic_range=rng)
