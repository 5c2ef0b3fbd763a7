"""``pretrain_text``: adapt a text encoder to report styles (masked token prediction + supervised contrastive).

What it does (the recipe of LLM2VEC4CXR, Ko et al. 2025, at a teaching scale): each step draws ``batch_size``
training studies and ``views`` of their clinically equivalent report variants (``report_variants.jsonl``: original,
mimic, impression-only, telegraphic, expanded, structured), and minimises

    L = mlm_weight * masked-token loss  +  supcon_weight * supervised contrastive loss (positives: same study)

with in-batch negatives. The masked-token loss keeps the encoder a language model of reports (and teaches it the
abbreviations in context); the contrastive loss pulls a study's styles together and pushes other studies apart.

Encoders:
- any BERT-family encoder by hub name or local directory (the shipped MiniLM, ``minilm``, is the offline default):
  masked-token logits are the last states times the (tied) input embedding matrix, so no new head is needed and the
  saved directory is the plain encoder that ``TextTower`` loads;
- a decoder-only LLM (``*ForCausalLM`` config): made bidirectional (``model/llm_encoder.py``) with an instruction
  prefix and mean or latent-attention pooling; the token loss is LLM2Vec's masked *next* token prediction (the state
  before a masked token predicts it through the LM head).
``lora=True`` trains LoRA matrices (peft) instead of the weights and merges them before saving. The output
directory (model + tokenizer, ``save_pretrained``) loads as the ClinVLA text tower: ``--set
model.text.name_or_path=OUT model.text.pooling=mean``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clinvla_kit.model.llm_encoder import (
    DEFAULT_INSTRUCTION,
    LLMEncoder,
    is_llm_config,
    make_meta,
    save_llm_encoder,
)
from clinvla_kit.model.text import mask_for_mlm, resolve_text_source
from clinvla_kit.train.supcon import supcon_loss

SUMMARY_FILE = "pretrain_text.json"
LOG_FILE = "log.jsonl"
DEFAULT_STYLES: tuple[str, ...] = ("original", "mimic", "impression", "telegraphic", "expanded", "structured")
BERT_LORA_TARGETS: tuple[str, ...] = ("query", "key", "value")
LLM_LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class PretrainTextCfg:
    """Settings of one ``pretrain-text`` run (stored in ``pretrain_text.json``)."""

    name_or_path: str = "minilm"
    styles: tuple[str, ...] = DEFAULT_STYLES
    views: int = 2  # variants per study in a batch (each one has views - 1 positives)
    batch_size: int = 16  # studies per step
    max_steps: int = 200
    lr: float = 3e-5  # full fine-tuning; LoRA uses lora_lr
    lora: bool = False
    lora_rank: int = 8
    lora_lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 10
    mlm_weight: float = 1.0
    mlm_prob: float = 0.15
    supcon_weight: float = 1.0
    temperature: float = 0.05
    pooling: str = "mean"  # BERT: "mean" | "cls"; LLM: "mean" | "latent"
    instruction: str = DEFAULT_INSTRUCTION  # LLM only
    max_tokens: int = 128
    # Reports are cleaned as for alignment (sections, hedges); abbreviations stay by default: the encoder is meant
    # to learn them, and the style-shift experiment aligns without the expander.
    expand_abbreviations: bool = False
    remove_hedges: bool = True
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10


# -- data ---------------------------------------------------------------------------------------------------------
def load_variant_groups(data_dirs: list[str | Path], styles: tuple[str, ...], split: str = "train",
                        expand_abbreviations: bool = False, remove_hedges: bool = True) -> tuple[list[list[str]], int]:
    """(one list of cleaned variant texts per study, number of variants skipped as unreadable or empty).

    Raises FileNotFoundError naming a directory without ``report_variants.jsonl`` (run ``clinvla-kit synth``)."""
    from clinvla_kit.data.errors import DataError
    from clinvla_kit.data.reports import clean_report
    from clinvla_kit.synth.report_variants import VARIANTS_FILE

    groups: dict[tuple[str, int], list[str]] = {}
    skipped = 0
    for d in data_dirs:
        path = Path(d) / VARIANTS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no report variants; generate the data with `clinvla-kit synth` "
                                    "(it writes report_variants.jsonl)")
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                try:
                    row = json.loads(line)
                    if row["split"] != split or row["style"] not in styles:
                        continue
                    text = clean_report(row["text"], expand_abbreviations=expand_abbreviations,
                                        remove_hedges=remove_hedges, source=f"{path}:{line_no}")
                except (json.JSONDecodeError, KeyError, DataError):
                    skipped += 1
                    continue
                groups.setdefault((str(d), int(row["study_id"])), []).append(text)
    out = [sorted(set(v)) for _, v in sorted(groups.items())]
    return [g for g in out if len(g) >= 2], skipped


def sample_batch(groups: list[list[str]], batch_size: int, views: int, rng: np.random.Generator
                 ) -> tuple[list[str], torch.Tensor]:
    """(texts, group ids [N]): ``batch_size`` studies, up to ``views`` distinct variants each."""
    pick = rng.choice(len(groups), size=min(batch_size, len(groups)), replace=False)
    texts, gid = [], []
    for g, i in enumerate(pick):
        vs = groups[int(i)]
        for j in rng.choice(len(vs), size=min(views, len(vs)), replace=False):
            texts.append(vs[int(j)])
            gid.append(g)
    return texts, torch.tensor(gid, dtype=torch.long)


# -- encoder --------------------------------------------------------------------------------------------------------
class TextEncoderForPretraining(nn.Module):
    """A BERT-family encoder or an ``LLMEncoder`` with its tokenizer, pooling and token-prediction head."""

    def __init__(self, backbone: nn.Module, tokenizer: Any, pooling: str, head: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.head = head  # the LLM's LM head (next-token), None: tied input embeddings (masked token)
        self.is_llm = isinstance(backbone, LLMEncoder)
        specials = sorted(set(tokenizer.all_special_ids))
        self.register_buffer("special_ids", torch.tensor(specials, dtype=torch.long), persistent=False)

    def tokenize(self, texts: list[str], max_tokens: int) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(texts, padding="longest", truncation=True, max_length=max_tokens, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B, T] -> [B, D] pooled report embeddings (mean over real tokens, or the first token for "cls")."""
        h = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            return h[:, 0]
        m = attention_mask.to(h.dtype)[..., None]
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)

    def mask_id(self) -> int:
        tok = self.tokenizer
        for cand in (tok.mask_token_id, tok.unk_token_id, tok.pad_token_id, tok.eos_token_id):
            if cand is not None:
                return int(cand)
        raise ValueError("the tokenizer has no [MASK], unk, pad or eos token to mask with")

    def token_loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, prob: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Masked-token cross-entropy (BERT) or masked next-token prediction (LLM2Vec's MNTP for an LLM)."""
        words = attention_mask.bool() & ~torch.isin(input_ids, self.special_ids.to(input_ids.device))
        masked, labels = mask_for_mlm(input_ids, words, self.mask_id(), prob, generator=generator)
        if self.is_llm:
            h = self.backbone.hidden_states(masked, attention_mask)[:, self.backbone.instruction_ids.numel():]
            h, labels = h[:, :-1], labels[:, 1:]
        else:
            h = self.backbone(input_ids=masked, attention_mask=attention_mask).last_hidden_state
        sel = labels != -100
        if not sel.any():
            return h.sum() * 0.0
        hs = h[sel]
        logits = self.head(hs) if self.head is not None else hs @ self.backbone.get_input_embeddings().weight.T
        return F.cross_entropy(logits.float(), labels[sel])


def _lora_targets(module: nn.Module, wanted: tuple[str, ...]) -> list[str]:
    names = {n.rsplit(".", 1)[-1] for n, m in module.named_modules() if isinstance(m, nn.Linear)}
    found = [t for t in wanted if t in names]
    if not found:
        raise ValueError(f"{type(module).__name__}: none of the LoRA target layers {wanted} exist")
    return found


def load_encoder(cfg: PretrainTextCfg) -> tuple[TextEncoderForPretraining, Any]:
    """(encoder, peft model or None). The source is resolved as ``TextTower`` does ("minilm" -> the shipped one)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = resolve_text_source(cfg.name_or_path)
    hf_logging.set_verbosity_error()
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as e:
        raise OSError(f"pretrain-text: cannot load {cfg.name_or_path!r} from {source!r} (offline? use 'minilm' or a "
                      f"local directory): {e}") from e
    tok = AutoTokenizer.from_pretrained(source)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    head = None
    if is_llm_config(config):
        if cfg.pooling not in ("mean", "latent"):
            raise ValueError(f"an LLM encoder pools by 'mean' or 'latent', got pooling={cfg.pooling!r}")
        if any(str(a).endswith("ForCausalLM") for a in (config.architectures or [])):
            causal = AutoModelForCausalLM.from_pretrained(source)
            base, head = causal.base_model, causal.get_output_embeddings()
        else:  # one of our saved encoders: no LM head, tied embeddings predict the tokens
            base = AutoModel.from_pretrained(source)
        backbone: nn.Module = LLMEncoder(base, make_meta(tok, cfg.pooling, cfg.instruction))
        inner, targets = base, LLM_LORA_TARGETS
    else:
        if cfg.pooling not in ("mean", "cls"):
            raise ValueError(f"a BERT-family encoder pools by 'mean' or 'cls', got pooling={cfg.pooling!r}")
        try:
            backbone = AutoModel.from_pretrained(source, add_pooling_layer=False)
        except TypeError:
            backbone = AutoModel.from_pretrained(source)
        inner, targets = backbone, BERT_LORA_TARGETS
    peft_model = None
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(r=cfg.lora_rank, lora_alpha=2 * cfg.lora_rank, lora_dropout=0.0,
                          target_modules=_lora_targets(inner, targets), bias="none")
        peft_model = get_peft_model(inner, lcfg)  # injects in place; ``inner`` keeps running its own forward
        for name, p in backbone.named_parameters():
            p.requires_grad = "lora_" in name or name.startswith("latent.")
        if head is not None:
            head.requires_grad_(False)
    return TextEncoderForPretraining(backbone, tok, cfg.pooling, head), peft_model


def _merge(enc: TextEncoderForPretraining, peft_model: Any) -> nn.Module:
    """Fold the LoRA matrices into the weights and return the plain backbone module."""
    merged = peft_model.merge_and_unload()
    if enc.is_llm:
        enc.backbone.model = merged
        return enc.backbone
    enc.backbone = merged
    return merged


def save_encoder(enc: TextEncoderForPretraining, out: Path) -> None:
    """A directory that ``TextTower`` loads (``model.text.name_or_path=out``)."""
    if enc.is_llm:
        save_llm_encoder(enc.backbone, enc.tokenizer, out)
    else:
        enc.backbone.save_pretrained(str(out))
        enc.tokenizer.save_pretrained(str(out))


# -- training -------------------------------------------------------------------------------------------------------
def pretrain_text(data_dirs: list[str | Path], out: str | Path, cfg: PretrainTextCfg = PretrainTextCfg(),
                  overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Adapt ``cfg.name_or_path`` on the training studies' report variants of ``data_dirs``; save to ``out``.

    Returns the summary written to ``out/pretrain_text.json`` (first and last losses, steps, seconds, skipped rows).
    Refuses to write into a directory that already holds a saved model unless ``overwrite``."""
    out = Path(out)
    if (out / "config.json").exists() and not overwrite:
        raise FileExistsError(f"{out}: already holds a saved model; pass overwrite=True (--overwrite) to replace it")
    if cfg.views < 2:
        raise ValueError(f"views must be >= 2 (a variant needs a positive), got {cfg.views}")
    groups, skipped = load_variant_groups(data_dirs, tuple(cfg.styles), expand_abbreviations=cfg.expand_abbreviations,
                                          remove_hedges=cfg.remove_hedges)
    if len(groups) < 2:
        raise ValueError(f"{[str(d) for d in data_dirs]}: fewer than 2 training studies with 2+ report variants")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    enc, peft_model = load_encoder(cfg)
    device = torch.device(cfg.device)
    enc.to(device).train()
    for m in enc.modules():  # deterministic steps: dropout off (the contrastive views are the augmentation)
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    params = [p for p in enc.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lora_lr if cfg.lora else cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)) * max(0.0, 1 - s / max(1, cfg.max_steps)))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    with open(out / LOG_FILE, "w", encoding="utf-8") as log:
        for step in range(cfg.max_steps):
            texts, gid = sample_batch(groups, cfg.batch_size, cfg.views, rng)
            toks = {k: v.to(device) for k, v in enc.tokenize(texts, cfg.max_tokens).items()}
            z = enc.embed(toks["input_ids"], toks["attention_mask"])
            l_con = supcon_loss(z, gid.to(device), cfg.temperature)
            l_tok = enc.token_loss(toks["input_ids"], toks["attention_mask"], cfg.mlm_prob, gen) \
                if cfg.mlm_weight > 0 else z.sum() * 0.0
            loss = cfg.supcon_weight * l_con + cfg.mlm_weight * l_tok
            if not torch.isfinite(loss):
                raise FloatingPointError(f"pretrain-text: non-finite loss at step {step} (lower --lr)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            row = {"step": step + 1, "loss": loss.item(), "supcon": l_con.item(), "token": l_tok.item(),
                   "lr": sched.get_last_lr()[0], "seconds": round(time.perf_counter() - t0, 2)}
            history.append(row)
            if (step + 1) % cfg.log_every == 0 or step == 0 or step + 1 == cfg.max_steps:
                log.write(json.dumps(row) + "\n")
                log.flush()
                if progress:
                    print(f"step {step + 1}/{cfg.max_steps} loss {row['loss']:.3f} (supcon {row['supcon']:.3f}, "
                          f"token {row['token']:.3f})", flush=True)
    enc.eval()
    if peft_model is not None:
        _merge(enc, peft_model)
    save_encoder(enc, out)
    k = min(10, len(history))
    summary = {"config": dataclasses.asdict(cfg), "data": [str(d) for d in data_dirs], "studies": len(groups),
               "skipped_variants": skipped, "steps": cfg.max_steps, "seconds": round(time.perf_counter() - t0, 1),
               "first_loss": float(np.mean([h["loss"] for h in history[:k]])),
               "last_loss": float(np.mean([h["loss"] for h in history[-k:]])),
               "first_supcon": float(np.mean([h["supcon"] for h in history[:k]])),
               "last_supcon": float(np.mean([h["supcon"] for h in history[-k:]])),
               "llm": enc.is_llm, "load_with": f"--set model.text.name_or_path={out} model.text.pooling=mean"}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
