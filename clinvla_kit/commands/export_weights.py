"""``clinvla-kit export-weights``: a pretraining run's encoder, or an aligned run's trained part, -> a shipped
safetensors file + registry entry.

How the kit's own shipped weights are made (maintainers; the model card gives the exact command):
``clinvla-kit export-weights --run RUN --name synthcxr-mrm-vit6 --card model_cards/synthcxr-mrm-vit6.md``
writes ``clinvla_kit/weights/NAME.safetensors`` (float16, at most 30 MB) and adds NAME to ``registry.json`` with its
sha256 and the config fields the weights need (the run's image size and ViT shape), so
``model.vision.checkpoint=NAME`` loads it and a config that does not fit is refused by field. ``--weights-dir``
writes elsewhere (tests). An existing entry is replaced only with ``--overwrite``.

An aligned run (``model.safetensors``, from ``train``/``recipe`` with frozen shipped towers) is exported as kind
``aligned-model``: only what alignment trained (``clinvla_kit.aligned_weights``), loadable by name wherever a run
directory is (``ClinVLA.from_pretrained(NAME)``, ``clinvla_kit.load(NAME)``, ``--run NAME``).
"""

from __future__ import annotations

import argparse

ARCH_FIELDS = ("model_name", "embed_dim", "depth", "num_heads", "patch_size", "stem")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="pretrain-mrm / pretrain-mae run directory (encoder.safetensors), or an aligned run directory "
                        "(model.safetensors; exported as an aligned-model)")
    parser.add_argument("--name", required=True, help="registry name, e.g. synthcxr-mrm-vit6")
    parser.add_argument("--card", required=True, help="model card path (relative to the repository), e.g. model_cards/NAME.md")
    parser.add_argument("--weights-dir", default=None, help="default: the installed package's clinvla_kit/weights")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing entry of that name")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    from clinvla_kit import weights
    from clinvla_kit.config import load_config

    run_dir = Path(args.run)
    src = run_dir / "encoder.safetensors"
    aligned = (run_dir / "model.safetensors").is_file() and not src.is_file()
    if not (src.is_file() or aligned) or not (run_dir / "config.json").is_file():
        print(f"clinvla-kit export-weights: error: {run_dir}: needs config.json and encoder.safetensors "
              "(a finished pretrain-mrm or pretrain-mae run) or model.safetensors (an aligned run)", file=sys.stderr)
        return 1
    out_dir = Path(args.weights_dir) if args.weights_dir else weights.weights_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    reg_path = out_dir / "registry.json"
    reg = json.loads(reg_path.read_text()) if reg_path.is_file() else {}
    if args.name in reg and not args.overwrite:
        print(f"clinvla-kit export-weights: error: {reg_path}: {args.name!r} exists; pass --overwrite to replace it",
              file=sys.stderr)
        return 1
    if aligned:
        from clinvla_kit.aligned_weights import export_aligned

        try:
            path, fields = export_aligned(run_dir, out_dir / f"{args.name}.safetensors", args.name)
        except ValueError as e:
            print(f"clinvla-kit export-weights: error: {run_dir}: {e}", file=sys.stderr)
            return 1
        reg[args.name] = {"file": path.name, "sha256": weights.sha256(path), "card": args.card, **fields}
        reg_path.write_text(json.dumps(reg, indent=2, sort_keys=True) + "\n")
        weights.registry.cache_clear()
        print(json.dumps({"file": str(path), "bytes": path.stat().st_size, **reg[args.name]}, indent=2))
        return 0
    cfg = load_config(run_dir / "config.json")
    arch = {f"model.vision.{k}": getattr(cfg.model.vision, k) for k in ARCH_FIELDS}
    arch["data.image_size"] = cfg.data.image_size
    path = weights.export_fp16(load_file(str(src)), out_dir / f"{args.name}.safetensors",
                               metadata={"name": args.name, "source_run": run_dir.name, "format": "timm-vit"})
    reg[args.name] = {"file": path.name, "kind": "vision-encoder", "sha256": weights.sha256(path),
                      "card": args.card, "dtype": "float16", "architecture": arch}
    reg_path.write_text(json.dumps(reg, indent=2, sort_keys=True) + "\n")
    weights.registry.cache_clear()
    print(json.dumps({"file": str(path), "bytes": path.stat().st_size, **reg[args.name]}, indent=2))
    return 0
