"""The one training loop: CPU, one GPU (bf16 autocast) or many under ``torchrun`` (DDP), with exact resume.

``fit`` is model-agnostic: it needs a module with ``parameter_groups()`` (or plain trainable parameters), a dataset
and a ``compute_loss(module, batch) -> (loss, terms, n_studies)`` callable. ``train`` (alignment, ``align.py``)
and ``pretrain_mae`` both run through it, so both get checkpoints, resume, NaN stops and logging.

Batch semantics: ``TrainCfg.batch_size`` is the *global* micro-batch (split evenly over ranks), and one optimiser
update consumes ``grad_accum`` micro-batches. Contrastive negatives are gathered across ranks, so two processes with
batch 4 each behave as one process with batch 8 (tested with gloo).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from clinvla_kit import distributed
from clinvla_kit.config import TrainCfg, diff_configs
from clinvla_kit.train import device as devices
from clinvla_kit.train.checkpoint import (
    FORMAT_VERSION,
    checkpoint_path,
    load_checkpoint,
    rank_rng_path,
    rng_state,
    save_atomic,
    seed_everything,
    set_rng_state,
)
from clinvla_kit.train.logging import LOG_FILE, RunLogger, truncate_log
from clinvla_kit.train.optim import build_optimizer
from clinvla_kit.train.schedule import WarmupCosine, effective_warmup

LossFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, dict[str, torch.Tensor], int]"]

# Config fields that may change between a run and its resume without changing the numbers it produces.
RESUME_TOLERATED: tuple[str, ...] = (
    "train.checkpoint_every", "train.log_every", "train.tensorboard", "train.device", "data.num_workers",
)


class NonFiniteLossError(RuntimeError):
    """The loss (or gradient norm) became NaN or inf; parameters and the last checkpoint are left untouched."""


class TooManySkippedError(RuntimeError):
    """More samples were unreadable than ``train.max_skipped_fraction`` allows."""


@dataclass
class TrainResult:
    """What ``train`` returns: the run directory, final metrics (last log window, throughput) and the log file."""

    run_dir: Path
    metrics: dict[str, Any]
    log_path: Path


class _IndexSampler(Sampler[int]):
    """Yields a fixed list of indices: this rank's shard of one epoch, from the resume position on."""

    def __init__(self, indices: list[int]) -> None:
        self.indices = indices

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def epoch_indices(n: int, epoch: int, seed: int, world: int, rank: int) -> list[int]:
    """This rank's sample order for ``epoch``: ``DistributedSampler`` (shuffled by seed + epoch, drop_last) so every
    rank sees a disjoint, equally long shard; at world 1 it is simply a seeded permutation."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return list(sampler)


def _count_skipped(dataset: Any) -> int:
    """``dataset.skipped`` may be a count or a list of (sample, reason); absent means 0."""
    skipped = getattr(dataset, "skipped", 0)
    return len(skipped) if isinstance(skipped, Sized) else int(skipped or 0)


def _to_device(batch: Any, device: torch.device) -> Any:
    if hasattr(batch, "to"):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _lr_by_group(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """``{"lr/<group>": lr}``, one entry per model group (its decayed and undecayed halves share the rate)."""
    return {f"lr/{str(g.get('name', i)).split('/')[0]}": float(g["lr"]) for i, g in enumerate(optimizer.param_groups)}


def _check_resume_config(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    diffs = [d for d in diff_configs(saved, current) if d.split(":")[0] not in RESUME_TOLERATED]
    if diffs:
        raise ValueError(f"{path}: checkpoint was written with a different config; differing fields: "
                         + "; ".join(diffs) + ". Resume with the same preset and --set values, or start a new run.")


def fit(
    model: nn.Module,
    dataset: Dataset,
    compute_loss: LossFn,
    run_dir: str | Path,
    tcfg: TrainCfg,
    *,
    config: dict[str, Any],
    collate_fn: Callable | None = None,
    num_workers: int = 0,
    resume: bool = False,
    stop_after: int | None = None,
    desc: str = "train",
    param_groups: dict[str, list[tuple[str, nn.Parameter]]] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``dataset`` for ``tcfg.max_steps`` updates (or ``tcfg.epochs`` epochs) and return metrics.

    Args:
        model: the unwrapped module (DDP/compile wrappers are added here); its ``state_dict`` is checkpointed.
        compute_loss: ``(wrapped_module, batch_on_device) -> (loss scalar, {term: scalar}, studies in batch)``.
        run_dir: checkpoints go to ``run_dir/checkpoint/last.pt``, the log to ``run_dir/log.jsonl``.
        config: the full run config as a dict; stored in the checkpoint and compared on resume.
        resume: continue from ``run_dir/checkpoint/last.pt`` exactly (model, optimiser, scheduler, scaler, RNG,
            sampler position).
        stop_after: stop (with a checkpoint) after this many updates without finishing the schedule; tests use it
            to interrupt a run, notebooks to time-box one.
        param_groups: named groups for models without ``parameter_groups()`` (see ``optim.build_optimizer``).

    Raises:
        NonFiniteLossError: at the first NaN/inf loss or gradient norm (message names the step).
        TooManySkippedError: when unreadable samples exceed ``tcfg.max_skipped_fraction``.
    """
    distributed.init_from_env()
    world, rank = distributed.world_size(), distributed.rank()
    main = rank == 0
    device = devices.resolve_device(tcfg.device)
    devices.configure_backends(device)
    dtype = devices.resolve_precision(tcfg.precision, device)
    run_dir = Path(run_dir)
    ckpt = checkpoint_path(run_dir)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)

    if tcfg.batch_size % world:
        raise ValueError(f"train.batch_size={tcfg.batch_size} is the global batch and must divide evenly over "
                         f"{world} processes")
    local_bs = tcfg.batch_size // world
    accum = max(1, tcfg.grad_accum)
    n = len(dataset)  # type: ignore[arg-type]
    micro_per_epoch = (n // world) // local_bs
    steps_per_epoch = micro_per_epoch // accum
    if steps_per_epoch == 0:
        raise ValueError(f"{n} training samples are too few for one update of batch_size {tcfg.batch_size} x "
                         f"grad_accum {accum} over {world} process(es); lower train.batch_size")
    total = tcfg.max_steps if tcfg.max_steps else tcfg.epochs * steps_per_epoch
    warmup = effective_warmup(tcfg.warmup_steps, total)

    seed_everything(tcfg.seed + rank)  # different masks per rank; DDP broadcasts rank 0's weights anyway
    model.to(device)
    optimizer = build_optimizer(model, tcfg, param_groups)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup, total))
    scaler = devices.make_scaler(device, dtype)
    step, epoch, micro = 0, 0, 0  # micro = micro-batches of `epoch` already consumed

    if resume:
        state = load_checkpoint(ckpt)
        _check_resume_config(state["config"], config, ckpt)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, epoch, micro = int(state["step"]), int(state["epoch"]), int(state["micro"])
        rng = state["rng"]
        if rank > 0 and rank_rng_path(run_dir, rank).exists():
            rng = load_checkpoint(rank_rng_path(run_dir, rank))["rng"]
        set_rng_state(rng)
        if main:
            truncate_log(run_dir / LOG_FILE, step)
        del state
    elif main:
        (run_dir / LOG_FILE).unlink(missing_ok=True)  # a fresh run starts a fresh log

    wrapped: nn.Module = model
    if world > 1:
        if device.type == "cuda":  # head standardisation uses the statistics of the whole global batch
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            # models may hold trainable parts a config switches off (an MLM head at weight 0)
            find_unused_parameters=True)
    wrapped = devices.maybe_compile(wrapped, tcfg.compile)
    params = [p for g in optimizer.param_groups for p in g["params"]]

    logger = RunLogger(run_dir, main, total, step, tcfg.tensorboard, desc)
    if warmup != tcfg.warmup_steps:
        logger.note(f"{desc}: warm-up capped at {warmup} of {total} updates (configured: {tcfg.warmup_steps})")
    sums: dict[str, float] = {}
    n_window, studies_window, seen, skipped0 = 0, 0, 0, _count_skipped(dataset)
    t_window = t_start = time.perf_counter()
    studies_total = 0
    last: dict[str, Any] = {}

    last_saved: int | None = step if resume else None

    def save(reason: str) -> None:
        nonlocal last_saved
        last_saved = step
        pos_epoch, pos_micro = (epoch + 1, 0) if micro >= steps_per_epoch * accum else (epoch, micro)
        if main:
            save_atomic({
                "format": FORMAT_VERSION, "step": step, "epoch": pos_epoch, "micro": pos_micro, "reason": reason,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state(),
                "config": config,
            }, ckpt)
        elif world > 1:
            save_atomic({"format": FORMAT_VERSION, "rng": rng_state()}, rank_rng_path(run_dir, rank))
        if world > 1:
            torch.distributed.barrier()

    model.train()
    stopped = False
    while step < total and not stopped:
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)  # per-epoch augmentation draws (set before workers copy the dataset)
        order = epoch_indices(n, epoch, tcfg.seed, world, rank)[micro * local_bs: steps_per_epoch * accum * local_bs]
        loader = DataLoader(
            dataset, batch_size=local_bs, sampler=_IndexSampler(order), drop_last=True, collate_fn=collate_fn,
            num_workers=num_workers, pin_memory=device.type == "cuda",
            # a private generator: creating the iterator must not draw from the global RNG, or a resumed run's
            # masks would differ from an uninterrupted run's
            generator=torch.Generator().manual_seed(tcfg.seed * 100_003 + epoch * 1_009 + rank))
        optimizer.zero_grad(set_to_none=True)
        k = 0  # micro-batches in the current update
        for batch in loader:
            micro += 1
            seen += local_bs
            batch = _to_device(batch, device)
            sync = k + 1 == accum
            no_sync = wrapped.no_sync() if world > 1 and not sync and hasattr(wrapped, "no_sync") else None
            with no_sync or contextlib.nullcontext():
                with devices.autocast(device, dtype):
                    loss, terms, n_studies = compute_loss(wrapped, batch)
                values = torch.stack([loss.detach().float()] + [t.detach().float() for t in terms.values()])
                values = distributed.all_reduce_mean(values)  # same verdict on every rank, no hang on NaN
                if not bool(torch.isfinite(values).all()):
                    where = (f"last good checkpoint {ckpt} (step {last_saved}) kept" if last_saved is not None
                             else "no checkpoint written yet")
                    bad = {"loss": float(values[0]), **{k2: float(v) for k2, v in zip(terms, values[1:])}}
                    raise NonFiniteLossError(f"{desc}: non-finite loss at step {step + 1} (micro-batch {k + 1}): "
                                             f"{bad}; training stopped, {where}")
                scaler.scale(loss / accum).backward()
            sums["loss"] = sums.get("loss", 0.0) + float(values[0]) / accum
            for name, v in zip(terms, values[1:]):
                sums[name] = sums.get(name, 0.0) + float(v) / accum
            studies_window += n_studies * world
            k += 1
            if k < accum:
                continue

            # one optimiser update
            grad_norm = float("nan")
            if tcfg.grad_clip and tcfg.grad_clip > 0:
                scaler.unscale_(optimizer)
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, tcfg.grad_clip))
                if not math.isfinite(grad_norm) and not scaler.is_enabled():
                    raise NonFiniteLossError(f"{desc}: non-finite gradient norm at step {step + 1}; training "
                                             f"stopped, parameters and the last checkpoint are unchanged")
            lrs = _lr_by_group(optimizer)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            k = 0
            n_window += 1

            skipped = _count_skipped(dataset) - skipped0
            if skipped and skipped / max(1, seen) > tcfg.max_skipped_fraction:
                raise TooManySkippedError(
                    f"{desc}: {skipped} of {seen} samples were unreadable ({skipped / seen:.1%} > "
                    f"train.max_skipped_fraction={tcfg.max_skipped_fraction}); run `clinvla-kit validate` on the "
                    "data to list them")
            logger.advance(1, {"loss": float(values[0])})
            if step % max(1, tcfg.log_every) == 0 or step == total:
                now = time.perf_counter()
                last = {"step": step, "epoch": epoch, **{k2: v / n_window for k2, v in sums.items()}, **lrs,
                        "grad_norm": grad_norm, "studies_per_s": studies_window / max(now - t_window, 1e-9),
                        "skipped": skipped}
                logger.log(last)
                studies_total += studies_window
                sums, n_window, studies_window, t_window = {}, 0, 0, now
            stop_now = stop_after is not None and step >= stop_after
            if step == total or stop_now or (tcfg.checkpoint_every and step % tcfg.checkpoint_every == 0):
                save("end" if step == total else "stop" if stop_now else "every")
            if step >= total or stop_now:
                stopped = stop_now and step < total
                break
        else:
            epoch, micro = epoch + 1, 0
            continue
        if micro >= steps_per_epoch * accum:
            epoch, micro = epoch + 1, 0

    logger.close()
    studies_total += studies_window
    wall = time.perf_counter() - t_start
    metrics = {k2: v for k2, v in last.items() if not k2.startswith("lr/")}
    metrics.update({"step": step, "total_steps": total, "stopped_early": stopped, "wall_s": wall,
                    "studies_per_s": studies_total / max(wall, 1e-9),
                    "skipped": _count_skipped(dataset) - skipped0})
    return metrics
