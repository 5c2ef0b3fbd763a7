"""Benchmark subsets in the released formats, drawn only from test-split patients.

- ``chexpert_5x200.csv`` (GLoRIA): Path, Sex, Age, Frontal/Lateral, AP/PA, the 14 CheXpert columns, Report
  Impression; each row positive for exactly one of the five classes. Labels are the full ground truth (1.0 / 0.0).
- ``chexpert_8x200/image-retrieval/{query,candidate}.csv`` and ``text-retrieval/query.csv`` (ConVIRT): Path (or
  Text) + one-hot columns of the 8 classes; image queries and candidates are disjoint.
- ``rsna/``: stage_2_train_labels.csv (patientId, x, y, width, height, Target), DICOMs written with pydicom, and
  test_list.txt.
- ``temporal.csv`` (MS-CXR-T temporal image classification columns; see the data card).
Per class: ``plan.per_class_target(studies)`` images (200 at --studies 2000); frontal images only.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.synth import writer as W
from clinvla_kit.synth.dicom import write_dicom
from clinvla_kit.synth.plan import (
    BENCH_CLASSES_5,
    BENCH_CLASSES_8,
    StudyPlan,
    image_queries_per_class,
    is_bench_eligible,
    per_class_target,
)
from clinvla_kit.synth.reports import text_query
from clinvla_kit.synth.rle import rle_decode

CHEXPERT_CSV_ORDER: tuple[str, ...] = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    "Support Devices",
)
TEMPORAL_FINDINGS: tuple[str, ...] = ("consolidation", "edema", "pleural_effusion", "pneumonia", "pneumothorax")
TEMPORAL_COLUMNS: tuple[str, ...] = ("dicom_id", "study_id", "subject_id", "previous_dicom_id", "previous_study_id") \
    + tuple(f"{k}_progression" for k in TEMPORAL_FINDINGS)
_PROGRESSION = {"new": "worsening", "worse": "worsening", "stable": "stable", "improved": "improving",
                "resolved": "improving"}


def _full_labels(p: StudyPlan) -> dict[str, str]:
    """Radiologist-style complete labels for a benchmark row: 1.0 present, 0.0 absent."""
    present = {f.kind for f in p.findings if f.present}
    from clinvla_kit.synth.findings import KIND_TO_CHEXPERT, OPACITY_KINDS
    names = {KIND_TO_CHEXPERT[k] for k in present}
    if present & OPACITY_KINDS:
        names.add("Lung Opacity")
    if not (present - {"support_devices"}):
        names.add("No Finding")
    return {c: ("1.0" if c in names else "0.0") for c in CHEXPERT_LABELS}


def write_benchmarks(out: Path, plans: list[StudyPlan], results: list[dict], seed: int, studies: int) -> dict:
    bdir = out / "benchmarks"
    bdir.mkdir(parents=True, exist_ok=True)
    by_index = {r["index"]: r for r in results}
    target = per_class_target(studies)
    q = image_queries_per_class(target)
    pools: dict[str, list[StudyPlan]] = {}
    for p in plans:
        c = is_bench_eligible(p)
        if c:
            pools.setdefault(c, []).append(p)
    path = {p.index: W.image_relpath(p.subject_id, p.study_id, p.frontal_dicom) for p in plans}
    sizes: dict[str, object] = {}
    # ConVIRT 8x200: the first q of each class are image queries, the next `target` candidates.
    queries, cands = [], []
    for c in BENCH_CLASSES_8:
        pool = pools.get(c, [])
        for k, p in enumerate(pool[: q + target]):
            row = {"Path": path[p.index], **{cc: int(cc == c) for cc in BENCH_CLASSES_8}}
            (queries if k < q else cands).append(row)
    ir = bdir / "chexpert_8x200" / "image-retrieval"
    W.write_csv(ir / "query.csv", ("Path",) + BENCH_CLASSES_8, queries)
    W.write_csv(ir / "candidate.csv", ("Path",) + BENCH_CLASSES_8, cands)
    rng = np.random.default_rng([seed, 8])
    texts = [{"Text": text_query(CLASS_KIND(c), rng), **{cc: int(cc == c) for cc in BENCH_CLASSES_8}}
             for c in BENCH_CLASSES_8 for _ in range(5)]
    W.write_csv(bdir / "chexpert_8x200" / "text-retrieval" / "query.csv", ("Text",) + BENCH_CLASSES_8, texts)
    sizes["chexpert_8x200"] = {"image_queries": len(queries), "candidates": len(cands), "text_queries": len(texts)}
    # GLoRIA 5x200 (reuses the 8x200 candidates for the four shared classes).
    rows = []
    for c in BENCH_CLASSES_5:
        pool = pools.get(c, [])
        chosen = pool[q: q + target] if c in BENCH_CLASSES_8 else pool[:target]
        for p in chosen:
            rows.append({"Path": path[p.index], "Sex": "Female" if p.subject_id % 2 else "Male",
                         "Age": 40 + p.subject_id % 50, "Frontal/Lateral": "Frontal", "AP/PA": p.view,
                         **_full_labels(p), "Report Impression": by_index[p.index]["impression"]})
    cols = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA") + CHEXPERT_CSV_ORDER + ("Report Impression",)
    W.write_csv(bdir / "chexpert_5x200.csv", cols, rows)
    sizes["chexpert_5x200"] = len(rows)
    sizes["rsna"] = _rsna(out, bdir / "rsna", plans, by_index, seed, min(100, target))
    sizes["temporal"] = _temporal(bdir / "temporal.csv", plans)
    (bdir / "README.md").write_text(_README, encoding="utf-8")
    return sizes


def CLASS_KIND(c: str) -> str | None:
    from clinvla_kit.synth.plan import CLASS_TO_KIND
    return CLASS_TO_KIND[c]


def rsna_cohort(plans: list[StudyPlan], n: int) -> tuple[list[StudyPlan], list[StudyPlan]]:
    """(positives, negatives) of the RSNA-format set: up to n of each, test patients, in plan order.

    As in RSNA, whose labels are read on the frontal image and whose Target 1 is "Lung Opacity": a positive shows
    its pneumonia on the frontal (no retrocardiac one hidden there), and a negative has no airspace opacity at all
    (no pneumonia and no consolidation; RSNA's negatives are "Normal" or "No Lung Opacity / Not Normal", so other
    findings such as effusion, edema or atelectasis stay). Studies with a consolidation but no pneumonia are left out
    rather than called negative: in RSNA that image would be a lung opacity, Target 1.
    """
    def has(p: StudyPlan, kind: str) -> bool:
        return any(f.kind == kind and f.present for f in p.findings)

    test = [p for p in plans if p.split == "test" and not p.unusable and not any(f.hidden_frontal for f in p.findings
                                                                                if f.kind == "pneumonia")]
    pos = [p for p in test if has(p, "pneumonia")][:n]
    neg = [p for p in test if not has(p, "pneumonia") and not has(p, "consolidation")][:n]
    return pos, neg


def _rsna(out: Path, rdir: Path, plans: list[StudyPlan], by_index: dict, seed: int, n: int) -> dict:
    """Write the RSNA-format pneumonia set of ``rsna_cohort``: DICOMs, boxes from the pneumonia mask, test list."""
    pos, neg = rsna_cohort(plans, n)
    rng = np.random.default_rng([seed, 6])
    rows, ids = [], []
    img_dir = rdir / "stage_2_train_images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for k, p in enumerate(sorted(pos + neg, key=lambda s: s.index)):
        h = "".join(f"{int(v):08x}" for v in rng.integers(0, 2**32, size=4, dtype=np.uint64))
        pid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"  # RSNA ids are UUIDs
        jpg = cv2.imread(str(out / W.image_relpath(p.subject_id, p.study_id, p.frontal_dicom)), cv2.IMREAD_GRAYSCALE)
        write_dicom(img_dir / f"{pid}.dcm", jpg, pid, variant=k % 4, uid_seed=(seed, p.index))
        ids.append(pid)
        boxes = []
        for a in by_index[p.index]["ann"]:
            if a["finding"] == "pneumonia" and a["view"] in ("PA", "AP") and a["mask"] is not None:
                m = rle_decode(a["mask"])
                n_cc, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
                boxes += [stats[i, :4].tolist() for i in range(1, n_cc) if stats[i, 4] >= 4]
        if boxes:
            rows += [{"patientId": pid, "x": float(b[0]), "y": float(b[1]), "width": float(b[2]),
                      "height": float(b[3]), "Target": 1} for b in boxes]
        else:
            rows.append({"patientId": pid, "Target": 0})
    W.write_csv(rdir / "stage_2_train_labels.csv", ("patientId", "x", "y", "width", "height", "Target"), rows)
    (rdir / "test_list.txt").write_text("".join(i + "\n" for i in ids), encoding="utf-8")
    return {"images": len(ids), "positive": len(pos), "negative": len(neg)}


def _temporal(path: Path, plans: list[StudyPlan]) -> int:
    rows = []
    for p in plans:
        if p.split != "test" or p.prior_study_id is None:
            continue
        row = {"dicom_id": p.frontal_dicom, "study_id": p.study_id, "subject_id": p.subject_id,
               "previous_dicom_id": p.prior_frontal_dicom, "previous_study_id": p.prior_study_id}
        for f in p.findings:
            if f.kind in TEMPORAL_FINDINGS and f.change in _PROGRESSION:
                row[f"{f.kind}_progression"] = _PROGRESSION[f.change]
        if len(row) > 5:
            rows.append(row)
    W.write_csv(path, TEMPORAL_COLUMNS, rows)
    return len(rows)


_README = """# SynthCXR benchmark subsets (test-split patients only)

| file | format | content |
|---|---|---|
| `chexpert_5x200.csv` | GLoRIA CheXpert 5x200 | Path (relative to the data root), Sex, Age, Frontal/Lateral, AP/PA, 14 CheXpert labels, Report Impression; each row positive for exactly one of Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion |
| `chexpert_8x200/image-retrieval/query.csv` | ConVIRT | Path + one-hot No Finding, Atelectasis, Cardiomegaly, Edema, Pleural Effusion, Pneumonia, Pneumothorax, Fracture (10 per class at full size) |
| `chexpert_8x200/image-retrieval/candidate.csv` | ConVIRT | same columns, 200 per class at full size (1600) |
| `chexpert_8x200/text-retrieval/query.csv` | ConVIRT | Text + the 8 one-hot columns, 5 per class |
| `rsna/stage_2_train_labels.csv` | RSNA Pneumonia | patientId, x, y, width, height, Target (one row per box; Target 0 rows have blank boxes) |
| `rsna/stage_2_train_images/<patientId>.dcm` | DICOM (pydicom) | 8/16-bit, some MONOCHROME1, some with window and rescale tags |
| `rsna/test_list.txt` | text | one patientId per line |
| `temporal.csv` | MS-CXR-T temporal image classification | dicom_id, study_id, subject_id, previous_dicom_id, previous_study_id, {consolidation,edema,pleural_effusion,pneumonia,pneumothorax}_progression in improving/stable/worsening |

Sizes scale with `--studies` (per class max(2, min(200, studies // 10))). See `data_cards/synthcxr.md`.
"""
