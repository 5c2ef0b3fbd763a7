"""AdamW with the paper's per-group learning rates and a no-weight-decay rule.

The model names its trainable parameters by group (``model.parameter_groups()``); this module maps each group to a
learning rate from ``TrainCfg`` and splits it into a decayed and an undecayed half. ClinVLA Table 1: language
adapters 5e-5, task adapters 1e-4, weight decay 1e-4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from clinvla_kit.config import TrainCfg

GROUPS: tuple[str, ...] = (
    "language_adapter", "task_adapter", "vision_adapter", "invertible_adapter", "heads", "temperature", "backbone",
    "lora",
)
"""Group names of the model contract; any other name gets the default ``lr`` (and a warning-free pass)."""

# Parameters whose final name is one of these are learned tokens / positions, not weights: decaying them towards
# zero only erases information (same choice as timm's ``no_weight_decay`` and MAE).
_TOKEN_NAMES = ("pos_embed", "cls_token", "mask_token", "dist_token", "reg_token")


def _is_temperature(part: str) -> bool:
    # exact words, not substrings: "temporal_adapter" is a weight, "local_temps" is a temperature
    return (part in ("logit_scale", "temp", "temps", "log_temps") or "temperature" in part
            or part.endswith(("_temp", "_temps", "_logit_scale")))


def group_lr(group: str, cfg: TrainCfg) -> float:
    """Learning rate of a parameter group: language adapters, task adapters and the backbone have their own."""
    if group == "language_adapter":
        return cfg.lr_language_adapter
    if group == "task_adapter":
        return cfg.lr_task_adapter
    if group == "backbone":
        return cfg.lr_backbone
    return cfg.lr


def no_weight_decay(name: str, param: torch.Tensor) -> bool:
    """True when ``param`` must not be weight-decayed.

    Rule (by dotted name and ndim, so it holds for timm, transformers and our own modules alike):
    - ``ndim <= 1``: biases, LayerNorm/RMSNorm scales, scalar temperatures;
    - a name part containing ``norm`` (``LayerNorm.weight``, ``norm1.weight``);
    - a name part containing ``embedding`` (BERT's ``word_embeddings.weight``, ``nn.Embedding`` view/time tables);
    - a final part that is a learned token or position (``pos_embed``, ``cls_token``, ``*_token``, ``*_embed``);
    - temperatures (``logit_scale``, ``*temp*``) whatever their shape.
    ``patch_embed.proj.weight`` (a convolution) stays decayed, as in timm.
    """
    if param.ndim <= 1:
        return True
    parts = name.lower().split(".")
    last = parts[-1]
    if any("norm" in p or "embedding" in p for p in parts):
        return True
    if last in _TOKEN_NAMES or last.endswith(("_token", "_embed")):
        return True
    return any(_is_temperature(p) for p in parts)


def build_param_groups(
    groups: Mapping[str, Iterable[tuple[str, nn.Parameter]]], cfg: TrainCfg
) -> list[dict]:
    """Model groups -> AdamW param groups ``[{"params", "lr", "weight_decay", "name"}]``.

    Each model group becomes up to two optimiser groups, ``NAME`` (decayed) and ``NAME/no_decay``; empty ones are
    dropped. Frozen parameters are skipped; a parameter listed in two groups is an error (AdamW would update it twice).
    """
    out: list[dict] = []
    seen: dict[int, str] = {}
    for group, named in groups.items():
        decay, no_decay = [], []
        for name, p in named:
            if not p.requires_grad:
                continue
            if id(p) in seen:
                raise ValueError(f"parameter {name!r} is in groups {seen[id(p)]!r} and {group!r}")
            seen[id(p)] = group
            (no_decay if no_weight_decay(name, p) else decay).append(p)
        lr = group_lr(group, cfg)
        if decay:
            out.append({"params": decay, "lr": lr, "weight_decay": cfg.weight_decay, "name": group})
        if no_decay:
            out.append({"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": f"{group}/no_decay"})
    if not out:
        raise ValueError("the model has no trainable parameters (every group is empty or frozen)")
    return out


def build_optimizer(
    model: nn.Module, cfg: TrainCfg, groups: Mapping[str, Iterable[tuple[str, nn.Parameter]]] | None = None
) -> torch.optim.AdamW:
    """AdamW over ``model.parameter_groups()`` (the unwrapped model, not a DDP wrapper) or over ``groups``.

    ``groups`` is for models outside the ClinVLA contract (the MAE pretrainer: one group at ``cfg.lr``).
    ``fused`` AdamW is used on CUDA (one kernel for all parameters); on CPU the default ``foreach`` path.
    """
    if groups is None:
        if not hasattr(model, "parameter_groups"):
            raise TypeError(f"{type(model).__name__} has no parameter_groups(); the training loop needs the model "
                            "contract's named groups to set the per-group learning rates")
        groups = model.parameter_groups()
    params = build_param_groups(groups, cfg)
    on_cuda = all(p.is_cuda for g in params for p in g["params"])
    return torch.optim.AdamW(params, betas=(0.9, 0.999), eps=1e-8, fused=on_cuda or None)
