"""Report sections, cleaning, abbreviations, hedges and measurements on real-style report strings."""

from __future__ import annotations

import pytest

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.reports import (
    clean_report,
    expand_abbreviations,
    extract_sections,
    normalize_measurements,
    remove_hedge_phrases,
)

MIMIC_STYLE = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___ year old woman with SOB, r/o PNA.

 TECHNIQUE:  Chest PA and lateral

 COMPARISON:  ___

 FINDINGS:
 The heart size is normal.  No PTX.  Small b/l pleural effusions,
 left greater than right.  Opacity at the RLL may represent pneumonia.

 IMPRESSION:
 Small b/l effusions.  Pneumonia cannot be excluded.
"""


def test_sections_own_line_and_inline():
    s = extract_sections(MIMIC_STYLE)
    assert set(s) == {"examination", "indication", "technique", "comparison", "findings", "impression"}
    assert s["findings"].startswith("The heart size is normal.") and s["findings"].endswith("pneumonia.")
    assert s["impression"] == "Small b/l effusions. Pneumonia cannot be excluded."
    inline = extract_sections("EXAMINATION: CXR. COMPARISON: None. FINDINGS: Clear lungs. IMPRESSION: Normal.")
    assert inline == {"examination": "CXR.", "comparison": "None.", "findings": "Clear lungs.", "impression": "Normal."}
    lower = extract_sections("Findings: heart is enlarged.\nimpression:  cardiomegaly.")
    assert lower == {"findings": "heart is enlarged.", "impression": "cardiomegaly."}


def test_clean_report_keeps_findings_and_impression():
    out = clean_report(MIMIC_STYLE)
    assert out == ("The heart size is normal. No pneumothorax. Small bilateral pleural effusions, left greater than "
                   "right. Opacity at the right lower lobe represents pneumonia. Small bilateral effusions. Pneumonia.")
    for dropped in ("EXAMINATION", "INDICATION", "year old", "TECHNIQUE", "COMPARISON", "___", "FINAL REPORT"):
        assert dropped not in out


def test_hedges_and_abbreviations_are_configurable():
    out = clean_report(MIMIC_STYLE, expand_abbreviations=False, remove_hedges=False)
    assert "PTX" in out and "b/l" in out and "may represent" in out and "cannot be excluded" in out
    out = clean_report(MIMIC_STYLE, remove_hedges=True, hedges=("may represent",))
    assert "may represent" not in out and "cannot be excluded" in out


def test_impression_only_findings_only_and_fallback():
    assert clean_report("IMPRESSION: No acute cardiopulmonary process.") == "No acute cardiopulmonary process."
    assert clean_report("FINDINGS:\nLungs are clear.\n") == "Lungs are clear."
    # neither section: the text minus known headers and the dropped sections' headers
    assert clean_report("Lungs are clear.\nNo effusion.") == "Lungs are clear. No effusion."
    assert clean_report("INDICATION: cough.\nCOMPARISON: none.") == "Cough. None."


@pytest.mark.parametrize("text", ["", "   ", "FINDINGS: ___\nIMPRESSION: ___", "IMPRESSION: possibly."])
def test_empty_after_cleaning_names_the_source(text):
    with pytest.raises(DataError, match="s123.txt") as e:
        clean_report(text, source="p10/p100/s123.txt")
    assert "empty" in str(e.value)


def test_abbreviations_on_word_boundaries():
    assert expand_abbreviations("PTX, b/l ETT.") == "pneumothorax, bilateral endotracheal tube."
    assert expand_abbreviations("B/L effusions; NGT in place") == "bilateral effusions; nasogastric tube in place"
    # not inside words, and capital-only entries do not touch lower-case words
    assert expand_abbreviations("PTXs spare the pa catheter ETTA") == "PTXs spare the pa catheter ETTA"
    assert expand_abbreviations("ET tube, ETT") == "endotracheal tube, endotracheal tube"
    assert expand_abbreviations("s/p CABG w/o PTX") == "status post coronary artery bypass graft without pneumothorax"


def test_hedge_removal():
    assert remove_hedge_phrases("Likely atelectasis.").split() == ["atelectasis."]
    assert remove_hedge_phrases("Unlikely to be pneumonia.") == "Unlikely to be pneumonia."
    assert remove_hedge_phrases("Possible small effusion.").split() == ["small", "effusion."]


@pytest.mark.parametrize("text, expected", [
    ("2 cm x 3 cm nodule", "6 cm^2 nodule"),
    ("a 2 x 3 cm nodule", "a 6 cm^2 nodule"),
    ("1.5 x 2.5 cm", "3.75 cm^2"),
    ("12 mm x 8 mm", "96 mm^2"),
    ("1 x 2 x 3 cm mass", "6 cm^3 mass"),
    ("2 cm x 3 mm", "2 cm x 3 mm"),  # mixed units left alone
    ("2 cm lesion", "2 cm lesion"),
])
def test_measurements(text, expected):
    assert normalize_measurements(text) == expected


def test_measurement_normalisation_is_optional():
    text = "FINDINGS: A 2 cm x 3 cm nodule."
    assert clean_report(text) == "A 2 cm x 3 cm nodule."
    assert clean_report(text, normalize_measurements=True) == "A 6 cm^2 nodule."


def test_linking_hedges_become_assertions_and_keep_grammar():
    from clinvla_kit.data.reports import remove_hedge_phrases

    def squash(t):
        return " ".join(t.split())

    assert squash(remove_hedge_phrases("Patchy opacities concerning for infection.")) == \
        "Patchy opacities consistent with infection."
    assert squash(remove_hedge_phrases("This may represent atelectasis.")) == "This represents atelectasis."
    assert squash(remove_hedge_phrases("There may be a small effusion.")) == "There is a small effusion."
    assert squash(remove_hedge_phrases("Possibly early edema.")) == "early edema."


def test_hedges_keep_synthcxr_sentences_grammatical():
    """SynthCXR writes "There is {hedge} X." and "Findings {hedge} X."; the cleaner must not leave "There is
    represents X" or "Findings X" behind (every hedge of the generator's list, both frames)."""
    cases = {
        "There is may represent small left effusion.": "There is small left effusion.",
        "There is concerning for consolidation.": "There is consolidation.",
        "There is cannot exclude mild edema.": "There is mild edema.",
        "There is possible pneumonia.": "There is pneumonia.",
        "There is likely atelectasis.": "There is atelectasis.",
        "Findings may represent pneumonia.": "Findings represent pneumonia.",
        "Findings possible pneumonia.": "Findings show pneumonia.",
        "Findings cannot exclude PTX.": "Findings show pneumothorax.",
        "Findings concerning for edema.": "Findings consistent with edema.",
        "Opacities may be atelectasis.": "Opacities are atelectasis.",
        "Atelectasis may represent scarring.": "Atelectasis represents scarring.",
        "The opacity is concerning for pneumonia.": "The opacity is consistent with pneumonia.",
        "Cannot exclude pneumonia.": "Pneumonia.",
    }
    for text, expected in cases.items():
        assert clean_report("FINDINGS: " + text) == expected, text


def test_open_i_deid_token_is_removed():
    from clinvla_kit.data.reports import remove_deid

    assert remove_deid("Normal chest x-XXXX.") == "Normal chest x-ray."
    assert remove_deid("Chest X-XXXX dated XXXX, XXXX.").split() == ["Chest", "X-ray", "dated", ",", "."]
    out = clean_report("FINDINGS: There are no XXXX of a pleural effusion. IMPRESSION: Normal chest x-XXXX.")
    assert out == "There are no of a pleural effusion. Normal chest x-ray."
    assert remove_deid("Stage XXX disease") == "Stage XXX disease"  # three X's can be a Roman numeral
    assert remove_deid("result at XXXXpm and XXXXs").split() == ["result", "at", "and"]  # real Open-I forms
    assert "X" not in remove_deid("XXXXXXXX")
