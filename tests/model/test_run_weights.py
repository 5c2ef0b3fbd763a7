"""A run's model.safetensors read with clear errors (issue 16 s4): edited config.json -> the fields are named;
a truncated file -> an error naming it."""

from __future__ import annotations

import json

import pytest

from clinvla_kit.config import apply_overrides, to_dict
from clinvla_kit.model.run_weights import changed_architecture, read_weights


def test_edited_config_and_truncated_weights_are_clear_errors(tiny_cfg, tmp_path):
    from clinvla_kit.model.clinvla import ClinVLA

    ClinVLA(tiny_cfg).save_pretrained(tmp_path / "run")
    cfg_path = tmp_path / "run" / "config.json"
    edited = to_dict(apply_overrides(tiny_cfg, {"model.vision.depth": 3, "model.embed_dim": 24, "train.lr": 0.5}))
    cfg_path.write_text(json.dumps(edited))
    with pytest.raises(ValueError) as e:
        ClinVLA.from_pretrained(tmp_path / "run")
    msg = str(e.value)
    assert "model.vision.depth: 2 in the weights, 3 in config.json" in msg and "model.embed_dim" in msg
    assert "train.lr" not in msg and "shape" not in msg and "clinvla_config" in msg
    # a truncated model.safetensors (one model build for both cases: the model tests are the slow ones)
    w = tmp_path / "run" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"model.safetensors: cannot read the weights.*truncated"):
        ClinVLA.from_pretrained(tmp_path / "run")


def test_no_stored_config_means_no_field_check(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(tmp_path / "w.safetensors"))
    state, stored = read_weights(tmp_path / "w.safetensors")
    assert stored is None and changed_architecture(stored, {"model": {}}) == [] and list(state) == ["a"]
