"""pytest-benchmark groups for the SPEC §4 workloads: fastconv beside its baselines.

    pip install ".[bench]"   # torch optional: pip install torch==2.13.0
    python -m pytest bench/ --benchmark-group-by=group --benchmark-columns=median,ops

Each group is one workload with fastconv, numpy.einsum (optimize False and True),
opt_einsum and PyTorch when installed; extra_info holds GB/s and GFLOP/s.
"""
import time

import numpy as np
import pytest

import fastconv
from fastconv._workloads import available

BASE = ["fastconv", "fc.einsum", "einsum", "einsum(opt)", "opt_einsum"]


def cases():
    for w in available():
        for impl in BASE + list(w.torch_peers()):
            yield pytest.param(w, impl, id=f"{w.name}-{impl}")


def make(w, impl, inputs):
    if impl == "fastconv":
        return w.fastconv(*inputs)
    if impl == "fc.einsum":
        return w.fastconv_einsum(*inputs)
    if impl == "einsum":
        return w.einsum(*inputs, optimize=False)
    if impl == "einsum(opt)":
        return w.einsum(*inputs, optimize=True)
    if impl == "opt_einsum":
        pytest.importorskip("opt_einsum")
        return w.opt_einsum(*inputs)
    torch = pytest.importorskip("torch")
    return w.torch_peers()[impl](torch, *inputs)


@pytest.mark.parametrize("w,impl", list(cases()))
def test_workload(benchmark, w, impl):
    inputs = w.inputs(np.float32)
    fn = make(w, impl, inputs)
    benchmark.group = w.name
    time.sleep(0.2)  # let other libraries' spinning worker threads go idle
    fn()
    benchmark(fn)
    if benchmark.stats is None:  # --benchmark-disable: each case ran once, as a smoke test
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info["GB/s"] = round(w.nbytes() / median / 1e9, 2)
    benchmark.extra_info["GFLOP/s"] = round(w.flops / median / 1e9, 2)


def group_convs():
    for w in available():
        if w.op in ("grouped_conv", "pointwise_grouped_conv") and not w.bias:
            for shuffle in (False, True):
                yield pytest.param(w, shuffle, id=f"{w.name}-shuffle={shuffle}")


@pytest.mark.parametrize("w,shuffle", list(group_convs()))
def test_shuffle_cost(benchmark, w, shuffle):
    """The group convs with and without the ShuffleNet channel order, side by side: the
    shuffle is written by the GEMM's zip kernel and should cost nothing. (Paired blocks in
    one process, which see through this machine's noise better: bench/shuffle_cost.py.)"""
    x, wt = w.inputs(np.float32)
    fn = getattr(fastconv, w.op)
    benchmark.group = f"shuffle: {w.name}"
    fn(x, wt, shuffle=shuffle)
    benchmark(fn, x, wt, shuffle=shuffle)
