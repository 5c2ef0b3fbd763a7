import pytest
import torch

from clinvla_kit.train import device as dev

CPU = torch.device("cpu")


def test_resolve_device_on_this_machine():
    assert dev.resolve_device("cpu") == CPU
    if not torch.cuda.is_available() and not dev.mps_available():
        assert dev.resolve_device("auto") == CPU
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            dev.resolve_device("cuda")
    with pytest.raises(ValueError, match="choose"):
        dev.resolve_device("tpu")


def test_precision_rules():
    assert dev.resolve_precision("auto", CPU) is None and dev.resolve_precision("fp32", CPU) is None
    assert dev.resolve_precision("bf16", CPU) is torch.bfloat16
    with pytest.raises(ValueError, match="needs CUDA"):
        dev.resolve_precision("fp16", CPU)
    with pytest.raises(ValueError, match="choose one of"):
        dev.resolve_precision("fp8", CPU)


def test_autocast_and_scaler_on_cpu():
    lin = torch.nn.Linear(4, 4)
    with dev.autocast(CPU, torch.bfloat16):
        assert lin(torch.randn(2, 4)).dtype is torch.bfloat16
    with dev.autocast(CPU, None):
        assert lin(torch.randn(2, 4)).dtype is torch.float32
    assert not dev.make_scaler(CPU, None).is_enabled()
    assert dev.maybe_compile(lin, False) is lin


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@gpu
def test_cuda_auto_is_bf16_autocast():
    d = dev.resolve_device("auto")
    assert d.type == "cuda"
    dtype = dev.resolve_precision("auto", d)
    assert dtype is torch.bfloat16
    lin = torch.nn.Linear(8, 8).to(d)
    with dev.autocast(d, dtype):
        assert lin(torch.randn(2, 8, device=d)).dtype is torch.bfloat16
    with dev.autocast(d, dtype):  # SDPA through PyTorch under bf16
        q = torch.randn(2, 3, 16, 8, device=d)
        assert torch.nn.functional.scaled_dot_product_attention(q, q, q).dtype is torch.bfloat16
