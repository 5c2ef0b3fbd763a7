"""Benchmark tasks: load a benchmark with the data package's loaders, embed with an ``Embedder``, score with the
pure metric functions. ``evaluate_run`` runs every task a data directory supports and returns the ``metrics.json``
dict of docs/ARCHITECTURE.md, "Contracts" (fractions in [0, 1], ``<name>_ci95`` siblings), with a note for every skipped task.

Data layout: the SynthCXR layout (``DIR/benchmarks/...``, images relative to ``DIR``) or a folder that holds the
benchmark files directly. Image paths in the CSVs are resolved by the loaders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.eval.bootstrap import bootstrap_ci, mean_with_ci
from clinvla_kit.eval.embed import Embedder
from clinvla_kit.eval.prompts import build_prompts, load_prompt_file, prompt_table
from clinvla_kit.eval.retrieval import precision_at_k_per_query, recall_at_k_per_query, true_match_ranks
from clinvla_kit.eval.zeroshot import binary_metrics, class_scores, multiclass_metrics, znormalize

DEFAULT_TASKS: tuple[str, ...] = ("8x200", "5x200", "rsna", "temporal", "instance", "probe")
TASKS: tuple[str, ...] = DEFAULT_TASKS + ("text", "style")  # report-variant benchmarks: only when asked for


def benchmark_paths(data_dir: str | Path) -> dict[str, Path]:
    """Where each benchmark lives: ``{"root", "5x200", "8x200", "rsna", "temporal"}`` (existing or not)."""
    data_dir = Path(data_dir)
    bdir = data_dir / "benchmarks" if (data_dir / "benchmarks").is_dir() else data_dir
    return {"root": data_dir, "5x200": bdir / "chexpert_5x200.csv", "8x200": bdir / "chexpert_8x200",
            "rsna": bdir / "rsna", "temporal": bdir / "temporal.csv"}


def _prompts(classes: Sequence[str], prompt_file: str | Path | None, max_per_class: int | None) -> dict[str, list[str]]:
    if prompt_file is None:
        return build_prompts(list(classes), max_per_class=max_per_class)
    user = load_prompt_file(prompt_file)
    missing = [c for c in classes if c not in user]
    if missing:
        raise ValueError(f"prompt file {prompt_file} has no prompts for class(es) {missing}")
    return {c: user[c] for c in classes}


def _prompt_embs(emb: Embedder, prompts: dict[str, list[str]]) -> list[np.ndarray]:
    flat = [p for plist in prompts.values() for p in plist]
    z = emb.texts(flat, clean=False)
    out, i = [], 0
    for plist in prompts.values():
        out.append(z[i : i + len(plist)])
        i += len(plist)
    return out


def _with_ci(per_query: dict[str, np.ndarray], n_boot: int, seed: int) -> dict[str, Any]:
    return mean_with_ci(per_query, n_boot=n_boot, seed=seed)


def task_8x200(emb: Embedder, paths: dict[str, Path], n_boot: int = 1000, seed: int = 0,
               ks: Sequence[int] = (5, 10, 50)) -> dict[str, Any]:
    """Image-to-image and text-to-image P@k on the 8x200 set (label relevance, stable tie rule)."""
    from clinvla_kit.data.sources.benchmarks import load_chexpert_8x200

    queries, cands, texts = load_chexpert_8x200(paths["8x200"], image_root=paths["root"])
    c = emb.images(list(cands["path"]), views="frontal")
    q = emb.images(list(queries["path"]), views="frontal")
    t = emb.texts(list(texts["text"]), clean=True)
    ks = [k for k in ks if k <= len(cands)]
    i2i = precision_at_k_per_query(q @ c.T, queries["label"].to_numpy(), cands["label"].to_numpy(), ks)
    t2i = precision_at_k_per_query(t @ c.T, texts["label"].to_numpy(), cands["label"].to_numpy(), ks)
    return {"img2img_8x200": _with_ci(i2i, n_boot, seed), "txt2img_8x200": _with_ci(t2i, n_boot, seed)}


def task_5x200(emb: Embedder, paths: dict[str, Path], n_boot: int = 1000, seed: int = 0,
               prompt_file: str | Path | None = None, aggregate: str = "mean", znorm: bool = False,
               max_prompts: int | None = None, ks: Sequence[int] = (5, 10, 100)) -> tuple[dict, dict]:
    """(image-to-text P@k against the 1000 reports, zero-shot 5-class accuracy with confusion matrix)."""
    from clinvla_kit.data.sources.benchmarks import CLASSES_5X200, load_chexpert_5x200

    df = load_chexpert_5x200(paths["5x200"], image_root=paths["root"])
    img = emb.images(list(df["path"]), views="frontal")
    rep = emb.texts(list(df["report"]), clean=True)
    labels = df["label_index"].to_numpy()
    ks = [k for k in ks if k <= len(df)]
    i2t = _with_ci(precision_at_k_per_query(img @ rep.T, labels, labels, ks), n_boot, seed)
    prompts = _prompts(CLASSES_5X200, prompt_file, max_prompts)
    scores = class_scores(img, _prompt_embs(emb, prompts), aggregate=aggregate)
    if znorm:
        scores = znormalize(scores)
    mc = multiclass_metrics(scores, labels)
    zs = _with_ci({"acc": mc["per_query_correct"]}, n_boot, seed)
    zs.update({"confusion": mc["confusion"], "classes": list(CLASSES_5X200), "aggregate": aggregate, "znorm": znorm,
               "prompts_per_class": {c: len(v) for c, v in prompts.items()}})
    return {"img2txt_5x200": i2t}, zs


def task_rsna(emb: Embedder, paths: dict[str, Path], split: str = "test_list", threshold: str = "cv-f1",
              n_boot: int = 1000, seed: int = 0, prompt_file: str | Path | None = None,
              aggregate: str = "mean", max_prompts: int | None = None) -> dict[str, Any]:
    """Zero-shot pneumonia vs no pneumonia on the RSNA test split: AUC and ACC/F1 with the named threshold."""
    from sklearn.metrics import f1_score, roc_auc_score

    from clinvla_kit.data.sources.rsna import load_rsna

    df = load_rsna(paths["rsna"], split=split)
    df = df[df["split"] == "test"].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"{paths['rsna']}: no test images for split {split!r}")
    img = emb.images(list(df["path"]), views="frontal")
    pair = prompt_table()["binary"]["pneumonia"]
    prompts = _prompts([pair["negative"], pair["positive"]], prompt_file, max_prompts)
    pos_neg = class_scores(img, _prompt_embs(emb, prompts), aggregate=aggregate)  # columns (negative, positive)
    y = df["target"].to_numpy().astype(np.int64)
    res = binary_metrics(pos_neg, y, threshold=threshold, seed=seed)
    pred, score = res["pred"], res["score"]
    out: dict[str, Any] = {"auc": res["auc"], "acc": res["acc"], "f1": res["f1"]}
    # Intervals resample images with the predictions held fixed (the threshold is not re-chosen per resample).
    both = lambda idx: roc_auc_score(y[idx], score[idx]) if len(np.unique(y[idx])) == 2 else float("nan")
    out["auc_ci95"] = list(bootstrap_ci(both, len(y), n_boot, seed))
    out["acc_ci95"] = list(bootstrap_ci(lambda idx: float((pred[idx] == y[idx]).mean()), len(y), n_boot, seed))
    out["f1_ci95"] = list(bootstrap_ci(lambda idx: float(f1_score(y[idx], pred[idx], zero_division=0.0)),
                                       len(y), n_boot, seed))
    out.update({"threshold_method": threshold, "split": split, "n": len(y), "positives": int(y.sum())})
    return out


def task_temporal(emb: Embedder, paths: dict[str, Path], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Progression (improving/stable/worsening) zero-shot by the difference method, and a cross-validated probe.

    Also the "joint" method: the current image in the frontal slot and the prior in the prior-frontal slot, encoded
    together (the temporal tower), scored against change prompts ("worsening pleural effusion").
    """
    from clinvla_kit.data.sources.ms_cxr import load_ms_cxr_t
    from clinvla_kit.eval.prompts import temporal_prompts
    from clinvla_kit.eval.temporal import (
        difference_scores,
        joint_scores,
        label_ids,
        progression_delta,
        temporal_probe_cv,
    )

    df = load_ms_cxr_t(paths["temporal"], image_root=paths["root"])
    if df.empty:
        raise ValueError(f"{paths['temporal']}: no labelled pairs")
    cur = emb.images(list(df["path"]), views="frontal")
    pri = emb.images(list(df["prior_path"]), views="frontal")
    names = [f.replace("_", " ") for f in df["finding"]]
    uniq = sorted(set(names))
    fz = dict(zip(uniq, emb.texts(uniq, clean=False)))
    delta = progression_delta(cur, pri, np.stack([fz[n] for n in names]))
    scores, band = difference_scores(delta)
    y = label_ids(df["label"])
    correct = (scores.argmax(axis=1) == y).astype(np.float64)
    out: dict[str, Any] = {"zeroshot": {**_with_ci({"acc": correct}, n_boot, seed), "method": "difference",
                                        "band": band, "n": len(y)}}
    pairs = emb.images([[c, None, p, None] for c, p in zip(df["path"], df["prior_path"])], views="all")
    change = {n: _prompt_embs(emb, temporal_prompts(n)) for n in uniq}
    joint = (joint_scores(pairs, names, change).argmax(axis=1) == y).astype(np.float64)
    out["zeroshot_joint"] = {**_with_ci({"acc": joint}, n_boot, seed), "method": "joint", "n": len(y)}
    try:
        out["probe"] = temporal_probe_cv(cur, pri, y, seed=seed)
    except ValueError as e:
        out["probe"] = {"skipped": str(e)}
    return out


def instance_test_records(root: str | Path, seed: int = 0, max_studies: int | None = 1000) -> list:
    """The test-split studies instance retrieval uses: all of them, or ``max_studies`` drawn with ``seed`` (kept in
    archive order), so other analyses (``eval.instance_ceiling``) can score the very same pool."""
    from clinvla_kit.data.sources.mimic import load_mimic

    recs = list(load_mimic(root, splits=["test"]))
    if max_studies is not None and len(recs) > max_studies:
        keep = np.random.default_rng(seed).choice(len(recs), size=max_studies, replace=False)
        recs = [recs[i] for i in sorted(keep)]
    return recs


def task_instance(emb: Embedder, paths: dict[str, Path], views: str = "all", n_boot: int = 1000, seed: int = 0,
                  max_studies: int | None = 1000, ks: Sequence[int] = (1, 5, 10)) -> dict[str, Any]:
    """CXR-CLIP-style instance retrieval on the archive's test split: each study's own report is its only match.

    Returns ``{"instance_img2txt": {...}, "instance_txt2img": {...}}`` with R@k, mean and median rank (+ intervals).
    Studies whose report is empty after cleaning are left out (and counted), not silently kept.
    """
    from clinvla_kit.data.errors import DataError

    recs = instance_test_records(paths["root"], seed, max_studies)
    texts, kept, dropped = [], [], 0
    for i, r in enumerate(recs):
        try:
            texts.append(emb.clean(r.report, i))
            kept.append(r)
        except DataError:
            dropped += 1
    if len(kept) < 2:
        raise ValueError(f"{paths['root']}: fewer than 2 test studies with a report")
    img = emb.images(kept, views=views)
    txt = emb.texts(texts, clean=False)
    out: dict[str, Any] = {}
    for name, sim in (("instance_img2txt", img @ txt.T), ("instance_txt2img", txt @ img.T)):
        per_q = recall_at_k_per_query(sim, [k for k in ks if k <= len(kept)])
        ranks = true_match_ranks(sim).astype(np.float64)
        res = _with_ci({**per_q, "mean_rank": ranks}, n_boot, seed)
        res["median_rank"] = float(np.median(ranks))
        res["median_rank_ci95"] = list(bootstrap_ci(lambda idx, r=ranks: float(np.median(r[idx])), len(ranks),
                                                    n_boot, seed))
        res.update({"n": len(kept), "dropped_empty_reports": dropped, "views": views})
        out[name] = res
    return out


def task_probe(emb: Embedder, paths: dict[str, Path], views: str = "all", seed: int = 0,
               max_train: int | None = 2000) -> dict[str, Any]:
    """Linear probe on the MIMIC-format archive: train split -> test split, 1% / 10% / 100% of the labels."""
    from clinvla_kit.data.records import CHEXPERT_LABELS
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.eval.probe import probe_at_fractions

    train = list(load_mimic(paths["root"], splits=["train"]))
    test = list(load_mimic(paths["root"], splits=["test"]))
    if max_train is not None and len(train) > max_train:
        keep = np.random.default_rng(seed).choice(len(train), size=max_train, replace=False)
        train = [train[i] for i in sorted(keep)]
    if not train or not test:
        raise ValueError(f"{paths['root']}: the probe needs train and test studies")

    def labels(recs):
        return np.array([[np.nan if r.labels.get(n) is None else float(r.labels[n]) for n in CHEXPERT_LABELS]
                         for r in recs])

    xtr, xte = emb.images(train, views=views), emb.images(test, views=views)
    res = probe_at_fractions(xtr, labels(train), xte, labels(test), label_names=CHEXPERT_LABELS, seed=seed)
    return res


def evaluate_embedder(emb: Embedder, data_dir: str | Path, tasks: Sequence[str] | None = None,
                      threshold: str = "cv-f1", rsna_split: str = "test_list", n_boot: int = 1000, seed: int = 0,
                      prompt_file: str | Path | None = None, aggregate: str = "mean", znorm: bool = False,
                      archive_views: str = "all", max_prompts: int | None = None) -> dict[str, Any]:
    """Every requested task the data directory supports -> metrics dict (missing benchmarks become notes)."""
    paths = benchmark_paths(data_dir)
    tasks = list(tasks or DEFAULT_TASKS)
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; choose from {TASKS}")
    metrics: dict[str, Any] = {"retrieval": {}, "zeroshot": {}, "notes": [],
                               "protocol": {"threshold": threshold, "rsna_split": rsna_split, "n_boot": n_boot,
                                            "seed": seed, "aggregate": aggregate, "znorm": znorm,
                                            "prompts": str(prompt_file) if prompt_file else "kit templates",
                                            "max_prompts_per_class": max_prompts,
                                            "benchmark_views": "frontal", "archive_views": archive_views,
                                            "tie_rule": "descending similarity, ties by ascending candidate index"}}
    need = {"8x200": "8x200", "5x200": "5x200", "rsna": "rsna", "temporal": "temporal"}
    for task in tasks:
        where = paths.get(need.get(task, "root"))
        if task in ("probe", "instance"):
            if not any(paths["root"].glob("mimic-cxr-2.0.0-metadata.csv*")):
                metrics["notes"].append(f"{task} skipped: no mimic-cxr-2.0.0-metadata.csv in {paths['root']}")
                continue
        elif where is None or not where.exists():
            metrics["notes"].append(f"{task} skipped: {where} not found")
            continue
        if task == "8x200":
            metrics["retrieval"].update(task_8x200(emb, paths, n_boot, seed))
        elif task == "5x200":
            i2t, zs = task_5x200(emb, paths, n_boot, seed, prompt_file, aggregate, znorm, max_prompts)
            metrics["retrieval"].update(i2t)
            metrics["zeroshot"]["5x200"] = zs
        elif task == "rsna":
            metrics["zeroshot"]["pneumonia"] = task_rsna(emb, paths, rsna_split, threshold, n_boot, seed, prompt_file,
                                                         aggregate, max_prompts)
        elif task == "temporal":
            t = task_temporal(emb, paths, n_boot, seed)
            metrics["zeroshot"]["temporal"] = t["zeroshot"]
            metrics["zeroshot"]["temporal_joint"] = t["zeroshot_joint"]
            metrics["probe_temporal"] = t["probe"]
        elif task == "instance":
            metrics["retrieval"].update(task_instance(emb, paths, views=archive_views, n_boot=n_boot, seed=seed))
        elif task == "probe":
            metrics["probe"] = task_probe(emb, paths, views=archive_views, seed=seed)
        elif task in ("text", "style"):  # report-variant benchmarks (eval/text_tasks.py)
            from clinvla_kit.eval import text_tasks

            try:
                run = text_tasks.task_text if task == "text" else text_tasks.task_style
                metrics[task] = run(emb, paths["root"], n_boot=n_boot, seed=seed)
            except FileNotFoundError as e:
                metrics["notes"].append(f"{task} skipped: {e}")
    return metrics


def evaluate_run(run_dir: str | Path, data_dir: str | Path, cache: bool = True, device: str = "cpu",
                 batch_size: int = 16, progress: bool = True, **kwargs: Any) -> dict[str, Any]:
    """Load a run directory and evaluate it (``kwargs`` go to ``evaluate_embedder``)."""
    emb = Embedder.from_run(run_dir, cache_dir="auto" if cache else None, device=device, batch_size=batch_size,
                            progress=progress)
    metrics = evaluate_embedder(emb, data_dir, **kwargs)
    metrics["run"] = str(run_dir)
    return metrics
