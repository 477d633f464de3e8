import contextlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import fastconv
from fastconv import _core

ISAS = _core.supported_isas()

# The time limits of the tests' subprocesses (they catch hangs), scaled where the same work
# runs several times slower: .ci/aarch64 sets FASTCONV_TEST_TIME_SCALE under QEMU.
TIME_SCALE = float(os.environ.get("FASTCONV_TEST_TIME_SCALE", "1"))


def time_limit(seconds):
    return seconds * TIME_SCALE


# Under QEMU (.ci/aarch64) a process's peak RSS includes the emulator's own memory (its
# translation buffers): the memory bounds allow for it.
EMULATED = bool(os.environ.get("FASTCONV_TEST_EMULATED"))


def pytest_report_header(config):
    """Which fastconv runs: the tests import the installed package (or the build on sys.path),
    never python/ by path; .ci/wheel-check relies on this to test the wheel as installed."""
    return f"fastconv {fastconv.__version__} from {os.path.dirname(fastconv.__file__)}, ISA {fastconv.isa()} of {ISAS}"


# CI runs a fixed, reproducible set of examples; local runs draw new ones (they found
# two real bugs in this project) and remember failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def engine_for_every_einsum_step(monkeypatch):
    """fastconv.einsum sends tiny steps to numpy.einsum; the tests want the engine on every step."""
    monkeypatch.setattr("fastconv._einsum.SMALL_STEP", 0)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "every_level: the test runs every ISA level's kernels itself, whatever the default level")


def _sweeps_levels(item):
    return "isa" in getattr(item, "fixturenames", ()) or item.get_closest_marker("every_level") is not None


def pytest_collection_modifyitems(config, items):
    """FASTCONV_TEST_DEFAULT_LEVEL_ONLY=1 (.ci/aarch64's second pass, with FASTCONV_ISA
    forcing the default level): only the tests that run at the default level. Those taking
    the `isa` fixture (it forces each level) or marked every_level (the kernel testers call
    every table directly) ran exactly alike in the first pass."""
    if os.environ.get("FASTCONV_TEST_DEFAULT_LEVEL_ONLY") != "1":
        return
    keep, swept = [], []
    for item in items:
        (swept if _sweeps_levels(item) else keep).append(item)
    if swept:
        config.hook.pytest_deselected(items=swept)
        items[:] = keep


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs the test once per SIMD level this CPU supports (forced), restoring the level after."""
    prev = fastconv.set_isa(request.param)
    yield request.param
    fastconv.set_isa(prev)


@contextlib.contextmanager
def num_threads(n):
    """fastconv runs with n threads inside, and follows OpenMP again after (the default)."""
    fastconv.set_num_threads(n)
    try:
        yield
    finally:
        fastconv.set_num_threads(None)


def tolerance(dtype, nterms, absref):
    """Error bound for a sum of nterms products: a few ulps times sqrt(nterms) times sum |x||w|."""
    eps = np.finfo(dtype).eps
    return 16 * eps * np.sqrt(max(nterms, 1)) * absref + np.finfo(dtype).tiny


def assert_close(got, ref, absref, nterms):
    ref = np.asarray(ref)
    assert got.shape == ref.shape
    tol = tolerance(got.dtype, nterms, np.asarray(absref, np.float64))
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bad = ~(err <= tol)
    assert not bad.any(), f"max error {err[bad].max()} at {np.argwhere(bad)[:3].tolist()}"


def assert_matmul_close(got, a, b):
    """got against a @ b in float64, to the tolerance of its dtype over a's columns."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert_close(got, a64 @ b64, np.abs(a64) @ np.abs(b64), a64.shape[-1])


DTYPES = [np.float32, np.float64]
LAYOUTS = ["contiguous", "strided", "negative", "channels_strided", "transposed", "readonly"]


def layout(x, kind, rng):
    """The same values as x, laid out differently in memory."""
    if kind == "strided":  # a slice of a larger array: every axis strided
        big = np.zeros(tuple(2 * s for s in x.shape), x.dtype)
        v = big[tuple(slice(None, None, 2) for _ in x.shape)]
        v[...] = x
        return v
    if kind == "negative":  # negative strides on every axis
        big = np.ascontiguousarray(x[tuple(slice(None, None, -1) for _ in x.shape)])
        return big[tuple(slice(None, None, -1) for _ in x.shape)]
    if kind == "channels_strided":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if kind == "transposed":  # channels-first memory seen channels-last
        order = tuple(rng.permutation(x.ndim))
        return np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))
    if kind == "readonly":
        x = x.copy()
        x.flags.writeable = False
        return x
    return x


@st.composite
def images(draw, max_c=67):
    n = draw(st.integers(1, 3))
    K = tuple(draw(st.integers(1, 5)) for _ in range(n))
    P = tuple(draw(st.integers(1, 3)) for _ in range(n))
    b = draw(st.integers(0, 3))
    c = draw(st.integers(1, max_c))
    return (b, *(p * k for p, k in zip(P, K)), c), K


def case(draw):
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(LAYOUTS))
    seed = draw(st.integers(0, 2**32 - 1))
    return dtype, kind, np.random.default_rng(seed)


def check(fn, ref_fn, x, w, nterms, **kw):
    """fn(x, *w) against ref_fn in float64, with an error bound from ref_fn(|x|, *|w|); and out=.
    w: one weight array or a tuple of them."""
    ws = w if isinstance(w, tuple) else (w,)
    got = fn(x, *ws, **kw)
    x64, w64 = x.astype(np.float64), [a.astype(np.float64) for a in ws]
    ref = ref_fn(x64, *w64, **kw)
    absref = ref_fn(np.abs(x64), *map(np.abs, w64), **kw)
    assert got.dtype == np.result_type(x, *ws)
    assert got.flags.c_contiguous
    assert_close(got, ref, absref, nterms)
    # out= gives the same values, in place
    out = np.full_like(got, np.nan)
    assert fn(x, *ws, out=out, **kw) is out
    np.testing.assert_array_equal(out, got)


# The isa fixture only selects the SIMD level; it holds no state between examples.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
