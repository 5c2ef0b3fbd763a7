"""Config dataclasses: presets load, overrides parse, unknown fields are named, diffs are explained."""

import json

import pytest

from clinvla_kit.config import (
    PRESETS,
    RunCfg,
    apply_overrides,
    diff_configs,
    from_dict,
    load_config,
    load_preset,
    save_config,
    to_dict,
)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_and_round_trip(name, tmp_path):
    cfg = load_preset(name)
    assert cfg.preset == name
    save_config(cfg, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == cfg


def test_paper_preset_matches_table_1():
    cfg = load_preset("paper")
    assert cfg.data.image_size == 224
    assert cfg.model.vision.mask_ratio == 0.75
    assert cfg.model.adapters.bottleneck == 64
    assert cfg.model.vision.model_name == "vit_base_patch16_224"  # hidden 768
    assert cfg.train.batch_size == 32
    assert cfg.train.lr_language_adapter == 5e-5
    assert cfg.train.lr_task_adapter == 1e-4
    assert cfg.train.weight_decay == 1e-4
    assert cfg.loss.local_weight == 0.8
    assert cfg.data.max_tokens == 128


def test_overrides_parse_json_values_and_strings():
    cfg = apply_overrides(RunCfg(), ["train.batch_size=8", "model.vision.model_name=vit_small_patch16_224",
                                     "loss.local_temps=[1, 2, 3]", "model.adapters.invertible_towers=[]"])
    assert cfg.train.batch_size == 8
    assert cfg.model.vision.model_name == "vit_small_patch16_224"
    assert cfg.loss.local_temps == (1, 2, 3)
    assert cfg.model.adapters.invertible_towers == ()


def test_overrides_from_dict_like_papermill():
    cfg = apply_overrides(RunCfg(), {"train.seed": 3})
    assert cfg.train.seed == 3


@pytest.mark.parametrize("bad", ["train.batchsize=8", "nosection.x=1", "train.batch_size"])
def test_bad_override_names_the_key(bad):
    with pytest.raises(ValueError, match=bad.split("=")[0].split(".")[-1] if "=" in bad else "key=value"):
        apply_overrides(RunCfg(), [bad])


def test_unknown_field_in_json_names_its_path():
    data = to_dict(RunCfg())
    data["model"]["vision"]["bogus"] = 1
    with pytest.raises(ValueError, match=r"config\.model\.vision.*bogus"):
        from_dict(data)


def test_invalid_json_names_the_file(tmp_path):
    p = tmp_path / "config.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        load_config(p)


def test_diff_configs_lists_changed_fields_only():
    a = RunCfg()
    b = apply_overrides(a, ["train.seed=5", "model.embed_dim=64"])
    assert diff_configs(a, b) == ["model.embed_dim: 128 != 64", "train.seed: 0 != 5"]
    assert diff_configs(a, json.loads(json.dumps(to_dict(a)))) == []


@pytest.mark.parametrize("override, field, words", [
    ("train.batch_size=eight", "train.batch_size", "an integer"),
    ("train.lr=fast", "train.lr", "a number"),
    ("train.batch_size=[8]", "train.batch_size", "an integer"),
    ("train.batch_size=0", "train.batch_size", ">= 1"),
    ("data.image_size=-64", "data.image_size", ">= 1"),
    ("train.batch_size=8.5", "train.batch_size", "an integer"),
    ("train.compile=1", "train.compile", "true or false"),
    ("model.vision.mask_ratio=1.5", "model.vision.mask_ratio", "<"),
    ("loss.local_temps=[4,5]", "loss.local_temps", "3 items"),
    ("train.max_skipped_fraction=-0.1", "train.max_skipped_fraction", ">= 0"),
    ("model.vision=3", "model.vision", "a section"),
])
def test_wrong_type_or_range_names_the_field(override, field, words):
    """Issue 16 section 4: a bad --set value is one ValueError naming the field, when the config is built."""
    with pytest.raises(ValueError) as e:
        apply_overrides(RunCfg(), [override])
    msg = str(e.value)
    assert field in msg and words in msg and "\n" not in msg


def test_good_values_still_pass_type_checks():
    cfg = apply_overrides(RunCfg(), ["train.lr=1", "train.max_steps=null", "model.text.dropout=0",
                                     "loss.local_temps=[4,5,10]", "model.vision.checkpoint=/x/y.pth"])
    assert cfg.train.lr == 1 and cfg.train.max_steps is None and cfg.loss.local_temps == (4, 5, 10)
