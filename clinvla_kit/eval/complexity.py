"""Model complexity laid out like the paper's Table 7: parameters, FLOPs, latency and peak memory per study.

- Parameters: total and trainable (``requires_grad``) and the trainable share, the number adapters are about.
- FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass (counts matmul/conv/attention; a
  multiply-add is 2 FLOPs), divided by the batch size.
- Latency: median wall time of ``repeats`` forward passes after ``warmup`` ones, per study, at batch 1 and batched.
- Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (tensors only, reset before the pass); on CPU the process's
  peak resident set size (``resource.getrusage``), an upper bound that includes the interpreter and libraries,
  because PyTorch's CPU allocator is invisible to ``tracemalloc``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch


@dataclass
class ComplexityRow:
    """One line of the complexity table (memory in MB, latency in ms per study)."""

    name: str
    total_params: int
    trainable_params: int
    trainable_share: float
    gflops_per_study: float
    latency_ms_b1: float
    latency_ms_batched: float
    batch_size: int
    peak_mem_mb: float
    memory_kind: str
    device: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; shared parameters are counted once (``parameters()`` deduplicates)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


def _call(fn: Callable[..., Any], inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return fn(**inputs)
    if isinstance(inputs, (tuple, list)):
        return fn(*inputs)
    return fn(inputs)


def flops_per_study(fn: Callable[..., Any], inputs: Any, batch_size: int) -> float:
    """FLOPs of one forward pass ``fn(*inputs)`` divided by ``batch_size``."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        _call(fn, inputs)
    return counter.get_total_flops() / batch_size


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def latency_ms(fn: Callable[..., Any], inputs: Any, device: torch.device, repeats: int = 5, warmup: int = 1) -> float:
    """Median milliseconds of one forward pass (after ``warmup`` untimed passes)."""
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            _sync(device)
            t = time.perf_counter()
            _call(fn, inputs)
            _sync(device)
            if i >= warmup:
                times.append(1000 * (time.perf_counter() - t))
    return float(statistics.median(times))


def peak_memory_mb(fn: Callable[..., Any], inputs: Any, device: torch.device) -> tuple[float, str]:
    """(peak MB during one forward pass, what was measured)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        with torch.no_grad():
            _call(fn, inputs)
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    import resource
    import sys

    with torch.no_grad():
        _call(fn, inputs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
    return float(mb), "process peak RSS"


def measure_complexity(
    model: torch.nn.Module,
    make_inputs: Callable[[int], Any],
    name: str = "model",
    batch_size: int = 8,
    forward: Callable[..., Any] | None = None,
    repeats: int = 3,
) -> ComplexityRow:
    """Measure one model.

    Args:
        model: the module (parameters are counted on it; it is put in eval mode).
        make_inputs: batch size -> the forward's inputs (tuple = positional, dict = keyword, else one argument),
            already on the model's device.
        forward: what to time (default ``model`` itself; e.g. ``model.encode_image`` for the retrieval path).
        batch_size: the batched latency's batch.
    """
    model.eval()
    fn = forward or model
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    total, trainable = count_parameters(model)
    one, many = make_inputs(1), make_inputs(batch_size)
    flops = flops_per_study(fn, many, batch_size)
    lat1 = latency_ms(fn, one, device, repeats=repeats)
    latb = latency_ms(fn, many, device, repeats=repeats) / batch_size
    mem, kind = peak_memory_mb(fn, many, device)
    return ComplexityRow(
        name=name,
        total_params=total,
        trainable_params=trainable,
        trainable_share=trainable / total if total else 0.0,
        gflops_per_study=flops / 1e9,
        latency_ms_b1=lat1,
        latency_ms_batched=latb,
        batch_size=batch_size,
        peak_mem_mb=mem,
        memory_kind=kind,
        device=str(device),
    )


def complexity_table(rows: Sequence[ComplexityRow]) -> str:
    """Markdown table in the layout of the paper's Table 7 (one row per model or variant)."""
    head = (
        "| Model | Total params (M) | Trainable params (M) | Trainable % | GFLOPs / study | "
        "Latency b=1 (ms/study) | Latency batched (ms/study) | Peak memory (MB) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.total_params / 1e6:.2f} | {r.trainable_params / 1e6:.2f} | {100 * r.trainable_share:.2f} | "
            f"{r.gflops_per_study:.3f} | {r.latency_ms_b1:.1f} | {r.latency_ms_batched:.1f} (b={r.batch_size}) | "
            f"{r.peak_mem_mb:.0f} ({r.memory_kind}, {r.device}) |"
        )
    return "\n".join(lines)


def clinvla_complexity(cfg: Any, name: str, batch_size: int = 8, repeats: int = 3, device: str = "cpu",
                       model: torch.nn.Module | None = None) -> ComplexityRow:
    """Complexity of a ClinVLA built from ``cfg`` (a RunCfg): one forward of a full study (4 views + report of
    ``max_tokens`` tokens, eval mode, no masking), the unit the paper's Table 7 counts per study."""
    from clinvla_kit.data.batch import Batch
    from clinvla_kit.model.clinvla import ClinVLA

    model = (model or ClinVLA(cfg)).to(device)
    size, t = cfg.data.image_size, cfg.model.text.max_tokens
    gen = torch.Generator().manual_seed(0)

    def make(b: int) -> Batch:
        ids = torch.randint(1000, 2000, (b, t), generator=gen)
        ids[:, 0] = 101  # [CLS]
        return Batch(images=torch.randn(b, 4, 3, size, size, generator=gen), present=torch.ones(b, 4, dtype=torch.bool),
                     input_ids=ids, attention_mask=torch.ones(b, t, dtype=torch.long),
                     labels=torch.zeros(b, 14)).to(device)

    return measure_complexity(model, make, name=name, batch_size=batch_size, repeats=repeats)
