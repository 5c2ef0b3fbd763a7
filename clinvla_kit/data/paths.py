"""Keeping paths read from data files inside the data root.

A CSV cell or an id becomes part of a path that the kit opens. A cell such as ``../../etc/passwd``, an absolute
``/etc/passwd`` or a MIMIC ``dicom_id`` of ``../../x`` would otherwise make the loaders read files anywhere the
user can read, and (as a benchmark image) show them in a figure or the demo. Every join point of a loader calls one
of the two functions here, and a path outside the root is a ``DataError`` naming the file, row and field.

Why a lexical check (``os.path.normpath`` of the absolute path) and not ``Path.resolve``: data roots are often
symlink farms (``files/ -> /mnt/big/mimic/files``); following links would refuse every image of such a setup. The
danger is the cell's text, so the cell's text is what is checked.
"""

from __future__ import annotations

import os
from pathlib import Path

from clinvla_kit.data.errors import DataError


def _normal(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def is_inside(root: str | Path, path: str | Path) -> bool:
    """Whether ``path`` (joined to nothing: give the joined path) lies lexically inside ``root``."""
    r, p = _normal(root), _normal(path)
    return os.path.commonpath([r, p]) == r


def inside_root(root: str | Path, path: str | Path, file: str | Path | None = None, row: int | None = None,
                field: str | None = None, cell: str | None = None) -> Path:
    """Return ``path`` if it lies inside ``root``; else a ``DataError`` at (file, row, field).

    Args:
        root: the data (or image) root the loader was given.
        path: the path built from the cell (``root / cell``, or the cell itself when absolute).
        cell: the raw cell text, quoted in the message.
    """
    if not is_inside(root, path):
        what = f"{cell!r} -> {_normal(path)}" if cell is not None else _normal(path)
        raise DataError(f"path {what} lies outside the data root {_normal(root)}; refusing to open it (paths in "
                        "data files must be relative to the root, without '..')", file=file, row=row, field=field)
    return Path(path)


def safe_component(value: str, file: str | Path | None = None, row: int | None = None,
                   field: str | None = None) -> str:
    """An id used as one path component (``dicom_id``, ``subject_id``, ``study_id``): no separator, not ``.``/``..``,
    not absolute. Returns ``value``; a ``DataError`` at (file, row, field) otherwise."""
    v = value.strip()
    if "/" in v or "\\" in v or v in (".", "..") or os.path.isabs(v) or "\x00" in v:
        raise DataError(f"id {value!r} is not a plain name (it holds a path separator or '..'); refusing to build "
                        "a path from it", file=file, row=row, field=field)
    return value


def safe_ids(file: str | Path | None, row: int | None, **ids: str) -> None:
    """``safe_component`` for several ids of one row at once: ``safe_ids(csv, 3, dicom_id=d, study_id=s)``."""
    for field, value in ids.items():
        safe_component(value, file, row, field)
