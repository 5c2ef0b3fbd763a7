"""ClinVLA: image tower + text tower + adapters + projection heads, composed from a ``RunCfg``.

The model returns embeddings (``ClinVLAOutput``), never the alignment losses (style rule 7); the optional MAE
reconstruction term is the exception that needs internals (kept indices, decoder), so it is computed here and
handed over in ``extra_losses`` for ``losses.total_loss`` to weight.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clinvla_kit.config import RunCfg, diff_configs, load_config, save_config, to_dict
from clinvla_kit.data.batch import Batch
from clinvla_kit.model.heads import ProjectionHeads, Temperatures
from clinvla_kit.model.mae import MAEDecoder, mae_loss
from clinvla_kit.model.mlm_head import ConditionedMLMHead, conditioned_mlm_loss
from clinvla_kit.model.outputs import ClinVLAOutput, TextOutput, VisionOutput
from clinvla_kit.model.params import group_of
from clinvla_kit.model.text import TextTower, resolve_text_source
from clinvla_kit.model.vision import VisionTower, patch_pixels

WEIGHTS = "model.safetensors"
TEXT_CONFIG_DIR = "text_model"  # the text backbone's HF config (config.json at the run root is ours)


def architecture_diff(a: RunCfg, b: RunCfg) -> list[str]:
    """Config differences that change the weights' layout: model.*, data.image_size and the loss fields that add
    modules or parameters. (Training fields such as lr never make a checkpoint unloadable.)"""
    keep = ("model.", "data.image_size", "loss.learn_local_temps", "loss.mae_weight", "loss.mlm_weight")
    return [d for d in diff_configs(a, b) if d.startswith(keep)]


class ClinVLA(nn.Module):
    """The ClinVLA model (see docs/ARCHITECTURE.md, "The method as built").

    ``tokenizer`` is the text tower's HF tokenizer."""

    def __init__(self, cfg: RunCfg, *, _run_dir: str | Path | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        load = _run_dir is None
        self.vision = VisionTower(cfg.model.vision, cfg.model.adapters, cfg.data.image_size, load_weights=load)
        text_dir = None if load else str(Path(_run_dir) / TEXT_CONFIG_DIR)
        self.text = TextTower(cfg.model.text, cfg.model.adapters, source_dir=text_dir)
        self.tokenizer = self.text.tokenizer
        if cfg.model.head_norm not in ("batch", "none"):
            raise ValueError(f"model.head_norm must be 'batch' or 'none', got {cfg.model.head_norm!r}")
        self.heads = ProjectionHeads(self.vision.dim, self.text.dim, cfg.model.embed_dim,
                                     standardize=cfg.model.head_norm == "batch")
        self.temps = Temperatures(cfg.loss.init_logit_scale, cfg.loss.local_temps, cfg.loss.learn_local_temps)
        p, chans = patch_pixels(self.vision.vit)
        self.mae_decoder: nn.Module = (
            MAEDecoder(self.vision.dim, self.vision.num_patches, p * p * chans, cfg.mae)
            if cfg.loss.mae_weight > 0 else nn.Identity()
        )
        self.mlm_head: nn.Module = nn.Identity()
        if cfg.loss.mlm_weight > 0:
            vocab = self.text.backbone.get_input_embeddings().weight.shape[0]
            source = text_dir if text_dir is not None else resolve_text_source(cfg.model.text.name_or_path)
            self.mlm_head = ConditionedMLMHead.from_source(source, self.text.dim, self.vision.dim, vocab)

    # -- features ---------------------------------------------------------------------------------------------
    def forward_features(self, batch: Batch) -> tuple[VisionOutput, TextOutput]:
        """Raw tower outputs (before the heads)."""
        return self.vision(batch.images, batch.present), self.text(batch.input_ids, batch.attention_mask)

    def forward(self, batch: Batch) -> ClinVLAOutput:
        """Batch -> ClinVLAOutput. Train mode masks each view at ``vision.mask_ratio``; eval mode masks nothing and
        uses ``vision.eval_views``."""
        vis, views = self.vision.encode(batch.images, batch.present)
        txt = self.text(batch.input_ids, batch.attention_mask)
        extra: dict[str, torch.Tensor] = {}
        if isinstance(self.mae_decoder, MAEDecoder) and self.training:
            pred = self.mae_decoder(views.cls, views.tokens, views.keep)
            p = patch_pixels(self.vision.vit)[0]
            extra["mae"] = mae_loss(pred, views.images, views.keep, p, self.cfg.mae.norm_pix_loss)
        if self.cfg.loss.mlm_weight > 0 and self.training:  # a second, masked text pass (only when weighted)
            extra["mlm"] = conditioned_mlm_loss(self.text, self.mlm_head, batch.input_ids, batch.attention_mask,
                                                vis.global_emb, prob=self.cfg.loss.mlm_mask_prob)
        return ClinVLAOutput(
            img_global=self.heads.img_global(vis.global_emb),
            txt_global=self.heads.txt_global(txt.global_emb),
            img_local=self.heads.img_local(vis.patch_tokens, vis.patch_mask),
            txt_local=self.heads.txt_local(txt.word_emb, txt.word_mask),
            patch_mask=vis.patch_mask,
            word_mask=txt.word_mask,
            logit_scale=self.temps.logit_scale(),
            local_temps=self.temps.local_temps(),
            vision=vis,
            extra_losses=extra,
        )

    def encode_image(self, images: torch.Tensor, present: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """images [B, 4, C, H, W], present [B, 4] -> [B, D] global image embedding in the joint space.

        Uses the current mode: call ``model.eval()`` first for unmasked, ``eval_views``-selected embeddings.
        """
        z = self.heads.img_global(self.vision(images, present).global_emb)
        return F.normalize(z, dim=-1) if normalize else z

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """input_ids, attention_mask [B, T] -> [B, D] global report embedding in the joint space."""
        z = self.heads.txt_global(self.text(input_ids, attention_mask).global_emb)
        return F.normalize(z, dim=-1) if normalize else z

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Reports -> {"input_ids", "attention_mask"} padded to the longest (at most ``text.max_tokens``)."""
        enc = self.tokenizer(list(texts), padding="longest", truncation=True,
                             max_length=self.cfg.model.text.max_tokens, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    # -- optimisation -----------------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Trainable parameters by group: "language_adapter", "task_adapter", "vision_adapter",
        "invertible_adapter", "heads", "temperature", "backbone", "lora" (empty groups omitted)."""
        groups: dict[str, list[tuple[str, nn.Parameter]]] = {}
        for name, p in self.named_parameters():
            if p.requires_grad:
                groups.setdefault(group_of(name), []).append((name, p))
        return groups

    # -- persistence ------------------------------------------------------------------------------------------
    def save_pretrained(self, run_dir: str | Path, cfg: RunCfg | None = None) -> None:
        """Write config.json, model.safetensors (weights only), tokenizer files and text_model/config.json."""
        from safetensors.torch import save_file

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg or self.cfg, run_dir / "config.json")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        tmp = run_dir / (WEIGHTS + ".tmp")
        save_file(state, str(tmp), metadata={"format": "pt", "clinvla_config": json.dumps(to_dict(cfg or self.cfg))})
        tmp.replace(run_dir / WEIGHTS)
        self.tokenizer.save_pretrained(str(run_dir))
        (run_dir / TEXT_CONFIG_DIR).mkdir(exist_ok=True)
        self.text.backbone.config.save_pretrained(str(run_dir / TEXT_CONFIG_DIR))

    @classmethod
    def from_pretrained(
        cls, run_dir: str | Path, map_location: str | torch.device = "cpu", expect_cfg: RunCfg | None = None
    ) -> ClinVLA:
        """Rebuild from a run directory, or a shipped aligned model's name (``clinvla_kit.aligned_weights``),
        without network or the original weights (safetensors only).

        Raises ValueError naming the differing config fields when ``expect_cfg`` does not match the run's config,
        and naming missing/unexpected/mis-shaped keys when the weights do not match the run's config.
        """
        from clinvla_kit.aligned_weights import resolve_run
        from clinvla_kit.model.run_weights import key_mismatch, read_run_weights

        run_dir = resolve_run(run_dir)  # a shipped aligned model's name -> its materialised run directory
        for need in ("config.json", WEIGHTS):
            if not (run_dir / need).is_file():
                raise FileNotFoundError(f"{run_dir}: not a ClinVLA run directory (no {need})")
        cfg = load_config(run_dir / "config.json")
        if expect_cfg is not None:
            diff = architecture_diff(cfg, expect_cfg)
            if diff:
                raise ValueError(f"{run_dir}: checkpoint config differs from the expected one: {'; '.join(diff)}")
        model = cls(cfg, _run_dir=run_dir)
        state = read_run_weights(run_dir / WEIGHTS, cfg, device=str(map_location))  # names edited config fields
        problem = key_mismatch(state, model.state_dict())
        if problem:
            raise ValueError(f"{run_dir / WEIGHTS}: weights do not match {run_dir / 'config.json'}: {problem}")
        model.load_state_dict(state)
        return model.to(map_location)
