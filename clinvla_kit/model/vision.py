"""Image tower: a timm ViT over the four study slots, with view/time embeddings, masking and adapters.

Design choice: views are encoded *separately* (the present views of the batch are stacked as M <= 4B single images
and go through the shared ViT together) and fused by the mean of their CLS tokens. Why: attention cost grows with
the square of the sequence length, so four views of L patches cost 4 L^2 instead of 16 L^2 for a joint sequence;
absent views cost nothing (they are not encoded at all); and the single-view encoder is exactly the one MAE
pretraining produced (as in ALTA). What it implies: views interact only through the mean of CLS and through the
local loss (a word attends over the patches of all views), never inside attention, so a finding visible only on the
lateral reaches the global embedding through the lateral CLS alone.

Slots: frontal, lateral, prior_frontal, prior_lateral (``config.SLOTS``). Slot s has view id ``s % 2``
(frontal/lateral) and time id ``s // 2`` (current/prior); both embeddings start at zero so a pretrained encoder's
features are unchanged at step 0. A learned missing-view token stands in for an absent or disabled slot: it is the
slot's CLS in ``view_cls`` and its (masked-out) patch tokens, and the global embedding of a study with no usable view.
"""

from __future__ import annotations

from dataclasses import dataclass

import timm
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from clinvla_kit.config import AdapterCfg, VisionCfg
from clinvla_kit.model.adapters import BottleneckAdapter, TransformerAdapt
from clinvla_kit.model.invertible import InvertibleAdapter
from clinvla_kit.model.lora import VISION_TARGETS, apply_lora, is_lora_param
from clinvla_kit.model.masking import gather_tokens, random_keep_indices
from clinvla_kit.model.outputs import VisionOutput
from clinvla_kit.model.pooling import check_pooling, pool_tokens
from clinvla_kit.model.stem import ConvStem

NUM_SLOTS = 4


def build_vit(cfg: VisionCfg, image_size: int) -> VisionTransformer:
    """A timm ViT without head: by timm name (``vit_small_patch16_224``, ``vit_base_patch16_224.mae``) or "custom".

    ``cfg.checkpoint`` (a local file) is loaded afterwards by ``checkpoints.load_vit_checkpoint``; ``cfg.pretrained``
    downloads timm hub weights and therefore needs network (never used offline).
    """
    if cfg.stem not in ("linear", "conv"):
        raise ValueError(f"model.vision.stem must be 'linear' or 'conv', got {cfg.stem!r}")
    stem = {"embed_layer": ConvStem} if cfg.stem == "conv" else {}
    if cfg.model_name == "custom":
        vit = VisionTransformer(
            img_size=image_size, patch_size=cfg.patch_size, embed_dim=cfg.embed_dim, depth=cfg.depth,
            num_heads=cfg.num_heads, num_classes=0, **stem,
        )
    else:
        vit = timm.create_model(cfg.model_name, pretrained=cfg.pretrained, num_classes=0, img_size=image_size,
                                **stem)
    if not isinstance(vit, VisionTransformer) or not vit.has_class_token or vit.no_embed_class:
        raise ValueError(
            f"vision.model_name={cfg.model_name!r}: need a timm VisionTransformer with a class token and "
            "position embeddings on the class token (standard ViT/MAE layout)"
        )
    return vit


def is_norm_or_cls(name: str) -> bool:
    """ViT parameters ALTA trains beside its adapters (``adapters.train_vision_norms``): every LayerNorm
    (``norm1``/``norm2`` of each block, the final ``norm``) and the CLS token."""
    return name == "cls_token" or ".norm" in f".{name}" and not name.startswith("patch_embed.")


def check_shipped_fit(cfg: VisionCfg, image_size: int) -> None:
    """Where ``cfg.checkpoint`` names shipped weights, refuse a config they do not fit, naming the fields."""
    from dataclasses import asdict

    from clinvla_kit import weights

    if weights.is_shipped(cfg.checkpoint):
        values = {f"model.vision.{k}": v for k, v in asdict(cfg).items()}
        weights.check_architecture(str(cfg.checkpoint), {**values, "data.image_size": image_size})


def _no_download(cfg: VisionCfg) -> VisionCfg:
    """Same architecture without hub weights (weights come from a run's safetensors)."""
    from dataclasses import replace

    return replace(cfg, pretrained=False, checkpoint=None)


def patch_grid(vit: VisionTransformer) -> tuple[int, int]:
    return tuple(vit.patch_embed.grid_size)  # type: ignore[return-value]


def patch_pixels(vit: VisionTransformer) -> tuple[int, int]:
    """(patch side p, input channels C) of the ViT's patch embedding (timm ``PatchEmbed`` or ``ConvStem``): a patch
    holds p * p * C pixel values, what the MAE decoder predicts."""
    pe = vit.patch_embed
    chans = getattr(pe, "in_chans", None) or pe.proj.in_channels
    return int(pe.patch_size[0]), int(chans)


def block_forward(blk: nn.Module, x: torch.Tensor, adapt: BlockAdapters) -> torch.Tensor:
    """One timm ``Block`` with adapters: serial after attention, parallel (scale s) beside the MLP, then
    Transformer-Adapt on the MLP output. Identity parts make this equal to ``blk(x)`` at init."""
    h = adapt.serial(blk.ls1(blk.attn(blk.norm1(x))))
    x = x + blk.drop_path1(h)
    y = blk.norm2(x)
    m = blk.mlp(y) + adapt.parallel_scale * adapt.parallel(y)
    m = adapt.transformer_adapt(m)
    return x + blk.drop_path2(blk.ls2(m))


class ZeroBranch(nn.Module):
    """Stands in for a disabled parallel adapter: returns zeros (so ``mlp(y) + s * 0``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class BlockAdapters(nn.Module):
    """The adapters of one ViT block (each ``nn.Identity``/``ZeroBranch`` when switched off)."""

    def __init__(self, dim: int, cfg: AdapterCfg) -> None:
        super().__init__()
        bottleneck_on = cfg.vision_bottleneck and not cfg.lora
        width = cfg.vision_bottleneck_dim or cfg.bottleneck
        act = cfg.activation
        self.serial: nn.Module = BottleneckAdapter(dim, width, activation=act) if bottleneck_on else nn.Identity()
        self.parallel: nn.Module = (
            BottleneckAdapter(dim, width, residual=False, activation=act) if bottleneck_on else ZeroBranch()
        )
        self.parallel_scale = cfg.parallel_scale
        ta_on = "vision" in cfg.transformer_adapt_towers and not cfg.lora
        self.transformer_adapt = TransformerAdapt(dim, cfg.bottleneck, enabled=ta_on, activation=act)


@dataclass
class ViewTokens:
    """Per-encoded-view intermediate results (used by the MAE term and attention maps).

    images: [M, C, H, W] the encoded views; index: [M, 2] long (study b, slot s); keep: [M, K] kept patch indices;
    tokens: [M, K, D] final patch tokens; cls: [M, D].
    """

    images: torch.Tensor
    index: torch.Tensor
    keep: torch.Tensor
    tokens: torch.Tensor
    cls: torch.Tensor


class VisionTower(nn.Module):
    """Four-slot image encoder around a timm ViT (backbone weights under ``vit.``, timm key names)."""

    def __init__(self, cfg: VisionCfg, adapters: AdapterCfg, image_size: int, load_weights: bool = True) -> None:
        super().__init__()
        if cfg.eval_views not in ("frontal", "all"):
            raise ValueError(f"vision.eval_views must be 'frontal' or 'all', got {cfg.eval_views!r}")
        check_pooling(cfg.pooling)
        self.cfg = cfg
        self.vit = build_vit(cfg if load_weights else _no_download(cfg), image_size)
        if load_weights and cfg.checkpoint:
            from clinvla_kit.model.checkpoints import load_vit_checkpoint

            check_shipped_fit(cfg, image_size)
            load_vit_checkpoint(self.vit, cfg.checkpoint)
        dim = self.vit.embed_dim
        self.dim = dim
        self.grid = patch_grid(self.vit)
        self.num_patches = self.grid[0] * self.grid[1]
        self.view_embed = nn.Parameter(torch.zeros(2, dim))  # frontal, lateral
        self.time_embed = nn.Parameter(torch.zeros(2, dim))  # current, prior
        self.missing_token = nn.Parameter(torch.randn(dim) * 0.02)
        self.block_adapters = nn.ModuleList(BlockAdapters(dim, adapters) for _ in self.vit.blocks)
        inv_on = "vision" in adapters.invertible_towers and not adapters.lora
        self.invertible: nn.Module = (
            InvertibleAdapter(dim, init=adapters.invertible_init) if inv_on else nn.Identity()
        )
        enabled = [True, cfg.multiview, cfg.temporal, cfg.temporal and cfg.multiview]
        self.register_buffer("enabled_slots", torch.tensor(enabled), persistent=False)
        if adapters.lora:  # after checkpoint loading: LoRA renames qkv.weight to qkv.base_layer.weight
            apply_lora(self.vit, VISION_TARGETS, adapters.lora_rank)
        train_all = adapters.full_finetune or not cfg.freeze_backbone
        for name, p in self.vit.named_parameters():
            p.requires_grad = train_all or is_lora_param(name) or (adapters.train_vision_norms and is_norm_or_cls(name))

    def train(self, mode: bool = True) -> VisionTower:
        """As ``nn.Module.train``, except that a frozen backbone's BatchNorm layers (the conv stem's) stay in eval
        mode: their running statistics are part of the frozen weights and must not drift with the batches."""
        super().train(mode)
        for module in self.vit.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in module.parameters()):
                module.eval()
        return self

    # -- slots ------------------------------------------------------------------------------------------------
    def usable_slots(self, present: torch.Tensor) -> torch.Tensor:
        """[B, 4] bool: present and enabled by config; in eval mode with ``eval_views="frontal"`` one view per study:
        the frontal, or for a study without one its first usable slot (rather than no embedding at all)."""
        use = present.bool() & self.enabled_slots
        if not self.training and self.cfg.eval_views == "frontal":
            first = use.long().argmax(dim=1)  # frontal when present (slot 0), else the first usable slot
            one = torch.zeros_like(use)
            one[torch.arange(use.shape[0], device=use.device), first] = True
            use = one & use
        return use

    def slot_columns(self) -> list[int]:
        """Slots that get columns in ``patch_tokens`` in the current mode (frontal evaluation: one column)."""
        if not self.training and self.cfg.eval_views == "frontal":
            return [0]
        return [s for s in range(NUM_SLOTS) if bool(self.enabled_slots[s])]

    # -- encoding ---------------------------------------------------------------------------------------------
    def encode_views(
        self, images: torch.Tensor, slots: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None,
        keep: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images [M, C, H, W], slots [M] -> (summary [M, D], tokens [M, K, D], keep [M, K]).

        ``summary`` is the CLS token, or the mean or the maximum of the kept patch tokens (``VisionCfg.pooling``).

        Masking is drawn per image (independent per view and per study); ratio 0 keeps all patches in order.
        ``keep`` [M, K] (flat patch indices, K <= num_patches) encodes exactly those patches instead: the patches
        left out are *unseen*, as in masked pretraining, which is what occlusion maps (``viz.occlusion``) ask.
        """
        vit = self.vit
        m = images.shape[0]
        x = vit.patch_embed(images)  # [M, L, D]
        x = x + vit.pos_embed[:, vit.num_prefix_tokens:]
        # Drop patches first: everything below is token-wise until the blocks, so masking early is equivalent and
        # saves the adapters' work on the 75% of tokens that are thrown away.
        if keep is not None:
            if keep.dim() != 2 or keep.shape[0] != m or keep.shape[1] > self.num_patches:
                raise ValueError(f"keep must be [M={m}, K<={self.num_patches}] patch indices, got {tuple(keep.shape)}")
            keep = keep.to(device=x.device, dtype=torch.long)
            x = gather_tokens(x, keep)
        elif mask_ratio > 0:
            keep = random_keep_indices(m, self.num_patches, mask_ratio, generator=generator, device=x.device)
            x = gather_tokens(x, keep)
        else:
            keep = torch.arange(self.num_patches, device=x.device).expand(m, -1)
        extra = self.view_embed[slots % 2] + self.time_embed[slots // 2]  # [M, D]
        x = self.invertible(x + extra[:, None])
        cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(m, -1, -1) + extra[:, None]
        x = vit.norm_pre(vit.pos_drop(torch.cat([cls, x], dim=1)))
        for blk, adapt in zip(vit.blocks, self.block_adapters):
            x = block_forward(blk, x, adapt)
        x = vit.norm(x)
        summary = pool_tokens(x, self.cfg.pooling)
        return summary, x[:, 1:], keep

    def encode(
        self, images: torch.Tensor, present: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[VisionOutput, ViewTokens]:
        """images [B, 4, C, H, W], present [B, 4] -> (VisionOutput, ViewTokens).

        Only usable views are encoded. ``patch_tokens`` has one block of K columns per slot of ``slot_columns()``;
        blocks of unusable slots hold the missing-view token with ``patch_mask`` False.
        """
        if images.dim() != 5 or images.shape[1] != NUM_SLOTS:
            raise ValueError(f"images must be [B, 4, C, H, W] (slots {NUM_SLOTS}), got {tuple(images.shape)}")
        b = images.shape[0]
        use = self.usable_slots(present)
        index = use.nonzero()  # [M, 2] (study, slot), row-major
        ratio = self.cfg.mask_ratio if self.training else 0.0
        cls, tokens, keep = self.encode_views(images[index[:, 0], index[:, 1]], index[:, 1], ratio, generator)
        k, d = keep.shape[1], self.dim
        dtype = cls.dtype
        view_cls = self.missing_token.to(dtype).expand(b, NUM_SLOTS, d).clone()
        view_cls[index[:, 0], index[:, 1]] = cls
        global_emb = self.fuse_views(view_cls, use)

        cols = self.slot_columns()
        col_of = {s: i for i, s in enumerate(cols)}
        patches = self.missing_token.to(dtype).expand(b, len(cols), k, d).clone()
        patch_mask = torch.zeros(b, len(cols), k, dtype=torch.bool, device=images.device)
        ids = torch.zeros(b, len(cols), k, 3, dtype=torch.long, device=images.device)
        ids[..., 0] = torch.tensor(cols, device=images.device)[None, :, None]
        if len(cols) == 1:  # frontal evaluation: the one view per study (frontal or its fallback) in column 0
            col_idx = torch.zeros(index.shape[0], dtype=torch.long, device=images.device)
            ids[index[:, 0], col_idx, :, 0] = index[:, 1, None]
        else:
            col_idx = torch.tensor([col_of[int(s)] for s in index[:, 1]], dtype=torch.long, device=images.device)
        patches[index[:, 0], col_idx] = tokens
        patch_mask[index[:, 0], col_idx] = True
        gw = self.grid[1]
        ids[index[:, 0], col_idx, :, 1] = keep // gw
        ids[index[:, 0], col_idx, :, 2] = keep % gw
        out = VisionOutput(
            global_emb=global_emb,
            view_cls=view_cls,
            patch_tokens=patches.reshape(b, len(cols) * k, d),
            patch_ids=ids.reshape(b, len(cols) * k, 3),
            patch_mask=patch_mask.reshape(b, len(cols) * k),
        )
        return out, ViewTokens(images=images[index[:, 0], index[:, 1]], index=index, keep=keep, tokens=tokens, cls=cls)

    def missing_summaries(self) -> torch.Tensor:
        """[4, D]: what an absent slot contributes to the study embedding: the learned missing-view token plus the
        slot's view and time embeddings (so "no lateral" and "no prior" are told apart)."""
        slots = torch.arange(NUM_SLOTS, device=self.missing_token.device)
        return self.missing_token + self.view_embed[slots % 2] + self.time_embed[slots // 2]

    def fuse_views(self, view_cls: torch.Tensor, use: torch.Tensor) -> torch.Tensor:
        """Study embedding [B, D] from per-slot summaries view_cls [B, 4, D] (``use`` [B, 4]: encoded slots).

        The mean over the slots that count in this mode: every enabled slot in training and with
        ``eval_views="all"`` (an absent one contributes ``missing_summaries()``), the one encoded view with
        ``eval_views="frontal"``. Why absent slots count: the divisor is then the same for every study (a
        frontal-only study is not scaled differently from a complete one), and the missing-view token is a real,
        learned input (ALTA encodes a missing view as a view; here it enters at the summary level, costing no
        encoder pass) instead of a placeholder that receives no gradient.
        """
        frontal_only = not self.training and self.cfg.eval_views == "frontal"
        if frontal_only:
            counted = use
        else:
            counted = self.enabled_slots[None, :].expand_as(use)
        missing = counted & ~use
        fill = self.missing_summaries().to(view_cls.dtype)[None].expand_as(view_cls)
        per_slot = torch.where(use[..., None], view_cls, fill)
        n = counted.sum(1, keepdim=True).clamp(min=1)
        fused = (per_slot * (use | missing)[..., None]).sum(1) / n
        if not frontal_only:
            return fused
        none = ~use.any(1, keepdim=True)  # frontal mode and no usable view at all: the frontal slot's summary
        return torch.where(none, fill[:, 0], fused)

    def forward(self, images: torch.Tensor, present: torch.Tensor) -> VisionOutput:
        return self.encode(images, present)[0]
