"""Training in segments with an evaluation between them (train/progress.py): the same weights and log as one
uninterrupted ``train`` call, the promised rows, and recipe's ``align`` hook."""

import pandas as pd
import pytest
import torch
from train_standins import FakeStudies, TinyAligner, collate, contrastive_loss

from clinvla_kit.config import RunCfg, apply_overrides
from clinvla_kit.train.align import train
from clinvla_kit.train.logging import read_log
from clinvla_kit.train.loop import TrainResult
from clinvla_kit.train.progress import PROGRESS_FILE, eval_steps, summary, total_updates, train_with_progress


def small_cfg(**over) -> RunCfg:
    base = {"train.batch_size": 4, "train.lr": 1e-2, "train.lr_language_adapter": 5e-3, "train.warmup_steps": 1,
            "train.log_every": 1, "train.checkpoint_every": 100, "train.device": "cpu", "train.precision": "fp32",
            "train.epochs": 1, "train.seed": 0}
    return apply_overrides(RunCfg(), {**base, **over})


def fresh_model() -> TinyAligner:
    torch.manual_seed(123)  # the stand-in is built outside train(): the same init for both runs
    return TinyAligner(noise=0.5)  # draws from the global RNG every step: a leaked RNG draw would change the run


def nosy_evaluate(model):
    """Switches to eval mode, draws from the global RNG and reads the weights, as a real evaluation may."""
    model.eval()
    torch.rand(7)
    return {"metric": "weight mean", "value": float(model.img_head.weight.detach().mean()), "ci_lo": -1.0, "ci_hi": 1.0,
            "chance": 0.0}


def test_eval_steps_and_total():
    assert eval_steps(6, 2) == [0, 2, 4, 6]
    assert eval_steps(7, 3) == [0, 3, 6, 7]
    assert eval_steps(1, 5) == [0, 1]
    with pytest.raises(ValueError, match="every"):
        eval_steps(6, 0)
    cfg = small_cfg(**{"train.epochs": 2})
    assert total_updates(cfg, 24) == 12  # 24 studies / batch 4 = 6 updates per epoch, 2 epochs
    assert total_updates(small_cfg(**{"train.max_steps": 5}), 24) == 5


def test_segmented_training_equals_one_run_and_rows_are_promised(tmp_path):
    cfg = small_cfg()
    plain_model = fresh_model()
    plain = train(cfg, None, tmp_path / "plain", max_steps=6, model=plain_model, datasets=FakeStudies(24),
                  loss_fn=contrastive_loss, collate_fn=collate)
    seg_model = fresh_model()
    seg = train_with_progress(cfg, None, tmp_path / "seg", max_steps=6, evaluate=nosy_evaluate, every=2,
                              model=seg_model, datasets=FakeStudies(24), loss_fn=contrastive_loss,
                              collate_fn=collate, quiet=True)
    for (name, a), b in zip(plain_model.state_dict().items(), seg_model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [r["loss"] for r in read_log(seg.log_path)] == pytest.approx([r["loss"] for r in read_log(plain.log_path)],
                                                                         abs=1e-6, rel=0)
    assert (seg.run_dir / "model.safetensors").exists() and not seg.metrics["stopped_early"]

    rows = seg.metrics["progress"]
    assert [r["step"] for r in rows] == [0, 2, 4, 6]
    log = {r["step"]: r["loss"] for r in read_log(plain.log_path)}
    assert rows[0]["train_loss"] is None and [r["train_loss"] for r in rows[1:]] == pytest.approx(
        [log[2], log[4], log[6]])
    # the evaluation saw the weights of its step: step 6 is the final model, step 0 the initial one
    assert rows[-1]["value"] == pytest.approx(float(plain_model.img_head.weight.detach().mean()))
    assert rows[0]["value"] == pytest.approx(float(fresh_model().img_head.weight.detach().mean()))
    table = pd.read_csv(seg.run_dir / PROGRESS_FILE)
    assert list(table["step"]) == [0, 2, 4, 6] and {"value", "ci_lo", "ci_hi", "chance", "wall_s"} <= set(table)


def test_summary_says_where_the_interval_lies():
    row = {"step": 20, "wall_s": 41.0, "train_loss": 5.0, "metric": "P@5", "value": 0.3, "ci_lo": 0.25,
           "ci_hi": 0.35, "chance": 0.2}
    assert summary(row, 80).endswith("chance 0.20: interval above chance")
    assert summary({**row, "ci_lo": 0.15}, 80).endswith("interval includes chance")
    assert summary({**row, "ci_hi": 0.1, "ci_lo": 0.05, "value": 0.08}, 80).endswith("interval below chance")


def test_recipe_calls_the_given_alignment_stage(tmp_path, monkeypatch):
    from clinvla_kit.train import recipe as recipe_mod

    calls = []

    def fake_align(cfg, data_dir, out, init_vision=None, init_text=None, max_steps=None):
        calls.append((data_dir, out, init_vision, init_text, max_steps, cfg.train.batch_size))
        return TrainResult(run_dir=out, metrics={"progress": [{"step": 0}]}, log_path=out / "log.jsonl")

    monkeypatch.setattr(recipe_mod, "needs_mlm", lambda cfg: False)
    res = recipe_mod.recipe(tmp_path / "data", tmp_path / "r", preset="tiny", max_steps=3,
                            overrides=["train.batch_size=8"], align=fake_align)
    assert calls == [(tmp_path / "data", tmp_path / "r" / "run", None, None, 3, 8)]
    assert res.metrics["progress"] == [{"step": 0}] and (tmp_path / "r" / "recipe.json").exists()
