"""``pretrain_mrm``: masked-record pretraining (MAE on the views + report MLM conditioned on the image) of the image
tower, on the training split of a MIMIC-format data set (``clinvla_kit.model.mrm``).

Same run-directory contract as ``pretrain_mae``: ``encoder.safetensors`` (plain timm ViT keys, what
``train --init-vision RUN`` and ``model.vision.checkpoint`` load), ``config.json``, ``log.jsonl``, ``checkpoint/``
(resume), ``train_metrics.json``. The loop is ``loop.fit``: checkpoints, exact resume, NaN stop, skipped-sample
accounting and logging come with it. Studies are read by the alignment data set (``StudyDataset``: the same
cleaning, tokenisation, augmentation and error handling), with the prior slots off: MRM sees one study at a time.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clinvla_kit import distributed
from clinvla_kit.config import RunCfg, save_config, to_dict
from clinvla_kit.train.align import ENCODER_FILE
from clinvla_kit.train.checkpoint import seed_everything
from clinvla_kit.train.loop import fit
from clinvla_kit.train.pretrain_mae import mae_train_cfg

VOCAB_FILE = "mrm_vocab.json"
"""The compact report vocabulary (tokenizer ids) of the run: rebuilt identically on resume from this file."""


def mrm_data_cfg(cfg: RunCfg) -> RunCfg:
    """MRM reads a study's current views only (frontal + lateral): the prior slots are off, no view dropout."""
    data = dataclasses.replace(cfg.data, use_prior=False, use_lateral=True, view_dropout=0.0)
    vision = dataclasses.replace(cfg.model.vision, temporal=False, multiview=True)
    return dataclasses.replace(cfg, data=data, model=dataclasses.replace(cfg.model, vision=vision))


def report_vocabulary(dataset: Any, tokenizer: Any) -> torch.Tensor:
    """Distinct tokenizer ids of every report in ``dataset`` (a ``StudyDataset``) -> [V'] long."""
    from clinvla_kit.model.mrm import compact_vocabulary

    ids = [dataset.report(i)[1] for i in range(len(dataset))]
    return compact_vocabulary(torch.cat(ids), int(tokenizer.vocab_size))


def pretrain_mrm(cfg: RunCfg, data_dir: str | Path | None, out_dir: str | Path, max_steps: int | None = None, *,
                 resume: bool = False, dataset: Any = None, stop_after: int | None = None) -> Path:
    """MRM-pretrain ``cfg.model.vision`` on the training split of ``data_dir``; return the run directory.

    Args:
        cfg: run config; ``cfg.mae`` gives batch size, lr, epochs, warm-up and the pixel decoder, ``cfg.mrm`` the
            report branch, ``cfg.model.text.name_or_path`` the tokenizer, ``cfg.train`` the rest.
        max_steps: optimiser updates (the schedule's length); default ``cfg.mae.max_steps`` or the epochs.
        dataset: a ready ``StudyDataset`` (tests, notebooks); otherwise built from ``data_dir``.
    """
    from transformers import AutoTokenizer

    from clinvla_kit.model.mrm import MRM
    from clinvla_kit.model.text import resolve_text_source

    cfg = mrm_data_cfg(mae_train_cfg(cfg, max_steps))
    m = cfg.mae
    tcfg = dataclasses.replace(cfg.train, batch_size=m.batch_size, lr=m.lr, epochs=m.epochs, max_steps=m.max_steps,
                               warmup_steps=m.warmup_steps)
    distributed.init_from_env()
    seed_everything(cfg.train.seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_text_source(cfg.model.text.name_or_path))
    if dataset is None:
        if data_dir is None:
            raise ValueError("pretrain_mrm: give data_dir or dataset")
        from clinvla_kit.data.dataset import StudyDataset
        from clinvla_kit.data.sources.mimic import load_mimic

        records = load_mimic(data_dir, splits=("train",), use_lateral=True, use_prior=False)
        if not records:
            raise ValueError(f"{data_dir}: no studies in the 'train' split of mimic-cxr-2.0.0-split.csv")
        dataset = StudyDataset(list(records), cfg.data, tokenizer, train=True, seed=cfg.train.seed)
    run_dir = Path(out_dir)
    vocab_path = run_dir / VOCAB_FILE
    if resume and vocab_path.is_file():
        vocab = torch.tensor(json.loads(vocab_path.read_text())["token_ids"], dtype=torch.long)
    else:
        vocab = report_vocabulary(dataset, tokenizer)
        if distributed.is_main():
            run_dir.mkdir(parents=True, exist_ok=True)
            vocab_path.write_text(json.dumps({"token_ids": vocab.tolist()}) + "\n")
    model = MRM(cfg, tokenizer, vocab)

    def compute_loss(module: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any], int]:
        loss, terms = module(batch)
        return loss, terms, len(batch)

    from clinvla_kit.data.dataset import collate

    groups = {"mrm": [(n, p) for n, p in model.named_parameters() if p.requires_grad]}
    metrics = fit(model, dataset, compute_loss, run_dir, tcfg, config=to_dict(cfg), collate_fn=collate,
                  num_workers=cfg.data.num_workers, resume=resume, stop_after=stop_after, desc="pretrain-mrm",
                  param_groups=groups)
    if distributed.is_main() and not metrics["stopped_early"]:
        model.save_encoder(run_dir / ENCODER_FILE)
        save_config(cfg, run_dir / "config.json")
        (run_dir / "train_metrics.json").write_text(json.dumps(
            {**metrics, "studies": len(dataset), "vocabulary": int(vocab.numel())}, indent=2) + "\n")
    if distributed.world_size() > 1:
        torch.distributed.barrier()
    return run_dir
