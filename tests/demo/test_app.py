"""The app headless: the loading shell, then the controls; searches by text, study and upload; lateral controls only
for a model that reads the lateral view."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

from clinvla_kit.demo.app import DemoApp, busy_html
from clinvla_kit.inference import InferenceModel


def make_app(model, records, tmp_path, **kw):
    return DemoApp("unused", tmp_path, k=3, cache_dir=tmp_path / "cache", inference=InferenceModel(model),
                   records=records, fingerprint="standin", **kw)


def test_shell_then_controls(model, records, tmp_path):
    app = make_app(model, records, tmp_path)
    assert "demo-spinner" in app.status.value and "starting" in app.status.value
    assert app.body.children == () and "demo-ready" not in app.widget._dom_classes
    app.start(background=False)
    c = app.controls
    assert app.ready.is_set() and "demo-ready" in app.widget._dom_classes and app.status.value == ""
    assert c["results"].value.count('class="demo-hit"') == 3  # search_now ran the first example
    assert "Pleural Effusion" in c["results"].value and "chance" in c["results"].value
    assert {"compare", "drop_lateral"} <= set(c)  # the stand-in's config reads the lateral view
    c["query"].value = "cardiomegaly"
    c["search"].click()
    assert "cardiomegaly" in c["results"].value and "view share" in c["results"].value
    c["compare"].click()
    assert "Without the lateral view" in c["change"].value
    c["study"].value = "50000002"
    c["by_study"].click()
    assert "study 50000002" in c["results"].value and c["results"].value.count('class="demo-hit"') == 3
    c["by_upload"].click()  # nothing uploaded yet: the error is shown, not raised
    assert "choose a PNG" in c["results"].value
    png = records[1].images["frontal"].read_bytes()
    res = app.upload_search("mine.JPG", png)
    assert res.hits[0].study_id == "50000001"  # the uploaded copy of study 1's frontal finds... a frontal-only match
    with pytest.raises(ValueError, match="upload a"):
        app.upload_search("notes.txt", b"x")
    c["query"].value = " "
    c["search"].click()
    assert "query is empty" in c["results"].value and app.status.value == ""
    again = make_app(model, records, tmp_path)
    again.start(background=False)
    assert again.cache_info["hit"]  # the second start reads the cached embeddings


def test_frontal_only_model_has_no_lateral_controls(model, records, tmp_path):
    frontal = dataclasses.replace(model.cfg, data=dataclasses.replace(model.cfg.data, use_lateral=False))
    model.cfg = frontal
    app = make_app(model, records, tmp_path, search_now=False)
    app.start(background=False)
    assert "compare" not in app.controls and "drop_lateral" not in app.controls
    app.controls["search"].click()
    assert "view share" not in app.controls["results"].value


def test_background_start_reports_errors(tmp_path):
    app = DemoApp(tmp_path / "no_run", tmp_path, cache_dir=tmp_path)
    app.start(background=True)
    assert app.ready.wait(120) and app.error is not None
    assert "demo-error" in app.status.value and "not a run directory" in app.status.value
    assert "demo-busy" in busy_html("x")


def test_first_screen_comes_before_the_example_search(model, records, tmp_path):
    """The controls are on screen (``demo-ready``) while the example query still runs: the first screen does not
    wait for its heatmaps (one forward pass per hit)."""
    app = make_app(model, records, tmp_path)
    seen = {}
    original = app.text_html

    def spy():
        seen["ready_class"] = "demo-ready" in app.widget._dom_classes
        seen["busy"] = "demo-busy" in app.status.value
        seen["controls_shown"] = len(app.body.children) > 0
        return original()

    app.text_html = spy
    app.start(background=False)
    assert seen == {"ready_class": True, "busy": True, "controls_shown": True}
    assert app.timings["first_screen"] <= app.timings["first_screen"] + app.timings["first_search"]
    assert app.controls["results"].value.count('class="demo-hit"') == 3 and app.status.value == ""


def test_ticking_masks_redraws_the_last_search(model, records, tmp_path):
    import numpy as np

    from clinvla_kit.demo.masks import MaskIndex
    from clinvla_kit.synth.rle import rle_encode

    app = make_app(model, records, tmp_path, search_now=False)
    app.start(background=False)
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:20, 8:20] = True
    app.masks = MaskIndex({Path(r.images["frontal"]).stem: [("Cardiomegaly", rle_encode(mask))] for r in records})
    c = app.controls
    c["query"].value = "cardiomegaly"
    c["search"].click()
    assert "mask:" not in c["results"].value
    c["show_masks"].value = True  # no new click: the hits on screen are redrawn with their masks
    assert c["results"].value.count("mask: Cardiomegaly") == 3 and app.status.value == ""
    c["show_masks"].value = False
    assert "mask:" not in c["results"].value


def test_weights_fingerprint(tmp_path):
    """A materialised shipped model is keyed by its marker (no hashing of the weights); a run by its weights' bytes."""
    import hashlib
    import json

    from clinvla_kit.demo.app import weights_fingerprint

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"weights")
    assert weights_fingerprint(run) == hashlib.sha256(b"weights").hexdigest()
    (run / "shipped.json").write_text(json.dumps({"name": "m", "sha256": "abc"}))
    assert weights_fingerprint(run) == "shipped:m:abc"
    (run / "shipped.json").write_text("{broken")
    assert weights_fingerprint(run) == hashlib.sha256(b"weights").hexdigest()
