"""Does a trained run embed studies consistently with all views, the two current views, or the frontal alone?

Instance retrieval among the first N validation studies (image -> its own report; chance R@10 = 10/N, mean rank
about N/2) with the study's views restricted three ways, plus the mean pairwise cosine of the image embeddings (near
1 = collapsed). Twenty seconds on a CPU; the check that found the frontal-only collapse (bench/RESULTS.md).

    python bench/check_views.py --run RUN --data DATA [--n 300]
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()

    from clinvla_kit.data.dataset import collate
    from clinvla_kit.model.clinvla import ClinVLA
    from clinvla_kit.train.align import build_datasets

    model = ClinVLA.from_pretrained(a.run).eval()
    sets = build_datasets(model.cfg, a.data, model)
    ds = sets.get("validate", sets["train"])
    batch = collate([ds[i] for i in range(min(a.n, len(ds)))])
    slots = {"all": [1, 1, 1, 1], "current": [1, 1, 0, 0], "frontal": [1, 0, 0, 0]}
    print(f"{len(batch)} studies; share with each slot present: {batch.present.float().mean(0).tolist()}")
    print("| views | R@10 | mean rank | image cosine |")
    print("|---|---|---|---|")
    with torch.no_grad():
        txt = model.encode_text(batch.input_ids, batch.attention_mask)
        for name, keep in slots.items():
            img = model.encode_image(batch.images, batch.present & torch.tensor(keep, dtype=torch.bool))
            sim = img @ txt.T
            rank = (sim > sim.diag()[:, None]).sum(1).float()
            print(f"| {name} | {(rank < 10).float().mean():.3f} | {rank.mean():.1f} | {(img @ img.T).mean():.3f} |")


if __name__ == "__main__":
    main()
