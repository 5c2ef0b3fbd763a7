"""``pretrain_mae``: masked-image pretraining of the image tower on the data set's own images.

Offline there is no downloadable masked vision model, so the kit makes one: an MAE (75 % masking, light decoder,
normalised-pixel loss; ``clinvla_kit.model.mae``) trained on every distinct image of the training split (frontal,
lateral and the prior studies' images, each once). The run directory gets ``encoder.safetensors`` (plain timm ViT
keys), which ``train --init-vision RUN`` loads. The loop is the alignment loop (``loop.fit``), so MAE pretraining
has the same checkpoints, resume, NaN stop, DDP and logging.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from clinvla_kit import distributed
from clinvla_kit.config import SLOTS, DataCfg, RunCfg, save_config, to_dict
from clinvla_kit.data.records import StudyRecord
from clinvla_kit.train.align import ENCODER_FILE
from clinvla_kit.train.checkpoint import seed_everything
from clinvla_kit.train.loop import fit


class ViewImages(Dataset):
    """A single-image view of study records: each distinct image path once -> ``[3, H, W]`` tensors.

    Prior slots point at earlier studies' images, which are usually in the split already; deduplicating by path
    keeps each image's weight equal. Augmentation (train, ``data.augment``) is the study augmentation of
    ``clinvla_kit.data.dataset.Augment``, drawn from (seed, epoch, index) so any worker count gives the same images.
    Unreadable images are recorded in ``skipped`` and replaced by the next image (the loop stops when too many are).
    """

    def __init__(self, records: list[StudyRecord], data_cfg: DataCfg, train: bool = True, seed: int = 0,
                 max_replacements: int = 50) -> None:
        use = {"frontal": True, "lateral": data_cfg.use_lateral, "prior_frontal": data_cfg.use_prior,
               "prior_lateral": data_cfg.use_prior and data_cfg.use_lateral}
        seen: dict[Path, str] = {}
        for rec in records:
            for slot in SLOTS:
                path = rec.images[slot]
                if path is not None and use[slot] and Path(path) not in seen:
                    seen[Path(path)] = rec.study_id
        if not seen:
            raise ValueError("pretrain-mae: the training split has no images")
        self.paths = list(seen)
        self.study_of = [seen[p] for p in self.paths]
        self.cfg, self.train, self.seed, self.epoch = data_cfg, train, seed, 0
        self.max_replacements = max_replacements
        self.skipped: list[tuple[str, str]] = []  # (path, reason)

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def load(self, index: int) -> torch.Tensor:
        from clinvla_kit.data.dataset import Augment
        from clinvla_kit.data.images import read_image, resize, to_model_input

        img = resize(read_image(self.paths[index]), self.cfg.image_size, self.cfg.resize)
        if self.train and self.cfg.augment:
            img = Augment.draw(np.random.default_rng([self.seed, self.epoch, index])).apply(img)
        return to_model_input(img, self.cfg.normalization)

    def __getitem__(self, index: int) -> torch.Tensor:
        from clinvla_kit.data.errors import DataError

        for attempt in range(self.max_replacements + 1):
            i = (index + attempt) % len(self.paths)
            try:
                return self.load(i)
            except (DataError, OSError) as e:
                self.skipped.append((str(self.paths[i]), str(e)))
        raise RuntimeError(f"pretrain-mae: {self.max_replacements + 1} consecutive images failed to load from "
                           f"{self.paths[index]}; last: {self.skipped[-1][1]}. Run `clinvla-kit validate`.")


def mae_train_cfg(cfg: RunCfg, max_steps: int | None = None) -> RunCfg:
    """The run config with ``train`` replaced by the MAE stage's batch, lr, epochs, warm-up and steps.

    Stored as the MAE run's ``config.json``; ``mae.max_steps`` records ``--max-steps`` so resume can check it.
    """
    mae = dataclasses.replace(cfg.mae, max_steps=max_steps if max_steps is not None else cfg.mae.max_steps)
    return dataclasses.replace(cfg, mae=mae)


def pretrain_mae(cfg: RunCfg, data_dir: str | Path | None, out_dir: str | Path, max_steps: int | None = None, *,
                 resume: bool = False, model: nn.Module | None = None, dataset: Dataset | None = None,
                 stop_after: int | None = None) -> Path:
    """MAE-pretrain ``cfg.model.vision`` on the training split of ``data_dir``; return the run directory.

    Args:
        cfg: run config; ``cfg.mae`` gives batch size, lr, epochs and warm-up, ``cfg.train`` the rest
            (device, precision, clipping, checkpointing, seed).
        data_dir: MIMIC-format data (unused when ``dataset`` is given).
        out_dir: run directory: ``encoder.safetensors``, ``config.json``, ``log.jsonl``, ``checkpoint/``.
        max_steps: optimiser updates (sets the schedule's length); default ``cfg.mae.max_steps`` or the epochs.
        model / dataset: a ready MAE (``forward(images) -> (loss, pred, keep)``, ``save_encoder(dir)``) and an
            image data set, for notebooks and tests.
    """
    cfg = mae_train_cfg(cfg, max_steps)
    m = cfg.mae
    tcfg = dataclasses.replace(cfg.train, batch_size=m.batch_size, lr=m.lr, epochs=m.epochs, max_steps=m.max_steps,
                               warmup_steps=m.warmup_steps)
    distributed.init_from_env()
    seed_everything(cfg.train.seed)
    if model is None:
        from clinvla_kit.model.mae import build_mae

        model = build_mae(cfg)
    if dataset is None:
        if data_dir is None:
            raise ValueError("pretrain_mae: give data_dir or dataset")
        from clinvla_kit.data.sources.mimic import load_mimic

        records = load_mimic(data_dir, splits=("train",), use_lateral=cfg.data.use_lateral,
                             use_prior=cfg.data.use_prior)
        if not records:
            raise ValueError(f"{data_dir}: no studies in the 'train' split of mimic-cxr-2.0.0-split.csv")
        dataset = ViewImages(list(records), cfg.data, train=True, seed=cfg.train.seed)

    def compute_loss(module: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any], int]:
        loss, _pred, _keep = module(images)
        return loss, {}, int(images.shape[0])

    groups = {"mae": [(n, p) for n, p in model.named_parameters() if p.requires_grad]}
    run_dir = Path(out_dir)
    metrics = fit(model, dataset, compute_loss, run_dir, tcfg, config=to_dict(cfg), num_workers=cfg.data.num_workers,
                  resume=resume, stop_after=stop_after, desc="pretrain-mae", param_groups=groups)
    if distributed.is_main() and not metrics["stopped_early"]:
        model.save_encoder(run_dir / ENCODER_FILE)
        save_config(cfg, run_dir / "config.json")
        (run_dir / "train_metrics.json").write_text(json.dumps({**metrics, "images": len(dataset)}, indent=2) + "\n")
    if distributed.world_size() > 1:
        torch.distributed.barrier()
    return run_dir
