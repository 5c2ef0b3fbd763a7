"""The documented abbreviation table."""

from clinvla_kit.data.abbreviations import ABBREVIATION_TABLE, ABBREVIATIONS, table_markdown
from clinvla_kit.data.reports import expand_abbreviations


def test_table_is_documented_and_large_enough():
    assert len(ABBREVIATION_TABLE) >= 40
    shorts = [a.short for a in ABBREVIATION_TABLE]
    assert len(shorts) == len(set(shorts))
    for a in ABBREVIATION_TABLE:
        assert a.short.strip() and a.expansion.strip() and a.note.strip()
    assert ABBREVIATIONS["PTX"] == "pneumothorax" and ABBREVIATIONS["b/l"] == "bilateral"
    assert table_markdown().count("\n") == len(ABBREVIATION_TABLE) + 1


def test_every_entry_expands_standalone():
    for a in ABBREVIATION_TABLE:
        assert expand_abbreviations(f"x {a.short} y") == f"x {a.expansion} y", a.short
