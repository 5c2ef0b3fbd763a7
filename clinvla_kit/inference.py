"""The short path from files to embeddings: ``clinvla_kit.load(name_or_run_dir)`` (open_clip / hi-ml style).

``load`` returns an ``InferenceModel``: the ``ClinVLA`` model together with the preprocessing it was trained with
(the run's ``DataCfg``: image size, resize, normalisation, report cleaning, token budget), so a user never has to
rebuild the pipeline by hand::

    import clinvla_kit
    m = clinvla_kit.load("runs/tiny/run")                      # a run directory (or a shipped model's name)
    z_img = m.embed_images(["a.png", {"frontal": "f.dcm", "lateral": "l.jpg"}])   # [2, D], L2-normalised
    z_txt = m.embed_texts(["small left pleural effusion"])                       # [1, D]
    m.similarity(["a.png"], ["pleural effusion", "cardiomegaly"])               # [1, 2] cosine
    m.zero_shot("a.png", ["Pleural Effusion", "Cardiomegaly", "Edema"]).label

Why a thin wrapper and not new code: the embedding itself is ``clinvla_kit.eval.embed.Embedder`` (the code the
evaluation uses: ``read_image`` -> ``resize`` -> ``to_model_input`` per slot, ``clean_report`` ->
``tokenize_report``), and the zero-shot scores are ``clinvla_kit.eval.zeroshot.class_scores`` over prompts from
``clinvla_kit.eval.prompts``, so the API and ``clinvla-kit evaluate`` cannot drift apart.

Inputs: an image item is one file path (PNG, JPG or DICOM; it goes in the frontal slot) or a study dict
``{"frontal": ..., "lateral": ..., "prior_frontal": ..., "prior_lateral": ...}`` of paths (missing keys = missing
views). A list of items embeds many. Shipped model names are resolved by ``clinvla_kit.weights.resolve(name)``
(see docs/ARCHITECTURE.md, "Shipped weights").
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clinvla_kit.config import SLOTS

ImageItem = "str | Path | dict[str, str | Path | None]"


@dataclass
class ZeroShotResult:
    """Zero-shot classification of one image item.

    Attributes:
        classes: the K class names, in the order given.
        scores: [K] cosine similarity of the image with each class embedding (``class_scores``).
        probs: [K] softmax of ``logit_scale * scores`` (the model's own temperature; sums to 1).
        prompts: class -> the prompts that were embedded for it.
    """

    classes: list[str]
    scores: np.ndarray
    probs: np.ndarray
    prompts: dict[str, list[str]]

    @property
    def label(self) -> str:
        """The predicted class (highest score; the lower index wins a tie, as ``multiclass_metrics``)."""
        return self.classes[int(np.argmax(self.scores))]

    def as_dict(self) -> dict[str, float]:
        """class -> probability."""
        return {c: float(p) for c, p in zip(self.classes, self.probs)}


# -- resolving names -----------------------------------------------------------------------------------------
def _weights_module() -> Any | None:
    """``clinvla_kit.weights`` (the shipped-weights registry) or None where this version has none."""
    try:
        return importlib.import_module("clinvla_kit.weights")
    except ModuleNotFoundError as e:
        if e.name != "clinvla_kit.weights":
            raise
        return None


def known_names() -> list[str]:
    """Names of the shipped models this installation can load by name (empty without a registry)."""
    mod = _weights_module()
    if mod is None:
        return []
    for attr in ("names", "available", "list_names"):
        fn = getattr(mod, attr, None)
        if callable(fn):
            return sorted(str(n) for n in fn())
    for attr in ("REGISTRY", "registry"):
        reg = getattr(mod, attr, None)
        if callable(reg):
            reg = reg()
        if isinstance(reg, dict):
            return sorted(str(n) for n in reg)
    return []


def resolve(name_or_path: str | Path) -> Path:
    """A run directory as given, or a shipped model's name -> its directory (``clinvla_kit.weights.resolve``).

    Raises:
        FileNotFoundError: neither an existing directory nor a known name; the message lists the known names.
    """
    from clinvla_kit.aligned_weights import is_aligned_name, materialize

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if is_aligned_name(name_or_path):
        return materialize(str(name_or_path))
    looks_like_path = any(sep in str(name_or_path) for sep in ("/", "\\")) or path.suffix != ""
    mod = _weights_module()
    if mod is not None and not looks_like_path and callable(getattr(mod, "resolve", None)):
        try:
            return Path(mod.resolve(str(name_or_path)))
        except (KeyError, FileNotFoundError, ValueError) as e:
            raise FileNotFoundError(
                f"{name_or_path!r}: not a run directory and not a shipped model ({e}); "
                f"known names: {known_names() or 'none'}") from e
    known = known_names()
    where = "no shipped-weights registry (clinvla_kit.weights) in this version" if mod is None else \
        f"known names: {known or 'none'}"
    raise FileNotFoundError(f"{name_or_path!r}: not a run directory (config.json + model.safetensors, e.g. "
                            f"runs/tiny/run from `clinvla-kit recipe`) and not a shipped model name; {where}")


# -- the loaded model ----------------------------------------------------------------------------------------
class InferenceModel:
    """A ClinVLA model with its own preprocessing, ready to embed files and strings (``load`` builds it).

    Attributes:
        model: the ``ClinVLA`` module (eval mode).  cfg: its ``RunCfg``.  source: where it was loaded from.
        embedder: the ``Embedder`` doing the work (no on-disk cache unless ``cache_dir`` was given).
    """

    def __init__(self, model: Any, source: str | Path | None = None, fingerprint: str | None = None,
                 cache_dir: str | Path | None = None, batch_size: int = 16, progress: bool = False) -> None:
        from clinvla_kit.eval.embed import Embedder

        self.model = model.eval()
        self.cfg = getattr(model, "cfg", None)
        self.source = source
        self.embedder = Embedder(model, fingerprint=fingerprint, cache_dir=cache_dir, batch_size=batch_size,
                                 progress=progress)

    def __repr__(self) -> str:
        return f"InferenceModel(source={str(self.source)!r}, image_size={self.data_cfg.image_size}, " \
               f"views={self.views_used()})"

    @property
    def data_cfg(self):
        """The preprocessing (``DataCfg``) the model was trained with."""
        return self.embedder.data_cfg

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def device(self):
        return self.embedder.device

    def views_used(self) -> tuple[str, ...]:
        """Slots the model reads: the frontal always; the lateral where ``vision.multiview`` and
        ``data.use_lateral``; the priors where ``vision.temporal`` and ``data.use_prior``; only the frontal when
        ``vision.eval_views == "frontal"`` (ALTA's protocol). The demo shows its lateral controls only when the
        lateral is in here."""
        if self.cfg is None:
            return SLOTS
        v, d = self.cfg.model.vision, self.cfg.data
        if getattr(v, "eval_views", "all") == "frontal":
            return ("frontal",)
        out = ["frontal"]
        if v.multiview and d.use_lateral:
            out.append("lateral")
        if v.temporal and d.use_prior:
            out += ["prior_frontal"] + (["prior_lateral"] if "lateral" in out else [])
        return tuple(out)

    @property
    def uses_lateral(self) -> bool:
        return "lateral" in self.views_used()

    # -- embeddings --------------------------------------------------------------------------------------------
    @staticmethod
    def _items(images: Any) -> tuple[list[Any], bool]:
        """One item or a list of items -> (list, was_single). A study is a dict; a list always means many."""
        if isinstance(images, (str, Path, dict)) or hasattr(images, "images"):
            return [images], True
        return list(images), False

    def embed_images(self, images: Any, views: str = "all") -> np.ndarray:
        """Image items -> [N, D] float32, L2-normalised (one item -> [D]).

        Args:
            images: a path (PNG/JPG/DICOM, frontal slot), a study dict of slot -> path, a StudyRecord, or a list.
            views: "all" present slots (the model then ignores those it was not trained on) or "frontal" only.
        Raises:
            DataError naming the file when an image is missing or unreadable.
        """
        items, single = self._items(images)
        for it in items:
            if isinstance(it, dict) and set(it) - set(SLOTS):
                raise ValueError(f"unknown view name(s) {sorted(set(it) - set(SLOTS))} in {it}; views are {SLOTS}")
        z = self.embedder.images(items, views=views).astype(np.float32)
        return z[0] if single else z

    def embed_images_skipping(self, items: Sequence[Any], views: str = "all", chunk: int | None = None,
                              progress: bool = True) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
        """Many items for a long run: unreadable ones are skipped and counted instead of stopping the run.

        Each chunk goes through ``embed_images``; only a chunk that fails is retried item by item, so the good
        path costs nothing extra. Returns (embeddings [M, D] of the kept items, their indices into ``items``,
        [(index, reason)] of the skipped ones).
        """
        from tqdm.auto import tqdm

        from clinvla_kit.data.errors import DataError

        chunk = int(chunk or 4 * self.embedder.batch_size)
        out: list[np.ndarray] = []
        kept: list[int] = []
        skipped: list[tuple[int, str]] = []
        with tqdm(total=len(items), desc="embed studies", disable=not progress, unit="study") as bar:
            for start in range(0, len(items), chunk):
                part = list(items[start:start + chunk])
                try:
                    out.append(np.atleast_2d(self.embed_images(part, views=views)))
                    kept += range(start, start + len(part))
                except (DataError, ValueError):
                    for j, it in enumerate(part):
                        try:
                            out.append(self.embed_images([it], views=views))
                            kept.append(start + j)
                        except (DataError, ValueError) as e:
                            skipped.append((start + j, str(e)))
                bar.update(len(part))
                bar.set_postfix(skipped=len(skipped))
        dim = self.cfg.model.embed_dim if self.cfg is not None else 0
        z = np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), dtype=np.float32)
        return z, kept, skipped

    def embed_texts(self, texts: str | Sequence[str], clean: bool = True) -> np.ndarray:
        """Strings -> [N, D] float32, L2-normalised (one string -> [D]).

        ``clean=True`` applies the training-time report cleaning (sections, abbreviations, hedges); pass False for
        prompts, as zero-shot evaluation does.
        """
        single = isinstance(texts, str)
        z = self.embedder.texts([texts] if single else list(texts), clean=clean).astype(np.float32)
        return z[0] if single else z

    def similarity(self, images: Any, texts: str | Sequence[str], clean: bool = True) -> np.ndarray:
        """Cosine similarity [N_images, N_texts] (scalars for one of each)."""
        a = np.atleast_2d(self.embed_images(images))
        b = np.atleast_2d(self.embed_texts(texts, clean=clean))
        s = a @ b.T
        return s if s.size > 1 else s.reshape(())

    # -- zero-shot ---------------------------------------------------------------------------------------------
    def class_prompts(self, classes: Sequence[str] | dict[str, Sequence[str]] | str | Path,
                      max_per_class: int | None = None) -> dict[str, list[str]]:
        """Prompts per class: a dict is used as given; a JSON file path is read (``load_prompt_file``); a list of
        class names takes the kit's templates (``build_prompts``) where the table has the class, else the name
        itself is the one prompt ("pleural effusion" for "Pleural Effusion")."""
        from clinvla_kit.eval.prompts import build_prompts, load_prompt_file, prompt_table

        if isinstance(classes, (str, Path)):
            return load_prompt_file(classes)
        if isinstance(classes, dict):
            out = {str(c): [str(p) for p in ps] for c, ps in classes.items()}
            empty = [c for c, ps in out.items() if not ps]
            if empty:
                raise ValueError(f"class(es) {empty} have no prompt")
            return out
        names = [str(c) for c in classes]
        if len(names) < 2:
            raise ValueError(f"zero-shot needs at least two classes, got {names}")
        table = prompt_table()
        out = {}
        for c in names:
            out[c] = (build_prompts([c], max_per_class=max_per_class, table=table)[c] if c in table["classes"]
                      else [c.lower()])
        return out

    def zero_shot(self, images: Any, classes: Sequence[str] | dict[str, Sequence[str]] | str | Path,
                  aggregate: str = "mean", max_per_class: int | None = None) -> ZeroShotResult | list[ZeroShotResult]:
        """Zero-shot classification of image item(s) against class names or prompts (see ``class_prompts``).

        Scores are ``class_scores`` (mean prompt embedding re-normalised, or the best prompt with ``"max"``),
        probabilities a softmax at the model's learned logit scale. One item -> one result; a list -> a list.
        """
        from clinvla_kit.eval.zeroshot import class_scores

        prompts = self.class_prompts(classes, max_per_class)
        names = list(prompts)
        flat = [p for c in names for p in prompts[c]]
        z = self.embed_texts(flat, clean=False)
        per_class, i = [], 0
        for c in names:
            per_class.append(z[i:i + len(prompts[c])])
            i += len(prompts[c])
        items, single = self._items(images)
        scores = class_scores(self.embed_images(items), per_class, aggregate)  # [N, K]
        temps = getattr(self.model, "temps", None)
        scale = float(temps.logit_scale().detach()) if temps is not None else 100.0
        logits = scale * scores
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        out = [ZeroShotResult(classes=names, scores=s, probs=p, prompts=prompts) for s, p in zip(scores, probs)]
        return out[0] if single else out


def load(name_or_run_dir: str | Path, device: str = "cpu", cache_dir: str | Path | None = None,
         batch_size: int = 16, progress: bool = False) -> InferenceModel:
    """Load a model ready for files and strings: a run directory or a shipped model's name.

    Args:
        name_or_run_dir: a directory ``ClinVLA.from_pretrained`` reads (config.json + model.safetensors + tokenizer
            files), or a name in the shipped-weights registry (``clinvla_kit.weights``).
        device: "cpu", "cuda", "mps".
        cache_dir: keep embeddings on disk keyed by the weights' sha256 and the input files (None = no cache).
        progress: tqdm progress bars while embedding.
    Raises:
        FileNotFoundError: not a run directory and not a known name (the message lists the known names).
        ValueError: the weights do not match the run's config (the differing keys are named).
    """
    from clinvla_kit.eval.embed import file_sha256
    from clinvla_kit.model.clinvla import WEIGHTS, ClinVLA

    run_dir = resolve(name_or_run_dir)
    if run_dir.is_file():  # a registry entry that is a single file: only the registry knows how to build it
        mod = _weights_module()
        build = getattr(mod, "load_model", None) if mod is not None else None
        if not callable(build):
            raise ValueError(f"{name_or_run_dir!r} resolves to the file {run_dir}, which is not an aligned model "
                             "(a run directory); shipped image encoders load with model.vision.checkpoint=NAME")
        model = build(str(name_or_run_dir), device=device)
        return InferenceModel(model, source=run_dir, batch_size=batch_size, progress=progress)
    model = ClinVLA.from_pretrained(run_dir, map_location=device)
    fingerprint = file_sha256(run_dir / WEIGHTS) if cache_dir is not None else None
    return InferenceModel(model, source=run_dir, fingerprint=fingerprint, cache_dir=cache_dir,
                          batch_size=batch_size, progress=progress)
