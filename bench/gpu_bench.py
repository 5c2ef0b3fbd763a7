"""GPU measurements of the `paper` configuration in one process, one JSON file (called by bench/gpu_check.sh).

    python bench/gpu_bench.py --out gpu_results.json            # on a CUDA machine (about 5 minutes on one GPU)
    python bench/gpu_bench.py --out /tmp/r.json --smoke         # any machine: tiny sizes, checks the script runs

What it measures (each section is timed with CUDA events after warm-up, medians of repeats):
- train: the `paper` preset's alignment step (ViT-B/16 at 224 px, frontal + lateral + prior slots, 75 % masking,
  global + 0.8 local loss, adapters on frozen towers, bf16 autocast, SDPA attention) -> steps/s, studies/s, peak
  memory, and model FLOPs utilisation (FLOPs of one step counted by ``torch.utils.flop_counter`` / measured time /
  the device's dense bf16 peak);
- compile: the same step with ``torch.compile`` on and off;
- masked: the image tower's train step with 75 % masking vs none;
- embed: per-study embedding latency (eval mode, no masking) at batch 1 and 256 (the paper: 8.9 ms per sample, A100);
- local: the vectorised local loss against the per-report loop (values and time) on the device.

The text tower is the shipped MiniLM (no hub access on the GPU machine); the paper's BioBERT has the same shape
class (BERT-base is 2x MiniLM's width), so the text share of the step is smaller here than in the paper.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0,
                    "V100": 125.0, "T4": 65.0}
"""Dense bf16 (fp16 on V100/T4) tensor-core peaks from the vendors' data sheets, by name fragment."""


def peak_tflops(name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def timed(fn, device: torch.device, reps: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``reps`` runs after ``warmup`` runs (CUDA-synchronised)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def build(smoke: bool, device: torch.device):
    from clinvla_kit.config import apply_overrides, load_preset
    from clinvla_kit.model.clinvla import ClinVLA

    over = {"model.text.name_or_path": "minilm", "model.vision.allow_random_frozen": True}
    if smoke:
        over.update({"data.image_size": 32, "model.vision.model_name": "custom", "model.vision.embed_dim": 32,
                     "model.vision.depth": 2, "model.vision.num_heads": 2, "model.vision.patch_size": 8})
    cfg = apply_overrides(load_preset("paper"), over)
    torch.manual_seed(0)
    return cfg, ClinVLA(cfg).to(device)


def make_batch(model, b: int, device: torch.device, t: int = 96):
    from clinvla_kit.data.batch import Batch

    size = model.cfg.data.image_size
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (b, t), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    return Batch(images=torch.randn(b, 4, 3, size, size, generator=g), present=torch.ones(b, 4, dtype=torch.bool),
                 input_ids=ids, attention_mask=torch.ones(b, t, dtype=torch.long), labels=torch.zeros(b, 14),
                 study_ids=[str(i) for i in range(b)], texts=[""] * b).to(device)


def train_step_fn(model, batch, device: torch.device, compiled=None):
    from clinvla_kit.losses import total_loss

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    fwd = compiled if compiled is not None else model
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            loss, _ = total_loss(fwd(batch), model.cfg.loss)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def count_flops(step) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return float(counter.get_total_flops())


def bench_train(model, device, b: int, reps: int) -> dict:
    model.train()
    batch = make_batch(model, b, device)
    step = train_step_fn(model, batch, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sec = timed(step, device, reps)
    flops = count_flops(step)
    out = {"batch": b, "step_s": sec, "steps_per_s": 1 / sec, "studies_per_s": b / sec, "flops_per_step": flops,
           "achieved_tflops": flops / sec / 1e12}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        peak = peak_tflops(torch.cuda.get_device_name())
        out["mfu"] = flops / sec / 1e12 / peak if peak else None
    return out


def bench_compile(model, device, b: int, reps: int) -> dict:
    model.train()
    batch = make_batch(model, b, device)
    eager = timed(train_step_fn(model, batch, device), device, reps)
    t0 = time.perf_counter()
    compiled = torch.compile(model)
    step = train_step_fn(model, batch, device, compiled=compiled)
    step()
    first = time.perf_counter() - t0
    comp = timed(step, device, reps)
    return {"batch": b, "eager_step_s": eager, "compiled_step_s": comp, "speedup": eager / comp,
            "compile_first_step_s": first}


def bench_masked(model, device, b: int, reps: int) -> dict:
    import dataclasses

    model.train()
    batch = make_batch(model, b, device)
    out = {}
    for ratio in (0.75, 0.0):
        model.vision.cfg = dataclasses.replace(model.vision.cfg, mask_ratio=ratio)
        out[f"step_s_mask_{ratio}"] = timed(train_step_fn(model, batch, device), device, reps)
    model.vision.cfg = dataclasses.replace(model.vision.cfg, mask_ratio=0.75)
    out["speedup"] = out["step_s_mask_0.0"] / out["step_s_mask_0.75"]
    return out


@torch.no_grad()
def bench_embed(model, device, sizes: tuple[int, ...], reps: int) -> dict:
    model.eval()
    out = {}
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    for b in sizes:
        batch = make_batch(model, b, device)

        def embed() -> None:
            with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
                model.encode_image(batch.images, batch.present)

        sec = timed(embed, device, reps)
        out[f"batch_{b}"] = {"batch_s": sec, "ms_per_study": 1000 * sec / b}
    return out


def local_loop(patches, words, word_mask, temps) -> torch.Tensor:
    """Reference: the GLoRIA score for every (report, image) pair, one pair at a time."""
    t1, t2, t3 = temps
    b = words.shape[0]
    scores = torch.empty(b, b, device=words.device)
    for i in range(b):
        w = words[i][word_mask[i]]
        for j in range(b):
            v = patches[j]
            a = torch.softmax(w @ v.T, dim=0)  # over words
            alpha = torch.softmax(t1 * a, dim=1)  # over patches
            c = alpha @ v
            r = torch.logsumexp(t2 * torch.nn.functional.cosine_similarity(w, c, dim=-1), dim=0)
            scores[i, j] = t3 * r
    tgt = torch.arange(b, device=words.device)
    return 0.5 * (torch.nn.functional.cross_entropy(scores, tgt) + torch.nn.functional.cross_entropy(scores.T, tgt))


def bench_local(device, b: int, reps: int) -> dict:
    from clinvla_kit.losses import local_alignment_loss

    g = torch.Generator().manual_seed(0)
    patches = torch.randn(b, 98, 128, generator=g).to(device)
    words = torch.randn(b, 40, 128, generator=g).to(device)
    wm = torch.ones(b, 40, dtype=torch.bool, device=device)
    wm[:, 30:] = False
    temps = (4.0, 5.0, 10.0)
    vec = local_alignment_loss(patches, words, wm, None, temps)[0]
    ref = local_loop(patches, words, wm, temps)
    return {"batch": b, "vectorised": float(vec), "loop": float(ref), "abs_diff": float((vec - ref).abs()),
            "vectorised_s": timed(lambda: local_alignment_loss(patches, words, wm, None, temps), device, reps),
            "loop_s": timed(lambda: local_loop(patches, words, wm, temps), device, max(1, reps // 3), warmup=1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="results JSON file")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on any device (checks the script runs)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["train", "compile", "masked", "embed", "local"])
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    smoke = args.smoke
    b, reps = (4, 2) if smoke else (32, 10)
    cfg, model = build(smoke, device)
    results: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                     "torch": torch.__version__, "smoke": smoke, "preset": "paper (text: minilm)",
                     "image_size": cfg.data.image_size}
    sections = {
        "train": lambda: bench_train(model, device, b, reps),
        "masked": lambda: bench_masked(model, device, b, reps),
        "embed": lambda: bench_embed(model, device, (1, 8) if smoke else (1, 256), reps),
        "local": lambda: bench_local(device, 4 if smoke else 32, reps),
        "compile": lambda: bench_compile(model, device, b, reps),
    }
    for name, fn in sections.items():
        if name in args.skip:
            continue
        t0 = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as e:  # one failing section must not lose the others' numbers
            results[name] = {"error": f"{type(e).__name__}: {e}"}
        results[name]["section_s"] = time.perf_counter() - t0
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
