"""pytest-benchmark groups for the SPEC §4 workloads: fastconv beside its baselines.

    pip install ".[bench]"   # torch optional: pip install torch==2.13.0
    python -m pytest bench/ --benchmark-group-by=group --benchmark-columns=median,ops

Each group is one workload with fastconv, numpy.einsum (optimize False and True),
opt_einsum and PyTorch when installed; extra_info holds GB/s and GFLOP/s.
"""
import time

import numpy as np
import pytest

from fastconv._workloads import available

IMPLS = ["fastconv", "einsum", "einsum(opt)", "opt_einsum", "torch"]


def make(w, impl, inputs):
    if impl == "fastconv":
        return w.fastconv(*inputs)
    if impl == "einsum":
        return w.einsum(*inputs, optimize=False)
    if impl == "einsum(opt)":
        return w.einsum(*inputs, optimize=True)
    if impl == "opt_einsum":
        pytest.importorskip("opt_einsum")
        return w.opt_einsum(*inputs)
    torch = pytest.importorskip("torch")
    if w.torch is None:
        pytest.skip(f"no torch formulation of {w.name}")
    return w.torch(torch, *inputs)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("w", available(), ids=lambda w: w.name)
def test_workload(benchmark, w, impl):
    inputs = w.inputs(np.float32)
    fn = make(w, impl, inputs)
    benchmark.group = w.name
    time.sleep(0.2)  # let other libraries' spinning worker threads go idle
    fn()
    benchmark(fn)
    median = benchmark.stats.stats.median
    benchmark.extra_info["GB/s"] = round(w.nbytes() / median / 1e9, 2)
    benchmark.extra_info["GFLOP/s"] = round(w.flops / median / 1e9, 2)
