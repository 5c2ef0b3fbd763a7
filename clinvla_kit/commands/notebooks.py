"""``clinvla-kit notebooks``: execute every notebook with papermill (smoke or tutorial parameters), export HTML."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", choices=("smoke", "tutorial"), default="smoke",
                        help="parameter set from clinvla_kit/notebook_params.py (default: smoke)")
    parser.add_argument("--out", default="runs", help="output directory (executed notebooks, HTML, data, runs)")
    parser.add_argument("--only", nargs="+", default=(), metavar="NAME",
                        help="run only these notebooks (stem or prefix, e.g. 07 or 07_retrieval_demo)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML export")
    parser.add_argument("--timeout", type=int, default=None, metavar="S",
                        help="per-cell timeout in seconds (default: per notebook, from notebook_params)")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="use this data directory instead of generating SynthCXR under OUT/data")
    parser.add_argument("--notebooks-dir", default=None, metavar="DIR", help="where the notebooks are")
    parser.add_argument("--model", default="default", metavar="NAME_OR_RUN",
                        help="what notebooks 04-08 and 10 analyse: a shipped aligned model's name, a run directory of "
                             "your own, or 'shared' (the run notebook 03 trains); default: notebook_params.ANALYSED_MODEL")


def run(args: argparse.Namespace) -> int:
    import logging

    from clinvla_kit.nbrun import NotebookRunError, NotebookStructureError, run_all

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        results = run_all(args.out, params=args.params, only=args.only, html=not args.no_html,
                          timeout=args.timeout, notebooks_dir=args.notebooks_dir, data_dir=args.data,
                          analysed=args.model)
    except (NotebookRunError, NotebookStructureError, ValueError, KeyError, RuntimeError) as e:
        print(f"clinvla-kit notebooks: {e}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.name:32s} {r.seconds:7.1f} s  {r.executed}" + (f"  {r.html}" if r.html else ""))
    print(f"{len(results)} notebook(s) executed into {args.out}")
    return 0
