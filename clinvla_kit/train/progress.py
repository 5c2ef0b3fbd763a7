"""Training with a metric measured along the way: the run is trained in segments (``train(..., stop_after=N)``, then
``resume=True``) and the model is evaluated between them, at step 0 and every ``every`` updates to the end.

Why segments and not a callback inside the loop: ``loop.fit`` already resumes exactly (model, optimiser, schedule,
RNG and sampler position come back from the checkpoint), so whatever an evaluation does to the RNG or the module's
mode cannot leak into training; the weights at the end are the weights of one uninterrupted ``train`` call (tested),
and the loop stays as it is. Cost: one checkpoint write and read per segment (a second or two for ``tiny``).

What changes against one call: the log's averaging windows restart at each segment boundary, so choose ``every`` as
a multiple of ``train.log_every`` to keep the log lines identical too.

``with_progress(evaluate, every)`` returns a stand-in for ``train`` that ``recipe(..., align=...)`` calls, so notebook
03 trains the same run as ``clinvla-kit recipe``. The rows (one per measured step: ``{"step", "wall_s", "train_loss",
**evaluate(model)}``) go to ``metrics["progress"]`` and ``RUN/progress.csv``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn
from torch.utils.data import Dataset

from clinvla_kit.config import RunCfg
from clinvla_kit.train.align import build_datasets, prepare_model, train
from clinvla_kit.train.logging import LOG_FILE, read_log
from clinvla_kit.train.loop import TrainResult

PROGRESS_FILE = "progress.csv"

Evaluate = Callable[[nn.Module], Mapping[str, Any]]


def eval_steps(total: int, every: int) -> list[int]:
    """``[0, every, 2 * every, ..., total]`` (the end always included, once)."""
    if total < 1:
        raise ValueError(f"a run needs at least one update, got {total}")
    if every < 1:
        raise ValueError(f"evaluate every >= 1 updates, got every={every}")
    return sorted({*range(0, total, every), total})


def total_updates(cfg: RunCfg, n_train: int) -> int:
    """Updates in the run, as ``loop.fit`` counts them: ``train.max_steps``, else epochs x updates per epoch."""
    t = cfg.train
    return int(t.max_steps) if t.max_steps else t.epochs * ((n_train // t.batch_size) // max(1, t.grad_accum))


def _last_loss(run_dir: Path, step: int) -> float | None:
    rows = [r for r in read_log(run_dir / LOG_FILE) if r.get("step", 0) <= step] if (run_dir / LOG_FILE).exists() else []
    return float(rows[-1]["loss"]) if rows else None


def summary(row: Mapping[str, Any], total: int) -> str:
    """One line per measured step: ``"step 20/80 (41 s): loss 5.12; image-to-text P@5 0.31 [0.25, 0.37], chance
    0.20: interval above chance"`` (a row without value/interval/chance lists its numbers instead)."""
    head = f"step {row['step']}/{total} ({row['wall_s']:.0f} s)"
    if row.get("train_loss") is not None:
        head += f": loss {row['train_loss']:.3f}"
    if all(k in row for k in ("value", "ci_lo", "ci_hi", "chance")):
        where = ("includes chance" if row["ci_lo"] <= row["chance"] <= row["ci_hi"] else
                 "above chance" if row["ci_lo"] > row["chance"] else "below chance")
        return (f"{head}; {row.get('metric', 'metric')} {row['value']:.2f} [{row['ci_lo']:.2f}, {row['ci_hi']:.2f}], "
                f"chance {row['chance']:.2f}: interval {where}")
    rest = {k: v for k, v in row.items() if isinstance(v, float) and k not in ("wall_s", "train_loss")}
    return f"{head}; " + ", ".join(f"{k} {v:.3f}" for k, v in rest.items())


def train_with_progress(
    cfg: RunCfg,
    data_dir: str | Path | None,
    out_dir: str | Path,
    init_vision: str | Path | None = None,
    init_text: str | Path | None = None,
    max_steps: int | None = None,
    *,
    evaluate: Evaluate,
    every: int,
    model: nn.Module | None = None,
    datasets: Mapping[str, Dataset] | Dataset | None = None,
    loss_fn: Callable | None = None,
    collate_fn: Callable | None = None,
    quiet: bool = False,
) -> TrainResult:
    """``train`` with ``evaluate(model)`` at steps ``eval_steps(total, every)``; same arguments, same run directory.

    Args:
        evaluate: ``model -> {name: value}`` (e.g. ``eval.quick_retrieval.RetrievalProbe``); it may switch the
            module to eval mode (training switches it back).
        every: updates between two evaluations.
        quiet: no one-line summary printed after each evaluation.

    Returns:
        the final segment's ``TrainResult``; ``metrics["progress"]`` holds the rows (also in ``RUN/progress.csv``).
    """
    cfg, model, _ = prepare_model(cfg, init_vision, init_text, max_steps, model)
    if datasets is None:
        if data_dir is None:
            raise ValueError("train_with_progress: give data_dir or datasets")
        datasets = build_datasets(cfg, data_dir, model)  # built once: its in-memory cache serves every segment
    if not isinstance(datasets, Mapping):
        datasets = {"train": datasets}
    run_dir = Path(out_dir)
    total = total_updates(cfg, len(datasets["train"]))  # type: ignore[arg-type]
    steps = eval_steps(total, every)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    result: TrainResult | None = None
    done = 0
    for step in steps:
        if step > done:
            result = train(cfg, None, run_dir, model=model, datasets=datasets, loss_fn=loss_fn, collate_fn=collate_fn,
                           resume=done > 0, stop_after=step if step < total else None)
            done = step
        row = {"step": step, "wall_s": round(time.perf_counter() - t0, 1),
               "train_loss": _last_loss(run_dir, step) if step else None, **evaluate(model)}
        rows.append(row)
        if not quiet:
            print(summary(row, total), flush=True)
    assert result is not None  # total >= 1, so at least one segment ran
    table = pd.DataFrame(rows)
    table.to_csv(run_dir / PROGRESS_FILE, index=False)
    result.metrics["progress"] = rows
    return result


def with_progress(evaluate: Evaluate, every: int, **kwargs: Any) -> Callable[..., TrainResult]:
    """A ``train``-shaped callable for ``recipe(..., align=with_progress(probe, every=20))``."""
    return functools.partial(train_with_progress, evaluate=evaluate, every=every, **kwargs)
