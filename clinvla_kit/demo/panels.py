"""The demo's side panels as plain functions: patch masking / MAE reconstruction, adapters on/off with parameter
counts, and a zero-shot prompt editor that re-scores a labelled image set (the 5x200 set)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

ADAPTER_GROUPS: tuple[str, ...] = ("language_adapter", "task_adapter", "vision_adapter", "invertible_adapter", "lora")
"""Parameter groups (``model.parameter_groups()``) that are adapters."""


# -- masking and MAE reconstruction ---------------------------------------------------------------------------
def masked_reconstruction(image: torch.Tensor, mask_ratio: float, patch: int = 16, seed: int = 0,
                          mae: Any | None = None, normalization: str = "alta") -> dict[str, np.ndarray | None]:
    """One view under MAE-style random patch masking, for display.

    Args:
        image: [C, H, W] model-ready (normalised) view.
        mae: an MAE model (``clinvla_kit.model.mae``); when given, its reconstruction is returned too.
    Returns:
        ``{"original", "masked", "reconstruction"}`` each [H, W] in [0, 1] (``reconstruction`` None without MAE).
        The masked image zeroes dropped patches (black squares), as the encoder never sees them.
    """
    from clinvla_kit.data.images import denormalize
    from clinvla_kit.model.masking import keep_to_mask, random_keep_indices

    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {mask_ratio}")
    _, h, w = image.shape
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not a multiple of the patch size {patch}")
    recon = None
    if mae is not None:
        from clinvla_kit.model.mae import reconstruct

        masked_t, recon_t = reconstruct(mae, image[None], mask_ratio=mask_ratio, seed=seed)
        masked = denormalize(masked_t[0], normalization)
        masked_px = masked_t[0].abs().sum(0) == 0
        masked[masked_px.numpy()] = 0.0
        recon = denormalize(recon_t[0], normalization)
    else:
        gh, gw = h // patch, w // patch
        g = torch.Generator().manual_seed(seed)
        keep = random_keep_indices(1, gh * gw, mask_ratio, generator=g)
        visible = keep_to_mask(keep, gh * gw)[0].view(gh, gw)
        pix = visible.repeat_interleave(patch, 0).repeat_interleave(patch, 1).numpy()
        masked = denormalize(image, normalization) * pix
    return {"original": denormalize(image, normalization), "masked": masked, "reconstruction": recon}


def load_mae(mae_dir: str | Path) -> Any:
    """The full MAE (encoder *and* decoder) of a ``pretrain-mae`` run, for reconstructions.

    Why the checkpoint: the run's ``encoder.safetensors`` holds only the encoder (what alignment needs); the
    decoder that draws reconstructions lives in the resumable checkpoint ``checkpoint/last.pt`` (read with
    ``weights_only=True``). Raises FileNotFoundError naming the missing file.
    """
    from clinvla_kit.config import load_config
    from clinvla_kit.model.mae import build_mae
    from clinvla_kit.train.checkpoint import load_checkpoint

    mae_dir = Path(mae_dir)
    cfg_path, ckpt = mae_dir / "config.json", mae_dir / "checkpoint" / "last.pt"
    for f in (cfg_path, ckpt):
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no MAE run here (run `clinvla-kit pretrain-mae` or `recipe`)")
    mae = build_mae(load_config(cfg_path))
    mae.load_state_dict(load_checkpoint(ckpt)["model"])
    return mae.eval()


# -- adapters ------------------------------------------------------------------------------------------------
def adapter_summary(model: Any) -> dict[str, int | float]:
    """Parameter counts: total, trainable, of which in adapters, and the trainable share (the paper's Table 7)."""
    total = sum(p.numel() for p in model.parameters())
    groups = model.parameter_groups()
    trainable = sum(p.numel() for params in groups.values() for _, p in params)
    adapters = sum(p.numel() for g, params in groups.items() if g in ADAPTER_GROUPS for _, p in params)
    return {"total": total, "trainable": trainable, "adapter": adapters,
            "trainable_share": trainable / total if total else 0.0}


@contextlib.contextmanager
def adapters_disabled(model: Any) -> Iterator[int]:
    """Temporarily zero every adapter parameter (yields how many tensors were zeroed), restoring them after.

    Why zeroing switches adapters off: every adapter here is residual (bottleneck ``x + up(relu(down(x)))``,
    coupling ``e1 + F(e2)``, LoRA ``W + B A``), so with all its weights at zero it adds nothing and the frozen
    backbone is left as it was: the model "without adapters" but with its trained heads.
    """
    saved: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
    with torch.no_grad():
        for g, params in model.parameter_groups().items():
            if g in ADAPTER_GROUPS:
                for _, p in params:
                    saved.append((p, p.detach().clone()))
                    p.zero_()
    try:
        yield len(saved)
    finally:
        with torch.no_grad():
            for p, v in saved:
                p.copy_(v)


# -- zero-shot ------------------------------------------------------------------------------------------------
def parse_prompts(text: str) -> dict[str, list[str]]:
    """The prompt editor's text -> prompts: one line per class, ``Class: prompt one | prompt two``.

    Raises ValueError naming the line when a line has no ``:`` or no prompt.
    """
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if ":" not in line:
            raise ValueError(f"prompt line {n} ({line.strip()!r}) needs 'Class: prompt | prompt'")
        name, rest = line.split(":", 1)
        prompts = [p.strip() for p in rest.split("|") if p.strip()]
        if not name.strip() or not prompts:
            raise ValueError(f"prompt line {n} ({line.strip()!r}) has no class name or no prompt")
        out.setdefault(name.strip(), []).extend(prompts)
    if not out:
        raise ValueError("no prompts given")
    return out


def format_prompts(prompts: dict[str, list[str]]) -> str:
    """Inverse of ``parse_prompts`` (the editor's initial text)."""
    return "\n".join(f"{name}: " + " | ".join(ps) for name, ps in prompts.items())


@torch.no_grad()
def zeroshot_rescore(model: Any, tokenize: Callable[[str], tuple[torch.Tensor, torch.Tensor]],
                     image_emb: torch.Tensor | np.ndarray, labels: Sequence[int], classes: Sequence[str],
                     prompts: dict[str, list[str]], aggregate: str = "mean") -> dict[str, Any]:
    """Zero-shot accuracy of a labelled image set under edited prompts.

    Args:
        tokenize: text -> (input_ids [T], attention_mask [T]) (``Archive.tokenize``).
        image_emb: [N, D]; labels: [N] class indices into ``classes``.
        prompts: class -> prompt list; every class in ``classes`` needs at least one.
    Returns:
        ``{"acc": float, "confusion": K x K list, "classes": list}`` (``clinvla_kit.eval.zeroshot``).
    """
    from clinvla_kit.eval.zeroshot import class_scores, multiclass_metrics

    missing = [c for c in classes if not prompts.get(c)]
    if missing:
        raise ValueError(f"no prompt for class(es) {missing}; every class needs at least one")
    model.eval()
    class_embs = []
    for c in classes:
        toks = [tokenize(p) for p in prompts[c]]
        ids = torch.stack([t[0] for t in toks])
        mask = torch.stack([t[1] for t in toks])
        class_embs.append(model.encode_text(ids, mask, normalize=True).cpu().numpy())
    emb = image_emb.cpu().numpy() if isinstance(image_emb, torch.Tensor) else np.asarray(image_emb)
    m = multiclass_metrics(class_scores(emb, class_embs, aggregate), labels)
    return {"acc": m["acc"], "confusion": m["confusion"], "classes": list(classes)}


@torch.no_grad()
def embed_image_files(model: Any, paths: Sequence[str | Path], data_cfg: Any, batch_size: int = 32) -> torch.Tensor:
    """Single images (a benchmark's frontal views) -> [N, D] normalised embeddings, each placed in the frontal slot."""
    from clinvla_kit.data.images import read_image, resize, to_model_input

    model.eval()
    out = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        images = torch.zeros(len(chunk), 4, 3, data_cfg.image_size, data_cfg.image_size)
        present = torch.zeros(len(chunk), 4, dtype=torch.bool)
        for j, p in enumerate(chunk):
            images[j, 0] = to_model_input(resize(read_image(p), data_cfg.image_size, data_cfg.resize),
                                          data_cfg.normalization)
            present[j, 0] = True
        out.append(model.encode_image(images, present, normalize=True))
    return torch.cat(out)
