"""SynthCXR's ground-truth finding masks for the demo, looked up by image file.

SynthCXR writes one ``annotations.jsonl`` row per (image, finding) with a run-length-encoded mask; the image file
is named by its ``dicom_id``, so a view's masks are found from its path alone. Real data sets have no such file:
``MaskIndex.from_data_dir`` then returns an empty index and the app hides its "show masks" control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class MaskIndex:
    """``rows``: dicom_id -> list of (CheXpert label, RLE mask dict)."""

    rows: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)

    @classmethod
    def from_data_dir(cls, data_dir: str | Path | None) -> MaskIndex:
        """Read ``DATA/annotations.jsonl`` (findings with a mask only); an empty index when there is none."""
        from clinvla_kit.viz.grounding import load_annotations

        if data_dir is None or not (Path(data_dir) / "annotations.jsonl").is_file():
            return cls()
        rows: dict[str, list[tuple[str, dict]]] = {}
        for ann in load_annotations(data_dir):
            rows.setdefault(ann["dicom_id"], []).append((str(ann.get("label") or ann["finding"]), ann["mask"]))
        return cls(rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def masks_for(self, image_path: str | Path | None) -> list[tuple[str, np.ndarray]]:
        """[(label, bool mask [H, W])] of the image at ``image_path`` (its file stem is the dicom_id)."""
        from clinvla_kit.synth.rle import rle_decode

        if image_path is None:
            return []
        return [(label, rle_decode(rle).astype(bool)) for label, rle in self.rows.get(Path(image_path).stem, [])]
