"""A small report BERT of our own: WordPiece tokenizer trained on the reports, then masked-language pretraining.

The offline alternative to the shipped MiniLM (see bench/RESULTS.md for the cost comparison): a 4 x 256 BERT is
several times cheaper per step than MiniLM (6 x 384), but it only knows the language of the training reports.
The result is a plain Hugging Face directory (``OUT/text``: config.json, model.safetensors, tokenizer files) that
``model.text.name_or_path`` or ``train --init-text`` points at.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from clinvla_kit.config import MLMCfg

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
OWN_TEXT_NAMES = ("mlm", "own", "scratch")


def train_wordpiece(texts: Sequence[str], vocab_size: int):
    """A lower-casing BERT WordPiece tokenizer (``BertTokenizerFast``) trained on ``texts``."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    if not texts:
        raise ValueError("pretrain-mlm: no training reports to train a tokenizer on")
    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIAL,
                           show_progress=False)
    return BertTokenizerFast(vocab=wp.get_vocab(), do_lower_case=True)


def mask_tokens(input_ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab: int, prob: float,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 masking of non-special tokens: (inputs [B, T], labels [B, T], -100 where not predicted)."""
    can = ~torch.isin(input_ids, special)
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & can
    labels = input_ids.masked_fill(~chosen, -100)
    u = torch.rand(input_ids.shape, generator=generator)
    out = input_ids.masked_fill(chosen & (u < 0.8), mask_id)
    rand = chosen & (u >= 0.8) & (u < 0.9)
    out[rand] = torch.randint(len(SPECIAL), vocab, (int(rand.sum()),), generator=generator)
    return out, labels


def pretrain_mlm(texts: Sequence[str], out_dir: str | Path, cfg: MLMCfg, max_tokens: int = 128, seed: int = 0,
                 max_steps: int | None = None, log=print) -> Path:
    """Train the tokenizer and a ``BertForMaskedLM`` on ``texts``; write ``OUT/text`` and ``OUT/log.jsonl``.

    A deliberately small loop (AdamW, linear warm-up then cosine, no resume): the run is minutes long.
    Returns the ``OUT/text`` directory.
    """
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    text_dir = out_dir / "text"
    text_dir.mkdir(parents=True, exist_ok=True)
    tok = train_wordpiece(texts, cfg.vocab_size)
    vocab = len(tok)
    model = BertForMaskedLM(BertConfig(
        vocab_size=vocab, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate, max_position_embeddings=max(max_tokens, 32),
    ))
    enc = tok(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    per_epoch = math.ceil(len(enc) / cfg.batch_size)
    steps = max_steps or cfg.max_steps or cfg.epochs * per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warm = max(1, min(cfg.warmup_steps, steps // 10 or 1))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    special = torch.tensor(sorted(set(tok.all_special_ids)))
    g = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.perf_counter()
    with (out_dir / "log.jsonl").open("w") as logf:
        for step in range(steps):
            idx = torch.randint(len(enc), (min(cfg.batch_size, len(enc)),), generator=g).tolist()
            batch = tok.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
            inputs, labels = mask_tokens(batch["input_ids"], special, tok.mask_token_id, vocab, cfg.mask_prob, g)
            loss = model(input_ids=inputs, attention_mask=batch["attention_mask"], labels=labels).loss
            if not torch.isfinite(loss):
                raise ValueError(f"pretrain-mlm: loss is {loss.item()} at step {step + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            rec = {"step": step + 1, "mlm": loss.item(), "lr": sched.get_last_lr()[0],
                   "wall_s": time.perf_counter() - t0}
            logf.write(json.dumps(rec) + "\n")
            if (step + 1) % 10 == 0 or step + 1 == steps:
                log(json.dumps(rec))
    model.save_pretrained(str(text_dir))
    tok.save_pretrained(str(text_dir))
    return text_dir
