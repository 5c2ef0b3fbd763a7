"""The CheXpert evaluation subsets: GLoRIA's 5x200 and ConVIRT's 8x200, in their released CSV formats.

- 5x200 (GLoRIA, Huang et al. 2021): ``chexpert_5x200.csv`` with ``Path``, the CheXpert observation columns and
  ``Report Impression``; 200 images for each of five classes, exactly one positive of the five per row.
- 8x200 (ConVIRT, Zhang et al. 2020): ``image-retrieval/query.csv`` and ``image-retrieval/candidate.csv``
  (``Path`` + one-hot columns of eight classes) and ``text-retrieval/query.csv`` (``Text`` + the same columns);
  1600 candidates (200 per class), image queries per class, text queries per class (5 per class in the released
  CSVs, although the accompanying README speaks of 10: see ``data_cards/chexpert.md``).

Row order is kept exactly as in the file: retrieval ties are broken by candidate index and the 5x200 reports are
paired with images by row, so a shuffled or re-sorted copy gives different numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.sources._tables import expect_file, not_found, read_table, resolve_image

CLASSES_5X200: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
CLASSES_8X200: tuple[str, ...] = (
    "No Finding", "Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Fracture",
)
REPORT_COLUMN = "Report Impression"


def _one_positive(row: dict, classes: tuple[str, ...], file: Path, i: int) -> int:
    """Index of the single positive class of a row; a DataError naming the row when there are 0 or >1."""
    hits = []
    for k, c in enumerate(classes):
        v = str(row[c]).strip()
        if v in ("", "0", "0.0", "-1", "-1.0"):
            continue
        if v not in ("1", "1.0"):
            raise DataError(f"label {v!r} not in the allowed set [1, 0, -1, blank]", file=file, row=i, field=c)
        hits.append(k)
    if len(hits) != 1:
        names = [classes[k] for k in hits]
        raise DataError(f"expected exactly one positive of {list(classes)}, found {len(hits)} {names}",
                        file=file, row=i, field="|".join(classes))
    return hits[0]


def load_chexpert_5x200(csv_path: str | Path, image_root: str | Path | None = None,
                        check_files: bool = True) -> pd.DataFrame:
    """GLoRIA's 5x200 CSV -> DataFrame[path, label, label_index, report], in file order.

    Args:
        csv_path: the 5x200 CSV.
        image_root: folder the ``Path`` column is relative to (default: the CSV's folder).
        check_files: check each image exists.

    Raises:
        DataError: a missing column, not exactly one positive of the five in a row, an empty impression, a
            missing image, a duplicated Path.
    """
    csv_path = expect_file(Path(csv_path), ("chexpert_5x200.csv",), "GLoRIA's 5x200 CSV (chexpert_5x200.csv)")
    if not csv_path.is_file():
        raise not_found(csv_path, "GLoRIA's 5x200 CSV (Path, the five observation columns, Report Impression)",
                        csv_path.parent, "chexpert_5x200.csv")
    root = Path(image_root) if image_root is not None else csv_path.parent
    df = read_table(csv_path, ("Path", *CLASSES_5X200, REPORT_COLUMN))
    rows = []
    seen: dict[str, int] = {}
    for i, row in enumerate(df.to_dict("records"), start=1):
        k = _one_positive(row, CLASSES_5X200, csv_path, i)
        report = row[REPORT_COLUMN].strip()
        if not report:
            raise DataError("empty report", file=csv_path, row=i, field=REPORT_COLUMN)
        if row["Path"] in seen:
            raise DataError(f"duplicated id {row['Path']!r} (first at row {seen[row['Path']]})", file=csv_path,
                            row=i, field="Path")
        seen[row["Path"]] = i
        path = resolve_image(root, row["Path"], csv_path, i, "Path", check=check_files)
        rows.append({"path": path, "label": CLASSES_5X200[k], "label_index": k, "report": report})
    return pd.DataFrame(rows, columns=["path", "label", "label_index", "report"])


def _read_onehot(csv_path: Path, key: str, root: Path | None, check_files: bool) -> pd.DataFrame:
    """One 8x200 CSV (key "Path" or "Text") -> DataFrame[path|text, label] in file order."""
    df = read_table(csv_path, (key, *CLASSES_8X200))
    out_key = key.lower()
    rows = []
    seen: dict[str, int] = {}
    for i, row in enumerate(df.to_dict("records"), start=1):
        k = _one_positive(row, CLASSES_8X200, csv_path, i)
        value = row[key].strip()
        if not value:
            raise DataError(f"empty {key}", file=csv_path, row=i, field=key)
        if key == "Path":
            if value in seen:
                raise DataError(f"duplicated id {value!r} (first at row {seen[value]})", file=csv_path, row=i,
                                field=key)
            seen[value] = i
            value = resolve_image(root, value, csv_path, i, key, check=check_files)
        rows.append({out_key: value, "label": CLASSES_8X200[k]})
    return pd.DataFrame(rows, columns=[out_key, "label"])


def load_chexpert_8x200(directory: str | Path, image_root: str | Path | None = None,
                        check_files: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """ConVIRT's 8x200 folder -> (image_queries[path, label], candidates[path, label], text_queries[text, label]).

    Args:
        directory: the folder holding ``image-retrieval/`` and ``text-retrieval/``.
        image_root: folder the ``Path`` columns are relative to (default: ``directory``).
        check_files: check each image exists.

    Raises:
        DataError: a missing file or column, a row without exactly one positive class, a missing image.
    """
    directory = Path(directory)
    if not (directory / "image-retrieval" / "candidate.csv").is_file():
        raise not_found(directory / "image-retrieval" / "candidate.csv",
                        "ConVIRT's 8x200 folder holding image-retrieval/query.csv, image-retrieval/candidate.csv and "
                        "text-retrieval/query.csv", directory, "image-retrieval/candidate.csv")
    root = Path(image_root) if image_root is not None else directory
    queries = _read_onehot(directory / "image-retrieval" / "query.csv", "Path", root, check_files)
    candidates = _read_onehot(directory / "image-retrieval" / "candidate.csv", "Path", root, check_files)
    texts = _read_onehot(directory / "text-retrieval" / "query.csv", "Text", None, check_files)
    return queries, candidates, texts


def _check_counts(report, name: str, counts: dict[str, int], classes: tuple[str, ...], per_class: int) -> None:
    """Published sets have ``per_class`` items of every class; a smaller balanced set is a scaled set (warning)."""
    total, full = sum(counts.values()), per_class * len(classes)
    missing = [c for c in classes if counts.get(c, 0) == 0]
    if missing:
        report.error(f"{name}: no item of class(es) {missing}", field="label")
    if total > full:
        report.error(f"{name}: {total} items, more than the published {full}", field="label")
    elif total < full:
        report.warning(f"{name}: {total} items instead of the published {full} (a scaled set: allowed, but "
                       "P@k is not comparable with papers)", field="label")
    if len(set(counts.values())) > 1:
        report.warning(f"{name}: classes are unbalanced {counts}", field="label")


def validate_chexpert_5x200(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind chexpert-5x200``: the CSV at ``root`` or ``root/benchmarks`` (SynthCXR's layout)."""
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        csv_path = mf.find_first(root, ("chexpert_5x200.csv", "benchmarks/chexpert_5x200.csv"), "5x200 CSV")
        df = load_chexpert_5x200(csv_path, mf.guess_image_root(csv_path, mf.first_cell(csv_path, "Path"), root))
        counts = df.label.value_counts().to_dict()
        _check_counts(report, "5x200", counts, CLASSES_5X200, 200)
        mf.probe_images(report, df.path, deep)
        report.stats.update(rows=len(df), **{f"n_{c.replace(' ', '_')}": int(n) for c, n in counts.items()})
        rows = [f"{mf.canonical_image_id(p)}\t{lab}" for p, lab in zip(df.path, df.label)]
        mf.write_manifest(root, "chexpert-5x200", {"rows": rows}, [csv_path], {"rows": len(df)}, known, report)

    return mf.run_validator("chexpert-5x200", root, body)


def validate_chexpert_8x200(root: str | Path, deep: bool = False, known: dict | None = None):
    """``validate --kind chexpert-8x200``: 1600 candidates (200 per class), queries for every class, no query
    image among the candidates."""
    from clinvla_kit.data import manifest as mf

    def body(root: Path, report) -> None:
        d = mf.find_first(root, ("image-retrieval", "chexpert_8x200/image-retrieval",
                                 "benchmarks/chexpert_8x200/image-retrieval"), "8x200 image-retrieval folder").parent
        cand_csv = d / "image-retrieval" / "candidate.csv"
        image_root = mf.guess_image_root(cand_csv, mf.first_cell(cand_csv, "Path"), root) if cand_csv.is_file() else d
        q, c, t = load_chexpert_8x200(d, image_root)
        _check_counts(report, "8x200 candidates", c.label.value_counts().to_dict(), CLASSES_8X200, 200)
        for name, df in (("image queries", q), ("text queries", t)):
            per = df.label.value_counts().to_dict()
            missing = [k for k in CLASSES_8X200 if per.get(k, 0) == 0]
            if missing:
                report.error(f"8x200 {name}: no query of class(es) {missing}", field="label")
            if len(set(per.values())) > 1:
                report.warning(f"8x200 {name}: unequal queries per class {per}", field="label")
        leaked = sorted(set(map(str, q.path)) & set(map(str, c.path)))
        if leaked:
            report.error(f"{len(leaked)} image queries are also candidates (e.g. {leaked[0]})", field="Path")
        mf.probe_images(report, [*q.path, *c.path], deep)
        report.stats.update(image_queries=len(q), candidates=len(c), text_queries=len(t))
        lists = {
            "image_queries": [f"{mf.canonical_image_id(p)}\t{lab}" for p, lab in zip(q.path, q.label)],
            "candidates": [f"{mf.canonical_image_id(p)}\t{lab}" for p, lab in zip(c.path, c.label)],
            "text_queries": [f"{x}\t{lab}" for x, lab in zip(t.text, t.label)],
        }
        files = [d / "image-retrieval" / "query.csv", cand_csv, d / "text-retrieval" / "query.csv"]
        mf.write_manifest(root, "chexpert-8x200", lists, files, {k: len(v) for k, v in lists.items()}, known, report)

    return mf.run_validator("chexpert-8x200", root, body)
