"""Latency of the retrieval demo's operations (what a click costs) on a trained run and a SynthCXR test split.

    OMP_NUM_THREADS=1 python bench/bench_demo.py --run RUN_DIR --data DATA_DIR [--studies 400]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--studies", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.demo import build_archive, compare_missing_view, reports_for_study, search_by_text
    from clinvla_kit.demo.panels import adapters_disabled
    from clinvla_kit.demo.render import search_html
    from clinvla_kit.model.clinvla import ClinVLA

    def timed(label, fn, repeat=1):
        t = time.perf_counter()
        for _ in range(repeat):
            out = fn()
        print(f"{label:48s} {1000 * (time.perf_counter() - t) / repeat:9.1f} ms")
        return out

    model = timed("load model (from_pretrained)", lambda: ClinVLA.from_pretrained(args.run).eval())
    recs = load_mimic(args.data, splits=["test"])[: args.studies]
    archive = timed(f"build_archive ({len(recs)} studies)", lambda: build_archive(model, recs))
    q = "left pleural effusion"
    timed("search_by_text, no heatmap", lambda: search_by_text(archive, model, q, 5, heatmap=False), args.repeat)
    res = timed("search_by_text + heatmap", lambda: search_by_text(archive, model, q, 5), args.repeat)
    timed("search_html (thumbnails of every view)", lambda: search_html(res), args.repeat)
    timed("report embeddings (first reports_for_study)", lambda: archive.report_embeddings(model))
    timed("reports_for_study", lambda: reports_for_study(archive, model, res.hits[0].study_id, 5), args.repeat)
    timed("compare_missing_view, first (re-embeds archive)", lambda: compare_missing_view(archive, model, q, 5))
    timed("compare_missing_view, cached", lambda: compare_missing_view(archive, model, q, 5), args.repeat)
    with adapters_disabled(model):
        timed("adapters off: search (re-embeds archive)", lambda: search_by_text(archive.without_embeddings(), model, q, 5,
                                                                               heatmap=False))


if __name__ == "__main__":
    main()
