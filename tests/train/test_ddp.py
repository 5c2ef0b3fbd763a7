"""DDP parity: two CPU processes (gloo) == one process holding the combined batch (tolerance 1e-5)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_standins import FakeStudies, TinyAligner, collate, contrastive_loss

from clinvla_kit.config import RunCfg, apply_overrides
from clinvla_kit.train.align import train
from clinvla_kit.train.logging import read_log

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MASTER_ADDR": "127.0.0.1",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(HERE / "ddp_worker.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_loss_and_gradients_match_one_process(ddp_out):
    got = torch.load(ddp_out / "grads.pt", weights_only=True)
    torch.manual_seed(123)
    model = TinyAligner()
    data = FakeStudies(8)
    loss, _ = contrastive_loss(model(collate([data[i] for i in range(8)])))
    loss.backward()
    assert torch.allclose(got["loss"], loss, atol=1e-5)
    assert set(got["terms"]) == {"global", "local"}
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(got["grads"]) == set(grads)
    for n, g in grads.items():
        assert torch.allclose(got["grads"][n], g, atol=1e-5), n


def test_kit_global_loss_matches_one_process(ddp_out):
    """clinvla_kit.losses.global_contrastive_loss over 2 ranks: mean loss and rank-averaged gradients = one batch."""
    from clinvla_kit.losses import global_contrastive_loss

    got = torch.load(ddp_out / "global.pt", weights_only=True)
    torch.manual_seed(7)
    img = torch.randn(8, 5, requires_grad=True)
    txt = torch.randn(8, 5, requires_grad=True)
    loss = global_contrastive_loss(img, txt, 10.0)
    loss.backward()
    assert torch.allclose(got["loss_mean"], loss, atol=1e-5)
    assert torch.allclose(got["img_grad"], img.grad, atol=1e-5)
    assert torch.allclose(got["txt_grad"], txt.grad, atol=1e-5)


def test_train_under_torchrun_matches_one_process(ddp_out, tmp_path):
    """Same losses per step and same final weights: DistributedSampler shards + gathered negatives = one batch."""
    cfg = apply_overrides(RunCfg(), {"train.batch_size": 8, "train.lr": 1e-2, "train.warmup_steps": 1,
                                     "train.log_every": 1, "train.device": "cpu", "train.precision": "fp32"})
    torch.manual_seed(123)
    res = train(cfg, None, tmp_path / "one", max_steps=3, model=TinyAligner(), datasets=FakeStudies(24),
                loss_fn=contrastive_loss, collate_fn=collate)
    two = read_log(ddp_out / "run")
    one = read_log(res.log_path)
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], abs=1e-5)
    assert two[0]["studies_per_s"] > 0
    w1, w2 = load_file(res.run_dir / "model.safetensors"), load_file(ddp_out / "run" / "model.safetensors")
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-5), k
