"""The query a finding's map is judged on: a prompt for Grad-CAM, the report's own sentence for word-to-patch maps.

A report-level map (the report's similarity, or its words' attention averaged) is one map per image, scored against
every finding of that image: in a study with an effusion and an enlarged heart it cannot point at both. A map
judged on a finding must be asked about that finding:

- Grad-CAM and occlusion: the target is the cosine similarity to the finding's *prompt*, the finding as a report
  states it ("moderate left pleural effusion", "mild consolidation in the right lower lobe"), a text the model
  embeds like any report (``finding_prompt``);
- word-to-patch attention: a prompt alone does not work. The local loss first normalises each patch's scores over
  the report's words (softmax over words, then over patches; ``losses._chunk_scores``), so a one-word query gives
  every patch weight 1 and a flat map, and a short prompt only shares the patches among its own few words. The
  attention that training optimised is that of a word *among the report's words*, so the finding's map is the
  mean attention of the content words of the report's positive sentence(s) about it (``finding_word_rows``).

The keyword table follows SynthCXR's report vocabulary (``clinvla_kit.synth.reports``): every positive sentence of
a finding names it with one of these words; a negated sentence ("No pleural effusion.") is never chosen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clinvla_kit.synth.findings import LOBE_WORDS

FINDING_NOUNS: dict[str, str] = {
    "atelectasis": "atelectasis", "cardiomegaly": "cardiomegaly", "consolidation": "consolidation",
    "edema": "pulmonary edema", "fracture": "rib fracture", "nodule": "pulmonary nodule",
    "pleural_effusion": "pleural effusion", "pneumonia": "pneumonia", "pneumothorax": "pneumothorax",
    "support_devices": "support devices",
}
"""Annotation finding name -> the noun of its prompt."""

FINDING_KEYWORDS: dict[str, frozenset[str]] = {
    "atelectasis": frozenset({"atelectasis", "volume"}),
    "cardiomegaly": frozenset({"cardiomegaly", "cardiac", "heart", "cardiothoracic"}),
    "consolidation": frozenset({"consolidation", "opacity"}),
    "edema": frozenset({"edema", "congestion", "chf"}),
    "fracture": frozenset({"fracture"}),
    "nodule": frozenset({"nodule", "nodular", "mass"}),
    "pleural_effusion": frozenset({"effusion", "effusions", "fluid"}),
    "pneumonia": frozenset({"pneumonia", "infection", "opacities"}),
    "pneumothorax": frozenset({"pneumothorax", "ptx"}),
    "support_devices": frozenset({"tube", "catheter", "line", "pacemaker", "wires", "clips", "device", "picc",
                                  "tip", "leads"}),
}
"""Words (lower case, whole words after WordPiece merging) that name a finding in a SynthCXR sentence."""

LOBAR = frozenset({"consolidation", "pneumonia", "nodule"})
"""Findings a report places by lobe ("in the left lower lobe") rather than by side."""

GRADED = frozenset({"atelectasis", "cardiomegaly", "consolidation", "edema", "pleural_effusion", "pneumonia",
                    "pneumothorax"})
"""Findings a report grades ("small", "moderate", "large"); a nodule is measured and a fracture counted instead."""

NEGATIONS = frozenset({"no", "not", "normal", "without", "clear", "resolved", "negative"})
"""A sentence with one of these is not a positive mention (SynthCXR's negations: "No ...", "... is not enlarged",
"Heart size is normal", "Lungs are clear")."""

FILLER = frozenset({".", ",", ";", ":", "the", "a", "an", "of", "is", "are", "there", "seen", "in", "on", "and",
                    "with", "to", "be", "has", "have", "findings", "appearance"})
"""Words left out of a sentence's mean map: punctuation and function words carry no location."""


def finding_prompt(annotation: Mapping[str, Any]) -> str:
    """The prompt of one annotation row: the finding as a report states it, with its grade and where it is.

    SynthCXR's reports phrase a finding as grade + place + noun ("moderate left pleural effusion", "mild
    cardiomegaly") or, for a lobar opacity, grade + noun + lobe ("severe consolidation in the right lower lobe";
    ``synth.reports.describe``), and the model learned where a finding is from those place words. The place is part
    of the question (the mask is in that lobe or on that side): on the tutorial's data with the shipped model,
    occlusion maps of frontal consolidations against "right consolidation" hit the mask 0.00 of the time (random
    0.02), against "moderate consolidation in the right lower lobe" 0.58 (bench/bench_grounding_prompts.py,
    bench/RESULTS.md "Session 10"). Fields a row lacks (a real data
    set's boxes have no grade or lobe) are left out: "left pleural effusion", "cardiomegaly".
    """
    finding = str(annotation["finding"])
    noun = FINDING_NOUNS.get(finding, finding.replace("_", " "))
    side = str(annotation.get("side") or "")
    lobe = str(annotation.get("lobe") or "")
    grade = str(annotation.get("severity_word") or "") if finding in GRADED else ""
    if lobe in LOBE_WORDS and finding in LOBAR:
        return " ".join(w for w in (grade, noun, "in the", LOBE_WORDS[lobe]) if w)
    place = side if finding != "cardiomegaly" and side in ("left", "right", "bilateral") else ""
    return " ".join(w for w in (grade, place, noun) if w)


def sentences(words: Sequence[str]) -> list[list[int]]:
    """Word indices split at sentence ends ("." and ";")."""
    out: list[list[int]] = []
    cur: list[int] = []
    for i, w in enumerate(words):
        cur.append(i)
        if w in (".", ";"):
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def finding_word_rows(words: Sequence[str], finding: str) -> list[int]:
    """Indices of the content words of every positive sentence of ``words`` that names ``finding``.

    Args:
        words: the report's words (``word_patch_attention(...)["words"]``: lower case, WordPiece pieces merged).
        finding: an annotation finding name ("pleural_effusion").
    Returns:
        Word indices (sentence order; a sentence repeated in the impression contributes twice, as it is read twice),
        empty when the report has no positive sentence about the finding.
    """
    keys = FINDING_KEYWORDS.get(finding, frozenset({finding.replace("_", " ")}))
    rows: list[int] = []
    for sent in sentences(words):
        ws = {str(words[i]).lower() for i in sent}
        if ws & keys and not ws & NEGATIONS:
            rows += [i for i in sent if str(words[i]).lower() not in FILLER]
    return rows
