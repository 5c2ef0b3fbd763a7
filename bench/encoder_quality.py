"""Quality of a pretrained image encoder, frozen: the numbers and figures a shipped encoder's model card gives.

    OMP_NUM_THREADS=2 python bench/encoder_quality.py --run /work/runs/mrm --data /work/data/s2k \
        --weights clinvla_kit/weights/synthcxr-mrm-vit6.safetensors --figures model_cards/img --name synthcxr-mrm-vit6

- linear-probe AUC per finding on the frozen features of each frontal image (train split -> test split of
  ``--data``, a SynthCXR generated from other seeds than the pretraining archive), for each pooling of the ViT's
  tokens (CLS, mean, max), beside the raw-pixel logistic regression of ``bench_synth_ceiling.py`` on the same
  images, with bootstrap 95 % intervals over test studies;
- the fp16 file against the fp32 run: largest absolute difference of the frozen features;
- figures: the pretraining loss curve (every logged term) and MAE reconstructions of test images (from the run's
  last checkpoint, which still holds the pixel decoder).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_synth_ceiling import FINDINGS, frontal_arrays, pixel_probe

from clinvla_kit.config import load_config
from clinvla_kit.data.images import read_image, resize, to_model_input
from clinvla_kit.data.sources.mimic import load_mimic


def encoder(run_cfg, weights: str | Path):
    from clinvla_kit.model.checkpoints import load_vit_checkpoint
    from clinvla_kit.model.vision import build_vit

    vit = build_vit(run_cfg.model.vision, run_cfg.data.image_size)
    load_vit_checkpoint(vit, weights)
    return vit.eval()


@torch.no_grad()
def features(vit, records, cfg) -> dict[str, np.ndarray]:
    """Frontal image of each record -> {"cls"|"mean"|"max": [N, D]} frozen features."""
    out: dict[str, list] = {"cls": [], "mean": [], "max": []}
    for i in range(0, len(records), 128):
        x = torch.stack([to_model_input(resize(read_image(r.images["frontal"]), cfg.data.image_size),
                                        cfg.data.normalization) for r in records[i:i + 128]])
        tok = vit.forward_features(x)
        out["cls"].append(tok[:, 0])
        out["mean"].append(tok[:, 1:].mean(1))
        out["max"].append(tok[:, 1:].amax(1))
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def probe(fa: np.ndarray, ya: np.ndarray, fb: np.ndarray, c: float = 0.5) -> np.ndarray:
    mu, sd = fa.mean(0), fa.std(0) + 1e-6
    a, b = (fa - mu) / sd, (fb - mu) / sd
    return np.stack([LogisticRegression(C=c, max_iter=3000).fit(a, ya[:, i]).predict_proba(b)[:, 1]
                     for i in range(ya.shape[1])], 1)


def auc_ci(y: np.ndarray, s: np.ndarray, n_boot: int = 200, seed: int = 0) -> list[float]:
    """[AUC, low, high]: percentile bootstrap over test studies (resamples with one class only are skipped)."""
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            boots.append(roc_auc_score(y[idx], s[idx]))
    return [round(float(roc_auc_score(y, s)), 3), round(float(np.percentile(boots, 2.5)), 3),
            round(float(np.percentile(boots, 97.5)), 3)]


def loss_figure(run: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for key in ("loss", "mae", "mlm"):
        axes[0].plot(steps, [r[key] for r in rows], label=key)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    axes[1].plot(steps, [r["mlm_acc"] for r in rows], color="#0072B2")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("masked-word accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("MRM pretraining on SynthCXR (MAE on the views + report MLM on the image)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def reconstruction_figure(run: Path, cfg, records, path: Path, n: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from transformers import AutoTokenizer

    from clinvla_kit.model.mae import patchify, unpatchify
    from clinvla_kit.model.masking import random_keep_indices
    from clinvla_kit.model.mrm import MRM
    from clinvla_kit.model.text import resolve_text_source
    from clinvla_kit.train.checkpoint import load_checkpoint

    tok = AutoTokenizer.from_pretrained(resolve_text_source(cfg.model.text.name_or_path))
    vocab = torch.tensor(json.loads((run / "mrm_vocab.json").read_text())["token_ids"])
    model = MRM(cfg, tok, vocab)
    model.load_state_dict(load_checkpoint(run / "checkpoint" / "last.pt")["model"])
    model.eval()
    vit, dec = model.vision.vit, model.pixel_decoder
    x = torch.stack([to_model_input(resize(read_image(r.images["frontal"]), cfg.data.image_size),
                                    cfg.data.normalization) for r in records[:n]])
    keep = random_keep_indices(n, model.vision.num_patches, cfg.mae.mask_ratio,
                               generator=torch.Generator().manual_seed(0))
    tokens = vit.patch_embed(x) + vit.pos_embed[:, 1:]
    kept = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
    cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(n, -1, -1)
    h = vit.norm(vit.blocks(torch.cat([cls, kept], 1)))
    pred = dec(h[:, 0], h[:, 1:], keep)
    p = model.patch_size
    target = patchify(x, p)
    pred = pred * (target.var(-1, keepdim=True) + 1e-6).sqrt() + target.mean(-1, keepdim=True)
    vis = torch.zeros(target.shape[:2], dtype=torch.bool)
    vis.scatter_(1, keep, True)
    grid = model.vision.grid
    masked = unpatchify(torch.where(vis[..., None], target, torch.full_like(target, target.min())), p, grid, 3)
    recon = unpatchify(torch.where(vis[..., None], target, pred), p, grid, 3)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5.2))
    for j in range(n):
        for i, (img, title) in enumerate(((x, "image"), (masked, "75 % masked"), (recon, "reconstruction"))):
            axes[i, j].imshow(img[j, 0].numpy(), cmap="gray")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if j == 0:
                axes[i, j].set_ylabel(title, fontsize=9)
    fig.suptitle("Held-out SynthCXR frontals (seed 0 archive): MAE branch of the shipped encoder", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="the pretrain-mrm / pretrain-mae run directory")
    ap.add_argument("--data", required=True, help="a SynthCXR from other seeds (train split -> test split)")
    ap.add_argument("--weights", default=None, help="the shipped (fp16) file; default RUN/encoder.safetensors")
    ap.add_argument("--figures", default=None, help="folder for the loss and reconstruction figures")
    ap.add_argument("--name", default="encoder")
    ap.add_argument("--out", default=None, help="write the JSON here too")
    args = ap.parse_args()
    t0 = time.perf_counter()
    run = Path(args.run)
    cfg = load_config(run / "config.json")
    records = [r for r in load_mimic(args.data, use_prior=False) if r.images["frontal"] is not None]
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test"]
    ya = np.array([[1.0 if r.labels.get(f) == 1.0 else 0.0 for f in FINDINGS] for r in train])
    yb = np.array([[1.0 if r.labels.get(f) == 1.0 else 0.0 for f in FINDINGS] for r in test])
    vit32 = encoder(cfg, run / "encoder.safetensors")
    fa, fb = features(vit32, train, cfg), features(vit32, test, cfg)
    result: dict = {"run": str(run), "data": args.data, "train": len(train), "test": len(test),
                    "test_positives": {f: int(yb[:, i].sum()) for i, f in enumerate(FINDINGS)}, "auc": {}}
    for pooling in ("cls", "mean", "max"):
        s = probe(fa[pooling], ya, fb[pooling])
        result["auc"][f"frozen_{pooling}"] = {f: auc_ci(yb[:, i], s[:, i]) for i, f in enumerate(FINDINGS)}
    xa, _ = frontal_arrays(train, cfg.data.image_size)
    xb, _ = frontal_arrays(test, cfg.data.image_size)
    s = pixel_probe(xa, ya, xb)
    result["auc"]["raw_pixels"] = {f: auc_ci(yb[:, i], s[:, i]) for i, f in enumerate(FINDINGS)}
    if args.weights:
        vit16 = encoder(cfg, args.weights)
        f16 = features(vit16, test[:256], cfg)
        f32 = features(vit32, test[:256], cfg)
        result["fp16_max_abs_diff"] = {k: float(np.abs(f16[k] - f32[k]).max()) for k in f16}
        result["fp16_feature_scale"] = {k: float(np.abs(f32[k]).max()) for k in f32}
    if args.figures:
        fig_dir = Path(args.figures)
        fig_dir.mkdir(parents=True, exist_ok=True)
        loss_figure(run, fig_dir / f"{args.name}_loss.png")
        reconstruction_figure(run, cfg, test, fig_dir / f"{args.name}_reconstruction.png")
    result["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
