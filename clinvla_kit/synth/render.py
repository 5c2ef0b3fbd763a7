"""Render one study: anatomy + findings -> exposure, noise, blur, rotation, burned-in markers, unusable images.

Randomness: anatomy from ``default_rng([seed, 3, subject_index])`` (the same patient in every study), everything
else from ``default_rng([seed, 2, study_index])``, so the output depends only on (seed, plan), never on which
worker renders it. Raw pixels are made a poor retrieval feature on purpose (per-study rotation, shift, scale,
exposure curve, smooth non-uniform field, noise, blur): a model has to find the local finding signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from clinvla_kit.synth.anatomy import (
    draw_frontal,
    draw_lateral,
    frontal_geometry,
    lateral_geometry,
    sample_anatomy,
)
from clinvla_kit.synth.lesions import draw_finding
from clinvla_kit.synth.plan import StudyPlan


@dataclass
class RenderedView:
    """One image with its per-finding masks (index into ``plan.findings``) and burned-in markers."""

    image: np.ndarray                                        # uint8 [S, S]
    masks: dict[int, np.ndarray] = field(default_factory=dict)  # finding index -> uint8 [S, S]
    markers: list[tuple[str, list[int]]] = field(default_factory=list)  # (text, [x, y, w, h])
    unusable: str = ""


def _smooth_field(rng: np.random.Generator, S: int, amp: float) -> np.ndarray:
    small = rng.standard_normal((4, 4)).astype(np.float32) * amp
    return cv2.resize(small, (S, S), interpolation=cv2.INTER_CUBIC)


def _markers(rng: np.random.Generator, img: np.ndarray, view: str, portable: bool) -> list[tuple[str, list[int]]]:
    """Burn 1-2 text markers into the corners (white, as on real radiographs)."""
    S = img.shape[0]
    choices = ["R" if rng.random() < 0.5 else "L", f"kV={int(rng.choice([90, 110, 120, 125]))}",
               f"ID {int(rng.integers(100000, 999999))}"]
    if portable:
        choices.append("PORTABLE")
    out = []
    corners = rng.permutation(4)[: int(rng.integers(1, 3))]
    texts = rng.permutation(len(choices))
    scale = S / 256 * 0.45
    for corner, ti in zip(corners, texts):
        text = choices[int(ti)]
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        m = int(0.03 * S) + 1
        x = m if corner in (0, 2) else S - m - w
        y = m + h if corner in (0, 1) else S - m - base
        cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, max(1, S // 256), cv2.LINE_AA)
        out.append((text, [x - 1, y - h - 1, w + 2, h + base + 2]))
    return out


def render_view(plan: StudyPlan, view: str, seed: int, S: int) -> RenderedView:
    """Render ``view`` ("frontal" | "lateral") of a planned study."""
    a = sample_anatomy(np.random.default_rng([seed, 3, plan.subject_index]))
    v = 0 if view == "frontal" else 1
    # Separate streams for pose/exposure, anatomy texture and findings: adding a finding changes only the finding.
    rng = np.random.default_rng([seed, 2, plan.index, v, 0])
    rng_tex = np.random.default_rng([seed, 2, plan.index, v, 1])
    rng_fx = np.random.default_rng([seed, 2, plan.index, v, 2])
    insp = float(np.random.default_rng([seed, 4, plan.index]).uniform(0.93, 1.05))  # shared by both views
    ang, sc = float(rng.uniform(-6, 6)), float(rng.uniform(0.9, 1.06))
    tx, ty = rng.uniform(-0.05, 0.05, size=2) * S
    blur = float(rng.uniform(0.3, 1.3)) * S / 256
    mu, gain, offset = float(rng.uniform(1.3, 2.2)), float(rng.uniform(0.8, 1.15)), float(rng.uniform(-0.1, 0.12))
    field_ = _smooth_field(rng, S, 0.05)
    gamma, noise_sd = float(rng.uniform(0.7, 1.4)), float(rng.uniform(0.01, 0.035))
    noise = rng.standard_normal((S, S), dtype=np.float32) * noise_sd
    with_markers = rng.random() < 0.35
    cardio = [f for f in plan.findings if f.kind == "cardiomegaly" and f.present]
    ctr = a.ctr + (0.1 + 0.15 * cardio[0].severity if cardio else 0.0)  # CTR > 0.5 = cardiomegaly
    portable = plan.view == "AP"
    if view == "frontal":
        g = frontal_geometry(a, S, insp, 1.1 if portable else 1.0, ctr)
        d, m = draw_frontal(a, g, rng_tex)
    else:
        g = lateral_geometry(a, S, insp, ctr)
        d, m = draw_lateral(a, g, rng_tex)
    masks: dict[int, np.ndarray] = {}
    for i, f in enumerate(plan.findings):
        if f.present:
            masks[i] = draw_finding(f, a, g, rng_fx, d, m)
    d += m
    # Pose: rotation, shift and scale of the patient on the detector (masks follow with nearest neighbour).
    M = cv2.getRotationMatrix2D((S / 2, S / 2), ang, sc)
    M[:, 2] += (tx, ty)
    d = cv2.warpAffine(d, M, (S, S), flags=cv2.INTER_LINEAR, borderValue=0.0)
    masks = {i: cv2.warpAffine(mk, M, (S, S), flags=cv2.INTER_NEAREST) for i, mk in masks.items()}
    # Exposure: attenuation -> brightness with a per-image curve and a smooth non-uniform field.
    d = cv2.GaussianBlur(d, (0, 0), blur)
    img = 1.0 - np.exp(-mu * np.clip(d, 0, None))
    img = np.clip(img * gain + offset + field_, 0, 1) ** gamma + noise
    unusable = plan.unusable if view == "frontal" else ""
    if unusable == "overexposed":
        img = img * 2.4 - 0.3 if rng.random() < 0.5 else img * 0.35 + 0.72
    elif unusable == "motion_blur":
        k = int(0.08 * S) | 1
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        ker = cv2.warpAffine(ker, cv2.getRotationMatrix2D((k / 2, k / 2), float(rng.uniform(0, 180)), 1.0), (k, k))
        img = cv2.filter2D(img, -1, ker / max(ker.sum(), 1e-6))
    out = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    markers = _markers(rng, out, view, portable) if with_markers else []
    return RenderedView(out, masks, markers, unusable)


def render_study(plan: StudyPlan, seed: int, S: int) -> dict[str, RenderedView]:
    """{"frontal": ..., "lateral": ...} (lateral only when the study has one)."""
    views = {"frontal": render_view(plan, "frontal", seed, S)}
    if plan.has_lateral:
        views["lateral"] = render_view(plan, "lateral", seed, S)
    return views
