"""Chance level of a query: the base rate of its findings in the archive, against a count written here."""

from __future__ import annotations

import pytest

from clinvla_kit.demo.chance import chance_level, query_labels


def test_query_labels():
    assert query_labels("large right pleural effusion") == ["Pleural Effusion"]
    assert query_labels("no acute cardiopulmonary process") == ["No Finding"]
    assert query_labels("hello world") == [] and query_labels("  ") == []


def test_chance_level_counts(records):
    c = chance_level(records, ["Cardiomegaly", "Edema"], hit_indices=[1, 0, 5])
    assert c.base_rate == pytest.approx(2 / 6)  # studies 1 and 5 of the six
    assert c.relevant == [True, False, True] and c.precision == pytest.approx(2 / 3)
    assert "P@3 0.67" in c.text() and "chance 0.33" in c.text()
    assert chance_level(records, []) is None
    assert chance_level(records, ["Edema"]).precision is None
