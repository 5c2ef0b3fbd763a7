"""MS-CXR (phrase grounding boxes) and MS-CXR-T (temporal progression labels), both on MIMIC-CXR-JPG images.

Column names are those of the PhysioNet releases as used by public code (we could not read the releases
themselves offline; ``data_cards/ms-cxr.md`` and ``ms-cxr-t.md`` state this assumption):

- MS-CXR ``MS_CXR_Local_Alignment_v1.x.0.csv``: dicom_id, category_name, label_text, path, x, y, w, h,
  image_width, image_height, and (v1.1.0) split. One row per box; a phrase with two boxes has two rows.
  ``path`` is relative to the MIMIC-CXR-JPG root (``files/p1x/p1xxxxxxx/sxxxxxxxx/<dicom_id>.jpg``).
- MS-CXR-T ``MS_CXR_T_temporal_image_classification_v1.0.0.csv``: subject_id, study_id, dicom_id,
  previous_study_id, previous_dicom_id and one ``<finding>_progression`` column per finding (consolidation, edema,
  pleural_effusion, pneumonia, pneumothorax) with improving / stable / worsening or blank. ``dicom_id`` may be a
  bare id or a ``pXX/pSUBJECT/sSTUDY/<id>`` path; both are accepted. A long variant (one row per pair and finding,
  columns ``finding`` and ``label``, as SynthCXR may write it) is accepted too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.paths import inside_root
from clinvla_kit.data.sources._tables import check_allowed, find_below, parse_float, read_table, resolve_image

_IMAGE_ROOT_HINT = ("image_root must be the MIMIC-CXR-JPG folder that holds files/p10 ... p19 (the CSV's paths "
                    "and ids are relative to it)")

MS_CXR_COLUMNS: tuple[str, ...] = (
    "dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width", "image_height",
)
MS_CXR_T_FINDINGS: tuple[str, ...] = ("consolidation", "edema", "pleural_effusion", "pneumonia", "pneumothorax")
PROGRESSION_LABELS: tuple[str, ...] = ("improving", "stable", "worsening")


def load_ms_cxr(csv_path: str | Path, image_root: str | Path, check_files: bool = True) -> pd.DataFrame:
    """MS-CXR boxes -> DataFrame[path, dicom_id, category, phrase, boxes, image_width, image_height, split],
    one row per (image, category, phrase), boxes as a list of (x, y, w, h) in original pixels.

    Raises:
        DataError: missing column, empty phrase, a non-numeric or out-of-image box, a missing image.
    """
    csv_path, root = Path(csv_path), Path(image_root)
    df = read_table(csv_path, MS_CXR_COLUMNS)
    groups: dict[tuple[str, str, str], dict] = {}
    for i, row in enumerate(df.to_dict("records"), start=1):
        phrase = row["label_text"].strip()
        if not phrase:
            raise DataError("empty phrase", file=csv_path, row=i, field="label_text")
        x, y, w, h, iw, ih = (parse_float(row[c], csv_path, i, c)
                              for c in ("x", "y", "w", "h", "image_width", "image_height"))
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > iw + 0.5 or y + h > ih + 0.5:
            raise DataError(f"box ({x}, {y}, {w}, {h}) is empty or outside the {iw:g}x{ih:g} image", file=csv_path,
                            row=i, field="x")
        key = (row["dicom_id"].strip(), row["category_name"].strip(), phrase)
        if key not in groups:
            try:
                path = resolve_image(root, row["path"], csv_path, i, "path", check=check_files)
            except DataError as e:
                raise DataError(f"{e.message}; {_IMAGE_ROOT_HINT}", file=csv_path, row=i, field="path") from None
            groups[key] = {"path": path, "dicom_id": key[0], "category": key[1], "phrase": phrase, "boxes": [],
                           "image_width": iw, "image_height": ih, "split": row.get("split", "").strip()}
        groups[key]["boxes"].append((x, y, w, h))
    return pd.DataFrame(list(groups.values()))


def _mimic_path(root: Path, dicom: str, subject: str, study: str) -> Path:
    """A MIMIC-CXR-JPG image path from a bare dicom id (with subject/study) or a ``pXX/p.../s.../id`` path."""
    d = dicom.strip().replace("\\", "/")
    if "/" in d:
        rel = Path(d if d.startswith("files/") else f"files/{d}")
        return root / (rel if rel.suffix else rel.with_suffix(".jpg"))
    subject = subject.strip().lstrip("p")
    study = study.strip().lstrip("s")
    return root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{d}.jpg"


def load_ms_cxr_t(csv_path: str | Path, image_root: str | Path, check_files: bool = True) -> pd.DataFrame:
    """MS-CXR-T temporal classification -> DataFrame[path, prior_path, finding, label], one row per labelled
    (pair, finding); ``finding`` as in the CSV column stem ("pleural_effusion"), ``label`` one of
    ``PROGRESSION_LABELS``.

    Raises:
        DataError: missing column, a label outside improving/stable/worsening, an unknown finding (long form),
            the current and prior image being the same, a missing image.
    """
    csv_path, root = Path(csv_path), Path(image_root)
    probe = read_table(csv_path, ("dicom_id", "previous_dicom_id"))
    long_form = "finding" in probe.columns and "label" in probe.columns
    if long_form:
        df = read_table(csv_path, ("dicom_id", "previous_dicom_id", "finding", "label"))
    else:
        need = ("subject_id", "study_id", "dicom_id", "previous_study_id", "previous_dicom_id")
        df = read_table(csv_path, need + tuple(f"{f}_progression" for f in MS_CXR_T_FINDINGS))
    rows = []
    for i, row in enumerate(df.to_dict("records"), start=1):
        subject = row.get("subject_id", "")
        cur = _mimic_path(root, row["dicom_id"], subject, row.get("study_id", ""))
        prior = _mimic_path(root, row["previous_dicom_id"], subject, row.get("previous_study_id", ""))
        if cur == prior:
            raise DataError("current and prior image are the same", file=csv_path, row=i, field="previous_dicom_id")
        for field, p in (("dicom_id", cur), ("previous_dicom_id", prior)):
            inside_root(root, p, csv_path, i, field, cell=row[field])  # no "../" or absolute ids
            if check_files and not p.is_file():
                raise DataError(f"image not found: {p}; {_IMAGE_ROOT_HINT}", file=csv_path, row=i, field=field)
        if long_form:
            finding = check_allowed(row["finding"].strip(), MS_CXR_T_FINDINGS, csv_path, i, "finding")
            pairs = [(finding, row["label"].strip(), "label")]
        else:
            pairs = [(f, row[f"{f}_progression"].strip(), f"{f}_progression") for f in MS_CXR_T_FINDINGS]
        for finding, label, field in pairs:
            if label == "" and not long_form:
                continue
            check_allowed(label, PROGRESSION_LABELS, csv_path, i, field)
            rows.append({"path": cur, "prior_path": prior, "finding": finding, "label": label})
    return pd.DataFrame(rows, columns=["path", "prior_path", "finding", "label"])


def _find_csv(root: Path, patterns: tuple[str, ...], what: str) -> Path:
    for pattern in patterns:
        hits = sorted(root.glob(pattern))
        if hits:
            return hits[-1]  # the highest version when several are present
    deeper = find_below(root, patterns[0], depth=4)
    hint = f". Found {deeper[0]}: point at {deeper[0].parent} instead" if deeper else ""
    raise DataError(f"no {what} found; expected {patterns[0]} in {root} or one folder below (looked for "
                    f"{list(patterns)}){hint}", file=root)


def _image_root(csv_path: Path, root: Path) -> Path:
    """MIMIC-CXR-JPG root: the first of (root, CSV folder, its parent) holding ``files/``."""
    for base in (root, csv_path.parent, csv_path.parent.parent):
        if (base / "files").is_dir():
            return base
    return root


def validate_ms_cxr(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind ms-cxr``: boxes inside their images, every image present (MIMIC-CXR-JPG under root)."""
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        csv_path = _find_csv(root, ("MS_CXR_Local_Alignment_v*.csv", "*/MS_CXR_Local_Alignment_v*.csv"), "MS-CXR CSV")
        df = load_ms_cxr(csv_path, _image_root(csv_path, root))
        mf.probe_images(report, df.path.unique(), deep)
        report.stats.update(phrases=len(df), images=df.dicom_id.nunique(), boxes=int(df.boxes.map(len).sum()),
                            categories=df.category.nunique())
        lists = {"phrases": sorted(f"{d}\t{c}\t{p}" for d, c, p in zip(df.dicom_id, df.category, df.phrase))}
        mf.write_manifest(root, "ms-cxr", lists, [csv_path], {"phrases": len(df)}, known, report)

    return mf.run_validator("ms-cxr", root, body)


def validate_ms_cxr_t(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind ms-cxr-t``: labels in improving/stable/worsening, both images of each pair present."""
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        csv_path = _find_csv(root, ("MS_CXR_T_temporal_image_classification_v*.csv", "temporal.csv",
                                    "benchmarks/temporal.csv", "*/MS_CXR_T_temporal_image_classification_v*.csv"),
                             "MS-CXR-T CSV")
        df = load_ms_cxr_t(csv_path, _image_root(csv_path, root))
        mf.probe_images(report, sorted(set(df.path) | set(df.prior_path)), deep)
        counts = df.groupby(["finding", "label"]).size()
        report.stats.update(labels=len(df), pairs=len(set(zip(df.path, df.prior_path))),
                            **{f"{f}_{lab}": int(n) for (f, lab), n in counts.items()})
        rows = [f"{Path(a).stem}\t{Path(b).stem}\t{f}\t{lab}" for a, b, f, lab in df.itertuples(index=False)]
        mf.write_manifest(root, "ms-cxr-t", {"labels": rows}, [csv_path], {"labels": len(df)}, known, report)

    return mf.run_validator("ms-cxr-t", root, body)
