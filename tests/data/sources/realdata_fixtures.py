"""Fixture writers for the real-data loader tests: tiny files in each data set's exact published format."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_image(path: Path, size: int = 32) -> Path:
    """A tiny grey image (JPEG or PNG by suffix) so the file is a real image, not a placeholder."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    img = (np.arange(size * size, dtype=np.uint32).reshape(size, size) % 251).astype(np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_dicom(path: Path, patient_id: str, size: int = 32, view: str = "PA") -> Path:
    """A minimal RSNA-style DICOM (MONOCHROME2, 8 bit) with the tags the RSNA files carry."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.PatientID = patient_id
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.full((size, size), 100, dtype=np.uint8).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path

