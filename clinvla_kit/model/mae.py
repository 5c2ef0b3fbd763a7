"""Masked-autoencoder pretraining of the image tower (He et al. 2022) on single views, and its figure helper.

The encoder is the same timm ViT the ClinVLA image tower wraps (``vision.build_vit``), so ``encoder_state_dict()``
has plain timm keys and loads into ``ClinVLA.vision.vit`` (``load_vision_init``). The light decoder (a few timm
Blocks at ``mae.decoder_dim``) is also reused by ClinVLA's optional MAE loss term.
"""

from __future__ import annotations

from pathlib import Path

import torch
from timm.models.vision_transformer import Block
from torch import nn

from clinvla_kit.config import MAECfg, RunCfg
from clinvla_kit.model.checkpoints import load_vision_init, load_vit_checkpoint
from clinvla_kit.model.masking import gather_tokens, random_keep_indices
from clinvla_kit.model.vision import build_vit, patch_grid, patch_pixels

__all__ = ["MAE", "MAEDecoder", "build_mae", "load_vision_init", "mae_loss", "patchify", "reconstruct", "unpatchify"]


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, L, p*p*C] in raster patch order (row-major, pixel order (py, px, c))."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, p: int, grid: tuple[int, int], channels: int) -> torch.Tensor:
    """Inverse of ``patchify``: [B, L, p*p*C] -> [B, C, H, W]."""
    b = patches.shape[0]
    gh, gw = grid
    x = patches.reshape(b, gh, gw, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, channels, gh * p, gw * p)


def mae_loss(pred: torch.Tensor, images: torch.Tensor, keep: torch.Tensor, p: int, norm_pix: bool) -> torch.Tensor:
    """Mean squared error on the *masked* patches only. pred [B, L, p*p*C], images [B, C, H, W], keep [B, K].

    ``norm_pix``: targets normalised per patch (mean 0, var 1), which MAE found gives sharper features.
    """
    target = patchify(images, p)
    if norm_pix:
        mean = target.mean(-1, keepdim=True)
        var = target.var(-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = ((pred - target) ** 2).mean(-1)  # [B, L]
    masked = torch.ones_like(per_patch)
    masked.scatter_(1, keep, 0.0)
    return (per_patch * masked).sum() / masked.sum().clamp(min=1.0)


class MAEDecoder(nn.Module):
    """Light decoder: encoder tokens (CLS + K kept) -> pixel predictions for all L patches.

    Mask tokens fill the dropped positions, a learned position embedding is added, then ``depth`` timm Blocks.
    """

    def __init__(self, enc_dim: int, num_patches: int, patch_values: int, cfg: MAECfg) -> None:
        super().__init__()
        self.num_patches = num_patches
        self.embed = nn.Linear(enc_dim, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1, cfg.decoder_dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(cfg.decoder_dim, cfg.decoder_heads) for _ in range(cfg.decoder_depth)])
        self.norm = nn.LayerNorm(cfg.decoder_dim)
        self.pred = nn.Linear(cfg.decoder_dim, patch_values)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, cls: torch.Tensor, tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """cls [M, De], tokens [M, K, De], keep [M, K] -> pred [M, L, p*p*C]."""
        m = tokens.shape[0]
        x = self.embed(tokens)
        full = self.mask_token.expand(m, self.num_patches, -1).to(x.dtype).clone()
        full = full.scatter(1, keep[..., None].expand(-1, -1, x.shape[-1]), x)
        x = torch.cat([self.embed(cls)[:, None], full], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.pred(x[:, 1:])


class MAE(nn.Module):
    """MAE on single views: ``forward(images [B, C, H, W]) -> (loss, pred [B, L, p*p*C], keep [B, K])``."""

    def __init__(self, cfg: RunCfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.vit = build_vit(cfg.model.vision, cfg.data.image_size)
        if cfg.model.vision.checkpoint:
            load_vit_checkpoint(self.vit, cfg.model.vision.checkpoint)
        self.patch_size, self.in_chans = patch_pixels(self.vit)
        self.grid = patch_grid(self.vit)
        self.num_patches = self.grid[0] * self.grid[1]
        self.decoder = MAEDecoder(
            self.vit.embed_dim, self.num_patches, self.patch_size**2 * self.in_chans, cfg.mae
        )

    def encode(
        self, images: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None,
        keep: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images [B, C, H, W] -> (cls [B, D], kept tokens [B, K, D], keep [B, K]); ``keep`` given: use it."""
        vit = self.vit
        x = vit.patch_embed(images) + vit.pos_embed[:, vit.num_prefix_tokens:]
        if keep is None:
            keep = random_keep_indices(x.shape[0], self.num_patches, mask_ratio, generator=generator,
                                       device=x.device)
        x = gather_tokens(x, keep)
        cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = vit.norm(vit.blocks(vit.norm_pre(torch.cat([cls, x], dim=1))))
        return x[:, 0], x[:, 1:], keep

    def forward(
        self, images: torch.Tensor, mask_ratio: float | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != self.in_chans:
            raise ValueError(f"MAE expects images [B, {self.in_chans}, H, W], got {tuple(images.shape)}")
        ratio = self.cfg.mae.mask_ratio if mask_ratio is None else mask_ratio
        cls, tokens, keep = self.encode(images, ratio, generator)
        pred = self.decoder(cls, tokens, keep)
        return mae_loss(pred, images, keep, self.patch_size, self.cfg.mae.norm_pix_loss), pred, keep

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoder's weights with timm ViT keys (what ``load_vision_init`` expects)."""
        return vit_state_dict(self.vit)

    def save_encoder(self, path: str | Path) -> Path:
        """Write ``encoder_state_dict()`` as safetensors; ``path`` a file or a run directory (-> encoder.safetensors)."""
        return save_encoder_file(self.encoder_state_dict(), path)


def vit_state_dict(vit: nn.Module) -> dict[str, torch.Tensor]:
    """A detached, contiguous copy of a ViT's weights (plain timm keys)."""
    return {k: v.detach().clone().contiguous() for k, v in vit.state_dict().items()}


def save_encoder_file(state: dict[str, torch.Tensor], path: str | Path) -> Path:
    """Write an encoder state dict as safetensors; ``path`` a file or a run directory (-> encoder.safetensors).
    Shared by the MAE and MRM pretraining runs, whose encoders ``train --init-vision RUN`` reads the same way."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        path.mkdir(parents=True, exist_ok=True)
        path = path / "encoder.safetensors"
    save_file(state, str(path))
    return path


def build_mae(cfg: RunCfg) -> MAE:
    """The MAE pretraining model for ``cfg`` (encoder = ``cfg.model.vision`` at ``cfg.data.image_size``)."""
    return MAE(cfg)


@torch.no_grad()
def reconstruct(
    mae: MAE, images: torch.Tensor, mask_ratio: float = 0.75, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """For figures: images [B, C, H, W] -> (masked [B, C, H, W] with dropped patches zeroed,
    reconstruction [B, C, H, W] = visible patches pasted over the prediction).

    With ``norm_pix_loss`` the prediction is per-patch normalised; it is mapped back with each true patch's mean and
    std (as the MAE demo does), so the figure shows structure, not the absolute grey level.
    """
    was_training = mae.training
    mae.eval()
    g = torch.Generator(device="cpu").manual_seed(seed)
    keep = random_keep_indices(images.shape[0], mae.num_patches, mask_ratio, generator=g).to(images.device)
    cls, tokens, _ = mae.encode(images, mask_ratio, keep=keep)
    pred = mae.decoder(cls, tokens, keep)
    p = mae.patch_size
    target = patchify(images, p)
    if mae.cfg.mae.norm_pix_loss:
        pred = pred * (target.var(-1, keepdim=True) + 1e-6).sqrt() + target.mean(-1, keepdim=True)
    visible = torch.zeros(target.shape[:2], dtype=torch.bool, device=images.device)
    visible.scatter_(1, keep, True)
    vis = visible[..., None]
    masked = unpatchify(torch.where(vis, target, torch.zeros_like(target)), p, mae.grid, mae.in_chans)
    recon = unpatchify(torch.where(vis, target, pred), p, mae.grid, mae.in_chans)
    mae.train(was_training)
    return masked, recon

