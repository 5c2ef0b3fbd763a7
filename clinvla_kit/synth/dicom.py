"""Writing RSNA-style DICOM files with pydicom (valid file meta, deterministic UIDs, several pixel encodings).

Variants (so the DICOM reader has real work): 0 MONOCHROME2 8-bit; 1 MONOCHROME1 8-bit with inverted pixels;
2 MONOCHROME2 16-bit (12 bits stored) with RescaleSlope/RescaleIntercept and WindowCenter/WindowWidth;
3 MONOCHROME1 16-bit, inverted, with a window. Displayed intensity = the source JPEG in every case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def write_dicom(path: Path, image: np.ndarray, patient_id: str, variant: int, uid_seed: tuple[int, int]) -> None:
    """Write uint8 [H, W] ``image`` as a DICOM file of the given variant (0-3)."""
    uid = lambda tag: generate_uid(entropy_srcs=[str(uid_seed[0]), str(uid_seed[1]), tag])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _SECONDARY_CAPTURE
    meta.MediaStorageSOPInstanceUID = uid("sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid(entropy_srcs=["clinvla-kit synthcxr"])
    ds = FileDataset(str(path), Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = _SECONDARY_CAPTURE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid("study"), uid("series")
    ds.PatientID = ds.PatientName = patient_id
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "CR", "CHEST", "PA"
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel = 1
    ds.PixelRepresentation = 0
    mono1 = variant in (1, 3)
    ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
    if variant in (0, 1):
        px = (255 - image) if mono1 else image
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = np.ascontiguousarray(px, dtype=np.uint8).tobytes()
    else:
        # 12-bit stored values; modality value = stored * slope + intercept spans 0..4095, window shows it all.
        slope, intercept = (1.0, 0.0) if variant == 3 else (2.0, -1024.0)
        val = image.astype(np.float64) * 4095.0 / 255.0
        if mono1:
            val = 4095.0 - val
        stored = np.round((val - intercept) / slope).astype(np.uint16)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
        ds.WindowCenter, ds.WindowWidth = "2048", "4096"
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
