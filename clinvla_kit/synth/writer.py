"""File names and CSV rows in MIMIC-CXR-JPG's own layout (so the real loader reads SynthCXR unchanged).

Images ``files/pXX/pSUBJECT/sSTUDY/DICOMID.jpg`` (XX = first two digits of the 8-digit subject id), reports
``reports/files/pXX/pSUBJECT/sSTUDY.txt``; CSV columns exactly as in mimic-cxr-2.0.0-{metadata,split,chexpert}.csv.
"""

from __future__ import annotations

import csv
from pathlib import Path

from clinvla_kit.data.records import CHEXPERT_LABELS

JPEG_QUALITY = 92

METADATA_COLUMNS: tuple[str, ...] = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns",
    "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
SPLIT_COLUMNS: tuple[str, ...] = ("dicom_id", "study_id", "subject_id", "split")
CHEXPERT_COLUMNS: tuple[str, ...] = ("subject_id", "study_id") + CHEXPERT_LABELS


def image_relpath(subject_id: int, study_id: int, dicom_id: str) -> str:
    s = str(subject_id)
    return f"files/p{s[:2]}/p{s}/s{study_id}/{dicom_id}.jpg"


def report_relpath(subject_id: int, study_id: int) -> str:
    s = str(subject_id)
    return f"reports/files/p{s[:2]}/p{s}/s{study_id}.txt"


def metadata_row(dicom_id: str, subject_id: int, study_id: int, view_position: str, size: int, date: int,
                 time: float) -> dict:
    lateral = view_position in ("LATERAL", "LL")
    desc = "CHEST (PORTABLE AP)" if view_position == "AP" else "CHEST (PA AND LAT)"
    return {
        "dicom_id": dicom_id, "subject_id": subject_id, "study_id": study_id,
        "PerformedProcedureStepDescription": desc, "ViewPosition": view_position, "Rows": size, "Columns": size,
        "StudyDate": date, "StudyTime": f"{time:.3f}", "ProcedureCodeSequence_CodeMeaning": desc,
        "ViewCodeSequence_CodeMeaning": "lateral" if lateral else ("antero-posterior" if view_position == "AP"
                                                                     else "postero-anterior"),
        "PatientOrientationCodeSequence_CodeMeaning": "Erect" if view_position != "AP" else "Recumbent",
    }


def label_cell(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def write_csv(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict]) -> None:
    """Write rows with exactly ``columns`` (fixed line endings so output is byte-identical across platforms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})
