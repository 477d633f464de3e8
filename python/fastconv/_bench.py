"""``python -m fastconv bench``: every available workload side by side with its baselines.

Each implementation is timed in its own block of back-to-back calls, after a
short pause and a warm-up call (worker threads another library leaves spinning
would otherwise steal the cores). Rates are compared with np.copyto bandwidth
(memory-bound workloads, same bytes moved) and numpy.matmul 4096x4096 float32
GFLOP/s (compute-bound workloads).

A workload runs in rounds: each round times the machine's peak and then every
implementation, one block each, so that a ratio compares blocks seconds apart.
A shared machine's speed drifts by tens of percent over minutes; the table gives
the median over rounds of each round's figures (time, % of that round's peak,
ratio to that round's fastconv) and in how many rounds fastconv was faster.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import time

import numpy as np

import fastconv

from . import _peers
from ._workloads import select


def median_ms(fn, budget_s: float, min_reps: int = 3, max_reps: int = 200, pause_s: float = 0.15) -> float:
    time.sleep(pause_s)
    t0 = time.perf_counter()
    fn()  # warm-up
    first = time.perf_counter() - t0
    # A call slower than the whole block is timed once (its warm-up aside): the slow
    # einsum baselines would otherwise take most of a run.
    reps = 1 if first >= budget_s else int(min(max_reps, max(min_reps, budget_s / max(first, 1e-6))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


_MATMUL_WARM = set()  # thread counts whose first matmul (BLAS's warm-up) has run


@functools.lru_cache(maxsize=1)
def _matmul_operand():
    return np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)


def matmul_gflops(budget_s: float, min_reps: int = 3) -> float:
    """numpy.matmul 4096^2 float32 GFLOP/s. Its operand is made, and a first call warms
    BLAS up, once per process and thread count: a call takes seconds, and a peak timed in
    every round of every workload was most of a run's time."""
    a = _matmul_operand()
    if fastconv.get_num_threads() not in _MATMUL_WARM:
        a @ a
        _MATMUL_WARM.add(fastconv.get_num_threads())
    time.sleep(0.15)
    times = []
    for _ in range(max(1, min_reps)):
        t0 = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t0)
        if sum(times) >= budget_s:
            break
    return 2 * 4096**3 / (statistics.median(times) * 1e9)


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


# Rows that are fastconv's own, not peers (the best peer is the fastest of the others).
OWN = ("fastconv", "fc.einsum")


def implementations(w, inputs, torch, threads):
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
    impls += list(_peers.peers(w, inputs, threads).items())
    return impls


def run(threads: int | None, budget_s: float, names: list[str] | None, rounds: int = 3,
        file=None, batch: int | None = None) -> list[dict]:
    """Time every workload in ``rounds`` rounds (see the module docstring), at batch ``batch``
    (None: SPEC §4's); print and return the rows."""
    try:
        import torch
    except ImportError:
        torch = None
    rounds = max(1, rounds)
    block_s = budget_s / rounds
    rows = []
    with _threads_ctx(threads) if threads else contextlib.nullcontext():
        prev = fastconv.set_num_threads(threads) if threads else None
        if torch is not None and threads:
            torch.set_num_threads(threads)
        try:
            for w in select(names, batch):
                inputs = w.inputs()
                nbytes = w.nbytes()
                impls = implementations(w, inputs, torch, threads or fastconv.get_num_threads())
                peaks, times = [], {name: [] for name, _ in impls}
                for _ in range(rounds):
                    peaks.append(copyto_gbps(nbytes, block_s) if w.kind == "memory"
                                 else matmul_gflops(block_s, min_reps=1))
                    for name, fn in impls:
                        times[name].append(median_ms(fn, block_s))
                med, fc = statistics.median, times["fastconv"]
                work = nbytes if w.kind == "memory" else w.flops  # against GB/s or GFLOP/s
                for name, ts in times.items():
                    rows.append(dict(workload=w.name, impl=name, kind=w.kind, ms=med(ts),
                                     gbps=nbytes / (med(ts) * 1e6), gflops=w.flops / (med(ts) * 1e6),
                                     pct_peak=med([100 * work / (t * 1e6) / p for t, p in zip(ts, peaks)]),
                                     speedup=med([t / f for t, f in zip(ts, fc)]),
                                     won=sum(f < t for t, f in zip(ts, fc)), rounds=rounds, peak=med(peaks)))
        finally:
            if prev is not None:
                fastconv.set_num_threads(prev)
    print_table(rows, threads or fastconv.get_num_threads(), rounds, file=file, batch=batch)
    return rows


def print_table(rows, threads, rounds, file=None, batch=None):
    p = lambda *a: print(*a, file=file)  # noqa: E731
    p(f"fastconv {fastconv.__version__}  isa={fastconv.isa()}  threads={threads}  rounds={rounds}  "
      f"batch={batch or 'SPEC'}")
    p("medians over rounds; % peak and 'fastconv x' (this impl's time / fastconv's) per round, then the median;"
      " 'won': rounds fastconv was faster")
    p(f"{'workload':<22}{'impl':<22}{'median ms':>10}{'rate':>16}{'% peak':>8}{'fastconv x':>12}{'won':>6}")
    for name in dict.fromkeys(r["workload"] for r in rows):
        group = [r for r in rows if r["workload"] == name]
        r0 = group[0]
        peak = (f"np.copyto {r0['peak']:.1f} GB/s" if r0["kind"] == "memory"
                else f"numpy.matmul 4096^2 float32 {r0['peak']:.0f} GFLOP/s")
        p(f"{name:<22}({peak})")
        for r in group:
            rate = f"{r['gbps']:.1f} GB/s" if r["kind"] == "memory" else f"{r['gflops']:.1f} GFLOP/s"
            sp, won = ("", "") if r["impl"] == "fastconv" else (f"{r['speedup']:.2f}x", f"{r['won']}/{r['rounds']}")
            p(f"{'':<22}{r['impl']:<22}{r['ms']:>10.3f}{rate:>16}{r['pct_peak']:>7.0f}%{sp:>12}{won:>6}")
        best = best_peer(group)
        if best:
            p(f"{'':<22}best peer: {best['impl']} ({best['speedup']:.2f}x fastconv's time, "
              f"{'fastconv faster' if best['speedup'] > 1 else 'the peer faster'})")


def best_peer(group):
    """The fastest row that is not fastconv's own (by median time), or None."""
    peers = [r for r in group if r["impl"] not in OWN]
    return min(peers, key=lambda r: r["ms"]) if peers else None


class _Version(argparse.Action):
    """--version that lets a failed write raise (BrokenPipeError into a closed pipe, which
    __main__ turns into status 141), where argparse's own action swallows it on some Python
    versions and not on others."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"fastconv {fastconv.__version__}")
        parser.exit()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fastconv")
    ap.add_argument("--version", action=_Version)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="time every available workload against its baselines")
    b.add_argument("--threads", type=int, default=None, help="threads for every library (default: all)")
    b.add_argument("--budget", type=float, default=0.6,
                   help="seconds of timed calls per implementation, over all rounds")
    b.add_argument("--rounds", type=int, default=3, help="rounds per workload (see the module docstring)")
    b.add_argument("--only", nargs="*", default=None, help="workload names to run")
    b.add_argument("--batch", type=int, default=None, help="batch size of every workload (default: SPEC §4's)")
    sub.add_parser("config", help="print the build and runtime configuration")
    args = ap.parse_args(argv)
    if args.cmd == "bench":
        try:
            select(args.only)
        except ValueError as e:
            ap.error(str(e))
        if args.batch is not None and args.batch < 1:
            ap.error("--batch must be at least 1")
    if args.cmd == "config":
        fastconv.show_config()
    else:
        run(args.threads, args.budget, args.only, args.rounds, batch=args.batch)
    return 0
