"""FAISS archive index: exact search against a brute-force loop, HNSW recall, save/load and errors."""

import json

import numpy as np
import pytest

from clinvla_kit.eval.index import ArchiveIndex, recall_against_exact, sidecar_path


def unit(n, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_matches_brute_force_and_roundtrips(tmp_path):
    x, q = unit(200, 16, 0), unit(5, 16, 1)
    ids = [f"s{i}" for i in range(200)]
    idx = ArchiveIndex.build(x * 3.0, ids, [f"/img/{i}.jpg" for i in range(200)], kind="flat")  # normalised inside
    hits = idx.search(q, k=4)
    for qi in range(5):
        scores = [sum(float(a) * float(b) for a, b in zip(q[qi], x[j])) for j in range(200)]
        best = sorted(range(200), key=lambda j: -scores[j])[:4]
        assert [h.study_id for h in hits[qi]] == [f"s{j}" for j in best]
        assert hits[qi][0].score == pytest.approx(scores[best[0]], abs=1e-5)
        assert hits[qi][0].path == f"/img/{best[0]}.jpg"
    idx.save(tmp_path / "a.faiss")
    back = ArchiveIndex.load(tmp_path / "a.faiss")
    assert back.kind == "flat" and len(back) == 200
    assert [h.study_id for h in back.search(q[0], k=4)[0]] == [h.study_id for h in hits[0]]


def test_hnsw_recall_and_sidecar_errors(tmp_path):
    x, q = unit(500, 16, 2), unit(20, 16, 3)
    ids = [str(i) for i in range(500)]
    exact = ArchiveIndex.build(x, ids, kind="flat").search_arrays(q, 10)[1]
    approx = ArchiveIndex.build(x, ids, kind="hnsw", hnsw_m=16, ef_search=200)
    assert recall_against_exact(approx.search_arrays(q, 10)[1], exact) >= 0.95
    approx.save(tmp_path / "h.faiss")
    meta = json.loads(sidecar_path(tmp_path / "h.faiss").read_text())
    meta["study_ids"] = meta["study_ids"][:-1]
    sidecar_path(tmp_path / "h.faiss").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="h.faiss.json"):
        ArchiveIndex.load(tmp_path / "h.faiss")
    sidecar_path(tmp_path / "h.faiss").unlink()
    with pytest.raises(FileNotFoundError, match="sidecar"):
        ArchiveIndex.load(tmp_path / "h.faiss")


def test_recall_against_exact_by_hand():
    assert recall_against_exact(np.array([[1, 2], [3, 9]]), np.array([[2, 1], [3, 4]])) == pytest.approx(0.75)


def test_bad_inputs():
    with pytest.raises(ValueError, match="study ids"):
        ArchiveIndex.build(unit(3, 4, 0), ["a"])
    with pytest.raises(ValueError, match="kind"):
        ArchiveIndex.build(unit(3, 4, 0), ["a", "b", "c"], kind="ivf-pq")
    idx = ArchiveIndex.build(unit(3, 4, 0), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        idx.search(unit(1, 5, 0))


def test_ivf_recall_and_roundtrip(tmp_path):
    x, q = unit(2000, 16, 4), unit(20, 16, 5)
    ids = [str(i) for i in range(2000)]
    exact = ArchiveIndex.build(x, ids, kind="flat").search_arrays(q, 10)[1]
    ivf = ArchiveIndex.build(x, ids, kind="ivf", nprobe=8)
    ivf.set_ef_search(ivf.index.nlist)  # scanning every cell is exact
    assert recall_against_exact(ivf.search_arrays(q, 10)[1], exact) == 1.0
    ivf.save(tmp_path / "i.faiss")
    back = ArchiveIndex.load(tmp_path / "i.faiss")
    back.set_ef_search(back.index.nlist)
    assert back.kind == "ivf" and recall_against_exact(back.search_arrays(q, 10)[1], exact) == 1.0


def test_truncated_index_or_sidecar_is_a_clear_error(tmp_path):
    """Issue 16 s4: a truncated FAISS file crashed `search` with a RuntimeError traceback from faiss."""
    import json

    from clinvla_kit.eval.index import ArchiveIndex, sidecar_path

    x = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    ArchiveIndex.build(x, [str(i) for i in range(20)]).save(tmp_path / "a.faiss")
    data = (tmp_path / "a.faiss").read_bytes()
    (tmp_path / "a.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"a.faiss: not a readable FAISS index"):
        ArchiveIndex.load(tmp_path / "a.faiss")
    (tmp_path / "a.faiss").write_bytes(data)
    side = sidecar_path(tmp_path / "a.faiss")
    side.write_text(side.read_text()[:30])
    with pytest.raises(ValueError, match=r"a.faiss.json: not valid JSON"):
        ArchiveIndex.load(tmp_path / "a.faiss")
    side.write_text(json.dumps({"kind": "flat"}))
    with pytest.raises(ValueError, match=r"a.faiss.json: .*missing"):
        ArchiveIndex.load(tmp_path / "a.faiss")
