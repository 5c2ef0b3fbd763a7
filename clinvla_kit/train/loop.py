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
import os
import sys
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
    clean_stale_temps,
    confirm,
    load_checkpoint,
    previous_path,
    rank_rng_path,
    rejected_path,
    rng_state,
    roll_back,
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

# Optimisation fields that may change on resume (a lower learning rate after a blow-up, more steps): the run goes on
# from the checkpoint with the new values. Everything else (architecture, data, loss, batch size, accumulation and
# seed, which fix the sampler position) must match.
RESUME_CHANGEABLE: tuple[str, ...] = tuple(
    [f"train.{n}" for n in ("lr", "lr_language_adapter", "lr_task_adapter", "lr_backbone", "weight_decay",
                            "warmup_steps", "max_steps", "epochs", "grad_clip", "max_skipped_fraction", "compile")]
    + [f"{stage}.{n}" for stage in ("mae", "mlm") for n in ("lr", "max_steps", "epochs", "warmup_steps")])

SKIP_MIN_SAMPLES = 200
"""The unreadable share is judged only once this many samples (or one whole epoch of a smaller set) were drawn:
one bad study in the first batch of 8 is 12.5 % of that batch but about 1 % of an 83-study set."""


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


def _count_skipped(dataset: Any, attr: str = "skipped") -> int:
    """``dataset.skipped`` (or ``.missing_views``) may be a count or a list of (sample, reason); absent means 0."""
    skipped = getattr(dataset, attr, 0)
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


def _check_resume_config(saved: dict[str, Any], current: dict[str, Any], path: Path) -> list[str]:
    """Refuse a resume whose config differs outside ``RESUME_TOLERATED``/``RESUME_CHANGEABLE``; return the
    changed optimisation fields (as ``"name: old != new"``) that the resumed run will apply."""
    diffs = [d for d in diff_configs(saved, current) if d.split(":")[0] not in RESUME_TOLERATED]
    fixed = [d for d in diffs if d.split(":")[0] not in RESUME_CHANGEABLE]
    if fixed:
        raise ValueError(f"{path}: checkpoint was written with a different config; fields that must match on "
                         "resume (architecture, data, loss, batch size, accumulation, seed) differ: "
                         + "; ".join(fixed) + ". Only optimisation fields (learning rates, weight_decay, "
                         "warmup_steps, max_steps, epochs, grad_clip) may change on --resume; otherwise start a "
                         "new run.")
    return diffs


def _weights_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


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
        stale = clean_stale_temps(ckpt.parent)  # left by a process killed while writing a checkpoint
        if stale:
            print(f"{desc}: removed {len(stale)} partial checkpoint file(s) of an interrupted write: "
                  f"{', '.join(p.name for p in stale)}", file=sys.stderr)

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
    fresh_groups = [(g["initial_lr"], g.get("weight_decay")) for g in optimizer.param_groups]  # this config's
    changed: list[str] = []
    rank_rng = rank_rng_path(run_dir, rank) if rank > 0 else None

    if resume:
        if not ckpt.exists() and previous_path(ckpt).exists():  # killed between the two renames of a save
            os.replace(previous_path(ckpt), ckpt)
        state = load_checkpoint(ckpt)
        changed = _check_resume_config(state["config"], config, ckpt)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if changed:  # the checkpoint's rates and schedule length give way to the new optimisation fields
            for g, (lr0, wd) in zip(optimizer.param_groups, fresh_groups):
                g["initial_lr"] = lr0
                if wd is not None:
                    g["weight_decay"] = wd
            scheduler.base_lrs = [lr0 for lr0, _ in fresh_groups]
            scheduler.lr_lambdas = [WarmupCosine(warmup, total) for _ in optimizer.param_groups]
            for g, base, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
                g["lr"] = base * fn(scheduler.last_epoch)
            scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
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
    if changed:
        logger.note(f"{desc}: resumed at step {step} with changed optimisation fields: {'; '.join(changed)}")
    if warmup != tcfg.warmup_steps:
        logger.note(f"{desc}: warm-up capped at {warmup} of {total} updates (configured: {tcfg.warmup_steps})")
    sums: dict[str, float] = {}
    n_window, studies_window, seen, skipped0 = 0, 0, 0, _count_skipped(dataset)
    t_window = t_start = time.perf_counter()
    studies_total = 0
    last: dict[str, Any] = {}

    last_saved: int | None = step if resume else None
    # A checkpoint is "confirmed" once a loss computed from exactly its weights was finite; until then the one
    # before it is kept (checkpoint.previous_path). Why: the update of step k can already blow the weights up
    # (5e29 after one step at a far too high rate) while step k's own loss looked fine, so a checkpoint written
    # right after it would be the "last good" one and NaN again on resume.
    unconfirmed = resume  # a resumed checkpoint's weights are confirmed by the first resumed loss
    prev_saved: int | None = None

    def own_file() -> Path | None:
        return ckpt if main else rank_rng if world > 1 else None

    def save(reason: str) -> None:
        nonlocal last_saved, prev_saved, unconfirmed
        if not _weights_finite(model):
            raise NonFiniteLossError(f"{desc}: non-finite weights after step {step}; checkpoint not written, "
                                     f"{ckpt} (step {last_saved}) kept")
        prev_saved, last_saved = last_saved, step
        final = reason in ("end", "stop")  # no later loss will confirm it: the finite weights have to do
        pos_epoch, pos_micro = (epoch + 1, 0) if micro >= steps_per_epoch * accum else (epoch, micro)
        if main:
            save_atomic({
                "format": FORMAT_VERSION, "step": step, "epoch": pos_epoch, "micro": pos_micro, "reason": reason,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state(),
                "config": config,
            }, ckpt, keep_previous=not final)
        elif world > 1:
            save_atomic({"format": FORMAT_VERSION, "rng": rng_state()}, rank_rng, keep_previous=not final)
        unconfirmed = not final
        if final and own_file() is not None:
            confirm(own_file())
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
                    if unconfirmed:  # these very weights are in the latest checkpoint: fall back to the one before
                        restored = roll_back(own_file()) if own_file() is not None else prev_saved is not None
                        bad_step, last_saved = last_saved, prev_saved if restored else None
                        where = (f"the step-{bad_step} checkpoint gave this loss and was set aside as "
                                 f"{rejected_path(ckpt).name}; " + (
                                     f"last good checkpoint {ckpt} (step {last_saved}) restored" if restored else
                                     "no earlier checkpoint to go back to: start again with a lower learning rate"))
                        if restored and last_saved is None:
                            where = f"the previous checkpoint {ckpt} restored ({rejected_path(ckpt).name} set aside)"
                    else:
                        where = (f"last good checkpoint {ckpt} (step {last_saved}) kept" if last_saved is not None
                                 else "no checkpoint written yet")
                    if last_saved is not None or "restored" in where:
                        where += " (--resume may change the optimisation fields, e.g. a lower train.lr)"
                    bad = {"loss": float(values[0]), **{k2: float(v) for k2, v in zip(terms, values[1:])}}
                    raise NonFiniteLossError(f"{desc}: non-finite loss at step {step + 1} (micro-batch {k + 1}): "
                                             f"{bad}; training stopped, {where}")
                if unconfirmed:
                    unconfirmed = False  # the latest checkpoint's weights gave a finite loss
                    if own_file() is not None:
                        confirm(own_file())
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
            if (skipped and seen >= min(SKIP_MIN_SAMPLES, n // world)
                    and skipped / max(1, seen) > tcfg.max_skipped_fraction):
                raise TooManySkippedError(
                    f"{desc}: {skipped} of {seen} samples so far were unreadable ({skipped / seen:.1%} > "
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
                    "skipped": _count_skipped(dataset) - skipped0,
                    "missing_views": _count_skipped(dataset, "missing_views")})
    return metrics
