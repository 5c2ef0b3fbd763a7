"""Model benchmarks (part: ClinVLA model, adapters, losses, MAE). Results go to bench/RESULTS.md by hand.

    OMP_NUM_THREADS=1 python bench/bench_model.py masked   # masked (0.75) vs unmasked image-tower train step, 224 px
    OMP_NUM_THREADS=1 python bench/bench_model.py local    # local loss: per-report loop vs chunked vs full, B 32/128
    OMP_NUM_THREADS=1 python bench/bench_model.py text     # text tower fwd+bwd, batch 32, real SynthCXR report lengths

Timings are medians of a few repetitions after one warm-up; memory is the peak resident-set growth of a fresh
subprocess (torch's CPU allocator is invisible to tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn, reps: int = 3) -> float:
    fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def bench_masked(batch: int = 4) -> dict:
    """vit_small-size custom ViT (384 x 12, 6 heads) at 224 px, frontal+lateral views, adapters trained."""
    from clinvla_kit.config import RunCfg, apply_overrides
    from clinvla_kit.model.vision import VisionTower

    res = {}
    for ratio in (0.0, 0.75):
        cfg = apply_overrides(RunCfg(), {"data.image_size": 224, "model.vision.model_name": "custom",
                                         "model.vision.embed_dim": 384, "model.vision.depth": 12,
                                         "model.vision.num_heads": 6, "model.vision.mask_ratio": ratio})
        tower = VisionTower(cfg.model.vision, cfg.model.adapters, 224).train()
        images = torch.randn(batch, 4, 3, 224, 224)
        present = torch.tensor([[True, True, False, False]] * batch)

        def step(tower=tower, images=images, present=present):
            tower.zero_grad(set_to_none=True)
            out = tower(images, present)
            (out.global_emb.pow(2).mean() + out.patch_tokens.pow(2).mean()).backward()

        res[f"mask_{ratio}"] = timed(step, reps=2)
    res["speedup"] = res["mask_0.0"] / res["mask_0.75"]
    return res


def _local_child(b: int, mode: str) -> None:
    from clinvla_kit.losses import local_alignment_loss

    torch.manual_seed(0)
    w, p, d = 64, 4 * 49, 128  # 64 words, 4 views x 49 kept patches (224 px, mask 0.75), joint dim 128
    words = torch.randn(b, w, d, requires_grad=True)
    patches = torch.randn(b, p, d, requires_grad=True)
    wm = torch.ones(b, w, dtype=torch.bool)
    wm[:, 40:] = False
    pm = torch.ones(b, p, dtype=torch.bool)
    chunk = {"loop": 1, "chunk16": 16, "full": b}[mode]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def run():
        loss, _ = local_alignment_loss(patches, words, wm, pm, chunk=chunk)
        loss.backward()

    t = timed(run, reps=2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"batch": b, "mode": mode, "seconds": t, "peak_rss_growth_mb": (peak - base) / 1024}))


def bench_local() -> list[dict]:
    rows = []
    for b in (32, 128):
        for mode in ("loop", "chunk16", "full") if b == 32 else ("loop", "chunk16"):  # full at 128: ~5 GB
            r = subprocess.run([sys.executable, __file__, "_local", str(b), mode], capture_output=True, text=True,
                               check=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return rows


def synth_reports(n: int = 256) -> list[str]:
    import numpy as np

    from clinvla_kit.data.reports import clean_report
    from clinvla_kit.synth.plan import make_plan
    from clinvla_kit.synth.reports import write_report

    rng = np.random.default_rng(0)
    return [clean_report(write_report(p, rng)[0]) for p in make_plan(n, seed=0)[:n]]


def bench_text(batch: int = 32) -> dict:
    from clinvla_kit.config import AdapterCfg, TextCfg
    from clinvla_kit.model.text import TextTower

    reports = synth_reports()
    out = {}
    tower = TextTower(TextCfg(name_or_path="minilm", pooling="mean"), AdapterCfg()).train()
    lengths = [len(tower.tokenizer(r)["input_ids"]) for r in reports]
    out["tokens_median"] = statistics.median(lengths)
    out["tokens_p95"] = sorted(lengths)[int(0.95 * len(lengths))]
    enc = tower.tokenizer(reports[:batch], padding="longest", truncation=True, max_length=128, return_tensors="pt")
    out["batch_padded_len"] = int(enc["input_ids"].shape[1])

    def step(t=tower):
        t.zero_grad(set_to_none=True)
        o = t(enc["input_ids"], enc["attention_mask"])
        o.word_emb.pow(2).mean().backward()

    out["minilm_fwd_bwd_s"] = timed(step)
    enc128 = tower.tokenizer(reports[:batch], padding="max_length", truncation=True, max_length=128,
                             return_tensors="pt")

    def step128(t=tower):
        t.zero_grad(set_to_none=True)
        t(enc128["input_ids"], enc128["attention_mask"]).word_emb.pow(2).mean().backward()

    out["minilm_fwd_bwd_pad128_s"] = timed(step128)
    # A small BERT of our own (4 x 256, what pretrain-mlm would train) for the cost side of the decision.
    from transformers import BertConfig, BertModel

    d = "/tmp/_bench_small_bert"
    BertModel(BertConfig(vocab_size=8000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                         intermediate_size=1024)).save_pretrained(d)
    tower.tokenizer.save_pretrained(d)
    small = TextTower(TextCfg(name_or_path=d), AdapterCfg()).train()
    ids = enc["input_ids"].clamp(max=7999)

    def step_small():
        small.zero_grad(set_to_none=True)
        small(ids, enc["attention_mask"]).word_emb.pow(2).mean().backward()

    out["small_bert_4x256_fwd_bwd_s"] = timed(step_small)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_local":
        _local_child(int(sys.argv[2]), sys.argv[3])
        raise SystemExit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["masked", "local", "text", "all"])
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if args.part in ("masked", "all"):
        print("masked", json.dumps(bench_masked()))
    if args.part in ("local", "all"):
        for row in bench_local():
            print("local", json.dumps(row))
    if args.part in ("text", "all"):
        print("text", json.dumps(bench_text()))
