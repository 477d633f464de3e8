"""Thread scaling of fastconv against PyTorch, one short script.

    python bench/scaling.py --threads 1 2 4 8 16 [--only NAME ...] [--budget S]

For each thread count: the machine's peaks at that count (numpy.matmul 4096^2
float32 GFLOP/s, np.copyto GB/s for each workload's bytes), then every workload
with fastconv and each of its torch formulations, medians. Prints one table:
ms, % of peak, and torch's fastest time / fastconv's (> 1: fastconv faster).
"""
from __future__ import annotations

import argparse

import fastconv
from fastconv._bench import _threads_ctx, copyto_gbps, matmul_gflops, median_ms
from fastconv._workloads import available


def measure(threads: int, names, budget_s: float, torch) -> list[dict]:
    rows = []
    workloads = [w for w in available() if not names or w.name in names]
    with _threads_ctx(threads):
        fastconv.set_num_threads(threads)
        torch.set_num_threads(threads)
        peak = matmul_gflops(budget_s)
        for w in workloads:
            inputs = w.inputs()
            fc_ms = median_ms(w.fastconv(*inputs), budget_s)
            peers = {name: median_ms(make(torch, *inputs), budget_s) for name, make in w.torch_peers().items()}
            best = min(peers, key=peers.get) if peers else None
            if w.kind == "memory":
                bw = copyto_gbps(w.nbytes(), budget_s)
                pct = 100 * w.nbytes() / (fc_ms * 1e6) / bw
            else:
                pct = 100 * w.flops / (fc_ms * 1e6) / peak
            rows.append(dict(workload=w.name, threads=threads, fc_ms=fc_ms, pct=pct, kind=w.kind, peak=peak,
                             torch=best, torch_ms=peers.get(best)))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--budget", type=float, default=0.3)
    args = ap.parse_args(argv)
    import torch

    print(f"fastconv {fastconv.__version__} isa={fastconv.isa()} torch {torch.__version__}")
    rows = [r for t in args.threads for r in measure(t, args.only, args.budget, torch)]
    print(f"{'workload':<24}{'thr':>4}{'fastconv ms':>12}{'% peak':>8}{'torch ms':>10}{'torch/fc':>9}  peer")
    for r in sorted(rows, key=lambda r: (r["workload"], r["threads"])):
        t = f"{r['torch_ms']:>10.3f}{r['torch_ms'] / r['fc_ms']:>8.2f}x  {r['torch']}" if r["torch"] else ""
        print(f"{r['workload']:<24}{r['threads']:>4}{r['fc_ms']:>12.3f}{r['pct']:>7.0f}%{t}")
    for t in args.threads:
        print(f"threads={t}: numpy.matmul 4096^2 {next(r['peak'] for r in rows if r['threads'] == t):.0f} GFLOP/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
