"""The real published metadata files that the ``torchxrayvision`` wheel ships, unpacked under their release names.

Why: the loaders read each data set's own published layout, and hand-written fixtures only prove that they read
what we *think* the layout is. ``torchxrayvision`` (PyPI, a dev extra of this kit) ships the real label and report
files, without images, under ``torchxrayvision/data/``. They are read from the installed package at run time and
never copied into this repository (some carry non-derivative licences, e.g. Open-I's CC BY-NC-ND).

=================================================== ======================================================
file in ``torchxrayvision/data/``                   unpacked as (what the loader reads)
=================================================== ======================================================
``chexpert_train.csv.gz``                           ``CheXpert-v1.0-small/train.csv``
``Data_Entry_2017_v2020.csv.gz``                    ``Data_Entry_2017_v2020.csv`` (NIH, 2020 re-release)
``kaggle_stage_2_train_labels.csv.zip``             ``stage_2_train_labels.csv`` (RSNA)
``NLMCXR_reports.tgz``                              ``ecgen-radiology/<n>.xml`` (Open-I NLM reports)
=================================================== ======================================================

The package is located with ``importlib.util.find_spec`` and never imported: only its data folder is needed, and
importing it would pull in scikit-image for nothing.
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "torchxrayvision"

FILES: dict[str, tuple[str, str]] = {
    "chexpert": ("chexpert_train.csv.gz", "CheXpert-v1.0-small/train.csv"),
    "nih": ("Data_Entry_2017_v2020.csv.gz", "Data_Entry_2017_v2020.csv"),
    "rsna": ("kaggle_stage_2_train_labels.csv.zip", "stage_2_train_labels.csv"),
    "openi": ("NLMCXR_reports.tgz", "ecgen-radiology"),
}
"""kind -> (file shipped in the package, path it is unpacked to under the destination folder)."""


class PublishedFilesMissing(RuntimeError):
    """``torchxrayvision`` (and so the real metadata files) is not installed."""


def data_dir() -> Path:
    """``.../site-packages/torchxrayvision/data``.

    Raises:
        PublishedFilesMissing: the package is not installed (``make install-dev`` installs it).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise PublishedFilesMissing(
            f"the real published metadata files come from the '{PACKAGE}' package, which is not installed: run "
            f"`make install-dev` (or `pip install {PACKAGE}`)")
    d = Path(spec.origin).parent / "data"
    if not d.is_dir():
        raise PublishedFilesMissing(f"{PACKAGE} is installed but has no data folder at {d}")
    return d


def unpack(kind: str, dest: str | Path) -> Path:
    """Unpack the published file of ``kind`` (``FILES``) under ``dest``; returns the unpacked path.

    Re-uses an existing unpacked copy. Raises ``PublishedFilesMissing`` when the package or the file is missing.
    """
    if kind not in FILES:
        raise ValueError(f"unknown kind {kind!r}; choose one of {list(FILES)}")
    shipped, target = FILES[kind]
    src = data_dir() / shipped
    if not src.is_file():
        raise PublishedFilesMissing(f"{PACKAGE} has no {shipped} (looked at {src})")
    out = Path(dest) / target
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if shipped.endswith(".tgz"):
        with tarfile.open(src) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(f"{target}/")
                       and ".." not in Path(m.name).parts]
            try:  # the "data" filter refuses links and absolute paths; Pythons before 3.10.12 lack it
                tar.extractall(Path(dest), members=members, filter="data")
            except TypeError:
                tar.extractall(Path(dest), members=members)
    elif shipped.endswith(".zip"):
        with zipfile.ZipFile(src) as z, z.open(Path(target).name) as f, out.open("wb") as g:
            shutil.copyfileobj(f, g)
    else:
        with gzip.open(src, "rb") as f, out.open("wb") as g:
            shutil.copyfileobj(f, g)
    return out
