"""Open-I's MeSH indexing -> CheXpert observations: the reference the labeler is scored against on real reports.

Every NLM Open-I report (``ecgen-radiology/<n>.xml``) carries ``<MeSH><major>...</major></MeSH>`` terms written by
human indexers from the report: a MeSH heading followed by modifiers, ``/``-separated, e.g.
``Cardiomegaly/mild``, ``Cardiac Shadow/enlarged``, ``Opacity/lung/base/left/mild``, ``normal``. They are a fair but
imperfect reference for a CheXpert-style labeler, so the mapping is written down here once, as data, before any
rule of the labeler was tuned against it.

How each CheXpert observation maps to MeSH major terms (heading, and where given a modifier that must be present):

=========================== ================================================================================
CheXpert observation        MeSH major terms that make it positive
=========================== ================================================================================
Cardiomegaly                ``Cardiomegaly`` (any modifier, "borderline" included); ``Cardiac Shadow`` with
                            modifier ``enlarged``
Pleural Effusion            ``Pleural Effusion``; ``Hydropneumothorax``; ``Hemothorax``; ``Costophrenic Angle``
                            with ``blunted`` (CheXpert's own mention list counts costophrenic blunting)
Pneumothorax                ``Pneumothorax``; ``Hydropneumothorax``; ``Hemopneumothorax``
Edema                       ``Pulmonary Edema``; ``Pulmonary Congestion``; ``Heart Failure`` (CheXpert counts
                            "congestive heart failure" and "vascular congestion" as edema)
Atelectasis                 ``Pulmonary Atelectasis``; ``Volume Loss``
Consolidation               ``Consolidation``
Pneumonia                   ``Pneumonia``
Fracture                    ``Fractures, Bone`` (healed fractures included, as CheXpert does)
Lung Opacity                ``Opacity``, ``Airspace Disease``, ``Infiltrate``, ``Density`` with modifier ``lung``
Lung Lesion                 ``Nodule``, ``Mass``
Enlarged Cardiomediastinum  ``Mediastinum`` with ``enlarged`` or ``prominent``
Pleural Other               ``Thickening`` with ``pleura``; ``Pleura``
No Finding (CheXpert rule)  none of the twelve pathologies above, and the report is indexed (not "No Indexing")
No Finding (MeSH "normal")  the single term ``normal`` (reported alongside: stricter, see below)
=========================== ================================================================================

What the mapping cannot express:

- **Negation and uncertainty.** MeSH indexes what a report asserts; nothing marks "no effusion" (absent) against
  "effusion not mentioned", or a hedged finding. The comparison is binary (present / not present), so the
  labeler's 0 and blank both count as "not present"; its -1 (uncertain) is scored both ways (``u_ones``), and the
  bench reports which reading agrees better with the indexers.
- **"normal" is not CheXpert's "No Finding".** Indexers write ``normal`` only when nothing at all is indexed,
  while CheXpert's No Finding ignores everything outside its 14 observations (calcified granulomas, degenerative
  spine, hyperinflation, scoliosis, aortic calcification...). Both readings are reported; the CheXpert rule is
  the one that measures the labeler rather than the difference between the two vocabularies.
- **Severity and location** (``mild``, ``base/left``) are dropped; "borderline" cardiomegaly counts as present.
- **Indexer choice.** Indexers sometimes name the sign (``Opacity``) and not the diagnosis (pneumonia) the
  report suggests, or the reverse; such disagreements count as labeler errors though either may be right.
- **Lung Opacity, Lung Lesion, Enlarged Cardiomediastinum, Pleural Other** have only loose MeSH equivalents
  (``Density``, ``Granuloma`` vs ``Nodule``, ``Mediastinum/prominent``); they define the No Finding reference but
  are not among the scored observations.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from clinvla_kit.data.errors import DataError

MESH_MAP: dict[str, tuple[tuple[str, str | None], ...]] = {
    "Cardiomegaly": (("cardiomegaly", None), ("cardiac shadow", "enlarged")),
    "Pleural Effusion": (("pleural effusion", None), ("hydropneumothorax", None), ("hemothorax", None),
                         ("costophrenic angle", "blunted")),
    "Pneumothorax": (("pneumothorax", None), ("hydropneumothorax", None), ("hemopneumothorax", None)),
    "Edema": (("pulmonary edema", None), ("pulmonary congestion", None), ("heart failure", None)),
    "Atelectasis": (("pulmonary atelectasis", None), ("volume loss", None)),
    "Consolidation": (("consolidation", None),),
    "Pneumonia": (("pneumonia", None),),
    "Fracture": (("fractures, bone", None),),
    "Lung Opacity": (("opacity", None), ("airspace disease", None), ("infiltrate", None), ("density", "lung")),
    "Lung Lesion": (("nodule", None), ("mass", None)),
    "Enlarged Cardiomediastinum": (("mediastinum", "enlarged"), ("mediastinum", "prominent")),
    "Pleural Other": (("thickening", "pleura"), ("pleura", None)),
}
"""CheXpert observation -> (MeSH heading, required modifier or None), lower case (see the module docstring)."""

SCORED: tuple[str, ...] = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Edema", "Atelectasis",
                           "Consolidation", "Pneumonia", "Fracture", "No Finding")
"""The observations the real-report score averages over (issue 16's list)."""

NOT_INDEXED = "no indexing"


def parse_term(term: str) -> tuple[str, frozenset[str]]:
    """``"Opacity/lung/base/left"`` -> ("opacity", {"lung", "base", "left"}), lower case, blanks squeezed."""
    parts = [" ".join(p.split()).lower() for p in term.split("/")]
    return parts[0], frozenset(p for p in parts[1:] if p)


def mesh_observations(major_terms: list[str]) -> dict[str, bool]:
    """The reference of one report: {observation: present} for ``MESH_MAP``'s twelve, plus
    ``"No Finding"`` (CheXpert rule: none of the twelve) and ``"No Finding (MeSH normal)"``.

    Raises:
        ValueError: for a report indexed "No Indexing" or with no term (it has no reference; callers skip it).
    """
    parsed = [parse_term(t) for t in major_terms if t and t.strip()]
    if not parsed or any(h == NOT_INDEXED for h, _ in parsed):
        raise ValueError("report has no MeSH indexing")
    out = {obs: any(h == head and (mod is None or mod in mods) for h, mods in parsed for head, mod in rules)
           for obs, rules in MESH_MAP.items()}
    out["No Finding"] = not any(out.values())
    out["No Finding (MeSH normal)"] = all(h == "normal" for h, _ in parsed)
    return out


def read_major_terms(xml_path: str | Path) -> list[str]:
    """The ``<MeSH><major>`` terms of one Open-I XML report, in file order.

    Raises:
        DataError: the file is not well-formed XML (naming it).
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise DataError(f"not well-formed XML: {e}", file=Path(xml_path)) from None
    return [(m.text or "").strip() for m in root.iter("major") if (m.text or "").strip()]
