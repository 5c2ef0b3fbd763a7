"""NIH ChestX-ray14 (Wang et al. 2017): ``Data_Entry_2017.csv`` + ``images*/`` -> one row per image.

Published layout::

    Data_Entry_2017.csv   Image Index, Finding Labels ("A|B" or "No Finding"), Follow-up #, Patient ID,
                          Patient Age, Patient Gender, View Position, OriginalImage[Width, Height], ...
    images_001/images/00000001_000.png ... (Kaggle) or images/00000001_000.png (NIH box tarballs)
    train_val_list.txt, test_list.txt     the official patient-wise split (optional here)

There are no reports and (almost) no lateral views; labels were mined from reports by NLP, so they are noisy.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.paths import safe_component
from clinvla_kit.data.sources._tables import check_allowed, check_unique, find_below, not_found, read_table

DATA_ENTRY_NAMES: tuple[str, ...] = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
"""The label table of the 2017 release and of the 2020 re-release (same columns); either is read."""

NIH_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
    "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)
NIH_COLUMNS: tuple[str, ...] = (
    "Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender", "View Position",
)


def index_images(directory: Path) -> dict[str, Path]:
    """File name -> path for every PNG under ``directory/images*/`` (one walk, so lookups are cheap)."""
    out: dict[str, Path] = {}
    for sub in sorted(directory.glob("images*")):
        if sub.is_dir():
            for p in sub.rglob("*.png"):
                out.setdefault(p.name, p)
    return out


def load_nih(directory: str | Path, check_files: bool = True) -> pd.DataFrame:
    """Read ChestX-ray14 -> DataFrame[path, image_index, patient_id, follow_up, age, sex, view, labels, split,
    <14 label columns as 0/1>, No Finding].

    ``split`` is "train"/"test" from ``train_val_list.txt``/``test_list.txt`` when both exist, else "".

    Raises:
        DataError: missing column, duplicated Image Index, a finding label not in the 14 + "No Finding", "No
            Finding" combined with another label, a view other than PA/AP, a missing image.
    """
    directory = Path(directory)
    csv_path = next((directory / n for n in DATA_ENTRY_NAMES if (directory / n).is_file()), None)
    if csv_path is None:
        others = sorted(p.name for p in directory.glob("Data_Entry*")) if directory.is_dir() else []
        if others:
            raise DataError(f"found {others} but expected one of {list(DATA_ENTRY_NAMES)} (the 2017 release or its "
                            "2020 re-release; unzip a .gz, or rename a renamed copy back)", file=directory)
        hits = [h for n in DATA_ENTRY_NAMES for h in find_below(directory, n)]
        raise not_found(directory / DATA_ENTRY_NAMES[0],
                        f"{DATA_ENTRY_NAMES[0]} (2017 release) or {DATA_ENTRY_NAMES[1]} (2020 re-release) beside "
                        "the images*/ folders", directory if hits else None, hits[0].name if hits else None)
    df = read_table(csv_path, NIH_COLUMNS)
    check_unique(df, "Image Index", csv_path)
    found = index_images(directory) if check_files else {}
    split: dict[str, str] = {}
    lists = (directory / "train_val_list.txt", directory / "test_list.txt")
    if all(p.is_file() for p in lists):
        for name, p in zip(("train", "test"), lists):
            split.update({line.strip(): name for line in p.read_text().splitlines() if line.strip()})
    rows = []
    allowed = (*NIH_LABELS, "No Finding")
    for i, row in enumerate(df.to_dict("records"), start=1):
        name = safe_component(row["Image Index"].strip(), csv_path, i, "Image Index")  # a file name, not a path
        labels = [s.strip() for s in row["Finding Labels"].split("|") if s.strip()]
        if not labels:
            raise DataError("empty Finding Labels", file=csv_path, row=i, field="Finding Labels")
        for lab in labels:
            check_allowed(lab, allowed, csv_path, i, "Finding Labels")
        if "No Finding" in labels and len(labels) > 1:
            raise DataError(f"'No Finding' combined with {labels}", file=csv_path, row=i, field="Finding Labels")
        view = check_allowed(row["View Position"].strip(), ("PA", "AP"), csv_path, i, "View Position")
        path = found.get(name, directory / "images" / name)
        if check_files and name not in found:
            raise DataError(f"image {name!r} not found under {directory}/images*/", file=csv_path, row=i,
                            field="Image Index")
        out = {"path": path, "image_index": name, "patient_id": row["Patient ID"].strip(),
               "follow_up": row["Follow-up #"].strip(), "age": row["Patient Age"].strip(),
               "sex": row["Patient Gender"].strip(), "view": view, "labels": labels, "split": split.get(name, "")}
        out.update({lab: int(lab in labels) for lab in allowed})
        rows.append(out)
    return pd.DataFrame(rows)


def validate_nih(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind nih``: the label CSV, every image, the official train_val/test lists when present."""
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        df = load_nih(root)
        mf.probe_images(report, df.path, deep)
        if not (df.split != "").all():
            report.warning("train_val_list.txt / test_list.txt missing or incomplete: no official split",
                           file=root / "test_list.txt")
        lists = {"images": sorted(df.image_index)}
        for s in ("train", "test"):
            if (df.split == s).any():
                lists[s] = sorted(df.image_index[df.split == s])
        report.stats.update(images=len(df), patients=df.patient_id.nunique(), no_finding=int(df["No Finding"].sum()))
        files = [p for p in (root / "Data_Entry_2017.csv", root / "train_val_list.txt", root / "test_list.txt")
                 if p.is_file()]
        mf.write_manifest(root, "nih", lists, files, {k: len(v) for k, v in lists.items()}, known, report)

    return mf.run_validator("nih", root, body)
