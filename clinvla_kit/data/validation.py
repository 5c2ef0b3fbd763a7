"""Up-front data validation: collect every problem with its file, row and field, lose nothing.

``VALIDATORS`` maps a data-set kind to a function ``(root: Path) -> ValidationReport``; ``clinvla-kit validate
--kind K`` looks it up. Loaders for other data sets register theirs with one line, importing lazily so that the
registry costs nothing to import::

    VALIDATORS["rsna"] = lazy_validator("clinvla_kit.data.sources.rsna", "validate_rsna")

A validator may accept an optional ``deep: bool`` keyword (full image decode instead of a header check).
"""

from __future__ import annotations

import importlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.paths import safe_ids
from clinvla_kit.data.text_files import decode_report_bytes, read_report_text


@dataclass(frozen=True)
class Problem:
    """One finding of a validator."""

    severity: str  # "error" | "warning"
    message: str
    file: Path | None = None
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [str(self.file)] if self.file is not None else []
        where += [f"row {self.row}"] if self.row is not None else []
        where += [f"field {self.field!r}"] if self.field is not None else []
        return f"{self.severity.upper()}: {', '.join(where)}: {self.message}" if where else \
            f"{self.severity.upper()}: {self.message}"


@dataclass
class ValidationReport:
    """All problems found in one data directory, plus counts for the summary line."""

    root: Path
    kind: str
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def error(self, message: str, file: Path | None = None, row: int | None = None, field: str | None = None) -> None:
        self.problems.append(Problem("error", message, file, row, field))

    def warning(self, message: str, file: Path | None = None, row: int | None = None,
                field: str | None = None) -> None:
        self.problems.append(Problem("warning", message, file, row, field))

    def add(self, err: DataError, severity: str = "error") -> None:
        self.problems.append(Problem(severity, err.message, err.file, err.row, err.field))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.stats.items())
        verdict = "OK" if self.ok else "FAILED"
        return (f"{verdict}: {self.kind} data at {self.root}: {len(self.errors)} error(s), "
                f"{len(self.warnings)} warning(s)" + (f" [{counts}]" if counts else ""))

    def format(self) -> str:
        """Every problem, errors first, then the summary line."""
        lines = [str(p) for p in self.errors] + [str(p) for p in self.warnings]
        return "\n".join(lines + [self.summary()])


def lazy_validator(module: str, function: str) -> Callable[..., ValidationReport]:
    """A validator imported on first call (keeps ``import clinvla_kit.data.validation`` light)."""
    def call(root: Path, **kwargs) -> ValidationReport:
        return getattr(importlib.import_module(module), function)(root, **kwargs)

    call.__name__ = f"{module}.{function}"
    return call


def _check_images(report: ValidationReport, paths: list[Path], deep: bool) -> None:
    from clinvla_kit.data.images import probe_image, read_image

    for p in paths:
        try:
            read_image(p) if deep else probe_image(p)
        except DataError as e:
            report.add(e)


def validate_mimic(root: str | Path, deep: bool = False) -> ValidationReport:
    """Check a MIMIC-CXR-JPG (or SynthCXR) directory.

    Errors: missing CSVs or columns, unparsable dates/times, unknown split names, label values outside
    {1, 0, -1, blank}, duplicated dicom_ids or chexpert rows, metadata images without a split entry, image files
    that are missing or do not decode (header check; full decode with ``deep``), studies whose report is missing or
    empty after cleaning. Warnings: studies without a frontal view (and those the loader drops, with no view at all),
    studies without a chexpert row.
    """
    from clinvla_kit.data.records import CHEXPERT_LABELS
    from clinvla_kit.data.reports import clean_report
    from clinvla_kit.data.sources import mimic as m

    root = Path(root)
    report = ValidationReport(root=root, kind="mimic")
    if not root.is_dir():
        report.error("data directory does not exist", file=root)
        return report
    tables = {}
    for name, cols in (("metadata", m.METADATA_COLUMNS), ("split", m.SPLIT_COLUMNS), ("chexpert", m.CHEXPERT_COLUMNS)):
        try:
            path = m.find_csv(root, name)
            df, errors = m.read_csv(path, cols)
        except DataError as e:
            report.add(e)
            continue
        for e in errors:
            report.add(e)
        tables[name] = (path, df)

    split_of: dict[str, str] = {}
    if "split" in tables:
        path, df = tables["split"]
        if {"dicom_id", "split"} <= set(df.columns):
            seen: dict[str, int] = {}
            for i, (d, s) in enumerate(zip(df["dicom_id"], df["split"]), start=1):
                d = d.strip()
                if d in seen:
                    report.error(f"duplicated dicom_id {d} (first at row {seen[d]})", path, i, "dicom_id")
                seen.setdefault(d, i)
                if s.strip() not in m.SPLITS:
                    report.error(f"split {s!r} not one of {m.SPLITS}", path, i, "split")
                split_of[d] = s.strip()

    label_keys: set[tuple[str, str]] = set()
    if "chexpert" in tables:
        path, df = tables["chexpert"]
        present_labels = [c for c in CHEXPERT_LABELS if c in df.columns]
        if {"subject_id", "study_id"} <= set(df.columns):
            for i, key in enumerate(zip(df["subject_id"], df["study_id"]), start=1):
                key = (key[0].strip(), key[1].strip())
                if key in label_keys:
                    report.error(f"duplicated chexpert row for study {key[1]}", path, i, "study_id")
                label_keys.add(key)
        for c in present_labels:
            for i, v in enumerate(df[c], start=1):
                try:
                    m.parse_label(v, path, i, c)
                except DataError as e:
                    report.add(e)

    if "metadata" not in tables or not set(m.METADATA_COLUMNS) <= set(tables["metadata"][1].columns):
        report.stats["studies"] = 0
        return report
    path, df = tables["metadata"]
    views: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    seen_dicom: dict[str, int] = {}
    images: list[Path] = []
    rows = zip(df["dicom_id"], df["subject_id"], df["study_id"], df["ViewPosition"], df["StudyDate"], df["StudyTime"])
    for i, (d, sub, st, vp, date, time) in enumerate(rows, start=1):
        d, key = d.strip(), (sub.strip(), st.strip())
        try:
            safe_ids(path, i, dicom_id=d, subject_id=key[0], study_id=key[1])
        except DataError as e:  # a path in an id ("../x", "/etc/passwd"): never opened
            report.add(e)
            continue
        if d in seen_dicom:
            report.error(f"duplicated dicom_id {d} (first at row {seen_dicom[d]})", path, i, "dicom_id")
        seen_dicom.setdefault(d, i)
        try:
            m.parse_datetime(date, time, path, i)
        except DataError as e:
            report.add(e)
        if split_of and d not in split_of:
            report.error(f"dicom_id {d} has no entry in the split CSV", path, i, "dicom_id")
        views[key].append((vp, d))
        images.append(m.image_path(root, key[0], key[1], d))
    _check_images(report, images, deep)

    no_frontal = no_view = non_utf8 = 0
    counts: Counter[str] = Counter()
    for key in sorted(views):
        sub, st = key
        f, lat = m.choose_view(views[key], m.FRONTAL_ORDER), m.choose_view(views[key], m.LATERAL_ORDER)
        counts.update(["frontal"] * (f is not None) + ["lateral"] * (lat is not None))
        rpath = m.report_path(root, sub, st)
        if f is None and lat is None:
            no_view += 1
            report.warning(f"study {st} has neither a frontal nor a lateral image (the loader drops it)", rpath)
        elif f is None:
            no_frontal += 1
            report.warning(f"study {st} has no frontal (PA/AP) image", rpath)
        if tables.get("chexpert") and key not in label_keys:
            report.warning(f"study {st} has no row in the chexpert CSV (labels will be blank)", tables["chexpert"][0])
        if not rpath.is_file():
            report.error(f"report file of study {st} does not exist", rpath)
            continue
        fallback: list[Path] = []
        try:
            clean_report(read_report_text(rpath, fallback), source=rpath)
        except DataError as e:
            report.add(e)
        if fallback:
            non_utf8 += 1
            report.warning("report is not valid UTF-8; decoded as "
                           f"{decode_report_bytes(rpath.read_bytes())[1]} (the loader does the same)", rpath)
    report.stats.update(studies=len(views), images=len(images), frontal=counts["frontal"],
                        lateral=counts["lateral"], no_frontal=no_frontal, dropped_no_view=no_view,
                        non_utf8_reports=non_utf8)
    _write_mimic_manifest(root, report, tables, views, images, split_of)
    return report


def _write_mimic_manifest(root: Path, report: ValidationReport, tables: dict, views: dict, images: list[Path],
                          split_of: dict[str, str]) -> None:
    """``ROOT/manifest.json`` entry "mimic": sha256 of the study, image and per-split dicom_id lists and of the
    three CSVs (as the README promises for every ``validate --kind``)."""
    from clinvla_kit.data import manifest as mf

    lists = {"studies": sorted(st for _, st in views),
             "images": sorted(mf.canonical_image_id(p, 5) for p in images)}
    for split in ("train", "validate", "test"):
        lists[f"split_{split}"] = sorted(d for d, s in split_of.items() if s == split)
    counts = {"studies": len(views), "images": len(images), **{k: len(v) for k, v in lists.items() if k.startswith("split_")}}
    mf.write_manifest(root, "mimic", lists, [p for p, _ in tables.values()], counts, None, report)


def _first_duplicates(keys: list, limit: int) -> list[tuple[int, int, object]]:
    """(row, first row, key) of repeated keys, rows 1-based, at most ``limit``."""
    seen: dict[object, int] = {}
    out = []
    for i, k in enumerate(keys, start=1):
        if k in seen and len(out) < limit:
            out.append((i, seen[k], k))
        seen.setdefault(k, i)
    return out


def mimic_duplicates(root: str | Path, limit: int = 20) -> list[Problem]:
    """The duplicated rows ``validate`` reports, without the image and report checks (cheap enough for ``train``
    to run first): dicom_id in the metadata and split CSVs, (subject_id, study_id) in the chexpert CSV.
    A missing CSV or column gives nothing here (the loader names it)."""
    from clinvla_kit.data.sources import mimic as m

    root = Path(root)
    out: list[Problem] = []
    for name, cols, fld in (("metadata", ("dicom_id",), "dicom_id"), ("split", ("dicom_id",), "dicom_id"),
                            ("chexpert", ("subject_id", "study_id"), "study_id")):
        try:
            path = m.find_csv(root, name)
            df, errors = m.read_csv(path, cols)
        except DataError:
            continue
        if errors:
            continue
        keys = list(zip(*(df[c].map(str.strip) for c in cols)))
        for row, first, key in _first_duplicates(keys, limit - len(out)):
            out.append(Problem("error", f"duplicated {'+'.join(cols)} {'/'.join(key)} (first at row {first})",
                               path, row, fld))
    return out


VALIDATORS: dict[str, Callable[..., ValidationReport]] = {
    "mimic": validate_mimic,
}
"""Data-set kind -> validator ``(root: Path, [deep: bool]) -> ValidationReport``."""

# Real evaluation sets (issue 6): loaders and manifests live with each source module.
VALIDATORS.update({
    "chexpert": lazy_validator("clinvla_kit.data.sources.chexpert", "validate_chexpert"),
    "chexpert-5x200": lazy_validator("clinvla_kit.data.sources.benchmarks", "validate_chexpert_5x200"),
    "chexpert-8x200": lazy_validator("clinvla_kit.data.sources.benchmarks", "validate_chexpert_8x200"),
    "rsna": lazy_validator("clinvla_kit.data.sources.rsna", "validate_rsna"),
    "openi": lazy_validator("clinvla_kit.data.sources.openi", "validate_openi"),
    "nih": lazy_validator("clinvla_kit.data.sources.nih", "validate_nih"),
    "ms-cxr": lazy_validator("clinvla_kit.data.sources.ms_cxr", "validate_ms_cxr"),
    "ms-cxr-t": lazy_validator("clinvla_kit.data.sources.ms_cxr", "validate_ms_cxr_t"),
})
