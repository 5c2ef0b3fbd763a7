"""How high instance retrieval (a study's own report among N) can go when reports or findings repeat.

SynthCXR writes reports from a finite grammar, so many test studies share a report word for word, and more share
their findings. A retriever cannot rank a query's own report above an *identical* report (their embeddings are equal),
and one that reads only the findings cannot separate studies with the same findings. If the ``g`` items that share
the query's signature are ranked first in random order, the own item is in the top ``k`` with probability
``min(1, k / g)``: averaged over queries, that is the ceiling of R@k for that signature. Why it matters: the issue's
R@10 aim was set from real reports, which almost never repeat; on SynthCXR the ceiling says how much of the gap is the
data rather than the model.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ANNOTATION_FIELDS: tuple[str, ...] = ("finding", "side", "severity_word", "lobe", "change", "device")
"""The generator's attributes of a finding that the report can word (the mask and exact severity it cannot)."""


def tied_recall_at_k(signatures: Sequence[Hashable], k: int) -> np.ndarray:
    """Per query ``i``: ``min(1, k / g_i)``, ``g_i`` = how many items share ``signatures[i]`` (itself included).

    Shape: ``(len(signatures),)``, values in (0, 1]. The expected R@k of a retriever that ranks the query's tie group
    first and breaks ties at random."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    counts = Counter(signatures)
    return np.array([min(1.0, k / counts[s]) for s in signatures], dtype=np.float64)


def annotation_signatures(annotations: str | Path, study_ids: Sequence[str],
                          fields: Sequence[str] = ANNOTATION_FIELDS) -> list[tuple]:
    """Per study: the sorted set of its findings' ``fields`` over all its images (``()`` for a normal study).

    Args:
        annotations: SynthCXR's ``annotations.jsonl`` (one row per image and finding).
        study_ids: the studies to describe, in the order wanted.
    """
    path = Path(annotations)
    found: dict[str, set[tuple]] = defaultdict(set)
    with path.open() as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                found[str(row["study_id"])].add(tuple(row.get(name, "") for name in fields))
            except (json.JSONDecodeError, KeyError) as e:
                raise ValueError(f"{path}, line {line_no}: not an annotation row ({e})") from e
    return [tuple(sorted(found.get(str(s), ()))) for s in study_ids]


def label_signature(labels: dict[str, float | None]) -> tuple:
    """The CheXpert labels that are positive or uncertain, sorted: what a label-level retriever sees."""
    return tuple(sorted(name for name, v in labels.items() if v in (1.0, -1.0)))


def instance_ceilings(records: Sequence[Any], reports: Sequence[str], annotations: str | Path | None,
                      ks: Sequence[int] = (1, 5, 10)) -> dict[str, dict[str, float]]:
    """R@k ceilings of one instance-retrieval pool: identical cleaned report text (a bound for any retriever that
    embeds the text), identical generator findings (``annotations``; None skips it) and identical CheXpert labels.

    Returns ``{signature: {"R@k": mean ceiling, "groups": distinct signatures, "n": pool size}}``."""
    sigs: dict[str, list] = {"report_text": list(reports), "labels": [label_signature(r.labels) for r in records]}
    if annotations is not None:
        sigs["findings"] = annotation_signatures(annotations, [r.study_id for r in records])
    out: dict[str, dict[str, float]] = {}
    for name, s in sigs.items():
        out[name] = {f"R@{k}": float(tied_recall_at_k(s, k).mean()) for k in ks}
        out[name].update(groups=len(set(s)), n=len(s))
    return out
