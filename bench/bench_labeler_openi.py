"""The rule-based labeler on the real Open-I reports, scored against their MeSH major terms.

Usage::

    python bench/bench_labeler_openi.py [--data DIR] [--negation rules|medspacy] [--errors 8] [--append FILE]

``DIR`` holds ``ecgen-radiology/*.xml`` (the NLM release); by default the copy shipped in the ``torchxrayvision``
package (``clinvla_kit.data.sources.published``) is unpacked to a temporary folder. Reports are read with
``load_openi_xml`` (empty reports skipped and counted), labelled with ``label_report`` (or, with ``--negation
medspacy``, with ``clinvla_kit.data.labeler_context``: the kit's mentions, medspaCy ConText's negation and
uncertainty), and compared with the MeSH reference of ``clinvla_kit.data.mesh`` (its docstring says how each
observation maps and what the mapping cannot express). Printed: per observation precision / recall / F1 with
uncertain read as positive (U-Ones) and as negative (U-Zeros), the macro F1 over ``mesh.SCORED``, and the largest
error patterns with one example sentence each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

from clinvla_kit.data import mesh
from clinvla_kit.data.labeler import find_mentions, label_report
from clinvla_kit.data.labeler_score import macro_f1, score
from clinvla_kit.data.sources.openi import load_openi_xml


def load(directory: Path):
    """(records, references, skipped count, unindexed count) of the Open-I release at ``directory``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = load_openi_xml(directory, check_files=False)
    skipped = sum(int(str(w.message).split("skipped ")[1].split()[0]) for w in caught
                  if "skipped" in str(w.message))
    kept, refs, unindexed = [], [], 0
    for r in recs:
        try:
            refs.append(mesh.mesh_observations(mesh.read_major_terms(r.report_path)))
        except ValueError:
            unindexed += 1
            continue
        kept.append(r)
    return kept, refs, skipped, unindexed


def explainer(reports: list[str], find=find_mentions):
    """(index, observation, false positive?) -> error pattern, from the mentions of the labeler that was scored
    (``find``: ``labeler.find_mentions`` or ``labeler_context.find_mentions_context``)."""
    cache: dict[int, list] = {}

    def mentions(i: int):
        if i not in cache:
            cache[i] = find(reports[i])
        return cache[i]

    def explain(i: int, obs: str, fp: bool) -> str:
        ms = mentions(i)
        if obs == "No Finding":
            if fp:
                return "MeSH has a pathology the labeler did not find"
            hits = sorted({m.observation for m in ms if m.status != 0.0 and m.observation not in
                           ("Support Devices",)})
            return "labeler found: " + ", ".join(hits)
        own = [m for m in ms if m.observation == obs]
        if fp:
            m = next((m for m in own if m.status == 1.0), None) or next((m for m in own if m.status == -1.0), None)
            if m is None:
                return "no positive mention found"
            kind = "affirmed" if m.status == 1.0 else f"uncertain '{m.trigger}'"
            return f"'{m.text}' {kind}"
        if not own:
            return "not mentioned"
        m = own[0]
        return f"'{m.text}' negated by '{m.trigger}'" if m.status == 0.0 else f"'{m.text}' uncertain '{m.trigger}'"

    return explain


def example(report: str, pattern: str) -> str:
    """The sentence of ``report`` that holds the pattern's quoted words, else the report's start."""
    word = pattern.split("'")[1] if "'" in pattern else ""
    from clinvla_kit.data.labeler import labelled_text, normalise, split_sentences

    for s in split_sentences(normalise(labelled_text(report))):
        if word and word in s:
            return s[:160]
    return " ".join(report.split())[:160]


def to_markdown(recs, refs, skipped, unindexed, preds, seconds, cmd, n_errors: int, find=find_mentions) -> str:
    lines = ["", f"`{cmd}`: {len(recs) + unindexed} Open-I reports loaded by `load_openi_xml` ({skipped} empty "
             f"skipped), {unindexed} without MeSH indexing left out, {len(recs)} scored; labelled in "
             f"{seconds:.1f} s.", "",
             "| observation | reference positives | P (U-Ones) | R (U-Ones) | F1 (U-Ones) | F1 (U-Zeros) |",
             "|---|---|---|---|---|---|"]
    reports = [r.report for r in recs]
    explain = explainer(reports, find)
    obs = [*mesh.SCORED, "No Finding (MeSH normal)"]
    preds2 = [{**p, "No Finding (MeSH normal)": p["No Finding"]} for p in preds]
    ones = score(preds2, refs, obs, u_ones=True, explain=lambda i, o, fp: explain(i, o.split(" (")[0], fp),
                 report_text=lambda i: reports[i])
    zeros = score(preds2, refs, obs, u_ones=False)
    for o in obs:
        a, b = ones[o], zeros[o]
        lines.append(f"| {o} | {a.tp + a.fn} | {a.precision:.3f} | {a.recall:.3f} | {a.f1:.3f} | {b.f1:.3f} |")
    lines += ["", f"Macro F1 over the {len(mesh.SCORED)} scored observations (No Finding by the CheXpert rule): "
              f"U-Ones {macro_f1(ones, mesh.SCORED):.3f}, U-Zeros {macro_f1(zeros, mesh.SCORED):.3f}; with No "
              f"Finding against MeSH \"normal\" instead: U-Ones "
              f"{macro_f1(ones, [*mesh.SCORED[:-1], 'No Finding (MeSH normal)']):.3f}.", ""]
    if n_errors:
        lines += ["Largest error patterns (U-Ones; count, pattern, first example sentence):", ""]
        for o in mesh.SCORED:
            s = ones[o]
            for kind, counter in (("FP", s.fp_patterns), ("FN", s.fn_patterns)):
                for pattern, n in counter.most_common(n_errors):
                    text = example(s.examples[(kind.lower(), pattern)], pattern)
                    lines.append(f"- {o} {kind} x{n}: {pattern} — \"{text}\"")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder with ecgen-radiology/ (default: torchxrayvision's)")
    ap.add_argument("--negation", choices=("rules", "medspacy"), default="rules")
    ap.add_argument("--errors", type=int, default=5, help="error patterns shown per observation and kind")
    ap.add_argument("--append", type=Path, default=None, help="markdown file to append the table to")
    args = ap.parse_args()
    cmd = "python bench/bench_labeler_openi.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            from clinvla_kit.data.sources.published import unpack

            root = unpack("openi", tmp).parent
        recs, refs, skipped, unindexed = load(root)
        t0 = time.perf_counter()
        find = find_mentions
        if args.negation == "medspacy":
            from clinvla_kit.data.labeler_context import find_mentions_context, label_reports_context

            preds, find = label_reports_context([r.report for r in recs]), find_mentions_context
        else:
            preds = [label_report(r.report) for r in recs]
        seconds = time.perf_counter() - t0
        md = to_markdown(recs, refs, skipped, unindexed, preds, seconds, cmd, args.errors, find)
    print(md)
    if args.append is not None:
        with args.append.open("a", encoding="utf-8") as f:
            f.write(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
