"""SynthCXR benchmarks: generation rate (studies/s per core) and the raw-pixel retrieval baseline.

    OMP_NUM_THREADS=1 python bench/bench_synth.py --rate-studies 300 --studies 2000 --out /tmp/synth_bench

1. Rate: ``generate(..., workers=1)`` at 256 px (rendering, JPEG + report writing, CSVs, benchmark files),
   counted over every rendered study (archive + benchmark cohort) -> studies/s on one core.
2. Baseline: generate ``--studies`` (default 2000) at 256 px, then raw-pixel cosine retrieval on the 8x200
   image-to-image split: each image downsampled to 32x32 (INTER_AREA), flattened, centred (mean over the candidates
   subtracted), L2-normalised; P@k with candidates ranked by descending similarity, ties by ascending index.
   Must stay below 0.30 (random 0.125) for the data set to teach.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from clinvla_kit.synth.generate import generate

CLASSES = ("No Finding", "Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumonia", "Pneumothorax",
           "Fracture")


def precision_at_k(sim: np.ndarray, q_lab: np.ndarray, c_lab: np.ndarray, k: int) -> float:
    """Share of the top-k candidates with the query's label, averaged over queries (stable sort = index ties)."""
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return float((c_lab[order] == q_lab[:, None]).mean())


def _load(root: Path, csv_path: Path) -> tuple[np.ndarray, np.ndarray]:
    feats, labels = [], []
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            img = cv2.imread(str(root / row["Path"]), cv2.IMREAD_GRAYSCALE)
            feats.append(cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64).ravel())
            labels.append(next(i for i, c in enumerate(CLASSES) if row[c] == "1"))
    return np.stack(feats), np.array(labels)


def raw_pixel_baseline(root: Path) -> dict:
    base = root / "benchmarks/chexpert_8x200/image-retrieval"
    q, ql = _load(root, base / "query.csv")
    c, cl = _load(root, base / "candidate.csv")
    mean = c.mean(axis=0)
    q, c = q - mean, c - mean
    q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-12
    c /= np.linalg.norm(c, axis=1, keepdims=True) + 1e-12
    sim = q @ c.T
    return {"queries": len(q), "candidates": len(c),
            **{f"P@{k}": round(precision_at_k(sim, ql, cl, k), 4) for k in (5, 10, 50)}}


def save_examples(img_dir: Path, seed: int = 0, size: int = 144) -> list[Path]:
    """Small PNGs for the data card: a frontal+lateral pair, a finding with its mask overlay (both views), a
    lateral-only small effusion, a burned-in marker and an unusable image."""
    from dataclasses import replace

    from clinvla_kit.synth.findings import Finding
    from clinvla_kit.synth.plan import make_plan
    from clinvla_kit.synth.render import render_view

    img_dir.mkdir(parents=True, exist_ok=True)
    base = replace(make_plan(5, seed)[2], has_lateral=True, unusable="", view="PA")  # a typically framed patient

    def pair(findings, overlay: bool, s: int = seed) -> np.ndarray:
        p = replace(base, findings=tuple(findings))
        tiles = []
        for view in ("frontal", "lateral"):
            rv = render_view(p, view, s, size)
            im = cv2.cvtColor(rv.image, cv2.COLOR_GRAY2BGR) if overlay else rv.image
            if overlay:
                for mk in rv.masks.values():
                    cnts, _ = cv2.findContours(mk, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                    cv2.drawContours(im, cnts, -1, (0, 0, 255), 1)
            tiles.append(im)
        return np.hstack(tiles)

    out = {
        "synthcxr_pair.png": pair([], False),
        "synthcxr_pneumonia_mask.png": pair([Finding("pneumonia", 0.8, side="right", lobe="RLL")], True),
        "synthcxr_effusion_lateral_only.png": pair([Finding("pleural_effusion", 0.15, side="left",
                                                            hidden_frontal=True)], True),
        "synthcxr_cardiomegaly_devices.png": pair([Finding("cardiomegaly", 0.9),
                                                   Finding("support_devices", 1.0, device="ett+pacemaker")], False),
    }
    for name, unusable in (("synthcxr_marker.png", ""), ("synthcxr_unusable.png", "motion_blur")):
        for s in range(seed, seed + 50):
            rv = render_view(replace(base, unusable=unusable, view="AP"), "frontal", s, size)
            if rv.markers or unusable:
                out[name] = rv.image
                break
    paths = []
    for name, im in out.items():
        path = img_dir / name
        cv2.imwrite(str(path), im, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/synth_bench")
    ap.add_argument("--rate-studies", type=int, default=300)
    ap.add_argument("--studies", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--examples", default="", help="also write data-card PNGs into this folder")
    args = ap.parse_args()
    if args.examples:
        print([str(p) for p in save_examples(Path(args.examples), args.seed)])
        return
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    t, c = time.perf_counter(), time.process_time()
    s = generate(out / "rate", args.rate_studies, args.seed, image_size=256, workers=1)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    # CPU time is the fair per-core figure on a shared machine; wall time is reported beside it.
    rate = {"rendered_studies": s["studies"], "wall_seconds": round(dt, 2), "cpu_seconds": round(dc, 2),
            "studies_per_s_one_core_cpu": round(s["studies"] / dc, 1),
            "studies_per_s_one_core_wall": round(s["studies"] / dt, 1)}
    print(json.dumps({"rate": rate}))
    t = time.perf_counter()
    full = generate(out / "full", args.studies, args.seed, image_size=256, workers=args.workers)
    res = {"rate": rate, "full": {k: full[k] for k in ("studies", "archive_studies", "benchmark_cohort_studies",
                                                          "images", "workers", "benchmarks")},
           "full_seconds": round(time.perf_counter() - t, 1), "raw_pixel_8x200": raw_pixel_baseline(out / "full")}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
