"""How the prompt's wording and the occlusion mode change where occlusion maps point, on a SynthCXR archive.

    python bench/bench_grounding_prompts.py --data runs/data/synthcxr [--run synthcxr-clinvla-tiny] [--per-finding 20]

For every (finding, view) of the test split, ``per_finding`` studies where the finding is visible on that view
(``select_grounding_studies(per_view=True)``, as notebook 05), occlusion maps in "fill" and "drop" mode against three
wordings of the finding's question, each scored by the pointing game against the finding's mask:

- "side only": the noun and its side ("right consolidation"), the kit's prompt before session 10;
- "report phrase": ``finding_prompt``, the finding as SynthCXR's reports state it, grade and place (lobe) included;
- "whole report": the study's own cleaned report.

Prints a table of pointing rates, with the random-map rate of the same rows (``pointing_chance``: the exact rate of
a noise map on the same grid). No intervals: a comparison of wordings on the same rows, for notebook 05's choice of prompt.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--run", default="synthcxr-clinvla-tiny")
    parser.add_argument("--per-finding", type=int, default=20)
    parser.add_argument("--out", default=None, help="also write the per-row hits to this CSV")
    parser.add_argument("--findings", nargs="*", default=["pleural_effusion", "cardiomegaly", "consolidation",
                                                          "pneumonia", "edema", "pneumothorax"])
    args = parser.parse_args()

    import pandas as pd
    import torch

    from clinvla_kit.config import SLOTS
    from clinvla_kit.data.dataset import StudyDataset, collate
    from clinvla_kit.data.sources.mimic import load_mimic
    from clinvla_kit.model.clinvla import ClinVLA
    from clinvla_kit.synth.rle import rle_decode
    from clinvla_kit.viz.attention import encode_prompt
    from clinvla_kit.viz.finding_queries import finding_prompt
    from clinvla_kit.viz.grounding import (
        annotations_by_image,
        load_annotations,
        pointing_chance,
        pointing_game,
        view_kind,
    )
    from clinvla_kit.viz.grounding_stats import select_grounding_studies
    from clinvla_kit.viz.occlusion import occlusion_map

    t0 = time.time()
    model = ClinVLA.from_pretrained(args.run, map_location="cpu").eval()
    ann = load_annotations(args.data)
    studies = select_grounding_studies(load_mimic(args.data, splits=["test"]), ann, args.per_finding, args.findings,
                                       per_view=True)
    ds = StudyDataset(studies, model.cfg.data, model.tokenizer, train=False)
    batch = collate([ds[i] for i in range(len(ds))])
    rows_by_image = annotations_by_image(ann, findings=args.findings)
    rows = []
    for i, rec in enumerate(studies):
        for slot in ("frontal", "lateral"):
            s = SLOTS.index(slot)
            dicom = str(rec.dicom_ids.get(slot) or "")
            if not dicom or not bool(batch.present[i, s]):
                continue
            for a in rows_by_image.get(dicom, []):
                mask = rle_decode(a["mask"])
                wordings = {"side only": finding_prompt({"finding": a["finding"], "side": a.get("side")}),
                            "report phrase": finding_prompt(a), "whole report": batch.texts[i]}
                texts = torch.stack([encode_prompt(model, t) for t in wordings.values()])
                for mode in ("fill", "drop"):
                    heats = occlusion_map(model, batch.images[i, s], texts, slot, mode=mode)
                    for name, heat in zip(wordings, heats):
                        rows.append({"finding": a["finding"], "view": view_kind(a.get("view")), "mode": mode,
                                     "wording": name, "hit": pointing_game(heat, mask)})
                rows.append({"finding": a["finding"], "view": view_kind(a.get("view")), "mode": "random",
                             "wording": "map", "hit": pointing_chance(heats[0].shape, mask)})
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    table = df.pivot_table(index=["finding", "view"], columns=["mode", "wording"], values="hit", aggfunc="mean")
    table.columns = [f"{mode} · {wording}" for mode, wording in table.columns]
    table["images"] = df[df["mode"] == "random"].groupby(["finding", "view"]).size()
    print(f"{len(studies)} studies, {time.time() - t0:.0f} s")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
