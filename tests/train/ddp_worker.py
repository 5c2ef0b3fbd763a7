"""Run by test_ddp.py under ``torch.distributed.run`` with 2 CPU processes (gloo). Not a test module.

1. One DDP step of ``TinyAligner`` with ``contrastive_loss`` (global + local over ``all_gather_with_grad``), each rank
   holding half of a fixed batch of 8: writes the loss and the (DDP-averaged) gradients.
2. ``train()`` for 3 updates at global batch 8 (4 per rank): writes its run directory.
"""

import sys
from pathlib import Path

import torch
from train_standins import FakeStudies, TinyAligner, collate, contrastive_loss

from clinvla_kit import distributed
from clinvla_kit.config import RunCfg, apply_overrides
from clinvla_kit.train.align import train


def main(out: Path) -> None:
    assert distributed.init_from_env(backend="gloo")
    rank, world = distributed.rank(), distributed.world_size()
    assert world == 2

    torch.manual_seed(123)
    model = TinyAligner()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    data = FakeStudies(8)
    half = collate([data[i] for i in range(rank * 4, rank * 4 + 4)])
    loss, terms = contrastive_loss(ddp(half))
    loss.backward()
    if rank == 0:
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        torch.save({"loss": loss.detach(), "terms": {k: v.detach() for k, v in terms.items()}, "grads": grads},
                   out / "grads.pt")

    # the kit's own global InfoNCE (open_clip-style: local rows against gathered columns)
    from clinvla_kit.losses import global_contrastive_loss

    torch.manual_seed(7)
    img = torch.randn(8, 5, requires_grad=True)
    txt = torch.randn(8, 5, requires_grad=True)
    mine_i = img[rank * 4:(rank + 1) * 4].detach().requires_grad_(True)
    mine_t = txt[rank * 4:(rank + 1) * 4].detach().requires_grad_(True)
    real = global_contrastive_loss(mine_i, mine_t, 10.0)
    real.backward()
    both = [None, None]
    torch.distributed.all_gather_object(both, (real.detach(), mine_i.grad, mine_t.grad))
    if rank == 0:
        torch.save({"loss_mean": (both[0][0] + both[1][0]) / 2,
                    # DDP would average parameter gradients over ranks: do the same for the feature gradients
                    "img_grad": torch.cat([both[0][1], both[1][1]]) / 2,
                    "txt_grad": torch.cat([both[0][2], both[1][2]]) / 2}, out / "global.pt")

    cfg = apply_overrides(RunCfg(), {"train.batch_size": 8, "train.lr": 1e-2, "train.warmup_steps": 1,
                                     "train.log_every": 1, "train.device": "cpu", "train.precision": "fp32"})
    torch.manual_seed(123)
    train(cfg, None, out / "run", max_steps=3, model=TinyAligner(), datasets=FakeStudies(24),
          loss_fn=contrastive_loss, collate_fn=collate)
    distributed.cleanup()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
