"""Training benchmarks (results in bench/RESULTS.md, section "training").

    OMP_NUM_THREADS=2 python bench/bench_train.py throughput --data DATA [--steps 10]
        tiny-preset alignment training, studies/s (after 2 warm-up steps, from log.jsonl)
    OMP_NUM_THREADS=2 python bench/bench_train.py recipe --data DATA --out OUT
        the whole `recipe --preset tiny` (MAE pretraining where mae.enabled, then alignment), wall time per stage

DATA is a SynthCXR set: `clinvla-kit synth --out DATA --studies 2000`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def throughput(data: str, steps: int, preset: str, overrides: list[str]) -> dict:
    from clinvla_kit.config import apply_overrides, load_preset
    from clinvla_kit.train.align import train
    from clinvla_kit.train.logging import read_log

    cfg = apply_overrides(load_preset(preset), ["train.log_every=1", *overrides])
    with tempfile.TemporaryDirectory() as tmp:
        # CPU seconds as well as wall time: on a shared machine the wall clock measures the neighbours; CPU time
        # per study divided by the cores gives what dedicated cores would do (upper bound on speed)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        res = train(cfg, data, Path(tmp) / "run", max_steps=steps)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        log = read_log(res.log_path)
    timed = log[1:] if len(log) > 2 else log
    sps = sum(r["studies_per_s"] for r in timed) / len(timed)
    studies = steps * cfg.train.batch_size
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    return {"preset": preset, "steps": steps, "batch_size": cfg.train.batch_size, "image_size": cfg.data.image_size,
            "wall_studies_per_s": round(sps, 2), "cpu_s_per_study_incl_startup": round(cpu / studies, 3),
            f"studies_per_s_on_{threads}_dedicated_cores_est": round(studies / (cpu / threads), 2),
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "loadavg": os.getloadavg()}


def recipe_bench(data: str, out: str, preset: str, max_steps: int | None, overrides: list[str]) -> dict:
    from clinvla_kit.train.recipe import recipe

    t = time.perf_counter()
    res = recipe(data, out, preset=preset, max_steps=max_steps, overrides=overrides)
    summary = json.loads((Path(out) / "recipe.json").read_text())
    return {"preset": preset, "wall_s": round(time.perf_counter() - t, 1),
            "stages": {k: round(v, 1) for k, v in summary["stages"].items()},
            "final_loss": res.metrics.get("loss"), "steps": res.metrics.get("step"), "run": str(res.run_dir)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["throughput", "recipe"])
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="runs/bench_recipe")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--set", dest="overrides", nargs="*", default=[])
    a = p.parse_args()
    env = {"threads": os.environ.get("OMP_NUM_THREADS"), "cpu_count": os.cpu_count(), "machine": platform.machine()}
    if a.what == "throughput":
        result = throughput(a.data, a.steps, a.preset, a.overrides)
    else:
        result = recipe_bench(a.data, a.out, a.preset, a.max_steps, a.overrides)
    print(json.dumps({**result, "env": env}, indent=2))


if __name__ == "__main__":
    main()
