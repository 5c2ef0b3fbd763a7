"""The archive cache: a second start reads the file instead of calling the model; a changed input is a new key."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from clinvla_kit.demo.cache import archive_key, load_or_build_archive


class Counting:
    """Wraps the stand-in model and counts encode calls."""

    def __init__(self, model):
        self.m, self.calls = model, 0

    def __getattr__(self, name):
        return getattr(self.m, name)

    def encode_image(self, *a, **kw):
        self.calls += 1
        return self.m.encode_image(*a, **kw)

    def encode_text(self, *a, **kw):
        self.calls += 1
        return self.m.encode_text(*a, **kw)


def test_second_start_reads_the_cache(model, records, tmp_path):
    counting = Counting(model)
    drop = [(), ("lateral",)]
    first, info = load_or_build_archive(counting, records, "w1", tmp_path, drop)
    assert not info["hit"] and info["path"].is_file() and counting.calls > 0
    calls = counting.calls
    msgs = []
    again, info2 = load_or_build_archive(counting, records, "w1", tmp_path, drop, status=msgs.append)
    assert info2["hit"] and counting.calls == calls and "precomputed" in msgs[0]
    assert torch.allclose(again.image_emb, first.image_emb)
    assert torch.allclose(again.report_embeddings(counting), first.report_embeddings(counting))
    assert torch.allclose(again.image_embeddings(counting, ("lateral",)), first.image_embeddings(counting, ("lateral",)))
    assert counting.calls == calls and again.reports == first.reports
    # reference for the dropped-lateral cache: every study embedded by hand without its lateral
    for i in range(len(records)):
        images, present = again.load_batch([i], ("lateral",))
        if present.any():
            assert torch.allclose(again.image_embeddings(counting, ("lateral",))[i],
                                  model.encode_image(images, present)[0], atol=1e-6)


def test_key_changes_with_weights_options_and_files(records):
    opts = {"image_size": 32}
    k = archive_key("w1", records, opts)
    assert archive_key("w2", records, opts) != k and archive_key("w1", records, {"image_size": 64}) != k
    assert archive_key("w1", records[:-1], opts) != k
    path = records[0].images["frontal"]
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    try:
        assert archive_key("w1", records, opts) != k
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_broken_cache_file_is_rebuilt(model, records, tmp_path):
    _, info = load_or_build_archive(model, records, "w1", tmp_path)
    info["path"].write_bytes(b"broken")
    _, info2 = load_or_build_archive(model, records, "w1", tmp_path)
    assert not info2["hit"] and info2["path"].stat().st_size > 100


def test_key_is_the_same_for_relative_and_absolute_paths(records, monkeypatch):
    """``make demo`` precomputes from the repository root, the app runs in notebooks/: one file, one key."""
    import dataclasses

    opts = {"image_size": 32}
    root = records[0].images["frontal"].parent
    (root / "notebooks").mkdir(exist_ok=True)
    monkeypatch.chdir(root / "notebooks")  # as the app's kernel: "../" + the archive's names
    relative = [dataclasses.replace(r, images={s: (Path("..") / p.relative_to(root) if p is not None else None)
                                               for s, p in r.images.items()}) for r in records]
    assert not relative[0].images["frontal"].is_absolute()
    assert archive_key("w1", relative, opts) == archive_key("w1", records, opts)
    (root.parent / "elsewhere").mkdir(exist_ok=True)
    monkeypatch.chdir(root.parent / "elsewhere")  # the same names now point at files that are not there
    assert archive_key("w1", relative, opts) != archive_key("w1", records, opts)
