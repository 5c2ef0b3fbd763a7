"""RLE against a plain loop reference."""

import numpy as np

from clinvla_kit.synth.rle import mask_bbox, rle_decode, rle_encode


def _reference_runs(mask: np.ndarray) -> list[int]:
    runs, cur, n = [], 0, 0
    for v in mask.ravel().tolist():
        v = int(bool(v))
        if v == cur:
            n += 1
        else:
            runs.append(n)
            cur, n = v, 1
    runs.append(n)
    return runs


def test_rle_matches_loop_reference_and_round_trips():
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (16, 16), (1, 1)]:
        for p in (0.0, 0.3, 1.0):
            m = (rng.random(shape) < p).astype(np.uint8)
            rle = rle_encode(m)
            assert rle["size"] == list(shape)
            assert rle["counts"] == _reference_runs(m)
            assert np.array_equal(rle_decode(rle), m)


def test_bbox_reference():
    m = np.zeros((10, 12), np.uint8)
    m[2:5, 3:9] = 1
    m[7, 1] = 1
    assert mask_bbox(m) == [1, 2, 8, 6]
    assert mask_bbox(np.zeros((4, 4))) is None
