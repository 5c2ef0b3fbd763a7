"""Shipped weights: every file in clinvla_kit/weights matches its registry entry and its model card, fits the
budget, and loads strictly into the architecture it names; names resolve and misfits are refused by field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from clinvla_kit import weights

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_ships_at_least_one_encoder():
    assert weights.registry(), "clinvla_kit/weights/registry.json lists no shipped weights"


@pytest.mark.parametrize("name", sorted(weights.registry()))
def test_shipped_file_matches_registry_card_and_budget(name):
    entry = weights.entry(name)
    path = weights.resolve(name)
    assert path.suffix == ".safetensors"
    assert path.stat().st_size <= weights.MAX_BYTES
    digest = weights.sha256(path)
    assert digest == entry["sha256"], f"{path}: sha256 {digest} != registry {entry['sha256']}"
    card = ROOT / entry["card"]
    assert card.is_file(), f"{name}: model card {card} missing"
    assert digest in card.read_text(), f"{card} does not state the file's sha256 {digest}"


@pytest.mark.parametrize("name", sorted(n for n, e in weights.registry().items() if e["kind"] == "vision-encoder"))
def test_shipped_encoder_loads_with_no_missing_or_unexpected_keys(name):
    from safetensors.torch import load_file

    from clinvla_kit.config import RunCfg, apply_overrides
    from clinvla_kit.model.checkpoints import convert_vit_keys
    from clinvla_kit.model.vision import build_vit

    cfg = apply_overrides(RunCfg(), weights.entry(name)["architecture"])
    vit = build_vit(cfg.model.vision, cfg.data.image_size)
    state = convert_vit_keys(load_file(str(weights.resolve(name))))
    missing, unexpected = vit.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)


@pytest.mark.parametrize("name", sorted(n for n, e in weights.registry().items() if e["kind"] == "aligned-model"))
def test_shipped_aligned_model_loads_over_its_shipped_towers(name):
    from clinvla_kit.aligned_weights import build_aligned

    model = build_aligned(name)  # refuses missing, unexpected or mis-shaped keys and a changed encoder
    assert not model.training
    for dep, digest in weights.entry(name)["requires"].items():
        assert weights.sha256(weights.resolve(dep)) == digest


def test_tiny_preset_names_a_shipped_encoder_it_fits():
    from clinvla_kit.config import load_preset
    from clinvla_kit.model.vision import VisionTower

    cfg = load_preset("tiny")
    assert weights.is_shipped(cfg.model.vision.checkpoint)
    VisionTower(cfg.model.vision, cfg.model.adapters, cfg.data.image_size)  # fits: no error
    bad = dataclasses.replace(cfg.model.vision, depth=4)
    with pytest.raises(ValueError, match=r"model\.vision\.depth=4"):
        VisionTower(bad, cfg.model.adapters, cfg.data.image_size)


def test_registry_resolution_and_errors(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    (tmp_path / "weights").mkdir()
    save_file({"a": torch.zeros(2)}, str(tmp_path / "weights" / "x.safetensors"))
    (tmp_path / "weights" / "registry.json").write_text(json.dumps({
        "x": {"file": "x.safetensors", "kind": "vision-encoder", "sha256": "0", "card": "c.md",
              "architecture": {"model.vision.depth": 6}},
        "gone": {"file": "gone.safetensors", "kind": "vision-encoder", "sha256": "0", "card": "c.md"}}))
    monkeypatch.setattr(weights, "weights_dir", lambda: tmp_path / "weights")
    weights.registry.cache_clear()
    try:
        assert weights.resolve("x") == tmp_path / "weights" / "x.safetensors"
        assert weights.resolve_checkpoint("x") == weights.resolve("x")
        local = tmp_path / "mine.safetensors"
        assert weights.resolve_checkpoint(local) == local  # not a name: a path, returned as is
        with pytest.raises(ValueError, match="not a shipped model; shipped: \\['gone', 'x'\\]"):
            weights.entry("nope")
        with pytest.raises(FileNotFoundError, match="missing from this installation"):
            weights.resolve("gone")
        assert weights.architecture_mismatch("x", {"model.vision.depth": 6}) == []
        assert weights.architecture_mismatch("x", {"model.vision.depth": 4}) == [
            "model.vision.depth=4 (the weights need 6)"]
    finally:
        weights.registry.cache_clear()


def test_export_fp16_halves_floats_and_enforces_the_budget(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    path = weights.export_fp16({"w": torch.randn(3, 4), "i": torch.arange(3)}, tmp_path / "w.safetensors")
    back = load_file(str(path))
    assert back["w"].dtype == torch.float16 and back["i"].dtype == torch.int64
    monkeypatch.setattr(weights, "MAX_BYTES", 10)
    with pytest.raises(ValueError, match="over the"):
        weights.export_fp16({"w": torch.randn(100)}, tmp_path / "big.safetensors")


def test_export_weights_command_writes_file_and_entry(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from clinvla_kit.cli import main
    from clinvla_kit.config import RunCfg, apply_overrides, save_config
    from clinvla_kit.model.vision import build_vit

    cfg = apply_overrides(RunCfg(), {"data.image_size": 32, "model.vision.model_name": "custom",
                                     "model.vision.embed_dim": 32, "model.vision.depth": 2,
                                     "model.vision.num_heads": 2, "model.vision.patch_size": 8})
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, run / "config.json")
    vit = build_vit(cfg.model.vision, 32)
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(run / "encoder.safetensors"))
    out = tmp_path / "w"
    args = ["export-weights", "--run", str(run), "--name", "t", "--card", "model_cards/t.md", "--weights-dir", str(out)]
    assert main(args) == 0
    entry = json.loads((out / "registry.json").read_text())["t"]
    assert entry["sha256"] == weights.sha256(out / "t.safetensors")
    assert entry["architecture"]["model.vision.depth"] == 2 and entry["architecture"]["data.image_size"] == 32
    half = load_file(str(out / "t.safetensors"))
    ref = vit.state_dict()
    assert all(half[k].dtype == torch.float16 and torch.allclose(half[k].float(), ref[k], atol=1e-2) for k in ref)
    assert main(args) == 1  # an existing entry is not replaced without --overwrite
    assert main(args + ["--overwrite"]) == 0
