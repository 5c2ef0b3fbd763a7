"""DataError names the file, row and field, and survives pickling (worker processes)."""

import pickle
from pathlib import Path

import pytest

from clinvla_kit.data.errors import DataError


def test_message_names_location():
    e = DataError("label value '2' not allowed", file="a/b.csv", row=3, field="Edema")
    assert str(e) == "a/b.csv, row 3, field 'Edema': label value '2' not allowed"
    assert isinstance(e, ValueError) and e.file == Path("a/b.csv") and e.row == 3 and e.field == "Edema"
    assert str(DataError("plain")) == "plain"
    with pytest.raises(ValueError, match="b.csv"):
        raise e


def test_pickle_round_trip():
    e = pickle.loads(pickle.dumps(DataError("bad", file="x.jpg", row=1, field="f")))
    assert (e.message, e.file, e.row, e.field) == ("bad", Path("x.jpg"), 1, "f") and str(e).startswith("x.jpg")
