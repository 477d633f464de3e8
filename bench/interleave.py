"""numpy and fastconv in one loop, as a user's pipeline mixes them.

    python bench/interleave.py [--threads N] [--iters 60] [--matmul 1024]

Each call is timed alone first (a block of back-to-back calls of that call only),
then alone with the caches swept before each call (a 128 MiB np.copyto, which starts
no threads, untimed), then inside a loop that alternates numpy.matmul, fastconv.conv
and fastconv.depthwise_conv. A library whose idle workers keep spinning after a call
steals the cores the next library's threads need: the interleaved time over the
cold time (median per call) shows it, without the cache effect of the other calls
(an input that stays in the last-level cache when a call repeats, evicted by the
others). 1.00x means no interference. numpy's OpenBLAS spins ~0.1 s after each call
unless OPENBLAS_THREAD_TIMEOUT (read when numpy is imported) says otherwise.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastconv


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/interleave.py")
    ap.add_argument("--threads", type=int, default=None, help="fastconv threads (default: all)")
    ap.add_argument("--iters", type=int, default=60, help="calls per block and loop iterations")
    ap.add_argument("--matmul", type=int, default=1024, help="numpy.matmul size n (n x n float32)")
    args = ap.parse_args(argv)
    if args.threads:
        fastconv.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.matmul, args.matmul)).astype(np.float32)
    x = rng.standard_normal((8, 56, 56, 96)).astype(np.float32)
    w = rng.standard_normal((2, 2, 96, 192)).astype(np.float32)
    xd = rng.standard_normal((8, 112, 112, 64)).astype(np.float32)
    wd = rng.standard_normal((2, 2, 64)).astype(np.float32)
    calls = {
        f"numpy.matmul {args.matmul}^2": lambda: a @ a,
        "fastconv.conv down2x2_96to192": lambda: fastconv.conv(x, w),
        "fastconv.depthwise_conv 2x2_c64": lambda: fastconv.depthwise_conv(xd, wd),
    }
    sweep_src = np.ones(16 << 20, np.float64)
    sweep_dst = np.empty_like(sweep_src)
    alone, cold = {}, {}
    for name, fn in calls.items():
        time.sleep(0.3)  # the previous block's spinning workers, if any, go idle
        fn()
        alone[name] = statistics.median(timed(fn) for _ in range(args.iters))
        times = []
        for _ in range(args.iters):
            np.copyto(sweep_dst, sweep_src)
            times.append(timed(fn))
        cold[name] = statistics.median(times)
    time.sleep(0.3)
    mixed = {name: [] for name in calls}
    for _ in range(args.iters):
        for name, fn in calls.items():
            mixed[name].append(timed(fn))
    print(f"fastconv {fastconv.__version__}  isa={fastconv.isa()}  threads={fastconv.get_num_threads()}  "
          f"iters={args.iters}  (median ms per call)")
    print(f"{'call':<34}{'alone':>10}{'cold':>10}{'interleaved':>13}{'/alone':>9}{'/cold':>8}")
    for name in calls:
        m = statistics.median(mixed[name])
        print(f"{name:<34}{1e3 * alone[name]:>10.3f}{1e3 * cold[name]:>10.3f}{1e3 * m:>13.3f}"
              f"{m / alone[name]:>8.2f}x{m / cold[name]:>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
