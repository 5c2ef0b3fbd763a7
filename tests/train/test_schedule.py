import math

import pytest
import torch

from clinvla_kit.train.schedule import WarmupCosine, effective_warmup, warmup_cosine


def reference(step, warmup, total, min_ratio=0.0):
    """The schedule written from its definition: linear ramp to 1, then half a cosine period down to min_ratio."""
    if step < warmup:
        return (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    frac = min(frac, 1.0)
    return min_ratio + (1 - min_ratio) * (1 + math.cos(math.pi * frac)) / 2


@pytest.mark.parametrize("warmup,total,min_ratio", [(0, 10, 0.0), (3, 10, 0.0), (5, 20, 0.1), (10, 10, 0.0)])
def test_matches_reference(warmup, total, min_ratio):
    for step in range(total + 5):
        assert warmup_cosine(step, warmup, total, min_ratio) == pytest.approx(reference(step, warmup, total, min_ratio))


def test_shape_of_the_curve():
    vals = [warmup_cosine(s, 4, 20) for s in range(20)]
    assert vals[0] == pytest.approx(0.25) and vals[3] == pytest.approx(1.0)
    assert all(vals[i] <= vals[i + 1] for i in range(3))  # warm-up rises
    assert all(vals[i] >= vals[i + 1] for i in range(4, 19))  # cosine falls
    assert warmup_cosine(100, 4, 20) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="total_steps"):
        warmup_cosine(0, 0, 0)
    with pytest.raises(ValueError, match="min_ratio"):
        warmup_cosine(0, 0, 5, min_ratio=2.0)


def test_warmup_cap_and_lambdalr():
    assert effective_warmup(20, 10) == 2 and effective_warmup(20, 1000) == 20
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosine(2, 8))
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([reference(s, 2, 8) for s in range(8)])
    state = sched.state_dict()  # plain numbers only: loadable with weights_only=True
    assert state["lr_lambdas"][0] == {"warmup_steps": 2, "total_steps": 8, "min_ratio": 0.0}
