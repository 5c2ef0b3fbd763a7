"""Image reading (DICOM with MONOCHROME1 + VOI LUT, windowing, 16-bit PNG, corrupt files), resize, normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.images import (
    NORMALIZATION,
    denormalize,
    probe_image,
    read_image,
    resize,
    to_model_input,
)


def write_dicom(path: Path, pixels: np.ndarray, photometric: str, **extra) -> Path:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for k, v in extra.items():
        setattr(ds, k, v)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def test_dicom_monochrome1_with_voi_lut(tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    raw = (np.arange(64, dtype=np.int64).reshape(8, 8) * 60) % 4096
    first, n = 500, 256
    lut = [min(255, int(i * 1.5)) for i in range(n)]  # a non-linear (saturating) LUT mapping 500..755
    item = Dataset()
    item.LUTDescriptor = [n, first, 8]
    item.add_new(0x00283006, "US", lut)  # LUTData; explicit VR "US" (its VR is ambiguous US/OW)
    p = write_dicom(tmp_path / "x.dcm", raw, "MONOCHROME1", VOILUTSequence=Sequence([item]))
    got = read_image(p)
    # reference: LUT lookup with clamping, min-max to [0, 1], then inversion (MONOCHROME1 stores bone dark)
    mapped = np.zeros_like(raw, dtype=np.float64)
    for i in range(8):
        for j in range(8):
            mapped[i, j] = lut[min(max(raw[i, j] - first, 0), n - 1)]
    ref = 1.0 - (mapped - mapped.min()) / (mapped.max() - mapped.min())
    assert got.dtype == np.float32 and got.shape == (8, 8)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert got[0, 0] == 1.0  # lowest raw value is white after inversion


def test_dicom_rescale_and_window(tmp_path):
    raw = (np.arange(64, dtype=np.int64).reshape(8, 8) * 50) % 4096
    slope, intercept, c, w = 2.0, -1000.0, 1500.0, 2000.0
    p = write_dicom(tmp_path / "y", raw, "MONOCHROME2", RescaleSlope=slope, RescaleIntercept=intercept,
                    WindowCenter=c, WindowWidth=w)  # no suffix: found by the DICM magic
    got = read_image(p)
    ref = np.zeros((8, 8))
    for i in range(8):
        for j in range(8):
            x = raw[i, j] * slope + intercept
            ref[i, j] = min(1.0, max(0.0, (x - (c - 0.5)) / (w - 1) + 0.5))
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert probe_image(p) == (8, 8)


def test_png_16bit_and_8bit_jpg(tmp_path):
    from PIL import Image

    a = (np.arange(16 * 16, dtype=np.uint32).reshape(16, 16) * 250).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "a.png")
    got = read_image(tmp_path / "a.png")
    np.testing.assert_allclose(got, a / 65535.0, atol=1e-6)
    b = np.full((16, 24), 128, np.uint8)
    Image.fromarray(b).save(tmp_path / "b.jpg")
    assert read_image(tmp_path / "b.jpg").shape == (16, 24)
    assert abs(float(read_image(tmp_path / "b.jpg").mean()) - 128 / 255) < 0.01
    assert probe_image(tmp_path / "b.jpg") == (16, 24)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\xff\xd8\xff\xe0" + b"\x00" * 50])
def test_corrupt_file_names_the_file(tmp_path, content):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(DataError) as e:
        read_image(p)
    assert e.value.file == p and str(p) in str(e.value)


def test_truncated_jpeg_fails_full_decode(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "t.jpg", quality=95)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t.jpg"):
        read_image(tmp_path / "t.jpg")
    with pytest.raises(DataError, match="does not exist"):
        read_image(tmp_path / "missing.jpg")


def test_resize_modes():
    img = np.random.default_rng(0).random((60, 80)).astype(np.float32)
    assert resize(img, 32).shape == (32, 32)
    out = resize(img, 224, "resize_crop")
    assert out.shape == (224, 224)
    # resize_crop: shorter side to 256 (for 224), centre crop: a constant column band stays centred
    band = np.zeros((100, 200), np.float32)
    band[:, 95:105] = 1.0
    crop = resize(band, 56, "resize_crop")  # short side 64 -> 64x128, crop columns 36..91
    cols = np.where(crop.mean(axis=0) > 0.5)[0]
    assert abs(cols.mean() - 27.5) <= 1.0
    with pytest.raises(ValueError):
        resize(img, 32, "nearest")


def test_resize_shrinks_with_antialiasing():
    """A 256 -> 64 shrink averages each 4x4 block (what Pillow/torchvision bilinear do), so a pixel-level
    checkerboard becomes flat grey instead of aliasing into a pattern; enlarging stays bilinear."""
    img = np.random.default_rng(1).random((256, 256)).astype(np.float32)
    img[::2, ::2] += 1.0  # fine pattern: plain bilinear sampling would pick it up unevenly
    expected = img.reshape(64, 4, 64, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(resize(img, 64), expected, atol=1e-5)
    small = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    big = resize(small, 4)
    assert big.shape == (4, 4) and 0.0 < big[1, 1] < 1.0  # interpolated, not block-replicated


def test_normalization_presets():
    assert NORMALIZATION["alta"] == (0.4785, 0.2834) and NORMALIZATION["gloria"] == (0.5, 0.5)
    img = np.full((4, 4), 0.4785, np.float32)
    x = to_model_input(img, "alta")
    assert x.shape == (3, 4, 4) and torch.allclose(x, torch.zeros_like(x), atol=1e-6)
    y = to_model_input(np.ones((4, 4), np.float32), "gloria")
    assert torch.allclose(y, torch.ones_like(y))
    z = to_model_input(np.full((2, 2), 0.485, np.float32), "imagenet")
    assert abs(float(z[0, 0, 0])) < 1e-6 and float(z[2, 0, 0]) > 0
    np.testing.assert_allclose(denormalize(to_model_input(img, "imagenet"), "imagenet"), img, atol=1e-6)
    with pytest.raises(ValueError, match="unknown normalization"):
        to_model_input(img, "clip")


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width x height`` 8-bit grey pixels (IHDR) with a one-row IDAT: enough for Pillow's
    decompression-bomb check, which runs on the header, without allocating the image."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_oversize_image_is_a_data_error_not_a_crash(tmp_path):
    """Issue 16 s4: a 14000 x 14000 image raised Pillow's DecompressionBombError (not a DataError) in train/search."""
    p = png_header_only(tmp_path / "huge.png", 14000, 14000)
    for fn in (read_image, probe_image):
        with pytest.raises(DataError, match=r"huge.png.*14000x14000.*MAX_IMAGE_PIXELS"):
            fn(p)


def test_rgb_image_is_converted_with_one_notice_per_run(tmp_path, caplog):
    from PIL import Image

    from clinvla_kit.data import images

    images._NOTICES.clear()
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    for name in ("a.png", "b.png"):
        Image.fromarray(rgb).save(tmp_path / name)
    with caplog.at_level("WARNING"):
        a = read_image(tmp_path / "a.png")
        read_image(tmp_path / "b.png")
    assert a.shape == (8, 8) and a.max() == pytest.approx(round(200 * 0.299) / 255, abs=1 / 255)  # ITU-R 601 luma
    notes = [r.getMessage() for r in caplog.records if "RGB" in r.getMessage()]
    assert len(notes) == 1 and "a.png" in notes[0] and "greyscale" in notes[0]


def test_truncated_jpeg_fails_the_cheap_header_check(tmp_path):
    """Issue 16 s4: `validate` without --deep passed a truncated JPEG; the end-of-image marker is checked now."""
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "t.jpg")
    assert probe_image(tmp_path / "t.jpg") == (64, 64)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "pad.jpg").write_bytes(data + b"\x00" * 16)  # zero padding after the marker is fine
    assert probe_image(tmp_path / "pad.jpg") == (64, 64)
    (tmp_path / "t.jpg").write_bytes(data[: len(data) - 100])
    with pytest.raises(DataError, match=r"t.jpg.*end-of-image marker"):
        probe_image(tmp_path / "t.jpg")
