"""Open-I / Indiana University chest X-ray collection (Demner-Fushman et al. 2016) -> ``StudyRecord`` s.

Two published layouts, both read here:

- NLM release: ``ecgen-radiology/<n>.xml`` reports (``AbstractText Label="FINDINGS"`` / ``"IMPRESSION"``, one
  ``parentImage id="CXR<n>_<k>_IM-...">`` per image) with ``NLMCXR_png/<parentImage id>.png``. The XML does
  not say which image is frontal: a projections CSV is used when given, else the image caption, else the order
  (first frontal, second lateral) with a warning, because order is a guess.
- CSV variant (Kaggle "Chest X-rays (Indiana University)"): ``indiana_reports.csv`` (uid, MeSH, Problems, image,
  indication, comparison, findings, impression) and ``indiana_projections.csv`` (uid, filename, projection =
  Frontal/Lateral) with images in ``images/images_normalized/``.

Open-I has no CheXpert labels: they come from the kit's rule-based labeler (``label_report``), so they are noisy.
Reports with neither findings nor impression, and (XML) reports without any image, exist in the real release (of
its 3,955 XML reports, 129 are such: ``tests/data/sources/test_published_files.py`` checks it on the real file), so
the default ``on_empty="skip"`` drops them and says how many in one summary warning; ``on_empty="raise"`` (strict,
for a curated copy) raises at the first one, naming the file or row.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

from clinvla_kit.config import SLOTS
from clinvla_kit.data.errors import DataError
from clinvla_kit.data.labeler import label_report
from clinvla_kit.data.paths import inside_root, safe_component
from clinvla_kit.data.records import StudyRecord
from clinvla_kit.data.sources._tables import check_allowed, check_unique, find_below, not_found, read_table

REPORT_COLUMNS: tuple[str, ...] = ("uid", "findings", "impression")
PROJECTION_COLUMNS: tuple[str, ...] = ("uid", "filename", "projection")


def compose_report(findings: str, impression: str) -> str:
    """The report text the kit uses: "FINDINGS: ...\\nIMPRESSION: ..." (MIMIC's headers), empty parts left out."""
    parts = [f"{h}: {t.strip()}" for h, t in (("FINDINGS", findings), ("IMPRESSION", impression)) if t and t.strip()]
    return "\n".join(parts)


def _record(uid: str, views: list[tuple[str, Path, str]], report: str, split: str, src: Path) -> StudyRecord:
    images: dict[str, Path | None] = {s: None for s in SLOTS}
    ids: dict[str, str | None] = {s: None for s in SLOTS}
    for view, path, image_id in views:
        if images[view] is None:
            images[view], ids[view] = path, image_id
    return StudyRecord(subject_id=uid, study_id=uid, study_datetime="", images=images, dicom_ids=ids, report=report,
                       labels=label_report(report), split=split, report_path=src)


ON_EMPTY: tuple[str, ...] = ("skip", "raise", "error")
"""What a loader does with an empty report: skip and count it (default), or raise ("error" is an old alias)."""


def _check_on_empty(on_empty: str) -> None:
    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be one of {list(ON_EMPTY)}, got {on_empty!r}")


def _empty(on_empty: str, message: str, file: Path, row: int | None, field: str,
           skipped: list[tuple[str, str]]) -> None:
    if on_empty in ("raise", "error"):
        raise DataError(message, file=file, row=row, field=field)
    reason = "no image" if "image" in message.lower() else "no findings and no impression"
    skipped.append((f"{file.name}" + (f" row {row}" if row else ""), reason))


def _warn_skipped(skipped: list[tuple[str, str]]) -> None:
    """One summary warning for every skipped report: how many, why, and the first few names."""
    if skipped:
        reasons = {r: sum(1 for _, x in skipped if x == r) for r in dict.fromkeys(x for _, x in skipped)}
        why = ", ".join(f"{n} with {r}" for r, n in reasons.items())
        warnings.warn(f"Open-I: skipped {len(skipped)} reports ({why}; first: {[n for n, _ in skipped[:3]]}; "
                      "on_empty='raise' stops at the first instead)", stacklevel=3)


def load_openi_csv(
    directory: str | Path, images_dir: str | Path | None = None, split: str = "test", on_empty: str = "skip",
    check_files: bool = True,
) -> list[StudyRecord]:
    """The CSV variant -> one record per uid with its first frontal and first lateral image.

    Raises:
        DataError: missing column or file, duplicated uid or filename, projection other than Frontal/Lateral, a
            projection naming an unknown uid, a missing image, an empty report (only with ``on_empty="raise"``).
    """
    directory = Path(directory)
    _check_on_empty(on_empty)
    reports_csv, proj_csv = directory / "indiana_reports.csv", directory / "indiana_projections.csv"
    for f in (reports_csv, proj_csv):
        if not f.is_file():
            raise not_found(f, "the Kaggle variant's folder holding indiana_reports.csv, indiana_projections.csv "
                            "and images/images_normalized/", directory, f.name)
    reports = read_table(reports_csv, REPORT_COLUMNS)
    check_unique(reports, "uid", reports_csv)
    proj = read_table(proj_csv, PROJECTION_COLUMNS)
    check_unique(proj, "filename", proj_csv)
    if images_dir is None:
        cands = [directory / "images" / "images_normalized", directory / "images", directory]
        images = next((c for c in cands if c.is_dir() and any(c.glob("*.png"))), cands[0])
    else:
        images = Path(images_dir)
    known = set(reports["uid"])
    views: dict[str, list[tuple[str, Path, str]]] = {}
    for i, row in enumerate(proj.to_dict("records"), start=1):
        uid = row["uid"].strip()
        if uid not in known:
            raise DataError(f"uid {uid!r} is not in indiana_reports.csv", file=proj_csv, row=i, field="uid")
        view = check_allowed(row["projection"].strip(), ("Frontal", "Lateral"), proj_csv, i, "projection").lower()
        path = inside_root(images, images / row["filename"].strip(), proj_csv, i, "filename", cell=row["filename"])
        if check_files and not path.is_file():
            raise DataError(missing_image(path, "the Kaggle variant's images"), file=proj_csv, row=i,
                            field="filename")
        views.setdefault(uid, []).append((view, path, row["filename"].strip()))
    records, skipped = [], []
    for i, row in enumerate(reports.to_dict("records"), start=1):
        report = compose_report(row["findings"], row["impression"])
        if not report:
            _empty(on_empty, "empty report (no findings, no impression)", reports_csv, i, "findings", skipped)
            continue
        if row["uid"] not in views:
            _empty(on_empty, "study has no image in indiana_projections.csv", reports_csv, i, "uid", skipped)
            continue
        records.append(_record(row["uid"], views[row["uid"]], report, split, reports_csv))
    _warn_skipped(skipped)
    return records


def missing_image(path: Path, release: str) -> str:
    """The message for a missing Open-I image; names a same-stem file of another format when there is one
    (the NLM release is PNG, ``NLMCXR_png.tgz``; JPEG and DICOM copies circulate too)."""
    stem = path.name[: -len(".png")] if path.name.endswith(".png") else path.stem
    others = sorted(p.name for p in path.parent.glob(f"{stem}.*") if p.suffix.lower() != ".png") \
        if path.parent.is_dir() else []
    if others:
        return (f"image not found: {path}; found {others[0]} instead: this loader reads {release} as PNG "
                f"(<id>.png). Convert the images to PNG, or use the PNG release")
    if not path.parent.is_dir():
        return f"image not found: {path} (the image folder {path.parent} does not exist; pass images_dir)"
    return f"image not found: {path}"


def _xml_view(caption: str) -> str | None:
    """Frontal/lateral from an image caption when it says so ("Xray Chest PA and Lateral" says both: None)."""
    c = caption.lower()
    lateral = re.search(r"\blat(?:eral)?\b", c) is not None
    frontal = re.search(r"\b(?:frontal|pa|ap|posteroanterior|anteroposterior)\b", c) is not None
    return "lateral" if lateral and not frontal else ("frontal" if frontal and not lateral else None)


def load_openi_xml(
    directory: str | Path, images_dir: str | Path | None = None, projections_csv: str | Path | None = None,
    split: str = "test", on_empty: str = "skip", check_files: bool = True,
) -> list[StudyRecord]:
    """The NLM release: ``directory/ecgen-radiology/*.xml`` + ``images_dir`` (default ``directory/NLMCXR_png``).

    Args:
        projections_csv: an ``indiana_projections.csv``-style table (uid, filename, projection) whose file stems
            are matched to ``parentImage`` ids, for a reliable frontal/lateral assignment.

    Raises:
        DataError: an unparsable XML, an image file missing, an empty report (only with ``on_empty="raise"``).
    """
    directory = Path(directory)
    _check_on_empty(on_empty)
    xml_dir = directory / "ecgen-radiology"
    files = sorted(xml_dir.glob("*.xml"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise not_found(xml_dir, "the Open-I folder holding ecgen-radiology/<n>.xml (NLMCXR_reports.tgz unpacked) "
                        "and NLMCXR_png/", directory, "ecgen-radiology", what="report XML files (*.xml)")
    images = Path(images_dir) if images_dir is not None else directory / "NLMCXR_png"
    projection: dict[str, str] = {}
    if projections_csv is not None:
        proj = read_table(Path(projections_csv), PROJECTION_COLUMNS)
        for i, row in enumerate(proj.to_dict("records"), start=1):
            view = check_allowed(row["projection"].strip(), ("Frontal", "Lateral"), Path(projections_csv), i,
                                 "projection")
            projection[Path(row["filename"]).name.split(".")[0]] = view.lower()
    records, skipped, guessed = [], [], 0
    for f in files:
        try:
            root = ET.parse(f).getroot()
        except ET.ParseError as e:
            raise DataError(f"not well-formed XML: {e}", file=f) from None
        texts = {a.get("Label", "").upper(): (a.text or "") for a in root.iter("AbstractText")}
        report = compose_report(texts.get("FINDINGS", ""), texts.get("IMPRESSION", ""))
        if not report:
            _empty(on_empty, "empty report (no FINDINGS, no IMPRESSION AbstractText)", f, None, "AbstractText",
                   skipped)
            continue
        uid_el = root.find(".//uId")
        uid = uid_el.get("id") if uid_el is not None and uid_el.get("id") else f"CXR{f.stem}"
        views = []
        for k, img in enumerate(root.iter("parentImage")):
            image_id = img.get("id", "")
            path = images / f"{safe_component(image_id, f, None, 'parentImage')}.png"  # an id, not a path
            if check_files and not path.is_file():
                raise DataError(missing_image(path, "NLM's release (NLMCXR_png)"), file=f, field="parentImage")
            view = projection.get(image_id.split("CXR", 1)[-1]) or projection.get(image_id)
            view = view or _xml_view(img.findtext("caption") or "")
            if view is None:
                view, guessed = ("frontal" if k == 0 else "lateral"), guessed + 1
            views.append((view, path, image_id))
        if not views:  # the NLM release has some reports without images
            _empty(on_empty, "report has no parentImage", f, None, "parentImage", skipped)
            continue
        records.append(_record(uid, views, report, split, f))
    _warn_skipped(skipped)
    if guessed:
        warnings.warn(f"Open-I XML: {guessed} images had no projection (no projections CSV, no caption); "
                      "assigned by order (first frontal, then lateral)", stacklevel=2)
    return records


def validate_openi(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind openi``: the CSV variant when ``indiana_reports.csv`` exists, else the XML release.

    Empty reports are skipped with a warning here (the real release has some), not treated as errors.
    """
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if (root / "indiana_reports.csv").is_file():
                recs = load_openi_csv(root, on_empty="skip")
                files = [root / "indiana_reports.csv", root / "indiana_projections.csv"]
            else:
                recs = load_openi_xml(root, on_empty="skip")
                files = []
        for w in caught:
            report.warning(str(w.message))
        paths = [p for r in recs for p in r.images.values() if p is not None]
        mf.probe_images(report, paths, deep)
        report.stats.update(studies=len(recs), images=len(paths), with_lateral=sum(r.present[1] for r in recs),
                            no_finding=sum(r.labels["No Finding"] == 1.0 for r in recs))
        lists = {"studies": sorted(r.study_id for r in recs), "images": sorted(Path(p).name for p in paths)}
        mf.write_manifest(root, "openi", lists, files, {k: len(v) for k, v in lists.items()}, known, report)

    return mf.run_validator("openi", root, body)
