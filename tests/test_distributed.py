import torch

from clinvla_kit import distributed


def test_single_process_is_a_no_op():
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    x = torch.randn(3, 2, requires_grad=True)
    assert distributed.all_gather_with_grad(x) is x
    assert distributed.all_reduce_mean(x) is x
    assert distributed.init_from_env() is False
