"""Chance level of a demo query: what a random ranking of the archive would score, so a hit list can be judged.

A text query's findings are read by the kit's report labeler (``clinvla_kit.data.labeler``: the same rules that
label the reports, negation and uncertainty included); an archive study counts as relevant when it is positive for
one of them. P@k of a random ranking is then, in expectation, the share of relevant studies in the archive (the
base rate), which is the number a precision must beat. A query the labeler finds no observation in has no chance
level (None), rather than a made-up one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clinvla_kit.data.records import StudyRecord


@dataclass
class ChanceLevel:
    """``labels``: the query's positive observations; ``base_rate``: share of archive studies positive for any of
    them (expected P@k of a random ranking); ``precision``: share of the hits that are (None without hits)."""

    labels: list[str]
    base_rate: float
    precision: float | None
    relevant: list[bool]

    def text(self) -> str:
        """One line for the app: "P@5 0.80 (4 of 5 ...) against chance 0.12 (base rate of ...)"."""
        names = ", ".join(self.labels)
        if self.precision is None:
            return f"chance level {self.base_rate:.2f} (share of archive studies with {names})"
        k = len(self.relevant)
        return (f"P@{k} {self.precision:.2f} ({sum(self.relevant)} of {k} hits have {names}) against chance "
                f"{self.base_rate:.2f} (share of archive studies with {names})")


def query_labels(query: str) -> list[str]:
    """Observations a free-text query asserts (labeler status 1.0); "No Finding" only for a query that mentions a
    normal study in words (the labeler's default "No Finding" for a text without any finding is not used)."""
    from clinvla_kit.data.labeler import find_mentions, label_report

    if not query or not query.strip():
        return []
    labels = label_report(query)
    positive = [name for name, v in labels.items() if v == 1.0 and name != "No Finding"]
    if positive:
        return positive
    normal = ("no acute", "normal", "clear", "unremarkable", "no finding")
    if labels.get("No Finding") == 1.0 and (find_mentions(query) or any(w in query.lower() for w in normal)):
        return ["No Finding"]
    return []


def is_relevant(record: StudyRecord, labels: Sequence[str]) -> bool:
    return any(record.labels.get(name) == 1.0 for name in labels)


def chance_level(records: Sequence[StudyRecord], labels: Sequence[str],
                 hit_indices: Sequence[int] | None = None) -> ChanceLevel | None:
    """Base rate of ``labels`` among ``records`` and the precision of ``hit_indices`` (None when no labels)."""
    labels = list(labels)
    if not labels or not records:
        return None
    base = sum(is_relevant(r, labels) for r in records) / len(records)
    rel = [is_relevant(records[i], labels) for i in (hit_indices or [])]
    return ChanceLevel(labels=labels, base_rate=base, precision=(sum(rel) / len(rel)) if rel else None, relevant=rel)
