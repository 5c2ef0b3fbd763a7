"""Embedder: batching, views option, cache hit without calling the model, errors naming the input."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from clinvla_kit.config import DataCfg
from clinvla_kit.eval.embed import Embedder, file_sha256

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class FakeModel(torch.nn.Module):
    """encode_image = mean pixel of each present slot (so views matter); encode_text = token statistics."""

    def __init__(self):
        super().__init__()
        from transformers import AutoTokenizer

        from clinvla_kit.model.text import minilm_dir

        self.w = torch.nn.Parameter(torch.ones(1))
        self.tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
        self.calls = 0

    def encode_image(self, images, present, normalize=True):
        self.calls += 1
        means = images.mean(dim=(2, 3, 4)) * present  # [B, 4]
        z = torch.cat([means, present.float()], dim=1) * self.w
        return torch.nn.functional.normalize(z, dim=-1) if normalize else z

    def encode_text(self, input_ids, attention_mask, normalize=True):
        self.calls += 1
        z = torch.stack([attention_mask.sum(1).float(), (input_ids * attention_mask).float().mean(1)], 1)
        return torch.nn.functional.normalize(z, dim=-1) if normalize else z


def write_img(path, value):
    Image.fromarray(np.full((40, 40), value, dtype=np.uint8)).save(path)
    return path


def test_views_batching_and_cache(tmp_path):
    a = write_img(tmp_path / "a.png", 50)
    b = write_img(tmp_path / "b.png", 200)
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"abc")
    model = FakeModel()
    emb = Embedder(model, DataCfg(image_size=32), fingerprint=file_sha256(weights), cache_dir=tmp_path / "cache",
                   batch_size=2, progress=False)
    items = [[a, b, None, None], [b, None, None, None], {"frontal": a}]
    all_views = emb.images(items, views="all")
    assert all_views.shape == (3, 8) and model.calls == 2  # 3 items in batches of 2
    frontal = emb.images(items, views="frontal")
    assert not np.allclose(all_views[0], frontal[0])  # the lateral slot changed item 0
    assert np.allclose(frontal[0], frontal[2])  # same frontal image, same embedding
    calls = model.calls
    again = emb.images(items, views="all")
    assert model.calls == calls and np.array_equal(again, all_views)  # served from the cache
    os.utime(b, ns=(1, 1))  # the file changed on disk: a new key, recomputed
    emb.images(items, views="all")
    assert model.calls == calls + 2
    t1 = emb.texts(["FINDINGS: Small left pleural effusion.", "No acute disease."])
    calls = model.calls
    assert np.array_equal(emb.texts(["FINDINGS: Small left pleural effusion.", "No acute disease."]), t1)
    assert model.calls == calls
    emb.texts(["No acute disease."])  # different input list: new key, computed
    assert model.calls == calls + 1
    weights.write_bytes(b"abd")  # another checkpoint: another key
    emb2 = Embedder(model, DataCfg(image_size=32), fingerprint=file_sha256(weights), cache_dir=tmp_path / "cache",
                    progress=False)
    emb2.texts(["No acute disease."])
    assert model.calls == calls + 2


def test_errors_name_the_input(tmp_path):
    from clinvla_kit.data.errors import DataError

    emb = Embedder(FakeModel(), DataCfg(image_size=32), progress=False)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match="bad.png"):
        emb.images([bad])
    with pytest.raises(ValueError, match="text row 1"):
        emb.texts(["ok text", "  "])
    with pytest.raises(ValueError, match="no image"):
        emb.images([[None, bad, None, None]], views="frontal")
    with pytest.raises(ValueError, match="views"):
        emb.images([bad], views="lateral")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_autocast_matches_cpu(tmp_path):
    a = write_img(tmp_path / "a.png", 120)
    cpu = Embedder(FakeModel(), DataCfg(image_size=32), progress=False).images([a])
    gpu = Embedder(FakeModel().cuda(), DataCfg(image_size=32), progress=False).images([a])
    assert gpu.dtype == np.float32 and np.allclose(cpu, gpu, atol=2e-2)
