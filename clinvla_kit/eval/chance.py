"""Chance levels of the benchmark metrics, and the one sentence every notebook prints beside a metric.

A metric means something only against what a model that learned nothing would score. The levels here are computed
from the evaluated data, never assumed:

- P@k with label relevance (``label_match_chance``): a uniformly random ranking puts, in expectation, the share of
  candidates with the query's label into every top-k, so chance is that share averaged over queries (12.5 % on a
  balanced 8-class pool, 20 % on 5 classes; different when the pool is not balanced);
- accuracy (``majority_chance``): the best constant guess, the share of the most common class (>= 1/C, so a model
  must beat guessing the majority, not only uniform guessing);
- F1 of a binary task (``constant_positive_f1``): calling every image positive gives recall 1 and precision p, so
  F1 = 2p / (1 + p); a threshold chosen for F1 can always fall back to it;
- AUC: 0.5 (a random score ranks a positive above a negative half the time);
- R@k of instance retrieval: k / N.

``chance_verdict`` says whether the bootstrap interval lies above, below or around the chance level, and
``versus_chance`` writes the line a notebook prints (``"P@5 61.2 % [58.0, 64.1]; chance 12.5 %: above chance
(interval excludes it)"``). The demo's per-query base rate (``clinvla_kit.demo.chance``) is the same idea for one
free-text query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

AUC_CHANCE = 0.5


def label_match_chance(query_labels: Sequence[Any], candidate_labels: Sequence[Any]) -> float:
    """Expected P@k (any k) of a uniformly random ranking: mean over queries of the share of candidates whose label
    equals the query's. ``query_labels`` [Q], ``candidate_labels`` [C] (any hashable labels)."""
    q = np.asarray(query_labels)
    c = np.asarray(candidate_labels)
    if q.size == 0 or c.size == 0:
        raise ValueError(f"need queries and candidates, got {q.size} and {c.size}")
    values, counts = np.unique(c, return_counts=True)
    share = dict(zip(values.tolist(), (counts / c.size).tolist()))
    return float(np.mean([share.get(v, 0.0) for v in q.tolist()]))


def majority_chance(labels: Sequence[Any]) -> float:
    """Accuracy of the best constant guess: the share of the most common label in ``labels`` [N]."""
    a = np.asarray(labels)
    if a.size == 0:
        raise ValueError("no labels")
    return float(np.unique(a, return_counts=True)[1].max() / a.size)


def constant_positive_f1(y: Sequence[int]) -> float:
    """F1 of calling every item positive: 2p / (1 + p) with p the positive share of ``y`` [N] (0/1); 0 without
    positives."""
    a = np.asarray(y, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no labels")
    p = float(a.mean())
    return 2 * p / (1 + p) if p > 0 else 0.0


def benchmark_chance(data_dir: str | Path, rsna_split: str = "test_list") -> dict[str, float]:
    """Chance level of every benchmark metric ``evaluate_embedder`` computes on ``data_dir``, keyed by the dotted
    ``metrics.json`` path (``"retrieval.img2img_8x200.P@5"``, ``"zeroshot.pneumonia.f1"``, ...). A benchmark whose
    files are missing gives no keys (its metric is skipped too). Same loaders and test split as the tasks."""
    from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200, load_chexpert_8x200
    from clinvla_kit.eval.tasks import benchmark_paths

    paths = benchmark_paths(data_dir)
    out: dict[str, float] = {}
    if paths["8x200"].exists():
        queries, cands, texts = load_chexpert_8x200(paths["8x200"], image_root=paths["root"])
        for group, q in (("img2img_8x200", queries), ("txt2img_8x200", texts)):
            ch = label_match_chance(q["label"].to_numpy(), cands["label"].to_numpy())
            out.update({f"retrieval.{group}.P@{k}": ch for k in (5, 10, 50)})
    if paths["5x200"].exists():
        df = load_chexpert_5x200(paths["5x200"], image_root=paths["root"])
        labels = df["label_index"].to_numpy()
        ch = label_match_chance(labels, labels)
        out.update({f"retrieval.img2txt_5x200.P@{k}": ch for k in (5, 10, 100)})
        out["zeroshot.5x200.acc"] = majority_chance(labels)
    if paths["rsna"].exists():
        from clinvla_kit.data.sources.rsna import load_rsna

        r = load_rsna(paths["rsna"], split=rsna_split)
        y = r.loc[r["split"] == "test", "target"].to_numpy().astype(np.int64)
        if y.size:
            out.update({"zeroshot.pneumonia.acc": majority_chance(y), "zeroshot.pneumonia.f1": constant_positive_f1(y),
                        "zeroshot.pneumonia.auc": AUC_CHANCE})
    return out


def _valid_ci(ci: Sequence[float] | None) -> bool:
    return (ci is not None and len(ci) == 2
            and all(c is not None and not (isinstance(c, float) and math.isnan(c)) for c in ci))


def chance_verdict(value: float | None, ci: Sequence[float] | None, chance: float | None) -> str:
    """"above chance" (interval entirely above), "below chance" (entirely below), "at chance" (the interval
    includes it), or "n/a" (no value, interval or chance level to compare)."""
    if value is None or chance is None or not _valid_ci(ci) or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    lo, hi = float(ci[0]), float(ci[1])
    if lo > chance:
        return "above chance"
    if hi < chance:
        return "below chance"
    return "at chance"


_VERDICT_TEXT = {"above chance": "above chance (interval excludes it)",
                 "below chance": "below chance (interval excludes it)",
                 "at chance": "interval includes chance (not distinguishable from a model that learned nothing)",
                 "n/a": "no interval to compare"}


def versus_chance(name: str, value: float | None, ci: Sequence[float] | None, chance: float | None,
                  percent: bool = True) -> str:
    """One printable line: the metric, its interval, its chance level and the verdict.

    ``percent`` shows fractions as percentages with one decimal (the papers' convention); False keeps three
    decimals (for ranks or similarities). Missing pieces print as "n/a" rather than disappearing.
    """
    def f(x: float | None) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "n/a"
        return f"{100 * x:.1f}" if percent else f"{x:.3f}"

    unit = " %" if percent else ""
    ci_txt = f" [{f(ci[0])}, {f(ci[1])}]" if _valid_ci(ci) else " [no interval]"
    verdict = chance_verdict(value, ci, chance)
    return f"{name} {f(value)}{unit}{ci_txt}; chance {f(chance)}{unit}: {_VERDICT_TEXT[verdict]}"


def metric_versus_chance(metrics: Mapping[str, Any], path: str, chance: Mapping[str, float],
                         name: str | None = None) -> str:
    """``versus_chance`` of the dotted ``path`` of a ``metrics.json`` dict (its ``<name>_ci95`` sibling as interval)
    against ``chance[path]``; ``name`` defaults to the path."""
    from clinvla_kit.eval.report import get_path

    group, _, metric = path.rpartition(".")
    node = get_path(metrics, group) or {}
    return versus_chance(name or path, node.get(metric), node.get(f"{metric}_ci95"), chance.get(path))


def proportion_versus_chance(name: str, successes: int, n: int, chance: float | None, n_boot: int = 1000,
                             seed: int = 0) -> str:
    """``versus_chance`` of a share ``successes / n`` (an accuracy, a P@k of one query) with its seeded bootstrap
    interval over the ``n`` items, for results that keep only the count (the item order does not matter to a
    resampled mean)."""
    from clinvla_kit.eval.bootstrap import bootstrap_ci

    if not 0 <= successes <= n or n < 1:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    v = np.array([1.0] * int(successes) + [0.0] * (int(n) - int(successes)))
    ci = bootstrap_ci(lambda idx: float(v[idx].mean()), len(v), n_boot, seed)
    return versus_chance(name, float(v.mean()), ci, chance)
