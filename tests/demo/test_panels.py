"""Side panels: masking / MAE reconstruction, adapters on/off, zero-shot prompt editor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clinvla_kit.demo import panels


def test_masking_without_mae_hides_the_ratio():
    img = torch.randn(3, 64, 64)
    m = panels.masked_reconstruction(img, 0.75, patch=16, seed=1)
    assert m["reconstruction"] is None and m["original"].shape == (64, 64)
    hidden = [(m["masked"][r:r + 16, c:c + 16] == 0).all() for r in range(0, 64, 16) for c in range(0, 64, 16)]
    assert sum(hidden) == 12  # 16 patches, 4 kept
    with pytest.raises(ValueError, match="mask ratio"):
        panels.masked_reconstruction(img, 1.0)


def test_masking_with_a_real_mae():
    from clinvla_kit.config import RunCfg, apply_overrides
    from clinvla_kit.model.mae import build_mae

    cfg = apply_overrides(RunCfg(), ["data.image_size=32", "model.vision.model_name=custom", "model.vision.embed_dim=32",
                                     "model.vision.depth=1", "model.vision.num_heads=2", "mae.decoder_dim=16",
                                     "mae.decoder_depth=1", "mae.decoder_heads=2"])
    mae = build_mae(cfg)
    m = panels.masked_reconstruction(torch.randn(3, 32, 32), 0.5, patch=16, mae=mae)
    assert m["reconstruction"].shape == (32, 32) and np.isfinite(m["reconstruction"]).all()


def test_adapter_summary_and_disable(model, archive):
    s = panels.adapter_summary(model)
    n_words = model.words.numel()
    assert s["total"] == 3 * 8 + n_words + 8 + 4 and s["trainable"] == 3 * 8 + n_words + 8 and s["adapter"] == 8
    assert s["trainable_share"] == pytest.approx(s["trainable"] / s["total"])
    before = model.adapter.detach().clone()
    with panels.adapters_disabled(model) as n:
        assert n == 1 and (model.adapter == 0).all()
    assert torch.equal(model.adapter, before)


def test_prompt_text_round_trip_and_errors():
    p = {"Edema": ["pulmonary edema", "vascular congestion"], "Cardiomegaly": ["enlarged heart"]}
    assert panels.parse_prompts(panels.format_prompts(p)) == p
    with pytest.raises(ValueError, match="line 2"):
        panels.parse_prompts("Edema: edema\nno colon here")
    with pytest.raises(ValueError, match="no prompts"):
        panels.parse_prompts("\n  \n")


def test_zeroshot_rescore_matches_loop(model, archive):
    classes = ["Pleural Effusion", "Cardiomegaly"]
    prompts = {"Pleural Effusion": ["pleural effusion", "fluid in the pleural space"], "Cardiomegaly": ["big heart"]}
    emb = archive.image_emb
    labels = [0, 1, 0, 1, 0, 1]
    r = panels.zeroshot_rescore(model, archive.tokenize, emb, labels, classes, prompts)
    # reference: class vector = normalised mean of normalised prompt embeddings; predict the max cosine
    cls_vecs = []
    for c in classes:
        vs = []
        for t in prompts[c]:
            ids, mask = archive.tokenize(t)
            v = model.encode_text(ids[None], mask[None], normalize=False)[0].detach().tolist()
            n = math.sqrt(sum(x * x for x in v))
            vs.append([x / n for x in v])
        cls_vecs.append([sum(col) / len(vs) for col in zip(*vs)])
    correct = 0
    for i, y in enumerate(labels):
        e = emb[i].tolist()
        sims = [sum(a * b for a, b in zip(e, v)) / math.sqrt(sum(b * b for b in v)) for v in cls_vecs]
        correct += int(max(range(2), key=lambda k: (sims[k], -k)) == y)
    assert r["acc"] == pytest.approx(correct / 6) and sum(map(sum, r["confusion"])) == 6
    with pytest.raises(ValueError, match="no prompt for class"):
        panels.zeroshot_rescore(model, archive.tokenize, emb, labels, classes, {"Cardiomegaly": ["x"]})


def test_embed_image_files(model, records):
    emb = panels.embed_image_files(model, [records[0].images["frontal"], records[1].images["frontal"]], model.cfg.data)
    images, present = torch.zeros(1, 4, 3, 32, 32), torch.zeros(1, 4, dtype=torch.bool)
    from clinvla_kit.data.images import read_image, resize, to_model_input

    images[0, 0] = to_model_input(resize(read_image(records[1].images["frontal"]), 32), model.cfg.data.normalization)
    present[0, 0] = True
    assert torch.allclose(emb[1], model.encode_image(images, present)[0], atol=1e-6)


def test_load_mae_from_a_run_dir(tmp_path):
    import torch

    from clinvla_kit.config import RunCfg, apply_overrides, save_config
    from clinvla_kit.model.mae import build_mae
    from clinvla_kit.train.checkpoint import FORMAT_VERSION

    cfg = apply_overrides(RunCfg(), ["data.image_size=32", "model.vision.model_name=custom", "model.vision.embed_dim=32",
                                     "model.vision.depth=1", "model.vision.num_heads=2", "mae.decoder_dim=16",
                                     "mae.decoder_depth=1", "mae.decoder_heads=2"])
    with pytest.raises(FileNotFoundError, match="config.json"):
        panels.load_mae(tmp_path)
    mae = build_mae(cfg)
    save_config(cfg, tmp_path / "config.json")
    (tmp_path / "checkpoint").mkdir()
    torch.save({"format": FORMAT_VERSION, "model": mae.state_dict()}, tmp_path / "checkpoint" / "last.pt")
    loaded = panels.load_mae(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), mae.state_dict().values()))
