"""Zero-shot prompt sets: built from the kit's template table or loaded from a user's JSON file.

Papers differ in their prompts and the prompts move zero-shot accuracy by several points, so prompts are data, not
code: ``prompts.json`` (shipped) holds a severity x subtype x location table per class, and ``load_prompt_file``
reads ``{"Class": ["prompt", ...], ...}`` so a user can evaluate with a paper's exact prompts.
"""

from __future__ import annotations

import itertools
import json
import random
from importlib import resources
from pathlib import Path
from typing import Any


def prompt_table() -> dict[str, Any]:
    """The shipped table (``clinvla_kit/eval/prompts.json``) as a dict."""
    return json.loads(resources.files("clinvla_kit.eval").joinpath("prompts.json").read_text())


def expand_templates(parts: dict[str, list[str]]) -> list[str]:
    """Every ``severity x subtype x location`` combination, empty parts dropped, duplicates removed (order kept)."""
    for key in ("severity", "subtype", "location"):
        if key not in parts or not isinstance(parts[key], list) or not parts[key]:
            raise ValueError(f"prompt template needs a non-empty list {key!r}, got {parts.get(key)!r}")
    out: list[str] = []
    for combo in itertools.product(parts["severity"], parts["subtype"], parts["location"]):
        text = " ".join(p for p in combo if p).strip()
        if text and text not in out:
            out.append(text)
    return out


def build_prompts(
    classes: list[str] | tuple[str, ...], max_per_class: int | None = None, seed: int = 0, table: dict | None = None
) -> dict[str, list[str]]:
    """Prompt lists for ``classes`` from the template table.

    Args:
        classes: class names present in ``table["classes"]``.
        max_per_class: keep a seeded random subset of this size (GLoRIA samples a few prompts per class); None = all.
        seed: seed of that subset, so a run is reproducible.
        table: a table of the same layout as ``prompts.json`` (default: the shipped one).
    Returns:
        class name -> list of prompt strings.
    """
    table = table or prompt_table()
    out: dict[str, list[str]] = {}
    for name in classes:
        if name not in table["classes"]:
            raise ValueError(f"no prompt template for class {name!r}; table has {sorted(table['classes'])}")
        prompts = expand_templates(table["classes"][name])
        if max_per_class is not None and len(prompts) > max_per_class:
            prompts = random.Random(f"{seed}:{name}").sample(prompts, max_per_class)
        out[name] = prompts
    return out


def temporal_prompts(finding: str, table: dict | None = None) -> dict[str, list[str]]:
    """``{"improving": [...], "stable": [...], "worsening": [...]}`` for one finding (e.g. "pleural effusion")."""
    table = table or prompt_table()
    return {cls: [t.format(finding=finding.lower()) for t in temps] for cls, temps in table["temporal"].items()}


def load_prompt_file(path: str | Path) -> dict[str, list[str]]:
    """Read a user's prompts: a JSON object class name -> list of prompt strings (or a template dict).

    Errors name the file and the class, so a typo in a paper's prompt file is found at once.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise FileNotFoundError(f"prompt file {path} does not exist") from e
    except json.JSONDecodeError as e:
        raise ValueError(f"prompt file {path}: not valid JSON ({e})") from e
    if not isinstance(data, dict) or not data:
        raise ValueError(f"prompt file {path}: expected a non-empty object class -> list of prompts")
    out: dict[str, list[str]] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            try:
                value = expand_templates(value)
            except ValueError as e:
                raise ValueError(f"prompt file {path}, class {name!r}: {e}") from e
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError(f"prompt file {path}, class {name!r}: expected a non-empty list of non-empty strings")
        out[str(name)] = list(value)
    return out
