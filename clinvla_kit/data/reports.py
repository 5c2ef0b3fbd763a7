"""Report preprocessing: sections, clean-up, abbreviations, hedges, measurements.

The image-text pairs the model learns from should hold what is *seen* on the films: FINDINGS and IMPRESSION.
History, indication, technique and comparison describe why and how the study was taken, carry no image content,
and would let the model match reports by boilerplate instead of findings, so their headers and bodies are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from clinvla_kit.data.abbreviations import ABBREVIATIONS
from clinvla_kit.data.errors import DataError

SECTION_ALIASES: dict[str, str] = {
    "FINDINGS": "findings", "FINDING": "findings",
    "IMPRESSION": "impression", "IMPRESSIONS": "impression", "CONCLUSION": "impression", "CONCLUSIONS": "impression",
    "EXAMINATION": "examination", "EXAM": "examination", "STUDY": "examination", "PROCEDURE": "examination",
    "INDICATION": "indication", "INDICATIONS": "indication", "REASON FOR EXAM": "indication",
    "REASON FOR EXAMINATION": "indication", "CLINICAL INDICATION": "indication",
    "HISTORY": "history", "CLINICAL HISTORY": "history", "CLINICAL INFORMATION": "history",
    "TECHNIQUE": "technique",
    "COMPARISON": "comparison", "COMPARISONS": "comparison",
    "NOTIFICATION": "notification", "RECOMMENDATION": "recommendation", "RECOMMENDATIONS": "recommendation",
    "RECOMMENDATION(S)": "recommendation", "WET READ": "wet_read", "ADDENDUM": "addendum",
}
"""Header text (upper case, without the colon) -> canonical section name."""

KEEP_SECTIONS: tuple[str, ...] = ("findings", "impression")
DROP_SECTIONS: frozenset[str] = frozenset(
    {"examination", "indication", "history", "technique", "comparison", "notification", "wet_read"}
)

HEDGES: tuple[str, ...] = (
    "cannot be excluded", "can not be excluded", "cannot be ruled out", "can not be ruled out",
    "cannot exclude", "can not exclude", "cannot rule out", "can not rule out", "is not excluded", "not excluded",
    "may represent", "could represent", "might represent", "may reflect", "could reflect", "may be", "could be",
    "might be", "is suggestive of", "suggestive of", "concerning for",
    "suspicious for", "questionable", "possibly", "possible", "probably", "probable", "likely", "presumably",
    "perhaps", "suggests",
)
"""Hedge phrases removed when ``remove_hedges`` (longest first at match time). Removing the phrase keeps the
finding it qualified, i.e. a hedged finding is read as present, as the paper does (and like CheXpert's U-Ones)."""

HEDGE_REWRITES: dict[str, str] = {
    "may represent": "represents", "could represent": "represents", "might represent": "represents",
    "may reflect": "reflects", "could reflect": "reflects",
    "may be": "is", "could be": "is", "might be": "is",
    "is suggestive of": "is consistent with", "suggestive of": "consistent with",
    "concerning for": "consistent with", "suspicious for": "consistent with", "suggests": "indicates",
}
"""Hedges that link a finding to its description are rewritten to the assertive form instead of deleted, so the
sentence stays grammatical ("opacities concerning for infection" -> "opacities consistent with infection", not
"opacities infection"); every other hedge (adverbs such as "possibly", "likely", "cannot be excluded") is deleted."""

_HEADER_NAMES = sorted(SECTION_ALIASES, key=len, reverse=True)
_HEADER_ALT = "|".join(re.escape(h) for h in _HEADER_NAMES)
# A header at the start of a line, any case ("Findings:", "FINDINGS:").
_HEADER_LINE = re.compile(rf"(?im)^[ \t]*(?P<name>{_HEADER_ALT})[ \t]*:")
# A header inside a line: in capitals after any space ("... COMPARISON: None. FINDINGS: ..."), or in any case right
# after a sentence end ("... clear. impression: ..."); prose such as "the study: ..." is left alone.
_HEADER_INLINE = re.compile(rf"(?<=\s)(?P<name>{_HEADER_ALT})[ \t]*:")
_HEADER_AFTER_SENTENCE = re.compile(rf"(?i)[.!?][ \t]+(?P<name>{_HEADER_ALT})[ \t]*:")
_FINAL_REPORT = re.compile(r"(?im)^[ \t]*FINAL REPORT[ \t]*$")


def extract_sections(text: str) -> dict[str, str]:
    """Split a report into sections: canonical name -> body (whitespace collapsed).

    Text before the first header is "preamble"; a section that appears twice is joined with a space. Headers are
    recognised at a line start in any case, or inside a line when written in capitals.
    """
    text = _FINAL_REPORT.sub(" ", text.replace("\r\n", "\n"))
    hits: dict[int, re.Match[str]] = {}
    for m in _HEADER_LINE.finditer(text):
        hits[m.start("name")] = m
    for m in _HEADER_INLINE.finditer(text):
        hits.setdefault(m.start("name"), m)
    for m in _HEADER_AFTER_SENTENCE.finditer(text):
        hits.setdefault(m.start("name"), m)
    starts = sorted(hits)
    sections: dict[str, str] = {}

    def add(name: str, body: str) -> None:
        body = " ".join(body.split())
        if body:
            sections[name] = f"{sections[name]} {body}" if name in sections else body

    add("preamble", text[: hits[starts[0]].start("name")] if starts else text)
    for i, s in enumerate(starts):
        m = hits[s]
        end = hits[starts[i + 1]].start("name") if i + 1 < len(starts) else len(text)
        add(SECTION_ALIASES[m.group("name").upper()], text[m.end() : end])
    return {k: v for k, v in sections.items() if v}


_DEID_XRAY = re.compile(r"(?<![A-Za-z])([xX])-X{4,}(?![A-Za-z])")
_DEID_TOKEN = re.compile(r"[A-Za-z]*X{4,}[A-Za-z]*")  # with letters glued on: "XXXXpm", "XXXXs"


def remove_deid(text: str) -> str:
    """Drop de-identification blanks: MIMIC's "___" (runs of underscores) and NLM Open-I's "XXXX".

    Open-I's de-identification replaced dates, times and also many ordinary words with "XXXX" ("There are no XXXX
    of a pleural effusion", "Normal chest x-XXXX"); the token must reach neither the tokenizer nor the labeler as a
    word. "x-XXXX" is restored to "x-ray" (the only word it can be there); every other run of four or more capital
    X's is deleted with any letters glued to it ("XXXXpm" in the real release: a time), since the word it belongs
    to is de-identified (three, "XXX", is left alone: it can be a Roman numeral).
    """
    text = re.sub(r"_+", " ", text)
    text = _DEID_XRAY.sub(lambda m: f"{m.group(1)}-ray", text)
    return _DEID_TOKEN.sub(" ", text)


def expand_abbreviations(text: str, table: dict[str, str] | None = None) -> str:
    """Expand abbreviations on word boundaries, in one pass (expansions are never re-expanded).

    Capitalised entries match only in capitals; entries with lower-case letters match in any case.
    """
    table = ABBREVIATIONS if table is None else table
    upper = sorted((k for k in table if not any(c.islower() for c in k)), key=len, reverse=True)
    lower = sorted((k for k in table if any(c.islower() for c in k)), key=len, reverse=True)
    lookup = dict(table) | {k.lower(): table[k] for k in lower}
    b, e = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
    if upper:
        text = re.sub(b + "(" + "|".join(map(re.escape, upper)) + ")" + e, lambda m: lookup[m.group(1)], text)
    if lower:
        text = re.sub(b + "(" + "|".join(map(re.escape, lower)) + ")" + e,
                      lambda m: lookup[m.group(1).lower()], text, flags=re.IGNORECASE)
    return text


_VERB_REWRITES: dict[str, str] = {"represents": "represent", "reflects": "reflect", "is": "are",
                                  "indicates": "indicate"}
"""Rewrites that are verbs, with their plural form (after a plural subject: "opacities may be" -> "are")."""
_COPULA_BEFORE = re.compile(r"(?i)(?<![A-Za-z])(?:is|are|was|were|be|been)\s*$")
_THERE_BE_BEFORE = re.compile(r"(?i)(?<![A-Za-z])there\s+(?:is|are|was|were)\s*$")
_BARE_FINDINGS_BEFORE = re.compile(r"(?i)(?:^|[.!?:]\s*)findings\s*$")
_LAST_WORD = re.compile(r"([A-Za-z]+)\s*$")
_SINGULAR_S = frozenset({"this", "was", "has", "its", "thus", "chest", "less", "is"})


def _is_plural(word: str) -> bool:
    """A crude plural test for the subject before a hedge ("opacities", "findings", not "atelectasis", "mass")."""
    w = word.lower()
    return w.endswith("s") and not w.endswith(("ss", "is", "us")) and w not in _SINGULAR_S


def _hedge_replacement(m: re.Match[str]) -> str:
    """What replaces one hedge, given the words before it, so the sentence stays grammatical:

    - a linking hedge becomes its assertive form (``HEDGE_REWRITES``), except that a verb form is dropped after a
      copula ("There is may represent X" -> "There is X", not "There is represents X") and agrees with a plural
      subject ("Findings may represent X" -> "Findings represent X"); after "there is" every linking hedge is
      dropped ("There is concerning for X" -> "There is X");
    - any other hedge is deleted, except after a bare "Findings" (SynthCXR's "Findings possible X"), where it
      becomes "show" ("Findings show X", not "Findings X").
    """
    before = m.string[: m.start()]
    rewrite = HEDGE_REWRITES.get(m.group(0).lower(), "")
    if rewrite and _THERE_BE_BEFORE.search(before):
        rewrite = ""
    elif rewrite in _VERB_REWRITES:
        if _COPULA_BEFORE.search(before):
            rewrite = ""
        else:
            last = _LAST_WORD.search(before)
            if last and _is_plural(last.group(1)):
                rewrite = _VERB_REWRITES[rewrite]
    elif not rewrite and _BARE_FINDINGS_BEFORE.search(before):
        rewrite = "show"
    return f" {rewrite} "


def remove_hedge_phrases(text: str, hedges: tuple[str, ...] = HEDGES) -> str:
    """Remove hedge phrases (whole words, any case), keeping the finding they qualify.

    Linking hedges are rewritten to their assertive form (``HEDGE_REWRITES``); the others are deleted; the words
    before a hedge decide the form that keeps the sentence grammatical (``_hedge_replacement``).
    """
    if not hedges:
        return text
    alt = "|".join(re.escape(h) for h in sorted(hedges, key=len, reverse=True))
    return re.sub(rf"(?i)(?<![A-Za-z])(?:{alt})(?![A-Za-z])", _hedge_replacement, text)


_NUM = r"(\d+(?:\.\d+)?)"
_UNIT = r"(mm|cm|m)"
_MEAS3 = re.compile(rf"{_NUM}\s*(?:{_UNIT}\s*)?[x×]\s*{_NUM}\s*(?:{_UNIT}\s*)?[x×]\s*{_NUM}\s*{_UNIT}\b")
_MEAS2 = re.compile(rf"{_NUM}\s*(?:{_UNIT}\s*)?[x×]\s*{_NUM}\s*{_UNIT}\b")


def _fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def normalize_measurements(text: str) -> str:
    """"2 cm x 3 cm" / "2 x 3 cm" -> "6 cm^2"; three dimensions -> volume ("cm^3").

    Only products whose factors share the unit are rewritten (a unit given on the first factor must equal the last).
    """
    def vol(m: re.Match[str]) -> str:
        a, u1, b, u2, c, u3 = m.groups()
        if any(u not in (None, u3) for u in (u1, u2)):
            return m.group(0)
        return f"{_fmt(float(a) * float(b) * float(c))} {u3}^3"

    def area(m: re.Match[str]) -> str:
        a, u1, b, u2 = m.groups()
        if u1 not in (None, u2):
            return m.group(0)
        return f"{_fmt(float(a) * float(b))} {u2}^2"

    return _MEAS2.sub(area, _MEAS3.sub(vol, text))


def tidy(text: str) -> str:
    """Whitespace and punctuation clean-up after deletions: collapse spaces, drop empty sentences and space
    before punctuation, capitalise sentence starts."""
    text = " ".join(text.split())
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"[,;:]\s*\.", ".", text)
    text = re.sub(r"(?:^|(?<=[.!?]))\s*[.,;:](?:\s*[.,;:])*", " ", text)  # empty sentences / leading punctuation
    text = re.sub(r"\.{2,}", ".", text)
    text = " ".join(text.split())
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text).strip()


def _strip_headers(text: str) -> str:
    text = _FINAL_REPORT.sub(" ", text)
    text = _HEADER_LINE.sub(" ", text)
    text = _HEADER_AFTER_SENTENCE.sub(lambda m: m.group(0)[0] + " ", text)
    return _HEADER_INLINE.sub(" ", text)


def select_text(text: str) -> str:
    """FINDINGS then IMPRESSION; without either, the preamble and unknown sections; if still nothing, the whole text
    minus the header labels."""
    sections = extract_sections(text)
    kept = [sections[k] for k in KEEP_SECTIONS if k in sections]
    if not kept:
        kept = [v for k, v in sections.items() if k not in DROP_SECTIONS]
    if not kept:
        kept = [_strip_headers(text)]
    return " ".join(kept)


def clean_report(
    text: str, expand_abbreviations: bool = True, remove_hedges: bool = True, normalize_measurements: bool = False,
    hedges: tuple[str, ...] = HEDGES, source: str | Path | None = None,
) -> str:
    """The text the model is trained on: FINDINGS + IMPRESSION, de-identification blanks removed, abbreviations
    expanded, hedges removed (configurable), optional measurement normalisation, tidy whitespace.

    Args:
        source: the study id or report file, named in the error when nothing is left.
    Raises:
        DataError: when the cleaned report is empty.
    """
    out = remove_deid(select_text(text or ""))
    if normalize_measurements:
        out = _normalize_measurements(out)
    if remove_hedges:
        out = remove_hedge_phrases(out, hedges)
    if expand_abbreviations:
        out = _expand(out)
    out = tidy(out)
    if not re.search(r"[A-Za-z0-9]", out):
        raise DataError("report is empty after cleaning (no FINDINGS/IMPRESSION text)", file=source)
    return out


_normalize_measurements = normalize_measurements
_expand = expand_abbreviations
