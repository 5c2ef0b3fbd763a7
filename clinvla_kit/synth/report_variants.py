"""Write every study's report variants and wrong variants next to the data set (``generate`` calls this).

Files (one JSON object per line, sorted by study, byte-identical for a seed):
- ``report_variants.jsonl``: ``study_id, subject_id, split, site, style, text`` for the style ``original`` (the
  report file as written) and each of ``report_styles.STYLES``; labels are the study's (the CheXpert CSV row).
- ``report_errors.jsonl``: ``study_id, subject_id, split, site, error_type, variant, detail, style, text``: each
  ``report_errors`` variant rendered in the site's own style (site A: ``mimic``, site B: ``telegraphic``), plus the
  correct report in that style as ``error_type = "none"`` so a benchmark reads both from one file.

The study's facts are rebuilt from the plan and the kinds the original report negated; the original report is
re-written from the same generator state (``reports.write_report`` with the seed the worker used), which costs
milliseconds per study and keeps the workers unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clinvla_kit.synth.plan import StudyPlan
from clinvla_kit.synth.report_errors import wrong_variants
from clinvla_kit.synth.report_facts import ReportFacts, facts_of
from clinvla_kit.synth.report_styles import STYLES, render
from clinvla_kit.synth.reports import write_report

VARIANTS_FILE = "report_variants.jsonl"
ERRORS_FILE = "report_errors.jsonl"


def original_report(plan: StudyPlan, seed: int, site: str = "A") -> tuple[str, list[str]]:
    """(report text as ``generate`` wrote it, negated kinds) for a study, from the worker's generator seed."""
    text, negated = write_report(plan, np.random.default_rng([seed, 7, plan.index]))
    if site != "A":
        from clinvla_kit.synth.site_b import site_report

        text = site_report(plan, negated, seed)
    return text, negated


def study_facts(plan: StudyPlan, seed: int) -> ReportFacts:
    """The facts every variant of this study renders from."""
    return facts_of(plan, original_report(plan, seed)[1], seed)


def error_style(site: str) -> str:
    return "mimic" if site == "A" else "telegraphic"


def write_report_variants(out: str | Path, plans: list[StudyPlan], seed: int, site: str = "A") -> dict:
    """Write both files for ``plans`` (``seed``: the seed the workers rendered with); returns row counts."""
    out = Path(out)
    n_var = n_err = 0
    est = error_style(site)
    with open(out / VARIANTS_FILE, "w", encoding="utf-8", newline="\n") as fv, \
            open(out / ERRORS_FILE, "w", encoding="utf-8", newline="\n") as fe:
        for p in sorted(plans, key=lambda q: q.index):
            text, negated = original_report(p, seed, site)
            facts = facts_of(p, negated, seed)
            base = {"study_id": p.study_id, "subject_id": p.subject_id, "split": p.split, "site": site}
            rows = [{**base, "style": "original", "text": text}]
            rows += [{**base, "style": s, "text": render(facts, s, seed)} for s in STYLES]
            fv.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
            n_var += len(rows)
            errs = [{**base, "error_type": "none", "variant": 0, "detail": "", "style": est,
                     "text": render(facts, est, seed)}]
            counter: dict[str, int] = {}
            for v in wrong_variants(facts, seed):
                k = counter.get(v.error_type, 0)
                counter[v.error_type] = k + 1
                errs.append({**base, "error_type": v.error_type, "variant": k, "detail": v.detail, "style": est,
                             "text": render(v.facts, est, seed)})
            fe.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in errs)
            n_err += len(errs) - 1
    return {"variants": n_var, "wrong_variants": n_err}
