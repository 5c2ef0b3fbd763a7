"""Figures of notebooks 02 and 04: reconstruction grid, qualitative retrieval, confusion matrix."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from clinvla_kit.viz.training_figures import (
    confusion_figure,
    reconstruction_figure,
    retrieval_examples_figure,
    to_display,
)


@pytest.fixture()
def mae():
    from clinvla_kit.config import RunCfg, apply_overrides
    from clinvla_kit.model.mae import build_mae

    torch.manual_seed(0)
    cfg = apply_overrides(RunCfg(), {
        "data.image_size": 32, "model.vision.model_name": "custom", "model.vision.embed_dim": 32,
        "model.vision.depth": 1, "model.vision.num_heads": 2, "model.vision.patch_size": 8,
        "mae.decoder_dim": 16, "mae.decoder_depth": 1, "mae.decoder_heads": 2})
    return build_mae(cfg)


def test_to_display_min_max_against_loop():
    img = torch.tensor([[[0.0, 2.0], [4.0, 6.0]]]).repeat(3, 1, 1)
    out = to_display(img)
    ref = [[(v - 0.0) / 6.0 for v in row] for row in [[0.0, 2.0], [4.0, 6.0]]]
    assert np.allclose(out, ref)
    assert np.all(to_display(torch.ones(3, 4, 4)) == 0)  # flat image: no division by zero


def test_reconstruction_figure_layout(mae):
    import matplotlib.pyplot as plt

    fig = reconstruction_figure(mae, torch.randn(2, 3, 32, 32), ratios=[0.25, 0.75], seed=1)
    axes = fig.get_axes()
    assert len(axes) == 2 * (1 + 2 * 2)
    assert [a.get_title() for a in axes[:5]] == ["original", "25% masked", "recon.", "75% masked", "recon."]
    plt.close(fig)


def test_reconstruction_figure_rejects_bad_input(mae):
    with pytest.raises(ValueError, match="mask ratios"):
        reconstruction_figure(mae, torch.randn(1, 3, 32, 32), ratios=[1.0])
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        reconstruction_figure(mae, torch.randn(3, 32, 32))


def test_retrieval_examples_figure(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    path = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8)).save(path)
    t2i = [{"query": "pleural effusion", "label": "Pleural Effusion",
            "hits": [{"path": str(path), "label": "Pleural Effusion", "score": 0.5, "correct": True},
                     {"path": str(path), "label": "Edema", "score": 0.4, "correct": False}]}]
    i2t = [{"path": str(path), "label": "Edema",
            "hits": [{"report": "Mild edema.", "label": "Edema", "score": 0.3, "correct": True, "own": True}]}]
    fig = retrieval_examples_figure(t2i, i2t, size=32)
    titles = [a.get_title() for a in fig.get_axes()]
    assert "#1 sim 0.500\nPleural Effusion\n\u2713 same class" in titles and "IMAGE QUERY\nEdema" in titles
    assert "#2 sim 0.400\nEdema\n\u2717 other class" in titles  # correctness is written, not only coloured
    texts = [t.get_text() for a in fig.get_axes() for t in a.texts]
    assert any("(own report)" in t for t in texts)
    sizes = [t.get_fontsize() for a in fig.get_axes() for t in [*a.texts, a.title]]
    assert min(sizes) >= 9  # readable at the notebook's width
    plt.close(fig)
    with pytest.raises(ValueError, match="no examples"):
        retrieval_examples_figure([], [])


def test_confusion_figure_counts_and_shape_check():
    import matplotlib.pyplot as plt

    m = [[3, 1], [0, 2]]
    fig = confusion_figure(m, ["a", "b"])
    cells = sorted(t.get_text() for t in fig.get_axes()[0].texts)
    assert cells == sorted(str(v) for row in m for v in row)
    plt.close(fig)
    with pytest.raises(ValueError, match="2x2"):
        confusion_figure([[1, 2, 3]], ["a", "b"])
