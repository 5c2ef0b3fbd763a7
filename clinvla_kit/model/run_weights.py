"""Reading a run's ``model.safetensors`` with clear errors: a truncated file, or a ``config.json`` edited after the
weights were saved.

``save_pretrained`` stores the full run config in the safetensors metadata (key ``clinvla_config``). So when the
weights do not fit the model that ``config.json`` describes, the differing *config fields* can be named
("model.vision.depth: 2 in the weights, 3 in config.json"), which says what to undo, instead of a list of tensor
names and shapes that only says that something is off.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

CONFIG_KEY = "clinvla_config"


def read_weights(path: str | Path, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """``(tensors, stored run config or None)`` of a safetensors file.

    Raises:
        ValueError: naming the file when it cannot be read (truncated by an interrupted copy, or not safetensors).
    """
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device=device) as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except Exception as e:  # SafetensorError (truncated header or data), OSError, ...
        raise ValueError(f"{path}: cannot read the weights ({type(e).__name__}: {e}); the file is truncated or not "
                         f"a safetensors file (an interrupted copy or download?): copy it again") from e
    stored = None
    if CONFIG_KEY in meta:
        try:
            stored = json.loads(meta[CONFIG_KEY])
        except json.JSONDecodeError:
            stored = None
    return state, stored


def changed_architecture(stored: dict[str, Any] | None, current: Any) -> list[str]:
    """Architecture fields that differ between the weights' stored config and ``current`` (a RunCfg or dict), as
    ``"name: WEIGHTS (in the weights) != CURRENT (in config.json)"``; [] when nothing is stored."""
    from clinvla_kit.model.clinvla import architecture_diff  # the model's own list of layout-changing fields

    if stored is None:
        return []
    out = []
    for d in architecture_diff(stored, current):
        name, values = d.split(": ", 1)
        old, new = values.split(" != ", 1)
        out.append(f"{name}: {old} in the weights, {new} in config.json")
    return out


def read_run_weights(path: str | Path, cfg: Any, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a run's ``model.safetensors``, after checking that ``config.json`` (``cfg``) still describes
    the architecture they were saved with.

    Raises:
        ValueError: the file is unreadable, or config.json's architecture fields were changed (named, with both
            values, and how to get the saved config back).
    """
    path = Path(path)
    state, stored = read_weights(path, device)
    changed = changed_architecture(stored, cfg)
    if changed:
        raise ValueError(f"{path.parent / 'config.json'} was changed after {path.name} was saved; these fields no "
                         f"longer match the weights: {'; '.join(changed)}. Undo the edit (the saved config is in "
                         f"the safetensors metadata key {CONFIG_KEY!r}), or train a new run with the new values")
    return state


def key_mismatch(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str:
    """"" when ``state`` has exactly ``expected``'s keys and shapes, else a message naming the missing, unexpected
    and mis-shaped keys (first 8 of each)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(f"{k}: file {tuple(state[k].shape)} != model {tuple(expected[k].shape)}"
                    for k in set(expected) & set(state) if state[k].shape != expected[k].shape)
    if not (missing or unexpected or shapes):
        return ""
    return f"missing keys {missing[:8]}, unexpected keys {unexpected[:8]}, shape mismatches {shapes[:8]}"
