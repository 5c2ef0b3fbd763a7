"""RSNA Pneumonia Detection Challenge (Kaggle 2018) -> one row per patient with a list of boxes.

Published layout::

    stage_2_train_labels.csv     patientId, x, y, width, height, Target   (several rows per positive patient,
                                 one row with blank box for a negative one)
    stage_2_train_images/<patientId>.dcm

Two evaluation splits circulate and give different numbers, so the split is always named:
- ``"test_list"``: the MRM / ALTA lists next to the CSV: ``test_list.txt`` (3,000 lines) and, if present,
  ``val_list.txt`` / ``train_list.txt``. Their released format is one image per line, ``<path> <label>``, space
  separated, e.g. ``stage_2_test_images/<patientId>.dcm 1``, the path relative to the RSNA folder and the label
  0/1 on the line. Their ids are stage-2 *test* images, which are not in ``stage_2_train_labels.csv`` (Kaggle
  never released those labels), so each listed image takes the list's own label and path, and has no boxes. A
  line without a label (a bare patientId or file name, an older variant) is looked up in the train labels.
- ``"gloria"``: GLoRIA's protocol, 70/15/15 by patient with seed 0, recomputed by ``gloria_rsna_split``. It
  reproduces the protocol's proportions and seed, not necessarily GLoRIA's exact patient ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.paths import is_inside
from clinvla_kit.data.sources._tables import check_allowed, not_found, parse_float, read_table

LABELS_CSV = "stage_2_train_labels.csv"
IMAGES_DIR = "stage_2_train_images"
RSNA_COLUMNS: tuple[str, ...] = ("patientId", "x", "y", "width", "height", "Target")
SPLITS: tuple[str, ...] = ("test_list", "gloria")


def gloria_rsna_split(patient_ids, seed: int = 0) -> dict[str, list[str]]:
    """70/15/15 patient split: sort the unique ids, permute with ``np.random.default_rng(seed)``, cut at 70%, 85%.

    Returns:
        {"train": ids, "validate": ids, "test": ids}, each list sorted; every id in exactly one split.
    """
    ids = sorted({str(p) for p in patient_ids})
    order = np.random.default_rng(seed).permutation(len(ids))
    a, b = int(0.70 * len(ids)), int(0.85 * len(ids))
    return {
        "train": sorted(ids[i] for i in order[:a]),
        "validate": sorted(ids[i] for i in order[a:b]),
        "test": sorted(ids[i] for i in order[b:]),
    }


SPLIT_LISTS: tuple[tuple[str, str], ...] = (("validate", "val_list.txt"), ("train", "train_list.txt"),
                                            ("test", "test_list.txt"))
"""(split name, MRM/ALTA list file) in the order they are read; an id listed twice is an error."""


def read_split_list(path: Path) -> list[tuple[str, str | None, int | None, int]]:
    """Entries of an MRM/ALTA split list: [(patientId, relative path or None, label or None, line number)].

    A line is ``<path> <label>`` (``stage_2_test_images/<id>.dcm 0``) or, in older variants, a bare id or file
    name without a label; blank lines are skipped.

    Raises:
        DataError: missing or empty file, a line with more than two fields, a label other than 0/1, naming the
            file, line (``row``) and field.
    """
    if not path.is_file():
        raise DataError("split list not found (the MRM/ALTA split needs test_list.txt next to the CSV; "
                        "--rsna-split gloria needs no list)", file=path)
    out = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) > 2:
            raise DataError(f"expected '<path> <label>' (e.g. 'stage_2_test_images/<patientId>.dcm 1'), got "
                            f"{len(parts)} fields: {line.strip()!r}", file=path, row=i, field="line")
        token = parts[0].replace("\\", "/")
        label = None
        if len(parts) == 2:
            label = int(check_allowed(parts[1].split(".")[0], ("0", "1"), path, i, "label"))
        rel = token if ("/" in token or token.lower().endswith((".dcm", ".png", ".jpg"))) else None
        out.append((Path(token).name.split(".")[0], rel, label, i))
    if not out:
        raise DataError("split list is empty", file=path)
    return out


def read_id_list(path: Path) -> list[str]:
    """Ids of a split list file (``read_split_list`` without paths and labels)."""
    return [pid for pid, _, _, _ in read_split_list(path)]


def check_dicom_header(path: Path, patient_id: str) -> None:
    """RSNA DICOM checks: readable, ``PatientID`` equals the file's patientId, ``Modality`` CR/DX (header only)."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception as e:  # noqa: BLE001 - pydicom raises several types for a corrupt file
        raise DataError(f"not a readable DICOM: {e}", file=path) from None
    pid = str(getattr(ds, "PatientID", ""))
    if pid != patient_id:
        raise DataError(f"DICOM PatientID {pid!r} differs from the file name's {patient_id!r}", file=path,
                        field="PatientID")
    modality = str(getattr(ds, "Modality", ""))
    if modality not in ("CR", "DX"):
        raise DataError(f"Modality {modality!r} is not a radiograph (CR/DX)", file=path, field="Modality")


def load_rsna(
    directory: str | Path,
    split: str = "test_list",
    images_dir: str | Path | None = None,
    check_files: bool = True,
    check_headers: bool = False,
) -> pd.DataFrame:
    """RSNA labels + images -> DataFrame[path, patient_id, target, boxes, split], one row per patient.

    Args:
        directory: folder with ``stage_2_train_labels.csv`` (and ``test_list.txt`` for ``split="test_list"``).
        split: "test_list" (MRM/ALTA lists; the train-label patients not in any list are "train") or "gloria".
        images_dir: DICOM folder (default ``directory/stage_2_train_images``).
        check_files: check each DICOM exists.
        check_headers: also read each DICOM header (``check_dicom_header``); slower, used by ``validate``.

    Returns:
        Rows sorted by patient id; ``boxes`` is a list of (x, y, width, height) in pixels of the original
        1024x1024 image (empty for Target 0).

    Raises:
        DataError: a missing column or file, a Target outside {0, 1}, a positive row without a box, a negative
            patient listed twice, a patient with both 0 and 1 rows; in a split list: a bad line or label, an id
            listed twice, an unlabelled id not in the CSV, a path outside the RSNA folder, a missing image.
    """
    directory = Path(directory)
    if split not in SPLITS:
        raise ValueError(f"split {split!r} not in the allowed set {list(SPLITS)}")
    csv_path = directory / LABELS_CSV
    images = Path(images_dir) if images_dir is not None else directory / IMAGES_DIR
    if not csv_path.is_file():
        raise not_found(csv_path, f"the RSNA folder holding {LABELS_CSV} and {IMAGES_DIR}/ (Kaggle's "
                        "rsna-pneumonia-detection-challenge download, unzipped)", directory, LABELS_CSV)
    df = read_table(csv_path, RSNA_COLUMNS)
    patients: dict[str, dict] = {}
    for i, row in enumerate(df.to_dict("records"), start=1):
        pid = row["patientId"].strip()
        if not pid:
            raise DataError("empty patientId", file=csv_path, row=i, field="patientId")
        target = int(check_allowed(row["Target"].strip().split(".")[0], ("0", "1"), csv_path, i, "Target"))
        entry = patients.setdefault(pid, {"target": target, "boxes": [], "row": i})
        if entry["target"] != target:
            raise DataError(f"patient {pid!r} has Target {entry['target']} at row {entry['row']} and {target} here",
                            file=csv_path, row=i, field="Target")
        if target == 0:
            if entry["row"] != i:
                raise DataError(f"duplicated id {pid!r} (first at row {entry['row']})", file=csv_path, row=i,
                                field="patientId")
            continue
        box = tuple(parse_float(row[c], csv_path, i, c) for c in ("x", "y", "width", "height"))
        if box[2] <= 0 or box[3] <= 0:
            raise DataError(f"box has non-positive size {box}", file=csv_path, row=i, field="width")
        entry["boxes"].append(box)
    ids = sorted(patients)
    listed: dict[str, dict] = {}  # patientId -> {split, path, target, file, row} from the MRM/ALTA lists
    if split == "gloria":
        assign = {p: s for s, members in gloria_rsna_split(ids).items() for p in members}
    else:
        assign = {p: "train" for p in ids}
        for name, fname in SPLIT_LISTS:
            path = directory / fname
            if name != "test" and not path.is_file():
                continue
            for pid, rel, label, line in read_split_list(path):
                if pid in listed:
                    first = listed[pid]
                    raise DataError(f"id {pid!r} is listed twice (first in {first['file'].name} line "
                                    f"{first['row']})", file=path, row=line, field="patientId")
                if label is None:
                    if pid not in patients:
                        raise DataError(f"id {pid!r} is not in {LABELS_CSV} and its line has no label",
                                        file=path, row=line, field="patientId")
                    assign[pid] = name
                    listed[pid] = {"file": path, "row": line, "csv": True}
                    continue
                image = directory / rel if rel is not None else images / f"{pid}.dcm"
                if not is_inside(directory, image):  # lexical, as clinvla_kit.data.paths: symlinked folders pass
                    raise DataError(f"image path {rel!r} points outside the RSNA folder {directory}", file=path,
                                    row=line, field="path")
                listed[pid] = {"file": path, "row": line, "csv": False, "split": name, "path": image,
                               "target": label}
    rows = []
    for pid in ids:
        entry = patients[pid]
        if pid in listed and not listed[pid]["csv"]:
            continue  # a labelled list line wins over the train labels: its own path and label
        path = images / f"{pid}.dcm"
        if check_files and not path.is_file():
            raise DataError(f"image not found: {path} (expected {IMAGES_DIR}/<patientId>.dcm under the RSNA "
                            "folder, or pass images_dir)", file=csv_path, row=entry["row"], field="patientId")
        if check_headers:
            check_dicom_header(path, pid)
        rows.append({"path": path, "patient_id": pid, "target": entry["target"], "boxes": entry["boxes"],
                     "split": assign[pid]})
    for pid, e in sorted(listed.items()):
        if e["csv"]:
            continue
        if check_files and not e["path"].is_file():
            raise DataError(f"image not found: {e['path']} (the list's paths are relative to the RSNA folder "
                            f"{directory})", file=e["file"], row=e["row"], field="path")
        if check_headers:
            check_dicom_header(e["path"], pid)
        boxes = patients[pid]["boxes"] if pid in patients else []
        rows.append({"path": e["path"], "patient_id": pid, "target": e["target"], "boxes": boxes,
                     "split": e["split"]})
    rows.sort(key=lambda r: r["patient_id"])
    return pd.DataFrame(rows, columns=["path", "patient_id", "target", "boxes", "split"])


def validate_rsna(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind rsna``: labels, every DICOM header (full decode with ``deep``), both splits' sizes."""
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        d = mf.find_first(root, (LABELS_CSV, f"rsna/{LABELS_CSV}", f"benchmarks/rsna/{LABELS_CSV}"), LABELS_CSV).parent
        lists: dict[str, list[str]] = {}
        df = load_rsna(d, split="gloria", check_headers=not deep)
        if deep:
            mf.probe_images(report, df.path, deep=True)
        for s in ("train", "validate", "test"):
            lists[f"gloria_{s}"] = sorted(df.patient_id[df.split == s])
        files = [d / LABELS_CSV]
        if (d / "test_list.txt").is_file():
            tl = load_rsna(d, split="test_list", check_files=False)
            for s in ("train", "validate", "test"):
                if (tl.split == s).any():
                    lists[f"test_list_{s}"] = sorted(tl.patient_id[tl.split == s])
            files += [d / f for f in ("train_list.txt", "val_list.txt", "test_list.txt") if (d / f).is_file()]
        else:
            report.warning("test_list.txt not found: only the GLoRIA split is available (MRM/ALTA numbers need "
                           "their test_list.txt)", file=d / "test_list.txt")
        report.stats.update(patients=len(df), positive=int(df.target.sum()), boxes=int(df.boxes.map(len).sum()),
                            **{k: len(v) for k, v in lists.items()})
        mf.write_manifest(root, "rsna", lists, files, {k: len(v) for k, v in lists.items()}, known, report)

    return mf.run_validator("rsna", root, body)
