from pathlib import Path

import pytest

from clinvla_kit.config import SLOTS
from clinvla_kit.data.records import CHEXPERT_LABELS, StudyRecord


def _record(**kw):
    images = {"frontal": Path("f.jpg"), "lateral": Path("l.jpg"), "prior_frontal": None, "prior_lateral": None}
    return StudyRecord(subject_id="10000032", study_id="50414267", study_datetime="21800506 213014", images=images, **kw)


def test_present_follows_slot_order():
    assert _record().present == (True, True, False, False)
    assert SLOTS == ("frontal", "lateral", "prior_frontal", "prior_lateral")
    assert len(CHEXPERT_LABELS) == 14


def test_without_drops_a_view_and_keeps_the_original():
    r = _record(dicom_ids={"frontal": "a", "lateral": "b", "prior_frontal": None, "prior_lateral": None})
    r2 = r.without("lateral")
    assert r2.present == (True, False, False, False) and r2.dicom_ids["lateral"] is None
    assert r.present == (True, True, False, False)
    with pytest.raises(ValueError, match="unknown slot"):
        r.without("oblique")


def test_slots_must_be_exact():
    with pytest.raises(ValueError, match="50414267"):
        StudyRecord(subject_id="1", study_id="50414267", study_datetime="", images={"frontal": None})
