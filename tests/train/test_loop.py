"""The loop with stand-in model and data (train_standins.py): logging, accumulation, resume, NaN stop, skips."""

import json

import pytest
import torch
from train_standins import FakeStudies, NaNAt, TinyAligner, collate, contrastive_loss, mean_loss

from clinvla_kit.config import RunCfg, apply_overrides
from clinvla_kit.train.align import train
from clinvla_kit.train.checkpoint import checkpoint_path, load_checkpoint
from clinvla_kit.train.logging import read_log
from clinvla_kit.train.loop import NonFiniteLossError, TooManySkippedError


def small_cfg(**over) -> RunCfg:
    base = {"train.batch_size": 4, "train.lr": 1e-2, "train.lr_language_adapter": 5e-3, "train.warmup_steps": 1,
            "train.log_every": 1, "train.checkpoint_every": 100, "train.device": "cpu", "train.precision": "fp32",
            "train.epochs": 1, "train.seed": 0}
    return apply_overrides(RunCfg(), {**base, **over})


def run(tmp_path, name, cfg, loss=contrastive_loss, data=None, noise=0.0, **kw):
    torch.manual_seed(123)  # the stand-in model is built here, outside train(): same init for every run
    model = TinyAligner(noise=noise)
    return train(cfg, None, tmp_path / name, model=model, datasets=data or FakeStudies(24), loss_fn=loss,
                 collate_fn=collate, **kw), model


def test_run_writes_log_weights_and_checkpoint(tmp_path):
    res, _ = run(tmp_path, "r", small_cfg(), max_steps=4)
    log = read_log(res.log_path)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    rec = log[0]
    for key in ("loss", "global", "local", "lr/language_adapter", "lr/heads", "lr/temperature", "studies_per_s",
                "skipped", "grad_norm", "epoch"):
        assert key in rec, key
    assert rec["lr/language_adapter"] == pytest.approx(5e-3 * 1.0)  # warm-up of 1 -> full rate at step 1
    assert log[2]["lr/heads"] < log[1]["lr/heads"] < 1e-2  # cosine decay
    assert (res.run_dir / "model.safetensors").exists() and (res.run_dir / "train_metrics.json").exists()
    state = load_checkpoint(checkpoint_path(res.run_dir))
    assert state["step"] == 4 and state["config"]["train"]["max_steps"] == 4
    assert res.metrics["step"] == 4 and res.metrics["total_steps"] == 4 and not res.metrics["stopped_early"]


def test_epochs_define_length_when_no_max_steps(tmp_path):
    res, _ = run(tmp_path, "r", small_cfg(**{"train.epochs": 2}))  # 24 studies / batch 4 = 6 updates per epoch
    log = read_log(res.log_path)
    assert len(log) == 12 and log[-1]["epoch"] == 1


def test_grad_accumulation_equals_big_batch(tmp_path):
    """accum 2 x batch 4 == batch 8 for a loss that is a mean over samples.

    Contrastive losses are not decomposable (each sample's negatives are the rest of its micro-batch), so
    accumulating them is *not* a bigger batch; the equivalence holds for per-sample mean losses only.
    """
    a, ma = run(tmp_path, "acc", small_cfg(**{"train.grad_accum": 2}), loss=mean_loss, max_steps=3)
    b, mb = run(tmp_path, "big", small_cfg(**{"train.batch_size": 8}), loss=mean_loss, max_steps=3)
    la, lb = read_log(a.log_path), read_log(b.log_path)
    assert [r["loss"] for r in la] == pytest.approx([r["loss"] for r in lb], abs=1e-6)
    for (n, pa), pb in zip(ma.named_parameters(), mb.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6), n


def test_resume_equals_uninterrupted(tmp_path):
    cfg = small_cfg(**{"train.checkpoint_every": 2})
    # noise: the model draws from the global torch RNG every step, so a wrong RNG restore changes the losses
    straight, m1 = run(tmp_path, "straight", cfg, max_steps=6, noise=0.5)
    first, _ = run(tmp_path, "resumed", cfg, max_steps=6, stop_after=3, noise=0.5)
    assert first.metrics["stopped_early"] and not (first.run_dir / "model.safetensors").exists()
    second, m2 = run(tmp_path, "resumed", cfg, max_steps=6, resume=True, noise=0.5)
    l1 = [r["loss"] for r in read_log(straight.log_path)]
    l2 = [r["loss"] for r in read_log(second.log_path)]
    assert [r["step"] for r in read_log(second.log_path)] == list(range(1, 7))
    assert l2 == pytest.approx(l1, abs=1e-6, rel=0)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.allclose(p1, p2, atol=1e-6)


def test_resume_across_epoch_boundary_with_accumulation(tmp_path):
    cfg = small_cfg(**{"train.grad_accum": 2, "train.checkpoint_every": 1})  # 3 updates per epoch
    straight, _ = run(tmp_path, "s", cfg, max_steps=5, noise=0.5)
    run(tmp_path, "r", cfg, max_steps=5, stop_after=3, noise=0.5)
    second, _ = run(tmp_path, "r", cfg, max_steps=5, resume=True, noise=0.5)
    assert [r["loss"] for r in read_log(second.log_path)] == pytest.approx(
        [r["loss"] for r in read_log(straight.log_path)], abs=1e-6, rel=0)


def test_resume_without_rng_restore_would_differ(tmp_path, monkeypatch):
    """Guard for the test above: skipping the RNG restore changes the resumed losses, so the check has teeth."""
    from clinvla_kit.train import loop

    cfg = small_cfg(**{"train.checkpoint_every": 2})
    straight, _ = run(tmp_path, "s", cfg, max_steps=6, noise=0.5)
    run(tmp_path, "r", cfg, max_steps=6, stop_after=3, noise=0.5)
    monkeypatch.setattr(loop, "set_rng_state", lambda state: torch.manual_seed(999))
    second, _ = run(tmp_path, "r", cfg, max_steps=6, resume=True, noise=0.5)
    l1 = [r["loss"] for r in read_log(straight.log_path)]
    l2 = [r["loss"] for r in read_log(second.log_path)]
    assert l2[:3] == pytest.approx(l1[:3], abs=1e-6) and l2[3:] != pytest.approx(l1[3:], abs=1e-6)


def test_resume_with_other_config_names_the_fields(tmp_path):
    run(tmp_path, "r", small_cfg(), max_steps=4, stop_after=2)
    with pytest.raises(ValueError, match=r"train.seed: 0 != 1"):
        run(tmp_path, "r", small_cfg(**{"train.seed": 1}), max_steps=4, resume=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(tmp_path, "never", small_cfg(), max_steps=4, resume=True)


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    cfg = small_cfg(**{"train.checkpoint_every": 2})
    with pytest.raises(NonFiniteLossError, match=r"step 4 .*last good checkpoint .*\(step 2\)"):
        run(tmp_path, "nan", cfg, loss=NaNAt(contrastive_loss, call=4), max_steps=6)
    state = load_checkpoint(checkpoint_path(tmp_path / "nan"))
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert [r["step"] for r in read_log(tmp_path / "nan")] == [1, 2, 3]
    assert not (tmp_path / "nan" / "model.safetensors").exists()


def test_too_many_skipped_samples_stop_training(tmp_path):
    with pytest.raises(TooManySkippedError, match="unreadable"):  # judged after one epoch of this small set
        run(tmp_path, "skip", small_cfg(), data=FakeStudies(24, skip_every=3), max_steps=8)
    res, _ = run(tmp_path, "ok", small_cfg(**{"train.max_skipped_fraction": 0.5}),
                 data=FakeStudies(24, skip_every=3), max_steps=2)
    log = read_log(res.log_path)
    assert log[-1]["skipped"] > 0 and res.metrics["skipped"] == log[-1]["skipped"]


def test_too_small_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="too few"):
        run(tmp_path, "small", small_cfg(**{"train.batch_size": 32}), max_steps=2)


def test_validation_loss_in_metrics(tmp_path):
    res, _ = run(tmp_path, "v", small_cfg(), data={"train": FakeStudies(16), "validate": FakeStudies(8, seed=1)},
                 max_steps=2)
    assert "val_loss" in res.metrics and "val_local" in res.metrics
    assert json.loads((res.run_dir / "train_metrics.json").read_text())["step"] == 2


def test_trim_padding_keeps_real_tokens():
    from clinvla_kit.train.align import trim_padding

    b = collate([FakeStudies(2)[i] for i in range(2)])
    mask = torch.zeros(2, 6, dtype=torch.long)
    mask[0, :3], mask[1, :2] = 1, 1
    b.attention_mask = mask
    t = trim_padding(b)
    assert t.input_ids.shape == (2, 3) and torch.equal(t.input_ids, b.input_ids[:, :3])
    assert torch.equal(t.attention_mask, mask[:, :3]) and t.images is b.images
    b.attention_mask = torch.ones(2, 6, dtype=torch.long)
    assert trim_padding(b) is b


def test_the_loop_learns_a_learnable_problem(tmp_path):
    """24 fixed studies, 60 updates: the contrastive loss falls well below its start (ln 4 = chance at batch 4)."""
    res, _ = run(tmp_path, "learn", small_cfg(**{"train.epochs": 10, "train.lr": 3e-2, "train.lr_language_adapter": 3e-2}))
    losses = [r["loss"] for r in read_log(res.log_path)]
    assert len(losses) == 60 and min(losses[-10:]) < 0.5 * losses[0]


class BadAt(FakeStudies):
    """Counts the studies at ``bad`` as unreadable (as StudyDataset does before substituting the next one)."""

    def __init__(self, n: int, bad: set[int]) -> None:
        super().__init__(n)
        self.bad = bad

    def __getitem__(self, i: int) -> dict:
        if i in self.bad:
            self.skipped += 1
        return super().__getitem__(i)


def test_one_bad_sample_in_the_first_batch_does_not_stop_the_run(tmp_path):
    """Issue 16 s4: 1 unreadable study of 83 in the first batch of 8 stopped `train` at step 1 (12.5 % > 5 %)."""
    from clinvla_kit.train.loop import epoch_indices

    first = epoch_indices(83, 0, 0, 1, 0)[0]  # the first study the run draws
    res, _ = run(tmp_path, "one", small_cfg(**{"train.batch_size": 8}), data=BadAt(83, {first}), max_steps=10)
    assert res.metrics["step"] == 10 and res.metrics["skipped"] == 1


def test_nan_right_after_a_checkpoint_rolls_back_to_the_one_before(tmp_path):
    """Issue 16 s4: the checkpoint written after the update that blew the weights up is not the "last good" one."""
    cfg = small_cfg(**{"train.checkpoint_every": 1})
    with pytest.raises(NonFiniteLossError, match=r"step 4 .*step-3 checkpoint .*set aside.*\(step 2\) restored"):
        run(tmp_path, "nan", cfg, loss=NaNAt(contrastive_loss, call=4), max_steps=6)
    ckpt = checkpoint_path(tmp_path / "nan")
    assert load_checkpoint(ckpt)["step"] == 2 and load_checkpoint(ckpt.with_name("last.rejected.pt"))["step"] == 3
    assert not ckpt.with_name("last.previous.pt").exists()
    with pytest.raises(NonFiniteLossError, match="no earlier checkpoint"):
        run(tmp_path, "nan1", cfg, loss=NaNAt(contrastive_loss, call=2), max_steps=6)
    assert not checkpoint_path(tmp_path / "nan1").exists()


def test_far_too_high_lr_blow_up_leaves_no_unusable_checkpoint_and_resume_may_lower_the_lr(tmp_path):
    """The user's path: lr far too high -> NaN; the checkpoint left is finite; --resume with a lower lr works."""
    cfg = small_cfg(**{"train.checkpoint_every": 1, "train.lr": 1e30, "train.lr_language_adapter": 1e30,
                       "train.grad_clip": 0.0})
    with pytest.raises(NonFiniteLossError, match="step-1 checkpoint gave this loss.*no earlier checkpoint"):
        run(tmp_path, "hot", cfg, max_steps=6)  # step 1's update blows the weights up, step 2's loss is NaN
    ckpt = checkpoint_path(tmp_path / "hot")
    assert not ckpt.exists() and ckpt.with_name("last.rejected.pt").exists()  # nothing unusable passes for good
    run(tmp_path, "cool", small_cfg(**{"train.checkpoint_every": 1}), max_steps=6, stop_after=2)
    res, _ = run(tmp_path, "cool", small_cfg(**{"train.checkpoint_every": 1, "train.lr": 5e-3}), max_steps=8,
                 resume=True)
    log = read_log(res.log_path)
    assert [r["step"] for r in log] == list(range(1, 9))
    from clinvla_kit.train.schedule import warmup_cosine

    assert log[2]["lr/heads"] == pytest.approx(5e-3 * warmup_cosine(2, 1, 8))  # the new rate and schedule length


def test_resume_refuses_architecture_changes_only(tmp_path):
    run(tmp_path, "r", small_cfg(), max_steps=4, stop_after=2)
    with pytest.raises(ValueError, match=r"model.embed_dim: 128 != 64"):
        run(tmp_path, "r", small_cfg(**{"model.embed_dim": 64}), max_steps=4, resume=True)
    with pytest.raises(ValueError, match=r"train.batch_size: 4 != 8"):
        run(tmp_path, "r", small_cfg(**{"train.batch_size": 8}), max_steps=4, resume=True)


def test_partial_checkpoint_files_of_a_killed_write_are_cleaned_on_start(tmp_path, capsys):
    stale = tmp_path / "k" / "checkpoint" / ".last.pt.tmp-4242"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a checkpoint")
    run(tmp_path, "k", small_cfg(), max_steps=1)
    assert not stale.exists() and ".last.pt.tmp-4242" in capsys.readouterr().err
