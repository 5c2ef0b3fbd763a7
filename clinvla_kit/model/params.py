"""Parameter groups and the parameter report (total / trainable by group)."""

from __future__ import annotations

from torch import nn

from clinvla_kit.model.vision import is_norm_or_cls

GROUPS: tuple[str, ...] = (
    "language_adapter", "task_adapter", "vision_adapter", "invertible_adapter", "heads", "temperature",
    "backbone", "lora",
)


def group_of(name: str) -> str:
    """Group of a ClinVLA parameter name.

    Transformer-Adapt's first stage is a "language_adapter" and its second a "task_adapter" in either tower (the
    paper's two learning rates); the ViT's serial/parallel adapters and the new slot embeddings (view, time,
    missing-view token) are "vision_adapter"; the MAE decoder counts with the "heads".
    """
    if "lora_" in name:
        return "lora"
    if ".language_adapter." in name:
        return "language_adapter"
    if ".task_adapter." in name:
        return "task_adapter"
    if ".invertible." in name:
        return "invertible_adapter"
    if name.startswith("vision.") and (
        ".serial." in name or ".parallel." in name
        or name.split(".")[1] in ("view_embed", "time_embed", "missing_token")
    ):
        return "vision_adapter"
    if name.startswith("vision.vit.") and is_norm_or_cls(name[len("vision.vit."):]):
        return "vision_adapter"  # trained only with adapters.train_vision_norms (ALTA), at the adapters' lr
    if name.startswith(("heads.", "mae_decoder.", "mlm_")):
        return "heads"
    if name.startswith("temps."):
        return "temperature"
    return "backbone"


def param_report(model: nn.Module):
    """pandas.DataFrame, one row per group: ``group``, ``total``, ``trainable`` (parameter counts), plus a "total"
    row; frozen backbones show up as total > trainable."""
    import pandas as pd

    counts = {g: [0, 0] for g in GROUPS}
    for name, p in model.named_parameters():
        c = counts.setdefault(group_of(name), [0, 0])
        c[0] += p.numel()
        c[1] += p.numel() if p.requires_grad else 0
    rows = [{"group": g, "total": t, "trainable": tr} for g, (t, tr) in counts.items() if t]
    rows.append({"group": "total", "total": sum(r["total"] for r in rows),
                 "trainable": sum(r["trainable"] for r in rows)})
    return pd.DataFrame(rows)
