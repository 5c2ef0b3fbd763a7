import pytest
import torch

from clinvla_kit.config import DataCfg
from clinvla_kit.data.records import StudyRecord
from clinvla_kit.train.pretrain_mae import ViewImages


def _png(path, value):
    import cv2
    import numpy as np

    cv2.imwrite(str(path), np.full((40, 48), value, dtype=np.uint8))
    return path


def test_view_images_dedupes_and_skips(tmp_path):
    a, b, c = _png(tmp_path / "a.png", 10), _png(tmp_path / "b.png", 200), _png(tmp_path / "c.png", 90)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    r1 = StudyRecord("1", "s1", "", {"frontal": a, "lateral": b, "prior_frontal": None, "prior_lateral": None})
    r2 = StudyRecord("1", "s2", "", {"frontal": bad, "lateral": c, "prior_frontal": a, "prior_lateral": b})
    ds = ViewImages([r1, r2], DataCfg(image_size=32, augment=False), train=True)
    assert len(ds) == 4  # a, b, bad, c: the prior slots point at s1's images again
    x = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(ds[ds.paths.index(bad)], ds[ds.paths.index(c)])  # bad -> replaced by the next image
    assert ds.skipped and str(bad) == ds.skipped[0][0]
    no_lat = ViewImages([r1, r2], DataCfg(image_size=32, use_lateral=False, use_prior=False), train=False)
    assert sorted(map(str, no_lat.paths)) == sorted(map(str, [a, bad]))
    with pytest.raises(ValueError, match="no images"):
        ViewImages([StudyRecord("1", "s", "", dict.fromkeys(("frontal", "lateral", "prior_frontal", "prior_lateral")))],
                   DataCfg())
