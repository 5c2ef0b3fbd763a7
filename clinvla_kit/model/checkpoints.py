"""Local loading of image-tower weights: timm, MAE and MRM checkpoints, converted to timm ViT key names.

Key map (``convert_vit_keys``), applied to a flat state dict after unwrapping ``{"model": ...}`` /
``{"state_dict": ...}`` / ``{"module": ...}``:

=================================================  =====================================================
source key                                         result
=================================================  =====================================================
``module.`` / ``model.`` / ``encoder.`` /          prefix stripped (DDP, MAE/MRM wrappers, our MAE run's
``backbone.`` / ``visual.`` / ``image_encoder.`` /   ``encoder.``, a ClinVLA run's ``vision.vit.``)
``vision.vit.`` / ``vit.``
``cls_token``, ``pos_embed``, ``patch_embed.*``,   kept as is (MAE, MRM and timm share these names)
``blocks.N.*``, ``norm.*``
``fc_norm.*`` when there is no ``norm.*``           ``norm.*`` (MAE fine-tuned with global pooling)
``decoder_*``, ``mask_token``                      dropped (MAE/MRM pixel decoder)
``bert*``, ``cls.*``, ``mlm*``, ``text*``,         dropped (MRM's report branch and MLM head)
``lm_head*``, ``head.*``
=================================================  =====================================================

A position embedding for another image size is resampled with timm's ``resample_abs_pos_embed``. Anything left
that the ViT does not have, or a ViT key the file lacks, raises ``ValueError`` naming the file and the keys.
Files are read without pickles: ``.safetensors`` with safetensors, ``.pth``/``.pt``/``.bin`` with
``torch.load(weights_only=True)``, ``.npz`` (Google/timm JAX format) with timm's own loader.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

PREFIXES = ("module.", "model.", "encoder.", "backbone.", "visual.", "image_encoder.", "vision.vit.", "vit.")
DROP_PREFIXES = ("decoder", "mask_token", "bert", "cls.", "mlm", "text", "lm_head", "head.")
ENCODER_FILES = ("encoder.safetensors", "model.safetensors")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat tensor dict from a .safetensors / .pth / .pt / .bin file (no pickled objects allowed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:
            raise ValueError(f"{path}: not a weights-only torch checkpoint ({e})") from e
        for wrapper in ("model", "state_dict", "module"):
            if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
        if not isinstance(obj, dict):
            raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
        return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    raise ValueError(f"{path}: unsupported checkpoint format {path.suffix!r} (.safetensors, .pth, .pt, .bin, .npz)")


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p):], True
    return key


def convert_vit_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MAE / MRM / timm / wrapped keys -> timm ViT keys (see the module docstring's table)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        k = _strip(key)
        if k.startswith(DROP_PREFIXES):
            continue
        out[k] = value
    if not any(k.startswith("norm.") for k in out) and any(k.startswith("fc_norm.") for k in out):
        for k in [k for k in out if k.startswith("fc_norm.")]:
            out["norm." + k[len("fc_norm."):]] = out.pop(k)
    out = {k: v for k, v in out.items() if not k.startswith("fc_norm.")}
    return out


def _match_lora_names(state: dict[str, torch.Tensor], target_keys: set[str]) -> dict[str, torch.Tensor]:
    """Plain ``...qkv.weight`` -> ``...qkv.base_layer.weight`` when the target ViT has LoRA injected."""
    out = {}
    for k, v in state.items():
        if k not in target_keys and "." in k:
            head, leaf = k.rsplit(".", 1)
            alt = f"{head}.base_layer.{leaf}"
            if alt in target_keys:
                k = alt
        out[k] = v
    return out


def load_vit_state(vit: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Convert, resample the position embedding if needed and load strictly into a timm ViT (LoRA keys ignored)."""
    from timm.layers import resample_abs_pos_embed

    state = convert_vit_keys(state)
    own = vit.state_dict()
    target = {k for k in own if "lora_" not in k}
    state = _match_lora_names(state, target)
    pe = state.get("pos_embed")
    if pe is not None and pe.shape != own["pos_embed"].shape:
        grid = list(vit.patch_embed.grid_size)
        state["pos_embed"] = resample_abs_pos_embed(pe, new_size=grid, num_prefix_tokens=vit.num_prefix_tokens)
    missing = sorted(target - set(state))
    unexpected = sorted(set(state) - target)
    bad_shape = sorted(
        f"{k}: file {tuple(state[k].shape)} != model {tuple(own[k].shape)}"
        for k in set(state) & target if state[k].shape != own[k].shape
    )
    if missing or unexpected or bad_shape:
        raise ValueError(
            f"{source}: does not fit the image tower ({type(vit).__name__}); missing keys {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}; unexpected keys {unexpected[:8]}"
            f"{' ...' if len(unexpected) > 8 else ''}; shape mismatches {bad_shape[:8]}"
        )
    vit.load_state_dict(state, strict=False)


def load_vit_checkpoint(vit: nn.Module, path: str | Path) -> None:
    """Load a shipped encoder by name (``clinvla_kit.weights``), a local checkpoint file, or a run directory holding
    ``encoder.safetensors``/``model.safetensors``."""
    from clinvla_kit.weights import resolve_checkpoint

    path = resolve_checkpoint(path)
    if path.is_dir():
        for name in ENCODER_FILES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"{path}: directory has none of {ENCODER_FILES}")
    if path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint file not found")
        vit.load_pretrained(str(path))  # timm's JAX-format loader
        return
    state = read_state_dict(path)
    if any(k.startswith("vision.") for k in state):  # a whole ClinVLA run: keep only the image backbone
        state = {k: v for k, v in state.items() if k.startswith("vision.vit.")}
    load_vit_state(vit, state, str(path))


def load_vision_init(model: nn.Module, path: str | Path) -> None:
    """``train --init-vision PATH``: MAE encoder (file or run dir) -> ``model.vision.vit`` of a ClinVLA."""
    load_vit_checkpoint(model.vision.vit, path)
