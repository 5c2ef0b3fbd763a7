"""Scoring attention maps against ground-truth finding masks: pointing game and IoU.

SynthCXR knows where every finding is: ``annotations.jsonl`` holds, per image (``dicom_id``) and finding, a
run-length-encoded mask (row-major, see ``clinvla_kit.synth.rle``) in the image's stored pixel size. A heatmap is
upsampled (bilinearly) to that size before scoring, which assumes the model's preprocessing was a plain resize
(``data.resize="bilinear"``, the default); with ``resize_crop`` the map and the mask would be misaligned.

- pointing game: is the heatmap's maximum inside the mask? Threshold-free, so it compares maps with different
  value ranges (Grad-CAM, attention probabilities) fairly. The maximum is found on the map's own grid and placed
  at its cell's centre (``peak_cells`` says why: the upsampled maximum of a noise map sits on the border);
- IoU: the map is scaled to [0, 1] by its own min and max and thresholded (``threshold``) into a region, which is
  compared with the mask. Depends on the threshold; report it with the score.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FRONTAL_POSITIONS = frozenset({"PA", "AP", "AP AXIAL", "PA LLD", "AP LLD", "AP RLD", "PA RLD"})
"""ViewPosition values of a frontal image (MIMIC's names); any other position counts as lateral."""


def _check_pair(heatmap: np.ndarray, mask: np.ndarray, resize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(heatmap upsampled to the mask's shape, or as it is with ``resize=False``; boolean mask); clear errors for
    empty/invalid inputs."""
    from clinvla_kit.viz.figures import _resize

    heat = np.asarray(heatmap, dtype=np.float32)
    m = np.asarray(mask).astype(bool)
    if heat.ndim != 2 or m.ndim != 2:
        raise ValueError(f"heatmap and mask must be 2-D, got {heat.shape} and {m.shape}")
    if not np.isfinite(heat).all():
        raise ValueError("heatmap has non-finite values")
    if not m.any():
        raise ValueError("mask is empty: nothing to point at")
    return (_resize(heat, m.shape) if resize else heat), m


def peak_cells(heatmap: np.ndarray, mask_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where a heatmap [h, w] peaks, in the pixel coordinates of a mask of ``mask_shape`` (H, W).

    The maximum is taken on the map's *own* grid (every cell tied with the maximum, within a relative 1e-7), and each
    peak cell is placed at its centre in the mask: row ``floor((i + 0.5) * H / h)``, column likewise.

    Why not the maximum of the map upsampled to the mask: bilinear upsampling with border replication averages
    interior pixels over up to four cells but leaves border pixels (and corners, one cell) unaveraged, so the
    upsampled maximum of a map with independent cell values lands on the image border far more often than its
    share of the image (71% of the time for a 64x64 noise map upsampled to 128x128, where the border holds 3% of
    the pixels). The random-map baseline then under-counts central findings (the heart: 0.02 instead of its area,
    0.07). On its own grid the peak of a noise map is a uniformly drawn cell, so its hit rate is the share of cells
    whose centre lies in the mask: the chance of a random point, whatever the map's resolution.
    Returns:
        (rows, cols) int arrays of the peak cells' centres in mask pixels.
    """
    heat = np.asarray(heatmap, dtype=np.float64)
    h, w = heat.shape
    H, W = int(mask_shape[0]), int(mask_shape[1])
    top = np.argwhere(heat >= heat.max() - 1e-7 * max(1.0, abs(float(heat.max()))))
    rows = np.minimum(((top[:, 0] + 0.5) * H / h).astype(np.int64), H - 1)
    cols = np.minimum(((top[:, 1] + 0.5) * W / w).astype(np.int64), W - 1)
    return rows, cols


def pointing_game(heatmap: np.ndarray, mask: np.ndarray) -> bool:
    """True when the heatmap's maximum lies inside the mask (``peak_cells``: the peak on the map's own grid, placed
    at its cell's centre in the mask, which is the native resolution of a patch map; see there why not the
    maximum of the upsampled map).

    Ties (a flat map, a plateau) count as a hit only when *every* tied maximum is inside the mask, so a constant
    map never scores by luck.
    """
    heat, m = _check_pair(heatmap, mask, resize=False)
    rows, cols = peak_cells(heat, m.shape)
    return bool(m[rows, cols].all())


def pointing_chance(map_shape: tuple[int, int], mask: np.ndarray) -> float:
    """The exact pointing-game rate of a random map of ``map_shape`` (h, w) on ``mask`` [H, W]: the share of the map's
    cells whose centre (``peak_cells``' placement) lies in the mask.

    A map of independent continuous noise peaks at a uniformly drawn cell, so this is the expectation of
    ``pointing_game`` over noise maps, without their sampling error (20 draws per image leave a baseline that moves
    by a factor of two between runs for a mask of a few cells).
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2 or not m.any():
        raise ValueError(f"mask must be 2-D and non-empty, got shape {m.shape}")
    h, w = int(map_shape[0]), int(map_shape[1])
    H, W = m.shape
    rows = np.minimum(((np.arange(h) + 0.5) * H / h).astype(np.int64), H - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * W / w).astype(np.int64), W - 1)
    return float(m[np.ix_(rows, cols)].mean())


def heatmap_iou(heatmap: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of the region ``scaled heatmap >= threshold`` with the mask (heatmap min-max scaled to [0, 1] after
    upsampling to the mask's shape). A constant heatmap covers nothing (IoU 0)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    heat, m = _check_pair(heatmap, mask)
    lo, hi = float(heat.min()), float(heat.max())
    if hi <= lo:
        return 0.0
    region = (heat - lo) / (hi - lo) >= threshold
    union = np.logical_or(region, m).sum()
    return float(np.logical_and(region, m).sum() / union) if union else 0.0


def load_annotations(path: str | Path, findings_only: bool = True) -> list[dict[str, Any]]:
    """Rows of ``annotations.jsonl`` (a data directory or the file).

    ``findings_only`` keeps rows with a mask (drops burned-in markers and unusable-image notes). Ids (``dicom_id``,
    ``study_id``, ``subject_id``; integers in the JSON) become strings, as in ``StudyRecord``. Raises naming the
    file and line for a missing file, bad JSON or a row without ``dicom_id``/``finding``.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "annotations.jsonl"
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no annotations file (SynthCXR writes annotations.jsonl)")
    rows = []
    for i, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{p}, line {i}: not valid JSON ({e})") from e
        for key in ("dicom_id", "finding"):
            if key not in row:
                raise ValueError(f"{p}, line {i}: missing field {key!r}")
        if findings_only and row.get("mask") is None:
            continue
        for key in ("dicom_id", "study_id", "subject_id"):  # ids are strings everywhere else in the kit
            if row.get(key) is not None:
                row[key] = str(row[key])
        row["_line"] = i
        rows.append(row)
    return rows


def view_kind(view_position: str | None) -> str:
    """ViewPosition ("PA", "AP", "LATERAL", "LL", ...) -> "frontal" | "lateral"."""
    return "frontal" if str(view_position or "").upper() in FRONTAL_POSITIONS else "lateral"


def score_grounding(maps: Mapping[str, Any], annotations: Iterable[dict[str, Any]] | str | Path,
                    threshold: float = 0.5, method: str = "") -> pd.DataFrame:  # noqa: F821
    """Score heatmaps against the finding masks of the same images -> one row per (image, finding).

    Args:
        maps: ``dicom_id -> heatmap [h, w]`` (one map scored against every finding of that image), or
            ``dicom_id -> {finding: heatmap}`` (a finding-specific map, e.g. Grad-CAM with the finding's prompt).
            Images without a map are skipped; a map whose image has no annotated finding gives no row.
        annotations: rows of ``load_annotations`` or the path to load them from.
        threshold: IoU threshold on the min-max scaled map.
        method: a label copied into a ``method`` column (to concatenate several methods' tables).
    Returns:
        DataFrame with columns method, dicom_id, study_id, view, view_kind, finding, label, visible, pointing,
        iou, mask_area (share of the image the finding covers: the pointing hit rate of a random point).
    Raises:
        ValueError naming the annotation line when a mask cannot be decoded.
    """
    import pandas as pd

    from clinvla_kit.synth.rle import rle_decode

    rows_in = load_annotations(annotations) if isinstance(annotations, (str, Path)) else list(annotations)
    out = []
    for ann in rows_in:
        if ann.get("mask") is None or ann["dicom_id"] not in maps:
            continue
        entry = maps[ann["dicom_id"]]
        heat = entry.get(ann["finding"]) if isinstance(entry, Mapping) else entry
        if heat is None:
            continue
        try:
            mask = rle_decode(ann["mask"])
        except (KeyError, ValueError, TypeError) as e:
            where = f"line {ann['_line']}" if "_line" in ann else f"dicom_id {ann['dicom_id']}"
            raise ValueError(f"annotations {where} ({ann['finding']}): bad mask ({e})") from e
        if not mask.any():
            continue
        out.append({
            "method": method, "dicom_id": ann["dicom_id"], "study_id": ann.get("study_id"),
            "view": ann.get("view"), "view_kind": view_kind(ann.get("view")), "finding": ann["finding"],
            "label": ann.get("label"), "visible": bool(ann.get("visible", True)),
            "pointing": pointing_game(heat, mask), "iou": heatmap_iou(heat, mask, threshold),
            "mask_area": float(mask.mean()),
        })
    cols = ["method", "dicom_id", "study_id", "view", "view_kind", "finding", "label", "visible", "pointing", "iou",
            "mask_area"]
    return pd.DataFrame(out, columns=cols)


def summarize_grounding(scores: pd.DataFrame, by: tuple[str, ...] = ("method", "finding", "view_kind"),  # noqa: F821
                        visible_only: bool = True) -> pd.DataFrame:  # noqa: F821
    """Per group: n, pointing-game hit rate, mean IoU and the random-point baseline (mean mask area).

    ``visible_only`` drops findings the generator hid in that view (e.g. a retrocardiac opacity on the frontal):
    there is nothing there for a map to find.
    """
    df = scores[scores["visible"]] if visible_only else scores
    keys = [k for k in by if k in df.columns and (k != "method" or df["method"].astype(bool).any())]
    if df.empty:
        return df.groupby(keys).size().reset_index(name="n") if keys else df
    g = df.groupby(keys, dropna=False) if keys else df.assign(_all="all").groupby("_all")
    return g.agg(n=("pointing", "size"), pointing=("pointing", "mean"), iou=("iou", "mean"),
                 random_point=("mask_area", "mean")).reset_index()


MAP_METHODS: tuple[str, ...] = ("gradcam", "word_patch", "occlusion")
"""Map methods: Grad-CAM (``viz.attention``), the local loss's word attention (``viz.word_patch``), occlusion
(``viz.occlusion``, the window fill of ``OCCLUSION_WINDOW`` patches)."""
OCCLUSION_WINDOW = 1


def study_maps(model: Any, batch: Any, records: Sequence[Any], method: str = "gradcam",
               slots: Sequence[str] = ("frontal", "lateral")) -> dict[str, np.ndarray]:
    """Heatmaps of every study of ``batch`` (built from ``records``, same order) keyed by image ``dicom_id``.

    - "gradcam": Grad-CAM of each view against the study's own report (``gradcam_similarity``);
    - "word_patch": the local loss's attention of the report's words on that view, averaged over words
      (``word_patch_attention``): where the report as a whole looked;
    - "occlusion": how much the view's similarity to its own report drops when each patch is hidden
      (``viz.occlusion.occlusion_map``).
    Only slots that are present, listed in ``slots`` and have a dicom id get a map.
    """
    import warnings

    from clinvla_kit.config import SLOTS
    from clinvla_kit.viz.attention import encode_prompt, gradcam_similarity
    from clinvla_kit.viz.occlusion import occlusion_map
    from clinvla_kit.viz.word_patch import word_patch_attention

    if method not in MAP_METHODS:
        raise ValueError(f"unknown map method {method!r}; choose one of {MAP_METHODS}")
    if len(records) != len(batch):
        raise ValueError(f"{len(records)} records for a batch of {len(batch)} studies")
    maps: dict[str, np.ndarray] = {}
    for i, rec in enumerate(records):
        if batch.study_ids and str(batch.study_ids[i]) != str(rec.study_id):
            raise ValueError(f"batch row {i} is study {batch.study_ids[i]}, record says {rec.study_id}")
        wanted = [s for s in slots if bool(batch.present[i, SLOTS.index(s)]) and rec.dicom_ids.get(s)]
        if method == "word_patch":
            res = word_patch_attention(model, batch, index=i)
            for s in wanted:
                if s in res["maps"]:
                    maps[rec.dicom_ids[s]] = res["maps"][s].mean(axis=0)
            continue
        if method == "occlusion":
            report = encode_prompt(model, batch.texts[i])
            for s in wanted:
                maps[rec.dicom_ids[s]] = occlusion_map(model, batch.images[i, SLOTS.index(s)], report, s,
                                                       OCCLUSION_WINDOW)
            continue
        for s in wanted:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an all-zero map is scored as it is (a miss)
                maps[rec.dicom_ids[s]] = gradcam_similarity(model, batch, None, batch.texts[i], slot=s, index=i)
    return maps


def annotations_by_image(annotations: Iterable[dict[str, Any]], visible_only: bool = True,
                         findings: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """``dicom_id -> its annotation rows`` that a map can be scored on: those with a mask, visible ones only with
    ``visible_only`` (nothing to point at otherwise), of ``findings`` when given (None = all)."""
    by_image: dict[str, list[dict[str, Any]]] = {}
    for ann in annotations:
        if ann.get("mask") is not None and (ann.get("visible", True) or not visible_only) and (
                findings is None or ann["finding"] in findings):
            by_image.setdefault(str(ann["dicom_id"]), []).append(ann)
    return by_image


def finding_maps(model: Any, batch: Any, records: Sequence[Any],
                 annotations: Iterable[dict[str, Any]] | str | Path, method: str = "gradcam",
                 slots: Sequence[str] = ("frontal", "lateral"), visible_only: bool = True,
                 findings: Sequence[str] | None = None,
                 ) -> tuple[dict[str, dict[str, np.ndarray]], pd.DataFrame]:  # noqa: F821
    """One map per (image, finding), asked about that finding (``viz.finding_queries`` says why per method).

    - "gradcam": Grad-CAM of the view against the finding's prompt (``finding_prompt``: "left pleural effusion"),
      every (image, prompt) pair of a slot in batched passes (``gradcam_batch``);
    - "occlusion": the drop of the view's similarity to the finding's prompt when each patch is hidden
      (``viz.occlusion.occlusion_map``; one set of occluded encodings per image serves all its findings);
    - "word_patch": the local loss's attention of the report with its own study, averaged over the content words
      of the report's positive sentence(s) about the finding (``finding_word_rows``); a finding the report does
      not name positively gets no map (counted in ``queries`` with an empty query).
    Args:
        batch: built from ``records`` (same order), e.g. ``collate`` of a ``StudyDataset`` of them.
        annotations: rows of ``load_annotations`` (or its path); only rows with a mask on an image of ``records``
            in ``slots`` are used, and only visible ones with ``visible_only`` (nothing to point at otherwise).
        findings: only these annotation findings ("pleural_effusion"); None = all (occlusion's cost is per image,
            so leaving out findings saves time only where it leaves out images).
    Returns:
        (maps: ``dicom_id -> {finding: heatmap}`` as ``score_grounding`` takes it (Grad-CAM [H, W] at the image
        size, word and occlusion maps [rows, cols] on the patch grid), queries: DataFrame dicom_id, study_id, view_kind,
        finding, query: the text each map answers).
    """
    import pandas as pd
    import torch

    from clinvla_kit.config import SLOTS
    from clinvla_kit.viz.attention import encode_prompt, gradcam_batch
    from clinvla_kit.viz.finding_queries import finding_prompt, finding_word_rows
    from clinvla_kit.viz.occlusion import occlusion_map
    from clinvla_kit.viz.word_patch import word_patch_attention

    if method not in MAP_METHODS:
        raise ValueError(f"unknown map method {method!r}; choose one of {MAP_METHODS}")
    if len(records) != len(batch):
        raise ValueError(f"{len(records)} records for a batch of {len(batch)} studies")
    rows_in = load_annotations(annotations) if isinstance(annotations, (str, Path)) else list(annotations)
    by_image = annotations_by_image(rows_in, visible_only, findings)
    prompts: dict[str, Any] = {}
    maps: dict[str, dict[str, np.ndarray]] = {}
    queries = []
    cam_jobs: dict[str, list[tuple[int, str, str, str]]] = {s: [] for s in slots}  # slot -> (study, dicom, finding, prompt)
    for i, rec in enumerate(records):
        if batch.study_ids and str(batch.study_ids[i]) != str(rec.study_id):
            raise ValueError(f"batch row {i} is study {batch.study_ids[i]}, record says {rec.study_id}")
        wanted = [s for s in slots if bool(batch.present[i, SLOTS.index(s)]) and rec.dicom_ids.get(s)
                  and str(rec.dicom_ids[s]) in by_image]
        if not wanted:
            continue
        words = word_patch_attention(model, batch, index=i) if method == "word_patch" else None
        for s in wanted:
            dicom = str(rec.dicom_ids[s])
            for ann in by_image[dicom]:
                finding = str(ann["finding"])
                if method in ("gradcam", "occlusion"):
                    query = finding_prompt(ann)
                    if query not in prompts:
                        prompts[query] = encode_prompt(model, query)
                    cam_jobs[s].append((i, dicom, finding, query))
                else:
                    sel = finding_word_rows(words["words"], finding) if s in words["maps"] else []
                    query = " ".join(words["words"][j] for j in sel)
                    if sel:
                        maps.setdefault(dicom, {})[finding] = words["maps"][s][sel].mean(axis=0)
                queries.append({"dicom_id": dicom, "study_id": str(rec.study_id),
                                "view_kind": view_kind(ann.get("view")), "finding": finding, "query": query})
    for s, jobs in cam_jobs.items():
        if method == "occlusion":  # each image once, against all its findings' prompts
            per_image: dict[int, list[tuple[int, str, str, str]]] = {}
            for j in jobs:
                per_image.setdefault(j[0], []).append(j)
            for i, mine in per_image.items():
                heats = occlusion_map(model, batch.images[i, SLOTS.index(s)],
                                      torch.stack([prompts[j[3]] for j in mine]), s, OCCLUSION_WINDOW)
                for (_, dicom, finding, _), heat in zip(mine, heats):
                    maps.setdefault(dicom, {})[finding] = heat
            continue
        if not jobs:  # all (image, prompt) pairs of a slot in batched Grad-CAM passes
            continue
        images = batch.images[[j[0] for j in jobs], SLOTS.index(s)]
        texts = torch.stack([prompts[j[3]] for j in jobs])
        for (_, dicom, finding, _), heat in zip(jobs, gradcam_batch(model, images, texts, slot=s)):
            maps.setdefault(dicom, {})[finding] = heat
    return maps, pd.DataFrame(queries, columns=["dicom_id", "study_id", "view_kind", "finding", "query"])


def collect_run_dirs(spec: Any) -> dict[str, Path]:
    """Run directories to compare, by name: a list of run dirs, a ``{name: dir}`` mapping, or one root folder
    searched for ``config.json`` + ``model.safetensors`` (``clinvla-kit ablate`` writes ``ROOT/<variant>/seed<k>``).
    Paths that do not exist or hold no run are left out with a printed note (a notebook then skips cleanly)."""
    if not spec:
        return {}
    if isinstance(spec, (str, Path)):
        root = Path(spec)
        if not root.is_dir():
            print(f"note: {root} does not exist; no runs to compare")
            return {}
        found = sorted(p.parent for p in root.rglob("config.json") if (p.parent / "model.safetensors").is_file())
        return {str(p.relative_to(root)) or p.name: p for p in found}
    items = spec.items() if isinstance(spec, Mapping) else ((Path(p).name, p) for p in spec)
    out: dict[str, Path] = {}
    for name, p in items:
        p = Path(p)
        if (p / "config.json").is_file() and (p / "model.safetensors").is_file():
            out[str(name) if str(name) not in out else str(p)] = p
        else:
            print(f"note: {p} holds no run (config.json + model.safetensors); skipped")
    return out


def grounding_for_runs(run_dirs: Mapping[str, str | Path], records: Sequence[Any],
                       annotations: Iterable[dict[str, Any]] | str | Path, method: str = "word_patch",
                       threshold: float = 0.5, device: str = "cpu") -> pd.DataFrame:  # noqa: F821
    """``score_grounding`` of the same studies under several runs (e.g. ablation variants), ``method`` column =
    run name. Each run is loaded with ``ClinVLA.from_pretrained`` and its own preprocessing (``cfg.data``)."""
    import pandas as pd

    from clinvla_kit.data.dataset import StudyDataset, collate
    from clinvla_kit.model.clinvla import ClinVLA

    ann = load_annotations(annotations) if isinstance(annotations, (str, Path)) else list(annotations)
    tables = []
    for name, run in run_dirs.items():
        model = ClinVLA.from_pretrained(run, map_location=device).eval()
        ds = StudyDataset(list(records), model.cfg.data, model.tokenizer, train=False)
        batch = collate([ds[i] for i in range(len(ds))])
        maps = study_maps(model, batch, records, method=method)
        tables.append(score_grounding(maps, ann, threshold=threshold, method=str(name)))
    return pd.concat(tables, ignore_index=True) if tables else score_grounding({}, ann)
