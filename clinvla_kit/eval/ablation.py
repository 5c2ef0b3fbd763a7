"""The paper's Table 6 ablations as config overrides, summarised over seeds with a stated noise rule.

Each variant is a list of ``--set`` overrides of ``RunCfg`` (so an ablation is a config change, never a code
change), trained and evaluated with the same seed(s) and step budget as ``full``.

Noise rule: a variant's delta against ``full`` is called meaningful only when both have at least two seeds and
``|mean_variant - mean_full| > std_variant + std_full`` (sample standard deviations over seeds). With a single seed
nothing is called meaningful: one run cannot tell a change from noise. This is deliberately conservative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.config import RunCfg, apply_overrides
from clinvla_kit.eval.report import get_path


@dataclass(frozen=True)
class Variant:
    """One row of Table 6: a label as the paper writes it and the overrides that make it."""

    slug: str
    label: str
    overrides: tuple[str, ...]
    paper_direction: str  # "lower": the paper reports this variant below full; "": no claim recorded


VARIANTS: tuple[Variant, ...] = (
    Variant("full", "ClinVLA (full)", (), ""),
    Variant("no-adapt", "-Transformer-Adapt", ("model.adapters.transformer_adapt_towers=[]",), "lower"),
    Variant("no-multiview", "-Multiview", ("model.vision.multiview=false",), "lower"),
    Variant("no-invertible", "-Inversed adapter", ("model.adapters.invertible_towers=[]",), "lower"),
    Variant("no-temporal-multiview", "-Temporal and multiview",
            ("model.vision.temporal=false", "model.vision.multiview=false"), "lower"),
    Variant("no-local", "-Local loss", ("loss.local_weight=0",), "lower"),
    Variant("no-global", "-Global loss", ("loss.global_weight=0",), "lower"),
    Variant("full-ft", "Full fine-tuning", ("model.adapters.full_finetune=true",), ""),
    Variant("lora", "LoRA", ("model.adapters.lora=true",), ""),
)
VARIANT_BY_SLUG: dict[str, Variant] = {v.slug: v for v in VARIANTS}

DEFAULT_METRICS: tuple[str, ...] = (
    "retrieval.img2img_8x200.P@5",
    "retrieval.txt2img_8x200.P@5",
    "retrieval.img2txt_5x200.P@5",
    "zeroshot.5x200.acc",
    "zeroshot.pneumonia.auc",
)


def select_variants(slugs: Sequence[str] | None) -> list[Variant]:
    """Variants by slug (all when None); ``full`` is always included first, as every delta needs it."""
    if not slugs:
        return list(VARIANTS)
    unknown = [s for s in slugs if s not in VARIANT_BY_SLUG]
    if unknown:
        raise ValueError(f"unknown ablation variant(s) {unknown}; choose from {list(VARIANT_BY_SLUG)}")
    chosen = [VARIANT_BY_SLUG["full"]] + [VARIANT_BY_SLUG[s] for s in slugs if s != "full"]
    return chosen


def variant_config(base: RunCfg, variant: Variant, seed: int, max_steps: int | None = None) -> RunCfg:
    """``base`` with the variant's overrides, the seed and (optionally) the step budget applied."""
    extra = [f"train.seed={seed}"] + ([f"train.max_steps={max_steps}"] if max_steps is not None else [])
    return apply_overrides(base, list(variant.overrides) + extra)


def same_as_full(base: RunCfg, variant: Variant) -> bool:
    """True when the variant changes nothing in ``base`` (the preset already has that component off: e.g. ``tiny``
    uses the frontal view only, so "-Multiview" is the full model). Such a variant is not trained again: it reuses
    the full model's runs and the table says so, rather than reporting a second draw of the same model as a delta."""
    return variant.slug != "full" and variant_config(base, variant, 0) == variant_config(base, VARIANT_BY_SLUG["full"], 0)


def summarize(runs: Mapping[str, Sequence[Mapping[str, Any]]], metrics: Sequence[str]) -> dict[str, dict[str, dict]]:
    """Per variant and metric: ``{"mean", "std" (sample, ddof=1; NaN for one seed), "n", "values"}``.

    Args:
        runs: variant slug -> list of metrics.json dicts, one per seed.
        metrics: dotted metric paths (``"retrieval.txt2img_8x200.P@5"``); missing values are skipped.
    """
    out: dict[str, dict[str, dict]] = {}
    for slug, per_seed in runs.items():
        out[slug] = {}
        for m in metrics:
            vals = [float(v) for v in (get_path(r, m) for r in per_seed) if isinstance(v, (int, float))]
            vals = [v for v in vals if not math.isnan(v)]
            mean = float(np.mean(vals)) if vals else float("nan")
            std = float(np.std(vals, ddof=1)) if len(vals) >= 2 else float("nan")
            out[slug][m] = {"mean": mean, "std": std, "n": len(vals), "values": vals,
                            "same_as_full": any(r.get("same_as_full", False) for r in per_seed)}
    return out


def delta_vs_full(full: Mapping[str, Any], other: Mapping[str, Any]) -> tuple[float, bool]:
    """(mean difference other - full, whether it exceeds the noise: n >= 2 both and |delta| > std_o + std_f)."""
    delta = other["mean"] - full["mean"]
    if full["n"] < 2 or other["n"] < 2 or math.isnan(delta):
        return delta, False
    return delta, bool(abs(delta) > other["std"] + full["std"])


def direction_verdict(variant: Variant, delta: float, meaningful: bool) -> str:
    """Does the paper's direction hold here? "holds" / "contradicted" / "not shown (within noise)" / "no claim"."""
    if not variant.paper_direction:
        return "no claim"
    if not meaningful:
        return "not shown (within noise)"
    return "holds" if (delta < 0) == (variant.paper_direction == "lower") else "contradicted"


def _fmt(stat: Mapping[str, Any]) -> str:
    if math.isnan(stat["mean"]):
        return "n/a"
    s = f"{100 * stat['mean']:.1f}"
    return s + (f" ± {100 * stat['std']:.1f}" if not math.isnan(stat["std"]) else " (1 seed)")


def ablation_table(summary: Mapping[str, Mapping[str, Any]], metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """Markdown: one row per variant, "mean ± std (delta)" per metric in %, ``*`` on meaningful deltas, and the
    verdict on the paper's direction for the first metric that both the variant and ``full`` report."""
    head = "| Variant | " + " | ".join(metrics) + " | paper's direction (first reported metric) |"
    lines = [head, "|---|" + "---|" * (len(metrics) + 1)]
    full = summary.get("full")
    for slug, stats in summary.items():
        v = VARIANT_BY_SLUG.get(slug, Variant(slug, slug, (), ""))
        if any(st.get("same_as_full") for st in stats.values()):
            lines.append(f"| {v.label} | " + " | ".join("= full" for _ in metrics)
                         + " | not testable: the preset already has this off |")
            continue
        cells = []
        verdict = ""
        for m in metrics:
            cell = _fmt(stats[m])
            if full is not None and slug != "full":
                d, ok = delta_vs_full(full[m], stats[m])
                if not math.isnan(d):
                    cell += f" ({100 * d:+.1f}{'*' if ok else ''})"
                    if not verdict:
                        verdict = direction_verdict(v, d, ok)
            cells.append(cell)
        lines.append(f"| {v.label} | " + " | ".join(cells) + f" | {verdict} |")
    lines.append("")
    lines.append("Values in %, mean ± sample std over seeds; (delta vs full), `*` = |delta| > std_variant + std_full "
                 "with at least 2 seeds each (otherwise treated as noise).")
    return "\n".join(lines) + "\n"


def run_ablation(
    base: RunCfg,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    out_dir: str | Path,
    train_fn: Callable[[RunCfg, Path], Path],
    eval_fn: Callable[[Path], dict[str, Any]],
    max_steps: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Train and evaluate every variant for every seed.

    Args:
        train_fn: (config, run directory) -> run directory holding the trained model.
        eval_fn: run directory -> metrics.json dict.
    Returns:
        slug -> list of metrics dicts (seed order).
    """
    out_dir = Path(out_dir)
    runs: dict[str, list[dict[str, Any]]] = {}
    for v in variants:
        if same_as_full(base, v) and "full" in runs:
            runs[v.slug] = [dict(m, same_as_full=True) for m in runs["full"]]
            continue
        runs[v.slug] = []
        for seed in seeds:
            cfg = variant_config(base, v, seed, max_steps)
            run_dir = train_fn(cfg, out_dir / v.slug / f"seed{seed}")
            runs[v.slug].append(eval_fn(Path(run_dir)))
    return runs
