"""Small stand-ins with the model and data contracts, so the training loop is tested on its own.

``TinyAligner`` follows the ClinVLA contract (``forward(batch) -> ClinVLAOutput``, ``parameter_groups()``,
``save_pretrained``); ``FakeStudies`` yields per-study dicts that ``collate`` turns into a ``Batch``. The losses are
written plainly: a global InfoNCE and a GLoRIA-style local loss, both over features gathered across ranks with
``all_gather_with_grad`` (so the DDP parity test exercises real contrastive gradients), and a per-sample mean loss
(decomposable, for the gradient-accumulation test).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clinvla_kit import distributed
from clinvla_kit.config import RunCfg, to_dict
from clinvla_kit.data.batch import Batch
from clinvla_kit.model.outputs import ClinVLAOutput

IMG, VOCAB, T = 8, 30, 6


class FakeStudies(torch.utils.data.Dataset):
    """``n`` deterministic studies: 4 views of 1x8x8 images, 6 tokens. ``skip_every``: items counted as skipped."""

    def __init__(self, n: int = 32, seed: int = 0, skip_every: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 4, 1, IMG, IMG, generator=g)
        self.ids = torch.randint(1, VOCAB, (n, T), generator=g)
        self.skip_every = skip_every
        self.skipped = 0

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> dict:
        if self.skip_every and i % self.skip_every == 0:
            self.skipped += 1  # the real dataset substitutes another study and counts the unreadable one
        return {"images": self.images[i], "input_ids": self.ids[i], "id": str(i)}


def collate(items: list[dict]) -> Batch:
    b = len(items)
    return Batch(
        images=torch.stack([it["images"] for it in items]),
        present=torch.ones(b, 4, dtype=torch.bool),
        input_ids=torch.stack([it["input_ids"] for it in items]),
        attention_mask=torch.ones(b, T, dtype=torch.long),
        labels=torch.zeros(b, 14),
        study_ids=[it["id"] for it in items],
    )


class TinyAligner(nn.Module):
    """Patches of 4x4 pixels (4 per view, 16 per study) and word embeddings projected to a joint space of 8.

    Mixed parameter kinds (norm, embedding, temperature, frozen) so that groups and the no-decay rule are exercised.
    """

    def __init__(self, dim: int = 8, noise: float = 0.0) -> None:
        super().__init__()
        self.noise = noise  # training-time random perturbation (stands in for random masking: tests RNG resume)
        self.patch = nn.Linear(16, dim)
        self.word_embeddings = nn.Embedding(VOCAB, dim)
        self.norm = nn.LayerNorm(dim)
        self.img_head = nn.Linear(dim, dim)
        self.txt_head = nn.Linear(dim, dim)
        self.language_adapter = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(2.0))
        self.frozen = nn.Linear(dim, dim)
        self.frozen.requires_grad_(False)

    def forward(self, batch: Batch) -> ClinVLAOutput:
        x = batch.images  # [B, 4, 1, 8, 8] -> [B, 16 patches, 16 pixels]
        b = x.shape[0]
        patches = x.reshape(b, 4, 2, 4, 2, 4).permute(0, 1, 2, 4, 3, 5).reshape(b, 16, 16)
        p = self.norm(self.patch(patches))  # [B, 16, D]
        if self.training and self.noise:
            p = p + self.noise * torch.randn_like(p)
        w = self.word_embeddings(batch.input_ids)
        w = w + self.language_adapter(w)  # [B, T, D]
        return ClinVLAOutput(
            img_global=self.img_head(p.mean(1)), txt_global=self.txt_head(w.mean(1)), img_local=p, txt_local=w,
            patch_mask=torch.ones(b, 16, dtype=torch.bool), word_mask=batch.attention_mask.bool(),
            logit_scale=self.logit_scale.exp(), local_temps=torch.tensor([4.0, 5.0, 10.0]),
        )

    def parameter_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        named = dict(self.named_parameters())
        groups = {
            "language_adapter": [n for n in named if n.startswith("language_adapter")],
            "temperature": ["logit_scale"],
            "heads": [n for n in named if n.split(".")[0] in ("patch", "word_embeddings", "norm", "img_head", "txt_head")],
        }
        return {g: [(n, named[n]) for n in names if named[n].requires_grad] for g, names in groups.items()}

    def save_pretrained(self, run_dir: str | Path, cfg: RunCfg) -> None:
        from safetensors.torch import save_file

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(run_dir / "model.safetensors"))
        (run_dir / "config.json").write_text(json.dumps(to_dict(cfg)))


def global_infonce(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
    logits = scale * img @ txt.T
    target = torch.arange(img.shape[0])
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def local_gloria(patches: torch.Tensor, words: torch.Tensor, temps=(4.0, 5.0, 10.0)) -> torch.Tensor:
    """Every report against every image: words attend over patches, log-sum-exp of word-context cosines."""
    t1, t2, t3 = temps
    s = torch.einsum("iwd,jpd->ijwp", words, patches)  # [Bt, Bi, W, P]
    a = s.softmax(dim=2)
    alpha = (t1 * a).softmax(dim=3)
    ctx = torch.einsum("ijwp,jpd->ijwd", alpha, patches)
    cos = F.cosine_similarity(words.unsqueeze(1).expand_as(ctx), ctx, dim=-1)  # [Bt, Bi, W]
    scores = t3 * torch.logsumexp(t2 * cos, dim=2)  # [Bt reports, Bi images]
    target = torch.arange(scores.shape[0])
    return 0.5 * (F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target))


def contrastive_loss(out: ClinVLAOutput, loss_cfg=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Global + 0.8 local over features gathered from every rank (negatives from the whole global batch)."""
    g = distributed.all_gather_with_grad
    lg = global_infonce(g(out.img_global), g(out.txt_global), out.logit_scale)
    ll = local_gloria(g(out.img_local), g(out.txt_local))
    return lg + 0.8 * ll, {"global": lg, "local": ll}


def mean_loss(out: ClinVLAOutput, loss_cfg=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A per-sample mean (decomposable over samples), unlike contrastive losses whose negatives span the batch."""
    per = ((out.img_global - out.txt_global) ** 2).mean(1) + out.logit_scale * 0.0
    return per.mean(), {"mse": per.mean()}


class NaNAt:
    """Wraps a loss so that its ``call``-th call (1-based) returns NaN."""

    def __init__(self, loss_fn, call: int) -> None:
        self.loss_fn, self.call, self.n = loss_fn, call, 0

    def __call__(self, out, cfg):
        self.n += 1
        loss, terms = self.loss_fn(out, cfg)
        if self.n == self.call:
            loss = loss * float("nan")
        return loss, terms
