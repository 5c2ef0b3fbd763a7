"""How hard is each SynthCXR finding? A supervised ceiling for the zero-shot and probe numbers.

    OMP_NUM_THREADS=2 python bench/bench_synth_ceiling.py --data /tmp/s2k --size 64 --epochs 20

Trains, on the frontal images of the train split with their CheXpert labels, two supervised references and reports
the test-split AUC per finding (and pneumonia against studies with no airspace opacity, the RSNA-format set's
rule):

1. ``pixels``: logistic regression on the raw pixels (``--size`` px, standardised per pixel). A finding it already
   separates (a big heart, edema in both lungs) is "linear in the pixels"; one it cannot (a lobar opacity whose place
   varies) needs learned, position-free features.
2. ``cnn``: four 3x3 conv + BatchNorm + ReLU + 2x2 max-pool stages (16-32-64-64 channels), global max pooling, a
   linear layer, binary cross-entropy on the findings below, AdamW 2e-3, batch 32, images standardised per image. It
   sees the labels, so its AUC is a rough ceiling for what an image tower trained from the reports can reach with
   the same images; zero-shot from the reports has to learn the same features without being told which findings
   matter.

The point is to tell "the model is weak" from "the data set is too hard" (issue 4 asks which one holds).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import nn

from clinvla_kit.data.images import read_image, resize
from clinvla_kit.data.sources.mimic import load_mimic

FINDINGS = ("Pneumonia", "Consolidation", "Edema", "Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Atelectasis")


def frontal_arrays(records: list, size: int) -> tuple[np.ndarray, np.ndarray]:
    """records -> (images [N, size, size] standardised per image, labels [N, F] with 1 = positive, else 0)."""
    x = np.stack([resize(read_image(r.images["frontal"]).astype(np.float32), size) for r in records])
    x = (x - x.mean((1, 2), keepdims=True)) / (x.std((1, 2), keepdims=True) + 1e-6)
    y = np.array([[1.0 if r.labels.get(f) == 1.0 else 0.0 for f in FINDINGS] for r in records], np.float32)
    return x, y


def pixel_probe(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Per finding, logistic regression on standardised pixels -> test scores [Nb, F]."""
    a, b = xa.reshape(len(xa), -1), xb.reshape(len(xb), -1)
    mu, sd = a.mean(0), a.std(0) + 1e-6
    a, b = (a - mu) / sd, (b - mu) / sd
    return np.stack([LogisticRegression(C=0.05, max_iter=3000).fit(a, ya[:, i]).predict_proba(b)[:, 1]
                     for i in range(ya.shape[1])], 1)


def small_cnn(n_out: int) -> nn.Sequential:
    """[B, 1, S, S] -> logits [B, n_out]; global max pooling so a finding anywhere reaches the output."""
    layers: list[nn.Module] = []
    for cin, cout in ((1, 16), (16, 32), (32, 64), (64, 64)):
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, n_out))


def cnn_scores(xa: np.ndarray, ya: np.ndarray, xb: np.ndarray, epochs: int, seed: int) -> np.ndarray:
    """Train ``small_cnn`` on (xa, ya) -> test logits [Nb, F]."""
    torch.manual_seed(seed)
    net = small_cnn(ya.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3)
    ta, tya, tb = torch.from_numpy(xa[:, None]), torch.from_numpy(ya), torch.from_numpy(xb[:, None])
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(ta)).split(32):
            loss = nn.functional.binary_cross_entropy_with_logits(net(ta[idx]), tya[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return torch.cat([net(tb[i:i + 256]) for i in range(0, len(tb), 256)]).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a SynthCXR (or MIMIC-CXR-JPG) directory")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    records = [r for r in load_mimic(args.data, use_prior=False) if r.images["frontal"] is not None]
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test"]
    xa, ya = frontal_arrays(train, args.size)
    xb, yb = frontal_arrays(test, args.size)
    scores = {"pixels": pixel_probe(xa, ya, xb), "cnn": cnn_scores(xa, ya, xb, args.epochs, args.seed)}
    # The RSNA-format set's rule (synth/benchmarks.py, rsna_cohort): pneumonia against no airspace opacity at all.
    pn, co = FINDINGS.index("Pneumonia"), FINDINGS.index("Consolidation")
    rsna_rows = (yb[:, pn] == 1) | (yb[:, co] == 0)
    auc = {name: {f: round(float(roc_auc_score(yb[:, i], s[:, i])), 3) for i, f in enumerate(FINDINGS)}
           for name, s in scores.items()}
    for name, s in scores.items():
        auc[name]["Pneumonia vs no opacity (RSNA rule)"] = round(float(roc_auc_score(yb[rsna_rows, pn],
                                                                                     s[rsna_rows, pn])), 3)
    out = {"data": args.data, "size": args.size, "epochs": args.epochs, "train": len(train), "test": len(test),
           "test_positives": {f: int(yb[:, i].sum()) for i, f in enumerate(FINDINGS)}, "auc": auc,
           "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
