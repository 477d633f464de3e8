"""``python -m fastconv bench``: every available workload side by side with its baselines.

Each implementation is timed in its own block of back-to-back calls, after a
short pause and a warm-up call (worker threads another library leaves spinning
would otherwise steal the cores). Rates are compared with the same run's
np.copyto bandwidth (memory-bound workloads, same bytes moved) and numpy.matmul
4096x4096 float32 GFLOP/s (compute-bound workloads).
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np

import fastconv

from ._workloads import available


def median_ms(fn, budget_s: float, min_reps: int = 3, max_reps: int = 200, pause_s: float = 0.15) -> float:
    time.sleep(pause_s)
    t0 = time.perf_counter()
    fn()  # warm-up
    first = time.perf_counter() - t0
    reps = int(min(max_reps, max(min_reps, budget_s / max(first, 1e-6))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def matmul_gflops(budget_s: float) -> float:
    a = np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)
    ms = median_ms(lambda: a @ a, budget_s, min_reps=3, max_reps=10)
    return 2 * 4096**3 / (ms * 1e6)


def copyto_gbps(total_bytes: int, budget_s: float) -> float:
    """np.copyto bandwidth (read + write) for a copy that moves total_bytes."""
    n = max(1, total_bytes // 2 // 4)
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    ms = median_ms(lambda: np.copyto(dst, src), budget_s)
    return 2 * n * 4 / (ms * 1e6)


def _threads_ctx(n):
    stack = contextlib.ExitStack()
    try:
        from threadpoolctl import threadpool_limits

        stack.enter_context(threadpool_limits(n))
    except ImportError:
        pass
    return stack


def implementations(w, inputs, torch):
    impls = [("fastconv", w.fastconv(*inputs)),
             ("fc.einsum", w.fastconv_einsum(*inputs)),
             ("einsum", w.einsum(*inputs, optimize=False)),
             ("einsum(opt)", w.einsum(*inputs, optimize=True))]
    try:
        impls.append(("opt_einsum", w.opt_einsum(*inputs)))
    except ImportError:
        pass
    if torch is not None:
        impls += [(name, make(torch, *inputs)) for name, make in w.torch_peers().items()]
    return impls


def run(threads: int | None, budget_s: float, names: list[str] | None, file=None) -> list[dict]:
    try:
        import torch
    except ImportError:
        torch = None
    workloads = [w for w in available() if not names or w.name in names]
    rows = []
    with _threads_ctx(threads) if threads else contextlib.nullcontext():
        prev = fastconv.set_num_threads(threads) if threads else None
        if torch is not None and threads:
            torch.set_num_threads(threads)
        try:
            peak = matmul_gflops(budget_s) if any(w.kind == "compute" for w in workloads) else None
            for w in workloads:
                inputs = w.inputs()
                nbytes = w.nbytes()
                bw = copyto_gbps(nbytes, budget_s)
                times = {name: median_ms(fn, budget_s) for name, fn in implementations(w, inputs, torch)}
                for name, ms in times.items():
                    gbps, gflops = nbytes / (ms * 1e6), w.flops / (ms * 1e6)
                    pct = 100 * (gbps / bw if w.kind == "memory" else gflops / peak)
                    rows.append(dict(workload=w.name, impl=name, ms=ms, gbps=gbps, gflops=gflops, kind=w.kind,
                                     pct_peak=pct, speedup=ms / times["fastconv"],
                                     copyto_gbps=bw, matmul_gflops=peak))
        finally:
            if prev is not None:
                fastconv.set_num_threads(prev)
    print_table(rows, threads or fastconv.get_num_threads(), file=file)
    return rows


def print_table(rows, threads, file=None):
    p = lambda *a: print(*a, file=file)  # noqa: E731
    p(f"fastconv {fastconv.__version__}  isa={fastconv.isa()}  threads={threads}")
    if any(r["matmul_gflops"] for r in rows):
        p(f"numpy.matmul 4096^2 float32: {next(r['matmul_gflops'] for r in rows if r['matmul_gflops']):.0f} GFLOP/s")
    p(f"{'workload':<22}{'impl':<13}{'median ms':>10}{'rate':>16}{'% peak':>8}{'fastconv x':>12}")
    last = None
    for r in rows:
        if r["workload"] != last:
            peak = (f"np.copyto {r['copyto_gbps']:.1f} GB/s" if r["kind"] == "memory"
                    else f"matmul {r['matmul_gflops']:.0f} GFLOP/s")
            p(f"{r['workload']:<22}({peak})")
            last = r["workload"]
        rate = f"{r['gbps']:.1f} GB/s" if r["kind"] == "memory" else f"{r['gflops']:.1f} GFLOP/s"
        sp = "" if r["impl"] == "fastconv" else f"{r['speedup']:.2f}x"
        p(f"{'':<22}{r['impl']:<13}{r['ms']:>10.3f}{rate:>16}{r['pct_peak']:>7.0f}%{sp:>12}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fastconv")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="time every available workload against its baselines")
    b.add_argument("--threads", type=int, default=None, help="threads for every library (default: all)")
    b.add_argument("--budget", type=float, default=0.4, help="seconds of timed calls per implementation")
    b.add_argument("--only", nargs="*", default=None, help="workload names to run")
    sub.add_parser("config", help="print the build and runtime configuration")
    args = ap.parse_args(argv)
    if args.cmd == "config":
        fastconv.show_config()
    else:
        run(args.threads, args.budget, args.only)
    return 0
