"""CUDA-only: a few bf16 training steps (stand-in and the paper preset with random weights). Skipped on CPU."""

import pytest
import torch
from train_standins import FakeStudies, TinyAligner, collate, contrastive_loss

from clinvla_kit.config import RunCfg, apply_overrides, load_preset
from clinvla_kit.train.align import train
from clinvla_kit.train.logging import read_log

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_standin_bf16_steps_on_cuda(tmp_path):
    cfg = apply_overrides(RunCfg(), {"train.batch_size": 8, "train.log_every": 1, "train.device": "auto",
                                     "train.precision": "auto"})
    res = train(cfg, None, tmp_path / "r", max_steps=3, model=TinyAligner(), datasets=FakeStudies(24),
                loss_fn=contrastive_loss, collate_fn=collate)
    assert len(read_log(res.log_path)) == 3 and res.metrics["studies_per_s"] > 0


def test_paper_preset_steps_random_weights(tmp_path):
    """vit_base + a BERT at 224 px, batch 8, bf16: no hub access (MiniLM stands in for BioBERT offline)."""
    from clinvla_kit.data.batch import Batch
    from clinvla_kit.losses import total_loss
    from clinvla_kit.model.clinvla import ClinVLA

    cfg = apply_overrides(load_preset("paper"), {"model.text.name_or_path": "minilm", "train.batch_size": 8,
                                                 "train.log_every": 1, "data.num_workers": 0})
    model = ClinVLA(cfg)

    class Random(torch.utils.data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return {"images": torch.randn(4, 3, 224, 224, generator=g),
                    "input_ids": torch.randint(1000, 2000, (128,), generator=g)}

    def coll(items):
        b = len(items)
        return Batch(images=torch.stack([x["images"] for x in items]), present=torch.ones(b, 4, dtype=torch.bool),
                     input_ids=torch.stack([x["input_ids"] for x in items]),
                     attention_mask=torch.ones(b, 128, dtype=torch.long), labels=torch.zeros(b, 14))

    res = train(cfg, None, tmp_path / "paper", max_steps=2, model=model, datasets=Random(), loss_fn=total_loss,
                collate_fn=coll)
    log = read_log(res.log_path)
    assert len(log) == 2 and all(isinstance(r["loss"], float) for r in log)
