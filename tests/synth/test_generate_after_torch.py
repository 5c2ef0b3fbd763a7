"""Generation with worker processes must not hang in a process that already ran torch (a pytest session, a
notebook kernel): the pool uses the spawn start method."""

import torch

from clinvla_kit.synth.generate import generate


def test_parallel_generation_after_torch_threads_started(tmp_path):
    torch.set_num_threads(2)
    torch.randn(256, 256) @ torch.randn(256, 256)  # start torch's thread pool in this process
    summary = generate(tmp_path / "s", studies=12, seed=3, image_size=32, workers=2)
    assert (tmp_path / "s" / "mimic-cxr-2.0.0-metadata.csv").exists()
    assert summary["archive_studies"] == 12
