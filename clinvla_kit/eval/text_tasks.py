"""Text and style benchmarks on SynthCXR's report variants (``evaluate --tasks text style``).

``text`` (any embedder with ``texts(list, clean) -> [N, D]`` L2-normalised: a ClinVLA run or a bare text encoder):
- **acronym retrieval**: each test study's telegraphic variant ("Sm Lt eff. No PTX.") retrieves its expanded variant
  ("Small left effusion. No pneumothorax.") among all test studies' expanded variants (studies whose expanded text
  another study shares, e.g. "No acute process.", are left out): R@1/5/10, chance k/N.
- **error discrimination (text)**: a paraphrase (the structured variant) is the anchor; the four choices are the
  correct report in the site's own style and three minimally wrong variants (``report_errors``). Correct when the
  correct report is strictly the most similar. One item per study and error type: its three distractors are of that
  type where the study has three (else padded with other types, counted as ``padded``). Accuracy overall and per
  type; chance 25 %.
- **summarisation retrieval**: the original report's FINDINGS retrieve its own IMPRESSION among the test studies'
  impressions (studies whose impression text is shared with another study are left out): R@1/5, chance 1/N.

``style`` (a ClinVLA run: needs images):
- **error discrimination (image)**: the study's frontal image is the anchor, the same four choices.
- **image-to-report instance retrieval** on this data directory's test split (R@1/5/10 among all test reports), via
  ``tasks.task_instance``; run it on site A's and site B's directory for the two numbers.

Every value has a seeded bootstrap 95 % interval over items (``bootstrap.mean_with_ci``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.eval.bootstrap import mean_with_ci
from clinvla_kit.eval.retrieval import recall_at_k_per_query

CHOICES = 4
ANCHOR_STYLE = "structured"


def _rows(path: Path, split: str) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; the text benchmarks need SynthCXR's report variants "
                                "(regenerate with `clinvla-kit synth`)")
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not JSON ({e})") from None
            if row.get("split") == split:
                out.append(row)
    return out


def load_variants(data_dir: str | Path, split: str = "test") -> dict[int, dict[str, str]]:
    """study_id -> style -> text (``report_variants.jsonl``)."""
    out: dict[int, dict[str, str]] = {}
    for r in _rows(Path(data_dir) / "report_variants.jsonl", split):
        out.setdefault(int(r["study_id"]), {})[r["style"]] = r["text"]
    return out


def load_errors(data_dir: str | Path, split: str = "test") -> dict[int, dict[str, list[str]]]:
    """study_id -> error type ("none" = the correct report) -> texts (``report_errors.jsonl``)."""
    out: dict[int, dict[str, list[str]]] = {}
    for r in _rows(Path(data_dir) / "report_errors.jsonl", split):
        out.setdefault(int(r["study_id"]), {}).setdefault(r["error_type"], []).append(r["text"])
    return out


def load_subset(data_dir: str | Path, n: int | None, split: str = "test") -> tuple[dict, dict]:
    """(variants, errors) of the first ``n`` studies of ``split`` by study id (all when None): a fixed,
    reproducible subset for quick runs."""
    variants, errors = load_variants(data_dir, split), load_errors(data_dir, split)
    keep = sorted(variants)[:n] if n is not None else sorted(variants)
    return {k: variants[k] for k in keep}, {k: errors[k] for k in keep if k in errors}


def error_items(errors: dict[int, dict[str, list[str]]], seed: int = 0) -> list[dict[str, Any]]:
    """Four-choice items: ``{"study_id", "type", "choices": [correct, 3 wrong], "padded": int}`` (seeded)."""
    rng = np.random.default_rng([seed, 15])
    items = []
    for sid in sorted(errors):
        e = errors[sid]
        if "none" not in e:
            continue
        for t in sorted(k for k in e if k != "none"):
            own = list(e[t][: CHOICES - 1])
            others = [x for k in sorted(e) if k not in ("none", t) for x in e[k]]
            need = CHOICES - 1 - len(own)
            if need > len(others):
                continue
            pad = [others[int(i)] for i in rng.choice(len(others), size=need, replace=False)] if need else []
            items.append({"study_id": sid, "type": t, "choices": [e["none"][0]] + own + pad, "padded": need})
    return items


def _discrimination(anchor: np.ndarray, items: list[dict], choice_emb: np.ndarray, n_boot: int, seed: int) -> dict:
    """anchor [I, D], choice_emb [I * 4, D] -> accuracy overall and per type (correct = choice 0 strictly best)."""
    sims = np.einsum("id,icd->ic", anchor, choice_emb.reshape(len(items), CHOICES, -1))
    correct = (sims[:, 0] > sims[:, 1:].max(axis=1)).astype(np.float64)
    out: dict[str, Any] = {**mean_with_ci({"acc": correct}, n_boot, seed), "n": len(items), "chance": 1 / CHOICES}
    types = np.array([it["type"] for it in items])
    out["per_type"] = {}
    for t in sorted(set(types)):
        sel = types == t
        res = mean_with_ci({"acc": correct[sel]}, n_boot, seed)
        res.update({"n": int(sel.sum()), "padded_items": int(sum(it["padded"] > 0 for it, s in zip(items, sel) if s))})
        out["per_type"][t] = res
    return out


def acronym_retrieval(emb, variants: dict[int, dict[str, str]], n_boot: int = 1000, seed: int = 0,
                      ks: Sequence[int] = (1, 5, 10), clean: bool = True) -> dict[str, Any]:
    ids = [s for s in sorted(variants) if {"telegraphic", "expanded"} <= set(variants[s])]
    counts: dict[str, int] = {}
    for s in ids:
        counts[variants[s]["expanded"]] = counts.get(variants[s]["expanded"], 0) + 1
    ids = [s for s in ids if counts[variants[s]["expanded"]] == 1]  # a shared text ("No acute process.") is no target
    if len(ids) < 2:
        raise ValueError("acronym retrieval needs at least 2 test studies with telegraphic and expanded variants")
    q = emb.texts([variants[s]["telegraphic"] for s in ids], clean=clean)
    c = emb.texts([variants[s]["expanded"] for s in ids], clean=clean)
    ks = [k for k in ks if k <= len(ids)]
    out = mean_with_ci(recall_at_k_per_query(q @ c.T, ks), n_boot, seed)
    out.update({"n": len(ids), "chance": {f"R@{k}": k / len(ids) for k in ks}})
    return out


def error_discrimination_text(emb, variants: dict[int, dict[str, str]], errors: dict[int, dict[str, list[str]]],
                              n_boot: int = 1000, seed: int = 0, anchor_style: str = ANCHOR_STYLE,
                              clean: bool = True) -> dict[str, Any]:
    items = [it for it in error_items(errors, seed) if anchor_style in variants.get(it["study_id"], {})]
    if not items:
        raise ValueError("error discrimination: no test study has wrong variants")
    anchor = emb.texts([variants[it["study_id"]][anchor_style] for it in items], clean=clean)
    choices = emb.texts([c for it in items for c in it["choices"]], clean=clean)
    return {**_discrimination(anchor, items, choices, n_boot, seed), "anchor": anchor_style}


def summarisation_retrieval(emb, variants: dict[int, dict[str, str]], n_boot: int = 1000, seed: int = 0,
                            ks: Sequence[int] = (1, 5), clean: bool = True) -> dict[str, Any]:
    from clinvla_kit.data.reports import extract_sections

    pairs = []
    for s in sorted(variants):
        sec = extract_sections(variants[s].get("original", ""))
        if sec.get("findings") and sec.get("impression"):
            pairs.append((s, "FINDINGS: " + sec["findings"], "IMPRESSION: " + sec["impression"]))
    counts: dict[str, int] = {}
    for _, _, imp in pairs:
        counts[imp] = counts.get(imp, 0) + 1
    pairs = [p for p in pairs if counts[p[2]] == 1]
    if len(pairs) < 2:
        raise ValueError("summarisation retrieval needs at least 2 test studies with findings and a unique impression")
    f = emb.texts([p[1] for p in pairs], clean=clean)
    i = emb.texts([p[2] for p in pairs], clean=clean)
    ks = [k for k in ks if k <= len(pairs)]
    out = mean_with_ci(recall_at_k_per_query(f @ i.T, ks), n_boot, seed)
    out.update({"n": len(pairs), "chance": {f"R@{k}": k / len(pairs) for k in ks}})
    return out


def error_discrimination_image(emb, data_dir: str | Path, errors: dict[int, dict[str, list[str]]],
                               n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The study's frontal image anchors the four choices (an image-text model: ``emb.images``); the studies are
    those of ``errors`` (pass ``load_subset(...)[1]`` for a quick run)."""
    from clinvla_kit.data.sources.mimic import load_mimic

    recs = {int(r.study_id): r for r in load_mimic(data_dir, splits=["test"])}
    items = [it for it in error_items(errors, seed) if it["study_id"] in recs]
    if not items:
        raise ValueError(f"{data_dir}: no test study with wrong variants and an image")
    uniq = sorted({it["study_id"] for it in items})
    img = dict(zip(uniq, emb.images([recs[s] for s in uniq], views="frontal")))
    anchor = np.stack([img[it["study_id"]] for it in items])
    choices = emb.texts([c for it in items for c in it["choices"]], clean=True)
    return {**_discrimination(anchor, items, choices, n_boot, seed), "anchor": "frontal image"}


def task_text(emb, data_dir: str | Path | None, n_boot: int = 1000, seed: int = 0, clean: bool = True,
              preloaded: tuple[dict, dict] | None = None) -> dict[str, Any]:
    """The three text-only benchmarks on ``data_dir``'s test split (or on ``preloaded`` = (variants, errors)).

    A benchmark the data cannot support (site B's impression-only originals have no FINDINGS to summarise) is
    ``{"skipped": reason}``."""
    variants, errors = preloaded if preloaded is not None else (load_variants(data_dir), load_errors(data_dir))
    jobs = {"acronym_retrieval": lambda: acronym_retrieval(emb, variants, n_boot, seed, clean=clean),
            "error_discrimination_text": lambda: error_discrimination_text(emb, variants, errors, n_boot, seed,
                                                                           clean=clean),
            "summarisation_retrieval": lambda: summarisation_retrieval(emb, variants, n_boot, seed, clean=clean)}
    out: dict[str, Any] = {}
    for name, job in jobs.items():
        try:
            out[name] = job()
        except ValueError as e:
            out[name] = {"skipped": str(e)}
    return out


def task_style(emb, data_dir: str | Path, n_boot: int = 1000, seed: int = 0,
               max_studies: int | None = None) -> dict[str, Any]:
    """Image-anchored error discrimination and image-to-report instance retrieval on ``data_dir`` (at most
    ``max_studies`` test studies each: the first by id for the errors, a seeded sample for the retrieval)."""
    from clinvla_kit.eval.tasks import benchmark_paths, task_instance

    errors = load_subset(data_dir, max_studies)[1]
    out = {"error_discrimination_image": error_discrimination_image(emb, data_dir, errors, n_boot, seed)}
    inst = task_instance(emb, benchmark_paths(data_dir), views="frontal", n_boot=n_boot, seed=seed,
                         max_studies=max_studies or 1000)
    out["instance_img2txt"] = inst["instance_img2txt"]
    out["instance_img2txt"]["chance"] = {f"R@{k}": k / inst["instance_img2txt"]["n"] for k in (1, 5, 10)}
    return out


class TextEncoderEmbedder:
    """A bare text encoder (``minilm``, a ``pretrain-text`` output, an LLM) with the ``Embedder.texts`` interface.

    Reports are cleaned as for alignment (sections kept, hedges removed); abbreviations are expanded only when
    ``expand_abbreviations`` (default off: the benchmark measures what the encoder itself understands)."""

    def __init__(self, name_or_path: str, max_tokens: int = 128, batch_size: int = 32,
                 expand_abbreviations: bool = False) -> None:
        from clinvla_kit.config import AdapterCfg, TextCfg
        from clinvla_kit.model.text import TextTower

        self.tower = TextTower(TextCfg(name_or_path=name_or_path, pooling="mean", max_tokens=max_tokens, dropout=0.0),
                               AdapterCfg(transformer_adapt_towers=(), invertible_towers=())).eval()
        self.max_tokens, self.batch_size, self.expand = max_tokens, batch_size, expand_abbreviations

    def texts(self, texts: Sequence[str], clean: bool = True) -> np.ndarray:
        import torch

        from clinvla_kit.data.reports import clean_report

        texts = [clean_report(t, expand_abbreviations=self.expand, source=f"text row {i}") if clean else t
                 for i, t in enumerate(texts)]
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                x = self.tower.tokenizer(texts[i: i + self.batch_size], padding="longest", truncation=True,
                                         max_length=self.max_tokens, return_tensors="pt")
                z = self.tower(x["input_ids"], x["attention_mask"]).global_emb
                out.append(torch.nn.functional.normalize(z.float(), dim=-1).numpy())
        return np.concatenate(out)
