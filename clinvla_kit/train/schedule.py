"""Learning-rate schedule: linear warm-up then cosine decay, as a pure function of the step.

The schedule is a plain function of integers (no optimiser, no state) so that it can be tested directly, plotted in
a notebook, and resumed exactly: after a resume the multiplier depends only on the restored step counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate for the optimiser update with 0-based index ``step``.

    - warm-up (``step < warmup_steps``): ``(step + 1) / warmup_steps``, so the first update already moves
      (a zero learning rate would waste a step) and update ``warmup_steps - 1`` uses the full rate;
    - afterwards: cosine from 1 down to ``min_ratio`` over the remaining ``total_steps - warmup_steps`` updates;
    - past ``total_steps`` the multiplier stays at ``min_ratio``.

    Args:
        step: 0-based optimiser update index.
        warmup_steps: updates of linear warm-up (0 = none).
        total_steps: updates in the whole run (the cosine reaches ``min_ratio`` there).
        min_ratio: final multiplier in [0, 1].
    """
    if step < 0 or total_steps <= 0 or warmup_steps < 0:
        raise ValueError(f"warmup_cosine: need step >= 0, total_steps > 0, warmup_steps >= 0 "
                         f"(got {step}, {total_steps}, {warmup_steps})")
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"warmup_cosine: min_ratio must be in [0, 1], got {min_ratio}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def effective_warmup(warmup_steps: int, total_steps: int, max_fraction: float = 0.2) -> int:
    """Warm-up capped at ``max_fraction`` of the run.

    Why: a preset's warm-up (e.g. 20 updates for ``tiny``) would otherwise swallow a short ``--max-steps`` smoke run
    entirely and the run would never reach its base learning rate. The loop logs the value it used.
    """
    return max(0, min(warmup_steps, int(total_steps * max_fraction)))


@dataclass
class WarmupCosine:
    """Callable form for ``torch.optim.lr_scheduler.LambdaLR``.

    A dataclass rather than a closure: ``LambdaLR.state_dict()`` stores a callable object's ``__dict__`` (three
    numbers here), which a ``weights_only`` checkpoint load accepts.
    """

    warmup_steps: int
    total_steps: int
    min_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        return warmup_cosine(step, self.warmup_steps, self.total_steps, self.min_ratio)
