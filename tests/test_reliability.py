"""Reliability: fork, long sums, bounded memory, size overflow, thread limits, denormals,
interrupts, misaligned and byte-swapped arrays, releasing memory."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastconv
from fastconv import _core
from fastconv import reference as R

from conftest import EMULATED, num_threads, time_limit


def run_py(code, timeout=120, **env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e, capture_output=True, text=True,
                          timeout=time_limit(timeout))


# ---- fork -------------------------------------------------------------------------------

def test_forked_children_compute_after_a_parallel_call():
    """libgomp's pool does not survive fork: a child of a process that ran a parallel call hung
    in its next one. The child starts a pool of its own, at the parent's thread count, and a
    child may set another count."""
    r = run_py("""
        import multiprocessing as mp, numpy as np, fastconv as fc
        fc.set_num_threads(2)
        x = np.ones((8, 56, 56, 96), np.float32); w = np.ones((2, 2, 96, 192), np.float32)
        want = float(fc.conv(x, w).sum())  # the parent runs a parallel call first
        def task(n):
            if n % 2: fc.set_num_threads(3)
            return float(fc.conv(x, w).sum()), fc.depthwise_conv(x, w[:, :, :, 0]).shape
        if __name__ == "__main__":
            with mp.get_context("fork").Pool(2) as p:
                got = p.map_async(task, range(4)).get(timeout=60)
            assert all(g == (want, (8, 28, 28, 96)) for g in got), (got, want)
            print("ok", len(got))
        """, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "ok 4"


# ---- long sums: numpy's accuracy, bounded memory -----------------------------------------

def _err(got, terms64):
    exact = float(np.sum(terms64.astype(np.longdouble)))
    return abs(float(got) - exact), float(np.sum(np.abs(terms64)))


LONG_SUMS = [
    # name, expression, operand builder (rng, dtype) -> operands, the summed products (float64)
    ("strided dot", "i,i->", lambda rng, dt: (rng.standard_normal(2 * 600_000).astype(dt)[::2],) * 2),
    ("contiguous dot", "i,i->", lambda rng, dt: (rng.standard_normal(700_001).astype(dt),) * 2),
    ("sum", "i->", lambda rng, dt: (rng.standard_normal(1_000_003).astype(dt),)),
    ("strided sum", "i->", lambda rng, dt: (rng.standard_normal(3 * 400_000).astype(dt)[::-3],)),
    ("2-d total", "ij->", lambda rng, dt: (rng.standard_normal((1000, 1003)).astype(dt),)),
    ("2-d strided dot", "ij,ij->", lambda rng, dt: (rng.standard_normal((1000, 1300)).astype(dt)[:, ::2],) * 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,expr,make", LONG_SUMS, ids=[c[0] for c in LONG_SUMS])
def test_long_sums_as_accurate_as_numpy(isa, dtype, name, expr, make):
    """A long sum is summed pairwise (chunks, then a cascade): its error is within numpy's own
    (np.einsum and np.sum on the same data) plus two ulps of sum |terms|. A float32 strided dot
    used to sum 2^25 products into one float32 lane (relative error 6.5e-2, numpy's 8e-7)."""
    rng = np.random.default_rng(5)
    ops = make(rng, dtype)
    terms = np.prod([o.astype(np.float64) for o in ops], axis=0).ravel()
    got = fastconv.einsum(expr, *ops)
    err, scale = _err(got, terms)
    numpy_err = max(_err(np.einsum(expr, *ops), terms)[0], _err(np.sum(terms.astype(dtype)), terms)[0])
    assert err <= 2 * numpy_err + 2 * np.finfo(dtype).eps * scale, (err, numpy_err, scale)


def test_sum_of_ones_is_exact(isa):
    x = np.ones(2**25 + 2**21, np.float32)[::2]  # more terms than a float32 lane can count
    assert fastconv.einsum("i,i->", x, x) == x.size
    assert fastconv.einsum("i->", x) == x.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_reductions_on_every_path(isa, dtype):
    """Column sums (the tap-reduce path's long mode: lanes along the output, thousands of taps),
    a matrix-vector product, row sums of a transposed view, a batched dot: each output within
    twice numpy's own error on it plus two ulps of its sum of |terms|."""
    rng = np.random.default_rng(9)
    a = rng.standard_normal((3000, 70)).astype(dtype)
    v = rng.standard_normal(3000).astype(dtype)
    b = rng.standard_normal((5, 4000)).astype(dtype)
    eps = np.finfo(dtype).eps
    for expr, ops in [("ij->j", (a,)), ("ij,i->j", (a, v)), ("ji->i", (a,)), ("ij,j->i", (a.T, v)),
                      ("bi,bi->b", (b, b)), ("ij,ij->j", (a, a)), ("ijk->k", (a.reshape(3, 1000, 70),))]:
        got = fastconv.einsum(expr, *ops)
        ops128 = [o.astype(np.longdouble) for o in ops]
        want = np.einsum(expr, *ops128)
        numpy_err = np.abs(np.einsum(expr, *ops) - want)
        bound = 2 * numpy_err + 2 * eps * np.einsum(expr, *map(np.abs, ops128)) + np.finfo(dtype).tiny
        assert got.dtype == dtype and got.shape == want.shape
        assert np.all(np.abs(got - want) <= bound), (expr, np.max(np.abs(got - want) / bound))


def test_long_sums_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3_000_000).astype(np.float32)
    y = rng.standard_normal((3, 1_000_000)).astype(np.float32)
    results = []
    for n in (1, 2, 3, 5):
        with num_threads(n):
            results.append((fastconv.einsum("i,i->", x, x), fastconv.einsum("ij->i", y).tobytes()))
    assert all(r == results[0] for r in results)


MEMORY = """
    import resource, numpy as np, fastconv as fc
    from numpy.lib.stride_tricks import as_strided
    def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    x = np.ones(2**26, np.float32)[::2]                            # 2^25 terms, strided
    v = as_strided(np.ones(1, np.float32), (2**27,), (0,))         # 2^27 terms, no memory
    xb = np.broadcast_to(np.ones((1, 1, 1, 64), np.float32), (8, 512, 512, 64))  # 512 MB if copied
    w = np.ones((2, 2, 64, 8), np.float32)
    xb64 = np.broadcast_to(np.ones((1, 1, 1, 64), np.float64), (8, 256, 512, 64))  # cast: 256 MB if copied
    fc.einsum("i,i->", x[:4096], x[:4096]); fc.conv(xb[:1, :4, :4], w)  # the first calls' own memory
    base = peak()
    assert fc.einsum("i,i->", x, x) == 2**25
    assert fc.einsum("i->", v) == 2**27
    assert fc.einsum("i,i->", v, v) == 2**27
    assert np.all(fc.conv(xb, w) == 256)
    assert np.all(fc.conv(xb64, w) == 256)
    assert np.all(fc.depthwise_conv(xb[:1], w[:, :, :, 0]) == 4)  # a 16 MiB output
    ones = np.ones(1, np.float32)
    ak, bk = as_strided(ones, (8, 2**22), (0, 0)), as_strided(ones, (2**22, 64), (0, 0))  # 1 GiB packed whole
    assert np.all(fc.einsum("ik,kj->ij", ak, bk) == 2**22)  # K slabs, each added into the output
    ag, bg = as_strided(ones, (1024, 8, 4096), (0, 0, 0)), as_strided(ones, (1024, 4096, 64), (0, 0, 0))
    assert np.all(fc.einsum("bik,bkj->bij", ag, bg) == 4096)  # slabs of groups
    print(round(peak() - base))
"""


def test_reductions_and_broadcasts_use_bounded_memory():
    """No per-term offset tables (they took +640 MB for the strided dot, +5 GB for a 2^28-term
    virtual sum), no copy of an input broadcast along its channels (+512 MB here), and a GEMM's B
    packed in slabs of at most 64 MiB (whole, 1 GiB here): the peak grows by the outputs (16 MiB
    each), a slab and scratch."""
    r = run_py(MEMORY, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.strip()) < (100 + 48 * EMULATED), r.stdout  # QEMU's scalar pass peaked 103


def test_index_space_overflow_is_a_value_error():
    """A 2^60-element virtual operand times a 16-element one sums 2^64 terms: that used to return
    0.0 at once (the product wrapped); every size product is checked."""
    big = np.lib.stride_tricks.as_strided(np.ones(1, np.float32), (2**30, 2**30), (0, 0))
    small = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="exceeds 2\\^63"):
        fastconv.einsum("ij,kl->", big, small)
    with pytest.raises(ValueError, match="exceeds 2\\^63"):
        _core.contract(big, "ij", small, "kl", np.empty((), np.float32), "")


# ---- threads ----------------------------------------------------------------------------

def test_thread_count_limits():
    top = fastconv.max_threads()
    assert top >= max(64, 4 * _core.hardware_threads())
    for bad in (top + 1, 50_000, 100_000, 2**31, 2**70):
        with pytest.raises(ValueError, match="max_threads"):
            fastconv.set_num_threads(bad)
    for bad in (True, np.bool_(False), 2.0, "4"):
        with pytest.raises(TypeError):
            fastconv.set_num_threads(bad)
    with num_threads(top):
        x = np.ones((2, 8, 8, 16), np.float32)
        assert np.all(fastconv.conv(x, np.ones((2, 2, 16, 4), np.float32)) == 64)


def test_omp_num_threads_is_capped():
    r = run_py("import fastconv; print(fastconv.get_num_threads(), fastconv.max_threads())", OMP_NUM_THREADS="100000")
    assert r.returncode == 0, r.stderr
    got, top = map(int, r.stdout.split())
    assert got == top


def test_thread_creation_failure_means_fewer_threads():
    """Under RLIMIT_AS a worker that cannot be created used to end the process ('libgomp:
    Thread creation failed'); now the call runs on the threads there are."""
    r = run_py("""
        import resource, numpy as np, fastconv as fc
        rng = np.random.default_rng(0)
        x = rng.standard_normal((4, 64, 64, 32)).astype(np.float32)
        w = rng.standard_normal((2, 2, 32, 64)).astype(np.float32)
        fc.set_num_threads(1)
        want = fc.conv(x, w)
        out = np.empty_like(want)
        vm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")][0] * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + (48 << 20), resource.RLIM_INFINITY))
        try:  # is the limit enforced? (QEMU's user mode accepts it and ignores it)
            import mmap; mmap.mmap(-1, 256 << 20).close(); print("unenforced"); raise SystemExit
        except OSError:
            pass
        fc.set_num_threads(fc.max_threads())
        for _ in range(3):
            fc.conv(x, w, out=out)
            assert np.array_equal(out, want) or np.allclose(out, want, rtol=1e-5, atol=1e-4)
        print("ok", 0 < fc._core.pool_workers() < fc.max_threads() - 1)
        """)
    assert r.returncode == 0, r.stderr[-2000:]
    if r.stdout.strip() == "unenforced":
        pytest.skip("RLIMIT_AS is not enforced here (a 256 MiB mapping under a 48 MiB margin succeeded)")
    assert r.stdout.strip() == "ok True"


# ---- denormals ----------------------------------------------------------------------------

def test_denormals_are_ieee_by_default_and_flushed_on_request(isa):
    """The GEMM path flushed denormals (1e-40 * 16 gave 0.0; numpy 1.6e-39); now every path keeps
    them, and set_flush_denormal(True) flushes them on every path."""
    x = np.full((2, 4, 4, 16), 1e-40, np.float32)
    w = np.ones((16, 8), np.float32)
    wd = np.ones((2, 2, 16), np.float32)
    want = np.einsum("bhwc,cC->bhwC", x.astype(np.float64), w).astype(np.float32)
    assert want[0, 0, 0, 0] > 0
    assert fastconv.get_flush_denormal() is False
    np.testing.assert_array_equal(fastconv.pointwise_conv(x, w), want)
    np.testing.assert_array_equal(fastconv.depthwise_conv(x, wd), R.depthwise_conv(x, wd))
    assert R.depthwise_conv(x, wd).all()
    assert fastconv.set_flush_denormal(True) is True
    try:
        assert fastconv.get_flush_denormal() is True
        assert not fastconv.pointwise_conv(x, w).any()
        assert not fastconv.depthwise_conv(x, wd).any()
        assert not fastconv.einsum("i->", x.ravel()[:4000])
    finally:
        fastconv.set_flush_denormal(False)
    np.testing.assert_array_equal(fastconv.pointwise_conv(x, w), want)
    with pytest.raises(TypeError):
        fastconv.set_flush_denormal("yes")


# ---- interrupts ----------------------------------------------------------------------------

INTERRUPT = """
    import os, signal, threading, time, numpy as np, fastconv as fc
    from numpy.lib.stride_tricks import as_strided
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Python skips it where SIGINT came ignored (a background job)
    v = as_strided(np.ones(1, np.float32), (2**36,), (0,))      # a minute of work
    a = as_strided(np.ones(1, np.float32), (64, 2**32), (0, 0))  # 2^45 multiply-adds
    b = as_strided(np.ones(1, np.float32), (2**32, 64), (0, 0))
    outs = {"dot": np.zeros((), np.float32), "gemm": np.zeros((64, 64), np.float32)}
    calls = {"dot": lambda out: fc.einsum("i,i->", v, v, out=out),
             "gemm": lambda out: fc.einsum("ik,kj->ij", a, b, out=out)}
    for name, call in calls.items():
        sent = []
        def interrupt():
            time.sleep(0.5)
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt).start()
        try:
            call(outs[name])
            print(name, "not interrupted")
        except KeyboardInterrupt:
            print(name, round(time.perf_counter() - sent[0], 2), bool(np.isnan(outs[name]).all()))
"""


def test_ctrl_c_stops_a_long_call():
    """A SIGINT during a long call is acted on between blocks of work (the call's thread polls
    for it every 50 ms): KeyboardInterrupt within a fraction of a second (times the time scale:
    under emulation a block of work, a B slab's packing say, takes that much longer), and out=
    holds NaN, not a partial result."""
    r = run_py(INTERRUPT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in r.stdout.strip().splitlines())
    for name in ("dot", "gemm"):
        delay, nan = lines[name].split()
        assert float(delay) < time_limit(1.0) and nan == "True", r.stdout


# ---- misaligned, byte-swapped and bad arguments ----------------------------------------------

def misaligned(a):
    """The same values in a C-contiguous array whose data is not aligned to its itemsize."""
    buf = np.empty(a.nbytes + a.itemsize, np.uint8)
    out = np.frombuffer(buf.data, a.dtype, a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


OPS = [
    ("conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((2, 3, 8, 5))), {}),
    ("pointwise_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((8, 5))), {}),
    ("pointwise_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal(8)), {}),
    ("depthwise_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((2, 2, 8))), {}),
    ("channel_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((2, 2, 4))), {}),
    ("grouped_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((2, 2, 2, 4, 3))), {"shuffle": True}),
    ("pointwise_grouped_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((2, 4, 3))), {}),
    ("channel_shuffle", lambda r: (r.standard_normal((2, 4, 6, 8)),), {"groups": 4}),
    ("depthwise_separable_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((2, 2, 8)),
                                             r.standard_normal((8, 5))), {}),
    ("spatially_separable_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((2, 8, 5)),
                                             r.standard_normal((3, 8, 5))), {"strategy": "fused-staged"}),
    ("flattened_conv", lambda r: (r.standard_normal((2, 4, 6, 8)), r.standard_normal((8, 5)),
                                   r.standard_normal((2, 5)), r.standard_normal((3, 5))), {"strategy": "fused-staged"}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,make,kw", OPS, ids=[f"{o[0]}{i}" for i, o in enumerate(OPS)])
def test_misaligned_and_byteswapped_arrays(isa, dtype, name, make, kw):
    """Misaligned inputs and out= (UBSan flagged the kernels' loads and stores) and big-endian
    inputs (a TypeError before) give the aligned, native result."""
    rng = np.random.default_rng(2)
    args = [a.astype(dtype) for a in make(rng)]
    fn, ref = getattr(fastconv, name), getattr(R, name)
    rkw = {k: v for k, v in kw.items() if k != "strategy"}
    want = fn(*args, **kw)
    np.testing.assert_allclose(want, ref(*[a.astype(np.float64) for a in args], **rkw),
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4 if dtype == np.float32 else 1e-10)
    out = misaligned(np.full_like(want, np.nan))
    assert fn(*map(misaligned, args), out=out, **kw) is out
    np.testing.assert_array_equal(out, want)
    swapped = [a.astype(a.dtype.newbyteorder(">")) for a in args]
    got = fn(*swapped, **kw)
    assert got.dtype == dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, want)


def test_bad_flags_and_groups():
    x = np.ones((1, 2, 2, 4), np.float32)
    w = np.ones((1, 1, 2, 2, 2), np.float32)
    for bad in (np.array([1, 0]), "no", 1, None):
        with pytest.raises(TypeError, match="'shuffle' must be a bool"):
            fastconv.grouped_conv(x, w, shuffle=bad)
        with pytest.raises(TypeError, match="'shuffle' must be a bool"):
            fastconv.pointwise_grouped_conv(x, w[0, 0], shuffle=bad)
    np.testing.assert_array_equal(fastconv.grouped_conv(x, w, shuffle=np.bool_(True)),
                                  fastconv.grouped_conv(x, w, shuffle=True))
    empty = np.ones((2, 3, 3, 0), np.float32)
    for g in (1, 10**9, 2**62):
        assert fastconv.channel_shuffle(empty, g).shape == empty.shape
    with pytest.raises(ValueError, match="must be divisible by groups"):
        fastconv.channel_shuffle(np.ones((1, 2, 2, 4), np.float32), 8)


def test_set_isa_rejects_nul_bytes():
    prev = fastconv.isa()
    for bad in ("avx2\x00junk", "scalar\x00", "\x00"):
        with pytest.raises(ValueError, match="unknown ISA level") as e:
            fastconv.set_isa(bad)
        assert repr(bad) in str(e.value)
    assert fastconv.isa() == prev


def test_core_refuses_dtypes_it_cannot_fill():
    """Uninitialised object arrays were handed out (reading them segfaulted)."""
    for dt in (np.dtype(object), np.dtype("V8"), np.dtype(np.int32), np.dtype([("a", "O")])):
        with pytest.raises(TypeError, match="float32 or float64"):
            _core.aligned_empty([4], dt)
    a = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError):
        _core.contract(a.astype(object), "ij", a, "ij", np.empty(2, np.float32), "i")
    with pytest.raises(TypeError):
        _core.contract(a, "ij", a, "ij", np.empty(2, object), "i")


# ---- memory held between calls -------------------------------------------------------------

def test_release_memory():
    x = np.ones((8, 32, 32, 64), np.float32)
    w = np.ones((2, 2, 64, 512), np.float32)
    y = fastconv.conv(x, w)  # 4 MiB output, kept once freed; packed weights kept on this thread
    del y
    assert _core.block_cache()["sizes"] and _core.scratch_bytes() > 0
    freed = fastconv.release_memory()
    assert freed >= 4 << 20
    assert _core.block_cache()["sizes"] == [] and _core.scratch_bytes() == 0
    assert fastconv.release_memory() == 0
    np.testing.assert_array_equal(fastconv.conv(x, w), np.full((8, 16, 16, 512), 256, np.float32))
