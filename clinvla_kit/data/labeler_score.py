"""Score a labeler's output against a binary reference: per-observation precision / recall / F1 and error patterns.

Used by ``bench/bench_labeler_openi.py`` (the kit's labeler on the real Open-I reports against their MeSH major
terms, ``clinvla_kit.data.mesh``) and by its test. The reference is binary (present / not present), so a label is
turned into "present" by ``is_positive``: 1.0 always, -1.0 (uncertain) only with ``u_ones`` (CheXpert's U-Ones
reading), 0.0 and blank never.

Errors are grouped by *pattern* so that a rule that is wrong shows up as one large group, not as hundreds of
reports: a false positive is keyed by the mention words and the trigger that decided it ("effusion" / "" means the
mention was read as affirmed), a false negative by what the labeler did instead ("not mentioned", "negated by
'no'", "uncertain: 'may'").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def is_positive(value: float | None, u_ones: bool) -> bool:
    """A CheXpert label value as present/absent: 1.0 -> True, -1.0 -> ``u_ones``, 0.0 / None -> False."""
    return value == 1.0 or (u_ones and value == -1.0)


@dataclass
class ObservationScore:
    """Counts and rates of one observation. ``precision``/``recall``/``f1`` are 0.0 when undefined (no predicted
    or no true positives), as sklearn's ``zero_division=0``."""

    observation: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    fp_patterns: Counter = field(default_factory=Counter)
    fn_patterns: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(
    predictions: Sequence[dict[str, float | None]],
    references: Sequence[dict[str, bool]],
    observations: Sequence[str],
    u_ones: bool = True,
    explain: Callable[[int, str, bool], str] | None = None,
    report_text: Callable[[int], str] | None = None,
) -> dict[str, ObservationScore]:
    """Per-observation confusion counts of ``predictions`` (label dicts) against ``references`` (bool dicts).

    Args:
        predictions / references: one dict per report, same order and length.
        observations: keys to score (each must be in both kinds of dict).
        u_ones: count an uncertain (-1.0) label as present.
        explain: ``(report index, observation, was_false_positive) -> pattern`` for the error tables.
        report_text: ``report index -> text``; the first report of each pattern is kept as an example.

    Raises:
        ValueError: when the two sequences differ in length.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    out = {o: ObservationScore(o) for o in observations}
    for i, (pred, ref) in enumerate(zip(predictions, references)):
        for o in observations:
            s, p, t = out[o], is_positive(pred[o], u_ones), bool(ref[o])
            if p and t:
                s.tp += 1
            elif p:
                s.fp += 1
            elif t:
                s.fn += 1
            else:
                s.tn += 1
            if p != t and explain is not None:
                pattern = explain(i, o, p)
                (s.fp_patterns if p else s.fn_patterns)[pattern] += 1
                if report_text is not None:
                    s.examples.setdefault(("fp" if p else "fn", pattern), report_text(i))
    return out


def macro_f1(scores: dict[str, ObservationScore], observations: Sequence[str] | None = None) -> float:
    """Unweighted mean F1 over ``observations`` (default: all scored)."""
    names = list(scores) if observations is None else list(observations)
    return sum(scores[o].f1 for o in names) / len(names)
