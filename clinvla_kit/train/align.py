"""``train``: ClinVLA alignment training, the one function behind ``clinvla-kit train`` and the notebooks.

It builds (or takes) the model and the data sets, then runs the generic loop (``loop.fit``) with the loss of
``clinvla_kit.losses.total_loss``. The model is used only through its contract (``forward(batch)``,
``parameter_groups()``, ``save_pretrained(run_dir, cfg)``), so tests drive it with small stand-ins.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from clinvla_kit import distributed
from clinvla_kit.config import RunCfg, to_dict
from clinvla_kit.train.checkpoint import seed_everything
from clinvla_kit.train.logging import LOG_FILE
from clinvla_kit.train.loop import TrainResult, fit

ENCODER_FILE = "encoder.safetensors"
"""What ``pretrain_mae`` writes in its run directory and ``--init-vision RUN`` looks for."""


def resolve_vision_init(path: str | Path) -> Path:
    """``--init-vision`` accepts a ``pretrain-mae`` run directory (its ``encoder.safetensors``) or a weights file."""
    path = Path(path)
    if path.is_dir():
        if not (path / ENCODER_FILE).is_file():
            raise FileNotFoundError(f"{path}: no {ENCODER_FILE} in this directory; give a `clinvla-kit pretrain-mae` "
                                    "run directory or a .safetensors/.pth file")
        return path / ENCODER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: --init-vision file or directory does not exist")
    return path


def resolve_text_init(path: str | Path) -> Path:
    """``--init-text`` is a local BERT directory (a ``pretrain-mlm`` run's ``text/`` folder or the run itself)."""
    path = Path(path)
    for cand in (path / "text", path):
        if (cand / "config.json").is_file():
            return cand
    raise FileNotFoundError(f"{path}: --init-text needs a directory with a transformers config.json "
                            "(a `clinvla-kit pretrain-mlm` run or a saved BERT)")


def check_vision_weights(cfg: RunCfg, vision_file: Path | None) -> None:
    """Refuse to train adapters on a frozen image backbone that nothing initialised (a random ViT, silently).

    Where the weights can come from: ``--init-vision RUN`` (a ``pretrain-mae``/``pretrain-mrm`` run or a file),
    ``model.vision.checkpoint`` (a shipped name such as ``synthcxr-mrm-vit6``, or a local file) or
    ``model.vision.pretrained=true`` (timm hub, needs network). ``model.vision.allow_random_frozen=true`` says the
    random backbone is meant (tests, a deliberate baseline)."""
    from clinvla_kit.weights import registry

    v, a = cfg.model.vision, cfg.model.adapters
    frozen = v.freeze_backbone and not a.full_finetune
    if not frozen or vision_file is not None or v.checkpoint or v.pretrained or v.allow_random_frozen:
        return
    raise ValueError(
        "the image backbone is frozen (model.vision.freeze_backbone=true) but no pretrained weights were given, so "
        "the adapters would train on a random ViT. Give --init-vision RUN (a `clinvla-kit pretrain-mae` or "
        "`pretrain-mrm` run), --set model.vision.checkpoint=NAME_OR_FILE (shipped: "
        f"{sorted(registry()) or 'none'}), or "
        "model.vision.freeze_backbone=false; --set model.vision.allow_random_frozen=true trains it anyway")


def with_max_steps(cfg: RunCfg, max_steps: int | None) -> RunCfg:
    """``--max-steps`` is part of the run's config: it sets the schedule's length, so resume can check it."""
    if max_steps is None:
        return cfg
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_steps=int(max_steps)))


def tokenizer_of(model: nn.Module) -> Any:
    """The model's tokenizer (``model.tokenizer`` or ``model.text.tokenizer``)."""
    tok = getattr(model, "tokenizer", None)
    if tok is None and hasattr(model, "text"):
        tok = getattr(model.text, "tokenizer", None)
    if tok is None:
        raise AttributeError(f"{type(model).__name__} exposes no tokenizer (model.tokenizer or model.text.tokenizer)")
    return tok


def build_datasets(cfg: RunCfg, data_dir: str | Path, model: nn.Module) -> dict[str, Dataset]:
    """MIMIC-format ``data_dir`` -> ``{"train": StudyDataset, "validate": StudyDataset}`` (validate if non-empty)."""
    from clinvla_kit.data.dataset import StudyDataset
    from clinvla_kit.data.sources.mimic import load_mimic

    records = load_mimic(data_dir, splits=("train", "validate"))
    by_split = {s: [r for r in records if r.split == s] for s in ("train", "validate")}
    if not by_split["train"]:
        raise ValueError(f"{data_dir}: no studies in the 'train' split of mimic-cxr-2.0.0-split.csv")
    tok = tokenizer_of(model)
    out: dict[str, Dataset] = {"train": StudyDataset(by_split["train"], cfg.data, tok, train=True, seed=cfg.train.seed)}
    if by_split["validate"]:
        out["validate"] = StudyDataset(by_split["validate"], cfg.data, tok, train=False, seed=cfg.train.seed)
    return out


def trim_padding(batch: Any) -> Any:
    """Cut ``input_ids`` / ``attention_mask`` [B, T] to the longest real report in the batch.

    Why: the dataset pads every report to ``max_tokens`` (128) but SynthCXR reports are ~10-90 tokens, and the
    frozen text backbone still runs forward and backward (through its adapters) over padding; trimming changes no
    real token's output (padding is masked) and saves about a third of the text tower's time. Only used at world
    size 1: under DDP every rank keeps the full width so gathered word features have equal shapes.
    """
    if not hasattr(batch, "attention_mask") or batch.attention_mask.dim() != 2:
        return batch
    longest = int(batch.attention_mask.sum(1).max())
    if longest >= batch.attention_mask.shape[1] or longest == 0:
        return batch
    return dataclasses.replace(batch, input_ids=batch.input_ids[:, :longest],
                               attention_mask=batch.attention_mask[:, :longest])


def default_collate() -> Callable:
    from clinvla_kit.data.dataset import collate

    return collate


@torch.no_grad()
def evaluate_loss(model: nn.Module, dataset: Dataset, cfg: RunCfg, loss_fn: Callable, collate_fn: Callable | None,
                  device: torch.device, max_batches: int = 2) -> dict[str, float]:
    """Mean loss terms over (the first ``max_batches`` batches of) ``dataset`` in eval mode (no masking).

    A cheap over-fitting check, not an evaluation (``clinvla-kit evaluate`` does that): capped so that it costs a
    few training steps at most. Contrastive losses depend on the batch, so values compare between runs with the same
    batch size only.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=False, drop_last=len(dataset) >= 2 * cfg.train.batch_size,
                        collate_fn=collate_fn)
    sums: dict[str, float] = {}
    n = 0
    for i, batch in enumerate(loader):
        if i >= max_batches:
            break
        if len(batch) < 2:
            continue  # a contrastive loss needs negatives
        loss, terms = loss_fn(model(batch.to(device)), cfg.loss)
        for k, v in {"loss": loss, **terms}.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n += 1
    model.train()
    return {f"val_{k}": v / n for k, v in sums.items()} if n else {}


def prepare_model(cfg: RunCfg, init_vision: str | Path | None = None, init_text: str | Path | None = None,
                  max_steps: int | None = None, model: nn.Module | None = None,
                  resume: bool = False) -> tuple[RunCfg, nn.Module, Path | None]:
    """The run's final config and its initial model, exactly as ``train`` makes them (seeded build, encoder init).

    Split out of ``train`` so that code which must look at the model before the first update (``progress``
    measures retrieval at step 0) starts from the very weights an uninterrupted ``train`` call would.

    Returns:
        ``(cfg with max_steps and the text init applied, model, resolved vision file or None)``.
    """
    cfg = with_max_steps(cfg, max_steps)
    if init_text is not None:
        text = dataclasses.replace(cfg.model.text, name_or_path=str(resolve_text_init(init_text)))
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, text=text))
    vision_file = resolve_vision_init(init_vision) if init_vision is not None else None
    distributed.init_from_env()
    seed_everything(cfg.train.seed)  # model initialisation is part of the run's reproducibility
    if model is None and not resume:
        check_vision_weights(cfg, vision_file)
    if model is None:
        from clinvla_kit.model.clinvla import ClinVLA

        model = ClinVLA(cfg)
    if vision_file is not None and not resume:
        from clinvla_kit.model.mae import load_vision_init

        load_vision_init(model, vision_file)
    return cfg, model, vision_file


def train(
    cfg: RunCfg,
    data_dir: str | Path | None,
    out_dir: str | Path,
    init_vision: str | Path | None = None,
    init_text: str | Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    model: nn.Module | None = None,
    datasets: Mapping[str, Dataset] | Dataset | None = None,
    *,
    loss_fn: Callable | None = None,
    collate_fn: Callable | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Align images and reports; write ``out_dir`` = a run directory (weights, config, tokenizer, log, checkpoint).

    Args:
        cfg: the run config (a preset plus overrides).
        data_dir: MIMIC-format data (``clinvla-kit synth`` output or MIMIC-CXR-JPG); unused when ``datasets`` given.
        out_dir: the run directory.
        init_vision: a ``pretrain-mae`` run directory or encoder file loaded into the image tower before training
            (ignored on resume: the checkpoint already holds those weights).
        init_text: a local BERT directory (``pretrain-mlm`` run); recorded as ``model.text.name_or_path``.
        resume: continue from ``out_dir/checkpoint/last.pt`` with identical numbers.
        max_steps: optimiser updates in the run (sets the cosine schedule's length); default from the preset.
        model / datasets: ready-made model and ``{"train": ds, "validate": ds}`` (or one train data set), for
            notebooks and tests.
        loss_fn: ``(ClinVLAOutput, LossCfg) -> (loss, terms)``; default ``clinvla_kit.losses.total_loss``.
        collate_fn: default ``clinvla_kit.data.dataset.collate``.
        stop_after: stop with a checkpoint after this many updates (see ``loop.fit``); no final weights then.

    Returns:
        ``TrainResult(run_dir, metrics, log_path)``; metrics hold the last logged loss terms, throughput,
        skipped samples and, on one process, the validation-split loss.
    """
    cfg, model, vision_file = prepare_model(cfg, init_vision, init_text, max_steps, model, resume)
    run_dir = Path(out_dir)
    if datasets is None:
        if data_dir is None:
            raise ValueError("train: give data_dir or datasets")
        datasets = build_datasets(cfg, data_dir, model)
    if not isinstance(datasets, Mapping):
        datasets = {"train": datasets}
    if "train" not in datasets:
        raise ValueError(f"train: datasets needs a 'train' entry, got {sorted(datasets)}")
    collate_fn = collate_fn or getattr(datasets["train"], "collate", None) or default_collate()
    if loss_fn is None:
        from clinvla_kit.losses import total_loss as loss_fn  # type: ignore[no-redef]

    trim = distributed.world_size() == 1

    def compute_loss(module: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
        loss, terms = loss_fn(module(trim_padding(batch) if trim else batch), cfg.loss)
        return loss, terms, len(batch)

    metrics = fit(model, datasets["train"], compute_loss, run_dir, cfg.train, config=to_dict(cfg),
                  collate_fn=collate_fn, num_workers=cfg.data.num_workers, resume=resume, stop_after=stop_after,
                  desc="train")
    if not metrics["stopped_early"]:
        if "validate" in datasets and distributed.world_size() == 1:
            device = next(model.parameters()).device
            metrics.update(evaluate_loss(model, datasets["validate"], cfg, loss_fn, collate_fn, device))
        if distributed.is_main():
            model.save_pretrained(run_dir, cfg)
            (run_dir / "train_metrics.json").write_text(json.dumps(
                {**metrics, "init_vision": str(vision_file) if vision_file else None}, indent=2) + "\n")
    if distributed.world_size() > 1:
        torch.distributed.barrier()
    return TrainResult(run_dir=run_dir, metrics=metrics, log_path=run_dir / LOG_FILE)
