"""Masking functions against plain reference implementations."""

import torch

from clinvla_kit.model.masking import (
    gather_tokens,
    keep_to_mask,
    num_kept,
    random_keep_indices,
    scatter_to_grid,
)


def test_num_kept_224_view_keeps_49():
    assert num_kept(196, 0.75) == 49
    assert num_kept(196, 0.0) == 196
    assert num_kept(4, 0.99) == 1


def test_keep_indices_are_sorted_unique_and_in_range():
    g = torch.Generator().manual_seed(0)
    keep = random_keep_indices(5, 196, 0.75, generator=g)
    assert keep.shape == (5, 49)
    for row in keep.tolist():
        assert row == sorted(set(row))
        assert all(0 <= i < 196 for i in row)


def test_keep_indices_differ_between_samples_and_repeat_with_seed():
    a = random_keep_indices(4, 64, 0.75, generator=torch.Generator().manual_seed(1))
    b = random_keep_indices(4, 64, 0.75, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert len({tuple(r) for r in a.tolist()}) == 4


def test_gather_matches_loop():
    tokens = torch.randn(3, 10, 4)
    keep = random_keep_indices(3, 10, 0.5, generator=torch.Generator().manual_seed(2))
    out = gather_tokens(tokens, keep)
    for b in range(3):
        for j, i in enumerate(keep[b].tolist()):
            assert torch.equal(out[b, j], tokens[b, i])


def test_mask_and_scatter_match_loop():
    keep = torch.tensor([[0, 3], [1, 2]])
    mask = keep_to_mask(keep, 4)
    assert mask.tolist() == [[True, False, False, True], [False, True, True, False]]
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    grid = scatter_to_grid(values, keep, 4, fill=-1.0)
    expected = torch.full((2, 4), -1.0)
    for b in range(2):
        for j, i in enumerate(keep[b].tolist()):
            expected[b, i] = values[b, j]
    assert torch.equal(grid, expected)
    # trailing feature dims are carried
    grid3 = scatter_to_grid(values.unsqueeze(-1).repeat(1, 1, 3), keep, 4)
    assert grid3.shape == (2, 4, 3) and torch.equal(grid3[..., 0], torch.where(expected < 0, 0.0, expected))
