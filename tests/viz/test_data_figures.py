"""Figures of the data notebook, each checked against a plain reference written here (loops, no library code)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from clinvla_kit.data.quality import QualityResult
from clinvla_kit.viz.data_figures import (
    dicom_header,
    dicom_stages,
    draw_boxes,
    label_comparison,
    marker_figure,
    masked_views,
    normalization_figure,
    normalization_table,
    quality_figure,
    tokens_html,
)


def test_draw_boxes_outlines_exactly_the_box_edges():
    img = np.full((12, 16), 0.5, dtype=np.float32)
    boxes = [(2, 3, 7, 9), (10, 0, 16, 4)]
    out = draw_boxes(img, boxes, color=(1.0, 0.0, 0.0))
    expected = np.zeros((12, 16), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        for y in range(y0, y1):
            for x in range(x0, x1):
                if y in (y0, y1 - 1) or x in (x0, x1 - 1):
                    expected[y, x] = True
    red = (out[..., 0] == 1.0) & (out[..., 1] == 0.0) & (out[..., 2] == 0.0)
    assert out.shape == (12, 16, 3)
    assert (red == expected).all()
    assert np.allclose(out[~expected], 0.5)


def test_draw_boxes_rejects_rgb():
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        draw_boxes(np.zeros((4, 4, 3)), [])


def test_marker_figure_panels_and_shape_check():
    a = np.zeros((16, 16), dtype=np.float32)
    b = a.copy()
    b[1, 1] = 1.0
    fig = marker_figure(a, b, [(0, 0, 3, 3)], title="t")
    assert [ax.get_title() for ax in fig.axes][:3] == ["before: 1 marker box(es)", "after inpainting",
                                                       "changed pixels"]
    with pytest.raises(ValueError, match="differ in shape"):
        marker_figure(a, np.zeros((8, 8)), [])


def test_quality_figure_titles_carry_the_reason():
    imgs = [np.zeros((8, 8)), np.ones((8, 8))]
    res = [QualityResult(True, "ok", 0.0, 100.0), QualityResult(False, "blurred: variance 3 < 60", 0.1, 3.0)]
    fig = quality_figure(imgs, res, names=["a", "b"], ncols=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("a: OK") and "REJECT" in titles[1] and "blurred" in titles[1].replace("\n", " ")
    with pytest.raises(ValueError, match="2 images but 1 results"):
        quality_figure(imgs, res[:1])


def _write_dicom(path, pixels: np.ndarray, photometric: str, slope: float, intercept: float,
                 center: float | None, width: float | None) -> None:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality, ds.PatientID = "CR", "x"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if center is not None:
        ds.WindowCenter, ds.WindowWidth = center, width
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)


def _ref_window(x: float, c: float, w: float) -> float:
    """DICOM PS3.3 C.11.2.1.2 linear VOI function onto [0, 1]."""
    if x <= c - 0.5 - (w - 1) / 2:
        return 0.0
    if x > c - 0.5 + (w - 1) / 2:
        return 1.0
    return (x - (c - 0.5)) / (w - 1) + 0.5


def test_dicom_stages_monochrome1_windowed(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 4096, size=(8, 10))
    path = tmp_path / "m1.dcm"
    slope, intercept, c, w = 2.0, -1024.0, 2048.0, 3000.0
    _write_dicom(path, pixels, "MONOCHROME1", slope, intercept, c, w)
    stages = dicom_stages(path)
    assert list(stages) == ["stored pixels", "modality LUT", "windowed", "MONOCHROME1 inverted", "read_image"]
    ref = np.zeros(pixels.shape)
    for i in range(pixels.shape[0]):
        for j in range(pixels.shape[1]):
            ref[i, j] = _ref_window(pixels[i, j] * slope + intercept, c, w)
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    assert np.allclose(stages["windowed"], ref, atol=1e-5)
    assert np.allclose(stages["MONOCHROME1 inverted"], 1.0 - ref, atol=1e-5)
    assert np.allclose(stages["read_image"], 1.0 - ref, atol=1e-5)
    hdr = dicom_header(path)
    assert hdr["PhotometricInterpretation"] == "MONOCHROME1" and hdr["BitsStored"] == "12"


def test_dicom_stages_monochrome2_without_window(tmp_path):
    pixels = np.arange(24).reshape(4, 6) * 100
    path = tmp_path / "m2.dcm"
    _write_dicom(path, pixels, "MONOCHROME2", 1.0, 0.0, None, None)
    stages = dicom_stages(path)
    assert "MONOCHROME1 inverted" not in stages
    assert np.allclose(stages["read_image"], pixels / pixels.max(), atol=1e-6)


def test_normalization_table_against_formula():
    img = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    table = normalization_table(img).set_index("preset")
    # alta: scalar (mean 0.4785, std 0.2834) on every channel
    vals = [(float(v) - 0.4785) / 0.2834 for v in img.ravel()]
    assert table.loc["alta", "input min"] == pytest.approx(min(vals), abs=1e-5)
    assert table.loc["alta", "input max"] == pytest.approx(max(vals), abs=1e-5)
    assert table.loc["gloria", "input min"] == pytest.approx(-1.0, abs=1e-6)
    assert table.loc["gloria", "input max"] == pytest.approx(1.0, abs=1e-6)
    assert normalization_figure(img).axes[0].get_legend() is not None


def test_masked_views_keeps_quarter_per_view_independently():
    imgs = {"frontal": np.ones((64, 64), np.float32), "lateral": np.ones((64, 64), np.float32)}
    fig, kept = masked_views(imgs, ratio=0.75, patch=16, seed=3)
    assert len(fig.axes) == 4
    for name in imgs:
        keep = {int(i) for i in kept[name]}
        assert len(keep) == 4  # 16 patches, 25 % kept
        masked = fig.axes[2 + list(imgs).index(name)].get_images()[0].get_array()
        for p in range(16):  # reference: loop over the patch grid
            r, c = divmod(p, 4)
            block = np.asarray(masked[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16])
            assert (block == 1.0).all() if p in keep else (block == 0.0).all()
    assert not np.array_equal(kept["frontal"], kept["lateral"])


def test_masked_views_224_gives_49_of_196():
    _, kept = masked_views({"frontal": np.zeros((224, 224), np.float32)})
    assert len(kept["frontal"]) == 49


def test_label_comparison_agreement():
    truth = {"Atelectasis": 1.0, "Cardiomegaly": None, "Edema": 0.0, "Pneumonia": -1.0}
    pred = {"Atelectasis": 1.0, "Cardiomegaly": 1.0, "Edema": 0.0}
    df = label_comparison(pred, truth)
    assert list(df.observation) == list(truth)
    assert list(df.agree) == [True, False, True, False]
    assert list(df["ground truth"]) == ["positive", "not mentioned", "negative", "uncertain"]


def test_tokens_html_counts_and_dropped_sentences(tiny_bert_dir):
    from transformers import AutoTokenizer

    from clinvla_kit.data.tokenize import tokenize_report

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    text = "No pleural effusion. Heart size is normal. The lungs are clear."
    enc = tokenize_report(text, tok, max_tokens=10)
    out = tokens_html(tok, enc, text)
    n_real = int(enc["attention_mask"].sum())
    assert f"<b>{n_real}</b> real tokens + <b>{10 - n_real}</b> padding = <b>10</b>" in out
    assert "line-through" in out and "The lungs are clear." in out
    assert out.count("display:inline-block") == n_real
    full = tokenize_report(text, tok, max_tokens=32)
    assert "dropped" not in tokens_html(tok, full, text)
