"""The kit's labeler with medspaCy's ConText deciding negation and uncertainty: the comparison of issue 16.

Why this exists: negation and uncertainty detection is a solved problem in well-kept libraries (ConText, Harkema
et al. 2009, as implemented in medspaCy), so the kit's own triggers must earn their place against it. Only the
part under test is swapped: the same section selection, normalisation, sentences and mentions
(``labeler.mention_spans``, ``NEGATIVE_MENTIONS`` and ``IGNORED`` included) are handed to ConText as the targets of
a blank spaCy English pipeline (no model download) with medspaCy's default ConText rules; each mention's status
then comes from ConText instead of the kit's nearest-trigger rule:

- ``is_negated`` -> 0.0; ``is_uncertain`` or ``is_hypothetical`` -> -1.0; otherwise 1.0 (``is_historical`` and
  ``is_family`` do not change presence, as CheXpert's labeler does not model them);
- the kit's direct statements of absence ("heart size is normal") stay 0.0: ConText has no such rule.

``medspacy`` is not a dependency of the kit: on the 3,734 indexed Open-I reports ConText scored macro F1 0.838 /
0.832 (U-Zeros / U-Ones) against the kit's 0.907 / 0.855 (``bench/RESULTS.md``), so the kit's rules stay; this
module imports it lazily and says how to install it when it is missing. medspaCy 1.3 needs spaCy < 3.8, whose
compiled parts (thinc 8.2) need numpy < 2: it cannot share an environment with the kit's numpy 2, so the
benchmark ran it in a separate virtual environment (see ``bench/RESULTS.md``).
"""

from __future__ import annotations

from functools import lru_cache

from clinvla_kit.data.labeler import (
    Mention,
    aggregate,
    labelled_text,
    mention_spans,
    normalise,
    split_sentences,
)


@lru_cache(maxsize=1)
def _pipeline():
    """(blank English nlp, ConText component with medspaCy's default rules); built once."""
    try:
        import spacy
        from medspacy.context import ConText
    except ImportError as e:
        raise ImportError("labeler_context needs medspacy (`pip install medspacy`; it pins spaCy < 3.8 and so "
                          f"numpy < 2: use a separate environment): {e}") from None
    nlp = spacy.blank("en")
    return nlp, ConText(nlp, rules="default")


def context_mentions(sentence: str) -> list[Mention]:
    """The kit's mentions of one (normalised) sentence with ConText's status; ``trigger`` names the modifier."""
    from spacy.tokens import Span

    nlp, context = _pipeline()
    found, _ = mention_spans(sentence)
    doc = nlp.make_doc(sentence)
    for tok in doc:
        tok.is_sent_start = tok.i == 0
    ents, out, seen = [], [], set()
    for start, end, tag, text in sorted(found):
        kind, obs = tag.split(":", 1)
        if kind in ("neg", "unc"):  # the kit's direct statements ("heart size is normal") stay as they are
            out.append(Mention(obs, text, sentence, 0.0 if kind == "neg" else -1.0, text))
            continue
        span = doc.char_span(start, end, label=obs, alignment_mode="expand")
        if span is None or any(i in seen for i in range(span.start, span.end)):
            continue
        seen.update(range(span.start, span.end))
        ents.append(span)
    doc.ents = [Span(doc, s.start, s.end, label=s.label_) for s in ents]
    doc = context(doc)
    for ent in doc.ents:
        mods = [m.category for m in ent._.modifiers]
        if ent._.is_negated:
            status = 0.0
        elif ent._.is_uncertain or ent._.is_hypothetical:
            status = -1.0
        else:
            status = 1.0
        out.append(Mention(ent.label_, ent.text, sentence, status, ",".join(mods)))
    return out


def find_mentions_context(report: str) -> list[Mention]:
    """Every mention of a report with ConText's status (``labeler.find_mentions`` with ConText's decisions)."""
    return [m for s in split_sentences(normalise(labelled_text(report))) for m in context_mentions(s)]


def label_report_context(text: str) -> dict[str, float | None]:
    """CheXpert-14 labels of one report, negation and uncertainty by ConText (see the module docstring)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty report: nothing to label")
    return aggregate(find_mentions_context(text))


def label_reports_context(texts: list[str]) -> list[dict[str, float | None]]:
    """``label_report_context`` over many reports."""
    return [label_report_context(t) for t in texts]
