"""Tables and example picks of notebooks 04 and 08, against plain references (loops) and a fake embedder."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from clinvla_kit.eval.tables import (
    _top,
    ablation_frame,
    complexity_frame,
    image_to_text_examples,
    pneumonia_protocols,
    retrieval_frame,
    text_to_image_examples,
)


class LabelEmbedder:
    """Fake Embedder: a text or image embeds to a fixed random unit vector keyed by its content, so retrieval is
    arbitrary but reproducible; enough to exercise the loaders and the ranking."""

    dim = 8

    def _vec(self, key: str) -> np.ndarray:
        v = np.random.default_rng(zlib.crc32(key.encode())).standard_normal(self.dim)
        return v / np.linalg.norm(v)

    def images(self, items, views="all"):
        return np.stack([self._vec(str(p)) for p in items])

    def texts(self, texts, clean=True):
        return np.stack([self._vec(str(t)) for t in texts])


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from clinvla_kit.synth.generate import generate

    out = tmp_path_factory.mktemp("tables_synth")
    generate(out, studies=60, seed=0, image_size=32, workers=1)
    return out


def test_top_ties_by_ascending_index():
    sim = np.array([0.5, 0.9, 0.5, 0.9, 0.1])
    # reference: sort by (-score, index) with a loop
    ref = sorted(range(len(sim)), key=lambda j: (-sim[j], j))[:3]
    assert _top(sim, 3).tolist() == ref == [1, 3, 0]


def test_retrieval_frame_rows_and_intervals():
    m = {"retrieval": {"img2img_8x200": {"P@5": 0.5, "P@5_ci95": [0.4, 0.6], "P@10": 0.45},
                       "img2txt_5x200": {"P@5": 0.3, "P@5_ci95": [None, None]}}}
    df = retrieval_frame(m)
    assert list(df["metric"]) == ["P@5", "P@10", "P@5"]
    assert df.iloc[0][["value", "ci_lo", "ci_hi"]].tolist() == [0.5, 0.4, 0.6]
    assert math.isnan(df.iloc[1]["ci_lo"]) and math.isnan(df.iloc[2]["ci_hi"])
    assert retrieval_frame({}).empty
    # chance from the argument (or metrics["chance"]); the verdict compares the interval with it
    ch = {"retrieval.img2img_8x200.P@5": 0.125, "retrieval.img2txt_5x200.P@5": 0.2}
    df = retrieval_frame(m, chance=ch)
    assert df["chance"].iloc[0] == 0.125 and df["vs_chance"].iloc[0] == "above chance"
    assert math.isnan(df["chance"].iloc[1]) and df["vs_chance"].iloc[1] == "n/a"
    assert df["vs_chance"].iloc[2] == "n/a"  # no interval
    assert retrieval_frame({**m, "chance": ch})["chance"].iloc[0] == 0.125


def test_ablation_frame_deltas_against_plain_computation():
    full = {"m": {"mean": 0.5, "std": 0.01, "n": 2, "values": [0.49, 0.51]}}
    lower = {"m": {"mean": 0.3, "std": 0.02, "n": 2, "values": [0.28, 0.32]}}
    close = {"m": {"mean": 0.49, "std": 0.05, "n": 2, "values": [0.45, 0.53]}}
    df = ablation_frame({"full": full, "no-local": lower, "other": close}).set_index("variant")
    assert math.isnan(df.loc["full", "delta"]) and not df.loc["full", "meaningful"]
    assert df.loc["no-local", "delta"] == pytest.approx(0.3 - 0.5)
    assert df.loc["no-local", "meaningful"] == (abs(0.3 - 0.5) > 0.02 + 0.01)
    assert df.loc["other", "meaningful"] == (abs(0.49 - 0.5) > 0.05 + 0.01)
    assert df.loc["no-local", "label"] == "-Local loss" and df.loc["other", "label"] == "other"


def test_complexity_frame():
    from clinvla_kit.eval.complexity import ComplexityRow

    row = ComplexityRow(name="x", total_params=10, trainable_params=1, trainable_share=0.1, gflops_per_study=1.0,
                        latency_ms_b1=2.0, latency_ms_batched=1.0, batch_size=4, peak_mem_mb=5.0,
                        memory_kind="rss", device="cpu")
    df = complexity_frame([row])
    assert df.loc[0, "trainable_share"] == 0.1 and df.loc[0, "name"] == "x"
    with pytest.raises(ValueError, match="no rows"):
        complexity_frame([])


def test_text_to_image_examples_rank_like_a_loop(synth):
    from clinvla_kit.data.sources.benchmarks import load_chexpert_8x200

    emb = LabelEmbedder()
    ex = text_to_image_examples(emb, synth, n_queries=2, k=3)
    _, cands, _ = load_chexpert_8x200(synth / "benchmarks" / "chexpert_8x200", image_root=synth)
    assert len(ex) == 2 and ex[0]["label"] != ex[1]["label"]
    for q in ex:
        qv = emb.texts([q["query"]])[0]
        scores = [(float(qv @ emb.images([p])[0]), j) for j, p in enumerate(cands["path"])]
        ref = sorted(scores, key=lambda s: (-s[0], s[1]))[:3]
        assert [h["score"] for h in q["hits"]] == pytest.approx([s for s, _ in ref])
        assert [h["path"] for h in q["hits"]] == [str(cands["path"].iloc[j]) for _, j in ref]
        assert all(h["correct"] == (h["label"] == q["label"]) for h in q["hits"])


def test_image_to_text_examples_rank_like_a_loop_and_mark_own_report(synth):
    from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200

    emb = LabelEmbedder()
    df = load_chexpert_5x200(synth / "benchmarks" / "chexpert_5x200.csv", image_root=synth)
    ex = image_to_text_examples(emb, synth, n_queries=2, k=len(df))  # k = all: the own report must appear
    for q in ex:
        qi = int(df.index[df["path"].astype(str) == q["path"]][0])
        iv = emb.images([q["path"]])[0]
        ref = sorted(((float(iv @ emb.texts([r])[0]), j) for j, r in enumerate(df["report"])), key=lambda s: (-s[0], s[1]))
        assert [h["report"] for h in q["hits"]] == [str(df["report"].iloc[j]) for _, j in ref]
        assert [h["own"] for h in q["hits"]] == [j == qi for _, j in ref]


def test_pneumonia_protocols_side_by_side(synth):
    df = pneumonia_protocols(LabelEmbedder(), synth, n_boot=10)
    assert list(df["threshold"][:4]) == ["argmax", "fixed", "cv-acc", "cv-f1"]
    assert set(df["split"]) == {"test_list", "gloria"}
    ok = df[df["note"] == ""]
    for _, part in ok.groupby("split"):
        assert part["auc"].nunique(dropna=False) == 1  # AUC does not depend on the threshold method
    for _, r in ok.iterrows():  # chance of the split's own labels: majority share, all-positive F1, 0.5
        p = r["positives"] / r["n"]
        assert r["acc_chance"] == pytest.approx(max(p, 1 - p)) and r["auc_chance"] == 0.5
        assert r["f1_chance"] == pytest.approx(2 * p / (1 + p))
        inside = r["f1_lo"] <= r["f1_chance"] <= r["f1_hi"]
        assert (r["f1_vs_chance"] == "at chance") == inside
    failed = df[df["note"] != ""]
    assert failed["acc"].isna().all()  # a split that cannot be evaluated says why, with no numbers
    with pytest.raises(ValueError, match="unknown threshold"):
        pneumonia_protocols(LabelEmbedder(), synth, methods=["best"])
    with pytest.raises(FileNotFoundError, match="RSNA"):
        pneumonia_protocols(LabelEmbedder(), synth / "nowhere")


def test_ablation_vs_paper_cites_table6_and_states_chance():
    from clinvla_kit.eval.tables import ablation_vs_paper

    metric = "zeroshot.5x200.acc"

    def run(acc, lo, hi):
        return {"zeroshot": {"5x200": {"acc": acc, "acc_ci95": [lo, hi]}}}

    runs = {"full": [run(0.5, 0.45, 0.55), run(0.52, 0.47, 0.57)],
            "no-local": [run(0.3, 0.15, 0.35), run(0.31, 0.25, 0.36)], "lora": [run(0.4, 0.3, 0.5)]}
    summary = {slug: {metric: {"mean": float(np.mean([r["zeroshot"]["5x200"]["acc"] for r in rs])),
                               "std": float(np.std([r["zeroshot"]["5x200"]["acc"] for r in rs], ddof=1))
                               if len(rs) > 1 else float("nan"), "n": len(rs)}} for slug, rs in runs.items()}
    df = ablation_vs_paper(runs, summary, {metric: 0.2}).set_index("variant")
    nl = df.loc["no-local"]
    assert nl["delta"] == pytest.approx(0.305 - 0.51)  # plain: mean(no-local) - mean(full)
    assert nl["paper_delta"] == pytest.approx(-0.023) and nl["paper_source"] == "Table 6, row '- Local Loss'"
    assert bool(nl["meaningful"]) and bool(nl["same_sign"])  # beyond the seed spread, and the paper's sign
    assert nl["vs_chance"] == "mixed across seeds"  # seed 0 includes 0.2, seed 1 is above it
    assert df.loc["full", "vs_chance"] == "above chance" and df.loc["full", "chance"] == 0.2
    assert math.isnan(df.loc["lora", "paper_delta"]) and df.loc["lora", "same_sign"] is None


def test_ablation_training_frame_one_row_per_run():
    from clinvla_kit.eval.tables import ablation_training_frame

    runs = {"full": [{"train": {"step": 250, "wall_s": 500.0, "val_global": 2.6}}, {"train": {}}],
            "clip-scratch": [{"train": {"step": 1800, "wall_s": 480.0, "val_global": 3.0}}]}
    df = ablation_training_frame(runs)
    assert list(df["variant"]) == ["full", "full", "clip-scratch"] and list(df["run"]) == [0, 1, 0]
    assert df.loc[2, "steps"] == 1800 and df.loc[2, "label"].startswith("From scratch")
    assert df.loc[0, "val_infonce"] == 2.6 and (df.loc[1, "wall_s"] is None or math.isnan(df.loc[1, "wall_s"]))
