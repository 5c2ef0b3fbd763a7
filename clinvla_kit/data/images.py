"""Reading, resizing and normalising radiographs.

Every reader returns a float32 ``[H, W]`` array in ``[0, 1]`` where *bright = dense* (bone white), whatever the
source format, so later steps (marker removal, quality screening, the dataset) never care where an image came from.

- PNG/JPG (8- or 16-bit): decoded with Pillow, divided by the dtype's maximum (255 or 65535). Pillow is used rather
  than ``cv2.imread`` because Pillow raises on a truncated file while OpenCV only prints a warning and returns a
  partly grey image, which would be a silent failure.
- DICOM: pydicom; modality LUT (RescaleSlope/Intercept, ``apply_modality_lut``) then the VOI LUT Sequence or
  WindowCenter/Width (``apply_windowing``), then min-max scaling of
  the windowed range to [0, 1] and MONOCHROME1 inversion (MONOCHROME1 stores bone dark).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from clinvla_kit.data.errors import DataError

NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | tuple[float, float]] = {
    "alta": (0.4785, 0.2834),  # ALTA (Lian et al. 2025): statistics of MIMIC-CXR grey values
    "gloria": (0.5, 0.5),  # GLoRIA: maps [0, 1] to [-1, 1]
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # for ImageNet-initialised timm backbones
}
"""Normalisation presets named after the protocol they come from: (mean, std), scalar or per channel (RGB)."""

DICOM_SUFFIXES = (".dcm", ".dicom")
JPEG_SUFFIXES = (".jpg", ".jpeg")
COLOUR_MODES = ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA")
"""Pillow modes that hold colour: converted to greyscale (ITU-R 601-2 luma, Pillow's ``convert("L")``)."""

log = logging.getLogger(__name__)
_NOTICES: set[str] = set()
"""Notices already given in this process ("once per run": one line, not one per image)."""


def _notice_once(key: str, message: str) -> None:
    if key not in _NOTICES:
        _NOTICES.add(key)
        log.warning(message)


def _bomb_error(path: Path, e: Exception) -> DataError:
    """Pillow's ``DecompressionBombError`` (an image over ``2 * Image.MAX_IMAGE_PIXELS``) as a DataError, so a run
    skips and counts the study instead of crashing."""
    from PIL import Image

    size = ""
    try:
        with open(path, "rb") as f:  # the PNG/JPEG header holds the size; Pillow's message only the pixel count
            head = f.read(64)
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            size = f"{int.from_bytes(head[16:20], 'big')}x{int.from_bytes(head[20:24], 'big')} "
    except OSError:
        pass
    return DataError(f"image {size}is too large to decode safely ({e}); Pillow refuses images over "
                     f"2 x Image.MAX_IMAGE_PIXELS = {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels. Downsample it, "
                     "or raise PIL.Image.MAX_IMAGE_PIXELS if the file is trusted", file=path)


def _check_jpeg_end(path: Path) -> None:
    """A complete JPEG ends with the end-of-image marker FF D9 (zero padding after it is tolerated).

    Why: Pillow's header read (``probe_image``) does not see a file cut off in its pixel data; reading the last
    bytes costs one seek. In entropy-coded data every FF byte is followed by 00 or a restart marker, so FF D9 at
    the end cannot occur by chance.
    """
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 1024))
        tail = f.read().rstrip(b"\x00")
    if not tail.endswith(b"\xff\xd9"):
        raise DataError("JPEG has no end-of-image marker (FF D9) at its end: the file is truncated "
                        "(an interrupted download or copy?)", file=path)


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _voi_lut_lookup(arr: np.ndarray, ds) -> np.ndarray:
    """Apply the first item of the VOI LUT Sequence (PS3.3 C.11.2): values below the first mapped value take the
    first entry, values past the table the last.

    Done here rather than with ``pydicom.pixels.apply_voi_lut`` because pydicom 3.0 computes the table index in the
    LUT's own dtype, so an 8-bit LUT with 256 entries wraps indices above 255 instead of clamping them.
    """
    from struct import unpack_from

    item = ds.VOILUTSequence[0]
    n, first = int(item.LUTDescriptor[0]) or 2**16, int(item.LUTDescriptor[1])
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):  # VR OW: raw 16-bit words
        little = getattr(ds, "file_meta", None) is None or ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.2"
        data = unpack_from(f"{'<' if little else '>'}{n}H", data)
    lut = np.asarray(data, dtype=np.float64).reshape(-1)
    if lut.size < n:
        raise ValueError(f"VOI LUT has {lut.size} entries but its descriptor says {n}")
    idx = np.clip(np.rint(np.asarray(arr, dtype=np.float64)) - first, 0, n - 1).astype(np.int64)
    return lut[idx]


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_windowing

    try:
        ds = pydicom.dcmread(path)
        raw = ds.pixel_array
    except Exception as e:  # pydicom raises many types (InvalidDicomError, AttributeError, ValueError, ...)
        raise DataError(f"cannot decode DICOM ({type(e).__name__}: {e})", file=path) from e
    if raw.ndim != 2:
        raise DataError(f"expected a single-frame greyscale DICOM, got pixel array of shape {raw.shape}", file=path)
    try:
        arr = apply_modality_lut(raw, ds)
        if ds.get("VOILUTSequence"):
            arr = _voi_lut_lookup(arr, ds)
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            arr = apply_windowing(np.asarray(arr, dtype=np.float64), ds, index=0)
    except Exception as e:
        raise DataError(f"cannot apply modality/VOI LUT ({type(e).__name__}: {e})", file=path) from e
    arr = np.asarray(arr, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    # Min-max of the windowed values: windowing already clips to its output range, so lo/hi are that range's ends.
    arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper() == "MONOCHROME1":
        arr = 1.0 - arr
    return arr.astype(np.float32)


def _read_raster(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()  # full decode: raises on truncated data
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                arr = np.asarray(im, dtype=np.uint16).astype(np.float32) / 65535.0
            elif mode == "I":  # 32-bit int mode; Pillow opens some 16-bit PNGs this way
                a = np.asarray(im, dtype=np.int64)
                scale = 65535.0 if a.max(initial=0) > 255 else 255.0
                arr = a.astype(np.float32) / scale
            elif mode == "F":
                arr = np.asarray(im, dtype=np.float32)
                lo, hi = float(arr.min()), float(arr.max())
                arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
            else:
                if mode in COLOUR_MODES:
                    _notice_once("colour", f"{path}: colour image (mode {mode}) converted to greyscale (ITU-R 601 "
                                           "luma); further colour images in this run are converted without notice")
                arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except Image.DecompressionBombError as e:
        raise _bomb_error(path, e) from e
    except FileNotFoundError as e:
        raise DataError("image file does not exist", file=path) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode image ({type(e).__name__}: {e})", file=path) from e
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def read_image(path: str | Path) -> np.ndarray:
    """Read a radiograph as float32 ``[H, W]`` in ``[0, 1]`` (bright = dense).

    Raises:
        DataError: naming the file, when it is missing, empty, corrupt or not a greyscale image.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("image file does not exist", file=path)
    if path.stat().st_size == 0:
        raise DataError("image file is empty (0 bytes)", file=path)
    arr = _read_dicom(path) if _is_dicom(path) else _read_raster(path)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise DataError(f"unexpected image shape {arr.shape}", file=path)
    return arr


def probe_image(path: str | Path) -> tuple[int, int]:
    """Quick header check without decoding pixels: returns (height, width).

    Used by ``validate`` for speed on large archives; ``read_image`` is the full check (``validate --deep``).
    A truncated JPEG is caught by its missing end-of-image marker; a JPEG damaged inside its data (bytes changed,
    length intact) passes this check and fails the full one.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("image file does not exist", file=path)
    if path.stat().st_size == 0:
        raise DataError("image file is empty (0 bytes)", file=path)
    if _is_dicom(path):
        import pydicom

        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            return int(ds.Rows), int(ds.Columns)
        except Exception as e:
            raise DataError(f"cannot read DICOM header ({type(e).__name__}: {e})", file=path) from e
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            fmt = im.format
            if path.suffix.lower() == ".png":
                im.verify()  # cheap for PNG (chunk CRCs), no pixel decode
    except Image.DecompressionBombError as e:
        raise _bomb_error(path, e) from e
    except Exception as e:
        raise DataError(f"cannot read image header ({type(e).__name__}: {e})", file=path) from e
    if fmt == "JPEG" or path.suffix.lower() in JPEG_SUFFIXES:
        _check_jpeg_end(path)
    return int(h), int(w)


def resize(img: np.ndarray, size: int, mode: str = "bilinear") -> np.ndarray:
    """Resize ``[H, W]`` to ``[size, size]``.

    Modes:
        "bilinear": straight to ``size x size`` (ALTA's protocol; chest films are close to square, so the small
            aspect change is preferred to cropping away lung bases).

    Shrinking is antialiased (OpenCV's area interpolation: each output pixel averages the input pixels it covers),
    enlarging is bilinear. This matches what Pillow's and torchvision's bilinear resize do; OpenCV's plain
    ``INTER_LINEAR`` reads only the 2x2 input pixels nearest each output pixel, so a 256 -> 64 shrink would keep
    one pixel in sixteen and its full noise (aliasing), which hides faint, coarse opacities from a small model.
        "resize_crop": shorter side to ``round(size * 256 / 224)`` keeping aspect, then a centre crop of ``size``
            (the ImageNet/GLoRIA protocol: 256 then 224).
    """
    import cv2

    if img.ndim != 2:
        raise ValueError(f"resize expects [H, W], got shape {img.shape}")
    img = np.ascontiguousarray(img, dtype=np.float32)

    def interp(h: int, w: int, nh: int, nw: int) -> int:
        return cv2.INTER_AREA if nh < h and nw < w else cv2.INTER_LINEAR

    if mode == "bilinear":
        return cv2.resize(img, (size, size), interpolation=interp(*img.shape, size, size))
    if mode == "resize_crop":
        short = round(size * 256 / 224)
        h, w = img.shape
        scale = short / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        out = cv2.resize(img, (nw, nh), interpolation=interp(h, w, nh, nw))
        top, left = (nh - size) // 2, (nw - size) // 2
        return np.ascontiguousarray(out[top : top + size, left : left + size])
    raise ValueError(f"unknown resize mode {mode!r}; use 'bilinear' or 'resize_crop'")


def normalization_stats(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean [3], std [3]) of a preset in ``NORMALIZATION``; scalar presets are repeated over the 3 channels."""
    if name not in NORMALIZATION:
        raise ValueError(f"unknown normalization {name!r}; choose one of {sorted(NORMALIZATION)}")
    mean, std = NORMALIZATION[name]
    m = np.broadcast_to(np.asarray(mean, dtype=np.float32), (3,)).copy()
    s = np.broadcast_to(np.asarray(std, dtype=np.float32), (3,)).copy()
    return m, s


def to_model_input(img: np.ndarray, normalization: str = "alta"):
    """``[H, W]`` in [0, 1] -> torch float ``[3, H, W]``: grey replicated to 3 channels (timm ViTs expect RGB),
    then ``(x - mean) / std`` per channel."""
    import torch

    mean, std = normalization_stats(normalization)
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).unsqueeze(0).expand(3, -1, -1)
    return (x - torch.from_numpy(mean).view(3, 1, 1)) / torch.from_numpy(std).view(3, 1, 1)


def denormalize(x, normalization: str = "alta") -> np.ndarray:
    """Inverse of ``to_model_input`` for display: ``[3, H, W]`` tensor -> ``[H, W]`` in [0, 1] (channel mean)."""
    mean, std = normalization_stats(normalization)
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float32)
    a = a * std.reshape(3, 1, 1) + mean.reshape(3, 1, 1)
    return np.clip(a.mean(axis=0), 0.0, 1.0)
