"""Masked-record modelling: compact vocabulary, word masking, the conditioned report decoder, the MRM loss and the
encoder it saves."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from clinvla_kit.config import apply_overrides
from clinvla_kit.model.mrm import MASK, MRM, PAD, UNK, compact_vocabulary, mask_words
from tests.model.conftest import make_batch


class _Tok:
    """The two things MRM reads from a tokenizer."""

    vocab_size = 40
    all_special_ids = [0, 2, 3]


def _cfg(tiny_cfg):
    return apply_overrides(tiny_cfg, {"mae.mask_ratio": 0.75, "mrm.text_dim": 16, "mrm.text_depth": 1,
                                      "mrm.text_heads": 2, "model.vision.pooling": "cls"})


def _mrm(tiny_cfg, vocab=(2, 3, 7, 9, 11, 20)):
    torch.manual_seed(0)
    return MRM(_cfg(tiny_cfg), _Tok(), torch.tensor(vocab))


def test_compact_vocabulary_and_lookup(tiny_cfg):
    ids = torch.tensor([[2, 9, 9, 7], [2, 11, 0, 0]])
    assert compact_vocabulary(ids, 40).tolist() == [0, 2, 7, 9, 11]
    with pytest.raises(ValueError, match="vocabulary"):
        compact_vocabulary(torch.tensor([41]), 40)
    m = _mrm(tiny_cfg)
    plain = {2: 3, 3: 4, 7: 5, 9: 6, 11: 7, 20: 8}  # reference: position in the sorted vocabulary + 3 reserved
    got = m.compact(torch.tensor([[2, 3, 7, 9, 11, 20, 5, 39, 200]]))[0].tolist()
    assert got == [plain[i] for i in (2, 3, 7, 9, 11, 20)] + [UNK, UNK, UNK]


def test_mask_words_masks_the_share_of_real_words_and_at_least_one():
    g = torch.Generator().manual_seed(0)
    ids = torch.arange(5, 5 + 2 * 200).reshape(2, 200)
    words = torch.ones(2, 200, dtype=torch.bool)
    words[1, 1:] = False  # a report with one real word
    masked, labels = mask_words(ids, words, 0.5, g)
    share = (labels[0] != -100).float().mean().item()
    assert 0.4 < share < 0.6
    assert (labels[1] != -100).sum() == 1 and labels[1, 0] == ids[1, 0]
    chosen = labels != -100
    assert (masked[chosen] == MASK).all() and torch.equal(masked[~chosen], ids[~chosen])
    assert torch.equal(labels[chosen], ids[chosen])


def test_mrm_loss_trains_the_vit_and_reads_the_image(tiny_cfg):
    m = _mrm(tiny_cfg).train()
    batch = make_batch(type("M", (), {"cfg": tiny_cfg, "tokenize": staticmethod(_tokenize)})(), b=3)
    batch = dataclasses.replace(batch, present=torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]]).bool())
    loss, terms = m(batch, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and terms["mae"] > 0 and terms["mlm"] > 0
    assert torch.allclose(loss, terms["mae"] + m.cfg.mrm.mlm_weight * terms["mlm"])
    loss.backward()
    vit_grads = [p.grad for n, p in m.vision.vit.named_parameters() if "blocks" in n]
    assert all(g is not None and g.abs().sum() > 0 for g in vit_grads)
    assert m.vision.view_embed.grad is None and not m.vision.missing_token.requires_grad
    # the report decoder reads the image: a different image embedding changes the masked-word logits
    dec = m.report_decoder
    ids = torch.full((2, 5), MASK)
    mask = torch.ones(2, 5, dtype=torch.long)
    img = torch.randn(2, m.vision.dim)
    assert not torch.allclose(dec(ids, mask, img), dec(ids, mask, torch.randn(2, m.vision.dim)))
    assert dec.tokens.padding_idx == PAD


def test_encoder_state_dict_loads_into_a_fresh_tower(tiny_cfg, tmp_path):
    from clinvla_kit.model.checkpoints import load_vit_checkpoint
    from clinvla_kit.model.vision import build_vit

    m = _mrm(tiny_cfg)
    path = m.save_encoder(tmp_path)
    vit = build_vit(_cfg(tiny_cfg).model.vision, tiny_cfg.data.image_size)
    load_vit_checkpoint(vit, path)  # strict: raises on any missing or unexpected key
    for k, v in vit.state_dict().items():
        assert torch.equal(v, m.vision.vit.state_dict()[k]), k


def _tokenize(texts):
    """Stand-in tokenizer: word index + 5 in a 40-word table, [CLS]=2 ... [SEP]=3, padded with 0."""
    rows = [[2] + [5 + sum(map(ord, w)) % 30 for w in t.split()][:10] + [3] for t in texts]
    width = max(map(len, rows))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def test_pretrain_mrm_cli_runs_and_refuses_to_overwrite(tmp_path, capsys):
    """Two steps end to end on a small SynthCXR; a second run into the same folder needs --resume or --overwrite."""
    from clinvla_kit.cli import main
    from clinvla_kit.synth.generate import generate

    data, out = tmp_path / "data", tmp_path / "mrm"
    generate(data, 16, 0, image_size=32, workers=1)
    args = ["pretrain-mrm", "--data", str(data), "--out", str(out), "--max-steps", "2", "--set",
            "data.image_size=32", "model.vision.model_name=custom", "model.vision.embed_dim=32",
            "model.vision.depth=1", "model.vision.num_heads=2", "model.vision.patch_size=8",
            "model.vision.checkpoint=null", "mae.batch_size=4", "mae.decoder_dim=16", "mae.decoder_depth=1",
            "mae.decoder_heads=2", "mrm.text_dim=16", "mrm.text_depth=1", "mrm.text_heads=2"]
    assert main(args) == 0
    assert (out / "encoder.safetensors").is_file() and (out / "mrm_vocab.json").is_file()
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_report_branch_reads_the_whole_frontal_view_when_asked(tiny_cfg):
    """``mrm.report_view_mask_ratio=0``: the report decoder's image input is the CLS of a plain, unmasked ViT pass
    of each study's frontal view (its first present view without one), not the masked MAE pass's token."""
    cfg = apply_overrides(_cfg(tiny_cfg), {"mrm.report_view_mask_ratio": 0.0})
    torch.manual_seed(0)
    m = MRM(cfg, _Tok(), torch.tensor((2, 3, 7, 9, 11, 20))).eval()
    batch = make_batch(type("M", (), {"cfg": tiny_cfg, "tokenize": staticmethod(_tokenize)})(), b=3)
    batch = dataclasses.replace(batch, present=torch.tensor([[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]]).bool())
    seen = {}
    m.report_decoder.register_forward_hook(lambda mod, args, out: seen.update(image=args[2]))
    m(batch, generator=torch.Generator().manual_seed(0))
    views = torch.stack([batch.images[0, 0], batch.images[1, 1], batch.images[2, 0]])
    with torch.no_grad():
        reference = m.vision.vit.forward_features(views)[:, 0]  # timm's own forward, CLS after the final norm
    assert torch.allclose(seen["image"], reference, atol=1e-5)
    m.train()
    loss, _ = m(batch, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)


def test_report_contrast_term_is_infonce_of_the_two_heads(tiny_cfg):
    """``mrm.itc_weight``: loss = MAE + MLM + w * InfoNCE(image head(report-branch image), text head(frozen report
    embedding)); the plain reference below recomputes the InfoNCE by hand from the heads' outputs."""
    import torch.nn.functional as F

    cfg = apply_overrides(_cfg(tiny_cfg), {"mrm.report_view_mask_ratio": 0.0, "mrm.itc_weight": 0.5,
                                           "mrm.itc_dim": 8})
    torch.manual_seed(0)
    m = MRM(cfg, _Tok(), torch.tensor((2, 3, 7, 9, 11, 20))).eval()
    batch = make_batch(type("M", (), {"cfg": tiny_cfg, "tokenize": staticmethod(_tokenize)})(), b=4)
    seen = {}
    m.report_decoder.register_forward_hook(lambda mod, args, out: seen.update(image=args[2]))
    loss, terms = m(batch, generator=torch.Generator().manual_seed(0))
    assert not any(p.requires_grad for p in m.itc.text.parameters())
    with torch.no_grad():
        h = m.itc.text.backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        if cfg.model.text.pooling == "cls":
            report = h[:, 0]
        else:
            w = batch.attention_mask[..., None].float()
            report = (h * w).sum(1) / w.sum(1)
        a = F.normalize(m.itc.img_head(seen["image"]), dim=-1)
        b = F.normalize(m.itc.txt_head(report), dim=-1)
        logits = a @ b.T / 0.07
        target = torch.arange(4)
        ref = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    assert torch.allclose(terms["itc"], ref, atol=1e-5)
    assert torch.allclose(loss, terms["mae"] + cfg.mrm.mlm_weight * terms["mlm"] + 0.5 * terms["itc"], atol=1e-5)
    m.train()
    loss, _ = m(batch, generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert m.itc.img_head.proj.weight.grad is not None and m.itc.txt_head.proj.weight.grad is not None
