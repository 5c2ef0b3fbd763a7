"""Shipped aligned models: the exported file holds exactly what alignment trained, loads by name into the same
model as the run it came from, and refuses what cannot ship or no longer fits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from clinvla_kit import aligned_weights, weights
from clinvla_kit.cli import main

SMALL = {"train.batch_size": 4, "model.text.cache_features": False}


def load_preset_checkpoint() -> str:
    """The shipped encoder ``tiny`` adapts (the aligned model references it by this name)."""
    from clinvla_kit.config import load_preset

    return str(load_preset("tiny").model.vision.checkpoint)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A ``tiny`` model (shipped encoder + MiniLM, frozen) whose trainable tensors and head statistics are set to
    random values, saved as a run: a stand-in for an aligned run that any loading mistake would show."""
    from clinvla_kit.config import apply_overrides, load_preset
    from clinvla_kit.model.clinvla import ClinVLA

    cfg = apply_overrides(load_preset("tiny"), SMALL)
    torch.manual_seed(0)
    model = ClinVLA(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.startswith("heads.") and b.is_floating_point():
                b.add_(torch.rand_like(b))
    run = tmp_path_factory.mktemp("aligned") / "run"
    model.save_pretrained(run, cfg)
    return run, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def registry_copy(tmp_path, monkeypatch):
    """A writable copy of the package's weights folder, made the one the registry reads."""
    wd = tmp_path / "weights"
    shutil.copytree(weights.weights_dir(), wd)
    monkeypatch.setattr(weights, "weights_dir", lambda: wd)
    monkeypatch.setenv("CLINVLA_KIT_CACHE", str(tmp_path / "cache"))
    weights.registry.cache_clear()
    yield wd
    weights.registry.cache_clear()


def _export(run: Path, wd: Path, name: str = "test-aligned") -> int:
    rc = main(["export-weights", "--run", str(run), "--name", name, "--card", "model_cards/t.md",
               "--weights-dir", str(wd)])
    weights.registry.cache_clear()
    return rc


def test_export_keeps_the_trained_part_only(trained_run, registry_copy):
    from safetensors.torch import load_file

    run, full = trained_run
    assert _export(run, registry_copy) == 0
    entry = weights.entry("test-aligned")
    enc = load_preset_checkpoint()
    assert entry["kind"] == "aligned-model" and entry["sources"] == {"vision": enc, "text": "minilm"}
    assert entry["requires"] == {enc: weights.entry(enc)["sha256"]}
    stored = load_file(str(registry_copy / "test-aligned.safetensors"))
    # plain reference: a key is shipped unless it belongs to a frozen backbone and was not trained
    from clinvla_kit.model.clinvla import ClinVLA

    model = ClinVLA.from_pretrained(run)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    want = {k for k in full if k in trainable or not k.startswith(("vision.vit.", "text.backbone."))}
    assert set(stored) == want
    assert any(k.startswith("vision.vit.") and "norm" in k for k in stored)  # ALTA's trained ViT norms ship
    assert not any(k.startswith("vision.vit.blocks.0.attn.qkv") for k in stored)  # the frozen encoder does not
    assert sum(v.numel() for v in stored.values()) < 0.1 * sum(v.numel() for v in full.values())
    assert entry["sha256"] == weights.sha256(registry_copy / "test-aligned.safetensors")


def test_loaded_by_name_equals_the_run(trained_run, registry_copy):
    from clinvla_kit import inference
    from clinvla_kit.model.clinvla import ClinVLA

    run, full = trained_run
    assert _export(run, registry_copy) == 0
    model = ClinVLA.from_pretrained("test-aligned")
    got = model.state_dict()
    assert set(got) == set(full)
    assert all(torch.equal(got[k], full[k]) for k in full), [k for k in full if not torch.equal(got[k], full[k])][:5]
    run_dir = aligned_weights.materialize("test-aligned")
    stamp = (run_dir / "model.safetensors").stat().st_mtime_ns
    assert aligned_weights.materialize("test-aligned") == run_dir  # reused, not rewritten
    assert (run_dir / "model.safetensors").stat().st_mtime_ns == stamp
    loaded = inference.load("test-aligned")
    emb = loaded.embed_texts(["small left pleural effusion"])
    assert emb.shape == (1, model.cfg.model.embed_dim)


def test_refuses_an_encoder_that_changed_and_runs_that_cannot_ship(trained_run, registry_copy, tmp_path):
    from clinvla_kit.config import apply_overrides, load_config, save_config

    run, _ = trained_run
    assert _export(run, registry_copy) == 0
    reg_path = registry_copy / "registry.json"
    reg = json.loads(reg_path.read_text())
    reg["test-aligned"]["requires"][load_preset_checkpoint()] = "0" * 64
    reg_path.write_text(json.dumps(reg))
    weights.registry.cache_clear()
    with pytest.raises(ValueError, match="do not fit that encoder"):
        aligned_weights.build_aligned("test-aligned")
    with pytest.raises(ValueError, match="not an aligned model"):
        aligned_weights.build_aligned("synthcxr-mrm-vit6")
    # a run whose image backbone was trained has nothing to reference: refused, naming the field
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    cfg = apply_overrides(load_config(run / "config.json"), {"model.text.name_or_path": str(tmp_path)})
    save_config(cfg, bad / "config.json")
    with pytest.raises(ValueError, match=r"model\.text\.name_or_path"):
        aligned_weights.frozen_sources(cfg)
    cfg2 = apply_overrides(load_config(run / "config.json"), {"model.vision.freeze_backbone": False})
    with pytest.raises(ValueError, match="backbone is trained"):
        aligned_weights.frozen_sources(cfg2)
