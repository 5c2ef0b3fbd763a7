"""CheXpert (Irvin et al. 2019) train/valid CSVs -> ``StudyRecord`` s (frontal + lateral of one study).

Published layout (CheXpert-v1.0 and -small)::

    CheXpert-v1.0-small/train.csv, valid.csv
        Path, Sex, Age, Frontal/Lateral, AP/PA, <14 observations: 1, 0, -1 or blank>
    CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg

``Path`` is relative to the folder *above* ``CheXpert-v1.0-small``; ``resolve_image`` accepts either folder as
``image_root``. CheXpert ships no reports (CheXpert Plus does), so ``report`` is ``""``; labels are the CSV's
(from the CheXpert labeler on the reports, so noisy, and -1 marks hedged mentions).
"""

from __future__ import annotations

import re
from pathlib import Path

from clinvla_kit.config import SLOTS
from clinvla_kit.data.errors import DataError
from clinvla_kit.data.records import CHEXPERT_LABELS, StudyRecord
from clinvla_kit.data.sources._tables import (
    check_allowed,
    check_unique,
    expect_file,
    not_found,
    parse_chexpert_value,
    read_table,
    resolve_image,
)

RELEASES: tuple[str, ...] = ("CheXpert-v1.0-small", "CheXpert-v1.0")
"""The two image releases: downsampled JPEGs (about 11 GB) and full resolution (about 440 GB); each has its own CSVs."""


def release_mismatch(root: Path, rel: str) -> str:
    """Why a CSV path cannot be found under ``root`` when the CSV is of the other release, else ""."""
    first = Path(rel.replace("\\", "/")).parts[0] if rel.strip() else ""
    if first not in RELEASES:
        return ""
    other = RELEASES[1 - RELEASES.index(first)]
    if root.name == other or (root / other).is_dir():
        kind = "downsampled (-small)" if first.endswith("-small") else "full-resolution"
        return (f" The CSV lists the {kind} release ({first}/...) but {root} holds {other}: use the train.csv / "
                f"valid.csv that came with these images")
    return ""

CHEXPERT_COLUMNS: tuple[str, ...] = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS)
_PATH_RE = re.compile(r"(patient\d+)/(study\d+)/view(\d+)_(frontal|lateral)\.\w+$")


def parse_chexpert_path(path: str) -> tuple[str, str, int, str]:
    """``.../patient00001/study1/view2_lateral.jpg`` -> ("patient00001", "study1", 2, "lateral").

    Raises:
        ValueError: when the path does not follow the pattern.
    """
    m = _PATH_RE.search(path.replace("\\", "/"))
    if m is None:
        raise ValueError(f"path {path!r} does not match patientN/studyN/viewK_(frontal|lateral).jpg")
    return m.group(1), m.group(2), int(m.group(3)), m.group(4)


def load_chexpert(
    csv_path: str | Path,
    image_root: str | Path | None = None,
    split: str | None = None,
    check_files: bool = True,
) -> list[StudyRecord]:
    """Read a CheXpert CSV into one record per study (first frontal and first lateral view by view number).

    Args:
        csv_path: ``train.csv`` or ``valid.csv``.
        image_root: folder the ``Path`` column is relative to (default: the CSV's grandparent, i.e. the folder
            above ``CheXpert-v1.0-small``; the CSV's own folder also works).
        split: record split; default "validate" for a file named ``valid*.csv``, else "train".
        check_files: check every image exists (turn off only for a quick look at the CSV).

    Returns:
        Records sorted by (patient, study number); prior slots are empty (CheXpert gives no study dates).

    Raises:
        DataError: missing column, duplicated Path, a label outside {1, 0, -1, blank}, a Frontal/Lateral value
            other than Frontal/Lateral or disagreeing with the file name, a missing image.
    """
    csv_path = expect_file(Path(csv_path), ("train.csv", "valid.csv"), "CheXpert's train.csv or valid.csv")
    root = Path(image_root) if image_root is not None else csv_path.parent.parent
    split = split or ("validate" if csv_path.name.lower().startswith("valid") else "train")
    if not csv_path.is_file():
        raise not_found(csv_path, "CheXpert's train.csv or valid.csv (inside CheXpert-v1.0-small/ or "
                        "CheXpert-v1.0/)", csv_path.parent, csv_path.name)
    df = read_table(csv_path, CHEXPERT_COLUMNS)
    check_unique(df, "Path", csv_path)
    studies: dict[tuple[str, str], dict] = {}
    for i, row in enumerate(df.to_dict("records"), start=1):
        try:
            patient, study, view_no, view = parse_chexpert_path(row["Path"])
        except ValueError as e:
            raise DataError(str(e), file=csv_path, row=i, field="Path") from None
        fl = check_allowed(row["Frontal/Lateral"].strip(), ("Frontal", "Lateral"), csv_path, i, "Frontal/Lateral")
        if fl.lower() != view:
            raise DataError(f"Frontal/Lateral says {fl} but the file name says {view}", file=csv_path, row=i,
                            field="Frontal/Lateral")
        labels = {o: parse_chexpert_value(row[o], csv_path, i, o) for o in CHEXPERT_LABELS}
        try:
            path = resolve_image(root, row["Path"], csv_path, i, "Path", check=check_files)
        except DataError as e:
            hint = release_mismatch(root, row["Path"])
            if not hint:
                raise
            raise DataError(f"{e.message}.{hint}", file=csv_path, row=i, field="Path") from None
        entry = studies.setdefault((patient, study), {"labels": labels, "views": []})
        entry["views"].append((view, view_no, path, f"{patient}/{study}/view{view_no}"))
    records = []
    for (patient, study), entry in sorted(studies.items(), key=lambda kv: (kv[0][0], int(kv[0][1][5:]))):
        images: dict[str, Path | None] = {s: None for s in SLOTS}
        ids: dict[str, str | None] = {s: None for s in SLOTS}
        for view, _, path, vid in sorted(entry["views"], key=lambda v: v[1]):
            if images[view] is None:
                images[view], ids[view] = path, vid
        records.append(StudyRecord(
            subject_id=patient, study_id=f"{patient}/{study}", study_datetime="", images=images, dicom_ids=ids,
            report="", labels=entry["labels"], split=split, report_path=None,
        ))
    return records


def validate_chexpert(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind chexpert``: ``train.csv`` / ``valid.csv`` at ``root`` or ``root/CheXpert-v1.0[-small]``."""
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        base = mf.find_first(root, ("valid.csv", "CheXpert-v1.0-small/valid.csv", "CheXpert-v1.0/valid.csv",
                                    "train.csv", "CheXpert-v1.0-small/train.csv", "CheXpert-v1.0/train.csv"),
                             "CheXpert CSV").parent
        lists, files = {}, []
        for name in ("train", "valid"):
            csv_path = base / f"{name}.csv"
            if not csv_path.is_file():
                report.warning(f"{name}.csv not found", file=csv_path)
                continue
            recs = load_chexpert(csv_path, mf.guess_image_root(csv_path, mf.first_cell(csv_path, "Path"), root))
            paths = [p for r in recs for p in r.images.values() if p is not None]
            mf.probe_images(report, paths, deep)
            lists[name] = sorted(mf.canonical_image_id(p) for p in paths)
            files.append(csv_path)
            report.stats.update({f"{name}_studies": len(recs), f"{name}_images": len(paths),
                                 f"{name}_with_lateral": sum(r.present[1] for r in recs)})
        mf.write_manifest(root, "chexpert", lists, files, {k: len(v) for k, v in lists.items()}, known, report)

    return mf.run_validator("chexpert", root, body)
