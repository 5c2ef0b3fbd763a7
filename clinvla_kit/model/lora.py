"""LoRA variant of the towers through ``peft`` (comparison against the bottleneck adapters).

``peft.inject_adapter_in_model`` adds the low-rank matrices in place (parameter names contain ``lora_``) instead of
wrapping the model in a ``PeftModel``, so the towers keep their own forward code (the ViT blocks are iterated by the
image tower itself).
"""

from __future__ import annotations

from torch import nn

TEXT_TARGETS: tuple[str, ...] = ("query", "value")  # BERT self-attention projections
VISION_TARGETS: tuple[str, ...] = ("qkv",)  # timm Attention's fused projection


def apply_lora(module: nn.Module, targets: tuple[str, ...], rank: int) -> nn.Module:
    """Inject LoRA (rank r, alpha 2r, no dropout) into every Linear whose name ends with one of ``targets``."""
    from peft import LoraConfig, inject_adapter_in_model

    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=list(targets), bias="none")
    return inject_adapter_in_model(cfg, module)


def is_lora_param(name: str) -> bool:
    return "lora_" in name
