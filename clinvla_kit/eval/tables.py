"""Tables and example picks for the evaluation notebooks (04 retrieval and zero-shot, 08 ablations and complexity).

Each function turns what the evaluation modules already compute (``metrics.json`` dicts, ablation summaries,
``ComplexityRow``s, an ``Embedder``) into a ``pandas.DataFrame`` or a small list of examples, so a notebook shows or
saves it in one call and holds no logic of its own. Values stay fractions in [0, 1] (the ``metrics.json``
convention); formatting as percentages is the reader's choice.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.eval.chance import AUC_CHANCE, chance_verdict, constant_positive_f1, majority_chance
from clinvla_kit.eval.report import TABLE_LAYOUT, get_path

RETRIEVAL_GROUPS: tuple[tuple[str, str], ...] = tuple(
    (title, group) for title, group, _ in TABLE_LAYOUT if group.startswith("retrieval."))
"""(title, metric group) of the paper's Table 3 retrieval rows."""


def _ci(node: Mapping[str, Any], name: str) -> tuple[float, float]:
    ci = node.get(f"{name}_ci95")
    if not ci or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return float("nan"), float("nan")
    return float(ci[0]), float(ci[1])


def retrieval_frame(metrics: Mapping[str, Any], chance: Mapping[str, float] | None = None):
    """P@k rows of a ``metrics.json`` dict: ``task``, ``metric``, ``value``, ``ci_lo``, ``ci_hi``, ``chance``
    (fractions) and ``vs_chance`` (``eval.chance.chance_verdict``: does the interval include chance?).

    ``chance``: dotted metric path -> chance level (``eval.chance.benchmark_chance``); defaults to
    ``metrics["chance"]``; a metric without one gets NaN and "n/a". Only the paper's Table 3 groups
    (img2img/txt2img on 8x200, img2txt on 5x200) are listed, each metric in the order of ``TABLE_LAYOUT``; a group
    missing from ``metrics`` (benchmark not found) gives no rows.
    """
    import pandas as pd

    chance = chance if chance is not None else (metrics.get("chance") or {})
    rows = []
    for title, group, names in TABLE_LAYOUT:
        if not group.startswith("retrieval."):
            continue
        node = get_path(metrics, group)
        if not isinstance(node, Mapping):
            continue
        for name in names:
            if node.get(name) is None:
                continue
            lo, hi = _ci(node, name)
            ch = chance.get(f"{group}.{name}")
            rows.append({"task": title, "metric": name, "value": float(node[name]), "ci_lo": lo, "ci_hi": hi,
                         "chance": float("nan") if ch is None else float(ch),
                         "vs_chance": chance_verdict(float(node[name]), (lo, hi), ch)})
    return pd.DataFrame(rows, columns=["task", "metric", "value", "ci_lo", "ci_hi", "chance", "vs_chance"])


def pneumonia_protocols(emb: Any, data_dir: str | Path, methods: Sequence[str] | None = None,
                        splits: Sequence[str] = ("test_list", "gloria"), n_boot: int = 200, seed: int = 0):
    """Zero-shot pneumonia (RSNA) under every threshold method and both test splits, side by side.

    Why: ACC and F1 of a zero-shot binary task depend on how the threshold is chosen (``argmax`` of the two prompts,
    a ``fixed`` 0.5, or cross-validated for accuracy or F1) and on which test split is used; AUC does not depend on
    the threshold. Papers mix these choices, so the notebook shows them together.

    Returns:
        DataFrame with ``split``, ``threshold``, ``n``, ``positives``, ``auc``, ``acc``, ``f1`` (+ ``*_lo``/``*_hi``
        95% bootstrap bounds, ``*_chance``: the split's chance level, ``eval.chance``, and ``*_vs_chance``: whether
        the interval includes it) and ``note``: a split that cannot be evaluated (e.g. no test images) gets a row with
        NaNs and the error text in ``note`` rather than disappearing.
    """
    import pandas as pd

    from clinvla_kit.eval.tasks import benchmark_paths, task_rsna
    from clinvla_kit.eval.zeroshot import THRESHOLD_METHODS

    methods = list(methods or THRESHOLD_METHODS)
    unknown = sorted(set(methods) - set(THRESHOLD_METHODS))
    if unknown:
        raise ValueError(f"unknown threshold method(s) {unknown}; choose from {THRESHOLD_METHODS}")
    paths = benchmark_paths(data_dir)
    if "rsna" not in paths or not Path(paths["rsna"]).exists():
        raise FileNotFoundError(f"{data_dir}: no RSNA benchmark (expected {paths.get('rsna')})")
    rows = []
    for split in splits:
        for method in methods:
            row: dict[str, Any] = {"split": split, "threshold": method, "note": ""}
            try:
                res = task_rsna(emb, paths, split=split, threshold=method, n_boot=n_boot, seed=seed)
            except ValueError as e:
                row.update({"n": 0, "positives": 0, "note": str(e)})
                rows.append(row)
                continue
            row.update({"n": res["n"], "positives": res["positives"]})
            y = [1] * res["positives"] + [0] * (res["n"] - res["positives"])
            levels = {"auc": AUC_CHANCE, "acc": majority_chance(y), "f1": constant_positive_f1(y)}
            for name in ("auc", "acc", "f1"):
                lo, hi = _ci(res, name)
                row.update({name: float(res[name]), f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_chance": levels[name],
                            f"{name}_vs_chance": chance_verdict(float(res[name]), (lo, hi), levels[name])})
            rows.append(row)
    cols = ["split", "threshold", "n", "positives"]
    cols += [f"{m}{s}" for m in ("auc", "acc", "f1") for s in ("", "_lo", "_hi", "_chance", "_vs_chance")]
    cols += ["note"]
    return pd.DataFrame(rows).reindex(columns=cols)


def _top(sim_row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, ties by ascending index (the retrieval module's tie rule)."""
    return np.argsort(-sim_row, kind="stable")[:k]


def text_to_image_examples(emb: Any, data_dir: str | Path, n_queries: int = 3, k: int = 4) -> list[dict[str, Any]]:
    """Qualitative text-to-image retrieval on the 8x200 set (the paper's Figure 3).

    One text query per class (the first ``n_queries`` classes in the query file's order), each with its top ``k``
    candidate images. Returns ``[{"query", "label", "hits": [{"path", "label", "score", "correct"}]}]``.
    """
    from clinvla_kit.data.sources.benchmarks import load_chexpert_8x200
    from clinvla_kit.eval.tasks import benchmark_paths

    paths = benchmark_paths(data_dir)
    _, cands, texts = load_chexpert_8x200(paths["8x200"], image_root=paths["root"])
    c = emb.images(list(cands["path"]), views="frontal")
    picks = texts.drop_duplicates("label").head(n_queries)
    t = emb.texts(list(picks["text"]), clean=True)
    out = []
    for (_, q), sim in zip(picks.iterrows(), t @ c.T):
        hits = [{"path": str(cands["path"].iloc[j]), "label": str(cands["label"].iloc[j]), "score": float(sim[j]),
                 "correct": bool(cands["label"].iloc[j] == q["label"])} for j in _top(sim, k)]
        out.append({"query": str(q["text"]), "label": str(q["label"]), "hits": hits})
    return out


def image_to_text_examples(emb: Any, data_dir: str | Path, n_queries: int = 3, k: int = 3) -> list[dict[str, Any]]:
    """Qualitative image-to-text retrieval on the 5x200 set (the paper's Figure 4).

    One image per class (first ``n_queries`` classes), each with its top ``k`` reports among all the set's reports.
    Returns ``[{"path", "label", "hits": [{"report", "label", "score", "correct", "own"}]}]``; ``own`` marks the
    query image's own report.
    """
    from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200
    from clinvla_kit.eval.tasks import benchmark_paths

    paths = benchmark_paths(data_dir)
    df = load_chexpert_5x200(paths["5x200"], image_root=paths["root"])
    rep = emb.texts(list(df["report"]), clean=True)
    picks = df.drop_duplicates("label").head(n_queries)
    img = emb.images(list(picks["path"]), views="frontal")
    out = []
    for (qi, q), sim in zip(picks.iterrows(), img @ rep.T):
        hits = [{"report": str(df["report"].iloc[j]), "label": str(df["label"].iloc[j]), "score": float(sim[j]),
                 "correct": bool(df["label"].iloc[j] == q["label"]), "own": bool(j == qi)} for j in _top(sim, k)]
        out.append({"path": str(q["path"]), "label": str(q["label"]), "hits": hits})
    return out


def ablation_frame(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]):
    """Long table of an ablation summary (``eval.ablation.summarize``): one row per variant and metric with
    ``mean``, ``std``, ``n`` (seeds), ``delta`` (vs ``full``, NaN for full itself) and ``meaningful`` (the noise
    rule of ``eval.ablation.delta_vs_full``)."""
    import pandas as pd

    from clinvla_kit.eval.ablation import VARIANT_BY_SLUG, delta_vs_full

    full = summary.get("full")
    rows = []
    for slug, stats in summary.items():
        label = VARIANT_BY_SLUG[slug].label if slug in VARIANT_BY_SLUG else slug
        for metric, s in stats.items():
            delta, ok = (float("nan"), False)
            if full is not None and slug != "full" and metric in full:
                delta, ok = delta_vs_full(full[metric], s)
            rows.append({"variant": slug, "label": label, "metric": metric, "mean": s["mean"], "std": s["std"],
                         "n": s["n"], "delta": delta, "meaningful": ok})
    return pd.DataFrame(rows, columns=["variant", "label", "metric", "mean", "std", "n", "delta", "meaningful"])


def complexity_frame(rows: Sequence[Any]):
    """DataFrame of ``eval.complexity.ComplexityRow``s (one row each, the dataclass fields as columns)."""
    import pandas as pd

    if not rows:
        raise ValueError("complexity_frame: no rows given")
    return pd.DataFrame([dataclasses.asdict(r) for r in rows])


def ablation_vs_paper(runs: Mapping[str, Sequence[Mapping[str, Any]]], summary: Mapping[str, Mapping[str, Any]],
                      chance: Mapping[str, float], metrics: Sequence[str] | None = None):
    """Our Table 6 beside the paper's: one row per (variant, metric) with our mean over seeds, our delta against
    ``full`` (and the noise rule), the paper's delta for that row and column (``eval.published.TABLE6_DELTAS``, cited
    as "Table 6, row ..."), whether the signs agree, and the metric's chance level with ``vs_chance``.

    Args:
        runs: ``run_ablation``'s slug -> metrics dicts (seed order), for the per-seed bootstrap intervals.
        summary: ``eval.ablation.summarize`` of the same runs.
        chance: dotted metric path -> chance level (``eval.chance.benchmark_chance``).
        metrics: metric paths (default: every metric of ``summary['full']``).
    ``vs_chance``: the verdict of each seed's interval (``eval.chance.chance_verdict``) when all seeds agree,
    "mixed across seeds" otherwise. ``same_sign``: our delta and the paper's point the same way (None when either
    is missing or ours is within noise; a paper delta of 0.0 has no direction).
    """
    import pandas as pd

    from clinvla_kit.eval.ablation import VARIANT_BY_SLUG, delta_vs_full
    from clinvla_kit.eval.published import TABLE6_ROWS, paper_delta

    full = summary.get("full", {})
    metrics = list(metrics or full.keys())
    rows = []
    for slug, stats in summary.items():
        for metric in metrics:
            if metric not in stats:
                continue
            s = stats[metric]
            delta, ok = (float("nan"), False)
            if slug != "full" and metric in full:
                delta, ok = delta_vs_full(full[metric], s)
            group, _, name = metric.rpartition(".")
            verdicts = set()
            for m in runs.get(slug, []):
                node = get_path(m, group) or {}
                verdicts.add(chance_verdict(node.get(name), node.get(f"{name}_ci95"), chance.get(metric)))
            vs = verdicts.pop() if len(verdicts) == 1 else ("mixed across seeds" if verdicts else "n/a")
            pd_ = paper_delta(slug, metric)
            same = None
            if pd_ is not None and pd_.delta != 0 and ok and not math.isnan(delta):
                same = bool((delta < 0) == (pd_.delta < 0))
            rows.append({"variant": slug, "label": VARIANT_BY_SLUG[slug].label if slug in VARIANT_BY_SLUG else slug,
                         "metric": metric, "mean": s["mean"], "std": s["std"], "seeds": s["n"],
                         "chance": chance.get(metric, float("nan")), "vs_chance": vs, "delta": delta,
                         "meaningful": ok, "paper_delta": float("nan") if pd_ is None else pd_.delta,
                         "paper_source": f"Table 6, row '{TABLE6_ROWS[slug]}'" + (f" ({pd_.note})" if pd_.note else "")
                         if pd_ is not None else "", "same_sign": same})
    return pd.DataFrame(rows, columns=["variant", "label", "metric", "mean", "std", "seeds", "chance", "vs_chance",
                                       "delta", "meaningful", "paper_delta", "paper_source", "same_sign"])


def ablation_training_frame(runs: Mapping[str, Sequence[Mapping[str, Any]]]):
    """One row per variant and seed of an ablation: steps, alignment wall clock and validation InfoNCE (the
    ``train`` record ``run_ablation`` saves beside each run's metrics), so "the same wall clock" can be checked."""
    import pandas as pd

    from clinvla_kit.eval.ablation import VARIANT_BY_SLUG

    rows = []
    for slug, per_seed in runs.items():
        label = VARIANT_BY_SLUG[slug].label if slug in VARIANT_BY_SLUG else slug
        for i, m in enumerate(per_seed):
            t = m.get("train") or {}
            rows.append({"variant": slug, "label": label, "run": i, "steps": t.get("step"),
                         "wall_s": t.get("wall_s"), "val_infonce": t.get("val_global")})
    return pd.DataFrame(rows, columns=["variant", "label", "run", "steps", "wall_s", "val_infonce"])
