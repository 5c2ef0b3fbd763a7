"""Manifests and validators for the real evaluation sets (``clinvla-kit validate --kind chexpert-5x200 ...``).

Why: peers' users most often cannot rebuild an evaluation set exactly (a missing CSV, a re-sorted copy, an
unstated split), and then their P@k is not comparable. Each validator here loads the set with its loader, checks
counts and structure against the published protocol, writes ``manifest.json`` (one entry per kind) with the sha256
of every id list, and compares those hashes with ``known_hashes.json`` (the hashes the data cards state).

A *list hash* is the sha256 of the canonical ids joined by newlines: ids that do not depend on where the data
sits (``patient64541/study1/view1_frontal.jpg``, a patientId, an Image Index), in file order where order matters
(5x200, 8x200: ties are broken by index) and sorted where it does not (split membership).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from clinvla_kit.data.errors import DataError
from clinvla_kit.data.validation import ValidationReport

KNOWN_HASHES_PATH = Path(__file__).with_name("known_hashes.json")
PUBLISHED_COUNTS: dict[str, dict[str, int]] = {
    "chexpert-5x200": {"rows": 1000, "per_class": 200},
    "chexpert-8x200": {"candidates": 1600, "per_class": 200},
}


def list_hash(items: Iterable[str]) -> str:
    """sha256 hex digest of the items joined by "\\n" (UTF-8): the identity of an id list."""
    return hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (for the CSVs and list files themselves)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical_image_id(path: Path | str, parts: int = 3) -> str:
    """The last ``parts`` path components with "/" (``patient1/study1/view1_frontal.jpg``): root-independent."""
    return "/".join(Path(path).parts[-parts:])


def load_known_hashes(path: Path = KNOWN_HASHES_PATH) -> dict:
    """The hashes stated in the data cards (``null`` where the published value is not known to the kit)."""
    return json.loads(Path(path).read_text())


def compare_hashes(kind: str, lists: dict[str, dict], known: dict, report: ValidationReport) -> None:
    """Compare a manifest's lists with the known ones; mismatches are errors when the counts say the user's copy
    claims to be the published set, warnings otherwise (a scaled or custom set is allowed but not comparable).
    """
    for name, ref in known.get(kind, {}).items():
        if name.startswith("_") or name not in lists:
            continue
        mine, want = lists[name], ref.get("sha256")
        if want is None:
            report.warning(f"no published sha256 known for {kind}/{name} ({ref.get('note', 'see the data card')}); "
                           f"yours is {mine['sha256'][:16]}...", field=name)
        elif mine["sha256"] != want:
            same_size = ref.get("count") is not None and ref["count"] == mine["count"]
            msg = (f"{kind}/{name}: sha256 {mine['sha256'][:16]}... differs from the published {want[:16]}... "
                   f"({mine['count']} items, published {ref.get('count')}); results will not be comparable")
            (report.error if same_size else report.warning)(msg, field=name)
        else:
            report.stats[f"{name}_matches_published"] = 1


def write_manifest(root: Path, kind: str, lists: dict[str, list[str]], files: list[Path], counts: dict[str, int],
                   known: dict | None, report: ValidationReport, out: Path | None = None) -> dict:
    """Hash every list and file, compare with ``known``, merge the entry into ``root/manifest.json``."""
    entry = {
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "counts": counts,
        "lists": {k: {"count": len(v), "sha256": list_hash(v)} for k, v in lists.items()},
        "files": {str(f.relative_to(root) if f.is_relative_to(root) else f): file_hash(f) for f in files},
    }
    compare_hashes(kind, entry["lists"], load_known_hashes() if known is None else known, report)
    out = out or root / "manifest.json"
    try:
        data = json.loads(out.read_text()) if out.is_file() else {}
        data[kind] = entry
        out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        report.stats["manifest_written"] = 1
    except (OSError, json.JSONDecodeError) as e:
        report.warning(f"could not write the manifest: {e}", file=out)
    return entry


def find_first(root: Path, candidates: Iterable[str], what: str) -> Path:
    """The first existing ``root/candidate`` (the real layout first, then SynthCXR's ``benchmarks/`` one)."""
    tried = []
    for c in candidates:
        p = root / c
        if p.exists():
            return p
        tried.append(c)
    raise DataError(f"no {what} found (looked for {tried})", file=root)


def guess_image_root(csv_path: Path, first: str, root: Path) -> Path:
    """The folder a CSV's relative image paths start from: the first of (CSV folder, its parent, root, root's
    parent) under which the first path exists (with or without its leading folder); else the CSV folder.
    """
    for base in (csv_path.parent, csv_path.parent.parent, root, root.parent):
        rel = Path(first)
        if (base / rel).is_file() or (len(rel.parts) > 1 and (base / Path(*rel.parts[1:])).is_file()):
            return base
    return csv_path.parent


def first_cell(csv_path: Path, column: str) -> str:
    """The first data value of a column ("" when unreadable; the loader then reports the real problem)."""
    import pandas as pd

    try:
        return str(pd.read_csv(csv_path, dtype=str, nrows=1, keep_default_na=False)[column].iloc[0])
    except Exception:  # noqa: BLE001 - only a guess; the loader names the actual error
        return ""


def probe_images(report: ValidationReport, paths: Iterable[Path], deep: bool) -> None:
    """Header check (or full decode with ``deep``) of every image, each failure an error naming the file."""
    from clinvla_kit.data.images import probe_image, read_image

    for p in paths:
        try:
            read_image(p) if deep else probe_image(p)
        except DataError as e:
            report.add(e)


def run_validator(kind: str, root: str | Path, body: Callable[[Path, ValidationReport], None]) -> ValidationReport:
    """Common frame: a report for ``kind``; a DataError from a loader becomes an error entry, never a crash."""
    root = Path(root)
    report = ValidationReport(root=root, kind=kind)
    if not root.is_dir():
        report.error("data directory does not exist", file=root)
        return report
    try:
        body(root, report)
    except DataError as e:
        report.add(e)
    return report
