"""Ablation variants, seed summary and the delta/noise rule on fake numbers."""

import json
import math

import pytest

from clinvla_kit.config import load_preset, save_config
from clinvla_kit.eval.ablation import (
    VARIANTS,
    ablation_table,
    collect_runs,
    delta_vs_full,
    direction_verdict,
    measured_metrics,
    run_ablation,
    select_variants,
    summarize,
    variant_config,
)


def test_every_variant_is_a_valid_override():
    base = load_preset("tiny")
    for v in VARIANTS:
        cfg = variant_config(base, v, seed=3, max_steps=2)
        assert cfg.train.seed == 3 and cfg.train.max_steps == 2
    cfg = variant_config(base, select_variants(["no-temporal-multiview"])[1], 0)
    assert cfg.model.vision.temporal is False and cfg.model.vision.multiview is False
    assert variant_config(base, select_variants(["no-adapt"])[1], 0).model.adapters.transformer_adapt_towers == ()
    assert variant_config(base, select_variants(["no-local"])[1], 0).loss.local_weight == 0
    assert [v.slug for v in select_variants(["lora"])] == ["full", "lora"]
    with pytest.raises(ValueError, match="no-such"):
        select_variants(["no-such"])


def fake(v):
    return {"retrieval": {"txt2img_8x200": {"P@5": v}}}


def test_measured_metrics_drop_what_no_run_measured():
    m, auc = "retrieval.txt2img_8x200.P@5", "zeroshot.pneumonia.auc"
    s = summarize({"full": [fake(0.5)], "no-local": [fake(0.4)]}, [auc, m])
    assert measured_metrics(s, [auc, m]) == [m]
    s2 = summarize({"full": [fake(0.5)], "no-local": [{"zeroshot": {"pneumonia": {"auc": 0.7}}}]}, [auc, m])
    assert measured_metrics(s2, [auc, m]) == [auc, m]


def test_summary_and_noise_rule_by_hand():
    runs = {"full": [fake(0.50), fake(0.52), fake(0.54)], "no-local": [fake(0.40), fake(0.41), fake(0.42)],
            "no-global": [fake(0.49), fake(0.55), fake(0.52)], "lora": [fake(0.3)]}
    s = summarize(runs, ["retrieval.txt2img_8x200.P@5"])
    m = "retrieval.txt2img_8x200.P@5"
    vals = [0.50, 0.52, 0.54]
    mean = sum(vals) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in vals) / 2)
    assert s["full"][m]["mean"] == pytest.approx(mean) and s["full"][m]["std"] == pytest.approx(sd)
    d, ok = delta_vs_full(s["full"][m], s["no-local"][m])
    assert d == pytest.approx(0.41 - 0.52) and ok  # 0.11 > 0.01 + 0.02
    d, ok = delta_vs_full(s["full"][m], s["no-global"][m])
    assert not ok  # 0.0 difference, inside the spread
    # a one-seed variant is judged against 2 * std_full (its spread assumed equal to full's)
    d, ok = delta_vs_full(s["full"][m], s["lora"][m])
    assert d == pytest.approx(0.3 - mean) and ok  # 0.22 > 2 * 0.02
    s_close = summarize({"full": runs["full"], "lora": [fake(0.49)]}, [m])
    assert not delta_vs_full(s_close["full"][m], s_close["lora"][m])[1]  # 0.03 < 0.04
    s_one = summarize({"full": [fake(0.50)], "lora": [fake(0.1)]}, [m])
    assert not delta_vs_full(s_one["full"][m], s_one["lora"][m])[1]  # one seed of full: nothing can be called
    assert direction_verdict(select_variants(["no-local"])[1], -0.1, True) == "holds"
    assert direction_verdict(select_variants(["no-local"])[1], +0.1, True) == "contradicted"
    assert direction_verdict(select_variants(["no-local"])[1], -0.1, False) == "not shown (within noise)"
    table = ablation_table(s, [m])
    assert "| -Local loss | 41.0 ± 1.0 (-11.0*) | holds |" in table
    assert "(1 seed)" in table
    assert f"| LoRA | 30.0 (1 seed) ({100 * (0.3 - mean):+.1f}†) | no claim |" in table


def test_run_ablation_calls_train_and_eval(tmp_path):
    seen = []

    def train_fn(cfg, run_dir):
        seen.append((cfg.loss.local_weight, cfg.train.seed, run_dir.name))
        return run_dir

    from clinvla_kit.config import apply_overrides

    base = apply_overrides(load_preset("tiny"), ["loss.local_weight=0.8"])  # tiny itself has the local loss off
    runs = run_ablation(base, select_variants(["no-local"]), [0, 1], tmp_path, train_fn,
                        lambda run: fake(0.5), max_steps=2)
    assert seen == [(0.8, 0, "seed0"), (0.8, 1, "seed1"), (0, 0, "seed0"), (0, 1, "seed1")]
    assert list(runs) == ["full", "no-local"] and len(runs["full"]) == 2


def test_variant_equal_to_full_is_not_retrained_and_is_labelled(tmp_path):
    from clinvla_kit.config import apply_overrides
    from clinvla_kit.eval.ablation import same_as_full

    base = apply_overrides(load_preset("tiny"), ["model.vision.multiview=false", "model.vision.temporal=false",
                                                 "loss.local_weight=0.8"])
    no_mv, no_local = select_variants(["no-multiview"])[1], select_variants(["no-local"])[1]
    assert same_as_full(base, no_mv) and not same_as_full(base, no_local)
    assert not same_as_full(load_preset("paper"), no_mv)
    trained = []
    runs = run_ablation(base, select_variants(["no-multiview", "no-local"]), [0], tmp_path,
                        lambda cfg, d: trained.append(d.parent.name) or d, lambda run: fake(0.5))
    assert trained == ["full", "no-local"]  # -Multiview reuses the full runs
    table = ablation_table(summarize(runs, ["retrieval.txt2img_8x200.P@5"]), ["retrieval.txt2img_8x200.P@5"])
    row = next(line for line in table.splitlines() if line.startswith("| -Multiview"))
    assert "= full" in row and "not testable" in row
    assert "= full" not in next(line for line in table.splitlines() if line.startswith("| -Local"))


def test_verdict_uses_first_reported_metric():
    runs = {"full": [{"a": {"x": 0.5}}, {"a": {"x": 0.52}}], "no-local": [{"a": {"x": 0.2}}, {"a": {"x": 0.22}}]}
    s = summarize(runs, ["missing.metric", "a.x"])
    table = ablation_table(s, ["missing.metric", "a.x"])
    assert "| -Local loss | n/a | 21.0 ± 1.4 (-30.0*) | holds |" in table


def counting_train(seen):
    def train_fn(cfg, run_dir):
        seen.append(run_dir.parent.name + "/" + run_dir.name)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.json")
        return run_dir
    return train_fn


def test_finished_runs_are_reused_and_another_config_is_refused(tmp_path):
    base = load_preset("tiny")
    seen: list[str] = []
    run_ablation(base, select_variants(["no-local"]), [0], tmp_path, counting_train(seen), lambda run: fake(0.5),
                 max_steps=2)
    assert seen == ["full/seed0", "no-local/seed0"]
    saved = json.loads((tmp_path / "no-local" / "seed0" / "metrics.json").read_text())
    assert saved["retrieval"]["txt2img_8x200"]["P@5"] == 0.5 and "train" in saved
    # a second call (a resumed table, one more seed) trains only the new seed
    runs = run_ablation(base, select_variants(["no-local"]), [0, 1], tmp_path, counting_train(seen),
                        lambda run: fake(0.6), max_steps=2)
    assert seen == ["full/seed0", "no-local/seed0", "full/seed1", "no-local/seed1"]
    assert [r["retrieval"]["txt2img_8x200"]["P@5"] for r in runs["no-local"]] == [0.5, 0.6]
    # the same directory under another step budget is not silently reused or overwritten
    with pytest.raises(ValueError, match=r"no-local.*seed0.*train.max_steps"):
        run_ablation(base, select_variants(["no-local"]), [0], tmp_path, counting_train(seen), lambda run: fake(0),
                     steps_for={"full": 2, "no-local": 3})
    assert json.loads((tmp_path / "no-local" / "seed0" / "metrics.json").read_text())["retrieval"] == saved["retrieval"]


def test_steps_for_and_a_variant_with_its_own_preset(tmp_path):
    base = load_preset("tiny")
    configs = {}

    def train_fn(cfg, run_dir):
        configs[run_dir.parent.name] = cfg
        return run_dir

    run_ablation(base, select_variants(["full-ft", "clip-scratch"]), [0], tmp_path, train_fn, lambda run: fake(0.5),
                 steps_for={"full-ft": 7}, base_overrides=["train.batch_size=4"])
    assert configs["full"].train.max_steps == base.train.max_steps  # no budget given: the preset's own schedule
    assert configs["full-ft"].train.max_steps == 7 and configs["full-ft"].model.adapters.full_finetune
    scratch, preset = configs["clip-scratch"], load_preset("clip-scratch")
    assert scratch.preset == "clip-scratch" and scratch.train.max_steps == preset.train.max_steps
    assert scratch.train.batch_size == 4 and scratch.model == preset.model  # the user's overrides reach it too


def test_collect_runs_reads_every_finished_seed(tmp_path):
    for slug, seed, v in [("full", 0, 0.5), ("full", 2, 0.7), ("full", 1, 0.6), ("no-local", 0, 0.1)]:
        d = tmp_path / slug / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(fake(v)))
    (tmp_path / "full" / "seed2" / "train_metrics.json").write_text(json.dumps({"step": 9, "wall_s": 1.5, "loss": 2}))
    (tmp_path / "no-adapt" / "seed0").mkdir(parents=True)  # started, never finished: not in the table
    runs = collect_runs(tmp_path, VARIANTS)
    assert list(runs) == ["full", "no-local"]
    assert [r["retrieval"]["txt2img_8x200"]["P@5"] for r in runs["full"]] == [0.5, 0.6, 0.7]
    assert runs["full"][2]["train"] == {"step": 9, "wall_s": 1.5, "val_global": None, "global": None}
    assert runs["full"][0]["train"] == {}  # a run made elsewhere without its training record


def test_load_ablation_result_recomputes_the_summary(tmp_path):
    from clinvla_kit.eval.ablation import load_ablation_result

    path = tmp_path / "ablation.json"
    runs = {"full": [fake(0.5), fake(0.7)], "no-local": [fake(0.2)]}
    path.write_text(json.dumps({"runs": runs, "summary": {"stale": {}}, "chance": {"x": 0.125}}))
    record = load_ablation_result(path, ["retrieval.txt2img_8x200.P@5"])
    assert record["summary"]["full"]["retrieval.txt2img_8x200.P@5"]["mean"] == pytest.approx(0.6)
    assert "stale" not in record["summary"] and record["chance"] == {"x": 0.125}
    path.write_text(json.dumps({"summary": {}}))
    with pytest.raises(ValueError, match="ablation.json: field 'runs'"):
        load_ablation_result(path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_ablation_result(tmp_path / "missing.json")
