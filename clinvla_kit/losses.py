"""Alignment losses as pure functions of tensors (style rule 7): global InfoNCE, GLoRIA-style local loss, total.

World size is injected through ``clinvla_kit.distributed``: at world size 1 gathering is the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

from clinvla_kit import distributed as dist
from clinvla_kit.config import LossCfg
from clinvla_kit.model.outputs import ClinVLAOutput


def global_contrastive_loss(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE. img, txt [B, D] (normalised here), ``logit_scale`` the multiplier (already exponentiated).

    Across ranks, both sides are gathered with gradient and each rank scores its own B rows against all world*B
    columns, targets offset by ``rank * B`` (open_clip's local loss: B x N logits per rank instead of N x N). With
    ``all_gather_with_grad``'s summed backward and DDP's gradient averaging, the parameter gradient equals that of
    one process holding the whole batch. Returns the mean of the image->text and text->image cross-entropies.
    """
    img = F.normalize(img, dim=-1)
    txt = F.normalize(txt, dim=-1)
    b = img.shape[0]
    all_img = dist.all_gather_with_grad(img)
    all_txt = dist.all_gather_with_grad(txt)
    targets = torch.arange(b, device=img.device) + dist.rank() * b
    logits_i2t = logit_scale * img @ all_txt.T  # [B, N]
    logits_t2i = logit_scale * txt @ all_img.T
    return 0.5 * (F.cross_entropy(logits_i2t, targets) + F.cross_entropy(logits_t2i, targets))


def _chunk_scores(
    wc: torch.Tensor, mc: torch.Tensor, patches: torch.Tensor, pm: torch.Tensor, temps: torch.Tensor, start: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reports ``wc`` [c, W, D] (mask ``mc`` [c, W]) against every image -> (scores [c, Bimg], own attention
    [c, W, P] of report ``start + i`` with image ``start + i``)."""
    t1, t2, t3 = temps[0], temps[1], temps[2]
    neg = torch.finfo(wc.dtype).min
    c = wc.shape[0]
    s = torch.einsum("cwd,bpd->cbwp", wc, patches)  # [c, Bimg, W, P]
    a = s.masked_fill(~mc[:, None, :, None], neg).softmax(dim=2)  # over words
    alpha = (t1 * a).masked_fill(~pm[None, :, None, :], neg).softmax(dim=3)  # over patches
    ctx = torch.einsum("cbwp,bpd->cbwd", alpha, patches)  # [c, Bimg, W, D]
    cos = F.cosine_similarity(wc[:, None], ctx, dim=-1, eps=1e-8)  # [c, Bimg, W]
    r = torch.logsumexp((t2 * cos).masked_fill(~mc[:, None, :], float("-inf")), dim=2)  # [c, Bimg]
    ar = torch.arange(c, device=wc.device)
    return t3 * r, alpha[ar, ar + start]


def local_scores(
    patches: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor, patch_mask: torch.Tensor | None,
    temps: tuple[float, float, float] | torch.Tensor = (4.0, 5.0, 10.0), chunk: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GLoRIA word-to-patch scores: (scores [B_reports, B_images], attention [B, W, P] of each report with its image).

    For report i (valid words w_k) and image j (valid patches v_p): s_kp = w_k . v_p; a = softmax over words k;
    alpha = softmax over patches p of t1 * a; c_k = sum_p alpha_kp v_p; R(i, j) = log sum_k exp(t2 cos(w_k, c_k));
    score = t3 * R.

    Vectorised over every (report, image) pair, ``chunk`` reports at a time, so memory stays bounded: the largest
    intermediate is [chunk, B, W, max(P, D)] floats instead of [B, B, W, max(P, D)] (a 128-batch at W=64, P=196,
    D=128: ~0.8 GB per tensor unchunked, ~0.1 GB at chunk 16). When gradients are needed each chunk runs under
    activation checkpointing (recomputed in backward), otherwise autograd would keep every chunk's intermediates
    and the total would be the unchunked size again; the price is one extra forward of the loss.
    """
    if words.dim() != 3 or patches.dim() != 3:
        raise ValueError(f"words [B,W,D] and patches [B,P,D] expected, got {tuple(words.shape)}, {tuple(patches.shape)}")
    b = words.shape[0]
    word_mask = word_mask.bool()
    patch_mask = (torch.ones(patches.shape[:2], dtype=torch.bool, device=patches.device)
                  if patch_mask is None else patch_mask.bool())
    no_words = (~word_mask.any(1)).nonzero().flatten().tolist()
    if no_words:
        raise ValueError(f"local loss: report(s) at batch index {no_words} have no valid words (empty report?)")
    no_patches = (~patch_mask.any(1)).nonzero().flatten().tolist()
    if no_patches:
        raise ValueError(f"local loss: image(s) at batch index {no_patches} have no valid patches (no view present)")
    temps_t = torch.as_tensor(temps, dtype=words.dtype, device=words.device) if not torch.is_tensor(temps) else temps
    grad = torch.is_grad_enabled() and (words.requires_grad or patches.requires_grad or temps_t.requires_grad)
    rows, attn_rows = [], []
    for start in range(0, b, chunk):
        args = (words[start:start + chunk], word_mask[start:start + chunk], patches, patch_mask, temps_t, start)
        if grad and chunk < b:
            r, a = torch.utils.checkpoint.checkpoint(_chunk_scores, *args, use_reentrant=False)
        else:
            r, a = _chunk_scores(*args)
        rows.append(r)
        attn_rows.append(a)
    return torch.cat(rows, dim=0), torch.cat(attn_rows, dim=0)


def local_alignment_loss(
    patches: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor, patch_mask: torch.Tensor | None,
    temps: tuple[float, float, float] | torch.Tensor = (4.0, 5.0, 10.0), chunk: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GLoRIA local loss (docs/ARCHITECTURE.md, "Contracts"): patches [B, P, D], words [B, W, D], word_mask [B, W],
    patch_mask [B, P] or None -> (loss, attention [B, W, P]).

    loss = mean of the cross-entropy over images for each report and over reports for each image (targets on the
    diagonal of ``local_scores``). Computed per rank on the local batch (GLoRIA does the same); memory bounded by
    ``chunk`` as explained in ``local_scores``. ``temps`` may be a learnable [3] tensor.
    """
    scores, attention = local_scores(patches, words, word_mask, patch_mask, temps, chunk)
    targets = torch.arange(scores.shape[0], device=scores.device)
    loss = 0.5 * (F.cross_entropy(scores, targets) + F.cross_entropy(scores.T, targets))
    return loss, attention


def total_loss(out: ClinVLAOutput, cfg: LossCfg) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """loss = global_weight * global + local_weight * local + mae_weight * mae + mlm_weight * mlm.

    Terms with zero weight are not computed (the local loss is the expensive one); the dict holds every computed
    term (unweighted, for logging) under "global", "local", "mae", "mlm".
    """
    terms: dict[str, torch.Tensor] = {}
    total = out.img_global.new_zeros(())
    if cfg.global_weight:
        terms["global"] = global_contrastive_loss(out.img_global, out.txt_global, out.logit_scale)
        total = total + cfg.global_weight * terms["global"]
    if cfg.local_weight:
        n = out.img_local.shape[0] if cfg.local_batch is None else max(2, min(cfg.local_batch, out.img_local.shape[0]))
        terms["local"], _ = local_alignment_loss(
            out.img_local[:n], out.txt_local[:n], out.word_mask[:n], out.patch_mask[:n], out.local_temps,
            cfg.local_chunk,
        )
        total = total + cfg.local_weight * terms["local"]
    for name, weight in (("mae", cfg.mae_weight), ("mlm", cfg.mlm_weight)):
        extra = (out.extra_losses or {}).get(name)
        if weight and extra is not None:
            terms[name] = extra
            total = total + weight * extra
        elif weight:
            raise ValueError(f"loss.{name}_weight={weight} but the model produced no {name!r} term")
    return total, terms
