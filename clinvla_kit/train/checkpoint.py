"""Resumable training checkpoints: atomic writes, tensors and plain containers only.

A checkpoint holds everything needed to continue a run as if it had never stopped: model and optimiser state,
scheduler, grad scaler, the step, the sampler position (epoch, micro-batch within the epoch) and every RNG state
(python, numpy, torch CPU, CUDA). It is written to a temporary file in the same directory, fsynced and moved over
the old one with ``os.replace`` (atomic on POSIX and Windows), so a crash mid-write leaves the previous checkpoint
intact. It is read with ``torch.load(weights_only=True)``: no pickled objects, so a checkpoint from elsewhere
cannot run code on load. Final weights for sharing are ``model.safetensors`` (``save_pretrained``), not this file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "last.pt"
FORMAT_VERSION = 1


def checkpoint_path(run_dir: str | Path) -> Path:
    """``RUN/checkpoint/last.pt``: the one resumable checkpoint of a run (the latest good one)."""
    return Path(run_dir) / CHECKPOINT_DIR / CHECKPOINT_FILE


def rank_rng_path(run_dir: str | Path, rank: int) -> Path:
    """RNG state of rank > 0 under torchrun (rank 0's lives in ``last.pt``): every rank masks differently."""
    return Path(run_dir) / CHECKPOINT_DIR / f"rng_rank{rank}.pt"


def save_atomic(obj: dict[str, Any], path: str | Path, keep_previous: bool = False) -> Path:
    """``torch.save`` to ``path`` atomically: temp file in the same directory, fsync, ``os.replace``.

    The temp file must be on the same file system as the target for ``os.replace`` to be atomic, hence the same
    directory. On failure the temp file is removed and the previous ``path`` is untouched. With ``keep_previous``
    the file being replaced is kept as ``previous_path(path)`` until ``confirm`` (or ``roll_back``) decides.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.exists():
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def previous_path(path: str | Path) -> Path:
    """``last.pt`` -> ``last.previous.pt``: the checkpoint before the latest, kept until the latest is confirmed."""
    path = Path(path)
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def rejected_path(path: str | Path) -> Path:
    """``last.pt`` -> ``last.rejected.pt``: a checkpoint whose weights gave a non-finite loss (kept for a look)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.rejected{path.suffix}")


def confirm(path: str | Path) -> None:
    """The latest checkpoint's weights gave a finite loss: the previous one is no longer needed."""
    previous_path(path).unlink(missing_ok=True)


def roll_back(path: str | Path) -> bool:
    """The latest checkpoint's weights gave a non-finite loss: move it to ``rejected_path`` and put the previous
    one back in its place. Returns whether there was a previous one (else no usable checkpoint remains)."""
    path, prev = Path(path), previous_path(path)
    if path.exists():
        os.replace(path, rejected_path(path))
    if prev.exists():
        os.replace(prev, path)
        return True
    return False


def clean_stale_temps(directory: str | Path) -> list[Path]:
    """Remove ``.NAME.tmp-PID`` files that a process killed during ``save_atomic`` left behind; returns them.

    Only call this when no process writes into ``directory`` (at the start of a run, before the first save)."""
    directory = Path(directory)
    stale = sorted(directory.glob(".*.tmp-*")) if directory.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a clear error names the file when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from (train without --resume to start a new run)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated file, foreign pickle, ...
        raise ValueError(f"{path}: not a readable clinvla-kit checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a clinvla-kit checkpoint of format {FORMAT_VERSION}")
    return state


def rng_state() -> dict[str, Any]:
    """Every RNG this process uses, as tensors and plain containers (numpy's key array becomes a list of ints)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], [int(k) for k in np_state[1]], int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured (CUDA only when both sides have it)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
