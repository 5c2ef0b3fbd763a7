"""Small checked-reading helpers shared by the real-data loaders (CheXpert, RSNA, Open-I, NIH, MS-CXR).

Every helper raises ``DataError`` naming the file, the 1-based data row (header excluded) and the field, so a user
with a broken download learns exactly where to look. Values are read as strings (``dtype=str``) so that ids keep
their leading zeros and a blank cell is a blank, not NaN-turned-float.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.paths import inside_root


def read_table(path: str | Path, required: Sequence[str], sep: str = ",") -> pd.DataFrame:
    """Read a CSV as strings (blank -> ""), checking the file exists and every required column is present.

    Raises:
        DataError: missing/unreadable file (file), missing column (file, field), empty table (file).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=path)
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"cannot parse as CSV: {e}", file=path) from None
    df.columns = [str(c).strip() for c in df.columns]
    for col in required:
        if col not in df.columns:
            raise DataError(f"missing column; the file has {list(df.columns)}", file=path, field=col)
    if len(df) == 0:
        raise DataError("no data rows", file=path)
    return df


def check_unique(df: pd.DataFrame, column: str | Sequence[str], file: Path) -> None:
    """Raise on the first duplicated id (the row named is the second occurrence)."""
    cols = [column] if isinstance(column, str) else list(column)
    dup = df.duplicated(subset=cols, keep="first")
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        value = ", ".join(str(df.iloc[i][c]) for c in cols)
        raise DataError(f"duplicated id {value!r}", file=file, row=i + 1, field="+".join(cols))


def check_allowed(value: str, allowed: Iterable[str], file: Path, row: int, field: str) -> str:
    """Return ``value`` if it is one of ``allowed``; else a DataError listing the allowed values."""
    allowed = list(allowed)
    if value not in allowed:
        raise DataError(f"value {value!r} not in the allowed set {allowed}", file=file, row=row, field=field)
    return value


def parse_float(value: str, file: Path, row: int, field: str) -> float:
    """A number from a CSV cell, or a DataError naming the cell."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"not a number: {value!r}", file=file, row=row, field=field) from None


_CHEXPERT_CELLS: dict[str, float | None] = {"": None, "1.0": 1.0, "0.0": 0.0, "-1.0": -1.0, "1": 1.0, "0": 0.0,
                                             "-1": -1.0}


def parse_chexpert_value(value: str, file: Path, row: int, field: str) -> float | None:
    """A CheXpert observation cell: "1", "0", "-1" (also "1.0" ...) or blank -> 1.0 / 0.0 / -1.0 / None.

    One rule for every source: the MIMIC loader's ``parse_label`` (a value outside the set is a ``DataError``
    naming the file, row and column). The common spellings are looked up first: the real CheXpert ``train.csv``
    has 3.1 million cells.
    """
    if value in _CHEXPERT_CELLS:
        return _CHEXPERT_CELLS[value]
    from clinvla_kit.data.sources.mimic import parse_label

    return parse_label(value, file, row, field)


def resolve_image(root: Path, rel: str, file: Path, row: int, field: str, check: bool = True) -> Path:
    """Join a CSV path cell to ``root``; also try without its first component (the data set's folder name).

    Why the second try: CheXpert's CSVs write ``CheXpert-v1.0-small/train/...`` relative to the folder *above*
    the data set, and users point ``image_root`` at either folder.
    """
    if not rel.strip():
        raise DataError("empty image path", file=file, row=row, field=field)
    p = Path(rel.strip())
    candidates = [p] if p.is_absolute() else [root / p] + ([root / Path(*p.parts[1:])] if len(p.parts) > 1 else [])
    for c in candidates:  # "../", absolute paths elsewhere: refused, naming the cell (clinvla_kit/data/paths.py)
        inside_root(root, c, file, row, field, cell=rel)
    if not check:
        return candidates[0]
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(f"image not found (looked for {[str(c) for c in candidates]})", file=file, row=row, field=field)


def find_below(root: Path, pattern: str, depth: int = 3, limit: int = 3) -> list[Path]:
    """Up to ``limit`` paths matching ``pattern`` (a name or glob) in ``root``'s sub-folders, nearest level first.

    Only called on an error path (it walks folders), to tell a user who pointed at the parent folder where the
    file actually is.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    for d in range(1, depth + 1):
        hits = sorted(root.glob("/".join(["*"] * d) + "/" + pattern))
        if hits:
            return hits[:limit]
    return []


def not_found(path: Path, expected: str, search_root: Path | None = None, pattern: str | None = None,
              what: str = "file") -> DataError:
    """The first error a user sees for a missing published file: it names the file, says what was expected and,
    when a matching file lies in a sub-folder (the usual mistake: pointing at the parent folder), where it is."""
    message = f"missing {what}; expected {expected}"
    pattern = pattern or Path(path).name
    hits = find_below(search_root, pattern) if search_root is not None else []
    if hits:
        base = hits[0]
        for _ in Path(pattern).parts:  # the folder that holds the pattern ("image-retrieval/candidate.csv")
            base = base.parent
        message += f". Found {hits[0]}: point at {base} instead"
    return DataError(message, file=Path(path))


def expect_file(path: Path, names: tuple[str, ...], expected: str) -> Path:
    """``path`` itself, or a DataError when it is a folder (a CSV argument given as its folder); the error names
    a file called one of ``names`` found inside it, if any."""
    path = Path(path)
    if path.is_dir():
        hits = [h for n in names for h in find_below(path, n, depth=2)] + [path / n for n in names
                                                                            if (path / n).is_file()]
        hint = f". Found {sorted(hits, key=lambda h: len(h.parts))[0]}: pass that file" if hits else ""
        raise DataError(f"expected {expected}, got a folder{hint}", file=path)
    return path
