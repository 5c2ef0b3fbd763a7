"""Chest radiograph abbreviations: the documented table used by ``clean_report``.

Why expand at all: a text encoder pretrained on general English (MiniLM, BERT) has no useful embedding for "PTX"
or "ETT", and the same finding written two ways would otherwise land in two places of the embedding space.

Matching rule (see ``clinvla_kit.data.reports.expand_abbreviations``): an abbreviation written in capitals is
matched only in capitals ("PA" but not "pa"), so ordinary lower-case words are never rewritten; one written with
lower-case letters ("b/l", "s/p") is matched in any case. Matches must not touch a letter or digit on either side.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Abbreviation:
    short: str
    expansion: str
    note: str


ABBREVIATION_TABLE: tuple[Abbreviation, ...] = (
    # Findings and diseases
    Abbreviation("PTX", "pneumothorax", "air in the pleural space; the commonest abbreviation in ICU films"),
    Abbreviation("CHF", "congestive heart failure", "usually written when describing edema / vascular congestion"),
    Abbreviation("COPD", "chronic obstructive pulmonary disease", "hyperinflation, flattened diaphragms"),
    Abbreviation("PNA", "pneumonia", "clinical shorthand that leaks into indications and impressions"),
    Abbreviation("ARDS", "acute respiratory distress syndrome", "diffuse bilateral airspace opacities"),
    Abbreviation("PE", "pulmonary embolism", "rarely visible on radiographs; appears in indications"),
    Abbreviation("ILD", "interstitial lung disease", "reticular opacities"),
    Abbreviation("TB", "tuberculosis", "upper-lobe scarring, cavities"),
    Abbreviation("CA", "cancer", "as in 'lung CA'"),
    Abbreviation("SOB", "shortness of breath", "indication text"),
    Abbreviation("CP", "chest pain", "indication text"),
    Abbreviation("CAD", "coronary artery disease", "history; may explain sternotomy wires"),
    Abbreviation("CABG", "coronary artery bypass graft", "explains sternotomy wires and clips"),
    Abbreviation("AVR", "aortic valve replacement", "prosthetic valve projecting over the heart"),
    Abbreviation("MVR", "mitral valve replacement", "prosthetic valve projecting over the heart"),
    Abbreviation("CVA", "costovertebral angle", "in chest films the angle, not a stroke"),
    Abbreviation("CPA", "costophrenic angle", "blunting suggests a pleural effusion"),
    # Lobes and anatomy
    Abbreviation("RUL", "right upper lobe", "lobar location of an opacity"),
    Abbreviation("RML", "right middle lobe", "silhouettes the right heart border"),
    Abbreviation("RLL", "right lower lobe", "silhouettes the right hemidiaphragm"),
    Abbreviation("LUL", "left upper lobe", "includes the lingula"),
    Abbreviation("LLL", "left lower lobe", "retrocardiac; often seen only on the lateral"),
    Abbreviation("RUQ", "right upper quadrant", "abdominal location below the diaphragm"),
    Abbreviation("LUQ", "left upper quadrant", "abdominal location below the diaphragm"),
    Abbreviation("SVC", "superior vena cava", "target position of central line tips"),
    Abbreviation("IVC", "inferior vena cava", "catheter course"),
    Abbreviation("RA", "right atrium", "line tip position"),
    Abbreviation("LV", "left ventricle", "cardiac chamber; LV enlargement"),
    Abbreviation("GE", "gastroesophageal", "as in 'GE junction' for feeding tubes"),
    Abbreviation("AC", "acromioclavicular", "joint at the edge of the film"),
    # Devices
    Abbreviation("ETT", "endotracheal tube", "tip position relative to the carina is reported"),
    Abbreviation("ET", "endotracheal", "as in 'ET tube'"),
    Abbreviation("NGT", "nasogastric tube", "should course below the diaphragm"),
    Abbreviation("NG", "nasogastric", "as in 'NG tube'"),
    Abbreviation("OGT", "orogastric tube", "like the nasogastric tube, through the mouth"),
    Abbreviation("OG", "orogastric", "as in 'OG tube'"),
    Abbreviation("PICC", "peripherally inserted central catheter", "tip ideally at the cavoatrial junction"),
    Abbreviation("IJ", "internal jugular", "central line access site"),
    Abbreviation("CVC", "central venous catheter", "support device"),
    Abbreviation("ICD", "implantable cardioverter-defibrillator", "device with a thick shocking coil"),
    Abbreviation("AICD", "automatic implantable cardioverter-defibrillator", "same device, older name"),
    Abbreviation("IABP", "intra-aortic balloon pump", "radiopaque tip in the descending aorta"),
    Abbreviation("LVAD", "left ventricular assist device", "large device over the cardiac apex"),
    # Views and technique
    Abbreviation("PA", "posteroanterior", "frontal view, standing; heart size is reliable"),
    Abbreviation("AP", "anteroposterior", "frontal view, usually portable; magnifies the heart"),
    Abbreviation("LAT", "lateral", "side view"),
    Abbreviation("CXR", "chest radiograph", "the examination itself"),
    Abbreviation("ICU", "intensive care unit", "portable films, many devices"),
    # Shorthand written in lower case
    Abbreviation("b/l", "bilateral", "both sides"),
    Abbreviation("s/p", "status post", "after a procedure"),
    Abbreviation("w/o", "without", "shorthand"),
    Abbreviation("w/", "with", "shorthand"),
    Abbreviation("r/o", "rule out", "indication text"),
    Abbreviation("c/w", "consistent with", "shorthand"),
    Abbreviation("f/u", "follow-up", "recommendation text"),
    Abbreviation("hx", "history", "indication text"),
    # Telegraphic impression shorthand (SynthCXR's site B style, common in ICU reads). Sides are "Lt"/"Rt", not bare
    # "L"/"R": a single capital would also match inside "B/L".
    Abbreviation("Lt", "left", "telegraphic side, as in 'Sm Lt eff'"),
    Abbreviation("Rt", "right", "telegraphic side, as in 'Rt IJ CVC'"),
    Abbreviation("Sm", "small", "telegraphic grade"),
    Abbreviation("Mod", "moderate", "telegraphic grade"),
    Abbreviation("Lg", "large", "telegraphic grade"),
    Abbreviation("Sev", "severe", "telegraphic grade"),
    Abbreviation("eff", "effusion", "pleural effusion in telegraphic impressions (PE is pulmonary embolism here)"),
    Abbreviation("effs", "effusions", "plural of eff"),
    Abbreviation("atx", "atelectasis", "telegraphic"),
    Abbreviation("consol", "consolidation", "telegraphic"),
    Abbreviation("cardiomeg", "cardiomegaly", "telegraphic"),
    Abbreviation("pulm", "pulmonary", "as in 'pulm edema'"),
    Abbreviation("fx", "fracture", "as in 'rib fx'"),
    Abbreviation("abv", "above", "as in 'ETT 4 cm abv carina'"),
    Abbreviation("incr", "increased", "change vs the prior study"),
    Abbreviation("decr", "decreased", "change vs the prior study"),
    Abbreviation("unchg", "unchanged", "change vs the prior study"),
    Abbreviation("poss", "possible", "hedge"),
    Abbreviation("PPM", "permanent pacemaker", "cardiac device"),
    Abbreviation("RV", "right ventricle", "pacemaker lead position"),
)
"""At least 40 chest radiograph abbreviations with expansion and a one-line note (sorted by topic)."""

ABBREVIATIONS: dict[str, str] = {a.short: a.expansion for a in ABBREVIATION_TABLE}
"""short -> expansion, the lookup ``clean_report`` uses."""


def table_markdown() -> str:
    """The table as Markdown (for notebooks and the data card)."""
    rows = ["| abbreviation | expansion | note |", "|---|---|---|"]
    rows += [f"| {a.short} | {a.expansion} | {a.note} |" for a in ABBREVIATION_TABLE]
    return "\n".join(rows)
