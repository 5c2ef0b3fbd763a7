"""Clinically equivalent report variants: one study's ``ReportFacts`` written in five styles.

| style | what it looks like | why |
|---|---|---|
| ``mimic`` | FINDINGS (every statement as a sentence) + IMPRESSION (the positive ones) | MIMIC-CXR's own layout |
| ``impression`` | IMPRESSION only, every statement as a full sentence | many hospitals send only an impression |
| ``telegraphic`` | IMPRESSION only, abbreviation-rich telegraphic phrases ("Sm Lt eff. No PTX. ETT 4 cm abv carina.") | another institution's house style (site B) |
| ``expanded`` | the telegraphic phrases with every abbreviation written out ("Small left effusion. ...") | the acronym benchmark's targets |
| ``structured`` | FINDINGS as a "- Observation: attributes." list | templated/structured reporting |

Every style states every statement (presence, negation, hedge, grade, side/lobe/rib, measurement, device position,
change vs prior), so a variant's labels are the study's. The telegraphic style's abbreviations are looked up in the
kit's table (``clinvla_kit.data.abbreviations``), and ``expanded`` replaces each by that table's expansion, so
``expand_abbreviations(telegraphic)`` equals ``expanded`` up to letter case (tested). Wording choices come from
``report_facts.wording_rng`` per statement, so they are deterministic per seed and independent of the other
statements.
"""

from __future__ import annotations

from clinvla_kit.data.abbreviations import ABBREVIATIONS
from clinvla_kit.synth.findings import LOBE_WORDS
from clinvla_kit.synth.report_facts import ReportFacts, Statement, wording_rng

STYLES: tuple[str, ...] = ("mimic", "impression", "telegraphic", "expanded", "structured")

_SMALL_KINDS = frozenset({"pleural_effusion", "pneumothorax"})
_COUNTABLE = frozenset({"pleural_effusion", "pneumothorax", "nodule", "fracture"})
_GRADE_WORD = {"minimal": "minimal", "mild": "mild", "moderate": "moderate", "severe": "severe"}
_GRADE_WORD_SMALL = {"minimal": "trace", "mild": "small", "moderate": "moderate", "severe": "large"}
_NOUN = {"cardiomegaly": ["cardiomegaly", "enlargement of the cardiac silhouette"],
         "pleural_effusion": ["pleural effusion"], "pneumothorax": ["pneumothorax"],
         "consolidation": ["consolidation", "airspace consolidation"], "pneumonia": ["pneumonia"],
         "atelectasis": ["atelectasis"], "edema": ["pulmonary edema", "interstitial pulmonary edema"],
         "nodule": ["nodule"], "fracture": ["rib fracture"]}
_NEG = {"cardiomegaly": ["Heart size is normal.", "No cardiomegaly."],
        "pleural_effusion": ["No pleural effusion.", "There is no pleural effusion."],
        "pneumothorax": ["No pneumothorax.", "There is no pneumothorax."],
        "consolidation": ["No focal consolidation."], "pneumonia": ["No evidence of pneumonia."],
        "atelectasis": ["No atelectasis."], "edema": ["No pulmonary edema."],
        "nodule": ["No suspicious pulmonary nodule."], "fracture": ["No acute rib fracture."]}
_TITLE = {"cardiomegaly": "Cardiomegaly", "pleural_effusion": "Pleural effusion", "pneumothorax": "Pneumothorax",
          "consolidation": "Consolidation", "pneumonia": "Pneumonia", "atelectasis": "Atelectasis",
          "edema": "Pulmonary edema", "nodule": "Pulmonary nodule", "fracture": "Rib fracture",
          "device:ett": "Endotracheal tube", "device:ngt": "Nasogastric tube",
          "device:central_line": "Central venous catheter", "device:pacemaker": "Pacemaker"}
DEVICE_PROSE: dict[str, dict[str, str]] = {
    "ett": {"above_carina": "An endotracheal tube terminates {cm} cm above the carina.",
            "right_mainstem": "An endotracheal tube terminates in the right mainstem bronchus.",
            "esophagus": "An endotracheal tube projects over the esophagus.",
            "thoracic_inlet": "An endotracheal tube terminates at the level of the thoracic inlet."},
    "ngt": {"stomach": "A nasogastric tube courses below the diaphragm with its tip in the stomach.",
            "esophagus": "A nasogastric tube terminates in the distal esophagus.",
            "coiled": "A nasogastric tube is coiled in the pharynx.",
            "bronchus": "A nasogastric tube enters the right lower lobe bronchus."},
    "central_line": {"svc": "A right internal jugular central venous catheter ends in the superior vena cava.",
                     "right_atrium": "A right internal jugular central venous catheter ends in the right atrium.",
                     "azygos": "A right internal jugular central venous catheter ends in the azygos vein.",
                     "subclavian": "A right internal jugular central venous catheter ends in the right subclavian vein."},
    "pacemaker": {"rv": "A left chest wall pacemaker has its lead in the right ventricle.",
                  "svc": "A left chest wall pacemaker has its lead tip in the superior vena cava.",
                  "coronary_sinus": "A left chest wall pacemaker has its lead in the coronary sinus.",
                  "pulmonary_artery": "A left chest wall pacemaker has its lead tip in the pulmonary artery."},
}
"""Prose for each device position (the first key of each device is the correct one, ``DEVICE_OK``)."""

# Telegraphic tokens: a token that is a key of the kit's abbreviation table is written short in ``telegraphic`` and
# as the table's expansion in ``expanded``.
_T_NOUN = {"cardiomegaly": "cardiomeg", "pleural_effusion": "eff", "pneumothorax": "PTX", "consolidation": "consol",
           "pneumonia": "PNA", "atelectasis": "atx", "edema": "pulm edema", "nodule": "nodule", "fracture": "rib fx"}
_T_GRADE = {"minimal": "minimal", "mild": "mild", "moderate": "Mod", "severe": "Sev"}
_T_GRADE_SMALL = {"minimal": "trace", "mild": "Sm", "moderate": "Mod", "severe": "Lg"}
_T_SIDE = {"left": "Lt", "right": "Rt", "bilateral": "b/l"}
_T_CHANGE = {"worse": "incr", "improved": "decr", "stable": "unchg"}
DEVICE_TELEGRAPHIC: dict[str, dict[str, str]] = {
    "ett": {"above_carina": "ETT {cm} cm abv carina", "right_mainstem": "ETT in Rt mainstem bronchus",
            "esophagus": "ETT in esophagus", "thoracic_inlet": "ETT at thoracic inlet"},
    "ngt": {"stomach": "NGT in stomach", "esophagus": "NGT tip distal esophagus", "coiled": "NGT coiled in pharynx",
            "bronchus": "NGT in RLL bronchus"},
    "central_line": {"svc": "Rt IJ CVC tip SVC", "right_atrium": "Rt IJ CVC tip RA", "azygos": "Rt IJ CVC tip azygos",
                     "subclavian": "Rt IJ CVC tip Rt subclavian vein"},
    "pacemaker": {"rv": "Lt chest PPM, lead RV", "svc": "Lt chest PPM, lead tip SVC",
                  "coronary_sinus": "Lt chest PPM, lead coronary sinus", "pulmonary_artery": "Lt chest PPM, lead tip pulm artery"},
}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _cm(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _pick(seed: int, facts: ReportFacts, s: Statement, options: list[str], tag: str = "") -> str:
    rng = wording_rng(seed, facts.study_id, f"{s.kind}:{s.polarity}:{tag}")
    return options[int(rng.integers(len(options)))]


# -- prose (mimic, impression) ----------------------------------------------------------------------------------
def _where(s: Statement) -> str:
    if s.lobe:
        return f"in the {'retrocardiac ' if s.retrocardiac else ''}{LOBE_WORDS[s.lobe]}"
    return ""


def phrase(s: Statement, seed: int, facts: ReportFacts) -> str:
    """A finding as a noun phrase: grade, side or lobe, measurement ("small left pleural effusion")."""
    noun = _pick(seed, facts, s, _NOUN[s.kind], "noun")
    grade = (_GRADE_WORD_SMALL if s.kind in _SMALL_KINDS else _GRADE_WORD).get(s.grade, "")
    if s.kind == "nodule":
        return f"{_cm(s.size_cm)} cm {'mass' if s.size_cm >= 3 else noun} {_where(s)}"
    if s.kind == "fracture":
        return f"{s.side} posterior {_ordinal(s.rib)} {noun}"
    if s.kind == "edema" or s.kind == "cardiomegaly":
        return f"{grade} {noun}".strip()
    if s.lobe:
        return f"{grade} {noun} {_where(s)}".strip()
    side = s.side + " " if s.side else ""
    if s.kind == "pleural_effusion" and s.side == "bilateral":
        noun = "pleural effusions"
    return f"{grade} {side}{noun}".strip()


def sentence(s: Statement, seed: int, facts: ReportFacts) -> str:
    """One statement as a full sentence."""
    if s.is_device:
        return DEVICE_PROSE[s.device][s.position].format(cm=_cm(s.ett_cm))
    if s.polarity == "absent":
        return _pick(seed, facts, s, _NEG[s.kind])
    p = phrase(s, seed, facts)
    if s.polarity == "resolved":
        where = _where(s) or (s.side if s.side not in ("", "bilateral") else "")
        return f"The previously seen {_NOUN[s.kind][0]} {where}".strip() + " has resolved."
    if s.hedged:
        return f"There is possible {p}."
    if facts.has_prior and s.change:
        return {"new": f"There is a new {p}.", "worse": f"The {p} has worsened since the prior study.",
                "stable": f"The {p} is unchanged from the prior study.",
                "improved": f"The {p} has improved since the prior study."}[s.change]
    plural = s.kind == "pleural_effusion" and s.side == "bilateral"
    there = "There are {}." if plural else ("There is a {}." if s.kind in _COUNTABLE else "There is {}.")
    return _cap(_pick(seed, facts, s, [there, "{} " + ("are" if plural else "is") + " seen."], "frame").format(p))


def _positives(facts: ReportFacts) -> list[Statement]:
    return [s for s in facts.statements if not s.is_device and s.polarity in ("present", "resolved")]


def render_mimic(facts: ReportFacts, seed: int) -> str:
    # (not "The lungs are clear.": the labeler reads it as Lung Opacity 0, a label the study does not have)
    findings = " ".join(sentence(s, seed, facts) for s in facts.statements) or "No acute cardiopulmonary abnormality."
    pos = [sentence(s, seed, facts) for s in _positives(facts) if s.polarity == "present"]
    impression = " ".join(pos) if pos else "No acute cardiopulmonary process."
    resolved = [sentence(s, seed, facts) for s in _positives(facts) if s.polarity == "resolved"]
    impression = " ".join([impression] + resolved)
    return f" FINDINGS:  {findings}\n \n IMPRESSION:  {impression}\n"


def render_impression(facts: ReportFacts, seed: int) -> str:
    body = " ".join(sentence(s, seed, facts) for s in facts.statements) or "No acute cardiopulmonary process."
    return f" IMPRESSION:  {body}\n"


# -- telegraphic / expanded ---------------------------------------------------------------------------------------
def _tok(word: str, abbreviate: bool) -> str:
    """An abbreviation of the kit's table, short or expanded; words of several tokens are mapped token by token."""
    if abbreviate:
        return word
    out = []
    for w in word.split(" "):
        core, tail = (w[:-1], w[-1]) if w[-1:] in ",;" else (w, "")
        out.append(ABBREVIATIONS.get(core, core) + tail)
    return " ".join(out)


def telegraphic_phrase(s: Statement, abbreviate: bool = True) -> str:
    """A statement as a telegraphic phrase (no final full stop)."""
    t = lambda w: _tok(w, abbreviate)
    if s.is_device:
        return " ".join(t(w) for w in DEVICE_TELEGRAPHIC[s.device][s.position].format(cm=_cm(s.ett_cm)).split(" "))
    noun = t(_T_NOUN[s.kind])
    if s.kind == "pleural_effusion" and s.side == "bilateral":
        noun = t("effs") if abbreviate else "effusions"
    if s.polarity == "absent":
        return f"No {noun}"
    where = t(s.lobe) if s.lobe in ("RUL", "RML", "RLL", "LUL", "LLL") else s.lobe
    if s.retrocardiac:
        where = f"retrocardiac {where}"
    side = t(_T_SIDE[s.side]) if s.side else ""
    if s.polarity == "resolved":
        return f"{where or side} {noun} resolved".strip()
    grade = t((_T_GRADE_SMALL if s.kind in _SMALL_KINDS else _T_GRADE).get(s.grade, "")) if s.grade else ""
    if s.kind == "nodule":
        body = f"{_cm(s.size_cm)} cm {where} {'mass' if s.size_cm >= 3 else noun}"
    elif s.kind == "fracture":
        body = f"{side} posterior {_ordinal(s.rib)} {noun}"
    elif s.kind in ("edema", "cardiomegaly"):
        body = f"{grade} {noun}"
    else:
        body = f"{grade} {where or side} {noun}"
    body = " ".join(body.split())
    if s.hedged:
        return f"{t('poss')} {body}"
    if s.change == "new":
        return f"New {body}"
    if s.change in _T_CHANGE:
        return f"{body}, {t(_T_CHANGE[s.change])}"
    return body


def render_telegraphic(facts: ReportFacts, seed: int, abbreviate: bool = True) -> str:
    """Impression only, one telegraphic phrase per statement ("Sm Lt eff. No PTX. ETT 4 cm abv carina.")."""
    parts = [_cap(telegraphic_phrase(s, abbreviate)) + "." for s in facts.statements]
    return f" IMPRESSION:  {' '.join(parts) or 'No acute process.'}\n"


# -- structured -----------------------------------------------------------------------------------------------------
def structured_line(s: Statement, seed: int, facts: ReportFacts) -> str:
    """"- Pleural effusion: small, left; worsened since the prior study." (negations: "- Pneumothorax: absent.")."""
    title = _TITLE[s.kind]
    if s.is_device:
        body = DEVICE_PROSE[s.device][s.position].format(cm=_cm(s.ett_cm))
        body = body.split(" ", 1)[1].rstrip(".")  # drop the article
        return f" - {title}: {body}."
    if s.polarity == "absent":
        return f" - {title}: absent."
    if s.polarity == "resolved":
        where = LOBE_WORDS.get(s.lobe, s.side)
        return f" - {title}: {where + ', ' if where else ''}resolved since the prior study."
    attrs = []
    if s.grade:
        attrs.append((_GRADE_WORD_SMALL if s.kind in _SMALL_KINDS else _GRADE_WORD)[s.grade])
    if s.size_cm:
        attrs.append(f"{_cm(s.size_cm)} cm")
    if s.lobe:
        attrs.append(("retrocardiac " if s.retrocardiac else "") + LOBE_WORDS[s.lobe])
    elif s.side and s.kind != "edema":
        attrs.append(s.side)
    if s.rib:
        attrs.append(f"posterior {_ordinal(s.rib)} rib")
    text = ", ".join(attrs)
    if facts.has_prior and s.change and not s.hedged:
        text += "; " + {"new": "new since the prior study", "worse": "worsened since the prior study",
                        "stable": "unchanged from the prior study", "improved": "improved since the prior study"}[
            s.change]
    if s.hedged:
        return f" - Possible {title.lower()}: {text}."
    return f" - {title}: {text}."


def render_structured(facts: ReportFacts, seed: int) -> str:
    lines = [structured_line(s, seed, facts) for s in facts.statements] or [" - Lungs: clear."]
    return " FINDINGS:\n" + "\n".join(lines) + "\n"


def render(facts: ReportFacts, style: str, seed: int) -> str:
    """``facts`` as a report in ``style`` (one of ``STYLES``)."""
    if style == "mimic":
        return render_mimic(facts, seed)
    if style == "impression":
        return render_impression(facts, seed)
    if style == "telegraphic":
        return render_telegraphic(facts, seed, abbreviate=True)
    if style == "expanded":
        return render_telegraphic(facts, seed, abbreviate=False)
    if style == "structured":
        return render_structured(facts, seed)
    raise ValueError(f"unknown report style {style!r}; styles are {STYLES}")


def all_styles(facts: ReportFacts, seed: int) -> dict[str, str]:
    """style -> report text, for every style."""
    return {s: render(facts, s, seed) for s in STYLES}
