"""The paper's Table 6 ablations as config overrides, summarised over seeds with a stated noise rule.

Each variant is a list of ``--set`` overrides of ``RunCfg`` (so an ablation is a config change, never a code
change), trained and evaluated with the same seed(s) and step budget as ``full``.

Noise rule: a variant's delta against ``full`` is called meaningful only when ``full`` has at least two seeds and
``|mean_variant - mean_full| > std_variant + std_full`` (sample standard deviations over seeds). A variant with a
single seed has no spread of its own; it is then judged against ``2 * std_full``, i.e. its seed spread is assumed
equal to ``full``'s (the same model family, the same data and budget), and the table marks such deltas with ``†``
rather than ``*``. With one seed of ``full`` nothing is called meaningful: one run cannot tell a change from noise.

Runs are resumable: a variant/seed directory that already holds ``metrics.json`` (with the same config) is read,
not retrained, so a long table can be stopped and continued, and runs made elsewhere (e.g. the seeds of ``full``)
can be linked in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.config import RunCfg, apply_overrides, diff_configs, load_config, load_preset
from clinvla_kit.eval.report import get_path


@dataclass(frozen=True)
class Variant:
    """One row of Table 6: a label as the paper writes it and the overrides that make it."""

    slug: str
    label: str
    overrides: tuple[str, ...]
    paper_direction: str  # "lower": the paper reports this variant below full; "": no claim recorded
    preset: str = ""  # another preset as the variant's base (the from-scratch baseline); "": the ablation's base


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
    # Not a row of the paper's Table 6: CLIP trained from scratch with every ClinVLA part off (issue 13's baseline),
    # run with its own preset's schedule (1,800 steps take about the wall clock of tiny's 250 on 2 CPU cores).
    Variant("clip-scratch", "From scratch (CLIP, no ClinVLA part)", (), "", preset="clip-scratch"),
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


def variant_config(base: RunCfg, variant: Variant, seed: int, max_steps: int | None = None,
                   base_overrides: Sequence[str] = ()) -> RunCfg:
    """``base`` with the variant's overrides, the seed and (optionally) the step budget applied.

    A variant with its own ``preset`` starts from that preset instead, with ``base_overrides`` (the user's ``--set``
    list) and ``base``'s device applied, so it runs where the others run."""
    if variant.preset:
        base = apply_overrides(load_preset(variant.preset),
                               list(base_overrides) + [f"train.device={base.train.device}"])
    extra = [f"train.seed={seed}"] + ([f"train.max_steps={max_steps}"] if max_steps is not None else [])
    return apply_overrides(base, list(variant.overrides) + extra)


def same_as_full(base: RunCfg, variant: Variant) -> bool:
    """True when the variant changes nothing in ``base`` (the preset already has that component off: e.g. ``tiny``
    uses the frontal view only, so "-Multiview" is the full model). Such a variant is not trained again: it reuses
    the full model's runs and the table says so, rather than reporting a second draw of the same model as a delta."""
    return (variant.slug != "full" and not variant.preset
            and variant_config(base, variant, 0) == variant_config(base, VARIANT_BY_SLUG["full"], 0))


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


def measured_metrics(summary: Mapping[str, Mapping[str, Mapping[str, Any]]], metrics: Sequence[str]) -> list[str]:
    """The ``metrics`` (in their order) that at least one variant of ``summary`` measured: a run evaluated without
    the RSNA task has no pneumonia AUC, and a column of "n/a" in every row says nothing."""
    return [m for m in metrics if any(per.get(m, {}).get("n", 0) > 0 for per in summary.values())]


def noise_threshold(full: Mapping[str, Any], other: Mapping[str, Any]) -> float:
    """The spread a delta must exceed: ``std_other + std_full``; ``2 * std_full`` when ``other`` has one seed
    (its spread assumed equal to full's); NaN when ``full`` has fewer than two seeds (nothing can be called)."""
    if full["n"] < 2 or other["n"] < 1:
        return float("nan")
    return other["std"] + full["std"] if other["n"] >= 2 else 2 * full["std"]


def delta_vs_full(full: Mapping[str, Any], other: Mapping[str, Any]) -> tuple[float, bool]:
    """(mean difference other - full, whether |delta| exceeds ``noise_threshold``)."""
    delta = other["mean"] - full["mean"]
    threshold = noise_threshold(full, other)
    if math.isnan(delta) or math.isnan(threshold):
        return delta, False
    return delta, bool(abs(delta) > threshold)


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
                    mark = ("*" if stats[m]["n"] >= 2 else "†") if ok else ""
                    cell += f" ({100 * d:+.1f}{mark})"
                    if not verdict:
                        verdict = direction_verdict(v, d, ok)
            cells.append(cell)
        lines.append(f"| {v.label} | " + " | ".join(cells) + f" | {verdict} |")
    lines.append("")
    lines.append("Values in %, mean ± sample std over seeds; (delta vs full), `*` = |delta| > std_variant + std_full "
                 "with at least 2 seeds each, `†` = a one-seed variant with |delta| > 2 std_full (its spread assumed "
                 "equal to full's); anything else is treated as noise.")
    return "\n".join(lines) + "\n"


def run_ablation(
    base: RunCfg,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    out_dir: str | Path,
    train_fn: Callable[[RunCfg, Path], Path],
    eval_fn: Callable[[Path], dict[str, Any]],
    max_steps: int | None = None,
    steps_for: Mapping[str, int] | None = None,
    base_overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> dict[str, list[dict[str, Any]]]:
    """Train and evaluate every variant for every seed, into ``out_dir/<slug>/seed<k>/``.

    Args:
        train_fn: (config, run directory) -> run directory holding the trained model.
        eval_fn: run directory -> metrics dict; it is saved as ``<run>/metrics.json`` with the run's ``train``
            record (steps, wall clock) added.
        max_steps: one step budget for every variant (None: each variant's preset schedule).
        steps_for: per-variant step budgets that override ``max_steps`` (e.g. full fine-tuning gets fewer steps so
            that its alignment wall clock matches the adapters').
        base_overrides: the user's overrides, applied to variants that start from their own preset.
    A run directory that already holds ``metrics.json`` is reused (a different config there is refused, naming the
    fields), so nothing is retrained or overwritten.
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
        steps = (steps_for or {}).get(v.slug, max_steps)
        for seed in seeds:
            cfg = variant_config(base, v, seed, steps, base_overrides)
            run_dir = out_dir / v.slug / f"seed{seed}"
            done = _finished_run(run_dir, cfg)
            if done is not None:
                log(f"ablate: {v.slug} seed {seed}: reusing {run_dir / 'metrics.json'}")
                runs[v.slug].append(_with_train_record(done, run_dir))
                continue
            log(f"ablate: {v.slug} seed {seed}: training ({cfg.train.max_steps} steps) -> {run_dir}")
            trained = Path(train_fn(cfg, run_dir))
            metrics = dict(eval_fn(trained), train=_train_record(trained))
            _write_metrics(run_dir, metrics)
            runs[v.slug].append(metrics)
    return runs


def _finished_run(run_dir: Path, cfg: RunCfg) -> dict[str, Any] | None:
    """The saved metrics of a finished run with this config; None when there is none; ValueError when the
    directory holds a run of another config (it is never overwritten)."""
    metrics = run_dir / "metrics.json"
    if not metrics.exists():
        return None
    config = run_dir / "config.json"
    if config.exists():
        differ = diff_configs(load_config(config), cfg)
        if differ:
            raise ValueError(f"{run_dir}: holds a finished run of another config ({'; '.join(differ[:4])}); "
                             "move it away or choose another --out")
    try:
        return json.loads(metrics.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{metrics}: not valid JSON ({e}); delete it to re-evaluate that run") from e


def _train_record(run_dir: Path) -> dict[str, Any]:
    """Steps and wall clock of a trained run (``train_metrics.json``), for the same-wall-clock comparison."""
    path = run_dir / "train_metrics.json"
    if not path.exists():
        return {}
    m = json.loads(path.read_text())
    return {k: m.get(k) for k in ("step", "wall_s", "val_global", "global")}


def _with_train_record(metrics: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """``metrics`` with the run's ``train`` record added when it lacks one (runs made elsewhere, linked in)."""
    return metrics if "train" in metrics else dict(metrics, train=_train_record(run_dir))


def _write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    from clinvla_kit.commands.evaluate import json_safe

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(json_safe(dict(metrics)), indent=2) + "\n")


def collect_runs(out_dir: str | Path, variants: Sequence[Variant]) -> dict[str, list[dict[str, Any]]]:
    """Every finished ``out_dir/<slug>/seed<k>/metrics.json`` of these variants, in seed order (variants with none
    are left out): the table of whatever has been run, e.g. ``full`` with three seeds beside one-seed variants."""
    out_dir = Path(out_dir)
    runs: dict[str, list[dict[str, Any]]] = {}
    for v in variants:
        found = sorted((int(p.parent.name[4:]), p) for p in (out_dir / v.slug).glob("seed*/metrics.json")
                       if p.parent.name[4:].isdigit())
        if found:
            runs[v.slug] = [_with_train_record(json.loads(p.read_text()), p.parent) for _, p in found]
    return runs


SHIPPED_RESULT = Path(__file__).with_name("ablation_result.json")
"""The Table 6 measured on SynthCXR (``clinvla-kit ablate``'s ``ablation.json``, command in ``bench/RESULTS.md``)."""


def load_ablation_result(path: str | Path | None = None,
                         metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, Any]:
    """A finished ablation's ``ablation.json`` (default: the committed SynthCXR result) with its summary recomputed
    from the per-seed runs it holds, so the table always follows this module's noise rule.

    Returns: the record with ``runs`` (slug -> metrics dicts), ``summary`` (``summarize``), ``chance`` (metric ->
    chance level of the data it was measured on), ``training`` (steps and wall clock per run).
    """
    path = Path(path) if path is not None else SHIPPED_RESULT
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ablation result (run `clinvla-kit ablate --data DIR --out OUT`, "
                                "then pass OUT/ablation.json)")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(record.get("runs"), dict) or "full" not in record["runs"]:
        raise ValueError(f"{path}: field 'runs' must map variant slugs (including 'full') to metrics lists; "
                         "it was written by an older `clinvla-kit ablate` — summarise again with --summarize-only")
    return dict(record, summary=summarize(record["runs"], metrics))
