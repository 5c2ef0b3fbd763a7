"""Notebook 10's tables and figures: one study's report in every style and its wrong variants, how a text
encoder's embedding space treats the styles, and the text benchmarks side by side.

Plain functions returning a DataFrame or a matplotlib figure (nothing is drawn until the notebook shows it), so the
notebook stays one call per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clinvla_kit.eval.text_tasks import load_errors, load_variants

SHOWN_STYLES: tuple[str, ...] = ("original", "mimic", "impression", "telegraphic", "expanded", "structured")


def pick_study(data_dir: str | Path, split: str = "test") -> int:
    """The study with the most kinds of wrong variants (ties: the smallest id), to show every error type at once."""
    errors = load_errors(data_dir, split)
    if not errors:
        raise ValueError(f"{data_dir}: no {split} study has report variants")
    return min(errors, key=lambda s: (-len(errors[s]), s))


def study_styles_table(data_dir: str | Path, study_id: int | None = None, split: str = "test") -> pd.DataFrame:
    """Rows (kind, name, text): the study's report in each style, then its wrong variants (type and number)."""
    study_id = pick_study(data_dir, split) if study_id is None else int(study_id)
    variants, errors = load_variants(data_dir, split), load_errors(data_dir, split)
    if study_id not in variants:
        raise ValueError(f"{data_dir}: study {study_id} is not in the {split} split's report variants")
    rows = [{"kind": "style", "name": s, "text": " ".join(variants[study_id][s].split())}
            for s in SHOWN_STYLES if s in variants[study_id]]
    for t, texts in sorted(errors.get(study_id, {}).items()):
        if t == "none":
            continue
        rows += [{"kind": "wrong", "name": f"{t} #{i + 1}", "text": " ".join(x.split())} for i, x in enumerate(texts)]
    return pd.DataFrame(rows).assign(study_id=study_id)


def style_similarity(embedders: Mapping[str, Any], data_dir: str | Path, n_studies: int = 12,
                     styles: Sequence[str] = ("mimic", "impression", "telegraphic", "structured"),
                     split: str = "test") -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Cosine similarities of ``n_studies`` x ``styles`` variants under each encoder, and a summary table.

    Returns ({encoder: [N*S, N*S] similarity, rows ordered study-major}, DataFrame with the mean similarity of the
    same study in another style, of other studies, and their gap: a style-robust encoder has a large gap)."""
    variants = load_variants(data_dir, split)
    ids = [s for s in sorted(variants) if all(st in variants[s] for st in styles)]
    ids = [s for s in ids if len({variants[s][st] for st in styles}) == len(styles)][:n_studies]
    if len(ids) < 2:
        raise ValueError(f"{data_dir}: fewer than 2 {split} studies with all of the styles {list(styles)}")
    texts = [variants[s][st] for s in ids for st in styles]
    study = np.repeat(np.arange(len(ids)), len(styles))
    same = (study[:, None] == study[None, :]) & ~np.eye(len(texts), dtype=bool)
    other = study[:, None] != study[None, :]
    sims, rows = {}, []
    for name, emb in embedders.items():
        z = emb.texts(texts, clean=True)
        sim = z @ z.T
        sims[name] = sim
        rows.append({"encoder": name, "same study, other style": float(sim[same].mean()),
                     "other study": float(sim[other].mean()),
                     "gap": float(sim[same].mean() - sim[other].mean())})
    return sims, pd.DataFrame(rows)


def similarity_figure(sims: Mapping[str, np.ndarray], n_styles: int, panel: float = 3.6):
    """One heatmap per encoder; the blocks along the diagonal are one study's styles."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sims), figsize=(panel * len(sims), panel), squeeze=False)
    for ax, (name, sim) in zip(axes[0], sims.items()):
        im = ax.imshow(sim, vmin=-0.2, vmax=1.0, cmap="viridis")
        for k in range(0, sim.shape[0] + 1, n_styles):
            ax.axhline(k - 0.5, color="white", lw=0.4)
            ax.axvline(k - 0.5, color="white", lw=0.4)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="cosine similarity")
    return fig


def _versus(lo: float, hi: float, chance: float) -> str:
    """Where a 95 % interval [lo, hi] lies against a chance level (all fractions)."""
    return "above chance" if lo > chance else ("below chance" if hi < chance else "includes chance")


def text_benchmark_frame(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """{label: ``task_text`` or ``task_style`` result} -> one row per (label, benchmark, metric) with value, interval,
    chance (%) and ``vs chance`` ("above chance", "includes chance" or "below chance": where the interval lies)."""
    rows = []
    for label, res in results.items():
        for bench, r in res.items():
            if "skipped" in r:
                rows.append({"encoder": label, "benchmark": bench, "metric": "-", "value %": np.nan,
                             "ci95 %": r["skipped"], "chance %": np.nan, "vs chance": "-"})
                continue
            metrics = ["acc"] if "acc" in r else [k for k in ("R@1", "R@5", "R@10") if k in r]
            for m in metrics:
                chance = r["chance"] if m == "acc" else r["chance"][m]
                lo, hi = r[f"{m}_ci95"]
                rows.append({"encoder": label, "benchmark": bench, "metric": m, "value %": round(100 * r[m], 1),
                             "ci95 %": f"[{100 * lo:.1f}, {100 * hi:.1f}]", "chance %": round(100 * chance, 1),
                             "vs chance": _versus(lo, hi, chance)})
            for t, pt in r.get("per_type", {}).items():
                lo, hi = pt["acc_ci95"]
                rows.append({"encoder": label, "benchmark": f"{bench}: {t}", "metric": f"acc (n={pt['n']})",
                             "value %": round(100 * pt["acc"], 1), "ci95 %": f"[{100 * lo:.1f}, {100 * hi:.1f}]",
                             "chance %": 25.0, "vs chance": _versus(lo, hi, 0.25)})
    return pd.DataFrame(rows)


PRECOMPUTED_STYLE_SHIFT = Path(__file__).resolve().parent.parent / "eval" / "style_shift_result.json"
"""The committed result of the ``bench/RESULTS.md`` style-shift run (the command is in that section)."""


def style_shift_markdown(json_path: str | Path | None = None) -> str:
    """The degradation table of a finished ``clinvla-kit style-shift`` run (its ``style_shift.json``; default: the
    committed result ``PRECOMPUTED_STYLE_SHIFT``)."""
    import json

    from clinvla_kit.eval.style_shift import style_shift_table

    path = Path(json_path) if json_path is not None else PRECOMPUTED_STYLE_SHIFT
    if json_path is None and not path.is_file():  # a checkout without the committed result: say what to run
        return ("No precomputed style-shift result is shipped with this checkout. Run `clinvla-kit style-shift "
                "--out DIR` (about 20 CPU-minutes, see bench/RESULTS.md) and pass `style_shift_json=DIR/"
                "style_shift.json`.\n")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no style-shift result; run `clinvla-kit style-shift --out DIR` first")
    return style_shift_table(json.loads(path.read_text()))
