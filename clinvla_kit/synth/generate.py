"""``generate(out_dir, studies, seed, image_size, workers)``: plan, render in parallel, write every file.

Determinism: the plan comes from the seed alone; each study is rendered from generators seeded by (seed, study
index) and written by whichever worker gets it, and all CSV/JSONL rows are sorted by study index before writing,
so the bytes do not depend on ``workers``. JPEG quality is fixed (``writer.JPEG_QUALITY``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import cv2
import numpy as np

from clinvla_kit.synth import SYNTHCXR_VERSION
from clinvla_kit.synth import writer as W
from clinvla_kit.synth.findings import KIND_TO_CHEXPERT
from clinvla_kit.synth.labels import study_labels
from clinvla_kit.synth.plan import StudyPlan, make_plan
from clinvla_kit.synth.render import render_study
from clinvla_kit.synth.reports import write_report
from clinvla_kit.synth.rle import mask_bbox, rle_encode


def _impression(report: str) -> str:
    for key in ("IMPRESSION:", "FINDINGS:"):
        if key in report:
            return " ".join(report.split(key, 1)[1].split("\n \n")[0].split())
    return ""


def process_study(plan: StudyPlan, seed: int, size: int, out_dir: str, site: str = "A",
                  appearance: str = "same") -> dict:
    """Render and write one study's images and report; return its CSV rows and annotations.

    ``site``/``appearance``: site B writes the telegraphic report and may change the image look (``site_b``)."""
    out = Path(out_dir)
    views = render_study(plan, seed, size)
    rng = np.random.default_rng([seed, 7, plan.index])
    report, negated = write_report(plan, rng)
    if site != "A":
        from clinvla_kit.synth.site_b import site_image, site_report

        report = site_report(plan, negated, seed)
        for rv in views.values():
            rv.image = site_image(rv.image, appearance)
    labels = study_labels(plan.findings, negated)
    rpath = out / W.report_relpath(plan.subject_id, plan.study_id)
    rpath.parent.mkdir(parents=True, exist_ok=True)
    rpath.write_text(report, encoding="utf-8")
    meta, split, ann = [], [], []
    for view, rv in views.items():
        dicom = plan.frontal_dicom if view == "frontal" else plan.lateral_dicom
        vp = plan.view if view == "frontal" else ("LL" if rng.random() < 0.15 else "LATERAL")
        ipath = out / W.image_relpath(plan.subject_id, plan.study_id, dicom)
        ipath.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".jpg", rv.image, [cv2.IMWRITE_JPEG_QUALITY, W.JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"could not encode {ipath}")
        ipath.write_bytes(buf.tobytes())
        meta.append(W.metadata_row(dicom, plan.subject_id, plan.study_id, vp, size, plan.date, plan.time))
        split.append({"dicom_id": dicom, "study_id": plan.study_id, "subject_id": plan.subject_id, "split": plan.split})
        base = {"dicom_id": dicom, "study_id": plan.study_id, "subject_id": plan.subject_id, "view": vp}
        for i, f in enumerate(plan.findings):
            if not f.present:
                continue
            mk = rv.masks[i]
            box = mask_bbox(mk)
            hidden = view == "frontal" and f.hidden_frontal
            ann.append({**base, "finding": f.kind, "label": KIND_TO_CHEXPERT[f.kind], "severity": f.severity,
                        "severity_word": f.severity_word, "side": f.side, "lobe": f.lobe, "change": f.change,
                        "hedged": f.hedged, "device": f.device, "visible": box is not None and not hidden,
                        "bbox": box, "mask": rle_encode(mk) if box is not None else None})
        for text, box in rv.markers:
            ann.append({**base, "finding": "burned_in_marker", "text": text, "bbox": box, "mask": None})
        if rv.unusable:
            ann.append({**base, "finding": "unusable_image", "reason": rv.unusable, "bbox": None, "mask": None})
    chex = {"subject_id": plan.subject_id, "study_id": plan.study_id}
    chex.update({k: W.label_cell(v) for k, v in labels.items()})
    return {"index": plan.index, "meta": meta, "split": split, "chexpert": chex, "ann": ann, "labels": labels,
            "impression": _impression(report)}


def _job(args: tuple) -> dict:
    return process_study(*args)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would oversubscribe


def generate(out_dir: str | Path, studies: int, seed: int, image_size: int = 256, workers: int | None = None,
             site: str = "A", appearance: str = "same") -> dict:
    """Write SynthCXR to ``out_dir``; returns a summary dict (counts, split sizes, benchmark sizes, seconds).

    ``site="B"``: the second hospital (``synth/site_b.py``): other patients, telegraphic impression-only reports,
    optionally another image ``appearance``. Every study's report variants are written too (``report_variants``)."""
    from clinvla_kit.synth.benchmarks import write_benchmarks  # after rendering; keeps this module small
    from clinvla_kit.synth.report_variants import write_report_variants
    from clinvla_kit.synth.site_b import check_site, site_plans, site_seed

    check_site(site, appearance)
    user_seed, seed = seed, site_seed(seed, site)

    if image_size < 32:
        raise ValueError(f"--image-size must be >= 32 px, got {image_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    plans = site_plans(make_plan(studies, seed), site)
    jobs = [(p, seed, image_size, str(out), site, appearance) for p in plans]
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    if workers == 1:
        n_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            results = [_job(j) for j in jobs]
        finally:
            cv2.setNumThreads(n_threads)
    else:
        # "spawn", not "fork": a fork of a process that already started torch / tokenizer threads (a pytest
        # session, a notebook kernel) can deadlock its workers; spawned workers start clean (and work on every OS).
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            results = pool.map(_job, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
    results.sort(key=lambda r: r["index"])
    t_render = time.perf_counter() - t0
    W.write_csv(out / "mimic-cxr-2.0.0-metadata.csv", W.METADATA_COLUMNS, [m for r in results for m in r["meta"]])
    W.write_csv(out / "mimic-cxr-2.0.0-split.csv", W.SPLIT_COLUMNS, [s for r in results for s in r["split"]])
    W.write_csv(out / "mimic-cxr-2.0.0-chexpert.csv", W.CHEXPERT_COLUMNS, [r["chexpert"] for r in results])
    with open(out / "annotations.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        for r in results:
            fh.writelines(json.dumps(a, separators=(",", ":")) + "\n" for a in r["ann"])
    bench = write_benchmarks(out, plans, results, seed, studies)
    variants = write_report_variants(out, plans, seed, site)
    splits: dict[str, int] = {}
    for p in plans:
        splits[p.split] = splits.get(p.split, 0) + 1
    return {
        "generator_version": SYNTHCXR_VERSION,
        "out": str(out), "seed": user_seed, "site": site, "appearance": appearance, "report_variants": variants,
        "image_size": image_size, "workers": workers,
        "archive_studies": sum(p.cohort == "archive" for p in plans),
        "benchmark_cohort_studies": sum(p.cohort == "benchmark" for p in plans), "studies": len(plans),
        "subjects": len({p.subject_id for p in plans}), "images": sum(len(r["meta"]) for r in results),
        "studies_by_split": splits, "benchmarks": bench, "render_seconds": round(t_render, 3),
        "seconds": round(time.perf_counter() - t0, 3),
    }
