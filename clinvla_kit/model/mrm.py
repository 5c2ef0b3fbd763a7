"""Masked-record modelling (MRM, Zhou et al. 2023; the encoder ALTA adapts): MAE on every view of a study plus a
masked-language-model loss on its report, conditioned on the image's global token.

``MRM(cfg, tokenizer, vocab_ids)`` holds
- ``vision``: the ClinVLA ``VisionTower`` itself with every adapter off and the backbone trainable, so the views are
  masked (at ``mae.mask_ratio``), encoded and pooled (``model.vision.pooling``) exactly as alignment does it;
- ``pixel_decoder``: the MAE decoder (``model/mae.py``), one reconstruction per encoded view;
- ``report_decoder``: a small transformer that predicts the masked report words from the unmasked ones plus the
  projected global image embedding added to every token (the conditioning of MRM's report branch); with
  ``mrm.report_view_mask_ratio`` set that embedding comes from a second, less masked pass of the frontal view.

Only ``vision.vit`` is kept (``encoder_state_dict``: plain timm keys); both decoders are thrown away. The view and
time embeddings and the missing-view token stay frozen at their initial values: the shipped encoder is a
single-view ViT, and alignment learns those embeddings itself.

Why a compact vocabulary: SynthCXR's reports use a few hundred of the tokenizer's 30,522 word pieces, and scoring
masked positions over the full vocabulary would cost more than the whole image tower on a CPU. ``vocab_ids`` lists
the tokenizer ids the report branch predicts (all others map to ``[UNK]`` of the compact vocabulary).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clinvla_kit.config import AdapterCfg, RunCfg
from clinvla_kit.model.mae import MAEDecoder, mae_loss, save_encoder_file, vit_state_dict
from clinvla_kit.model.vision import VisionTower, patch_pixels

PAD, MASK, UNK = 0, 1, 2
"""Reserved ids of the compact report vocabulary (real word pieces start at 3)."""

NO_ADAPTERS = AdapterCfg(transformer_adapt_towers=(), invertible_towers=(), vision_bottleneck=False)


def compact_vocabulary(token_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Sorted distinct tokenizer ids in ``token_ids`` (any shape) -> [V'] long, the compact vocabulary."""
    ids = torch.unique(token_ids.reshape(-1).long())
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"token ids outside the tokenizer's vocabulary [0, {vocab_size})")
    return ids


class ReportMLMDecoder(nn.Module):
    """Masked report tokens + image embedding -> logits over the compact vocabulary.

    forward(ids [B, T] compact ids with ``MASK`` at masked words, attention_mask [B, T], image [B, Dv])
    -> logits [B, T, V'+3]. The image embedding is projected to the decoder width and added to every token, so
    every masked word can read the image directly.
    """

    def __init__(self, vocab: int, image_dim: int, dim: int, depth: int, heads: int, max_tokens: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim, padding_idx=PAD)
        self.pos = nn.Parameter(torch.randn(1, max_tokens, dim) * 0.02)
        self.image = nn.Sequential(nn.LayerNorm(image_dim), nn.Linear(image_dim, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        if t > self.pos.shape[1]:
            raise ValueError(f"report of {t} tokens exceeds the decoder's {self.pos.shape[1]} positions")
        x = self.tokens(ids) + self.pos[:, :t] + self.image(image)[:, None]
        x = self.blocks(x, src_key_padding_mask=~attention_mask.bool())
        return self.out(self.norm(x))


def mask_words(ids: torch.Tensor, word_mask: torch.Tensor, prob: float,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask ``prob`` of the real words of each report (at least one): (input ids [B, T], labels [B, T] = -100 where
    not masked). Masked positions become ``MASK``; the rest stay as they are."""
    noise = torch.rand(ids.shape, generator=generator).to(ids.device)
    chosen = (noise < prob) & word_mask
    first = noise.masked_fill(~word_mask, 2.0).argmin(dim=1)
    has = word_mask.any(1)
    chosen[torch.arange(ids.shape[0], device=ids.device)[has], first[has]] = True
    return ids.masked_fill(chosen, MASK), ids.masked_fill(~chosen, -100)


class ReportContrast(nn.Module):
    """Optional global image-report InfoNCE of MRM (``mrm.itc_weight``): forward(image [B, Dv], input_ids [B, T],
    attention_mask [B, T]) -> scalar loss.

    The report side is the frozen text tower of ``model.text`` without adapters, each distinct report encoded once
    (``cache_features``), so the term costs two linear heads; both sides are standardised first (as the alignment
    heads are, ``heads.Projection``); the temperature is CLIP's initial 0.07, fixed.
    """

    def __init__(self, cfg: RunCfg, image_dim: int) -> None:
        super().__init__()
        from clinvla_kit.model.heads import Projection
        from clinvla_kit.model.text import TextTower

        tcfg = dataclasses.replace(cfg.model.text, freeze_backbone=True, dropout=0.0, cache_features=True)
        self.text = TextTower(tcfg, NO_ADAPTERS)
        for p in self.text.parameters():
            p.requires_grad = False
        self.img_head = Projection(image_dim, cfg.mrm.itc_dim)
        self.txt_head = Projection(self.text.dim, cfg.mrm.itc_dim)
        self.logit_scale = 1.0 / 0.07

    def forward(self, image: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        from clinvla_kit.losses import global_contrastive_loss

        with torch.no_grad():
            report = self.text(input_ids, attention_mask).global_emb
        return global_contrastive_loss(self.img_head(image), self.txt_head(report), self.logit_scale)


class MRM(nn.Module):
    """``forward(batch) -> (loss, {"mae": ..., "mlm": ..., "mlm_acc": ...})`` on a ``Batch`` of studies."""

    def __init__(self, cfg: RunCfg, tokenizer: Any, vocab_ids: torch.Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        # MRM masks the views at the MAE stage's ratio, whatever the alignment preset does (``tiny`` masks none)
        vcfg = dataclasses.replace(cfg.model.vision, freeze_backbone=False, mask_ratio=cfg.mae.mask_ratio)
        self.vision = VisionTower(vcfg, NO_ADAPTERS, cfg.data.image_size)
        for p in (self.vision.view_embed, self.vision.time_embed, self.vision.missing_token):
            p.requires_grad = False
        vit = self.vision.vit
        self.patch_size, self.in_chans = patch_pixels(vit)
        self.pixel_decoder = MAEDecoder(vit.embed_dim, self.vision.num_patches, self.patch_size**2 * self.in_chans,
                                        cfg.mae)
        vocab_ids = torch.as_tensor(vocab_ids, dtype=torch.long)
        full = int(getattr(tokenizer, "vocab_size", 0) or (int(vocab_ids.max()) + 1))
        lookup = torch.full((max(full, int(vocab_ids.max()) + 1),), UNK, dtype=torch.long)
        lookup[vocab_ids] = torch.arange(3, 3 + vocab_ids.numel())
        self.register_buffer("lookup", lookup)  # tokenizer id -> compact id
        special = sorted(set(getattr(tokenizer, "all_special_ids", [])))
        self.register_buffer("special_ids", torch.tensor(special, dtype=torch.long), persistent=False)
        m = cfg.mrm
        self.report_decoder = ReportMLMDecoder(3 + vocab_ids.numel(), vit.embed_dim, m.text_dim, m.text_depth,
                                               m.text_heads, cfg.data.max_tokens)
        self.itc: ReportContrast | None = ReportContrast(cfg, vit.embed_dim) if m.itc_weight > 0 else None

    def compact(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Tokenizer ids [B, T] -> compact ids [B, T] (ids beyond the table -> ``UNK``)."""
        ids = input_ids.clamp(max=self.lookup.numel() - 1)
        return torch.where(input_ids < self.lookup.numel(), self.lookup[ids], torch.full_like(ids, UNK))

    def forward(self, batch: Any, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        out, views = self.vision.encode(batch.images, batch.present, generator=generator)
        pred = self.pixel_decoder(views.cls, views.tokens, views.keep)
        l_mae = mae_loss(pred, views.images, views.keep, self.patch_size, self.cfg.mae.norm_pix_loss)
        words = batch.attention_mask.bool() & ~torch.isin(batch.input_ids, self.special_ids)
        ids = self.compact(batch.input_ids).masked_fill(~batch.attention_mask.bool(), PAD)
        masked, labels = mask_words(ids, words, self.cfg.mrm.mask_prob, generator)
        image = self.report_image(batch, out.global_emb, generator)
        logits = self.report_decoder(masked, batch.attention_mask, image)
        l_mlm = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        with torch.no_grad():
            sel = labels != -100
            acc = (logits.argmax(-1)[sel] == labels[sel]).float().mean()
        loss = l_mae + self.cfg.mrm.mlm_weight * l_mlm
        terms = {"mae": l_mae.detach(), "mlm": l_mlm.detach(), "mlm_acc": acc}
        if self.itc is not None:
            l_itc = self.itc(image, batch.input_ids, batch.attention_mask)
            loss = loss + self.cfg.mrm.itc_weight * l_itc
            terms["itc"] = l_itc.detach()
        return loss, terms

    def report_image(self, batch: Any, mae_global: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """The image embedding [B, D] the report branch reads: the MAE pass's global token ``mae_global`` or, with
        ``mrm.report_view_mask_ratio`` set, the summary (``model.vision.pooling``) of a second pass of each study's
        frontal view (its first present view when it has none) masked at that ratio."""
        ratio = self.cfg.mrm.report_view_mask_ratio
        if ratio is None:
            return mae_global
        present = batch.present.bool()
        slot = present.long().argmax(dim=1)  # frontal (slot 0) when present
        images = batch.images[torch.arange(present.shape[0], device=present.device), slot]
        return self.vision.encode_views(images, slot, ratio, generator)[0]

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The ViT's weights with timm keys (what ``load_vit_checkpoint`` and the shipped registry read)."""
        return vit_state_dict(self.vision.vit)

    def save_encoder(self, path: str | Path) -> Path:
        """Write ``encoder_state_dict()`` as safetensors; ``path`` a file or a directory (-> encoder.safetensors)."""
        return save_encoder_file(self.encoder_state_dict(), path)
