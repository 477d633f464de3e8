"""What denormal inputs cost, with denormals kept (IEEE, the default) and flushed to zero.

    python bench/denormals.py [--threads N] [--reps 30]

For a compute-bound op (pointwise 1x1 128->256) and a memory-bound one (depthwise 2x2
c64), the median ms per call on normal inputs and on inputs of which a quarter are
denormal (1e-39 float32), each with fastconv.set_flush_denormal(False) and (True).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastconv


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/denormals.py")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args(argv)
    if args.threads:
        fastconv.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    cases = {
        "pointwise1x1_128to256": (lambda x, w: fastconv.pointwise_conv(x, w), (8, 56, 56, 128), (128, 256)),
        "depthwise2x2_c64": (lambda x, w: fastconv.depthwise_conv(x, w), (8, 112, 112, 64), (2, 2, 64)),
    }
    print(f"fastconv {fastconv.__version__}  isa={fastconv.isa()}  threads={fastconv.get_num_threads()}  "
          f"(median ms per call)")
    print(f"{'workload':<24}{'inputs':<12}{'kept (IEEE)':>12}{'flushed':>10}")
    try:
        for name, (fn, xs, ws) in cases.items():
            x = rng.standard_normal(xs).astype(np.float32)
            w = rng.standard_normal(ws).astype(np.float32)
            xd = x.copy()
            xd.reshape(-1)[::4] = np.float32(1e-39)  # a quarter of the inputs denormal
            for label, xi in (("normal", x), ("denormal", xd)):
                row = []
                for flush in (False, True):
                    fastconv.set_flush_denormal(flush)
                    row.append(median_ms(lambda: fn(xi, w), args.reps))
                print(f"{name:<24}{label:<12}{row[0]:>12.3f}{row[1]:>10.3f}")
    finally:
        fastconv.set_flush_denormal(False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
