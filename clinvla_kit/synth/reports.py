"""MIMIC-style free-text reports from a small grammar (synonyms, negations, hedges, abbreviations, measurements).

Sections: EXAMINATION, INDICATION, COMPARISON, FINDINGS, IMPRESSION, in MIMIC's upper-case "NAME:" style with
"___" for de-identified text. About 10% of reports are impression-only and 10% findings-only. A finding's
comparison sentence ("the right pleural effusion has increased") follows its change vs the prior study. The
report returns which absent findings it negates, so labels come from what the generator decided, not from parsing.
"""

from __future__ import annotations

import re

import numpy as np

from clinvla_kit.synth.findings import LOBE_WORDS, PATHOLOGIES, Finding
from clinvla_kit.synth.plan import StudyPlan

_NOUN = {
    "cardiomegaly": ["cardiomegaly", "enlargement of the cardiac silhouette", "enlarged heart size"],
    "pleural_effusion": ["pleural effusion", "effusion", "pleural fluid collection"],
    "pneumothorax": ["pneumothorax", "PTX"],
    "consolidation": ["consolidation", "airspace consolidation", "dense opacity"],
    "pneumonia": ["pneumonia", "patchy airspace opacities concerning for infection", "multifocal pneumonia"],
    "atelectasis": ["atelectasis", "subsegmental atelectasis", "plate-like atelectasis", "volume loss"],
    "edema": ["pulmonary edema", "interstitial edema", "vascular congestion with edema", "edema c/w CHF"],
    "nodule": ["nodule", "nodular opacity"],
    "fracture": ["rib fracture", "fracture of the rib"],
}
_NEG = {
    "cardiomegaly": ["Heart size is normal.", "The cardiac silhouette is not enlarged.", "No cardiomegaly."],
    "pleural_effusion": ["No pleural effusion.", "There is no pleural effusion.", "No effusion."],
    "pneumothorax": ["No pneumothorax.", "There is no PTX.", "No pneumothorax is seen."],
    "consolidation": ["No focal consolidation.", "There is no focal consolidation."],
    "pneumonia": ["No evidence of pneumonia.", "No findings to suggest pneumonia."],
    "atelectasis": ["No atelectasis."],
    "edema": ["No pulmonary edema.", "There is no edema.", "No CHF."],
    "nodule": ["No suspicious pulmonary nodule."],
    "fracture": ["No acute rib fracture.", "No displaced fracture is seen."],
}
_HEDGE = ["may represent", "possible", "cannot exclude", "likely", "concerning for"]
"""The hedge words SynthCXR uses (each one is in the cleaner's ``HEDGES`` and the labeler's uncertainty cues)."""
_HEDGED = [
    ("The appearance may represent {}.", "Findings may represent {}."),
    ("There is possible {}.", "Findings show possible {}."),
    ("Cannot exclude {}.", "{} cannot be excluded."),
    ("There is likely {}.", "Findings are likely due to {}."),
    ("Findings are concerning for {}.", "The appearance is concerning for {}."),
]
"""One hedged sentence per (hedge of ``_HEDGE``, frame): whole sentences rather than a frame around a hedge, because
no frame fits every hedge ("There is may represent X" and "Findings possible X" are not English). Each stays
grammatical after the cleaner removes or rewrites its hedge ("There is X.", "Findings represent X.", "X.",
"Findings are due to X.", "The appearance is consistent with X.")."""
_PLURAL_HEADS = frozenset({"opacities"})
"""Head nouns of ``_NOUN`` that are plural: their sentences take "are"/"have" ("opacities ... are seen")."""
_CHANGE = {
    "new": ["new {}", "newly appeared {}"],
    "worse": ["{} has worsened", "interval increase in {}", "{} is larger"],
    "stable": ["{} is unchanged", "stable {}", "{} is not significantly changed"],
    "improved": ["{} has improved", "interval decrease in {}", "{} is smaller"],
    "resolved": ["the previously seen {} has resolved", "interval resolution of {}"],
}
_DEVICE = {"ett": ["ETT terminates 4 cm above the carina", "endotracheal tube in standard position"],
           "ngt": ["NGT courses below the diaphragm", "enteric tube tip in the stomach"],
           "central_line": ["right IJ central line tip in the SVC", "central venous catheter ends in the low SVC"],
           "pacemaker": ["left chest wall pacemaker with lead in the right ventricle", "dual-lead pacer in place"]}
_INDICATIONS = ["___-year-old {} with cough and fever, eval for pneumonia", "___ {} with shortness of breath",
                "{} with chest pain", "___-year-old {} s/p fall, eval for fracture", "{} with CHF, eval for edema",
                "Pre-operative evaluation in a ___ {}", "{} with hypoxia"]


def _pick(rng: np.random.Generator, xs: list[str]) -> str:
    return xs[int(rng.integers(len(xs)))]


def _agree(template: str, phrase: str) -> str:
    """``template`` with its verb made plural when ``phrase`` has a plural head ("There is {}" -> "There are {}",
    "{} has worsened" -> "{} have worsened"); only the verb right after "There" or after the phrase changes."""
    if not _PLURAL_HEADS & set(phrase.split()):
        return template
    return re.sub(r"(^There|\{\}) (is|has)\b", lambda m: f"{m.group(1)} {'are' if m.group(2) == 'is' else 'have'}",
                  template)


def _where(f: Finding, rng: np.random.Generator, abbr: bool) -> str:
    if f.lobe and f.kind in ("consolidation", "pneumonia", "nodule"):
        if f.hidden_frontal:
            return "in the retrocardiac left lower lobe"
        return f"in the {f.lobe}" if abbr and f.lobe != "lingula" else f"in the {LOBE_WORDS[f.lobe]}"
    if f.side == "bilateral":
        return "b/l" if abbr else "bilateral"
    return f.side


def describe(f: Finding, rng: np.random.Generator, abbr: bool) -> str:
    """One finding as a noun phrase with severity, side/lobe and, for a nodule, a measurement."""
    if f.kind == "support_devices":
        return "; ".join(_pick(rng, _DEVICE[d]) for d in f.device.split("+"))
    noun = _pick(rng, _NOUN[f.kind])
    if not abbr:
        noun = noun.replace("PTX", "pneumothorax").replace(" c/w CHF", "")
    if f.kind == "nodule":
        b = round(f.size_cm * float(rng.uniform(0.7, 1.0)), 1)
        word = "mass" if f.size_cm >= 3 else noun
        return f"{f.size_cm} cm x {b} cm {word} {_where(f, rng, abbr)}"
    where = _where(f, rng, abbr)
    if f.kind == "cardiomegaly":
        return f"{f.severity_word} {noun}"
    if f.kind == "fracture":
        return f"{f.side} posterior {int(f.pos[1]) + 2}th {noun}"
    if where.startswith("in the"):
        return f"{f.severity_word} {noun} {where}"
    return f"{f.severity_word} {where} {noun}" if where else f"{f.severity_word} {noun}"


def _sentence(f: Finding, rng: np.random.Generator, abbr: bool, has_prior: bool) -> str:
    phrase = describe(f, rng, abbr)
    if f.kind == "support_devices":
        return phrase[0].upper() + phrase[1:] + "."
    if f.hedged:
        # Two draws in this order (frame, then hedge), as in generator 1.1.0, so every later draw of the study's
        # generator, and hence its images and labels, stays the same.
        frame = int(rng.integers(2))
        s = _agree(_HEDGED[int(rng.integers(len(_HEDGE)))][frame], phrase).format(phrase)
    elif has_prior and f.change:
        template = _pick(rng, _CHANGE[f.change])
        noun = phrase if f.change != "resolved" else _pick(rng, _NOUN[f.kind])
        s = _agree(template, noun).format(noun)
        s = ("Compared to the prior study, " if rng.random() < 0.5 else "") + s + "."
    else:
        s = _agree(_pick(rng, ["There is {}.", "{} is seen.", "{}."]), phrase).format(phrase)
    return s[0].upper() + s[1:]


def write_report(plan: StudyPlan, rng: np.random.Generator) -> tuple[str, list[str]]:
    """(report text, kinds the report negates)."""
    abbr = rng.random() < 0.35
    has_prior = plan.prior_study_id is not None
    present = {f.kind for f in plan.findings if f.present or f.change == "resolved"}
    absent = [k for k in PATHOLOGIES if k not in present]
    negated = sorted(rng.choice(absent, size=min(len(absent), int(rng.integers(1, 4))), replace=False).tolist()) \
        if absent else []
    pos = [_sentence(f, rng, abbr, has_prior) for f in plan.findings]
    neg = [_pick(rng, _NEG[k]) for k in negated]
    findings_txt = " ".join(pos + neg) or "Lungs are clear."
    if not any(f.present and f.kind != "support_devices" for f in plan.findings):
        findings_txt = ("Lungs are clear. " if rng.random() < 0.6 else "") + findings_txt
        impression = _pick(rng, ["No acute cardiopulmonary process.", "No acute intrathoracic abnormality.",
                                 "Normal chest radiograph."])
    else:
        impression = " ".join(pos[: 2]) if rng.random() < 0.5 else " ".join(pos)
    view = "CHEST (PORTABLE AP)" if plan.view == "AP" else ("CHEST (PA AND LAT)" if plan.has_lateral else "CHEST (PA)")
    sex = "man" if rng.random() < 0.5 else "woman"
    parts = [f"EXAMINATION:  {view}", f"INDICATION:  {_pick(rng, _INDICATIONS).format(sex)}.",
             "COMPARISON:  " + ("Chest radiograph from ___." if has_prior else "None.")]
    style = rng.random()
    if style < 0.1:  # impression-only: every positive sentence moves there, and nothing is negated
        parts.append(f"IMPRESSION:  {' '.join(pos) if pos and impression not in pos else impression}")
        negated = []
    elif style < 0.2:
        parts.append(f"FINDINGS:  {findings_txt}")
    else:
        parts += [f"FINDINGS:  {findings_txt}", f"IMPRESSION:  {impression}"]
    text = "                                 FINAL REPORT\n " + "\n \n ".join(parts) + "\n"
    return text, negated


def text_query(kind: str | None, rng: np.random.Generator) -> str:
    """A short report-like sentence for a ConVIRT text query of one class (None = No Finding)."""
    from clinvla_kit.synth.plan import random_finding  # local: plan imports nothing from here
    if kind is None:
        return _pick(rng, ["No acute cardiopulmonary process.", "Lungs are clear. No effusion or pneumothorax.",
                           "Normal chest radiograph."])
    f = random_finding(rng, kind, allow_hidden=False)
    return _sentence(f, rng, False, False)
