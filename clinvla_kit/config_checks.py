"""Type and range checks of config values, run whenever a config is built from a dict (presets, ``config.json``,
``--set`` overrides, papermill parameters).

Why here and not where a value is used: a wrong ``--set`` value (``train.batch_size=eight``, ``train.lr=fast``,
``data.image_size=-64``) otherwise travels deep into the model or the data loader and surfaces as a traceback far
from its cause. Checked at build time it is one ``ValueError`` naming the field, which the CLI prints as one line.

Types come from the dataclass annotations (so a new field is checked without touching this module); ranges from
``RANGES`` by dotted field name (names that do not exist are ignored, so the table survives renamed fields).
Choices of string fields ("pooling", "resize", ...) are checked by the code that interprets them, which owns the
list of choices.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields, is_dataclass
from typing import Any

_POS, _NONNEG = (1, None, True), (0, None, True)
_FRACTION, _PROB = (0.0, 1.0, False), (0.0, 1.0, True)  # [0, 1) and [0, 1]

RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    # name: (minimum inclusive, maximum, maximum inclusive)
    **{f"data.{n}": _POS for n in ("image_size", "max_tokens")},
    "data.num_workers": _NONNEG,
    "data.view_dropout": _FRACTION,
    "data.augment_intensity": _FRACTION,
    **{f"model.vision.{n}": _POS for n in ("embed_dim", "depth", "num_heads", "patch_size")},
    "model.vision.mask_ratio": _FRACTION,
    "model.text.max_tokens": _POS,
    "model.text.dropout": _PROB,
    "model.adapters.bottleneck": _POS,
    "model.adapters.lora_rank": _POS,
    "model.embed_dim": _POS,
    **{f"loss.{n}": _NONNEG for n in ("global_weight", "local_weight", "mae_weight", "mlm_weight")},
    "loss.local_chunk": _POS,
    "loss.init_logit_scale": (1e-12, None, True),
    **{f"train.{n}": _POS for n in ("batch_size", "epochs", "grad_accum")},
    **{f"train.{n}": _NONNEG for n in ("max_steps", "warmup_steps", "checkpoint_every", "log_every", "weight_decay",
                                       "grad_clip", "lr", "lr_language_adapter", "lr_task_adapter", "lr_backbone")},
    "train.max_skipped_fraction": _PROB,
    "mae.mask_ratio": _FRACTION,
    **{f"mae.{n}": _POS for n in ("decoder_dim", "decoder_depth", "decoder_heads", "batch_size", "epochs")},
    **{f"mae.{n}": _NONNEG for n in ("lr", "max_steps", "warmup_steps")},
    **{f"mlm.{n}": _POS for n in ("vocab_size", "hidden", "layers", "heads", "intermediate", "batch_size", "epochs")},
    **{f"mlm.{n}": _NONNEG for n in ("lr", "max_steps", "warmup_steps")},
    "mlm.mask_prob": _PROB,
    "mrm.mask_prob": _PROB,
    "mrm.report_view_mask_ratio": _FRACTION,
    "mrm.itc_weight": _NONNEG,
    "mrm.itc_dim": _POS,
    **{f"mrm.{n}": _POS for n in ("text_dim", "text_depth", "text_heads")},
}
"""Allowed ranges by dotted field name (missing fields are ignored)."""


def _describe(tp: Any) -> str:
    """A type annotation in user words ("an integer", "a number or null", "a list of 3 numbers")."""
    if tp is type(None):
        return "null"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0]).split(' ', 1)[-1]}s"
        return f"a list of {len(args)} items"
    if is_dataclass(tp):
        return f"a section ({tp.__name__}: a JSON object of its fields)"
    return getattr(tp, "__name__", str(tp))


def _matches(value: Any, tp: Any) -> bool:
    """Does ``value`` (as built from JSON) fit annotation ``tp``? ints count as floats, bools never as numbers."""
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # an annotation this checker does not know: accept


def _range_problem(value: Any, rng: tuple[float | None, float | None, bool]) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None  # None (e.g. max_steps=null) or a non-number the type check allowed
    lo, hi, hi_inclusive = rng
    if lo is not None and value < lo:
        return f">= {lo:g}"
    if hi is not None and (value > hi or (value == hi and not hi_inclusive)):
        return f"{'<=' if hi_inclusive else '<'} {hi:g}"
    return None


def check_config_values(obj: Any, where: str) -> None:
    """Raise ``ValueError`` at the first field of dataclass ``obj`` whose value has the wrong type or range.

    Args:
        obj: a config dataclass just built by ``config._build``.
        where: its dotted path as ``_build`` names it ("config", "config.train", ...); "config." is dropped in
            messages so they read as ``--set`` keys.
    """
    prefix = where.split(".", 1)[1] + "." if "." in where else ""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        name, value = prefix + f.name, getattr(obj, f.name)
        tp = hints.get(f.name, Any)
        if not _matches(value, tp):
            raise ValueError(f"config field {name}: expected {_describe(tp)}, got {value!r} "
                             f"({type(value).__name__}); e.g. --set {name}=<value>")
        if name in RANGES:
            problem = _range_problem(value, RANGES[name])
            if problem:
                raise ValueError(f"config field {name}: must be {problem}, got {value!r}")
