"""``train`` refuses adapters on a frozen, uninitialised image backbone, and says how to give one."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinvla_kit.config import apply_overrides, load_preset
from clinvla_kit.train.align import check_vision_weights


def test_paper_preset_without_weights_is_refused_with_the_remedies():
    cfg = load_preset("paper")
    with pytest.raises(ValueError) as err:
        check_vision_weights(cfg, None)
    msg = str(err.value)
    assert "--init-vision" in msg and "model.vision.checkpoint" in msg and "allow_random_frozen" in msg


@pytest.mark.parametrize("override", [
    {"model.vision.checkpoint": "synthcxr-mrm-vit6"},
    {"model.vision.pretrained": True},
    {"model.vision.freeze_backbone": False},
    {"model.adapters.full_finetune": True},
    {"model.vision.allow_random_frozen": True},
])
def test_any_source_of_weights_or_a_trained_backbone_is_accepted(override):
    check_vision_weights(apply_overrides(load_preset("paper"), override), None)


def test_init_vision_file_is_accepted():
    check_vision_weights(load_preset("paper"), Path("encoder.safetensors"))


def test_cli_train_paper_without_weights_is_one_clear_line(tmp_path, capsys):
    from clinvla_kit.cli import main

    data = tmp_path / "data"
    data.mkdir()
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--preset", "paper"]) == 1
    err = capsys.readouterr().err
    assert "no pretrained weights were given" in err and "Traceback" not in err
