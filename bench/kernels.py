"""Every microkernel of the registry timed in cache: GEMM tiles in GFLOP/s (runs of 8
tiles over a KC panel of packed B, in L1/L2), the memory-bound kernels in GB/s of
the bytes they read and write (data in L2). Every table this CPU runs, and the emulated
AVX-512 one (plain C++ lanes: a check of the shared code, not a speed).

    python bench/kernels.py [--seconds 0.3] [--only SUBSTRING]
"""
from __future__ import annotations

import argparse

import fastconv
from fastconv import _kernel_tests


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/kernels.py")
    ap.add_argument("--seconds", type=float, default=0.3, help="timed seconds per kernel entry")
    ap.add_argument("--only", default="", help="entries whose name contains this")
    args = ap.parse_args(argv)
    print(f"fastconv {fastconv.__version__}  dispatched isa={fastconv.isa()}  one thread, in cache")
    for k in _kernel_tests.kernels():
        if args.only not in k["name"]:
            continue
        r = _kernel_tests.bench(k["name"], args.seconds)
        if k["family"] == "gemm":
            print(f"{k['name']:<36} KC={k['kc']:<5} {r['gflops']:8.1f} GFLOP/s")
        else:
            print(f"{k['name']:<36} tapreduce {r['tapreduce_gbps']:7.1f}  dot {r['dot_gbps']:7.1f}  "
                  f"zip {r['zip_gbps']:7.1f} GB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
