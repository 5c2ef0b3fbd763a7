"""RSNA-style DICOMs: every variant reads back with pydicom and shows the same picture after VOI handling."""

import numpy as np
import pydicom

from clinvla_kit.synth.dicom import write_dicom


def test_variants_round_trip(tmp_path):
    img = (np.arange(32 * 32).reshape(32, 32) % 256).astype(np.uint8)
    for v in range(4):
        path = tmp_path / f"v{v}.dcm"
        write_dicom(path, img, f"pid{v}", variant=v, uid_seed=(0, v))
        ds = pydicom.dcmread(path)
        px = ds.pixel_array.astype(np.float64)
        px = px * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))
        top = 255.0 if ds.BitsAllocated == 8 else 4095.0
        if ds.PhotometricInterpretation == "MONOCHROME1":
            px = top - px
        back = px / top * 255.0
        assert np.abs(back - img).max() <= 1.0, v
        assert ds.PhotometricInterpretation == ("MONOCHROME1" if v in (1, 3) else "MONOCHROME2")
    # deterministic bytes
    write_dicom(tmp_path / "again.dcm", img, "pid3", variant=3, uid_seed=(0, 3))
    assert (tmp_path / "again.dcm").read_bytes() == (tmp_path / "v3.dcm").read_bytes()
