import random

import numpy as np
import pytest
import torch

from clinvla_kit.train import checkpoint as ck


def _state(v: float) -> dict:
    return {"format": ck.FORMAT_VERSION, "step": int(v), "model": {"w": torch.full((3,), v)}, "rng": ck.rng_state()}


def test_roundtrip_weights_only(tmp_path):
    path = ck.save_atomic(_state(1.0), tmp_path / "checkpoint" / "last.pt")
    state = ck.load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["model"]["w"], torch.ones(3))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind


def test_crash_during_write_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ck.save_atomic(_state(1.0), path)
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        f.write(b"partial garbage")  # half a file on disk, then the process dies
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(KeyboardInterrupt):
        ck.save_atomic(_state(2.0), path)
    monkeypatch.setattr(torch, "save", real_save)
    assert ck.load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_corrupt_missing_and_pickled_objects_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ck.load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        ck.load_checkpoint(bad)
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "obj": np.random.RandomState(0)}, evil)  # an arbitrary pickled object
    with pytest.raises(ValueError, match="evil.pt"):
        ck.load_checkpoint(evil)


def test_rng_state_roundtrip_through_file(tmp_path):
    ck.seed_everything(3)
    path = ck.save_atomic({"format": ck.FORMAT_VERSION, "rng": ck.rng_state()}, tmp_path / "r.pt")
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.random(), np.random.rand(), torch.rand(5)  # move every generator on
    ck.set_rng_state(ck.load_checkpoint(path)["rng"])
    got = (random.random(), np.random.rand(), torch.rand(2))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
