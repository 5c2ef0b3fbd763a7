"""``clinvla-kit pretrain-text``: adapt a text encoder (BERT-family or a decoder LLM) to report styles with masked
token prediction + a supervised contrastive loss over each study's equivalent variants (train/pretrain_text.py)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from clinvla_kit.train.pretrain_text import DEFAULT_STYLES, PretrainTextCfg

    d = PretrainTextCfg()
    parser.add_argument("--data", required=True, nargs="+",
                        help="SynthCXR directories with report_variants.jsonl (e.g. site A and site B)")
    parser.add_argument("--out", required=True, help="output directory: the adapted encoder + tokenizer")
    parser.add_argument("--model", default=d.name_or_path,
                        help="encoder: 'minilm' (shipped, offline), a local directory or a hub name; a *ForCausalLM "
                             "config (Llama family) becomes a bidirectional LLM encoder")
    parser.add_argument("--lora", action="store_true", help="train LoRA matrices (peft), merged before saving")
    parser.add_argument("--lora-rank", type=int, default=d.lora_rank)
    parser.add_argument("--max-steps", type=int, default=d.max_steps)
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="studies per step")
    parser.add_argument("--views", type=int, default=d.views, help="variants per study per step (>= 2)")
    parser.add_argument("--lr", type=float, default=None, help=f"default {d.lr} (full) / {d.lora_lr} (LoRA)")
    parser.add_argument("--pooling", default=d.pooling, choices=["mean", "cls", "latent"],
                        help="mean (default), cls (BERT only) or latent attention (LLM only)")
    parser.add_argument("--instruction", default=d.instruction, help="instruction prefix (LLM only)")
    parser.add_argument("--styles", nargs="+", default=list(DEFAULT_STYLES), help="variant styles to draw from")
    parser.add_argument("--mlm-weight", type=float, default=d.mlm_weight)
    parser.add_argument("--supcon-weight", type=float, default=d.supcon_weight)
    parser.add_argument("--temperature", type=float, default=d.temperature)
    parser.add_argument("--expand-abbreviations", action="store_true",
                        help="expand abbreviations before encoding (default: keep them, the encoder learns them)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--overwrite", action="store_true", help="replace a model already saved in --out")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from clinvla_kit.train.pretrain_text import PretrainTextCfg, pretrain_text

    lr = {} if args.lr is None else ({"lora_lr": args.lr} if args.lora else {"lr": args.lr})
    cfg = PretrainTextCfg(name_or_path=args.model, lora=args.lora, lora_rank=args.lora_rank, max_steps=args.max_steps,
                          batch_size=args.batch_size, views=args.views, pooling=args.pooling,
                          instruction=args.instruction, styles=tuple(args.styles), mlm_weight=args.mlm_weight,
                          supcon_weight=args.supcon_weight, temperature=args.temperature,
                          expand_abbreviations=args.expand_abbreviations, seed=args.seed, device=args.device, **lr)
    try:
        summary = pretrain_text(args.data, args.out, cfg, overwrite=args.overwrite, progress=not args.quiet)
    except (ValueError, FileNotFoundError, FileExistsError, OSError) as e:
        print(f"clinvla-kit pretrain-text: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    return 0
