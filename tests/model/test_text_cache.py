"""Frozen text-feature cache: same outputs as the uncached tower, each report encoded once, only when static."""

from __future__ import annotations

import torch

from clinvla_kit.config import AdapterCfg, TextCfg
from clinvla_kit.model.text import TextTower

NO_ADAPTERS = AdapterCfg(bottleneck=4, transformer_adapt_towers=(), invertible_towers=())
REPORTS = ["no acute process", "small left pleural effusion", "no acute process", "moderate right pneumothorax"]


def _tower(tiny_bert_dir, **text) -> TextTower:
    cfg = TextCfg(name_or_path=tiny_bert_dir, pooling="mean", dropout=0.0, cache_features=True, **text)
    return TextTower(cfg, NO_ADAPTERS)


def _encode(tower, reports, width=None):
    enc = tower.tokenizer(reports, padding="max_length" if width else "longest", max_length=width,
                          return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def _backbone_batch_sizes(tower) -> list[int]:
    sizes: list[int] = []
    tower.backbone.register_forward_hook(lambda mod, args, kwargs, out: sizes.append(len(kwargs["input_ids"])),
                                         with_kwargs=True)
    return sizes


def test_cached_outputs_equal_the_uncached_tower(tiny_bert_dir):
    tower = _tower(tiny_bert_dir).train()  # train mode: dropout 0 makes it deterministic
    assert tower.cache is not None
    ids, mask = _encode(tower, REPORTS)
    ref = tower.encode(ids, mask)
    for _ in range(2):  # first call fills the cache, second reads it
        out = tower(ids, mask)
        real = mask.bool()
        assert torch.allclose(out.global_emb, ref.global_emb, atol=1e-6)
        assert torch.allclose(out.word_emb[real], ref.word_emb[real], atol=1e-6)
        assert torch.equal(out.word_mask, ref.word_mask) and out.word_emb.shape == ref.word_emb.shape
        assert not out.word_emb[~real].any()  # padding positions are zeros


def test_each_distinct_report_is_encoded_once_whatever_the_padding(tiny_bert_dir):
    tower = _tower(tiny_bert_dir).eval()
    sizes = _backbone_batch_sizes(tower)
    tower(*_encode(tower, REPORTS))
    assert sizes == [3] and len(tower.cache) == 3  # the repeated report is encoded once
    out = tower(*_encode(tower, REPORTS[:2] + ["left lower lobe consolidation"], width=12))  # other padded length
    assert sizes == [3, 1] and tower.cache.hits == 1 + 2 and tower.cache.misses == 4
    ref = tower.encode(*_encode(tower, ["left lower lobe consolidation"]))
    assert torch.allclose(out.global_emb[2], ref.global_emb[0], atol=1e-6)


def test_loading_weights_clears_the_cache(tiny_bert_dir):
    tower = _tower(tiny_bert_dir).eval()
    ids, mask = _encode(tower, REPORTS)
    before = tower(ids, mask).global_emb
    state = {k: v + 0.01 if v.is_floating_point() else v for k, v in tower.state_dict().items()}
    tower.load_state_dict(state)
    assert len(tower.cache) == 0
    after = tower(ids, mask).global_emb
    assert torch.allclose(after, tower.encode(ids, mask).global_emb, atol=1e-6)
    assert not torch.allclose(after, before, atol=1e-4)


def test_no_cache_where_the_tower_trains_or_is_random(tiny_bert_dir, capsys):
    adapted = TextTower(TextCfg(name_or_path=tiny_bert_dir, dropout=0.0, cache_features=True),
                        AdapterCfg(bottleneck=4, transformer_adapt_towers=("text",), invertible_towers=()))
    assert adapted.cache is None and "the text tower trains" in capsys.readouterr().err
    assert _tower(tiny_bert_dir, freeze_backbone=False).cache is None
    noisy = TextTower(TextCfg(name_or_path=tiny_bert_dir, cache_features=True), NO_ADAPTERS)
    assert noisy.cache is None and "model.text.dropout is None" in capsys.readouterr().err
    assert TextTower(TextCfg(name_or_path=tiny_bert_dir, dropout=0.0), NO_ADAPTERS).cache is None  # off by default
