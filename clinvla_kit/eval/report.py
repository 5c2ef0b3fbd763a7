"""Markdown tables from ``metrics.json`` dictionaries: ours beside the published numbers, and ablation tables.

Values are fractions in [0, 1] in ``metrics.json`` and shown as percentages with one decimal here, the papers'
convention; a ``<name>_ci95`` sibling is shown as ``[lo, hi]`` after the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from clinvla_kit.eval.chance import chance_verdict
from clinvla_kit.eval.published import CELL_NOTES, PUBLISHED_COLUMNS, SOURCES, published_value

NOT_COMPARABLE = "published, real data, not comparable to SynthCXR"

# (section title, metric group path, metric names): the layout of the paper's Tables 3 (retrieval) and 4 (zero-shot).
TABLE_LAYOUT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Image-to-image retrieval, CheXpert 8x200", "retrieval.img2img_8x200", ("P@5", "P@10", "P@50")),
    ("Text-to-image retrieval, CheXpert 8x200", "retrieval.txt2img_8x200", ("P@5", "P@10", "P@50")),
    ("Image-to-text retrieval, CheXpert 5x200", "retrieval.img2txt_5x200", ("P@5", "P@10", "P@100")),
    ("Zero-shot classification, CheXpert 5x200", "zeroshot.5x200", ("acc",)),
    ("Zero-shot pneumonia, RSNA", "zeroshot.pneumonia", ("acc", "f1", "auc")),
)


def get_path(metrics: Mapping[str, Any], path: str) -> Any:
    """``get_path(m, "retrieval.img2img_8x200")`` -> nested value or None (keys may contain '@')."""
    node: Any = metrics
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def pct(value: float | None, ci: Sequence[float] | None = None) -> str:
    """0.6123 -> "61.2", with " [58.0, 64.1]" when an interval is given; None/NaN -> "n/a"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{100 * value:.1f}"
    if ci is not None and len(ci) == 2 and all(c is not None and not math.isnan(c) for c in ci):
        text += f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return text


def metrics_table(metrics: Mapping[str, Any], ours_name: str = "clinvla-kit (SynthCXR)",
                  chance: Mapping[str, float] | None = None) -> str:
    """Markdown laid out like the paper's Tables 3-4: one row per metric, our value with its interval, its chance
    level (``chance``, or ``metrics["chance"]``: dotted path -> level, see ``eval.chance.benchmark_chance``) and
    whether the interval includes it, then the published columns labelled as not comparable, each cell's table and
    row cited below the table (``eval.published``)."""
    chance = chance if chance is not None else (metrics.get("chance") or {})
    cols = [ours_name, "chance", "ours vs chance"] + [f"{c}, not comparable" for c in PUBLISHED_COLUMNS]
    lines = ["| Task | Metric | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    notes_seen: list[str] = []
    for title, group, names in TABLE_LAYOUT:
        node = get_path(metrics, group) or {}
        for name in names:
            path = f"{group}.{name}"
            ours = pct(node.get(name), node.get(f"{name}_ci95"))
            verdict = chance_verdict(node.get(name), node.get(f"{name}_ci95"), chance.get(path))
            pub = []
            for c in PUBLISHED_COLUMNS:
                cell = pct(published_value(path, c))
                note = CELL_NOTES.get((path, c))
                if note:
                    if note not in notes_seen:
                        notes_seen.append(note)
                    cell += f" [{notes_seen.index(note) + 1}]"
                pub.append(cell)
            lines.append(f"| {title} | {name} | " + " | ".join([ours, pct(chance.get(path)), verdict] + pub) + " |")
    lines.append("")
    lines.append("Values in %; our intervals are seeded bootstrap 95% CIs over queries; chance = what a model that "
                 f"learned nothing scores on the same data (eval.chance). Published columns ({NOT_COMPARABLE}): "
                 + "; ".join(f"{c}: {s}" for c, s in SOURCES.items()) + ". 'n/a' = not reported in the paper's tables.")
    if notes_seen:
        lines.append("")
        lines.extend(f"[{i + 1}] {n}" for i, n in enumerate(notes_seen))
    notes = metrics.get("notes") if isinstance(metrics, Mapping) else None
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines) + "\n"


def extra_table(metrics: Mapping[str, Any]) -> str:
    """Metrics the paper's Tables 3-4 do not have: instance retrieval, temporal progression, linear probes."""
    rows: list[tuple[str, str, str]] = []
    for group, title in (("instance_img2txt", "Instance retrieval, image-to-report"),
                         ("instance_txt2img", "Instance retrieval, report-to-image")):
        node = get_path(metrics, f"retrieval.{group}") or {}
        for name in ("R@1", "R@5", "R@10"):
            if name in node:
                rows.append((title, name, pct(node[name], node.get(f"{name}_ci95"))))
        for name in ("mean_rank", "median_rank"):
            if node.get(name) is not None:
                ci = node.get(f"{name}_ci95")
                ci_txt = f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci and None not in ci else ""
                rows.append((title, name, f"{node[name]:.1f}{ci_txt}"))
    tz = get_path(metrics, "zeroshot.temporal") or {}
    if "acc" in tz:
        rows.append(("Temporal progression, zero-shot (difference)", "acc", pct(tz["acc"], tz.get("acc_ci95"))))
    tj = get_path(metrics, "zeroshot.temporal_joint") or {}
    if "acc" in tj:
        rows.append(("Temporal progression, zero-shot (joint, change prompts)", "acc",
                     pct(tj["acc"], tj.get("acc_ci95"))))
    tp = metrics.get("probe_temporal") or {}
    if "acc" in tp:
        rows.append(("Temporal progression, probe (CV)", "acc", pct(tp["acc"])))
    for frac, res in (metrics.get("probe") or {}).items():
        rows.append((f"Linear probe, {frac} of labels", "macro AUC", pct(res.get("auc_macro"))))
        rows.append((f"Linear probe, {frac} of labels", "macro acc", pct(res.get("acc_macro"))))
    if not rows:
        return ""
    lines = ["| Task | Metric | clinvla-kit (SynthCXR) |", "|---|---|---|"]
    lines += [f"| {t} | {n} | {v} |" for t, n, v in rows]
    return "\n".join(lines) + "\n"
