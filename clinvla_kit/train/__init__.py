"""clinvla_kit.train: the training loop, optimiser groups, schedule, checkpoints, MAE pretraining and the recipe.

Public entry points (imported lazily, so ``import clinvla_kit.train.schedule`` stays light):
``train`` (alignment), ``pretrain_mae``, ``recipe``, ``TrainResult``.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "train": "clinvla_kit.train.align",
    "TrainResult": "clinvla_kit.train.loop",
    "pretrain_mae": "clinvla_kit.train.pretrain_mae",
    "recipe": "clinvla_kit.train.recipe",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clinvla_kit.train' has no attribute {name!r}")
