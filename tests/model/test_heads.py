"""Projection heads: masked standardisation against a plain reference."""

import pytest
import torch

from clinvla_kit.model.heads import Projection


def _reference(x, mask, proj, eps):
    """Mean and biased variance over the valid rows only, each feature on its own, then the linear map."""
    rows = [x.reshape(-1, x.shape[-1])[i] for i in range(x.shape[0] * x.shape[1]) if mask.reshape(-1)[i]]
    n = len(rows)
    d = x.shape[-1]
    mean = [sum(r[j] for r in rows) / n for j in range(d)]
    var = [sum((r[j] - mean[j]) ** 2 for r in rows) / n for j in range(d)]
    out = torch.zeros(x.shape[0] * x.shape[1], proj.out_features)
    flat = x.reshape(-1, d)
    for i in range(flat.shape[0]):
        if mask.reshape(-1)[i]:
            z = torch.stack([(flat[i, j] - mean[j]) / (var[j] + eps) ** 0.5 for j in range(d)])
        else:
            z = torch.zeros(d)
        out[i] = proj(z)
    return out.reshape(x.shape[0], x.shape[1], -1)


def test_masked_standardisation_matches_reference():
    torch.manual_seed(0)
    head = Projection(5, 3, standardize=True).train()
    x = torch.randn(2, 4, 5) * 3 + 7  # a large common offset, as frozen features have
    mask = torch.tensor([[True, True, False, True], [True, False, False, True]])
    with torch.no_grad():
        got = head(x, mask)
        want = _reference(x, mask, head.proj, head.norm.eps)
    assert torch.allclose(got[mask], want[mask], atol=1e-5)
    # padded rows do not move the statistics: changing them changes nothing for valid rows
    x2 = x.clone()
    x2[~mask] = 1e4
    with torch.no_grad():
        assert torch.allclose(head(x2, mask)[mask], got[mask], atol=1e-5)


def test_common_offset_is_removed_so_pairs_differ():
    torch.manual_seed(0)
    x = torch.randn(16, 8) * 0.01 + 5.0  # cosine between rows ~1 before the head
    z = torch.nn.functional.normalize(Projection(8, 8, standardize=True).train()(x), dim=-1)
    off = (z @ z.T)[~torch.eye(16, dtype=torch.bool)]
    assert off.abs().mean() < 0.5


def test_eval_uses_running_statistics_and_batch_of_one_works():
    head = Projection(4, 2).train()
    for _ in range(50):
        head(torch.randn(32, 4) + 2.0)
    head.eval()
    one = head(torch.full((1, 4), 2.0))
    assert torch.isfinite(one).all()
    assert torch.allclose(head.norm.running_mean, torch.full((4,), 2.0), atol=0.2)
    head.train()
    assert torch.isfinite(head(torch.randn(1, 4))).all()  # one vector in training: running statistics


def test_plain_linear_when_standardisation_is_off():
    head = Projection(4, 2, standardize=False)
    x = torch.randn(3, 4)
    assert head.norm is None and torch.allclose(head(x), head.proj(x))


@pytest.mark.parametrize("bad", ["layer", ""])
def test_unknown_head_norm_is_a_clear_error(bad):
    from clinvla_kit.config import apply_overrides, load_preset
    from clinvla_kit.model.clinvla import ClinVLA

    cfg = apply_overrides(load_preset("tiny"), {"model.head_norm": bad})
    with pytest.raises(ValueError, match="head_norm"):
        ClinVLA(cfg)
