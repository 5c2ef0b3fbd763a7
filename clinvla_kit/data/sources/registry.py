"""One call per data set: validate and load the real copy at a path, or fall back to the tiny example copy.

``load_source(kind, path)`` is what notebook 09 calls for every data set. With a path it runs the kind's
validator (``clinvla_kit.data.validation.VALIDATORS``, the same as ``clinvla-kit validate --kind K``) and then its
loader; with ``path=None`` it does the same on the example copy of that layout (``examples.write_examples``; for
``mimic`` a tiny SynthCXR, which is MIMIC-CXR-JPG-shaped), so the notebook runs every loader without data and a
learner sees exactly what the real call returns. Why one function: the ten loaders differ in what they take (a
directory, a CSV, a CSV plus an image root); a table here hides that, so the notebook has one call per data set
and no branching. A path that does not exist is an error naming it (never a silent fallback to the examples).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinvla_kit.data.errors import DataError

KINDS: tuple[str, ...] = ("mimic", "chexpert", "chexpert-5x200", "chexpert-8x200", "rsna", "openi", "nih", "ms-cxr",
                          "ms-cxr-t")
"""Data-set kinds, named as in ``clinvla-kit validate --kind``."""


@dataclass(frozen=True)
class LoadedSource:
    """A loaded data set and where it came from.

    Attributes:
        kind: one of ``KINDS``.
        source: "real" (the path the user gave) or "example" (the tiny example copy).
        path: the directory (or CSV) that was loaded.
        data: what the kind's loader returns: ``list[StudyRecord]`` (mimic, chexpert, openi), a DataFrame
            (5x200, rsna, nih, ms-cxr, ms-cxr-t) or (image queries, candidates, text queries) DataFrames (8x200).
        validation: the validator's ``ValidationReport`` (None when ``validate=False``).
        n_items: studies / rows / candidates, for the summary table.
        unit: what ``n_items`` counts.
    """

    kind: str
    source: str
    path: Path
    data: Any
    validation: Any = None
    n_items: int = 0
    unit: str = "items"
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """One row for a summary table (``pandas.DataFrame([s.summary() for s in loaded])``)."""
        v = self.validation
        return {"kind": self.kind, "source": self.source, "path": str(self.path), "items": self.n_items,
                "unit": self.unit, "valid": None if v is None else v.ok,
                "errors": None if v is None else len(v.errors), "warnings": None if v is None else len(v.warnings),
                "summary": "" if v is None else v.summary()}


def _first(root: Path, names: tuple[str, ...], what: str) -> Path:
    for n in names:
        if (root / n).exists():
            return root / n
    raise DataError(f"no {what} found (looked for {list(names)})", file=root)


def _image_root(csv_path: Path, root: Path) -> Path:
    """Folder the CSV's relative image paths start from: ``manifest.guess_image_root`` (CSV folder, its parent,
    ``root``, its parent), else the nearest further ancestor of the CSV under which the first path exists (a
    benchmark folder nested deeper than its images, as in SynthCXR's ``DIR/benchmarks/chexpert_8x200``)."""
    from clinvla_kit.data import manifest as mf

    first = mf.first_cell(csv_path, "Path")
    base = mf.guess_image_root(csv_path, first, root)
    if first and not (base / first).is_file():
        base = next((a for a in csv_path.parents if (a / first).is_file()), base)
    return base


def _load_mimic(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.mimic import load_mimic

    recs = load_mimic(root)
    return recs, len(recs), "studies"


def _load_chexpert(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.chexpert import load_chexpert

    csv_path = root if root.is_file() else _first(
        root, ("valid.csv", "CheXpert-v1.0-small/valid.csv", "CheXpert-v1.0/valid.csv", "train.csv",
               "CheXpert-v1.0-small/train.csv", "CheXpert-v1.0/train.csv"), "CheXpert train.csv / valid.csv")
    recs = load_chexpert(csv_path, _image_root(csv_path, csv_path.parent))
    return recs, len(recs), "studies"


def _load_5x200(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200

    csv_path = root if root.is_file() else _first(root, ("chexpert_5x200.csv", "benchmarks/chexpert_5x200.csv"),
                                                  "5x200 CSV")
    df = load_chexpert_5x200(csv_path, _image_root(csv_path, csv_path.parent))
    return df, len(df), "images"


def _load_8x200(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.benchmarks import load_chexpert_8x200

    d = _first(root, ("image-retrieval", "chexpert_8x200/image-retrieval", "benchmarks/chexpert_8x200/image-retrieval"),
               "8x200 image-retrieval folder").parent
    cand = d / "image-retrieval" / "candidate.csv"
    image_root = _image_root(cand, root) if cand.is_file() else d
    q, c, t = load_chexpert_8x200(d, image_root)
    return (q, c, t), len(c), "candidates"


def _load_rsna(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.rsna import LABELS_CSV, load_rsna

    d = _first(root, (LABELS_CSV, f"rsna/{LABELS_CSV}", f"benchmarks/rsna/{LABELS_CSV}"), LABELS_CSV).parent
    split = "test_list" if (d / "test_list.txt").is_file() else "gloria"
    df = load_rsna(d, split=split)
    return df, len(df), "patients"


def _load_openi(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.openi import load_openi_csv, load_openi_xml

    recs = (load_openi_csv(root, on_empty="skip") if (root / "indiana_reports.csv").is_file()
            else load_openi_xml(root, on_empty="skip"))
    return recs, len(recs), "studies"


def _load_nih(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.nih import load_nih

    df = load_nih(root)
    return df, len(df), "images"


def _load_ms_cxr(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.ms_cxr import _find_csv, _image_root, load_ms_cxr

    csv_path = _find_csv(root, ("MS_CXR_Local_Alignment_v*.csv", "*/MS_CXR_Local_Alignment_v*.csv"), "MS-CXR CSV")
    df = load_ms_cxr(csv_path, _image_root(csv_path, root))
    return df, len(df), "phrases"


def _load_ms_cxr_t(root: Path) -> tuple[Any, int, str]:
    from clinvla_kit.data.sources.ms_cxr import _find_csv, _image_root, load_ms_cxr_t

    csv_path = _find_csv(root, ("MS_CXR_T_temporal_image_classification_v*.csv", "temporal.csv",
                                "benchmarks/temporal.csv", "*/MS_CXR_T_temporal_image_classification_v*.csv"),
                         "MS-CXR-T CSV")
    df = load_ms_cxr_t(csv_path, _image_root(csv_path, root))
    return df, len(df), "labels"


LOADERS: dict[str, Callable[[Path], tuple[Any, int, str]]] = {
    "mimic": _load_mimic, "chexpert": _load_chexpert, "chexpert-5x200": _load_5x200, "chexpert-8x200": _load_8x200,
    "rsna": _load_rsna, "openi": _load_openi, "nih": _load_nih, "ms-cxr": _load_ms_cxr, "ms-cxr-t": _load_ms_cxr_t,
}
"""kind -> ``root -> (data, n_items, unit)``: how each loader is reached from the directory a user has."""


def example_paths(examples_dir: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write (once) the example copies under ``examples_dir``; ``{kind: path}`` for every kind in ``KINDS``.

    ``mimic`` is a tiny SynthCXR (4 archive studies at 32 px, ~2 s): the examples module has no MIMIC copy
    because SynthCXR already is one. Re-used when present, so calling this per data set costs nothing.
    """
    from clinvla_kit.data.sources.examples import write_examples

    root = Path(examples_dir)
    paths = write_examples(root)  # a few KB of tiny files; rewriting keeps them exact
    mimic = root / "mimic"
    if not (mimic / "mimic-cxr-2.0.0-metadata.csv").is_file():
        from clinvla_kit.synth.generate import generate

        generate(mimic, studies=4, seed=seed, image_size=32, workers=1)
    return {**{k: Path(v) for k, v in paths.items()}, "mimic": mimic}


def load_source(kind: str, path: str | Path | None = None, examples_dir: str | Path | None = None,
                validate: bool = True, deep: bool = False) -> LoadedSource:
    """Validate and load data set ``kind`` from ``path``, or its example copy when ``path`` is None.

    Args:
        kind: one of ``KINDS``.
        path: the real data set's directory (or, for chexpert / chexpert-5x200, its CSV). None: use the example.
        examples_dir: where the example copies are written when ``path`` is None (required then).
        validate: run the kind's validator first (it writes ``manifest.json`` beside the data, or warns when it
            cannot). A CSV path is validated through its folder.
        deep: validator decodes every image fully instead of reading headers.
    Raises:
        ValueError: unknown kind, or neither path nor examples_dir.
        DataError: ``path`` does not exist, or the loader rejects the data (naming file, row and field). The
            validator never raises: its problems are in ``LoadedSource.validation``.
    """
    from clinvla_kit.data.validation import VALIDATORS

    if kind not in LOADERS:
        raise ValueError(f"unknown data-set kind {kind!r}; choose one of {list(KINDS)}")
    if path is not None and str(path).strip():
        root, source = Path(path).expanduser(), "real"
        if not root.exists():
            raise DataError(f"{kind}: the given path does not exist", file=root)
    else:
        if examples_dir is None:
            raise ValueError(f"{kind}: no path given and no examples_dir to write the example copy to")
        root, source = example_paths(examples_dir)[kind], "example"
    report = VALIDATORS[kind](root if root.is_dir() else root.parent, deep=deep) if validate else None
    data, n, unit = LOADERS[kind](root)
    return LoadedSource(kind=kind, source=source, path=root, data=data, validation=report, n_items=n, unit=unit)
