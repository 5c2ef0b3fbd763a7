"""``load_source``: one call per data set, real path or example copy; bad paths and kinds fail naming them."""

from __future__ import annotations

import pandas as pd
import pytest

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.records import StudyRecord
from clinvla_kit.data.sources.registry import KINDS, LOADERS, example_paths, load_source


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    d = tmp_path_factory.mktemp("registry_examples")
    return d, example_paths(d)


def test_every_kind_has_loader_and_validator():
    from clinvla_kit.data.validation import VALIDATORS

    assert set(KINDS) == set(LOADERS)
    assert set(KINDS) <= set(VALIDATORS)


@pytest.mark.parametrize("kind", KINDS)
def test_example_fallback_validates_and_loads(kind, examples):
    d, paths = examples
    got = load_source(kind, None, examples_dir=d)
    assert got.source == "example" and got.path == paths[kind]
    assert got.validation is not None and got.validation.ok, got.validation.format()
    assert got.n_items > 0
    if kind in ("mimic", "chexpert", "openi"):
        assert all(isinstance(r, StudyRecord) for r in got.data) and len(got.data) == got.n_items
    elif kind == "chexpert-8x200":
        q, c, t = got.data
        assert len(c) == got.n_items and len(q) > 0 and len(t) > 0
    else:
        assert isinstance(got.data, pd.DataFrame) and len(got.data) == got.n_items
    row = got.summary()
    assert row["kind"] == kind and row["valid"] is True and row["items"] == got.n_items


def test_real_path_is_used_and_csv_accepted(examples):
    _d, paths = examples
    got = load_source("chexpert-5x200", paths["chexpert-5x200"] / "chexpert_5x200.csv")
    assert got.source == "real" and got.n_items == 10 and got.validation.ok
    assert load_source("rsna", paths["rsna"], validate=False).validation is None


def test_missing_path_names_it(tmp_path):
    with pytest.raises(DataError, match="does not exist") as err:
        load_source("rsna", tmp_path / "nope")
    assert "nope" in str(err.value)


def test_bad_kind_and_no_fallback(tmp_path):
    with pytest.raises(ValueError, match="unknown data-set kind"):
        load_source("mimic-iv", None, tmp_path)
    with pytest.raises(ValueError, match="no examples_dir"):
        load_source("nih")


def test_wrong_column_names_file(examples, tmp_path):
    _, paths = examples
    bad = tmp_path / "nih"
    import shutil

    shutil.copytree(paths["nih"], bad)
    csv = bad / "Data_Entry_2017.csv"
    csv.write_text(csv.read_text().replace("Finding Labels", "Findings"))
    got_err = None
    try:
        load_source("nih", bad)
    except DataError as e:
        got_err = e
    assert got_err is not None and "Data_Entry_2017.csv" in str(got_err) and "Finding Labels" in str(got_err)
