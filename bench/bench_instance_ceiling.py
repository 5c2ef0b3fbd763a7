"""Ceilings of instance image-to-report R@k on a SynthCXR archive (the pool `clinvla-kit evaluate --tasks instance`
scores), beside a model's measured R@k.

    python bench/bench_instance_ceiling.py --data /work/data/s2k [--run RUN_OR_SHIPPED_NAME ...]

Reports are cleaned with ``tiny``'s data settings (what the model reads). See ``clinvla_kit.eval.instance_ceiling``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--max-studies", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", nargs="*", default=[], help="runs whose metrics.json holds instance_img2txt")
    args = parser.parse_args()

    from clinvla_kit.config import load_preset
    from clinvla_kit.data.reports import clean_report
    from clinvla_kit.eval.instance_ceiling import instance_ceilings
    from clinvla_kit.eval.tasks import instance_test_records

    data_cfg = load_preset("tiny").data
    records = instance_test_records(args.data, args.seed, args.max_studies)
    reports = [clean_report(r.report, expand_abbreviations=data_cfg.expand_abbreviations,
                            remove_hedges=data_cfg.remove_hedges, source=str(r.report_path)) for r in records]
    ann = Path(args.data) / "annotations.jsonl"
    out = {"pool": len(records), "ceilings": instance_ceilings(records, reports, ann if ann.exists() else None)}
    for run in args.run:
        m = json.loads((Path(run) / "metrics.json").read_text())["retrieval"]["instance_img2txt"]
        out[run] = {k: m.get(k) for k in ("R@1", "R@5", "R@10", "R@10_ci95")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
