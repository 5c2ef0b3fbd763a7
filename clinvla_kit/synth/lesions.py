"""Drawing each finding on a view's density: a frontal and a lateral appearance plus a pixel mask per view.

Every function takes the view geometry, the finding, a generator, the density ``d`` and markings layer ``m``
(both float32 [S, S], edited in place) and returns the finding's uint8 mask [S, S] (all zeros where the finding
is not drawn in that view). Opacities add density; a pneumothorax removes lung markings and darkens. The lateral
location is derived from the same (lobe, level) as the frontal one, so both views point at one lesion.
"""

from __future__ import annotations

import cv2
import numpy as np

from clinvla_kit.synth.anatomy import Anatomy, ViewGeometry, rib_polyline
from clinvla_kit.synth.findings import Finding

# lobe -> (level range, frontal medial->lateral fraction range, lateral anterior->posterior fraction range)
_LOBE_ZONE = {
    "RUL": ((0.08, 0.42), (0.25, 0.85), (0.3, 0.7)), "LUL": ((0.08, 0.42), (0.25, 0.85), (0.3, 0.7)),
    "RML": ((0.55, 0.85), (0.08, 0.5), (0.05, 0.4)), "lingula": ((0.55, 0.85), (0.4, 0.8), (0.05, 0.4)),
    "RLL": ((0.6, 0.95), (0.2, 0.85), (0.58, 0.97)), "LLL": ((0.6, 0.95), (0.35, 0.85), (0.58, 0.97)),
}


def _blob(S: int, cx: float, cy: float, rx: float, ry: float, ang: float, soft: float) -> np.ndarray:
    b = np.zeros((S, S), np.float32)
    cv2.ellipse(b, (int(cx), int(cy)), (max(1, int(rx)), max(1, int(ry))), ang, 0, 360, 1.0, -1)
    k = max(1, int(soft)) * 2 + 1
    return cv2.GaussianBlur(b, (k, k), soft / 2 + 0.1)


def zone_centre(g: ViewGeometry, lobe: str, rng: np.random.Generator, side: str) -> tuple[float, float, float, float]:
    """Centre (x, y) and radii (px) of a lobar region in this view."""
    (l0, l1), (u0, u1), (a0, a1) = _LOBE_ZONE[lobe]
    y = g.level_to_y(0.5 * (l0 + l1))
    ry = 0.5 * (l1 - l0) * (g.base - g.top)
    if g.view == "frontal":
        med, lat = g.lung_x[side]
        x0, x1 = med + u0 * (lat - med), med + u1 * (lat - med)
    else:
        ant, post = g.lung_x["both"]
        x0, x1 = ant + a0 * (post - ant), ant + a1 * (post - ant)
    return 0.5 * (x0 + x1), y, 0.5 * abs(x1 - x0), ry


def _clip(mask_f: np.ndarray, lung: np.ndarray) -> np.ndarray:
    return mask_f * lung


def _opacity(f: Finding, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Consolidation (dense, homogeneous, air bronchograms) or pneumonia (patchy, multifocal)."""
    S = g.size
    side = f.side if g.view == "frontal" else "both"
    lung = g.lung_mask(f.side).astype(np.float32)
    x, y, rx, ry = zone_centre(g, f.lobe, rng, side)
    scale = 0.55 + 0.45 * f.severity
    if f.kind == "consolidation":
        field = _blob(S, x, y, rx * scale, ry * scale, float(rng.uniform(-20, 20)), 0.04 * S)
        alpha = 0.3 + 0.25 * f.severity
        for _ in range(3):  # air bronchograms: thin dark branches inside the opacity
            a = rng.uniform(0, 2 * np.pi)
            cv2.line(field, (int(x), int(y)), (int(x + 0.7 * rx * np.cos(a)), int(y + 0.7 * ry * np.sin(a))),
                     0.35, max(1, S // 160))
    else:
        # Patchy, multifocal and as large as a lobe: RSNA pneumonia boxes cover a median ~6 % of the image each,
        # so the patches fill the zone (a faint confluent haze under overlapping nodular patches) rather than
        # dotting it; the texture (patches, no air bronchograms) is what sets it apart from consolidation.
        scale = 0.8 + 0.4 * f.severity
        field = 0.5 * _blob(S, x, y, rx * scale, ry * scale, float(rng.uniform(-20, 20)), 0.06 * S)
        for _ in range(int(rng.integers(10, 16))):
            bx, by = x + rng.uniform(-1, 1) * rx * scale, y + rng.uniform(-1, 1) * ry * scale
            r = rng.uniform(0.3, 0.55) * min(rx, ry)
            field = np.maximum(field, _blob(S, bx, by, r, r * rng.uniform(0.7, 1.3), 0, 0.03 * S)
                               * rng.uniform(0.6, 1.0))
        alpha = 0.45 + 0.3 * f.severity
    field = _clip(field, lung)
    if g.view == "frontal" and f.hidden_frontal:
        alpha *= 0.12  # retrocardiac: behind the heart shadow on the frontal, seen over the spine on the lateral
    d += alpha * field
    m *= 1 - 0.6 * np.minimum(field, 1)
    return (field > 0.3).astype(np.uint8)


def _effusion(f: Finding, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    """Dependent fluid: frontal meniscus blunting the costophrenic angle; lateral posterior sulcus filling."""
    S = g.size
    out = np.zeros((S, S), np.uint8)
    if g.view == "frontal":
        if f.hidden_frontal:
            return out  # small effusions collect in the posterior sulcus first: lateral only
        for side in (["right", "left"] if f.side == "bilateral" else [f.side]):
            med, lat = g.lung_x[side]
            h = (0.12 + 0.45 * f.severity) * (g.base - g.top)
            xs = np.linspace(med, lat, 20)
            t = (xs - med) / (lat - med)
            ys = g.base - h * (0.55 + 0.45 * t ** 2)  # meniscus: higher at the lateral wall
            poly = np.concatenate([np.stack([xs, ys], 1), [[lat + np.sign(lat - med) * 0.03 * S, S], [med, S]]])
            r = np.zeros((S, S), np.float32)
            cv2.fillPoly(r, [poly.astype(np.int32)], 1.0)
            r = cv2.GaussianBlur(r, (0, 0), 0.012 * S + 0.5) * g.lung_mask(side)
            d += 0.55 * r
            out |= (r > 0.3).astype(np.uint8)
        return out
    ant, post = g.lung_x["both"]
    h = (0.06 + 0.5 * f.severity) * (g.base - g.top)
    xs = np.linspace(ant, post, 24)
    t = (xs - ant) / (post - ant)
    ys = g.base - h * (0.1 + 0.9 * t ** (3.0 - 2.0 * f.severity))  # fluid rises from the posterior sulcus
    poly = np.concatenate([np.stack([xs, ys], 1), [[post + 0.03 * S, S], [ant, S]]])
    r = np.zeros((S, S), np.float32)
    cv2.fillPoly(r, [poly.astype(np.int32)], 1.0)
    r = cv2.GaussianBlur(r, (0, 0), 0.01 * S + 0.5) * g.lung_mask("both")
    d += 0.5 * r
    return (r > 0.3).astype(np.uint8)


def _pneumothorax(f: Finding, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apical air outside a visible visceral pleural line, with no lung markings beyond it."""
    S = g.size
    lung = g.lung_mask(f.side if g.view == "frontal" else "both")
    w = int((0.025 + 0.09 * f.severity) * S) | 1
    inner = cv2.erode(lung, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * w + 1, 2 * w + 1)))
    region = (lung - inner).astype(np.float32)
    limit = int(g.level_to_y(0.3 + 0.55 * f.severity))
    region[limit:] = 0
    d -= 0.12 * region
    m *= 1 - region
    edge = cv2.morphologyEx(inner, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
    d += 0.18 * edge * cv2.dilate(region, np.ones((3, 3), np.uint8))
    return (region > 0).astype(np.uint8)


def _atelectasis(f: Finding, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    """Plate-like band(s) at the base; severe ones add a wedge of volume loss."""
    S = g.size
    out = np.zeros((S, S), np.float32)
    sides = (["right", "left"] if f.side == "bilateral" else [f.side]) if g.view == "frontal" else ["both"]
    for side in sides:
        a0, a1 = g.lung_x[side]
        lvl = float(rng.uniform(0.72, 0.88))
        y = g.level_to_y(lvl)
        x = a0 + (0.35 if g.view == "frontal" else 0.6) * (a1 - a0)
        band = _blob(S, x, y, 0.3 * abs(a1 - a0), (0.012 + 0.02 * f.severity) * S, float(rng.uniform(-12, 12)),
                     0.01 * S)
        if f.severity > 0.6:
            band = np.maximum(band, _blob(S, x, g.level_to_y(0.9), 0.22 * abs(a1 - a0), 0.07 * S, 0, 0.02 * S))
        out = np.maximum(out, band * g.lung_mask(f.side if g.view == "frontal" else "both"))
    d += (0.3 + 0.15 * f.severity) * out
    return (out > 0.3).astype(np.uint8)


def _edema(f: Finding, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Perihilar bat-wing haze, indistinct vessels, Kerley B lines at the lateral bases."""
    S = g.size
    lung = g.lung_mask("bilateral" if g.view == "frontal" else "both").astype(np.float32)
    field = np.zeros((S, S), np.float32)
    for side in (["right", "left"] if g.view == "frontal" else ["both"]):
        a0, a1 = g.lung_x[side]
        x = a0 + 0.3 * (a1 - a0) if g.view == "frontal" else 0.5 * (a0 + a1)
        field = np.maximum(field, _blob(S, x, g.level_to_y(0.45), 0.35 * abs(a1 - a0) * (0.7 + 0.5 * f.severity),
                                        0.3 * (g.base - g.top), 0, 0.06 * S))
        if g.view == "frontal":
            for k in range(int(2 + 4 * f.severity)):
                y = int(g.level_to_y(0.8 + 0.03 * k))
                xl = int(a1 - np.sign(a1 - a0) * 0.01 * S)
                cv2.line(d, (xl, y), (int(xl - np.sign(a1 - a0) * 0.035 * S), y), 0.15, 1)
    field *= lung
    d += (0.25 + 0.3 * f.severity) * field
    m[:] = cv2.GaussianBlur(m, (0, 0), 1.0 + 2 * f.severity)
    return (field > 0.35).astype(np.uint8)


def _nodule(f: Finding, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    S = g.size
    u, v = f.pos
    px_per_cm = (g.lung_x["right"][0] - g.lung_x["right"][1]) / 13.0 if g.view == "frontal" else \
        (g.lung_x["both"][1] - g.lung_x["both"][0]) / 24.0
    r = max(1.5, 0.5 * f.size_cm * abs(px_per_cm))
    y = g.level_to_y(v)
    if g.view == "frontal":
        med, lat = g.lung_x[f.side]
        x = med + u * (lat - med)
    else:
        x, _, rx, _ = zone_centre(g, f.lobe, rng, "both")
        x += (u - 0.5) * rx
    field = np.zeros((S, S), np.float32)
    for _ in range(1 if f.size_cm < 3 else 4):  # masses are lobulated
        field = np.maximum(field, _blob(S, x + rng.uniform(-0.3, 0.3) * r * (f.size_cm >= 3),
                                        y + rng.uniform(-0.3, 0.3) * r * (f.size_cm >= 3), r, r, 0, max(1.0, 0.3 * r)))
    d += 0.4 * field
    return (field > 0.3).astype(np.uint8)


def _fracture(f: Finding, a: Anatomy, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    """A cortical break with a step-off and callus on one posterior rib (ribs overlap on the lateral: frontal only)."""
    S = g.size
    out = np.zeros((S, S), np.uint8)
    if g.view != "frontal":
        return out
    pts = rib_polyline(a, g, -1 if f.side == "right" else 1, int(f.pos[1]))
    p = pts[1] + (pts[2] - pts[1]) * f.pos[0]  # on the lateral arc of the rib
    x, y = float(p[0]), float(p[1])
    th = max(1, int(0.012 * S))
    cv2.line(d, (int(x - 0.004 * S), int(y - 0.02 * S)), (int(x + 0.004 * S), int(y + 0.02 * S)), -0.25, th)
    cv2.ellipse(d, (int(x), int(y + 0.006 * S * f.severity)), (int(0.015 * S) + 1, th + 1), 20, 0, 360,
                0.12 + 0.15 * f.severity, -1)
    cv2.circle(out, (int(x), int(y)), int(0.03 * S) + 1, 1, -1)
    return out


def _devices(f: Finding, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    """Radiopaque tubes and lines (bright thin curves) and a pacemaker generator with its lead."""
    S = g.size
    out = np.zeros((S, S), np.uint8)
    th = max(1, S // 128)
    hx, hy, _, hh = g.heart
    lines: list[np.ndarray] = []
    for dev in f.device.split("+"):
        if g.view == "frontal":
            c = g.cx
            if dev == "ett":
                lines.append(np.array([[c, 0], [c + 0.004 * S, g.top + 0.1 * S]]))
            elif dev == "ngt":
                lines.append(np.array([[c + 0.01 * S, 0], [c + 0.02 * S, g.base], [c + 0.12 * S, g.base + 0.08 * S]]))
            elif dev == "central_line":
                lines.append(np.array([[c - 0.3 * S, g.top], [c - 0.1 * S, g.top + 0.02 * S],
                                       [c - 0.03 * S, g.level_to_y(0.35)]]))
            elif dev == "pacemaker":
                gx, gy = c + 0.25 * S, g.top + 0.04 * S
                cv2.rectangle(d, (int(gx - 0.04 * S), int(gy - 0.025 * S)), (int(gx + 0.04 * S), int(gy + 0.025 * S)),
                              1.6, -1)
                cv2.rectangle(out, (int(gx - 0.04 * S), int(gy - 0.025 * S)), (int(gx + 0.04 * S), int(gy + 0.025 * S)),
                              1, -1)
                lines.append(np.array([[gx, gy], [c, g.top + 0.1 * S], [hx, hy + 0.5 * hh]]))
        else:
            ant, post = g.lung_x["both"]
            mid = 0.5 * (ant + post)
            if dev == "ett":
                lines.append(np.array([[mid - 0.03 * S, 0], [mid - 0.01 * S, g.top + 0.1 * S]]))
            elif dev == "ngt":
                lines.append(np.array([[mid, 0], [mid + 0.08 * S, g.base - 0.1 * S], [mid - 0.05 * S, g.base + 0.05 * S]]))
            elif dev == "central_line":
                lines.append(np.array([[mid - 0.1 * S, g.top - 0.05 * S], [mid - 0.05 * S, g.level_to_y(0.35)]]))
            elif dev == "pacemaker":
                gx, gy = ant + 0.02 * S, g.top + 0.02 * S
                cv2.rectangle(d, (int(gx - 0.015 * S), int(gy - 0.03 * S)), (int(gx + 0.015 * S), int(gy + 0.03 * S)),
                              1.6, -1)
                cv2.rectangle(out, (int(gx - 0.015 * S), int(gy - 0.03 * S)), (int(gx + 0.015 * S), int(gy + 0.03 * S)),
                              1, -1)
                lines.append(np.array([[gx, gy], [mid, g.top + 0.12 * S], [hx, hy + 0.6 * hh]]))
    for ln in lines:
        pts = ln.astype(np.int32)
        cv2.polylines(d, [pts], False, 0.9, th + 1)
        cv2.polylines(out, [pts], False, 1, th + 3)
    return out


def draw_finding(f: Finding, a: Anatomy, g: ViewGeometry, rng: np.random.Generator, d: np.ndarray,
                 m: np.ndarray) -> np.ndarray:
    """Draw one present finding on one view; returns its uint8 mask [S, S] (zeros where not drawn)."""
    if f.kind == "cardiomegaly":  # the enlarged heart is drawn by the anatomy itself (ctr passed to geometry)
        hx, hy, hw, hh = g.heart
        out = np.zeros((g.size, g.size), np.uint8)
        cv2.ellipse(out, (int(hx), int(hy)), (int(hw), int(hh)), -8 if g.view == "frontal" else 20, 0, 360, 1, -1)
        return out
    if f.kind in ("consolidation", "pneumonia"):
        return _opacity(f, g, rng, d, m)
    if f.kind == "pleural_effusion":
        return _effusion(f, g, rng, d)
    if f.kind == "pneumothorax":
        return _pneumothorax(f, g, rng, d, m)
    if f.kind == "atelectasis":
        return _atelectasis(f, g, rng, d)
    if f.kind == "edema":
        return _edema(f, g, rng, d, m)
    if f.kind == "nodule":
        return _nodule(f, g, rng, d)
    if f.kind == "fracture":
        return _fracture(f, a, g, rng, d)
    return _devices(f, g, rng, d)
