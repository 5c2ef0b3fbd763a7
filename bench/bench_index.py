"""Benchmark of the FAISS archive index: build time, query latency, recall@10 of HNSW / IVF against exact search.

Data: N random 128-d vectors on the unit sphere (the hardest case for approximate search: no cluster structure).
Queries: Q further random unit vectors. Ground truth: exact inner product (IndexFlatIP).

    OMP_NUM_THREADS=2 python bench/bench_index.py --n 1000000 --queries 1000 --write

``--write`` appends a result block to bench/RESULTS.md under "Evaluation harness (issue 4)".
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from clinvla_kit.eval.index import ArchiveIndex, recall_against_exact


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=80)
    ap.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--kinds", nargs="+", default=["hnsw", "ivf"], choices=["hnsw", "ivf"])
    ap.add_argument("--write", action="store_true", help="append the results to bench/RESULTS.md")
    args = ap.parse_args()

    import faiss

    x = unit_vectors(args.n, args.dim, seed=0)
    q = unit_vectors(args.queries, args.dim, seed=1)
    ids = [str(i) for i in range(args.n)]
    lines = [
        (f"N={args.n:,} d={args.dim} queries={args.queries} k={args.k}; faiss {faiss.__version__}, "
         f"{faiss.omp_get_max_threads()} OpenMP threads, {platform.processor() or platform.machine()}, "
         f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"),
        "",
        "| index | build s | query ms/query (batch) | query ms (single) | recall@10 vs exact |",
        "|---|---|---|---|---|",
    ]
    exact_index, t_flat = timed(lambda: ArchiveIndex.build(x, ids, kind="flat"))
    (_, exact), t_q = timed(lambda: exact_index.search_arrays(q, args.k))
    _, t_single = timed(lambda: [exact_index.search_arrays(q[i], args.k) for i in range(min(20, args.queries))])
    lines.append(f"| flat (exact) | {t_flat:.1f} | {1000 * t_q / args.queries:.3f} | "
                 f"{1000 * t_single / min(20, args.queries):.2f} | 1.000 |")
    print(lines[-1], flush=True)
    exact_index.index.reset()  # free the 1M x d copy before building HNSW
    for kind in args.kinds:
        if kind == "hnsw":
            approx, t_build = timed(lambda: ArchiveIndex.build(x, ids, kind="hnsw", hnsw_m=args.hnsw_m,
                                                                ef_construction=args.ef_construction))
            sweep, label = args.ef_search, f"hnsw M={args.hnsw_m} efC={args.ef_construction} efSearch="
        else:
            approx, t_build = timed(lambda: ArchiveIndex.build(x, ids, kind="ivf"))
            sweep, label = args.nprobe, f"ivf nlist={approx.index.nlist} nprobe="
        for breadth in sweep:
            approx.set_ef_search(breadth)
            n_single = min(100, args.queries)
            (_, rows), t_q = timed(lambda a=approx: a.search_arrays(q, args.k))
            _, t_single = timed(lambda a=approx, m=n_single: [a.search_arrays(q[i], args.k) for i in range(m)])
            rec = recall_against_exact(rows, exact)
            lines.append(f"| {label}{breadth} | {t_build:.1f} | {1000 * t_q / args.queries:.3f} | "
                         f"{1000 * t_single / n_single:.2f} | {rec:.3f} |")
            print(lines[-1], flush=True)
        approx.index.reset()
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = Path(__file__).with_name("RESULTS.md")
        head = "## Evaluation harness (issue 4)"
        existing = path.read_text() if path.exists() else "# Benchmark results\n"
        cmd = " ".join(["python", "bench/bench_index.py", *__import__("sys").argv[1:]])
        block = f"\n### FAISS archive index ({time.strftime('%Y-%m-%d')})\n\n`OMP_NUM_THREADS=" \
                f"{os.environ.get('OMP_NUM_THREADS', '')} {cmd}`\n\n{text}\n"
        if head not in existing:
            existing = existing.rstrip("\n") + f"\n\n{head}\n"
        path.write_text(existing.rstrip("\n") + "\n" + block)


if __name__ == "__main__":
    main()
