"""One text query's hit list judged: P@k, an interval for it, and the chance level it has to beat.

Chance is the archive's base rate of the query's finding(s) (``demo.chance``): a random ranking puts, in
expectation, that share of relevant studies into any top-k. The interval is the Wilson score interval of
``hits`` successes in ``k`` trials. Why Wilson: with k = 5 the normal approximation gives intervals outside [0, 1]
(5 of 5 would be [1, 1]); Clopper-Pearson is valid but wider than needed; Wilson keeps close to nominal coverage at
small k. It treats the k hits as k draws, which is the usual reading of one query's precision; the benchmark
metrics of notebook 04 average many queries and bootstrap over them instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from clinvla_kit.data.records import CHEXPERT_LABELS, StudyRecord
from clinvla_kit.demo.chance import is_relevant, query_labels


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``successes`` in ``n`` trials: the ``p`` with ``|successes/n - p| <= z sqrt(p(1-p)/n)``.

    Raises:
        ValueError: ``n < 1`` or ``successes`` outside ``[0, n]``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got successes={successes}, n={n}")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class QueryPrecision:
    """``precision`` = ``hits`` / ``k``; ``ci`` its Wilson interval; ``chance`` the archive base rate of ``labels``
    among ``n_archive`` studies; ``includes_chance``: whether the interval contains it."""

    query: str
    labels: tuple[str, ...]
    k: int
    hits: int
    precision: float
    ci: tuple[float, float]
    chance: float
    n_archive: int
    level: float = 0.95

    @property
    def includes_chance(self) -> bool:
        return self.ci[0] <= self.chance <= self.ci[1]

    def text(self) -> str:
        """``"P@5 0.80 (4 of 5 hits have Pleural Effusion), 95 % interval [0.38, 0.96]; chance 0.12 (...):
        the interval lies above chance"``."""
        names = " or ".join(self.labels)
        where = ("includes chance" if self.includes_chance else
                 "lies above chance" if self.ci[0] > self.chance else "lies below chance")
        return (f"P@{self.k} {self.precision:.2f} ({self.hits} of {self.k} hits have {names}), "
                f"{self.level:.0%} interval [{self.ci[0]:.2f}, {self.ci[1]:.2f}]; chance {self.chance:.2f} "
                f"(share of the {self.n_archive} archive studies with {names}, what a random ranking scores): "
                f"the interval {where}")


def query_precision(query: str, records: Sequence[StudyRecord], hit_indices: Sequence[int],
                    labels: Sequence[str] | str | None = None, level: float = 0.95) -> QueryPrecision:
    """Judge the hits ``hit_indices`` (into ``records``, the whole archive) of ``query``.

    Args:
        labels: the CheXpert observation(s) a relevant study is positive for; None reads them from the query
            with the kit's report labeler (``demo.chance.query_labels``).
    Raises:
        ValueError: no hits, an unknown label, or a query in which the labeler finds no finding (name one).
    """
    if isinstance(labels, str):
        labels = [labels]
    labels = list(labels) if labels is not None else query_labels(query)
    if not labels:
        raise ValueError(f"no finding recognised in the query {query!r}; pass labels=, one of {CHEXPERT_LABELS}")
    unknown = [x for x in labels if x not in CHEXPERT_LABELS]
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; labels are {CHEXPERT_LABELS}")
    if not hit_indices:
        raise ValueError("no hits to judge (k = 0 or an empty archive)")
    if not records:
        raise ValueError("empty archive")
    hits = sum(is_relevant(records[i], labels) for i in hit_indices)
    k = len(hit_indices)
    chance = sum(is_relevant(r, labels) for r in records) / len(records)
    return QueryPrecision(query=query, labels=tuple(labels), k=k, hits=hits, precision=hits / k,
                          ci=wilson_interval(hits, k, level), chance=chance, n_archive=len(records), level=level)
