"""Ground-truth masks looked up by image file, from a SynthCXR-style annotations.jsonl written here."""

from __future__ import annotations

import json

import numpy as np

from clinvla_kit.demo.masks import MaskIndex
from clinvla_kit.synth.rle import rle_encode


def test_masks_by_image_path(tmp_path):
    m = np.zeros((8, 8), dtype=bool)
    m[2:5, 3:6] = True
    rows = [{"dicom_id": "abc", "finding": "pleural_effusion", "label": "Pleural Effusion", "mask": rle_encode(m)},
            {"dicom_id": "abc", "finding": "marker", "mask": None}]
    (tmp_path / "annotations.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    idx = MaskIndex.from_data_dir(tmp_path)
    found = idx.masks_for(tmp_path / "files" / "abc.jpg")
    assert bool(idx) and [n for n, _ in found] == ["Pleural Effusion"] and np.array_equal(found[0][1], m)
    assert idx.masks_for(tmp_path / "other.jpg") == [] and idx.masks_for(None) == []
    assert not MaskIndex.from_data_dir(tmp_path / "nothing")
