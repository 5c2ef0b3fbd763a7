"""End to end on a tiny SynthCXR: evaluate, index + search, ablate (2 variants x 1 seed x 2 steps)."""

import json
import os

import pytest

from clinvla_kit.cli import main

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.slow

# A smaller ViT than the shipped encoder's, so no checkpoint: the random frozen backbone is meant here.
TINY = ["--set", "data.image_size=32", "model.vision.depth=1", "train.batch_size=4", "model.vision.checkpoint=null",
        "model.vision.allow_random_frozen=true"]


@pytest.fixture(scope="module")
def synth_and_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_e2e")
    data, run = root / "synth", root / "run"
    assert main(["synth", "--out", str(data), "--studies", "60", "--image-size", "48", "--workers", "1"]) == 0
    assert main(["train", "--data", str(data), "--out", str(run), "--preset", "tiny", "--max-steps", "1", *TINY]) == 0
    return root, data, run


def test_evaluate_writes_metrics_json_and_table(synth_and_run, capsys):
    root, data, run = synth_and_run
    out = root / "m" / "metrics.json"
    rc = main(["evaluate", "--run", str(run), "--data", str(data), "--out", str(out), "--n-boot", "20",
               "--max-prompts", "2", "--quiet", "--tasks", "8x200", "5x200", "rsna", "temporal", "instance"])
    assert rc == 0
    m = json.loads(out.read_text())
    for group, keys in (("img2img_8x200", ("P@5", "P@10")), ("txt2img_8x200", ("P@5",)), ("img2txt_5x200", ("P@5",))):
        for k in keys:
            assert 0.0 <= m["retrieval"][group][k] <= 1.0
            lo, hi = m["retrieval"][group][f"{k}_ci95"]
            assert lo <= m["retrieval"][group][k] <= hi
    assert 0.0 <= m["zeroshot"]["5x200"]["acc"] <= 1.0 and len(m["zeroshot"]["5x200"]["confusion"]) == 5
    assert set(m["zeroshot"]["pneumonia"]) >= {"acc", "f1", "auc", "auc_ci95", "threshold_method"}
    assert m["protocol"]["tie_rule"].startswith("descending")
    assert 0.0 <= m["zeroshot"]["temporal_joint"]["acc"] <= 1.0
    inst = m["retrieval"]["instance_img2txt"]
    assert 0.0 <= inst["R@1"] <= inst["R@5"] <= inst["R@10"] <= 1.0 and inst["mean_rank"] >= 1
    md = (root / "m" / "metrics.md").read_text()
    assert "not comparable to SynthCXR" in md and "| Text-to-image retrieval, CheXpert 8x200 | P@5 |" in md
    row = next(line for line in md.splitlines() if line.startswith("| Image-to-text retrieval, CheXpert 5x200 | P@5 |"))
    assert row.split(" | ")[3] == "20.0"  # chance of a balanced 5-class pool, from the benchmark files
    assert row.split(" | ")[4] != "n/a"
    # a data directory without benchmarks: every task skipped with a note, not a crash
    empty = root / "empty"
    empty.mkdir()
    assert main(["evaluate", "--run", str(run), "--data", str(empty), "--out", str(root / "e.json"), "--quiet"]) == 0
    notes = json.loads((root / "e.json").read_text())["notes"]
    assert len(notes) == 6 and all("skipped" in n for n in notes)


def test_evaluate_never_replaces_good_metrics_with_empty_ones(synth_and_run, tmp_path, capsys):
    """Issue 16 s4: `evaluate --data` on a mistyped path exited 0 and replaced metrics.json with empty results."""
    root, _, run = synth_and_run
    good = tmp_path / "metrics.json"
    good.write_text('{"retrieval": {"img2img_8x200": {"P@5": 0.5}}}')
    before = good.read_text()
    args = ["evaluate", "--run", str(run), "--out", str(good), "--quiet", "--n-boot", "5"]
    assert main(args + ["--data", str(root / "synht")]) == 1  # mistyped
    assert "does not exist" in capsys.readouterr().err and good.read_text() == before
    (tmp_path / "empty").mkdir()
    assert main(args + ["--data", str(tmp_path / "empty")]) == 1  # exists, but holds no benchmark
    assert "no task ran" in capsys.readouterr().err and good.read_text() == before


def test_evaluate_bad_run_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path), "--data", str(tmp_path)]) == 1
    assert "not a ClinVLA run directory" in capsys.readouterr().err


def test_index_and_search(synth_and_run, capsys):
    root, data, run = synth_and_run
    index = root / "idx" / "archive.faiss"
    assert main(["index", "--run", str(run), "--data", str(data), "--out", str(index), "--splits", "test"]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--text", "small left pleural effusion", "--k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all(h["path"].endswith(".jpg") for h in hits)
    img = hits[0]["path"]
    assert main(["search", "--index", str(index), "--image", img, "--k", "1", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)[0]
    assert top["path"] == img and top["score"] == pytest.approx(1.0, abs=1e-3)  # an archive image finds itself


def test_ablate_two_variants_one_seed(synth_and_run):
    root, data, _ = synth_and_run
    out = root / "abl"
    rc = main(["ablate", "--data", str(data), "--out", str(out), "--variants", "no-local", "--seeds", "1",
               "--max-steps", "2", "--n-boot", "10", "--max-prompts", "1", "--tasks", "8x200", "5x200", *TINY,
               "loss.local_weight=0.8"])  # tiny has the local loss off; turn it on so -Local loss is a real variant
    assert rc == 0
    table = (out / "ablation.md").read_text()
    assert "| ClinVLA (full) |" in table and "| -Local loss |" in table and "(1 seed)" in table
    cfg = json.loads((out / "no-local" / "seed0" / "config.json").read_text())
    assert cfg["loss"]["local_weight"] == 0 and cfg["train"]["max_steps"] == 2
    record = json.loads((out / "ablation.json").read_text())
    assert record["seeds"] == {"full": 1, "no-local": 1} and record["training"]["full"][0]["step"] == 2
    before = (out / "no-local" / "seed0" / "model.safetensors").stat().st_mtime_ns
    # summarising again trains nothing; a malformed per-variant budget is refused by name
    assert main(["ablate", "--data", str(data), "--out", str(out), "--variants", "no-local", "--summarize-only",
                 *TINY, "loss.local_weight=0.8"]) == 0
    assert (out / "no-local" / "seed0" / "model.safetensors").stat().st_mtime_ns == before
    assert main(["ablate", "--data", str(data), "--out", str(out), "--steps-for", "lora=abc"]) == 1
