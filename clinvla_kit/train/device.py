"""Device, precision and compilation choices, resolved once from ``TrainCfg``.

CPU runs in fp32 (CPU bf16 autocast is slower than fp32 on most laptops and changes the numbers the resume test
compares). CUDA runs bf16 autocast by default: bf16 keeps fp32's exponent range, so no loss scaling is needed and
contrastive logits (scale up to 100) cannot overflow as they can in fp16. Attention goes through PyTorch's
``scaled_dot_product_attention`` (timm's ViT uses it by default; flash / memory-efficient kernels are picked by
PyTorch on CUDA). Apple MPS is used where present, in fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from clinvla_kit import distributed

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")


def mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> this process's CUDA device (``LOCAL_RANK`` under torchrun), else MPS, else CPU.

    An explicit ``"cuda"`` / ``"mps"`` that is not available is an error, not a silent fall-back to CPU.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", distributed.local_rank())
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"train.device={name!r} but CUDA is not available; use 'auto' or 'cpu'")
        return torch.device("cuda", distributed.local_rank()) if name == "cuda" else torch.device(name)
    if name == "mps":
        if not mps_available():
            raise RuntimeError("train.device='mps' but Apple MPS is not available; use 'auto' or 'cpu'")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"train.device={name!r}: choose 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``precision`` on ``device``; ``None`` means plain fp32.

    ``auto``: bf16 on CUDA devices that support it, fp32 elsewhere. ``fp16`` is CUDA-only and uses a GradScaler.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision={precision!r}: choose one of {PRECISIONS}")
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError(f"train.precision='fp16' needs CUDA (device is {device}); use 'bf16' or 'fp32'")
        return torch.float16
    if device.type == "mps":
        raise ValueError("train.precision='bf16' is not supported on MPS here; use 'fp32'")
    return torch.bfloat16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` for ``dtype``, or nothing when ``dtype`` is None (fp32)."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def make_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 need no loss scaling). Always created so that the
    checkpoint format is the same whatever the precision."""
    enabled = dtype == torch.float16
    return torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=enabled)


def configure_backends(device: torch.device) -> None:
    """Allow TF32 matmuls on CUDA (Ampere and later): the fp32 parts of a bf16 run lose nothing that matters."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``train.compile`` is on; the original module otherwise.

    The compiled wrapper shares parameters with ``model``, so optimiser groups and checkpoints keep using the
    uncompiled module's names.
    """
    if not enabled:
        return model
    if not hasattr(torch, "compile"):
        raise RuntimeError("train.compile=true needs PyTorch >= 2.0")
    return torch.compile(model)  # type: ignore[return-value]
