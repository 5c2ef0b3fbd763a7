"""A rule-based CheXpert-14 labeler for free-text chest X-ray reports (NegEx-style scopes).

Why a labeler in a teaching kit: users who bring their own reports (hospital data, Open-I) need observation labels
for P@k relevance or to build a 5x200-style set, and the CheXpert/CheXbert labelers are not installable offline.
This one is small enough to read in one sitting:

1. Keep the findings and impression sections when section headers exist (the indication says "r/o pneumonia",
   which is not a finding), lower-case, expand abbreviations (``labeler_rules.ABBREVIATIONS``).
2. Split into sentences, each sentence into clauses at terminators ("but", "however", ";", "there is", ...).
3. Find mentions (``MENTIONS``; longest match wins, so "pleural effusion" is one mention) and phrases that state
   absence or doubt directly ("heart size is normal", ``NEGATIVE_MENTIONS``; "heart size borderline enlarged",
   ``UNCERTAIN_MENTIONS``). Open-I's "XXXX" and MIMIC's "___" are removed first (``reports.remove_deid``).
4. Find triggers in the clause: negation and uncertainty, each either *pre* (acting on mentions after it) or
   *post* (acting on mentions before it); pseudo-negations ("no change in") are consumed and do nothing; double
   negations ("cannot be excluded") are uncertainty triggers that win their span by being longer.
5. Each mention takes the status of the *nearest* trigger in its clause (1 if none): nearest, so that in
   "possible effusion, no pneumothorax" the effusion is uncertain and the pneumothorax negative.
6. Aggregate per observation as CheXpert does: positive over uncertain over negative; not mentioned -> ``None``.
   "No Finding" is 1 when no pathology (every observation but Support Devices) is positive or uncertain.

Values are floats (1.0, 0.0, -1.0) or ``None``, the same encoding as ``StudyRecord.labels``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from clinvla_kit.data import labeler_rules as R
from clinvla_kit.data.records import CHEXPERT_LABELS

PATHOLOGIES: tuple[str, ...] = tuple(o for o in CHEXPERT_LABELS if o not in ("No Finding", "Support Devices"))


@dataclass(frozen=True)
class Mention:
    """One observation mention found in a report, with the trigger that decided its status.

    Attributes:
        observation: CheXpert observation name.
        text: the matched words (after lower-casing and abbreviation expansion).
        sentence: the sentence it was found in.
        status: 1.0 positive, 0.0 negated, -1.0 uncertain.
        trigger: the deciding trigger's words, or ``""`` when none applied.
    """

    observation: str
    text: str
    sentence: str
    status: float
    trigger: str = ""


def _bounded(pattern: str) -> str:
    """Wrap a pattern in word boundaries where it starts/ends with a word character (so "no" misses "nodule")."""
    left = r"(?<!\w)" if pattern[:1].isalnum() or pattern.startswith("(") else ""
    return rf"{left}(?:{pattern})(?!\w)" if left else pattern


@lru_cache(maxsize=1)
def _compiled() -> dict[str, object]:
    """Compile every rule once (the rules module is plain data so learners can edit it)."""
    abbreviations = dict(R.ABBREVIATIONS)
    abbr_keys = sorted(abbreviations, key=len, reverse=True)
    abbr_re = re.compile(r"(?<![\w/])(" + "|".join(re.escape(k) for k in abbr_keys) + r")(?![\w/])")

    def many(patterns: tuple[str, ...]) -> list[re.Pattern[str]]:
        return [re.compile(_bounded(p)) for p in patterns]

    return {
        "abbr": (abbr_re, abbreviations),
        "mentions": {o: many(ps) for o, ps in R.MENTIONS.items()},
        "negative": {o: many(ps) for o, ps in R.NEGATIVE_MENTIONS.items()},
        "uncertain": {o: many(ps) for o, ps in R.UNCERTAIN_MENTIONS.items()},
        "ignored": many(R.IGNORED),
        "triggers": [(kind, rx) for kind, ps in (
            ("pseudo", R.PSEUDO), ("neg_pre", R.NEG_PRE), ("neg_post", R.NEG_POST),
            ("unc_pre", R.UNC_PRE), ("unc_post", R.UNC_POST),
        ) for rx in many(ps)],
        "terminators": many(R.TERMINATORS),
    }


_HEADER = re.compile(r"(?im)^[ \t]*([a-z][a-z /&()-]{1,40}?)[ \t]*:")


def labelled_text(report: str) -> str:
    """The part of a report the labeler reads: findings + impression when headers exist, else all of it."""
    headers = list(_HEADER.finditer(report))
    if not headers:
        return report
    keep = []
    for i, h in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(report)
        if h.group(1).strip().lower() in R.LABELLED_SECTIONS:
            keep.append(report[h.end():end])
    return "\n".join(keep) if keep else report


def _shared_expander():
    """The data engineer's case-aware expander (``clinvla_kit.data.reports.expand_abbreviations``), if present.

    It runs first, on the original casing ("PA" but not "pa"); our small lower-case table then catches the
    observation shorthand that reports also write in lower case ("ptx", "r/o").
    """
    try:
        from clinvla_kit.data.reports import expand_abbreviations
    except ImportError:
        return None
    return expand_abbreviations


def normalise(text: str) -> str:
    """Remove de-identification tokens (``reports.remove_deid``: "___", Open-I's "XXXX"), expand abbreviations,
    lower-case and squeeze whitespace (inside a line)."""
    from clinvla_kit.data.reports import remove_deid

    text = remove_deid(text)
    shared = _shared_expander()
    if shared is not None:
        text = shared(text)
    abbr_re, table = _compiled()["abbr"]
    text = abbr_re.sub(lambda m: table[m.group(1)], text.lower())
    return re.sub(r"[ \t]+", " ", text)


def split_sentences(text: str) -> list[str]:
    """Split at full stops (not decimal points), newlines and '!'; keep '?' inside (it is an uncertainty cue)."""
    parts = re.split(r"(?<!\d)\.|\.(?!\d)|\n+|!", text)
    return [p.strip(" ,-*:") for p in parts if p and p.strip(" ,-*:")]


def _claim(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Claim [start, end) if it overlaps no claimed span (callers go longest-first, so the longest match wins)."""
    if any(start < e and s < end for s, e in spans):
        return False
    spans.append((start, end))
    return True


def _longest_first(matches: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Sort (start, end, tag, text) by length descending, then position, for greedy non-overlapping claims."""
    return sorted(matches, key=lambda m: (-(m[1] - m[0]), m[0]))


def mention_spans(sentence: str) -> tuple[list[tuple[int, int, str, str]], list[tuple[int, int]]]:
    """Step 3 alone: the mention spans of one sentence, before any trigger is looked at.

    Returns:
        (found, claimed): ``found`` is [(start, end, "pos:|neg:|unc:<observation>", words)] in
        character offsets of ``sentence``; ``claimed`` holds every span taken so far (ignored phrases included),
        so that triggers cannot overlap them. ``labeler_context`` reuses ``found`` to put the same mentions in
        front of medspaCy's ConText.
    """
    rules = _compiled()
    claimed: list[tuple[int, int]] = []
    for rx in rules["ignored"]:
        for m in rx.finditer(sentence):
            _claim(claimed, m.start(), m.end())
    found: list[tuple[int, int, str, str]] = []
    for kind, table in (("neg", rules["negative"]), ("unc", rules["uncertain"]), ("pos", rules["mentions"])):
        cands = [(m.start(), m.end(), f"{kind}:{o}", m.group(0)) for o, rxs in table.items() for rx in rxs
                 for m in rx.finditer(sentence) if m.end() > m.start()]
        # negative phrases first: "heart is not enlarged" must not leave "enlarged" to the positive rule
        found += [c for c in _longest_first(cands) if _claim(claimed, c[0], c[1])]
    return found, claimed


def _sentence_mentions(sentence: str) -> list[Mention]:
    """All mentions of one sentence with their status (see the module docstring, steps 3-5)."""
    rules = _compiled()
    found, claimed = mention_spans(sentence)
    triggers = [(m.start(), m.end(), kind, m.group(0)) for kind, rx in rules["triggers"]
                for m in rx.finditer(sentence) if m.end() > m.start()]
    kept: list[tuple[int, int, str, str]] = []
    for t in _longest_first(triggers):
        # Words may read both ways ("cannot be excluded"; "possible" inside "is possible"): a trigger overlapping
        # only kept triggers of the same polarity and the other direction is kept as well, so "there is possible
        # atelectasis" stays uncertain. A different polarity ("not" inside "not excluded") still loses.
        pol, direction = t[2].split("_")[0], t[2].split("_")[-1]
        over = [k for k in kept if t[0] < k[1] and k[0] < t[1]]
        if over and all(k[2].split("_")[0] == pol and k[2].split("_")[-1] != direction for k in over) \
                and pol != "pseudo" or _claim(claimed, t[0], t[1]):
            kept.append(t)
    triggers = kept
    cuts = sorted(m.start() for rx in rules["terminators"] for m in rx.finditer(sentence))

    def clause(pos: int) -> int:
        return sum(1 for c in cuts if c <= pos)

    out = []
    for start, end, tag, text in sorted(found):
        kind, obs = tag.split(":", 1)
        if kind in ("neg", "unc"):
            out.append(Mention(obs, text, sentence, 0.0 if kind == "neg" else -1.0, text))
            continue
        best: tuple[int, str, str] | None = None  # (distance, trigger kind, trigger text)
        for ts, te, tkind, ttext in triggers:
            if tkind == "pseudo":
                continue
            if tkind.endswith("_pre") and te <= start and clause(ts) == clause(start):
                dist = start - te
            elif tkind.endswith("_post") and ts >= end and clause(ts) == clause(start):
                dist = ts - end
            else:
                continue
            if best is None or dist < best[0]:
                best = (dist, tkind, ttext)
        status = 1.0 if best is None else (0.0 if best[1].startswith("neg") else -1.0)
        out.append(Mention(obs, text, sentence, status, "" if best is None else best[2]))
    return out


def find_mentions(report: str) -> list[Mention]:
    """Every observation mention in a report, in reading order, with its status and deciding trigger.

    Useful to see *why* a label came out as it did (notebook 09 prints these).
    """
    text = normalise(labelled_text(report))
    return [m for s in split_sentences(text) for m in _sentence_mentions(s)]


def aggregate(mentions: list[Mention]) -> dict[str, float | None]:
    """Mention statuses -> one label per observation (positive > uncertain > negative > None) + No Finding."""
    rank = {1.0: 3, -1.0: 2, 0.0: 1}
    labels: dict[str, float | None] = {o: None for o in CHEXPERT_LABELS}
    for m in mentions:
        cur = labels[m.observation]
        if cur is None or rank[m.status] > rank[cur]:
            labels[m.observation] = m.status
    if all(labels[o] not in (1.0, -1.0) for o in PATHOLOGIES):
        labels["No Finding"] = 1.0
    else:
        labels["No Finding"] = None
    return labels


def label_report(text: str) -> dict[str, float | None]:
    """CheXpert-14 labels of one report: observation -> 1.0 / 0.0 / -1.0 / None, keys in ``CHEXPERT_LABELS`` order.

    Raises:
        ValueError: when the report is empty or only whitespace (callers add the file and row; an empty report
            would otherwise come out as a confident "No Finding").
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty report: nothing to label")
    return aggregate(find_mentions(text))


def label_reports(texts: list[str]) -> list[dict[str, float | None]]:
    """``label_report`` over many reports; the error names the position of an empty one."""
    out = []
    for i, t in enumerate(texts):
        try:
            out.append(label_report(t))
        except ValueError as e:
            raise ValueError(f"report {i}: {e}") from None
    return out
