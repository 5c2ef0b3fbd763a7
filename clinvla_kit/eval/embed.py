"""Batched embedding extraction with an on-disk cache, so a notebook re-run does not recompute.

``Embedder`` wraps a loaded model (``encode_image`` / ``encode_text`` / ``tokenizer``) and:
- runs under ``torch.no_grad`` in eval mode (no patch masking), with bf16 autocast on CUDA;
- loads images with the data package's own ``read_image`` -> ``resize`` -> ``to_model_input`` (the preprocessing the
  model was trained with, from the run's ``DataCfg``), either the frontal view only (ALTA's protocol) or every
  present slot (``views="all"``);
- cleans reports with ``clean_report`` and tokenises with ``tokenize_report`` (whole sentences kept);
- caches each result as ``<kind>-<key>.npy`` plus a ``.json`` describing it, where the key hashes the checkpoint's
  weights file, the options and the exact list of inputs (texts; image paths with their size and modification
  time). A changed checkpoint, input list or image file is a new key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clinvla_kit.config import SLOTS, DataCfg

VIEW_MODES: tuple[str, ...] = ("frontal", "all")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (the checkpoint fingerprint)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def inputs_key(kind: str, fingerprint: str, items: Sequence[Any], options: dict[str, Any]) -> str:
    """Hash of (kind, checkpoint fingerprint, options, every input) -> 20 hex chars."""
    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "weights": fingerprint, "options": options}, sort_keys=True).encode())
    for it in items:
        h.update(json.dumps(it, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()[:20]


def _slots_of(item: Any) -> list[str | Path | None]:
    """A path (frontal only), a 4-slot sequence, a slot dict, or a StudyRecord -> 4 slot paths."""
    if hasattr(item, "images") and isinstance(item.images, dict):
        return [item.images[s] for s in SLOTS]
    if isinstance(item, dict):
        unknown = set(item) - set(SLOTS)
        if unknown:
            raise ValueError(f"unknown image slot(s) {sorted(unknown)}; slots are {SLOTS}")
        return [item.get(s) for s in SLOTS]
    if isinstance(item, (str, Path)):
        return [item, None, None, None]
    slots = list(item)
    if len(slots) != len(SLOTS):
        raise ValueError(f"an image item needs {len(SLOTS)} slots {SLOTS}, got {len(slots)}: {item!r}")
    return slots


def _file_id(path: str | Path | None) -> str | None:
    """``path|size|mtime_ns``: a regenerated image at the same path gets a new cache key."""
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return str(path)  # a missing file fails later in read_image, with its name
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


class Embedder:
    """Embeds images and texts with one model, optionally caching to ``cache_dir``.

    Args:
        model: a ClinVLA-like module with ``encode_image(images [B,4,C,H,W], present [B,4])``,
            ``encode_text(input_ids, attention_mask)`` and ``tokenizer``.
        data_cfg: preprocessing (image size, resize mode, normalisation, report cleaning, max tokens); default
            ``model.cfg.data``.
        fingerprint: identifies the weights in cache keys (``file_sha256`` of model.safetensors; ``from_run`` sets it).
            Without it nothing is cached, because an unkeyed cache could serve another checkpoint's embeddings.
        cache_dir: where ``.npy``/``.json`` pairs go (None = no cache).
    """

    def __init__(self, model: torch.nn.Module, data_cfg: DataCfg | None = None, fingerprint: str | None = None,
                 cache_dir: str | Path | None = None, batch_size: int = 16, progress: bool = True) -> None:
        self.model = model
        self.data_cfg = data_cfg or model.cfg.data
        self.fingerprint = fingerprint
        self.cache_dir = Path(cache_dir) if cache_dir is not None and fingerprint else None
        self.batch_size = int(batch_size)
        self.progress = progress
        cfg = getattr(model, "cfg", None)
        self.max_tokens = int(cfg.model.text.max_tokens if cfg is not None else self.data_cfg.max_tokens)

    @classmethod
    def from_run(cls, run_dir: str | Path, cache_dir: str | Path | None = "auto", device: str = "cpu",
                 **kwargs: Any) -> Embedder:
        """Load ``ClinVLA.from_pretrained(run_dir)``; the cache defaults to ``run_dir/embeddings``."""
        from clinvla_kit.aligned_weights import resolve_run
        from clinvla_kit.model.clinvla import WEIGHTS, ClinVLA

        run_dir = resolve_run(run_dir)  # a shipped aligned model's name -> its materialised run directory
        model = ClinVLA.from_pretrained(run_dir, map_location=device)
        cache = run_dir / "embeddings" if cache_dir == "auto" else cache_dir
        return cls(model, fingerprint=file_sha256(run_dir / WEIGHTS), cache_dir=cache, **kwargs)

    # -- helpers -----------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        import contextlib

        return contextlib.nullcontext()

    def _cached(self, kind: str, items: Sequence[Any], options: dict[str, Any], compute) -> np.ndarray:
        if self.cache_dir is None:
            return compute()
        key = inputs_key(kind, self.fingerprint or "", items, options)
        npy, meta = self.cache_dir / f"{kind}-{key}.npy", self.cache_dir / f"{kind}-{key}.json"
        if npy.is_file() and meta.is_file():
            arr = np.load(npy)
            if arr.shape[0] == len(items):
                return arr
        arr = compute()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = npy.with_name(npy.stem + ".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(npy)
        meta.write_text(json.dumps({"kind": kind, "weights_sha256": self.fingerprint, "n": len(items),
                                    "options": options, "first": [str(x) for x in list(items)[:3]]}, indent=1))
        return arr

    def _bar(self, total: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False)

    def load_study(self, slots: list[str | Path | None], views: str) -> tuple[torch.Tensor, torch.Tensor]:
        """4 slot paths -> (images [4, 3, H, W], present [4]); ``views="frontal"`` keeps slot 0 only."""
        from clinvla_kit.data.images import read_image, resize, to_model_input

        size = self.data_cfg.image_size
        images = torch.zeros(len(SLOTS), 3, size, size)
        present = torch.zeros(len(SLOTS), dtype=torch.bool)
        for k, path in enumerate(slots):
            if path is None or (views == "frontal" and k > 0):
                continue
            img = resize(read_image(path), size, self.data_cfg.resize)  # DataError names a bad file
            images[k] = to_model_input(img, self.data_cfg.normalization)
            present[k] = True
        if not present.any():
            raise ValueError(f"study with slots {slots} has no image for views={views!r} (no frontal view?)")
        return images, present

    # -- public ------------------------------------------------------------------------------------------------
    def images(self, items: Sequence[Any], views: str = "all") -> np.ndarray:
        """Image embeddings [N, D] (L2-normalised).

        Args:
            items: paths (frontal only), 4-slot sequences/dicts of paths, or StudyRecords.
            views: "frontal" (slot 0 only, ALTA's protocol) or "all" present slots.
        """
        if views not in VIEW_MODES:
            raise ValueError(f"views must be one of {VIEW_MODES}, got {views!r}")
        slot_lists = [_slots_of(it) for it in items]
        opts = {"views": views, "image_size": self.data_cfg.image_size, "resize": self.data_cfg.resize,
                "normalization": self.data_cfg.normalization}

        def compute() -> np.ndarray:
            self.model.eval()
            out = []
            with torch.no_grad(), self._bar(len(slot_lists), "embed images") as bar:
                for i in range(0, len(slot_lists), self.batch_size):
                    loaded = [self.load_study(s, views) for s in slot_lists[i : i + self.batch_size]]
                    imgs = torch.stack([x[0] for x in loaded]).to(self.device)
                    pres = torch.stack([x[1] for x in loaded]).to(self.device)
                    with self._autocast():
                        z = self.model.encode_image(imgs, pres, normalize=True)
                    out.append(z.float().cpu().numpy())
                    bar.update(len(loaded))
            return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

        return self._cached("img", [[_file_id(p) for p in s] for s in slot_lists], opts, compute)

    def clean(self, text: str, index: int) -> str:
        """Report cleaning as in training (sections, abbreviations, hedges); errors name the text's row."""
        from clinvla_kit.data.reports import clean_report

        return clean_report(text, expand_abbreviations=self.data_cfg.expand_abbreviations,
                            remove_hedges=self.data_cfg.remove_hedges, source=f"text row {index}")

    def texts(self, texts: Sequence[str], clean: bool = True) -> np.ndarray:
        """Text embeddings [N, D] (L2-normalised) of reports or prompts; ``clean`` applies ``clean_report``."""
        from clinvla_kit.data.tokenize import tokenize_report

        texts = [str(t) for t in texts]
        for i, t in enumerate(texts):
            if not t.strip():
                raise ValueError(f"text row {i} is empty")
        opts = {"clean": clean, "max_tokens": self.max_tokens}

        def compute() -> np.ndarray:
            self.model.eval()
            out = []
            with torch.no_grad(), self._bar(len(texts), "embed texts") as bar:
                for i in range(0, len(texts), self.batch_size):
                    chunk = texts[i : i + self.batch_size]
                    toks = [tokenize_report(self.clean(t, i + j) if clean else t, self.model.tokenizer,
                                            self.max_tokens) for j, t in enumerate(chunk)]
                    ids = torch.stack([t["input_ids"] for t in toks])
                    mask = torch.stack([t["attention_mask"] for t in toks])
                    width = int(mask.sum(dim=1).max())  # trim shared padding: same result, less compute
                    with self._autocast():
                        z = self.model.encode_text(ids[:, :width].to(self.device), mask[:, :width].to(self.device),
                                                   normalize=True)
                    out.append(z.float().cpu().numpy())
                    bar.update(len(chunk))
            return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

        return self._cached("txt", texts, opts, compute)
