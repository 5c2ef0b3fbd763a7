"""Run logging: ``log.jsonl`` (one JSON object per log step), tqdm progress bars, optional TensorBoard.

``log.jsonl`` is the record the notebooks plot and the tests read: each line holds the step, every loss term, the
learning rate of every optimiser group, throughput in studies/s and the count of skipped (unreadable) samples. Only
rank 0 writes. On resume, lines past the checkpoint's step are dropped first, so the log has each step once.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

LOG_FILE = "log.jsonl"


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``log.jsonl`` (a run directory or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / LOG_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_log(path: str | Path, last_step: int) -> None:
    """Drop records with ``step > last_step`` (steps redone after a resume)."""
    path = Path(path)
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= last_step]
    path.write_text("".join(line + "\n" for line in keep))


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so a diverged step is still readable."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class RunLogger:
    """Writes log records on the main rank; a no-op elsewhere.

    Args:
        run_dir: where ``log.jsonl`` (and ``tensorboard/``) go.
        enabled: False on ranks other than 0.
        total_steps / initial_step: for the progress bar.
        tensorboard: also write scalars to TensorBoard when ``torch.utils.tensorboard`` is importable (it needs the
            ``tensorboard`` package, an optional extra); otherwise a note in the log and nothing else.
        desc: progress-bar label.
    """

    def __init__(self, run_dir: str | Path, enabled: bool, total_steps: int, initial_step: int = 0,
                 tensorboard: bool = False, desc: str = "train") -> None:
        self.path = Path(run_dir) / LOG_FILE
        self.enabled = enabled
        self.writer = None
        self.bar = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total_steps, initial=initial_step, desc=desc, unit="step", dynamic_ncols=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))
            except ImportError:
                self.note("train.tensorboard=true but the tensorboard package is not installed; logging to "
                          "log.jsonl only")

    def note(self, message: str) -> None:
        """A one-off message, shown above the progress bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message)
        else:
            print(message)

    def advance(self, n: int = 1, postfix: dict[str, float] | None = None) -> None:
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (must contain ``step``) to ``log.jsonl`` and TensorBoard."""
        if not self.enabled:
            return
        record = {"time": time.time(), **record}
        with open(self.path, "a") as f:
            f.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if k not in ("step", "time") and isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, record["step"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
