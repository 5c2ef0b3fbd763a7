"""A second site ("hospital B"): other patients, every report in one abbreviation-rich, impression-only style.

Why: reports differ by institution, and the paper this follows (Ko et al. 2025) found that adding another
hospital's telegraphic reports to training can plateau or degrade image-text alignment unless the text encoder
understands that style. ``clinvla-kit synth --site B`` writes such a cohort in exactly site A's formats (MIMIC-CXR-JPG
layout, splits by patient, its own benchmark copies), so every loader, trainer and benchmark reads it unchanged.

What differs from site A:
- patients: the plan is drawn from ``site_seed(seed)``, and subject and study ids are shifted by ``ID_OFFSET`` so a
  merged A+B directory (``merge_sites``) has no clashing ids (site A subjects are ``1xxxxxxx``, site B ``2xxxxxxx``);
- reports: ``report_styles.render_telegraphic`` of the study's facts ("IMPRESSION: Sm Lt eff. No PTX."), with the same
  findings, negations and labels the site A generator would have written;
- images (optional, ``appearance="vendor"``): another detector's look, a gamma of 0.8, 10 % less contrast and a
  slight blur; ``"same"`` (the default) keeps site A's rendering so an experiment isolates the report style.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from clinvla_kit.synth.plan import StudyPlan
from clinvla_kit.synth.report_facts import facts_of
from clinvla_kit.synth.report_styles import render_telegraphic

SITES: tuple[str, ...] = ("A", "B")
APPEARANCES: tuple[str, ...] = ("same", "vendor")
ID_OFFSET = 10_000_000
SITE_B_STYLE = "telegraphic"


def check_site(site: str, appearance: str = "same") -> None:
    if site not in SITES:
        raise ValueError(f"--site must be one of {SITES}, got {site!r}")
    if appearance not in APPEARANCES:
        raise ValueError(f"--appearance must be one of {APPEARANCES}, got {appearance!r}")


def site_seed(seed: int, site: str) -> int:
    """The plan/render seed of a site: site A uses ``seed`` itself (unchanged output), site B another stream."""
    return seed if site == "A" else seed * 7919 + 104_729


def site_plans(plans: list[StudyPlan], site: str) -> list[StudyPlan]:
    """Site B's plans: subject, study and prior-study ids shifted by ``ID_OFFSET`` (still 8 digits)."""
    if site == "A":
        return plans
    return [dataclasses.replace(p, subject_id=p.subject_id + ID_OFFSET, study_id=p.study_id + ID_OFFSET,
                                prior_study_id=None if p.prior_study_id is None else p.prior_study_id + ID_OFFSET)
            for p in plans]


def site_report(plan: StudyPlan, negated: list[str], seed: int) -> str:
    """Site B's report of a study: the telegraphic impression of the same facts (same labels)."""
    return "                                 FINAL REPORT\n" + render_telegraphic(facts_of(plan, negated, seed), seed)


def site_image(image: np.ndarray, appearance: str) -> np.ndarray:
    """uint8 [S, S] -> uint8 [S, S] in the site's look (``"same"`` returns the input)."""
    if appearance == "same":
        return image
    x = image.astype(np.float32) / 255.0
    x = np.power(x, 0.8)
    x = 0.5 + 0.9 * (x - 0.5)
    x = cv2.GaussianBlur(x, (3, 3), 0.6)
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


_CSVS = ("mimic-cxr-2.0.0-metadata.csv", "mimic-cxr-2.0.0-split.csv", "mimic-cxr-2.0.0-chexpert.csv")


def merge_sites(site_a: str | Path, site_b: str | Path, out: str | Path,
                b_splits: tuple[str, ...] = ("train", "validate")) -> dict:
    """A training directory with all of site A and site B's ``b_splits`` studies (B's test patients stay out).

    Images and reports are linked, not copied (symlinks where the OS allows, else copies); the CSVs are written
    anew. Site B's benchmark copies are not merged: each site is evaluated on its own directory.
    """
    import pandas as pd

    site_a, site_b, out = Path(site_a), Path(site_b), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for src in (site_a, site_b):
        for name in _CSVS:
            if not (src / name).is_file():
                raise FileNotFoundError(f"{src}: no {name}; is this a SynthCXR directory?")
    split_b = pd.read_csv(site_b / _CSVS[1])
    keep_b = set(split_b.loc[split_b["split"].isin(b_splits), "study_id"].tolist())
    counts = {}
    for name in _CSVS:
        a = pd.read_csv(site_a / name, dtype=str, keep_default_na=False)
        b = pd.read_csv(site_b / name, dtype=str, keep_default_na=False)
        b = b[b["study_id"].astype(int).isin(keep_b)]
        pd.concat([a, b]).to_csv(out / name, index=False, lineterminator="\n")
        counts[name] = {"A": len(a), "B": len(b)}
    for src in (site_a, site_b):
        for sub in ("files", "reports/files"):
            for d in sorted((src / sub).glob("p*")):
                dst = out / sub / d.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.exists() or dst.is_symlink():
                    continue
                try:
                    os.symlink(d.resolve(), dst, target_is_directory=True)
                except OSError:
                    shutil.copytree(d, dst)
    return {"out": str(out), "rows": counts, "site_b_studies": len(keep_b)}
