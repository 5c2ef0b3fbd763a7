"""MIMIC-CXR-JPG loader: metadata/split/chexpert CSVs + report files -> four-slot ``StudyRecord``s.

Layout (the real one, and what ``clinvla-kit synth`` writes)::

    ROOT/mimic-cxr-2.0.0-{metadata,split,chexpert}.csv[.gz]
    ROOT/files/pXX/pSUBJECT/sSTUDY/DICOMID.jpg          XX = first two digits of the subject id
    ROOT/reports/files/pXX/pSUBJECT/sSTUDY.txt          (ROOT/files/pXX/pSUBJECT/sSTUDY.txt is accepted too)

Slot choice: frontal = PA, else AP (PA is the standing, better-inflated film with reliable heart size); lateral =
LATERAL, else LL; the prior = the subject's latest earlier study (by StudyDate, StudyTime) that has a usable view,
whose frontal and lateral fill the prior slots. Ties between images of one view go to the smallest dicom_id, so the
choice never depends on CSV row order.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path

from clinvla_kit.config import SLOTS
from clinvla_kit.data.errors import DataError
from clinvla_kit.data.paths import safe_ids
from clinvla_kit.data.records import CHEXPERT_LABELS, StudyRecord
from clinvla_kit.data.text_files import read_report_text

log = logging.getLogger(__name__)

PREFIX = "mimic-cxr-2.0.0"
METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime")
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
CHEXPERT_COLUMNS = ("subject_id", "study_id", *CHEXPERT_LABELS)
SPLITS = ("train", "validate", "test")
FRONTAL_ORDER = ("PA", "AP")
LATERAL_ORDER = ("LATERAL", "LL")


class LoadedStudies(list):
    """A ``list[StudyRecord]`` that also says what was dropped.

    Attributes:
        dropped_no_view: study ids dropped because they have neither a frontal nor a lateral image.
        missing_reports: study ids whose report file does not exist (kept, with ``report == ""``).
    """

    dropped_no_view: list[str]
    missing_reports: list[str]


def find_csv(root: Path, name: str) -> Path:
    """``ROOT/mimic-cxr-2.0.0-NAME.csv`` or its ``.csv.gz``; a DataError naming the expected file otherwise."""
    for suffix in (".csv", ".csv.gz"):
        p = root / f"{PREFIX}-{name}{suffix}"
        if p.is_file():
            return p
    from clinvla_kit.data.sources._tables import not_found

    raise not_found(root / f"{PREFIX}-{name}.csv",
                    f"{PREFIX}-{name}.csv or .csv.gz in the MIMIC-CXR-JPG folder (the one that holds the "
                    f"{PREFIX}-*.csv.gz files and files/p10 ... p19), given as {root}", root, f"{PREFIX}-{name}.csv*",
                    what="CSV")


def read_csv(path: Path, required: tuple[str, ...]):
    """Read a CSV as strings (blank stays ""), checking the required columns.

    Returns:
        (DataFrame, list of DataError for missing columns). The caller decides whether to raise or collect.
    """
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except Exception as e:
        raise DataError(f"cannot parse CSV ({type(e).__name__}: {e})", file=path) from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    errors = [DataError(f"missing required column; found columns {list(df.columns)}", file=path, field=c)
              for c in missing]
    return df, errors


def parse_label(value: str, path: Path, row: int, column: str) -> float | None:
    """CheXpert cell -> 1.0 / 0.0 / -1.0 / None (blank); anything else is a DataError at (file, row, column)."""
    v = value.strip()
    if v == "":
        return None
    try:
        f = float(v)
    except ValueError:
        f = math.nan
    if f not in (1.0, 0.0, -1.0):
        raise DataError(f"label value {value!r} not in {{1, 0, -1, blank}}", file=path, row=row, field=column)
    return f


def parse_datetime(date: str, time: str, path: Path, row: int) -> str:
    """StudyDate (int YYYYMMDD) and StudyTime (float HHMMSS.fff) -> sortable "YYYYMMDD HHMMSS.ffffff"."""
    try:
        d = int(float(date))
    except ValueError as e:
        raise DataError(f"StudyDate {date!r} is not an integer YYYYMMDD", file=path, row=row, field="StudyDate") from e
    try:
        t = float(time) if time.strip() else 0.0
    except ValueError as e:
        raise DataError(f"StudyTime {time!r} is not a number HHMMSS.fff", file=path, row=row, field="StudyTime") from e
    return f"{d:08d} {t:013.6f}"


def shard(subject_id: str) -> str:
    """``pXX`` folder of a subject: "p" + its first two digits."""
    return f"p{subject_id[:2]}"


def image_path(root: Path, subject_id: str, study_id: str, dicom_id: str) -> Path:
    return root / "files" / shard(subject_id) / f"p{subject_id}" / f"s{study_id}" / f"{dicom_id}.jpg"


def report_path(root: Path, subject_id: str, study_id: str) -> Path:
    """The report file; ``reports/files/...`` (MIMIC-CXR-JPG) or ``files/...`` (MIMIC-CXR) if only that exists."""
    rel = Path(shard(subject_id)) / f"p{subject_id}" / f"s{study_id}.txt"
    p = root / "reports" / "files" / rel
    alt = root / "files" / rel
    return alt if not p.is_file() and alt.is_file() else p


def choose_view(views: list[tuple[str, str]], order: tuple[str, ...]) -> str | None:
    """dicom_id of the preferred view: views = [(ViewPosition, dicom_id)], first position in ``order`` wins."""
    for position in order:
        ids = sorted(d for v, d in views if v.strip().upper() == position)
        if ids:
            return ids[0]
    return None


def _sort_key(subject_id: str) -> tuple:
    return (0, int(subject_id), "") if subject_id.isdigit() else (1, 0, subject_id)


def load_labels(root: Path) -> dict[tuple[str, str], dict[str, float | None]]:
    """(subject_id, study_id) -> {observation: value}; raises DataError at the first bad cell."""
    path = find_csv(root, "chexpert")
    df, errors = read_csv(path, CHEXPERT_COLUMNS)
    if errors:
        raise errors[0]
    out: dict[tuple[str, str], dict[str, float | None]] = {}
    cols = [df[c].tolist() for c in CHEXPERT_LABELS]
    for i, (sub, st) in enumerate(zip(df["subject_id"].tolist(), df["study_id"].tolist())):
        out[(sub.strip(), st.strip())] = {
            name: parse_label(cols[j][i], path, i + 1, name) for j, name in enumerate(CHEXPERT_LABELS)
        }
    return out


def load_mimic(
    root: str | Path, splits: list[str] | tuple[str, ...] | str | None = None, use_lateral: bool = True,
    use_prior: bool = True,
) -> LoadedStudies:
    """Load MIMIC-CXR-JPG (or SynthCXR) studies as four-slot records.

    Args:
        root: the data directory.
        splits: keep only these MIMIC splits ("train", "validate", "test"); None keeps all.
        use_lateral / use_prior: when False the lateral / prior slots are left empty.
    Returns:
        Records sorted by subject, then study date/time, then study id (deterministic). Studies with neither a
        frontal nor a lateral image (nor a frontal, when ``use_lateral`` is False) are dropped and listed in
        ``.dropped_no_view`` (and logged).
    Raises:
        DataError: a missing CSV or column, a bad date/time or label, an image without a split entry.
    """
    root = Path(root)
    if isinstance(splits, str):
        splits = [splits]
    if splits is not None:
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise ValueError(f"unknown split(s) {unknown}; MIMIC splits are {SPLITS}")
    meta_path = find_csv(root, "metadata")
    meta, errors = read_csv(meta_path, METADATA_COLUMNS)
    if errors:
        raise errors[0]
    split_path = find_csv(root, "split")
    split_df, errors = read_csv(split_path, SPLIT_COLUMNS)
    if errors:
        raise errors[0]
    split_of = dict(zip((d.strip() for d in split_df["dicom_id"]), (s.strip() for s in split_df["split"])))
    labels = load_labels(root)

    # study key -> [(ViewPosition, dicom_id)], earliest datetime, split
    views: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    when: dict[tuple[str, str], str] = {}
    split_by_study: dict[tuple[str, str], str] = {}
    rows = zip(meta["dicom_id"], meta["subject_id"], meta["study_id"], meta["ViewPosition"], meta["StudyDate"],
               meta["StudyTime"])
    for i, (dicom, sub, st, vp, date, time) in enumerate(rows, start=1):
        dicom, key = dicom.strip(), (sub.strip(), st.strip())
        safe_ids(meta_path, i, dicom_id=dicom, subject_id=key[0], study_id=key[1])  # no "../" or "/etc/..." ids
        views[key].append((vp, dicom))
        dt = parse_datetime(date, time, meta_path, i)
        when[key] = min(when.get(key, dt), dt)
        if dicom not in split_of:
            raise DataError(f"dicom_id {dicom} of metadata row {i} has no entry in the split CSV", file=split_path,
                            field="dicom_id")
        split_by_study.setdefault(key, split_of[dicom])

    chosen: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    dropped: list[str] = []
    for key, v in views.items():
        f = choose_view(v, FRONTAL_ORDER)
        lat = choose_view(v, LATERAL_ORDER) if use_lateral else None  # without laterals, lateral-only = no view
        if f is None and lat is None:
            dropped.append(key[1])
        else:
            chosen[key] = (f, lat)

    by_subject: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in chosen:
        by_subject[key[0]].append(key)
    out = LoadedStudies()
    out.dropped_no_view = sorted(dropped)
    out.missing_reports = []
    out.non_utf8_reports = []  # decoded with a stated fallback (data/text_files.py)
    for subject in sorted(by_subject, key=_sort_key):
        studies = sorted(by_subject[subject], key=lambda k: (when[k], k[1]))
        for j, key in enumerate(studies):
            sub, st = key
            if splits is not None and split_by_study[key] not in splits:
                continue
            f, lat = chosen[key]
            prior = studies[j - 1] if j > 0 else None
            pf, pl = chosen[prior] if prior is not None and use_prior else (None, None)
            ids = {"frontal": f, "lateral": lat, "prior_frontal": pf, "prior_lateral": pl}
            owner = {"frontal": key, "lateral": key, "prior_frontal": prior, "prior_lateral": prior}
            images = {s: image_path(root, owner[s][0], owner[s][1], d) if d else None for s, d in ids.items()}
            rpath = report_path(root, sub, st)
            try:
                report = read_report_text(rpath, out.non_utf8_reports)
            except FileNotFoundError:
                report = ""
                out.missing_reports.append(st)
            out.append(StudyRecord(
                subject_id=sub, study_id=st, study_datetime=when[key].split(".")[0],
                images={s: images[s] for s in SLOTS}, dicom_ids={s: ids[s] for s in SLOTS}, report=report,
                labels=labels.get(key, {name: None for name in CHEXPERT_LABELS}), split=split_by_study[key],
                prior_study_id=prior[1] if prior else None, report_path=rpath,
            ))
    if dropped:
        log.warning("%s: dropped %d studies with neither a frontal nor a lateral image", root, len(dropped))
    if out.missing_reports:
        log.warning("%s: %d studies have no report file (kept with an empty report)", root, len(out.missing_reports))
    return out
