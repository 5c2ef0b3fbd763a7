"""Agreement of the rule-based labeler (``clinvla_kit.data.labeler``) with SynthCXR's ground-truth labels.

Usage::

    python bench/bench_labeler.py --studies 400 [--seed 0] [--data DIR] [--append data_cards/synthcxr.md]

Generates SynthCXR (or reads ``--data``), labels every report with ``label_report`` and compares with
``mimic-cxr-2.0.0-chexpert.csv`` (the generator's ground truth, never parsed from text). For each observation it
reports the macro F1 over the four label states {1, 0, -1, blank} (sklearn ``f1_score(average="macro")`` over the
states that occur in truth or prediction) and the F1 of the positive state alone, then the mean over observations
that occur. Observations that the generator never writes (all blank in the truth) are listed but not averaged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import f1_score

from clinvla_kit.data.labeler import label_report
from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.data.sources.mimic import report_path


def state(v) -> str:
    """A label as a class name: "1", "0", "-1" or "blank"."""
    if v is None or (isinstance(v, float) and pd.isna(v)) or v == "":
        return "blank"
    return str(int(float(v)))


def measure(root: Path) -> tuple[pd.DataFrame, int, float]:
    truth = pd.read_csv(root / "mimic-cxr-2.0.0-chexpert.csv", dtype=str, keep_default_na=False)
    t0 = time.perf_counter()
    preds = [label_report(report_path(root, s, st).read_text()) for s, st in zip(truth.subject_id, truth.study_id)]
    seconds = time.perf_counter() - t0
    rows = []
    for obs in CHEXPERT_LABELS:
        y = [state(v) for v in truth[obs]]
        p = [state(d[obs]) for d in preds]
        if set(y) == {"blank"}:
            rows.append({"observation": obs, "macro_f1": None, "pos_f1": None, "n_pos": 0, "note": "never in truth"})
            continue
        labels = sorted(set(y) | set(p))
        rows.append({
            "observation": obs,
            "macro_f1": f1_score(y, p, labels=labels, average="macro", zero_division=0),
            "pos_f1": f1_score(y, p, labels=["1"], average="macro", zero_division=0),
            "n_pos": y.count("1"), "note": "",
        })
    return pd.DataFrame(rows), len(truth), seconds


def to_markdown(df: pd.DataFrame, n: int, seconds: float, cmd: str) -> str:
    lines = ["", "## Labeler agreement", "",
             (f"`{cmd}`: {n} SynthCXR reports labelled in {seconds:.2f} s by `clinvla_kit.data.labeler.label_report`,"
             " compared with the generator's ground truth (`mimic-cxr-2.0.0-chexpert.csv`)."), "",
             "| observation | macro F1 (1/0/-1/blank) | F1 positive | positives |", "|---|---|---|---|"]
    for r in df.itertuples():
        if r.macro_f1 is None or pd.isna(r.macro_f1):
            lines.append(f"| {r.observation} | - | - | 0 ({r.note}) |")
        else:
            lines.append(f"| {r.observation} | {r.macro_f1:.3f} | {r.pos_f1:.3f} | {r.n_pos} |")
    valid = df.dropna(subset=["macro_f1"])
    lines += ["", (f"Mean over the {len(valid)} observations that occur: macro F1 {valid.macro_f1.mean():.3f}, "
              f"positive F1 {valid.pos_f1.mean():.3f}."), ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="existing SynthCXR directory (default: generate one)")
    ap.add_argument("--studies", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--append", type=Path, default=None, help="markdown file to append the section to")
    args = ap.parse_args()
    cmd = "python bench/bench_labeler.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = Path(tmp) / "synth"
            subprocess.run([sys.executable, "-m", "clinvla_kit", "synth", "--out", str(root), "--studies",
                            str(args.studies), "--seed", str(args.seed), "--image-size", "64"], check=True,
                           stdout=subprocess.DEVNULL)
        df, n, seconds = measure(root)
    md = to_markdown(df, n, seconds, cmd)
    print(md)
    if args.append is not None:
        with args.append.open("a", encoding="utf-8") as f:
            f.write(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
