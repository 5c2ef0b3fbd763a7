"""The registry of weights shipped inside the package (``clinvla_kit/weights/``), loaded by name.

Like timm's or open_clip's pretrained tags, a shipped model is named, not pathed:
``--set model.vision.checkpoint=synthcxr-mrm-vit6`` loads the kit's own masked-pretrained image encoder. The files
were made once, offline, by the commands their model cards give (``model_cards/<name>.md``: command, SynthCXR
version and seeds, steps, wall time, machine, sha256, measured quality); users do not rerun them.

``registry.json`` maps each name to its file, kind, sha256, the card and the config fields the weights need
(``architecture``: dotted config keys, e.g. ``model.vision.depth``), so a config that does not fit is refused with the
field names rather than a list of tensor shapes. Files are safetensors only (never pickles), at most 30 MB each.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

MAX_BYTES = 30 * 2**20
"""Budget for one shipped file (the package must stay installable from a registry)."""


def weights_dir() -> Path:
    """The folder inside the installed package that holds the shipped files and ``registry.json``."""
    return Path(str(resources.files("clinvla_kit"))) / "weights"


@lru_cache(maxsize=1)
def registry() -> dict[str, dict[str, Any]]:
    """name -> entry (``file``, ``kind``, ``sha256``, ``card``, ``architecture``, ...) from ``registry.json``."""
    path = weights_dir() / "registry.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of name -> entry")
    return data


def is_shipped(name: str | Path | None) -> bool:
    """True when ``name`` is a registry name (and not an existing local path)."""
    return name is not None and str(name) in registry() and not Path(str(name)).exists()


def entry(name: str) -> dict[str, Any]:
    """The registry entry of ``name``; unknown names raise with the list of shipped ones."""
    reg = registry()
    if name not in reg:
        raise ValueError(f"{name!r} is not a shipped model; shipped: {sorted(reg) or 'none'} "
                         "(or give a local file or run directory)")
    return reg[name]


def resolve(name: str) -> Path:
    """Shipped name -> the file inside the package (checked to exist)."""
    path = weights_dir() / entry(name)["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shipped weights {name!r} are listed in registry.json but the file is "
                                "missing from this installation")
    return path


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """``model.vision.checkpoint`` value -> a path: a shipped name resolves into the package, anything else is a
    local file or directory (returned as is, checked by the loader)."""
    return resolve(str(name_or_path)) if is_shipped(name_or_path) else Path(name_or_path)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def architecture_mismatch(name: str, values: dict[str, Any]) -> list[str]:
    """Config fields whose values differ from what the shipped weights ``name`` need: [] when they fit.

    ``values``: dotted config key -> value (e.g. ``{"model.vision.depth": 6, "data.image_size": 64}``); a key the
    entry needs that ``values`` lacks counts as a mismatch."""
    out = []
    for key, want in entry(name).get("architecture", {}).items():
        have = values.get(key)
        if have != want:
            out.append(f"{key}={have!r} (the weights need {want!r})")
    return out


def check_architecture(name: str, values: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming every config field that does not fit the shipped weights ``name``."""
    bad = architecture_mismatch(name, values)
    if bad:
        raise ValueError(f"model.vision.checkpoint={name!r} does not fit this config: {'; '.join(bad)}; "
                         f"set those fields (the `tiny` preset has them) or choose another checkpoint")


def export_fp16(state: dict[str, Any], path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write a state dict as float16 safetensors (floating tensors only are halved): how shipped files are made.
    Why fp16: half the bytes, and the frozen encoder's outputs change by < 1e-3 (the card measures it)."""
    from safetensors.torch import save_file

    path = Path(path)
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_file(half, str(path), metadata=metadata or {})
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size / 2**20:.1f} MB is over the {MAX_BYTES // 2**20} MB budget")
    return path
