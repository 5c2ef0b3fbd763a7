"""Open-I MeSH major terms -> CheXpert observations (the real-report reference of the labeler)."""

from __future__ import annotations

import pytest

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.mesh import MESH_MAP, SCORED, mesh_observations, parse_term, read_major_terms


def test_parse_term():
    assert parse_term("Opacity/lung/base/left") == ("opacity", frozenset({"lung", "base", "left"}))
    assert parse_term("Subcutaneous  Emphysema") == ("subcutaneous emphysema", frozenset())


def test_mapping_examples():
    ref = mesh_observations(["Cardiac Shadow/enlarged/mild", "Costophrenic Angle/left/blunted", "Hydropneumothorax"])
    assert ref["Cardiomegaly"] and ref["Pleural Effusion"] and ref["Pneumothorax"] and not ref["No Finding"]
    assert not mesh_observations(["Cardiac Shadow/borderline"])["Cardiomegaly"]  # "enlarged" is required
    assert mesh_observations(["Pulmonary Congestion/mild"])["Edema"]
    assert mesh_observations(["Fractures, Bone/ribs/healed"])["Fracture"]
    # CheXpert's No Finding ignores what is outside its observations; MeSH "normal" does not
    ref = mesh_observations(["Calcified Granuloma/lung/right", "Spine/degenerative"])
    assert ref["No Finding"] and not ref["No Finding (MeSH normal)"]
    ref = mesh_observations(["normal"])
    assert ref["No Finding"] and ref["No Finding (MeSH normal)"]
    assert set(SCORED) <= set(MESH_MAP) | {"No Finding"}


def test_unindexed_reports_have_no_reference(tmp_path):
    with pytest.raises(ValueError, match="no MeSH indexing"):
        mesh_observations(["No Indexing"])
    with pytest.raises(ValueError):
        mesh_observations([])
    f = tmp_path / "1.xml"
    f.write_text("<eCitation><MeSH><major>Cardiomegaly/mild</major><minor>Lung</minor>"
                 "<major>normal </major></MeSH></eCitation>")
    assert read_major_terms(f) == ["Cardiomegaly/mild", "normal"]
    f.write_text("<eCitation><MeSH>")
    with pytest.raises(DataError, match="not well-formed"):
        read_major_terms(f)
