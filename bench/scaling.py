"""Thread scaling of fastconv against PyTorch, one short script.

    python bench/scaling.py --threads 1 2 4 8 16 [--only NAME ...] [--budget S]

For each thread count, every workload in rounds (as ``python -m fastconv bench``):
each round times the machine's peak at that count (numpy.matmul 4096^2 float32
GFLOP/s, or np.copyto GB/s for the workload's bytes), then one block of fastconv
and one of each torch formulation. Prints one table: medians over rounds of ms,
% of the same round's peak, and torch's fastest time / fastconv's in the same
round (> 1: fastconv faster), with the rounds fastconv won.
"""
from __future__ import annotations

import argparse
import statistics

import fastconv
from fastconv._bench import _threads_ctx, copyto_gbps, matmul_gflops, median_ms
from fastconv._workloads import select


def measure(threads: int, names, budget_s: float, rounds: int, torch) -> list[dict]:
    rows = []
    block_s = budget_s / rounds
    with _threads_ctx(threads):
        fastconv.set_num_threads(threads)
        torch.set_num_threads(threads)
        for w in select(names):
            inputs = w.inputs()
            fc, peers = w.fastconv(*inputs), [make(torch, *inputs) for make in w.torch_peers().values()]
            fc_ms, torch_ms, pct, peaks = [], [], [], []
            work = w.nbytes() if w.kind == "memory" else w.flops  # against GB/s or GFLOP/s
            for _ in range(rounds):  # each round: the peak, then fastconv, then torch
                if w.kind == "memory":
                    peak = copyto_gbps(work, block_s)
                else:
                    peak = matmul_gflops(block_s, min_reps=2)
                    peaks.append(peak)
                fc_ms.append(median_ms(fc, block_s))
                pct.append(100 * work / (fc_ms[-1] * 1e6) / peak)
                if peers:
                    torch_ms.append(min(median_ms(p, block_s) for p in peers))
            rows.append(dict(workload=w.name, threads=threads, fc_ms=statistics.median(fc_ms),
                             pct=statistics.median(pct), peak=statistics.median(peaks) if peaks else None,
                             rounds=rounds, torch_ms=statistics.median(torch_ms) if peers else None,
                             ratio=statistics.median([t / f for t, f in zip(torch_ms, fc_ms)]) if peers else None,
                             won=sum(f < t for t, f in zip(torch_ms, fc_ms))))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--budget", type=float, default=0.6, help="seconds per implementation, over all rounds")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        select(args.only)
    except ValueError as e:
        ap.error(str(e))
    import torch

    print(f"fastconv {fastconv.__version__} isa={fastconv.isa()} torch {torch.__version__}")
    rounds = max(1, args.rounds)
    rows = [r for t in args.threads for r in measure(t, args.only, args.budget, rounds, torch)]
    print(f"{'workload':<24}{'thr':>4}{'fastconv ms':>12}{'% peak':>8}{'torch ms':>10}{'torch/fc':>9}{'won':>6}")
    for r in sorted(rows, key=lambda r: (r["workload"], r["threads"])):
        t = f"{r['torch_ms']:>10.3f}{r['ratio']:>8.2f}x{r['won']:>4}/{r['rounds']}" if r["torch_ms"] else ""
        print(f"{r['workload']:<24}{r['threads']:>4}{r['fc_ms']:>12.3f}{r['pct']:>7.0f}%{t}")
    for t in args.threads:
        peaks = [r["peak"] for r in rows if r["threads"] == t and r["peak"]]
        if peaks:
            print(f"threads={t}: numpy.matmul 4096^2 {min(peaks):.0f}-{max(peaks):.0f} GFLOP/s (workload medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
