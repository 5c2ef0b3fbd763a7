"""Which image tower can learn SynthCXR's findings in a CPU budget? A fast stand-in for alignment training.

The report side is frozen: MiniLM mean-pooled features of every training report are computed once (what the kit's
frozen text tower gives at step 0), then an image encoder trained from scratch and two projection heads (BatchNorm
standardisation + linear, as ``model.head_norm="batch"``) are trained with the symmetric InfoNCE loss. No text
adapters, no local loss: this isolates the image tower, ~10x cheaper per step than a full ClinVLA step. Evaluation:
image-to-text P@5 on the 5x200 set (frontal images against the 1000 impressions, label relevance; chance 0.20) and
its text-to-image twin on the same set.

    python bench/bench_image_tower.py --data /tmp/synth2000 --arch conv --size 64 --patch 8 --steps 300

Encoders (``--arch``): ``linear`` (timm ViT, linear patch embedding), ``conv`` (the same ViT with
``clinvla_kit.model.stem.ConvStem``), ``mlp`` (a two-layer MLP on a 16x16 thumbnail: the "is the signal there"
reference, not a kit option). The first run caches decoded images and report features in ``--cache``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn


def build_cache(data: str, path: Path) -> dict[str, torch.Tensor]:
    from clinvla_kit.config import load_preset
    from clinvla_kit.data.images import read_image, resize, to_model_input
    from clinvla_kit.data.reports import clean_report
    from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.eval.tasks import benchmark_paths
    from clinvla_kit.model.clinvla import ClinVLA

    cfg = load_preset("tiny")
    model = ClinVLA(cfg).eval()

    def image(p: str | None) -> torch.Tensor:  # [128, 128] half, the kit's normalisation
        if p is None:
            return torch.zeros(128, 128, dtype=torch.half)
        return to_model_input(resize(read_image(p), 128, cfg.data.resize), cfg.data.normalization)[0].half()

    @torch.no_grad()
    def text_features(texts: list[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), 64):
            enc = model.tokenize([clean_report(t) for t in texts[i:i + 64]])
            out.append(model.text(enc["input_ids"], enc["attention_mask"]).global_emb)
        return torch.cat(out)

    recs = load_mimic(data, splits=("train",))
    paths = benchmark_paths(data)
    df = load_chexpert_5x200(paths["5x200"], image_root=paths["root"])
    cache = {
        "frontal": torch.stack([image(r.images["frontal"]) for r in recs]),
        "lateral": torch.stack([image(r.images["lateral"]) for r in recs]),
        "has_lateral": torch.tensor([r.images["lateral"] is not None for r in recs]),
        "text": text_features([r.report for r in recs]),
        "eval_images": torch.stack([image(p) for p in df["path"]]),
        "eval_text": text_features(list(df["report"])),
        "eval_labels": torch.tensor(df["label_index"].to_numpy()),
    }
    torch.save(cache, path)
    return cache


class Encoder(nn.Module):
    """images [B, 1, 128, 128] -> [B, D] (thumbnail of ``size`` px first)."""

    def __init__(self, arch: str, size: int, patch: int, pool: str, mask: float) -> None:
        super().__init__()
        self.arch, self.size, self.pool, self.mask = arch, size, pool, mask
        if arch == "mlp":
            self.net = nn.Sequential(nn.AdaptiveAvgPool2d(16), nn.Flatten(), nn.Linear(256, 192), nn.ReLU(),
                                     nn.Linear(192, 192))
        else:
            from clinvla_kit.model.stem import ConvStem

            extra = {"embed_layer": ConvStem} if arch == "conv" else {}
            self.net = VisionTransformer(img_size=size, patch_size=patch, in_chans=1, embed_dim=192, depth=4,
                                         num_heads=3, num_classes=0, **extra)
        self.dim = 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.arch == "mlp":
            return self.net(x)
        x = F.adaptive_avg_pool2d(x, self.size)
        v = self.net
        t = v.patch_embed(x) + v.pos_embed[:, 1:]
        if self.training and self.mask > 0:
            keep = int(t.shape[1] * (1 - self.mask))
            idx = torch.rand(t.shape[0], t.shape[1]).argsort(1)[:, :keep]
            t = torch.gather(t, 1, idx[..., None].expand(-1, -1, t.shape[2]))
        t = torch.cat([(v.cls_token + v.pos_embed[:, :1]).expand(t.shape[0], -1, -1), t], 1)
        t = v.norm(v.blocks(t))
        return t[:, 0] if self.pool == "cls" else t[:, 1:].mean(1)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The kit's study augmentation, batched: rotation +-5 deg, scale +-5 %, shift +-4 %."""
    b = x.shape[0]
    ang = (torch.rand(b, generator=gen) - 0.5) * 10 * math.pi / 180
    sc = 1 + (torch.rand(b, generator=gen) - 0.5) * 0.1
    sh = (torch.rand(b, 2, generator=gen) - 0.5) * 0.08
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = torch.cos(ang) / sc
    theta[:, 0, 1], theta[:, 1, 0] = -torch.sin(ang) / sc, torch.sin(ang) / sc
    theta[:, :, 2] = sh * 2
    return F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)


def precision_at_5(sim: torch.Tensor, q_labels: torch.Tensor, c_labels: torch.Tensor) -> float:
    top = sim.topk(5, dim=1).indices
    return float((c_labels[top] == q_labels[:, None]).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", default=None, help="default: DATA/.bench_image_tower.pt")
    ap.add_argument("--arch", choices=["linear", "conv", "mlp"], default="conv")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--pool", choices=["cls", "mean"], default="cls")
    ap.add_argument("--mask", type=float, default=0.0)
    ap.add_argument("--views", choices=["frontal", "both"], default="frontal")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    cache_path = Path(a.cache or Path(a.data) / ".bench_image_tower.pt")
    c = torch.load(cache_path) if cache_path.is_file() else build_cache(a.data, cache_path)
    torch.manual_seed(a.seed)
    enc = Encoder(a.arch, a.size, a.patch, a.pool, a.mask)
    img_head = nn.Sequential(nn.BatchNorm1d(enc.dim, affine=False), nn.Linear(enc.dim, 128))
    txt_head = nn.Sequential(nn.BatchNorm1d(c["text"].shape[1], affine=False), nn.Linear(c["text"].shape[1], 128))
    log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    modules = nn.ModuleList([enc, img_head, txt_head])
    opt = torch.optim.AdamW([*modules.parameters(), log_scale], lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * 0.5 * (1 + math.cos(math.pi * min(s, a.steps) / a.steps)))
    gen = torch.Generator().manual_seed(a.seed)
    n = c["frontal"].shape[0]

    @torch.no_grad()
    def evaluate() -> tuple[float, float]:
        modules.eval()
        imgs = torch.cat([F.normalize(img_head(enc(c["eval_images"][i:i + 100, None].float())), dim=-1)
                          for i in range(0, len(c["eval_images"]), 100)])
        txts = F.normalize(txt_head(c["eval_text"]), dim=-1)
        lab = c["eval_labels"]
        modules.train()
        return precision_at_5(imgs @ txts.T, lab, lab), precision_at_5(txts @ imgs.T, lab, lab)

    start = time.perf_counter()
    print(f"{vars(a)}")
    print("| step | train InfoNCE | i2t P@5 | t2i P@5 | s |")
    for step in range(1, a.steps + 1):
        idx = torch.randint(0, n, (a.batch,), generator=gen)
        z = enc(augment(c["frontal"][idx, None].float(), gen))
        if a.views == "both":  # mean over present views, as the kit's image tower
            has = c["has_lateral"][idx].float()[:, None]
            z = (z + has * enc(augment(c["lateral"][idx, None].float(), gen))) / (1 + has)
        i = F.normalize(img_head(z), dim=-1)
        t = F.normalize(txt_head(c["text"][idx]), dim=-1)
        logits = log_scale.exp().clamp(max=100) * i @ t.T
        y = torch.arange(a.batch)
        loss = 0.5 * (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % a.eval_every == 0 or step == a.steps:
            i2t, t2i = evaluate()
            print(f"| {step} | {loss.item():.3f} | {i2t:.3f} | {t2i:.3f} | {time.perf_counter() - start:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
