"""CheXpert-14 labels of a study from the generator's ground truth (never parsed from the report text).

Semantics (as in ``mimic-cxr-2.0.0-chexpert.csv``): 1.0 the finding is present and stated; -1.0 present but the
report hedges it ("may represent"); 0.0 the report explicitly negates it (or says it resolved); blank (None) not
mentioned. "No Finding" is 1.0 when no pathology is present (support devices allowed), else blank; "Lung Opacity"
follows consolidation and pneumonia; "Enlarged Cardiomediastinum" and "Pleural Other" are never generated (blank).
"""

from __future__ import annotations

from collections.abc import Iterable

from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.synth.findings import KIND_TO_CHEXPERT, OPACITY_KINDS, Finding


def study_labels(findings: Iterable[Finding], negated: Iterable[str]) -> dict[str, float | None]:
    """Labels in ``CHEXPERT_LABELS`` order. ``negated``: finding kinds the report explicitly negates."""
    labels: dict[str, float | None] = {name: None for name in CHEXPERT_LABELS}
    for kind in negated:
        labels[KIND_TO_CHEXPERT[kind]] = 0.0
    pathology = False
    for f in findings:
        name = KIND_TO_CHEXPERT[f.kind]
        if not f.present:
            labels[name] = 0.0 if labels[name] is None else labels[name]
            continue
        value = -1.0 if f.hedged else 1.0
        labels[name] = value if labels[name] != 1.0 else 1.0
        if f.kind in OPACITY_KINDS and labels["Lung Opacity"] != 1.0:
            labels["Lung Opacity"] = value
        pathology = pathology or f.kind != "support_devices"
    if not pathology:
        labels["No Finding"] = 1.0
    return labels
