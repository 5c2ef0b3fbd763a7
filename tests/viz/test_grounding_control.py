"""The control maps against a plain reference: each row's prompt mapped on its round-robin control image."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from clinvla_kit.data.batch import Batch
from clinvla_kit.synth.rle import rle_encode
from clinvla_kit.viz.attention import encode_prompt, gradcam_batch
from clinvla_kit.viz.grounding_control import control_maps, control_studies
from clinvla_kit.viz.occlusion import occlusion_map


def _rows(batch: Batch, idx: list[int]) -> Batch:
    return Batch(images=batch.images[idx], present=batch.present[idx], input_ids=batch.input_ids[idx],
                 attention_mask=batch.attention_mask[idx], labels=batch.labels[idx],
                 study_ids=[batch.study_ids[i] for i in idx], texts=[batch.texts[i] for i in idx])


def _rec(sid):
    return SimpleNamespace(study_id=sid, dicom_ids={"frontal": f"{sid}f", "lateral": f"{sid}l"})


def test_control_studies_leave_out_every_study_with_the_finding():
    recs = [SimpleNamespace(study_id=str(i)) for i in range(5)]
    ann = [{"study_id": "0", "finding": "eff"}, {"study_id": "2", "finding": "eff", "visible": False},
           {"study_id": "3", "finding": "card"}]
    assert [r.study_id for r in control_studies(recs, ann, ["eff"], 5)] == ["1", "3", "4"]
    assert [r.study_id for r in control_studies(recs, ann, ["eff", "card"], 1)] == ["1"]
    assert [r.study_id for r in control_studies(recs, ann, ["eff"], 5, exclude=["1"])] == ["3", "4"]
    with pytest.raises(ValueError, match="n must be"):
        control_studies(recs, ann, ["eff"], 0)


def test_control_maps_ask_each_rows_prompt_on_its_round_robin_control(tiny_model, tiny_batch):
    recs = [_rec(s) for s in tiny_batch.study_ids]
    controls = [_rec("c2"), _rec("c3")]
    cbatch = _rows(tiny_batch, [1, 2])  # frontal present in both, lateral in neither
    m = np.zeros((32, 32), bool)
    m[8:20, 4:14] = True
    ann = [{"dicom_id": "s1f", "study_id": "s1", "view": "PA", "finding": "pleural_effusion", "side": "left",
            "visible": True, "mask": rle_encode(m)},
           {"dicom_id": "s1f", "study_id": "s1", "view": "PA", "finding": "cardiomegaly", "visible": True,
            "mask": rle_encode(m)},
           {"dicom_id": "s1l", "study_id": "s1", "view": "LATERAL", "finding": "cardiomegaly", "visible": True,
            "mask": rle_encode(m)},  # no control has a lateral: left out
           {"dicom_id": "s2f", "study_id": "s2", "view": "PA", "finding": "pleural_effusion", "side": "left",
            "visible": True, "mask": rle_encode(m)},
           {"dicom_id": "s3f", "study_id": "s3", "view": "PA", "finding": "edema", "visible": False,
            "mask": rle_encode(m)}]  # hidden: not a row
    got = control_maps(tiny_model, tiny_batch, recs, ann, cbatch, controls)
    assert sorted((d, f) for d in got for f in got[d]) == [("s1f", "cardiomegaly"), ("s1f", "pleural_effusion"),
                                                           ("s2f", "pleural_effusion")]
    eff, card = encode_prompt(tiny_model, "left pleural effusion"), encode_prompt(tiny_model, "cardiomegaly")
    # rows in record order go to controls 0, 1, 0 of the frontal pool
    ref0 = occlusion_map(tiny_model, cbatch.images[0, 0], eff, "frontal")
    np.testing.assert_allclose(got["s1f"]["pleural_effusion"], ref0, atol=1e-6)
    np.testing.assert_allclose(got["s1f"]["cardiomegaly"], occlusion_map(tiny_model, cbatch.images[1, 0], card,
                                                                         "frontal"), atol=1e-6)
    np.testing.assert_allclose(got["s2f"]["pleural_effusion"], ref0, atol=1e-6)
    only = control_maps(tiny_model, tiny_batch, recs, ann, cbatch, controls, findings=["cardiomegaly"])
    assert list(only) == ["s1f"] and list(only["s1f"]) == ["cardiomegaly"]
    np.testing.assert_allclose(only["s1f"]["cardiomegaly"], occlusion_map(tiny_model, cbatch.images[0, 0], card,
                                                                          "frontal"), atol=1e-6)
    cams = control_maps(tiny_model, tiny_batch, recs, ann, cbatch, controls, method="gradcam", findings=["cardiomegaly"])
    np.testing.assert_allclose(cams["s1f"]["cardiomegaly"],
                               gradcam_batch(tiny_model, cbatch.images[[0], 0], card[None], slot="frontal")[0], atol=1e-5)
    with pytest.raises(ValueError, match="method must be"):
        control_maps(tiny_model, tiny_batch, recs, ann, cbatch, controls, method="word_patch")
    with pytest.raises(ValueError, match="1 controls for a batch of 2"):
        control_maps(tiny_model, tiny_batch, recs, ann, cbatch, controls[:1])
