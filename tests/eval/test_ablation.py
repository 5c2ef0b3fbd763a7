"""Ablation variants, seed summary and the delta/noise rule on fake numbers."""

import math

import pytest

from clinvla_kit.config import load_preset
from clinvla_kit.eval.ablation import (
    VARIANTS,
    ablation_table,
    delta_vs_full,
    direction_verdict,
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
    d, ok = delta_vs_full(s["full"][m], s["lora"][m])
    assert not ok  # a single seed is never meaningful
    assert direction_verdict(select_variants(["no-local"])[1], -0.1, True) == "holds"
    assert direction_verdict(select_variants(["no-local"])[1], +0.1, True) == "contradicted"
    assert direction_verdict(select_variants(["no-local"])[1], -0.1, False) == "not shown (within noise)"
    table = ablation_table(s, [m])
    assert "| -Local loss | 41.0 ± 1.0 (-11.0*) | holds |" in table
    assert "(1 seed)" in table


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
