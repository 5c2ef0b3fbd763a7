"""The report-style degradation experiment (Ko et al. 2025) at CPU scale, as one function (``clinvla-kit style-shift``).

The paper's claim: adding another hospital's abbreviation-rich reports to training plateaus or degrades image-text
alignment with a general text encoder, and a text encoder adapted to report styles (masked token prediction +
supervised contrastive learning on equivalent variants) reduces that degradation. The experiment:

1. SynthCXR site A and site B (``--site B``: other patients, telegraphic impression-only reports, same images'
   look), and a merged training directory A + B-train (``site_b.merge_sites``; B's test patients stay out);
2. the adapted text encoder: ``pretrain_text`` on both sites' training variants, starting from the shipped MiniLM;
3. alignment (preset ``tiny``, frozen cached text tower) on A and on A+B, with the base and the adapted encoder,
   for each seed; reports are read without the kit's abbreviation expander (``data.expand_abbreviations=false``),
   as the paper's encoders read them (the expander would undo most of site B's style);
4. image-to-report instance retrieval R@1/5/10 on a fixed subset of A's and of B's test studies, and the paired
   change (A+B minus A, same queries) with a bootstrap interval over queries pooled over seeds; the text
   benchmarks (``text_tasks``) of the base and the adapted encoder on both sites.
Finished steps are reused on a re-run (the directories are the cache), so a second seed adds only its runs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.eval.bootstrap import mean_with_ci

KS = (1, 5, 10)


@dataclass(frozen=True)
class StyleShiftCfg:
    studies: int = 400  # archive studies per site
    image_size: int = 64
    data_seed: int = 0
    seeds: tuple[int, ...] = (0, 1)
    steps: int = 200  # alignment steps per run
    text_steps: int = 60  # pretrain-text steps
    text_batch: int = 8
    preset: str = "tiny"
    overrides: tuple[str, ...] = ("data.expand_abbreviations=false",)
    eval_studies: int = 150  # test studies per site for instance retrieval (the same for every run)
    text_eval_studies: int = 80  # test studies per site for the text benchmarks
    n_boot: int = 500
    workers: int = 2


def prepare_data(out: Path, cfg: StyleShiftCfg) -> dict[str, Path]:
    from clinvla_kit.synth.generate import generate
    from clinvla_kit.synth.site_b import merge_sites

    dirs = {"A": out / "site_a", "B": out / "site_b", "A+B": out / "site_ab"}
    for site in ("A", "B"):
        if not (dirs[site] / "report_variants.jsonl").is_file():
            generate(dirs[site], cfg.studies, cfg.data_seed, image_size=cfg.image_size, workers=cfg.workers, site=site)
    if not (dirs["A+B"] / "mimic-cxr-2.0.0-split.csv").is_file():
        merge_sites(dirs["A"], dirs["B"], dirs["A+B"])
    return dirs


def adapted_encoder(out: Path, dirs: dict[str, Path], cfg: StyleShiftCfg, progress: bool) -> Path:
    from clinvla_kit.train.pretrain_text import PretrainTextCfg, pretrain_text

    path = out / "text_adapted"
    if not (path / "config.json").is_file():
        pretrain_text([dirs["A"], dirs["B"]], path, PretrainTextCfg(max_steps=cfg.text_steps,
                                                                    batch_size=cfg.text_batch, max_tokens=96),
                      progress=progress)
    return path


def _test_subset(data_dir: Path, n: int, seed: int) -> list:
    from clinvla_kit.data.sources.mimic import load_mimic

    recs = sorted(load_mimic(data_dir, splits=["test"]), key=lambda r: int(r.study_id))
    if len(recs) > n:
        keep = np.random.default_rng([seed, 21]).choice(len(recs), size=n, replace=False)
        recs = [recs[i] for i in sorted(keep)]
    return recs


def instance_per_query(run_dir: Path, recs: list) -> dict[str, np.ndarray]:
    """Image-to-report R@k per test study (frontal image vs all subset reports, cleaned as the run trained)."""
    from clinvla_kit.eval.embed import Embedder
    from clinvla_kit.eval.retrieval import recall_at_k_per_query

    emb = Embedder.from_run(run_dir, cache_dir=None, progress=False, batch_size=32)
    img = emb.images(recs, views="frontal")
    txt = emb.texts([emb.clean(r.report, i) for i, r in enumerate(recs)], clean=False)
    return recall_at_k_per_query(img @ txt.T, list(KS))


def _train_run(cfg: StyleShiftCfg, text: str, data_dir: Path, run_dir: Path, seed: int) -> None:
    from clinvla_kit.config import apply_overrides, load_preset
    from clinvla_kit.train.align import train

    if (run_dir / "model.safetensors").is_file():
        return
    rc = apply_overrides(load_preset(cfg.preset), [*cfg.overrides, f"model.text.name_or_path={text}",
                                                    f"train.seed={seed}", "train.log_every=50"])
    train(rc, data_dir, run_dir, max_steps=cfg.steps)


def _stat(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"), "seeds": len(v)}


def run_style_shift(out: str | Path, cfg: StyleShiftCfg = StyleShiftCfg(), progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the whole experiment under ``out``; writes ``style_shift.json`` and ``style_shift.md``."""
    from clinvla_kit.eval.text_tasks import TextEncoderEmbedder, load_subset, task_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = prepare_data(out, cfg)
    encoders = {"base": "minilm", "adapted": str(adapted_encoder(out, dirs, cfg, progress))}
    subsets = {s: _test_subset(dirs[s], cfg.eval_studies, cfg.data_seed) for s in ("A", "B")}
    per_query: dict[tuple[str, str, int, str], dict[str, np.ndarray]] = {}
    for enc, text in encoders.items():
        for train_set in ("A", "A+B"):
            for seed in cfg.seeds:
                run_dir = out / "runs" / f"{enc}_{train_set.replace('+', '')}" / f"seed{seed}"
                if progress:
                    print(f"style-shift: {enc} encoder, train on {train_set}, seed {seed}", flush=True)
                _train_run(cfg, text, dirs[train_set], run_dir, seed)
                for site in ("A", "B"):
                    per_query[(enc, train_set, seed, site)] = instance_per_query(run_dir, subsets[site])
    results: dict[str, Any] = {"config": dataclasses.asdict(cfg), "retrieval": {}, "change": {}, "text": {}}
    for enc in encoders:
        for train_set in ("A", "A+B"):
            for site in ("A", "B"):
                key = f"{enc}|{train_set}|{site}"
                pooled = {m: np.concatenate([per_query[(enc, train_set, s, site)][m] for s in cfg.seeds])
                          for m in (f"R@{k}" for k in KS)}
                res = mean_with_ci(pooled, cfg.n_boot, 0)
                for m in pooled:
                    res[f"{m}_seeds"] = _stat([float(per_query[(enc, train_set, s, site)][m].mean())
                                               for s in cfg.seeds])
                res["n_queries"] = len(subsets[site])
                results["retrieval"][key] = res
            # the change from adding site B, paired on the same queries (and seed)
        for site in ("A", "B"):
            diff = {m: np.concatenate([per_query[(enc, "A+B", s, site)][m] - per_query[(enc, "A", s, site)][m]
                                       for s in cfg.seeds]) for m in (f"R@{k}" for k in KS)}
            res = mean_with_ci(diff, cfg.n_boot, 0)
            for m in diff:
                res[f"{m}_seeds"] = _stat([float((per_query[(enc, "A+B", s, site)][m]
                                                  - per_query[(enc, "A", s, site)][m]).mean()) for s in cfg.seeds])
            results["change"][f"{enc}|{site}"] = res
    for enc, text in encoders.items():
        emb = TextEncoderEmbedder(text)
        for site in ("A", "B"):
            results["text"][f"{enc}|{site}"] = task_text(emb, None, n_boot=cfg.n_boot, seed=0,
                                                         preloaded=load_subset(dirs[site], cfg.text_eval_studies))
    (out / "style_shift.json").write_text(json.dumps(_safe(results), indent=2) + "\n")
    (out / "style_shift.md").write_text(style_shift_table(results))
    return results


def _safe(obj):
    from clinvla_kit.commands.evaluate import json_safe

    return json_safe(obj)


def _pct(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def style_shift_table(results: dict[str, Any]) -> str:
    """Markdown: retrieval per encoder x training set x test site, the paired changes, the text benchmarks."""
    lines = ["| text encoder | trained on | site A R@1 / R@5 / R@10 | site B R@1 / R@5 / R@10 |", "|---|---|---|---|"]
    for key in sorted({k.rsplit("|", 1)[0] for k in results["retrieval"]}, key=lambda k: (k.split("|")[0] != "base", k)):
        enc, ts = key.split("|")
        cells = []
        for site in ("A", "B"):
            r = results["retrieval"][f"{key}|{site}"]
            cells.append(" / ".join(f"{_pct(r[f'R@{k}'])} ± {_pct(r[f'R@{k}_seeds']['sd'])}" for k in KS))
        lines.append(f"| {enc} | {ts} | {cells[0]} | {cells[1]} |")
    n = next(iter(results["retrieval"].values()))
    lines += ["", (f"Values in %, mean over seeds ± sample sd over seeds; {n['n_queries']} test studies per site "
                   f"(chance R@10 = {_pct(10 / n['n_queries'])} %)."), "",
              "| text encoder | change from adding site B, on | R@1 [95% CI] | R@5 [95% CI] | R@10 [95% CI] | R@10 per seed |",
              "|---|---|---|---|---|---|"]
    for key, r in sorted(results["change"].items(), key=lambda kv: (kv[0].split("|")[0] != "base", kv[0])):
        enc, site = key.split("|")
        cells = [f"{_pct(r[f'R@{k}'])} [{_pct(r[f'R@{k}_ci95'][0])}, {_pct(r[f'R@{k}_ci95'][1])}]" for k in KS]
        lines.append(f"| {enc} | site {site} test | {' | '.join(cells)} | sd {_pct(r['R@10_seeds']['sd'])} |")
    lines += ["", ("Change = (A+B run) - (A run) on the same queries and seed, in points; interval: bootstrap over "
                   "queries pooled over seeds."), "",
              ("| text encoder | site | acronym R@1 | acronym R@10 | error discrimination acc (chance 25) | "
               "summarisation R@1 |"), "|---|---|---|---|---|---|"]
    for key, t in sorted(results["text"].items(), key=lambda kv: (kv[0].split("|")[0] != "base", kv[0])):
        enc, site = key.split("|")
        a, e, s = t["acronym_retrieval"], t["error_discrimination_text"], t["summarisation_retrieval"]
        ci = e.get("acc_ci95", [None, None])
        lines.append(f"| {enc} | {site} | {_pct(a.get('R@1'))} | {_pct(a.get('R@10'))} | {_pct(e.get('acc'))} "
                     f"[{_pct(ci[0])}, {_pct(ci[1])}] | {_pct(s.get('R@1')) if 'R@1' in s else 'n/a (no FINDINGS)'} |")
    return "\n".join(lines) + "\n"
