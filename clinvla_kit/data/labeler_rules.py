"""Vocabulary of the rule-based CheXpert labeler: mentions, triggers, terminators, abbreviations.

Kept apart from the matching logic (``labeler.py``) so a learner can read, extend and test the vocabulary without
touching the algorithm. All patterns are regular expressions matched on lower-cased text with word boundaries
added by the labeler. The lists follow the spirit of the CheXpert labeler (Irvin et al. 2019) and NegEx (Chapman et
al. 2001), written from scratch for this kit; they are deliberately small and readable, not exhaustive.
"""

from __future__ import annotations

# Abbreviations expanded before matching (word-bounded, lower-case). Kept small: only shorthand that names an
# observation or flips its meaning. A wider table from ``clinvla_kit.data.abbreviations`` is merged in when present.
ABBREVIATIONS: dict[str, str] = {
    "ptx": "pneumothorax",
    "pna": "pneumonia",
    "chf": "congestive heart failure",
    "ett": "endotracheal tube",
    "et tube": "endotracheal tube",
    "ngt": "nasogastric tube",
    "ng tube": "nasogastric tube",
    "og tube": "orogastric tube",
    "cvc": "central venous catheter",
    "ij": "internal jugular",
    "fx": "fracture",
    "fxs": "fractures",
    "eff": "effusion",
    "effs": "effusions",
    "r/o": "rule out",
    "w/o": "without",
    "s/p": "status post",
    "b/l": "bilateral",
    "ccy": "cholecystectomy",
    "nl": "normal",
    "wnl": "within normal limits",
    "aicd": "defibrillator",
    "icd": "defibrillator",
}

# Observation -> mention patterns that assert the observation (their status then comes from triggers).
MENTIONS: dict[str, tuple[str, ...]] = {
    "Atelectasis": (r"atelecta(?:sis|ses|tic)", r"(?:lobar|segmental|subsegmental) collapse",
                    r"collapse of the (?:\w+ )?(?:lower |upper |middle )?(?:lobe|lung)", r"collapsed (?:\w+ )?(?:\w+ )?lobe",
                    r"volume loss", r"loss of (?:lung )?volume"),
    "Cardiomegaly": (
        r"cardiomegaly",
        # "heart is enlarged", "heart size remains slightly large", "heart size at mildly enlarged" (Open-I)
        r"(?:heart|cardiac silhouette|cardiac shadow|cardiac size|heart size)(?: is| are| remains?| appears?)?"
        r"(?: at)?(?: \w+ly)? (?:enlarged|large)",
        r"enlarged (?:heart|cardiac silhouette)",
        r"enlargement of the (?:heart|cardiac silhouette)",
        r"(?:cardiac|heart) enlargement",
        # "increased size of cardiac silhouette", "interval increase in heart size"
        r"increased? (?:in )?(?:the )?(?:size of (?:the )?)?(?:heart|cardiac silhouette|cardiac shadow)(?: size)?",
        r"increased? (?:in )?(?:the )?(?:heart|cardiac) size",
    ),
    "Consolidation": (r"consolidat(?:ion|ions|ive|ed)",),
    "Edema": (
        r"o?edema(?:tous)?",
        r"congestive heart failure",
        r"(?:pulmonary )?vascular congestion",
        r"(?:pulmonary )?congestion",
        r"(?:pulmonary )?(?:venous |vascular )engorgement",
        r"pulmonary venous hypertension",
        r"(?:vascular |venous )?cephalization",
        r"(?:pulmonary )?vascular redistribution",
    ),
    "Enlarged Cardiomediastinum": (
        r"enlarged cardiomediastin(?:um|al silhouette)",
        r"cardiomediastinal (?:silhouette|contour)s? (?:is |are )?(?:\w+ly )?(?:enlarged|widened)",
        r"(?:widened|widening of the|enlarged) mediastin(?:um|al silhouette)",
        r"mediastinal (?:widening|enlargement)",
    ),
    "Fracture": (r"fractur(?:e|es|ed)",),
    "Lung Lesion": (
        r"nodul(?:e|es|ar opacity|ar opacities|ar density)",
        r"(?:lung |pulmonary |hilar |lobe )?mass(?:es)?",
        r"(?:lung |pulmonary |cavitary )lesions?",
        r"tumou?rs?",
        r"neoplasms?",
        r"carcinoma",
    ),
    "Lung Opacity": (
        r"(?:lung |airspace |air-space |parenchymal |patchy |hazy |focal |basilar |bibasilar )?opacit(?:y|ies)",
        r"opacification",
        r"infiltrat(?:e|es|ion)",
        r"air-?space disease",
        r"haziness",
        r"ground[- ]glass",
    ),
    "Pleural Effusion": (
        r"(?:pleural )?effusions?",
        r"pleural fluid",
        r"hydrothorax",
        r"blunting of (?:the )?(?:\w+ ){0,2}costophrenic(?: angles?| recess(?:es)?| sulc(?:us|i))?",
        r"blunted (?:\w+ )?costophrenic(?: angles?| recess(?:es)?| sulc(?:us|i))?",
        r"costophrenic (?:angle |recess )?blunting",
    ),
    "Pleural Other": (
        r"pleural (?:thickening|plaques?|scarring|calcifications?)",
        r"fibrothorax",
    ),
    "Pneumonia": (r"(?:broncho)?pneumonias?", r"infectious process", r"infection"),
    "Pneumothorax": (r"pneumothora(?:x|ces)", r"hydropneumothorax"),
    "Support Devices": (
        r"(?:endotracheal|tracheostomy|nasogastric|orogastric|enteric|feeding|chest|dobhoff) tubes?",
        r"tracheostomy",
        r"(?:central venous |swan-ganz |pulmonary artery |picc |indwelling |dialysis )?catheters?",
        r"picc(?: line)?",
        r"(?:central|internal jugular|subclavian) (?:venous )?line",
        r"(?:lines and tubes|tubes and lines|support devices?|monitoring devices?)",
        r"pacemaker(?: leads?)?",
        r"pacer(?: leads?)?",
        r"defibrillator",
        r"port-a-cath",
        r"(?:chest )?port",
        r"stents?",
    ),
}

# Phrases that state an observation is absent directly ("heart size is normal"): a mention with status 0.
NEGATIVE_MENTIONS: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": (
        r"(?:heart|cardiac) (?:size|silhouette)(?: is| are)? (?:normal|within normal limits|unremarkable|not enlarged)",
        r"(?:normal|unremarkable) (?:heart|cardiac) (?:size|silhouette)",
        r"(?:heart|cardiac silhouette)(?: is)? not enlarged",
    ),
    "Enlarged Cardiomediastinum": (
        r"cardiomediastinal (?:silhouette|contours?)(?: is| are)? (?:normal|within normal limits|unremarkable|stable)",
        r"(?:normal|unremarkable) cardiomediastinal (?:silhouette|contours?)",
        r"mediastin(?:um|al contours?)(?: is| are)? (?:normal|within normal limits|unremarkable)",
    ),
    "Lung Opacity": (r"lungs (?:are |remain )?clear(?! of)",),
}

# Phrases that state an observation is uncertain by themselves, where the hedge sits inside the phrase ("heart size
# borderline enlarged", "the heart is borderline in size"): a mention with status -1.
UNCERTAIN_MENTIONS: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": (
        r"(?:heart|cardiac silhouette|cardiac shadow|cardiac size|heart size)(?: is| appears?| remains?)?(?: at)?"
        r"(?: the)? borderline(?: in size| enlarged| large)?",
        r"borderline (?:heart|cardiac) (?:size|enlargement)",
    ),
}

# Spans consumed before mention matching so their words do not count ("pericardial effusion" is not pleural).
IGNORED: tuple[str, ...] = (
    r"pericardial effusions?",
    r"joint effusions?",
    r"mass effect",
    r"body mass",
    r"soft tissue (?:edema|swelling)",
    r"(?:catheter|lead|leads|wire|wires|screw|hardware) fracture",
    r"(?:catheter|lead|wire|screw) (?:is )?fractured",
    r"laryngeal edema",
    # healed granulomatous disease ("residuals of prior granulomatous infection") is not pneumonia
    r"(?:granulomatous|tuberculous|tuberculosis|histoplasm\w*) infections?",
    r"(?:prior|previous|old|remote|healed) (?:granulomatous |tuberculous )?infections?",
)

# Triggers. "pre" triggers act on mentions after them, "post" triggers on mentions before them, both within one
# clause. Pseudo triggers look like negations but are not ("no change in the effusion" keeps the effusion).
# Double negations ("cannot be excluded", "not ruled out") are uncertainty triggers; the longest trigger wins a
# span, so the "not" inside them never acts as a negation on its own.
PSEUDO: tuple[str, ...] = (
    r"no (?:significant |substantial |appreciable )?(?:interval )?change",
    r"not (?:significantly )?changed",
    r"without (?:significant )?(?:interval )?change",
    r"no (?:significant )?(?:increase|decrease|worsening|improvement)",
    r"not only",
    r"no longer intubated",
)
NEG_PRE: tuple[str, ...] = (
    r"no",
    r"not",
    r"without",
    r"absence of",
    r"absent",
    r"negative for",
    r"free of",
    r"clear of",
    r"no evidence of",
    r"no signs? of",
    r"no definite",
    r"no longer(?: any)?(?: evidence of)?",
    r"to suggest",
    r"(?:interval )?resolution of",
    r"resolved",
    r"removal of",
    r"rather than",
    r"never",
)
NEG_POST: tuple[str, ...] = (
    r"(?:is|are|was|were)? ?not (?:well[- ]|definitely |clearly )?(?:seen|identified|present|visualized|demonstrated|evident|appreciated|detected)",
    # the boilerplate "rib fractures may not be demonstrated (on radiographs)" asserts nothing
    r"(?:may|might|will) not be (?:demonstrated|seen|visible|detected|apparent)",
    r"(?:is|are|was|were|has|have)? ?(?:been )?(?:absent|resolved|removed|withdrawn)",
    r"(?:is|are) no longer (?:seen|present|visualized|identified|evident)",
    r"no longer (?:seen|present|visualized|identified|evident)",
    r"(?:has|have) (?:been )?ruled out",
    r"(?:is|are) gone",
    r"(?:is|are|appears?|remains?)? ?within (?:the )?(?:limits of normal|normal limits)",
    r"(?:has|have) cleared",
)
UNC_PRE: tuple[str, ...] = (
    r"possible",
    r"possibly",
    r"probable",
    r"probably",
    r"may(?: be| represent| reflect| indicate)?",
    r"might",
    r"could(?: be| represent| reflect)?",
    r"questionable",
    r"question(?: of)?",
    r"suspicion (?:for|of)",
    r"evaluation for",
    r"(?:clinical(?:ly)? )?correlat(?:e|ion)(?: clinically)? (?:for|to)",
    r"in the (?:appropriate |proper )?clinical (?:setting|context)",
    r"suspicious for",
    r"suspect(?:ed)?",
    r"concern(?:ing)? for",
    r"likely",
    r"suggest(?:s|ive of|ing)?",
    r"cannot (?:be )?(?:entirely |completely |definitely )?(?:excluded?|ruled? out)",
    r"can ?not (?:be )?(?:entirely |completely )?(?:excluded?|ruled? out)",
    r"not (?:be )?(?:entirely |completely )?(?:excluded|ruled out)",
    r"difficult to (?:completely |entirely )?(?:exclude|rule out)",
    r"rule out",
    r"versus",
    r"vs\.?",
    r"differential(?: diagnosis)?(?: includes?)?",
    r"equivocal",
    r"borderline",
    r"presumed",
    r"cannot distinguish",
)
UNC_POST: tuple[str, ...] = (
    r"(?:is|are) (?:not|difficult to be) (?:entirely |completely )?(?:excluded|ruled out)",
    r"(?:cannot|can not|could not) (?:be )?(?:entirely |completely |definitely )?(?:excluded|ruled out)",
    r"not (?:entirely |completely )?(?:excluded|ruled out)",
    r"(?:is|are) (?:possible|suspected|likely|questioned|not certain)",
    r"(?:is|are|would be) (?:also )?(?:a|another) consideration",
    r"(?:is|are) in the differential(?: diagnosis)?",
    r"(?:is|are)? ?suspected",
    r"versus",
    r"vs\.?",
    r"\?",
)

# Clause terminators: a trigger's scope stops here. Commas are NOT terminators, because lists ("no effusion,
# pneumothorax or edema") are the most common scope in radiology reports.
TERMINATORS: tuple[str, ...] = (
    r";",
    r"but",
    r"however",
    r"although",
    r"though",
    r"whereas",
    r"except(?: for)?",
    r"aside from",
    r"apart from",
    r"otherwise",
    r"which",
    r"while",
    r"there (?:is|are|has been|have been|remains?|was|were)",
    r"and the",  # "no pneumothorax and the effusion is unchanged": a new subject starts a new clause
)

# Report sections the labeler reads when section headers exist (CheXpert labels the impression; we read findings
# and impression so that short impressions like "no change" do not lose the findings).
LABELLED_SECTIONS: tuple[str, ...] = ("findings", "impression", "conclusion", "summary")
