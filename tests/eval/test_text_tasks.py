"""Text and style benchmarks: item building, scoring against plain loops, and oracle/random embedders."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from clinvla_kit.eval.text_tasks import (
    CHOICES,
    acronym_retrieval,
    error_discrimination_text,
    error_items,
    load_errors,
    load_variants,
    summarisation_retrieval,
    task_text,
)
from clinvla_kit.model.tiny_encoders import save_variants_dir


class HashEmbedder:
    """Random but fixed unit vector per text (a model that knows nothing)."""

    def texts(self, texts, clean=True):
        out = []
        for t in texts:
            rng = np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))
            v = rng.normal(size=16)
            out.append(v / np.linalg.norm(v))
        return np.array(out)


class OracleEmbedder:
    """Embeds a text by the study it belongs to (a perfect style-invariant encoder); wrong variants are far."""

    def __init__(self, owner: dict[str, int]):
        self.owner = owner

    def texts(self, texts, clean=True):
        out = np.zeros((len(texts), 512))
        for i, t in enumerate(texts):
            out[i, self.owner.get(t, 511) % 511] = 1.0
            if t not in self.owner:
                out[i] = HashEmbedder().texts([t])[0].repeat(32)[:512] / np.sqrt(32)
        return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = save_variants_dir(tmp_path_factory.mktemp("tv"), studies=40, seed=3)
    return d, load_variants(d), load_errors(d)


def test_items_are_four_choices_with_the_correct_first(data):
    _, _, errors = data
    items = error_items(errors, seed=0)
    assert items and items == error_items(errors, seed=0)
    for it in items:
        e = errors[it["study_id"]]
        assert len(it["choices"]) == CHOICES and it["choices"][0] == e["none"][0]
        own = [c for c in it["choices"][1:] if c in e[it["type"]]]
        assert len(own) == CHOICES - 1 - it["padded"] and len(set(it["choices"])) == CHOICES


def test_discrimination_matches_a_loop(data):
    _, variants, errors = data
    emb = HashEmbedder()
    res = error_discrimination_text(emb, variants, errors, n_boot=20)
    items = [it for it in error_items(errors, 0) if "structured" in variants[it["study_id"]]]
    hits = []
    for it in items:
        a = emb.texts([variants[it["study_id"]]["structured"]])[0]
        s = [float(a @ emb.texts([c])[0]) for c in it["choices"]]
        hits.append(float(all(s[0] > x for x in s[1:])))
    assert res["acc"] == pytest.approx(np.mean(hits)) and res["n"] == len(items) and res["chance"] == 0.25
    for t, r in res["per_type"].items():
        sel = [h for h, it in zip(hits, items) if it["type"] == t]
        assert r["acc"] == pytest.approx(np.mean(sel)) and r["n"] == len(sel)


def test_oracle_is_perfect_and_random_is_near_chance(data):
    _, variants, errors = data
    owner = {t: sid for sid, v in variants.items() for t in v.values()}
    owner.update({e["none"][0]: sid for sid, e in errors.items()})
    oracle = OracleEmbedder(owner)
    assert acronym_retrieval(oracle, variants, n_boot=10)["R@1"] == 1.0
    assert error_discrimination_text(oracle, variants, errors, n_boot=10)["acc"] == 1.0
    rnd = acronym_retrieval(HashEmbedder(), variants, n_boot=10)
    assert rnd["R@1"] < 0.3 and rnd["chance"]["R@1"] == pytest.approx(1 / rnd["n"])


def test_summarisation_and_task_text(data):
    d, variants, _ = data
    s = summarisation_retrieval(HashEmbedder(), variants, n_boot=10)
    assert s["n"] >= 2 and 0.0 <= s["R@1"] <= 1.0
    res = task_text(HashEmbedder(), d, n_boot=10)
    assert set(res) == {"acronym_retrieval", "error_discrimination_text", "summarisation_retrieval"}


def test_missing_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="report_variants.jsonl"):
        load_variants(tmp_path)
