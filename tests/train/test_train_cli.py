"""The CLI on a tiny SynthCXR (20 studies, 64 px): recipe = pretrain-mae + train --init-vision, then resume."""

import json

import pytest
import torch
from safetensors.torch import load_file

from clinvla_kit.cli import main
from clinvla_kit.train.logging import read_log

SMALL = ["data.image_size=64", "train.batch_size=4", "mae.batch_size=8", "train.log_every=1", "mae.warmup_steps=1",
         # tiny has no MAE stage, no adapters and no local loss; switch them on so that the recipe runs every stage
         # and every loss term and learning rate is logged
         "mae.enabled=true", "loss.local_weight=0.8", 'model.adapters.transformer_adapt_towers=["text"]']


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from clinvla_kit.synth.generate import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, 20, 0, image_size=64, workers=1)
    return out


@pytest.fixture(scope="module")
def recipe_out(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe")
    assert main(["recipe", "--data", str(synth), "--out", str(out), "--max-steps", "2", "--set", *SMALL]) == 0
    return out


def test_recipe_runs_every_stage(recipe_out):
    assert (recipe_out / "mae" / "encoder.safetensors").exists()
    for name in ("model.safetensors", "config.json", "log.jsonl", "checkpoint/last.pt", "tokenizer_config.json"):
        assert (recipe_out / "run" / name).exists(), name
    summary = json.loads((recipe_out / "recipe.json").read_text())
    assert set(summary["stages"]) >= {"pretrain_mae_s", "train_s", "total_s"} and summary["skipped"] == []
    log = read_log(recipe_out / "run")
    assert [r["step"] for r in log] == [1, 2] and {"global", "local", "lr/language_adapter"} <= set(log[0])


def test_init_vision_weights_reach_the_image_tower(recipe_out):
    enc = load_file(recipe_out / "mae" / "encoder.safetensors")
    run = load_file(recipe_out / "run" / "model.safetensors")
    key = next(k for k in enc if k.endswith("attn.qkv.weight"))
    # tiny trains the backbone, so two steps move the weights a little (Adam: about lr per step); an independent
    # initialisation would be uncorrelated with the MAE encoder's
    a, b = run[f"vision.vit.{key}"].flatten(), enc[key].flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.9
    assert (a - b).abs().max() < 0.1 * b.abs().max()


def test_train_cli_resume_and_errors(recipe_out, synth, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(synth), "--out", str(run), "--max-steps", "2", "--set", *SMALL]
    assert main(args) == 0
    assert main(args + ["--resume"]) == 0  # already finished: resumes at step 2 of 2 and rewrites the weights
    assert [r["step"] for r in read_log(run)] == [1, 2]
    assert main(args[:-len(SMALL)] + ["train.batch_size=2", "--resume"]) == 1
    assert "train.batch_size: 4 != 2" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_recipe_with_own_text_bert_runs_pretrain_mlm_first(synth, tmp_path):
    from clinvla_kit.train.recipe import recipe

    res = recipe(synth, tmp_path / "r", preset="tiny", max_steps=1,
                 overrides={**dict(s.split("=") for s in SMALL), "model.text.name_or_path": "mlm"})
    cfg = json.loads((res.run_dir / "config.json").read_text())
    assert cfg["model"]["text"]["name_or_path"] == str(tmp_path / "r" / "mlm" / "text")
    assert "pretrain_mlm_s" in json.loads((tmp_path / "r" / "recipe.json").read_text())["stages"]


def test_recipe_skips_mae_where_the_preset_turns_it_off(synth, tmp_path, capsys):
    from clinvla_kit.train.recipe import recipe

    small = [s for s in SMALL if s != "mae.enabled=true"]
    res = recipe(synth, tmp_path / "r", preset="tiny", max_steps=1, overrides=small)
    summary = json.loads((tmp_path / "r" / "recipe.json").read_text())
    assert summary["skipped"] == ["pretrain_mae"] and "pretrain_mae_s" not in summary["stages"]
    assert not (tmp_path / "r" / "mae").exists() and (res.run_dir / "model.safetensors").exists()
    assert "mae.enabled is false" in capsys.readouterr().out  # a note (stdout), not a warning


def test_train_refuses_an_existing_run_unless_overwrite(synth, tmp_path, capsys):
    """Issue 16 section 4: `train --out` an existing run without --resume used to replace it silently."""
    run = tmp_path / "run"
    args = ["train", "--data", str(synth), "--out", str(run), "--max-steps", "1", "--set", *SMALL]
    assert main(args) == 0
    weights = (run / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite" in err and "Traceback" not in err
    assert (run / "model.safetensors").read_bytes() == weights  # untouched
    (run / "metrics.json").write_text("{}")  # metrics of the old weights must not outlive them
    assert main(args[:1] + ["--overwrite"] + args[1:]) == 0
    assert not (run / "metrics.json").exists() and (run / "model.safetensors").exists()
    for cmd in ("pretrain-mae", "recipe"):
        assert main([cmd, "--data", str(synth), "--out", str(run), "--max-steps", "1", "--set", *SMALL]) == 1
        assert "already holds a run" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["train.batch_size=eight", "train.lr=fast", "train.batch_size=[8]",
                                 "train.batch_size=0", "data.image_size=-64"])
def test_train_wrong_type_set_value_is_one_line(synth, tmp_path, capsys, bad):
    assert main(["train", "--data", str(synth), "--out", str(tmp_path / "r"), "--set", bad]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("clinvla-kit train: error: config field " + bad.split("=")[0]) and "\n" not in err


def test_train_names_duplicated_rows_as_validate_does(synth, tmp_path, capsys):
    """Issue 16 s4: duplicated CSV rows were named by `validate` but silently accepted by `train`."""
    import shutil

    data = tmp_path / "dup"
    shutil.copytree(synth, data)
    meta = data / "mimic-cxr-2.0.0-metadata.csv"
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join(lines + [lines[3]]) + "\n")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--max-steps", "1", "--set", *SMALL]) == 1
    err = capsys.readouterr().err
    assert "duplicated" in err and f"row {len(lines)}" in err and "'dicom_id'" in err and "validate" in err
    assert not (tmp_path / "r").exists()
