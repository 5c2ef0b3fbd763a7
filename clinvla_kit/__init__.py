"""clinvla-kit: chest X-ray vision-language alignment (ClinVLA / ALTA) as a small library.

``from clinvla_kit import ClinVLA, load`` gives the model class and the inference entry point
(``clinvla_kit.inference.load``). They are imported on first access (module ``__getattr__``, PEP 562), so
``import clinvla_kit`` stays cheap: ``clinvla-kit synth`` never pays for importing torch and transformers.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_LAZY: dict[str, tuple[str, str]] = {
    "ClinVLA": ("clinvla_kit.model.clinvla", "ClinVLA"),
    "load": ("clinvla_kit.inference", "load"),
    "InferenceModel": ("clinvla_kit.inference", "InferenceModel"),
    "ZeroShotResult": ("clinvla_kit.inference", "ZeroShotResult"),
}

__all__ = ["ClinVLA", "InferenceModel", "ZeroShotResult", "__version__", "load"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # cache: later lookups do not come back here
        return value
    raise AttributeError(f"module 'clinvla_kit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
