"""Grounding scores per finding with a random-map baseline, bootstrap intervals and a printed verdict.

``viz.grounding`` scores one heatmap against one mask (pointing game, IoU). A score means something only beside what
a map that knows nothing scores on the *same* images and masks, so here:

- ``select_grounding_studies`` picks, for every finding (and, with ``per_view``, every view kind), up to
  ``per_finding`` studies where it is visible, so each row has enough images for an interval (a single "first n
  studies" would leave rare findings with two);
- ``random_map_scores`` gives, for every (image, finding) row, the random-map baseline on the real map's own grid:
  the exact pointing rate of a noise map (``viz.grounding.pointing_chance``: its peak is a uniformly drawn cell,
  so the rate is the share of cells whose centre is in the mask, about the mask's area) and the mean IoU of
  ``draws`` uniform-noise maps (the same upsampling, hence blob size, as the real map);
- ``grounding_report`` aggregates per (method, finding, view kind): n images and studies, the mean pointing rate and
  IoU with percentile bootstrap intervals over images (real and random resampled together, paired), the random
  baseline with its interval, their ratio and ``verdict``: "yes" only when the map points at least ``factor`` times as
  often as random *and* its interval excludes the random rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from clinvla_kit.eval.bootstrap import bootstrap_ci
from clinvla_kit.viz.grounding import heatmap_iou, pointing_chance, view_kind


def select_grounding_studies(records: Sequence[Any], annotations: Iterable[Mapping[str, Any]], per_finding: int,
                             findings: Sequence[str] | None = None, per_view: bool = False) -> list[Any]:
    """Records (in their order) such that every finding has up to ``per_finding`` studies where it is visible.

    Args:
        records: ``StudyRecord``s (``study_id`` strings) to pick from, e.g. one split.
        annotations: rows of ``load_annotations`` (``visible``, ``view`` and a ``mask``).
        per_finding: studies wanted per finding (fewer when the data has fewer).
        findings: the findings to cover (annotation names, e.g. "pleural_effusion"); None = every finding that has
            a visible mask in ``records``.
        per_view: count per (finding, view kind) instead: up to ``per_finding`` studies where the finding is
            visible on the frontal *and* as many where it is visible on the lateral. A study has a lateral image
            only about two times in three, so counting studies alone leaves the lateral rows with 12-17 images
            where the frontal ones have 20.
    Returns:
        The union of the per-finding picks, each study once, in the order of ``records``.
    """
    if per_finding < 1:
        raise ValueError(f"per_finding must be >= 1, got {per_finding}")
    visible: dict[str, set[Any]] = {}
    for a in annotations:
        if a.get("visible", True) and a.get("mask") is not None:
            key = (a["finding"], view_kind(a.get("view"))) if per_view else a["finding"]
            visible.setdefault(str(a["study_id"]), set()).add(key)
    seen = {k for r in records for k in visible.get(str(r.study_id), ())}
    wanted = set(findings) if findings is not None else {k[0] if per_view else k for k in seen}
    count = {k: 0 for k in seen if (k[0] if per_view else k) in wanted}
    keep = []
    for r in records:
        mine = [k for k in visible.get(str(r.study_id), ()) if k in count]
        if any(count[k] < per_finding for k in mine):
            keep.append(r)
            for k in mine:
                count[k] += 1
    return keep


def random_map_scores(maps: Mapping[str, Any], annotations: Iterable[Mapping[str, Any]], threshold: float = 0.5,
                      draws: int = 20, seed: int = 0, method: str = "") -> Any:
    """The random-map baseline of ``maps``: the rows ``viz.grounding.score_grounding`` gives (same order), with
    ``random_pointing`` = the exact pointing rate of a random map of each real map's shape (``pointing_chance``: the
    share of its cells whose centre is in the mask, what noise maps hit on average) and ``random_iou`` = the mean
    IoU of ``draws`` uniform-noise maps of that shape.

    Args:
        maps: ``dicom_id -> heatmap [h, w]`` or ``dicom_id -> {finding: heatmap}``, as for ``score_grounding``.
        annotations: rows of ``load_annotations``.
        draws: noise maps per row for the IoU (its sampling error shrinks as 1/sqrt(draws)).
        seed: one generator for all rows (in annotation order), so the baseline is reproducible.
    Returns:
        DataFrame with method, dicom_id, study_id, view_kind, finding, visible, random_pointing, random_iou.
    """
    import pandas as pd

    from clinvla_kit.synth.rle import rle_decode

    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    rng = np.random.default_rng(seed)
    out = []
    for ann in annotations:
        if ann.get("mask") is None or ann["dicom_id"] not in maps:
            continue
        entry = maps[ann["dicom_id"]]
        heat = entry.get(ann["finding"]) if isinstance(entry, Mapping) else entry
        if heat is None:
            continue
        mask = rle_decode(ann["mask"])
        if not mask.any():
            continue
        shape = np.asarray(heat).shape
        ious = [heatmap_iou(rng.random(shape), mask, threshold) for _ in range(draws)]
        hit_rate = pointing_chance(shape, mask)
        out.append({"method": method, "dicom_id": ann["dicom_id"], "study_id": ann.get("study_id"),
                    "view_kind": view_kind(ann.get("view")), "finding": ann["finding"],
                    "visible": bool(ann.get("visible", True)), "random_pointing": hit_rate,
                    "random_iou": float(np.mean(ious))})
    return pd.DataFrame(out, columns=["method", "dicom_id", "study_id", "view_kind", "finding", "visible",
                                      "random_pointing", "random_iou"])


def grounding_verdict(pointing: float, lo: float, hi: float, random: float, factor: float = 2.0) -> str:
    """The printed sentence of one group: "yes: points 3.1x as often as random (0.62 vs 0.20; interval
    [0.45, 0.78] excludes it)" or "no: ...". "yes" needs both: at least ``factor`` x the random rate *and* an
    interval that lies above it (a lucky 2 hits in 9 images is not a verdict); a random rate of 0 (the random maps
    never hit: tiny masks or too few draws) gives "n/a"."""
    if not np.isfinite(random) or random <= 0:
        return "n/a: the random maps never hit (tiny masks; raise random_draws)"
    ratio = pointing / random
    where = "excludes it" if lo > random or hi < random else "includes it"
    ok = "yes" if ratio >= factor and lo > random else "no"
    return (f"{ok}: points {ratio:.1f}x as often as random ({pointing:.2f} vs {random:.2f}; interval "
            f"[{lo:.2f}, {hi:.2f}] {where})")


def chance_position(lo: float, hi: float, chance: float) -> str:
    """Where a chance level lies against a metric's interval [lo, hi]: "above chance (interval excludes it)",
    "below chance (interval excludes it)" or "at chance (interval includes it)"."""
    if lo > chance:
        return "above chance (interval excludes it)"
    if hi < chance:
        return "below chance (interval excludes it)"
    return "at chance (interval includes it)"


def grounding_table(report: Any) -> Any:
    """``grounding_report`` as the short table a reader scans: one row per (method, finding, view), each metric
    as "value [lo, hi]" beside its chance level (the random map's), where that chance level lies against the
    interval ("above chance" / "at chance": the interval includes it / "below chance"), and the pointing verdict
    ("yes" needs ``factor`` x random and an interval above it; "n/a" when the random maps never hit). Strings, two
    decimals."""
    import pandas as pd

    def ci(v, lo, hi):
        return f"{v:.2f} [{lo:.2f}, {hi:.2f}]"

    out = pd.DataFrame({
        "method": report["method"], "finding": report["finding"].str.replace("_", " "),
        "view": report["view_kind"], "images": report["n"],
        "pointing [95% CI]": [ci(*r) for r in report[["pointing", "pointing_lo", "pointing_hi"]].to_numpy()],
        "random map": [f"{v:.2f}" for v in report["random_pointing"]],
        "pointing vs random": [chance_position(*r).split(" (")[0] for r in
                               report[["pointing_lo", "pointing_hi", "random_pointing"]].to_numpy()],
        "verdict": [v.split(":")[0] for v in report["verdict"]],
        "IoU [95% CI]": [ci(*r) for r in report[["iou", "iou_lo", "iou_hi"]].to_numpy()],
        "random IoU": [f"{v:.2f}" for v in report["random_iou"]],
        "IoU vs random": [v.split(" (")[0] for v in report["iou_verdict"]],
    })
    return out.reset_index(drop=True)


def grounding_report(scores: Any, random_scores: Any, by: Sequence[str] = ("method", "finding", "view_kind"),
                     n_boot: int = 1000, seed: int = 0, factor: float = 2.0, visible_only: bool = True,
                     match_method: bool = True) -> Any:
    """Per group of ``by``: real scores beside the random-map baseline, with intervals and the verdict.

    Args:
        scores: ``score_grounding`` rows; random_scores: ``random_map_scores`` rows of the same maps (joined on
            method, dicom_id and finding).
        n_boot: bootstrap resamples over the group's rows (images); real and random columns are resampled with the
            same indices, so the comparison is paired.
        factor: the verdict's "points at least ``factor`` times as often as random".
        visible_only: drop findings the generator hid in that view (nothing there to point at).
        match_method: join the baseline on the method too; False shares one method's baseline (maps of the same
            grid, e.g. the word maps of several ablation runs) with every method of ``scores``.
    Returns:
        DataFrame: the ``by`` columns, n (images), n_studies, pointing, pointing_lo, pointing_hi, random_pointing,
        random_lo, random_hi, iou, iou_lo, iou_hi, random_iou, ratio (pointing / random), verdict, iou_verdict
        (``chance_position`` of the random maps' IoU against the IoU interval).
    """
    import pandas as pd

    keys = ["method", "dicom_id", "finding"] if match_method else ["dicom_id", "finding"]
    rnd = random_scores[keys + ["random_pointing", "random_iou"]].drop_duplicates(keys)
    df = scores.merge(rnd, on=keys, how="inner")
    if visible_only:
        df = df[df["visible"]]
    cols = list(by) + ["n", "n_studies", "pointing", "pointing_lo", "pointing_hi", "random_pointing", "random_lo",
                       "random_hi", "iou", "iou_lo", "iou_hi", "random_iou", "ratio", "verdict", "iou_verdict"]
    rows = []
    for key, g in df.groupby(list(by), dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        p = g["pointing"].to_numpy(dtype=np.float64)
        rp = g["random_pointing"].to_numpy(dtype=np.float64)
        iou = g["iou"].to_numpy(dtype=np.float64)
        p_lo, p_hi = bootstrap_ci(lambda idx, p=p: float(p[idx].mean()), len(p), n_boot, seed)
        r_lo, r_hi = bootstrap_ci(lambda idx, rp=rp: float(rp[idx].mean()), len(p), n_boot, seed)
        i_lo, i_hi = bootstrap_ci(lambda idx, iou=iou: float(iou[idx].mean()), len(p), n_boot, seed)
        pm, rm, ri = float(p.mean()), float(rp.mean()), float(g["random_iou"].mean())
        rows.append(dict(zip(by, key), n=len(g), n_studies=int(g["study_id"].nunique()), pointing=pm,
                         pointing_lo=p_lo, pointing_hi=p_hi, random_pointing=rm, random_lo=r_lo, random_hi=r_hi,
                         iou=float(iou.mean()), iou_lo=i_lo, iou_hi=i_hi, random_iou=ri,
                         ratio=pm / rm if rm > 0 else float("nan"),
                         verdict=grounding_verdict(pm, p_lo, p_hi, rm, factor),
                         iou_verdict=chance_position(i_lo, i_hi, ri)))
    return pd.DataFrame(rows, columns=cols)


def grounding_figure(report: Any, view_kind: str = "frontal", title: str | None = None):
    """Bars of the pointing-game rate per finding (one colour per method) beside the random-map baseline (grey),
    with the bootstrap intervals as error bars, for the rows of ``grounding_report`` with this ``view_kind``.
    Colours are the colour-blind-safe Okabe-Ito set; fonts >= 9 pt."""
    import matplotlib.pyplot as plt

    rows = report[report["view_kind"] == view_kind] if "view_kind" in report.columns else report
    findings = sorted(rows["finding"].unique())
    methods = sorted(rows["method"].unique())
    colors = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]
    width = 0.8 / (len(methods) + 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(findings) + 2), 3.2))
    x = np.arange(len(findings))
    for j, m in enumerate(methods + ["random map"]):
        part = rows[rows["method"] == (methods[0] if m == "random map" else m)].set_index("finding").reindex(findings)
        col = "random_pointing" if m == "random map" else "pointing"
        lo, hi = ("random_lo", "random_hi") if m == "random map" else ("pointing_lo", "pointing_hi")
        val = part[col].to_numpy(dtype=float)
        err = np.abs(np.stack([val - part[lo].to_numpy(dtype=float), part[hi].to_numpy(dtype=float) - val]))
        ax.bar(x + (j - len(methods) / 2) * width, val, width, yerr=err, capsize=2, label=m,
               color="#999999" if m == "random map" else colors[j % len(colors)])
    ax.set_xticks(x, [f.replace("_", " ") for f in findings], rotation=30, ha="right", fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_ylabel("pointing-game hit rate", fontsize=9)
    ax.set_title(title or f"pointing game per finding, {view_kind} view (95% CI)", fontsize=10)
    ax.legend(fontsize=9, frameon=False)
    fig.tight_layout()
    return fig
