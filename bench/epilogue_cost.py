"""The epilogue's cost: each workload with a bias (the issue 18 workloads) bare and with its
bias + activation, in alternating blocks in one process (8 pairs), median ratio.

    python bench/epilogue_cost.py THREADS BATCH
"""
import statistics
import sys
import time

import fastconv as fc
from fastconv._workloads import available
fc.set_num_threads(int(sys.argv[1])); batch = int(sys.argv[2])
def block(f, s=0.25):
    time.sleep(0.05); t0 = time.perf_counter(); n = 0
    while time.perf_counter() - t0 < s: f(); n += 1
    return (time.perf_counter() - t0) / n
for w in available():
    if not w.bias: continue
    w = w.at_batch(batch)
    *args, b = w.inputs()
    op = getattr(fc, w.op)
    kw = dict(w.kwargs); act = kw.pop("activation", None)
    bare = lambda: op(*args, **kw)
    epi = lambda: op(*args, bias=b, activation=act, **kw)
    bare(); epi()
    r = []
    for i in range(8):
        a, e = (block(bare), block(epi)) if i % 2 == 0 else tuple(reversed((block(epi), block(bare))))
        r.append(e / a)
    print(f"{w.name:22s} batch {batch} threads {sys.argv[1]}: with bias+{act}/bare median {statistics.median(r):.3f} "
          f"(min {min(r):.3f}, max {max(r):.3f}, 8 pairs)", flush=True)
