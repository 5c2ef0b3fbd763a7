"""The rule-based CheXpert labeler on hand-written sentences: negation, hedging, abbreviations, scopes."""

from __future__ import annotations

import pytest

from clinvla_kit.data.labeler import find_mentions, label_report, label_reports
from clinvla_kit.data.records import CHEXPERT_LABELS


def lab(text: str, obs: str):
    return label_report(text)[obs]


def test_keys_are_the_fourteen_observations_in_order():
    assert tuple(label_report("Normal chest.")) == CHEXPERT_LABELS


@pytest.mark.parametrize(
    "text, obs, expected",
    [
        ("There is a small right pleural effusion.", "Pleural Effusion", 1.0),
        ("Moderate cardiomegaly.", "Cardiomegaly", 1.0),
        ("Right lower lobe consolidation.", "Consolidation", 1.0),
        # pre-negation and its scope over a list
        ("No pleural effusion or pneumothorax.", "Pleural Effusion", 0.0),
        ("No pleural effusion or pneumothorax.", "Pneumothorax", 0.0),
        ("No evidence of pneumothorax, pleural effusion, focal consolidation, or pulmonary edema.", "Edema", 0.0),
        ("Without focal consolidation.", "Consolidation", 0.0),
        # post-negation
        ("Pneumothorax is not seen.", "Pneumothorax", 0.0),
        ("The previously seen pneumothorax has resolved.", "Pneumothorax", 0.0),
        ("Interval resolution of the left effusion.", "Pleural Effusion", 0.0),
        ("The endotracheal tube has been removed.", "Support Devices", 0.0),
        # "no new": negative for the named observation
        ("No new focal consolidation.", "Consolidation", 0.0),
        # pseudo-negation: the finding is still there
        ("No change in the moderate right pleural effusion.", "Pleural Effusion", 1.0),
        ("No significant interval change in cardiomegaly.", "Cardiomegaly", 1.0),
        # hedging
        ("Possible small left effusion.", "Pleural Effusion", -1.0),
        ("Left basilar opacity, likely atelectasis.", "Atelectasis", -1.0),
        ("There is possible right subsegmental atelectasis.", "Atelectasis", -1.0),
        ("Mild bibasilar volume loss.", "Atelectasis", 1.0),
        ("Findings may represent atelectasis versus pneumonia.", "Pneumonia", -1.0),
        ("Findings may represent atelectasis versus pneumonia.", "Atelectasis", -1.0),
        # double negation is uncertainty, before or after the mention
        ("Pneumonia cannot be excluded.", "Pneumonia", -1.0),
        ("Cannot exclude pneumonia.", "Pneumonia", -1.0),
        ("Pneumothorax is not excluded.", "Pneumothorax", -1.0),
        ("Early pneumonia not ruled out.", "Pneumonia", -1.0),
        # the nearest trigger decides; terminators end a scope
        ("Possible small effusion, no pneumothorax.", "Pneumothorax", 0.0),
        ("Possible small effusion, no pneumothorax.", "Pleural Effusion", -1.0),
        ("No pneumothorax, but there is a small right effusion.", "Pleural Effusion", 1.0),
        ("No pneumothorax; small right effusion.", "Pleural Effusion", 1.0),
        ("No pneumothorax and the effusion is unchanged.", "Pleural Effusion", 1.0),
        ("No focal consolidation to suggest pneumonia.", "Pneumonia", 0.0),
        # direct statements of normality
        ("Heart size is normal.", "Cardiomegaly", 0.0),
        ("The heart is not enlarged.", "Cardiomegaly", 0.0),
        ("The heart is mildly enlarged.", "Cardiomegaly", 1.0),
        ("Cardiomediastinal silhouette is within normal limits.", "Enlarged Cardiomediastinum", 0.0),
        # abbreviations
        ("Small left apical PTX.", "Pneumothorax", 1.0),
        ("No ptx.", "Pneumothorax", 0.0),
        ("ETT terminates 4 cm above the carina.", "Support Devices", 1.0),
        ("Findings concerning for PNA.", "Pneumonia", -1.0),
        ("Rib fx on the left.", "Fracture", 1.0),
        # words that look like mentions but are not
        ("Small pericardial effusion.", "Pleural Effusion", None),
        ("Nodular contour.", "Pneumothorax", None),
        # decimal points do not split sentences
        ("There is a 2.5 cm nodule in the right upper lobe.", "Lung Lesion", 1.0),
    ],
)
def test_sentence(text, obs, expected):
    assert lab(text, obs) == expected


@pytest.mark.parametrize(
    "text, obs, expected",
    [
        # negation scope over a coordinated list (real Open-I sentences)
        ("The lungs are clear of focal airspace disease, pneumothorax, or pleural effusion.", "Pneumothorax", 0.0),
        ("The lungs are clear of focal airspace disease, pneumothorax, or pleural effusion.", "Pleural Effusion", 0.0),
        ("Lungs clear of consolidation.", "Consolidation", 0.0),
        ("No focal opacity, effusion, or pneumothorax.", "Pleural Effusion", 0.0),
        ("No focal opacity, effusion, or pneumothorax.", "Pneumothorax", 0.0),
        ("No focal consolidation or pleural effusions.", "Pleural Effusion", 0.0),
        ("No evidence of focal airspace consolidation, pleural effusion, pneumothorax or edema.", "Edema", 0.0),
        # Open-I's de-identification token is not a word
        ("There are no XXXX of a pleural effusion.", "Pleural Effusion", 0.0),
        ("Mild blunting of right costophrenic XXXX.", "Pleural Effusion", 1.0),
        # edema false positives: a normal statement after the mention, a soft-tissue or laryngeal edema
        ("Heart size and pulmonary vascular engorgement appear within limits of normal.", "Edema", 0.0),
        ("Soft tissue edema with no visible bony injury.", "Edema", None),
        ("Pulmonary venous hypertension.", "Edema", 1.0),
        ("Mild vascular cephalization.", "Edema", 1.0),
        # cardiomegaly written as size
        ("Increased size of cardiac silhouette.", "Cardiomegaly", 1.0),
        ("There is an marked interval increase in heart size.", "Cardiomegaly", 1.0),
        ("The heart is large.", "Cardiomegaly", 1.0),
        ("Heart size remains slightly large.", "Cardiomegaly", 1.0),
        ("Heart size borderline enlarged.", "Cardiomegaly", -1.0),
        # hedges of real reports
        ("Question small right pleural effusion.", "Pleural Effusion", -1.0),
        ("Small bilateral pleural effusions suspected.", "Pleural Effusion", -1.0),
        ("Evaluation for pneumothorax is limited.", "Pneumothorax", -1.0),
        ("Please correlate clinically for pneumonia.", "Pneumonia", -1.0),
        ("Pneumonia is in the differential.", "Pneumonia", -1.0),
        ("Please note that fractures may not be demonstrated.", "Fracture", 0.0),
        # healed granulomatous disease is not pneumonia; a fractured screw is not a bone fracture
        ("Residuals of prior granulomatous infection.", "Pneumonia", None),
        ("The lateral most screw is fractured.", "Fracture", None),
        ("Complete collapse of the right lung.", "Atelectasis", 1.0),
        ("Redemonstration without significant interval change of mild atelectasis.", "Atelectasis", 1.0),
    ],
)
def test_real_report_sentence(text, obs, expected):
    assert lab(text, obs) == expected


def test_positive_beats_uncertain_beats_negative_across_sentences():
    text = "No effusion on the right. Small left pleural effusion. Possible effusion at the base."
    assert lab(text, "Pleural Effusion") == 1.0
    assert lab("Possible effusion. No effusion on the left.", "Pleural Effusion") == -1.0


def test_no_finding_rule():
    assert lab("No acute cardiopulmonary process.", "No Finding") == 1.0
    assert lab("Lines and tubes in place. No pneumothorax.", "No Finding") == 1.0  # devices do not count
    assert lab("Mild cardiomegaly.", "No Finding") is None
    assert lab("Possible pneumonia.", "No Finding") is None


def test_indication_is_ignored_when_sections_exist():
    report = "INDICATION: Cough, r/o pneumonia.\n\nFINDINGS: Lungs are clear.\n\nIMPRESSION: No acute process."
    labels = label_report(report)
    assert labels["Pneumonia"] is None
    assert labels["No Finding"] == 1.0
    # without headers the whole text is read
    assert lab("Cough, rule out pneumonia.", "Pneumonia") == -1.0


def test_mentions_explain_their_trigger():
    ms = find_mentions("Possible small effusion, no pneumothorax.")
    by_obs = {m.observation: m for m in ms}
    assert by_obs["Pleural Effusion"].trigger == "possible"
    assert by_obs["Pneumothorax"].trigger == "no"


def test_empty_report_is_an_error():
    with pytest.raises(ValueError, match="empty report"):
        label_report("   ")
    with pytest.raises(ValueError, match="report 1"):
        label_reports(["Normal.", ""])
