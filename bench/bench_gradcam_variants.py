"""Why Grad-CAM and word-to-patch maps do not point: every CAM variant and target layer, and where the maps peak.

    python bench/bench_gradcam_variants.py --data runs/data/synthcxr [--run synthcxr-clinvla-tiny] [--per-finding 20]

Notebook 05's studies (``select_grounding_studies(per_view=True)``, ``per_finding`` images per (finding, view) of the
test split). For every image and its finding's prompt (``finding_prompt``), pytorch-grad-cam's GradCAM on the input
LayerNorm (``norm1``) of each ViT block, and LayerCAM, GradCAM++, XGradCAM and HiResCAM on the last blocks; each map
scored by the pointing game against the finding's mask, beside the exact random-map rate (``pointing_chance``).

Then where the maps peak: the patch cell that holds the most Grad-CAM peaks (the kit's layer, ``blocks[-1].norm1``)
and word-to-patch peaks (the report's words about the finding, ``finding_word_rows``), as a share of the images,
beside the share of the most common mask centre. A share far above the masks' says the map peaks at a fixed place
whatever the image shows (an attention sink), not at the lesion. No intervals: a diagnosis, not a claim.
"""

from __future__ import annotations

import argparse
import collections
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--run", default="synthcxr-clinvla-tiny")
    parser.add_argument("--per-finding", type=int, default=20)
    parser.add_argument("--findings", nargs="*", default=["pleural_effusion", "cardiomegaly", "consolidation",
                                                          "pneumonia"])
    args = parser.parse_args()

    import pandas as pd
    import pytorch_grad_cam as pgc

    from clinvla_kit.config import SLOTS
    from clinvla_kit.data.dataset import StudyDataset, collate
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.model.clinvla import ClinVLA
    from clinvla_kit.synth.rle import rle_decode
    from clinvla_kit.viz.attention import encode_texts, gradcam_batch
    from clinvla_kit.viz.finding_queries import finding_prompt, finding_word_rows
    from clinvla_kit.viz.grounding import (
        annotations_by_image,
        load_annotations,
        pointing_chance,
        pointing_game,
    )
    from clinvla_kit.viz.grounding_stats import select_grounding_studies
    from clinvla_kit.viz.word_patch import word_patch_attention

    t0 = time.time()
    model = ClinVLA.from_pretrained(args.run, map_location="cpu").eval()
    ann = load_annotations(args.data)
    studies = select_grounding_studies(load_mimic(args.data, splits=["test"]), ann, args.per_finding, args.findings,
                                       per_view=True)
    ds = StudyDataset(studies, model.cfg.data, model.tokenizer, train=False)
    batch = collate([ds[i] for i in range(len(ds))])
    by_image = annotations_by_image(ann, findings=args.findings)
    vit = model.vision.vit
    grid = tuple(int(g) for g in vit.patch_embed.grid_size)
    last = len(vit.blocks) - 1
    variants = [(f"GradCAM blocks[{k}].norm1", pgc.GradCAM, k) for k in range(last + 1)]
    variants += [(f"{cls.__name__} blocks[{k}].norm1", cls, k) for cls in
                 (pgc.LayerCAM, pgc.GradCAMPlusPlus, pgc.XGradCAM, pgc.HiResCAM) for k in (last - 1, last)]
    rows, peaks = [], []
    for slot in ("frontal", "lateral"):
        s = SLOTS.index(slot)
        jobs = [(i, a) for i, rec in enumerate(studies) if rec.dicom_ids.get(slot) and bool(batch.present[i, s])
                for a in by_image.get(str(rec.dicom_ids[slot]), [])]
        if not jobs:
            continue
        images = batch.images[[i for i, _ in jobs], s].float()
        texts = encode_texts(model, [finding_prompt(a) for _, a in jobs])
        masks = [rle_decode(a["mask"]) for _, a in jobs]
        for name, cls, k in variants:
            heats = gradcam_batch(model, images, texts, slot=slot, block=k, cam_class=cls)
            rows += [{"map": name, "finding": a["finding"], "view": slot, "hit": pointing_game(h, m)}
                     for (_, a), h, m in zip(jobs, heats, masks)]
            if k == last and cls is pgc.GradCAM:
                peaks += [{"map": "Grad-CAM (kit)", "view": slot, "cell": _peak(h, grid)} for h in heats]
        rows += [{"map": "random", "finding": a["finding"], "view": slot, "hit": pointing_chance(grid, m)}
                 for (_, a), m in zip(jobs, masks)]
        for i, a in jobs:
            words = word_patch_attention(model, batch, index=i)
            sel = finding_word_rows(words["words"], a["finding"])
            if sel and slot in words["maps"]:
                peaks.append({"map": "word-to-patch", "view": slot,
                              "cell": _peak(words["maps"][slot][sel].mean(axis=0), grid)})
        peaks += [{"map": "mask centre", "view": slot, "cell": _mask_centre(m, grid)} for m in masks]
    table = pd.DataFrame(rows).pivot_table(index="map", columns=["finding", "view"], values="hit", aggfunc="mean")
    order = ["random"] + [n for n, _, _ in variants]
    pd.set_option("display.width", 250)
    print(f"{len(studies)} studies, {time.time() - t0:.0f} s. Pointing rate per (finding, view):")
    print(table.loc[order].round(2).to_string())
    print("\nThe patch cell that holds the most peaks (share of the images):")
    for (name, slot), grp in pd.DataFrame(peaks).groupby(["map", "view"], sort=False):
        cell, n = collections.Counter(grp["cell"]).most_common(1)[0]
        print(f"  {name:15s} {slot:8s} cell {cell}: {n}/{len(grp)} = {n / len(grp):.0%}")


def _peak(heat, grid) -> tuple[int, int]:
    """The first peak of a map, as a (row, col) patch cell."""
    from clinvla_kit.viz.grounding import peak_cells

    rows, cols = peak_cells(heat, heat.shape)
    r, c = int(rows[0]), int(cols[0])
    return r * grid[0] // heat.shape[0], c * grid[1] // heat.shape[1]


def _mask_centre(mask, grid) -> tuple[int, int]:
    """The patch cell holding the mask's centre of mass."""
    import numpy as np

    ys, xs = np.nonzero(mask)
    return int(ys.mean() * grid[0] // mask.shape[0]), int(xs.mean() * grid[1] // mask.shape[1])


if __name__ == "__main__":
    main()
