"""Instance-retrieval ceilings against a brute-force simulation and hand-counted groups."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from clinvla_kit.eval.instance_ceiling import (
    annotation_signatures,
    instance_ceilings,
    label_signature,
    tied_recall_at_k,
)


def test_tied_recall_matches_a_random_tie_breaking_simulation():
    sigs = ["a"] * 12 + ["b"] * 3 + ["c"]
    rng = np.random.default_rng(0)
    hits = np.zeros(len(sigs))
    trials = 4000
    for _ in range(trials):
        for i, s in enumerate(sigs):
            group = [j for j, t in enumerate(sigs) if t == s]
            order = rng.permutation(group)  # the tie group first, in random order
            hits[i] += i in order[:5]
    np.testing.assert_allclose(tied_recall_at_k(sigs, 5), hits / trials, atol=0.03)
    assert list(tied_recall_at_k(sigs, 5)) == [5 / 12] * 12 + [1.0] * 4
    with pytest.raises(ValueError, match="k must be"):
        tied_recall_at_k(sigs, 0)


def test_annotation_signatures_merge_views_and_name_bad_rows(tmp_path):
    rows = [{"study_id": 1, "finding": "effusion", "side": "left", "view": "PA"},
            {"study_id": 1, "finding": "effusion", "side": "left", "view": "LATERAL"},
            {"study_id": 2, "finding": "edema", "side": ""}]
    path = tmp_path / "annotations.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    sigs = annotation_signatures(path, ["1", "2", "3"], fields=("finding", "side"))
    assert sigs == [(("effusion", "left"),), (("edema", ""),), ()]
    path.write_text('{"finding": "x"}\n')
    with pytest.raises(ValueError, match="annotations.jsonl, line 1"):
        annotation_signatures(path, ["1"])


def test_instance_ceilings_by_hand():
    recs = [SimpleNamespace(study_id=str(i), labels={"Edema": 1.0 if i < 2 else None, "Pneumonia": -1.0 if i == 0 else 0.0})
            for i in range(4)]
    out = instance_ceilings(recs, ["x", "x", "y", "z"], None, ks=(1,))
    assert out["report_text"] == {"R@1": pytest.approx((0.5 + 0.5 + 1 + 1) / 4), "groups": 3, "n": 4}
    # labels: {Edema, Pneumonia}, {Edema}, {}, {} -> groups of 1, 1, 2, 2
    assert out["labels"]["R@1"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert label_signature({"A": 1.0, "B": -1.0, "C": 0.0, "D": None}) == ("A", "B")
