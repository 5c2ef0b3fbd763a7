"""The study plan: every subject, study, date, split, view and finding, decided before any pixel is drawn.

Planning is cheap and runs in the parent process from one generator per subject (seeded from (seed, subject)),
so the workers only render. Splits are by patient, about 70/10/20 (train/validate/test) for the archive; a
*benchmark cohort* of extra single-study, single-finding test patients is appended so the CheXpert 5x200 and
8x200 subsets reach their sizes (200 per class at ``--studies 2000``) without taking studies from training.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace

import numpy as np

from clinvla_kit.synth.findings import DEVICES, LOBE_SIDE, LOBES, PATHOLOGIES, Finding

SPLIT_SHARES: tuple[tuple[str, float], ...] = (("train", 0.7), ("validate", 0.1), ("test", 0.2))

BENCH_CLASSES_8: tuple[str, ...] = (
    "No Finding", "Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Fracture",
)
BENCH_CLASSES_5: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
CLASS_TO_KIND: dict[str, str | None] = {
    "No Finding": None, "Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Consolidation": "consolidation",
    "Edema": "edema", "Pleural Effusion": "pleural_effusion", "Pneumonia": "pneumonia",
    "Pneumothorax": "pneumothorax", "Fracture": "fracture",
}

# Relative frequency of each pathology in the archive (roughly MIMIC's order of prevalence).
_KIND_WEIGHTS = {
    "cardiomegaly": 0.13, "pleural_effusion": 0.15, "pneumothorax": 0.07, "consolidation": 0.09, "pneumonia": 0.12,
    "atelectasis": 0.13, "edema": 0.11, "nodule": 0.11, "fracture": 0.09,
}
_CHRONIC = {"cardiomegaly", "nodule", "fracture"}


@dataclass(frozen=True)
class StudyPlan:
    """Everything a worker needs to render one study (indices seed its random generators)."""

    index: int
    subject_index: int
    subject_id: int
    study_id: int
    order: int
    date: int
    time: float
    split: str
    view: str
    has_lateral: bool
    findings: tuple[Finding, ...]
    frontal_dicom: str
    lateral_dicom: str | None
    prior_study_id: int | None = None
    prior_frontal_dicom: str | None = None
    unusable: str = ""
    cohort: str = "archive"
    bench_class: str = ""

    @property
    def pathologies(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind != "support_devices" and f.present)


def per_class_target(studies: int) -> int:
    """Benchmark images per class: max(2, min(200, studies // 10)) -> 200 at --studies 2000."""
    return max(2, min(200, studies // 10))


def image_queries_per_class(target: int) -> int:
    """ConVIRT image queries per class: 10 at full size, at least 2."""
    return max(2, min(10, target // 20))


def _dicom_id(rng: np.random.Generator) -> str:
    parts = rng.integers(0, 2**32, size=5, dtype=np.uint64)
    return "-".join(f"{int(p):08x}" for p in parts)


def _unique_ids(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    ids: set[int] = set()
    out: list[int] = []
    while len(out) < n:
        for v in rng.integers(low, high, size=n - len(out) + 8):
            if int(v) not in ids and len(out) < n:
                ids.add(int(v))
                out.append(int(v))
    return np.sort(np.array(out, dtype=np.int64))


def random_finding(rng: np.random.Generator, kind: str, severity: float | None = None,
                   allow_hidden: bool = True) -> Finding:
    """One finding of ``kind`` with random severity, side, lobe and position."""
    sev = float(rng.uniform(0.2, 1.0)) if severity is None else severity
    side, lobe, pos, size_cm, hidden = "", "", (0.5, 0.5), 0.0, False
    if kind == "pleural_effusion":
        side = str(rng.choice(["left", "right", "bilateral"], p=[0.35, 0.35, 0.3]))
        if allow_hidden and rng.random() < 0.25:
            sev, hidden = float(rng.uniform(0.1, 0.25)), True
    elif kind in ("consolidation", "pneumonia"):
        lobe = str(rng.choice(LOBES, p=[0.16, 0.14, 0.24, 0.14, 0.1, 0.22]))
        side = LOBE_SIDE[lobe]
        hidden = allow_hidden and lobe == "LLL" and rng.random() < 0.4
    elif kind == "atelectasis":
        side = str(rng.choice(["left", "right", "bilateral"], p=[0.3, 0.3, 0.4]))
        lobe = "" if side == "bilateral" else ("LLL" if side == "left" else "RLL")
    elif kind == "pneumothorax":
        side = str(rng.choice(["left", "right"]))
    elif kind == "edema":
        side = "bilateral"
    elif kind == "nodule":
        lobe = str(rng.choice(LOBES))
        side = LOBE_SIDE[lobe]
        size_cm = round(float(rng.uniform(0.8, 2.9) if rng.random() < 0.7 else rng.uniform(3.0, 6.0)), 1)
        sev = min(1.0, size_cm / 6.0 + 0.2)
        pos = (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.15, 0.8)))
    elif kind == "fracture":
        side = str(rng.choice(["left", "right"]))
        pos = (float(rng.uniform(0.55, 0.95)), float(rng.integers(3, 9)))  # (lateral position, rib number)
    elif kind == "cardiomegaly":
        sev = float(rng.uniform(0.3, 1.0))
    return Finding(kind=kind, severity=round(sev, 3), side=side, lobe=lobe, pos=pos, size_cm=size_cm,
                   hidden_frontal=hidden)


def _devices(rng: np.random.Generator) -> Finding:
    k = int(rng.integers(1, 3))
    chosen = sorted(rng.choice(len(DEVICES), size=k, replace=False).tolist())
    return Finding(kind="support_devices", severity=1.0, device="+".join(DEVICES[i] for i in chosen))


def _first_findings(rng: np.random.Generator, portable: bool) -> list[Finding]:
    found: list[Finding] = []
    if rng.random() >= 0.3:
        k = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
        w = np.array([_KIND_WEIGHTS[p] for p in PATHOLOGIES])
        kinds = rng.choice(len(PATHOLOGIES), size=k, replace=False, p=w / w.sum())
        found = [random_finding(rng, PATHOLOGIES[int(i)]) for i in sorted(kinds.tolist())]
    if rng.random() < (0.45 if portable else 0.08):
        found.append(_devices(rng))
    return found


def _evolve(rng: np.random.Generator, prev: tuple[Finding, ...], portable: bool) -> list[Finding]:
    """Next study's findings: each earlier finding gets a change; sometimes a new one appears."""
    out: list[Finding] = []
    for f in prev:
        if not f.present:
            continue
        if f.kind == "support_devices":
            if rng.random() < 0.6:
                out.append(replace(f, change="stable"))
            continue
        p = [0.05, 0.85, 0.05, 0.05] if f.kind in _CHRONIC else [0.25, 0.25, 0.3, 0.2]
        change = str(rng.choice(["worse", "stable", "improved", "resolved"], p=p))
        sev = {"worse": min(1.0, f.severity + 0.3), "stable": f.severity,
               "improved": max(0.15, f.severity - 0.35), "resolved": 0.0}[change]
        hidden = f.hidden_frontal and change in ("stable", "improved")
        out.append(replace(f, severity=round(sev, 3), change=change, hedged=False, hidden_frontal=hidden))
    have = {f.kind for f in out if f.present}
    if rng.random() < 0.35:
        kind = str(rng.choice([k for k in PATHOLOGIES if k not in have]))
        out.append(replace(random_finding(rng, kind), change="new"))
    if portable and "support_devices" not in have and rng.random() < 0.3:
        out.append(replace(_devices(rng), change="new"))
    return out


def _hedge(rng: np.random.Generator, found: list[Finding]) -> list[Finding]:
    return [replace(f, hedged=True) if f.kind != "support_devices" and f.present and rng.random() < 0.12 else f
            for f in found]


def _date(rng: np.random.Generator, start: _dt.date, days: int) -> tuple[_dt.date, int, float]:
    d = start + _dt.timedelta(days=days)
    t = float(rng.integers(0, 24)) * 10000 + float(rng.integers(0, 60)) * 100 + float(rng.integers(0, 60))
    t = round(t + float(rng.integers(0, 1000)) / 1000.0, 3)
    return d, int(d.strftime("%Y%m%d")), t


def _split(u: float) -> str:
    acc = 0.0
    for name, share in SPLIT_SHARES:
        acc += share
        if u < acc:
            return name
    return SPLIT_SHARES[-1][0]


def is_bench_eligible(s: StudyPlan) -> str:
    """The 8x200/5x200 class of a usable test study with exactly one clear, frontal-visible finding, else ""."""
    if s.split != "test" or s.unusable or any(f.hedged for f in s.findings):
        return ""
    path = s.pathologies
    if not path:
        return "No Finding"
    if len(path) != 1 or path[0].hidden_frontal or path[0].kind == "nodule":
        return ""
    return {v: k for k, v in CLASS_TO_KIND.items() if v}[path[0].kind]


def make_plan(studies: int, seed: int) -> list[StudyPlan]:
    """All studies: ``studies`` archive studies, then the benchmark cohort (see module docstring)."""
    if studies < 1:
        raise ValueError(f"--studies must be >= 1, got {studies}")
    root = np.random.default_rng([seed, 0])
    # Subjects: 1-3 studies each (about 45% of patients have a prior), until `studies` are planned.
    counts: list[int] = []
    while sum(counts) < studies:
        counts.append(min(int(root.choice([1, 2, 3], p=[0.55, 0.3, 0.15])), studies - sum(counts)))
    target = per_class_target(studies)
    n_bench = 9 * target + 8 * image_queries_per_class(target)
    subject_ids = _unique_ids(root, len(counts) + n_bench, 10_000_000, 20_000_000)
    subject_ids = root.permutation(subject_ids)
    study_ids = _unique_ids(root, studies + n_bench, 50_000_000, 60_000_000)
    study_ids = root.permutation(study_ids)
    plans: list[StudyPlan] = []
    for si, n in enumerate(counts):
        plans.extend(_subject(seed, si, int(subject_ids[si]), [int(v) for v in study_ids[len(plans):len(plans) + n]],
                              len(plans)))
    # Benchmark cohort: top each class up to `target` (+ image queries for the 8 classes).
    have: dict[str, int] = {}
    for s in plans:
        c = is_bench_eligible(s)
        if c:
            have[c] = have.get(c, 0) + 1
    q = image_queries_per_class(target)
    need = {c: target + (q if c in BENCH_CLASSES_8 else 0) for c in BENCH_CLASSES_8 + ("Consolidation",)}
    si = len(counts)
    for c, n in need.items():
        for _ in range(max(0, n - have.get(c, 0))):
            plans.append(_bench_study(seed, si, int(subject_ids[si]), int(study_ids[len(plans)]), len(plans), c))
            si += 1
    return plans


def _subject(seed: int, si: int, subject_id: int, study_ids: list[int], first_index: int) -> list[StudyPlan]:
    rng = np.random.default_rng([seed, 1, si])
    split = _split(float(rng.random()))
    start = _dt.date(2110, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 365 * 80)))
    out: list[StudyPlan] = []
    prev: tuple[Finding, ...] = ()
    days = 0
    for order, study_id in enumerate(study_ids):
        portable = rng.random() < 0.3
        found = _first_findings(rng, portable) if order == 0 else _evolve(rng, prev, portable)
        found = _hedge(rng, found)
        _, date, time = _date(rng, start, days)
        days += int(rng.integers(1, 400))
        has_lateral = (not portable) and rng.random() < 0.85
        unusable = str(rng.choice(["overexposed", "motion_blur"])) if rng.random() < 0.03 else ""
        p = out[-1] if out else None
        out.append(StudyPlan(
            index=first_index + order, subject_index=si, subject_id=subject_id, study_id=study_id, order=order,
            date=date, time=time, split=split, view="AP" if portable else "PA", has_lateral=has_lateral,
            findings=tuple(found), frontal_dicom=_dicom_id(rng), lateral_dicom=_dicom_id(rng) if has_lateral else None,
            prior_study_id=p.study_id if p else None, prior_frontal_dicom=p.frontal_dicom if p else None,
            unusable=unusable))
        prev = tuple(found)
    return out


def _bench_study(seed: int, si: int, subject_id: int, study_id: int, index: int, cls: str) -> StudyPlan:
    rng = np.random.default_rng([seed, 1, si])
    kind = CLASS_TO_KIND[cls]
    found = [] if kind is None else [random_finding(rng, kind, allow_hidden=False)]
    portable = rng.random() < 0.25
    if rng.random() < (0.4 if portable else 0.05):
        found.append(_devices(rng))
    start = _dt.date(2110, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 365 * 80)))
    _, date, time = _date(rng, start, 0)
    has_lateral = (not portable) and rng.random() < 0.85
    return StudyPlan(
        index=index, subject_index=si, subject_id=subject_id, study_id=study_id, order=0, date=date, time=time,
        split="test", view="AP" if portable else "PA", has_lateral=has_lateral, findings=tuple(found),
        frontal_dicom=_dicom_id(rng), lateral_dicom=_dicom_id(rng) if has_lateral else None,
        cohort="benchmark", bench_class=cls)
