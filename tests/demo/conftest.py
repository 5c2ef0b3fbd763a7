"""A stand-in model with the ClinVLA contract (encode_image/encode_text/forward/parameter_groups/tokenizer/cfg),
small and deterministic, plus a tiny on-disk archive of studies written here."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clinvla_kit.config import SLOTS, RunCfg, apply_overrides
from clinvla_kit.data.records import CHEXPERT_LABELS, StudyRecord
from clinvla_kit.model.outputs import ClinVLAOutput, VisionOutput

os.environ.setdefault("HF_HUB_OFFLINE", "1")
D = 8
PATCH = 16
SIZE = 32


class StandIn(nn.Module):
    """Image: each 16-px patch of each view -> mean pixel of its 3 channels -> linear to D; global = mean over
    present views of the mean patch feature plus a vision adapter vector. Text: an embedding table (seeded)."""

    def __init__(self, tokenizer):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.cfg = apply_overrides(RunCfg(), [f"data.image_size={SIZE}", "data.max_tokens=24",
                                              "data.augment=false", f"model.vision.patch_size={PATCH}"])
        self.tokenizer = tokenizer
        self.patch_proj = nn.Parameter(torch.randn(3, D, generator=g))
        self.words = nn.Parameter(torch.randn(tokenizer.vocab_size, D, generator=g))
        self.adapter = nn.Parameter(torch.randn(D, generator=g))  # a "vision adapter": shifts every image embedding
        self.backbone = nn.Parameter(torch.randn(4), requires_grad=False)

    def patches(self, images):  # [B, 4, C, H, W] -> [B, 4, gh*gw, D]
        b, v, c, h, w = images.shape
        pooled = F.avg_pool2d(images.reshape(b * v, c, h, w), PATCH)  # [BV, C, gh, gw]
        feats = pooled.flatten(2).transpose(1, 2) @ self.patch_proj  # [BV, N, D]
        return feats.reshape(b, v, -1, D)

    def encode_image(self, images, present, normalize=True):
        p = self.patches(images).mean(2)  # [B, 4, D]
        w = present.float()[..., None]
        z = (p * w).sum(1) / w.sum(1).clamp(min=1) + self.adapter
        return F.normalize(z, dim=-1) if normalize else z

    def word_mask(self, ids, mask):
        special = torch.tensor([t in self.tokenizer.all_special_ids for t in ids.flatten().tolist()]).view(ids.shape)
        return mask.bool() & ~special

    def encode_text(self, input_ids, attention_mask, normalize=True):
        wm = self.word_mask(input_ids, attention_mask).float()[..., None]
        z = (self.words[input_ids] * wm).sum(1) / wm.sum(1).clamp(min=1)
        return F.normalize(z, dim=-1) if normalize else z

    def forward(self, batch):
        pt = self.patches(batch.images)  # [B, 4, N, D]
        b, v, n, _ = pt.shape
        g = int(n ** 0.5)
        ids = torch.tensor([(s, r, c) for s in range(v) for r in range(g) for c in range(g)])[None].expand(b, -1, -1)
        pmask = batch.present[:, :, None].expand(-1, -1, n).reshape(b, -1)
        vis = VisionOutput(global_emb=pt.mean(2).mean(1), view_cls=pt.mean(2), patch_tokens=pt.reshape(b, -1, D),
                           patch_ids=ids, patch_mask=pmask)
        return ClinVLAOutput(img_global=vis.global_emb, txt_global=self.encode_text(batch.input_ids, batch.attention_mask, False),
                             img_local=vis.patch_tokens, txt_local=self.words[batch.input_ids], patch_mask=pmask,
                             word_mask=self.word_mask(batch.input_ids, batch.attention_mask),
                             logit_scale=torch.tensor(1.0), local_temps=torch.tensor([4.0, 5.0, 10.0]), vision=vis)

    def parameter_groups(self):
        return {"heads": [("patch_proj", self.patch_proj), ("words", self.words)],
                "vision_adapter": [("adapter", self.adapter)]}


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from clinvla_kit.model.text import minilm_dir

    return AutoTokenizer.from_pretrained(str(minilm_dir()))


@pytest.fixture
def model(tokenizer):
    return StandIn(tokenizer).eval()


REPORTS = ["FINDINGS: Large left pleural effusion. IMPRESSION: Left effusion.",
           "FINDINGS: The heart is enlarged. IMPRESSION: Cardiomegaly.",
           "FINDINGS: Right lower lobe consolidation. IMPRESSION: Pneumonia.",
           "FINDINGS: Lungs are clear. IMPRESSION: No acute cardiopulmonary process.",
           "FINDINGS: Small right pneumothorax. IMPRESSION: Pneumothorax.",
           "FINDINGS: Mild pulmonary edema. IMPRESSION: Edema."]
LABELS = ["Pleural Effusion", "Cardiomegaly", "Consolidation", "No Finding", "Pneumothorax", "Edema"]


@pytest.fixture(scope="session")
def records(tmp_path_factory) -> list[StudyRecord]:
    """Six studies with 32-px JPG views; study 3 has no lateral, study 5 has priors."""
    root = tmp_path_factory.mktemp("archive")
    rng = np.random.default_rng(0)
    out = []
    for i, (report, label) in enumerate(zip(REPORTS, LABELS)):
        images = {}
        for s in SLOTS:
            if (s == "lateral" and i == 3) or (s.startswith("prior") and i != 5):
                images[s] = None
                continue
            p = root / f"s{i}_{s}.jpg"
            cv2.imwrite(str(p), (rng.random((SIZE, SIZE)) * 255 * (0.3 + 0.1 * i)).clip(0, 255).astype(np.uint8))
            images[s] = p
        labels = {n: (1.0 if n == label else 0.0) for n in CHEXPERT_LABELS}
        out.append(StudyRecord(subject_id=f"1000000{i}", study_id=f"5000000{i}", study_datetime="", images=images,
                               report=report, labels=labels, split="test"))
    return out


@pytest.fixture
def archive(model, records):
    from clinvla_kit.demo.archive import build_archive

    return build_archive(model, records, model.cfg.data, batch_size=4)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end test in a real browser (Debian chromium + Playwright)")
