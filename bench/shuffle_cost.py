"""What shuffle=True costs over shuffle=False, for the group-conv workloads.

    python bench/shuffle_cost.py [--threads 1 2] [--pairs 16]

Blocks of calls alternate between the two in one process (the order flips every pair),
and each pair gives a ratio of block medians: on a shared machine whose speed drifts
over seconds, a ratio of two separate runs' medians mostly measures the drift. Prints
the median ratio and how many pairs the shuffle was slower in.
"""
import argparse
import statistics
import time

import numpy as np

import fastconv
from fastconv import _core
from fastconv._workloads import available


def block(fn, calls):
    fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[fastconv.get_num_threads()])
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--calls", type=int, default=30, help="calls per block")
    args = ap.parse_args(argv)
    for threads in args.threads:
        fastconv.set_num_threads(threads)
        for w in available():
            if w.op not in ("grouped_conv", "pointwise_grouped_conv") or w.bias:
                continue
            x, wt = w.inputs(np.float32)
            op = getattr(fastconv, w.op)
            out = _core.aligned_empty(op(x, wt).shape, np.dtype(np.float32))  # as a fresh output is (64-byte aligned)
            runs = {s: (lambda s=s: op(x, wt, shuffle=s, out=out)) for s in (False, True)}
            times = {False: [], True: []}
            for p in range(args.pairs):
                for s in ((False, True) if p % 2 == 0 else (True, False)):
                    times[s].append(block(runs[s], args.calls))
            ratios = [a / b for a, b in zip(times[True], times[False])]
            print(f"{w.name:22s} threads={threads:<2d} shuffle=False {1e3 * statistics.median(times[False]):7.3f} ms"
                  f"  shuffle=True {1e3 * statistics.median(times[True]):7.3f} ms"
                  f"  True/False {statistics.median(ratios):.3f} (slower in {sum(r > 1 for r in ratios)}/{args.pairs})",
                  flush=True)


if __name__ == "__main__":
    main()
