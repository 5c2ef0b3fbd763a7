"""``recipe``: every step of a preset's offline recipe, in order, the final run in ``OUT/run``.

1. (only when the text tower is our own small BERT and ``clinvla-kit pretrain-mlm`` exists) masked-language
   pretraining of the text tower on the training reports -> ``OUT/mlm``;
2. (when ``mae.enabled``; off in ``tiny``) MAE pretraining of the image tower on the training images -> ``OUT/mae``;
3. alignment training (with ``--init-vision OUT/mae`` and ``--init-text OUT/mlm`` where those ran) -> ``OUT/run``.
The tutorial, the evaluation and the benchmarks all start from this one call. ``OUT/recipe.json`` records the
config, the wall time of every stage that ran and the stages skipped.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clinvla_kit import distributed
from clinvla_kit.config import RunCfg, apply_overrides, load_preset, to_dict
from clinvla_kit.train.align import train
from clinvla_kit.train.loop import TrainResult
from clinvla_kit.train.pretrain_mae import pretrain_mae

MLM_TEXT_NAMES: tuple[str, ...] = ("mlm", "own", "scratch")
"""``model.text.name_or_path`` values meaning "our own BERT, pretrained by pretrain-mlm first"."""


def needs_mlm(cfg: RunCfg) -> bool:
    """MLM pretraining runs only for an own-BERT text tower and when the ``pretrain-mlm`` command is shipped:
    a pretrained text backbone (MiniLM offline, BioBERT with network) needs none."""
    return (cfg.model.text.name_or_path in MLM_TEXT_NAMES
            and importlib.util.find_spec("clinvla_kit.commands.pretrain_mlm") is not None)


def recipe(data_dir: str | Path, out_dir: str | Path, preset: str = "tiny", max_steps: int | None = None,
           overrides: Sequence[str] | dict[str, Any] = (),
           align: Callable[..., TrainResult] | None = None) -> TrainResult:
    """Run the preset's recipe on ``data_dir``; return the alignment run's ``TrainResult`` (run dir ``OUT/run``).

    Args:
        preset: preset name or JSON path; ``overrides`` are ``key=value`` strings (``--set``) or a dict.
        max_steps: caps every stage at this many updates (smoke tests); default: each preset's epochs.
        align: the alignment stage (default ``train``), called as ``train`` is (``(cfg, data_dir, OUT/run,
            init_vision=..., init_text=..., max_steps=...)``); ``progress.with_progress(...)`` gives one that also measures
            retrieval along the way (notebook 03) and trains the very same weights.
    """
    if isinstance(overrides, dict):  # one form for both the library call and the pretrain-mlm command line
        overrides = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in overrides.items()]
    overrides = list(overrides)
    cfg = apply_overrides(load_preset(preset), overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    init_text = None
    if needs_mlm(cfg):
        from clinvla_kit.cli import main as cli_main

        argv = ["pretrain-mlm", "--data", str(data_dir), "--out", str(out / "mlm"), "--preset", preset]
        if max_steps is not None:
            argv += ["--max-steps", str(max_steps)]
        if overrides:
            argv += ["--set", *overrides]
        t = time.perf_counter()
        if cli_main(argv) != 0:
            raise RuntimeError(f"recipe: pretrain-mlm failed ({' '.join(argv)})")
        stages["pretrain_mlm_s"] = time.perf_counter() - t
        init_text = out / "mlm"
    skipped: list[str] = []
    mae_dir = None
    if cfg.mae.enabled:
        t = time.perf_counter()
        mae_dir = pretrain_mae(cfg, data_dir, out / "mae", max_steps=max_steps)
        stages["pretrain_mae_s"] = time.perf_counter() - t
    else:
        skipped.append("pretrain_mae")
        if distributed.is_main():
            # a note, not a warning: stdout, so a notebook does not show it in red as if something failed
            print(f"recipe: no MAE stage (mae.enabled is false in preset {preset!r}; --set mae.enabled=true runs it)")
    t = time.perf_counter()
    result = (align or train)(cfg, data_dir, out / "run", init_vision=mae_dir, init_text=init_text,
                              max_steps=max_steps)
    stages["train_s"] = time.perf_counter() - t
    stages["total_s"] = time.perf_counter() - t0
    if distributed.is_main():
        (out / "recipe.json").write_text(json.dumps({
            "preset": preset, "data": str(data_dir), "max_steps": max_steps, "stages": stages, "skipped": skipped,
            "run": str(result.run_dir), "metrics": result.metrics, "config": to_dict(cfg)}, indent=2) + "\n")
    return result
