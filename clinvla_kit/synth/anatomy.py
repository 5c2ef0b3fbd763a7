"""Patient anatomy as smooth density fields: the frontal (PA/AP) and lateral projections of one phantom.

Density is an X-ray attenuation proxy in [0, ~1.5] (air 0, soft tissue ~0.6, bone ~0.9); ``render.py`` turns it
into brightness. Per-patient parameters (``Anatomy``) are drawn once per subject so every study and both views of
a patient agree: the lateral heart depth follows the frontal heart width, and a finding's vertical level in the
lung (0 apex .. 1 base) is the same on both views (``ViewGeometry.level_to_y``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Anatomy:
    """Per-patient shape parameters (fractions of the image side)."""

    habitus: float       # body width scale
    lung_w: float        # one lung's width (frontal)
    lung_h: float        # apex-to-base height
    apex_y: float        # lung apex level
    ctr: float           # cardiothoracic ratio without cardiomegaly
    dome: float          # diaphragm dome height
    rib_gap: float       # posterior rib spacing
    depth: float         # AP depth scale (lateral)
    soft: float          # soft-tissue thickness (attenuation of the body outline)
    female: bool


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    return Anatomy(
        habitus=float(rng.uniform(0.85, 1.08)), lung_w=float(rng.uniform(0.23, 0.29)),
        lung_h=float(rng.uniform(0.52, 0.64)), apex_y=float(rng.uniform(0.1, 0.17)), ctr=float(rng.uniform(0.42, 0.49)),
        dome=float(rng.uniform(0.03, 0.07)), rib_gap=float(rng.uniform(0.052, 0.066)),
        depth=float(rng.uniform(0.85, 1.15)), soft=float(rng.uniform(0.45, 0.75)), female=bool(rng.random() < 0.5))


@dataclass
class ViewGeometry:
    """Pixel geometry of one rendered view (before the final rotation/shift, which ``render`` applies)."""

    view: str                     # "frontal" | "lateral"
    size: int
    cx: float                     # midline x (frontal) / lung centre x (lateral), px
    top: float                    # lung apex y, px
    base: float                   # lung base y (costophrenic level), px
    lungs: dict[str, np.ndarray]  # "right"/"left" (frontal) or "both" (lateral): polygon [N, 2] int32
    heart: tuple[float, float, float, float]  # centre x, centre y, half-width, half-height (px)
    lung_x: dict[str, tuple[float, float]]    # frontal: side -> (medial x, lateral x); lateral: "both" -> (ant, post)

    def level_to_y(self, level: float) -> float:
        """Lung level (0 apex .. 1 base) -> y in px; shared by both views so findings agree."""
        return self.top + level * (self.base - self.top)

    def lung_mask(self, side: str) -> np.ndarray:
        """uint8 [S, S] mask of one lung (frontal) or of the lung field (lateral; any side)."""
        m = np.zeros((self.size, self.size), np.uint8)
        polys = [self.lungs[s] for s in (["right", "left"] if side == "bilateral" else [side])] \
            if self.view == "frontal" else [self.lungs["both"]]
        cv2.fillPoly(m, polys, 1)
        return m


def _frontal_lung(cx: float, sign: int, a: Anatomy, S: int, apex: float, base: float, dome: float) -> np.ndarray:
    """Polygon of one lung; sign -1 = patient's right (image left)."""
    med = cx + sign * 0.045 * S
    lat = cx + sign * (0.045 + a.lung_w * a.habitus) * S
    t = np.linspace(0, 1, 24)
    # lateral wall: from the apex, bulging outwards, to the costophrenic angle
    wall_x = med + (lat - med) * np.sin(np.pi / 2 * np.minimum(1, 0.25 + t)) ** 0.6
    wall_y = apex + (base - apex) * t
    # base: dome from the costophrenic angle back to the medial side (highest in the middle)
    bx = lat + (med - lat) * t
    by = base - dome * np.sin(np.pi * (0.15 + 0.85 * t)) - 0.02 * S * t
    # medial border up to the apex, slightly curved
    mx = np.full_like(t, med) + sign * 0.01 * S * np.sin(np.pi * t)
    my = by[-1] + (apex + 0.02 * S - by[-1]) * t
    pts = np.concatenate([np.stack([wall_x, wall_y], 1), np.stack([bx, by], 1), np.stack([mx, my], 1)])
    return pts.astype(np.int32)


def frontal_geometry(a: Anatomy, S: int, inspiration: float, magnify: float, ctr: float) -> ViewGeometry:
    """Frontal layout: patient's right on the image left, as on a PA radiograph."""
    cx = 0.5 * S
    apex = a.apex_y * S
    base = (a.apex_y + a.lung_h * inspiration) * S
    dome = a.dome * S
    right = _frontal_lung(cx, -1, a, S, apex, base - 0.015 * S, dome)  # right dome sits higher (liver)
    left = _frontal_lung(cx, 1, a, S, apex, base, dome)
    half_thorax = (0.045 + a.lung_w * a.habitus) * S
    hw = ctr * half_thorax * magnify
    heart = (cx + 0.3 * hw, base - dome - 0.09 * S, hw, 0.12 * S)
    lung_x = {"right": (cx - 0.045 * S, cx - half_thorax), "left": (cx + 0.045 * S, cx + half_thorax)}
    return ViewGeometry("frontal", S, cx, apex, base, {"right": right, "left": left}, heart, lung_x)


def lateral_geometry(a: Anatomy, S: int, inspiration: float, ctr: float) -> ViewGeometry:
    """Lateral layout: anterior on the image left, spine on the right, posterior sulcus at the lower right."""
    apex = (a.apex_y + 0.02) * S
    base = (a.apex_y + a.lung_h * inspiration + 0.04) * S  # posterior sulcus is the lowest point of the lung
    ant, post = 0.5 * S - 0.27 * a.depth * S, 0.5 * S + 0.24 * a.depth * S
    t = np.linspace(0, 1, 32)
    # upper outline: apex dome from anterior to posterior
    ux = ant + (post - ant) * t
    uy = apex + (0.5 * (base - apex)) * (1 - np.sin(np.pi * np.clip(0.2 + 0.7 * t, 0, 1))) * 0.6 \
        + 0.35 * (base - apex) * (1 - t) ** 3
    # diaphragm from posterior sulcus to the anterior costophrenic angle, convex upwards
    dx = post + (ant - post) * t
    dy = base - 0.16 * (base - apex) * np.sin(np.pi * np.minimum(1, t * 1.1)) - 0.12 * (base - apex) * t
    pts = np.concatenate([np.stack([ux, uy], 1), np.stack([dx, dy], 1)]).astype(np.int32)
    hw = 0.105 * S * ctr / 0.43 * a.depth
    heart = (ant + 0.6 * hw + 0.02 * S, base - 0.2 * (base - apex) - 0.1 * S, hw, 0.14 * S)
    return ViewGeometry("lateral", S, 0.5 * (ant + post), apex, base, {"both": pts}, heart, {"both": (ant, post)})


def rib_polyline(a: Anatomy, g: ViewGeometry, sign: int, i: int) -> np.ndarray:
    """Posterior rib ``i`` (0 = first drawn) of one side on the frontal: [4, 2] float points, spine to wall."""
    S = g.size
    y0 = g.top + (0.01 + i * a.rib_gap) * S
    lat = g.lung_x["right" if sign < 0 else "left"][1]
    return np.array([[g.cx + sign * 0.035 * S, y0], [g.cx + sign * 0.12 * S, y0 - 0.02 * S],
                     [lat, y0 + 0.045 * S], [lat + sign * 0.02 * S, y0 + 0.09 * S]], np.float32)


def draw_frontal(a: Anatomy, g: ViewGeometry, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Base density [S, S] float32 and a lung-markings layer (kept apart so a pneumothorax can erase it)."""
    S = g.size
    d = np.zeros((S, S), np.float32)
    cx = g.cx
    bw = (0.06 + a.lung_w * a.habitus + 0.11) * S
    cv2.ellipse(d, (int(cx), int(0.66 * S)), (int(bw), int(0.62 * S)), 0, 0, 360, a.soft, -1)
    cv2.ellipse(d, (int(cx), int(0.04 * S)), (int(0.09 * S), int(0.2 * S)), 0, 0, 360, a.soft, -1)  # neck
    for s in (-1, 1):  # shoulders
        cv2.ellipse(d, (int(cx + s * 0.3 * S), int(0.12 * S)), (int(0.2 * S), int(0.09 * S)), s * 15, 0, 360,
                    a.soft * 0.9, -1)
    lungs = np.zeros((S, S), np.float32)
    cv2.fillPoly(lungs, [g.lungs["right"], g.lungs["left"]], 1.0)
    d -= 0.42 * cv2.GaussianBlur(lungs, (0, 0), 0.008 * S + 0.3)
    # spine first, then mediastinum and heart over it (the spine shows faintly through the heart: end-plates added)
    cv2.rectangle(d, (int(cx - 0.032 * S), 0), (int(cx + 0.032 * S), S), 0.8, -1)
    cv2.rectangle(d, (int(cx - 0.05 * S), int(g.top)), (int(cx + 0.055 * S), int(g.heart[1])), 0.78, -1)
    hx, hy, hw, hh = g.heart
    cv2.ellipse(d, (int(hx), int(hy)), (int(hw), int(hh)), -8, 0, 360, 0.84, -1)
    cv2.line(d, (int(cx), 0), (int(cx + 0.005 * S), int(g.top + 0.15 * S)), 0.35, max(2, int(0.03 * S)))
    plates = np.zeros((S, S), np.float32)
    for y in np.arange(0.02, 1.0, 0.047):
        cv2.line(plates, (int(cx - 0.032 * S), int(y * S)), (int(cx + 0.032 * S), int(y * S)), 0.1, max(1, S // 128))
    d += plates
    # clavicles and posterior ribs (bone adds density over everything)
    bone = np.zeros((S, S), np.float32)
    th = max(2, int(0.018 * S))
    for s in (-1, 1):
        cv2.line(bone, (int(cx + s * 0.03 * S), int(g.top + 0.05 * S)), (int(cx + s * 0.3 * S), int(g.top - 0.01 * S)),
                 0.45, th + 1)
        for i in range(10):
            cv2.polylines(bone, [rib_polyline(a, g, s, i).astype(np.int32)], False, 0.22, max(1, int(0.012 * S)))
    d += bone
    if a.female:  # breast shadows add soft tissue over the lower zones (drawn on a layer: cv2 sets, not adds)
        br = np.zeros((S, S), np.float32)
        for s in (-1, 1):
            cv2.ellipse(br, (int(cx + s * 0.2 * S), int(g.base - 0.04 * S)), (int(0.14 * S), int(0.09 * S)), 0, 0, 180,
                        0.12, -1)
        d += br
    d[int(g.base + 0.02 * S):] = np.maximum(d[int(g.base + 0.02 * S):], 0.0)
    return d, _markings(g, rng, lungs)


def _markings(g: ViewGeometry, rng: np.random.Generator, lungs: np.ndarray) -> np.ndarray:
    """Vessels fanning out from the hila, fading towards the periphery (clipped to the lungs)."""
    S = g.size
    m = np.zeros((S, S), np.float32)
    hila = [(g.cx - 0.09 * S, g.top + 0.38 * (g.base - g.top)), (g.cx + 0.09 * S, g.top + 0.4 * (g.base - g.top))] \
        if g.view == "frontal" else [(g.cx, g.top + 0.4 * (g.base - g.top))]
    for k, (hx, hy) in enumerate(hila):
        sign = -1 if (g.view == "frontal" and k == 0) else 1
        for ang in rng.uniform(-1.3, 1.3, size=9):
            length = rng.uniform(0.12, 0.26) * S
            if g.view == "frontal":
                ex = hx + sign * length * np.cos(ang)
            else:  # the lateral's single hilum sends vessels both forwards and backwards
                ex = hx + length * np.cos(ang + np.pi * int(rng.integers(0, 2)))
            ey = hy + length * np.sin(ang)
            cv2.line(m, (int(hx), int(hy)), (int(ex), int(ey)), 0.1, max(1, S // 110))
    return m * lungs


def draw_lateral(a: Anatomy, g: ViewGeometry, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lateral base density and markings layer."""
    S = g.size
    d = np.zeros((S, S), np.float32)
    ant, post = g.lung_x["both"]
    cv2.ellipse(d, (int(0.5 * (ant + post) + 0.02 * S), int(0.62 * S)), (int(0.39 * a.depth * S), int(0.62 * S)),
                0, 0, 360, a.soft * 1.25, -1)
    lungs = np.zeros((S, S), np.float32)
    cv2.fillPoly(lungs, [g.lungs["both"]], 1.0)
    d -= 0.5 * lungs
    hx, hy, hw, hh = g.heart
    cv2.ellipse(d, (int(hx), int(hy)), (int(hw), int(hh)), 20, 0, 360, 0.45, -1)
    # arms and shoulders over the apices
    cv2.ellipse(d, (int(0.5 * S), int(0.02 * S)), (int(0.3 * S), int(0.17 * S)), 0, 0, 360, 0.35, -1)
    # spine: vertebral bodies behind the lungs
    sx = post + 0.03 * S
    for y in np.arange(0.0, 1.0, 0.055):
        cv2.rectangle(d, (int(sx), int(y * S)), (int(sx + 0.07 * S), int((y + 0.045) * S)), 1.1, -1)
    cv2.line(d, (int(ant - 0.01 * S), int(g.top)), (int(ant - 0.02 * S), int(g.base - 0.1 * S)), 1.0, max(2, S // 60))
    cv2.line(d, (int(0.5 * (ant + post) - 0.02 * S), 0), (int(0.5 * (ant + post)), int(g.top + 0.25 * S)), -0.2,
             max(2, int(0.025 * S)))
    return d, _markings(g, rng, lungs)
