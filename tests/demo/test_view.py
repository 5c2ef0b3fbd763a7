"""The ipywidgets view, driven headlessly: set values, click buttons, read results from widget values."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("ipywidgets")

from clinvla_kit.demo.view import build_demo

IMG = re.compile(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{40,}"')


def test_search_reports_and_controls(archive, model):
    zs = {"image_emb": archive.image_emb, "labels": [0, 1, 0, 1, 0, 1], "classes": ["Pleural Effusion", "Cardiomegaly"],
          "prompts": {"Pleural Effusion": ["pleural effusion"], "Cardiomegaly": ["enlarged heart"]}}
    box = build_demo(archive, model, zeroshot_set=zs, k=3)
    c = box.demo
    assert len(IMG.findall(c["mask_view"].value)) == 2  # original + masked (no MAE given)

    c["query"].value = "left pleural effusion"
    c["search"].click()
    html = c["results"].value
    assert len(re.findall(r'class="demo-hit"', html)) == 3
    assert len(re.findall(r"score -?\d\.\d{3}", html)) == 3
    assert len(IMG.findall(html)) >= 3 and "heatmap" in html

    c["drop_lateral"].value = True
    c["search"].click()
    assert "views dropped: lateral" in c["results"].value and "lateral<br>missing" in c["results"].value

    c["compare"].click()
    assert "Without the lateral view" in c["change"].value

    c["label"].value = "Cardiomegaly"
    c["search"].click()
    assert c["results"].value.count('class="demo-hit"') == 1

    c["study"].value = "50000004"
    c["k"].value = 6  # all reports: the stand-in model is random, the ground truth may rank anywhere
    c["show_reports"].click()
    assert "[ground truth]" in c["reports"].value and "ranks" in c["reports"].value

    c["mask_ratio"].value = 0.5
    assert len(IMG.findall(c["mask_view"].value)) == 2

    c["adapters_on"].value = False  # re-runs the search with adapters zeroed
    assert "Adapters off" in c["adapter_info"].value and "Trainable parameters" in c["adapter_info"].value
    assert "demo-hit" in c["results"].value
    assert model.adapter.abs().sum() > 0  # restored after the search
    c["adapters_on"].value = True

    c["rescore"].click()
    assert "Zero-shot accuracy on 6 images" in c["zeroshot"].value
    c["prompts"].value = "Pleural Effusion: fluid\nCardiomegaly heart"
    c["rescore"].click()
    assert "ValueError" in c["zeroshot"].value and "line 2" in c["zeroshot"].value


def test_search_now_fills_results(archive, model):
    c = build_demo(archive, model, examples=("pleural effusion",), k=2, search_now=True).demo
    assert c["results"].value.count('class="demo-hit"') == 2


def test_errors_show_in_the_widget(archive, model):
    c = build_demo(archive, model).demo
    c["query"].value = "  "
    c["search"].click()
    assert "query is empty" in c["results"].value
    c["examples"].value = "cardiomegaly"
    assert c["query"].value == "cardiomegaly"
