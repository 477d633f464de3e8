"""Strided, padded, dilated convolutions with bias and fused activations, against PyTorch
(float64, the same values) and fastconv.reference, on every ISA this CPU has."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv as fc
from fastconv import _core
from fastconv import reference as R

from conftest import ISAS, layout, tolerance

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")
F = torch.nn.functional

ACTS = [None, "relu", "relu6", "silu", "gelu"]


def act64(y, a):
    """The activation in float64 (the oracle's)."""
    if a is None:
        return y
    if a == "relu":
        return np.maximum(y, 0)
    if a == "relu6":
        return np.clip(y, 0, 6)
    if a == "silu":
        return y / (1 + np.exp(-y))
    return 0.5 * y * (1 + np.vectorize(math.erf, otypes=[np.float64])(y / math.sqrt(2)))


def torch_conv(x, w, groups, stride, pads, dilation, bias):
    """torch.nn.functional.conv{1,2,3}d on the channels-last x (b, *S, c) and torch's
    weight layout (C, c // groups, *K), in float64; pads (lo, hi) per axis or "same"."""
    n = x.ndim - 2
    xt = torch.from_numpy(np.moveaxis(np.asarray(x, np.float64), -1, 1).copy())
    if pads != "same":
        flat = [p for lo_hi in reversed(pads) for p in lo_hi]  # F.pad: last axis first
        xt = F.pad(xt, flat)
    conv = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    bt = None if bias is None else torch.from_numpy(np.asarray(bias, np.float64))
    y = conv(xt, torch.from_numpy(np.asarray(w, np.float64)), bt, stride=stride,
             padding="same" if pads == "same" else 0, dilation=dilation, groups=groups)
    return np.moveaxis(y.numpy(), 1, -1)


def on_every_isa(call):
    """call()'s result on each SIMD level this CPU supports (forced), the level restored after."""
    for isa in ISAS:
        prev = fc.set_isa(isa)
        try:
            yield call()
        finally:
            fc.set_isa(prev)


def check(got, ref, absref, nterms, act):
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tol = tolerance(got.dtype, nterms, absref) * 1.2
    if act in ("silu", "gelu"):  # the vector exp/erf: a few ulps of the value
        tol = tol + 64 * np.finfo(got.dtype).eps * (np.abs(ref) + 1)
    err = np.abs(got.astype(np.float64) - ref)
    bad = ~(err <= tol)
    assert not bad.any(), f"max error {err[bad].max()} (tol {np.broadcast_to(tol, err.shape)[bad].max()})"


@st.composite
def geometry(draw, max_rank=3):
    """(n, kernel, stride, dilation, padding as passed, (lo, hi) pairs or 'same', input sizes)."""
    n = draw(st.integers(1, max_rank))
    big = {1: 7, 2: 5, 3: 3}[n]
    K = tuple(draw(st.integers(1, big)) for _ in range(n))
    D = tuple(draw(st.integers(1, 3)) for _ in range(n))
    form = draw(st.sampled_from(["int", "per_axis", "pairs", "valid", "same", "none"]))
    S_ = tuple(draw(st.integers(1, 3 if n == 3 else 6)) for _ in range(n))
    if form == "same":
        strides = 1
        pads = "same"
        padding = "same"
    else:
        strides = draw(st.one_of(st.integers(1, 3), st.tuples(*[st.integers(1, 3)] * n)))
        if form == "int":
            p = draw(st.integers(0, 3))
            padding, pads = p, ((p, p),) * n
        elif form == "per_axis":
            ps = tuple(draw(st.integers(0, 3)) for _ in range(n))
            padding, pads = ps, tuple((p, p) for p in ps)
        elif form == "pairs":
            pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(n))
            padding = pads
        else:
            padding = "valid" if form == "valid" else 0
            pads = ((0, 0),) * n
    stride_t = (strides,) * n if isinstance(strides, int) else strides
    # input sizes: at least the window (after padding)
    lo_hi = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(K, D)] if pads == "same" else pads
    sizes = tuple(max(s, d * (k - 1) + 1 - lo - hi) + draw(st.integers(0, 2 * st_))
                  for s, k, d, (lo, hi), st_ in zip(S_, K, D, lo_hi, stride_t))
    return n, K, strides, D, padding, pads, sizes


common = settings(max_examples=40, deadline=None)
acts = st.sampled_from(ACTS)
dtypes = st.sampled_from([np.float32, np.float64])
layouts = st.sampled_from(["contiguous", "strided", "negative"])


def operands(seed, shapes, dt, kind):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s).astype(dt) for s in shapes]
    arrs[0] = layout(arrs[0], kind, rng)
    return arrs


@common
@given(geometry(), st.integers(1, 9), st.integers(1, 9), st.integers(0, 2), dtypes, acts, st.booleans(), layouts,
       st.integers(0, 2**31))
def test_conv_against_torch(g, c, C, b, dt, act, with_bias, kind, seed):
    n, K, stride, D, padding, pads, S = g
    x, w, bias = operands(seed, [(b, *S, c), (*K, c, C), (C,)], dt, kind)
    ref = torch_conv(x, np.moveaxis(w, (-2, -1), (1, 0)), 1, stride, pads, D, bias if with_bias else None)
    absref = torch_conv(np.abs(x), np.moveaxis(np.abs(w), (-2, -1), (1, 0)), 1, stride, pads, D,
                        np.abs(bias) if with_bias else None)
    kw = dict(stride=stride, padding=padding, dilation=D, bias=bias if with_bias else None, activation=act)
    for got in on_every_isa(lambda: fc.conv(x, w, **kw)):
        check(got, act64(ref, act), absref, math.prod(K) * c, act)


@common
@given(geometry(), st.integers(1, 19), st.integers(0, 2), dtypes, acts, st.booleans(), layouts, st.integers(0, 2**31))
def test_depthwise_against_torch(g, c, b, dt, act, with_bias, kind, seed):
    n, K, stride, D, padding, pads, S = g
    x, w, bias = operands(seed, [(b, *S, c), (*K, c), (c,)], dt, kind)
    tw = lambda a: np.moveaxis(a, -1, 0)[:, None]
    ref = torch_conv(x, tw(w), c, stride, pads, D, bias if with_bias else None)
    absref = torch_conv(np.abs(x), tw(np.abs(w)), c, stride, pads, D, np.abs(bias) if with_bias else None)
    kw = dict(stride=stride, padding=padding, dilation=D, bias=bias if with_bias else None, activation=act)
    for got in on_every_isa(lambda: fc.depthwise_conv(x, w, **kw)):
        check(got, act64(ref, act), absref, math.prod(K), act)


@pytest.mark.parametrize("S, K, stride, padding, dilation, c", [
    ((150, 150), (3, 3), 1, 1, 1, 96),        # staged lines (9 taps a pixel of x)
    ((150, 150), (3, 3), 2, 1, 1, 96),        # in place, stride 2: two new lines a row
    ((150, 150), (5, 5), 3, (2, 1), 1, 96),   # stride past the kernel's overlap: every line new
    ((150, 150), (3, 3), 1, 2, 2, 96),        # dilated: nothing fetched ahead
    ((10, 100, 100), (3, 3, 3), 2, 1, 1, 24),  # 3-D
])
def test_depthwise_large_input_against_torch(S, K, stride, padding, dilation, c):
    """Inputs of 8 MiB and more, where the padded depthwise path fetches each row's next
    lines ahead: the same sums, with x aligned and misaligned (staged or read in place),
    through a negative stride, on every ISA."""
    rng = np.random.default_rng(5)
    shape = (1, *S, c)
    size = math.prod(shape)
    assert size * 4 >= 8 << 20
    buf = rng.standard_normal(size + 16).astype(np.float32)
    skip = (-buf.ctypes.data % 64) // 4
    aligned = buf[skip:skip + size].reshape(shape)
    misaligned = buf[skip + 1:skip + 1 + size].reshape(shape)
    w = rng.standard_normal((*K, c)).astype(np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    geo = fc._window.geometry("test", aligned, K, "w", stride, padding, dilation)
    tw = lambda a: np.moveaxis(a, -1, 0)[:, None]
    for x in (aligned, misaligned, misaligned[:, ::-1]):
        ref = torch_conv(x, tw(w), c, stride, geo.pads, dilation, bias)
        absref = torch_conv(np.abs(x), tw(np.abs(w)), c, stride, geo.pads, dilation, np.abs(bias))
        for got in on_every_isa(lambda: fc.depthwise_conv(x, w, stride=stride, padding=padding,
                                                           dilation=dilation, bias=bias, activation="relu")):
            check(got, act64(ref, "relu"), absref, math.prod(K), "relu")


@pytest.mark.parametrize("S, K, stride, padding, dilation", [
    ((23, 29), (7, 7), 1, 3, 1),        # ConvNeXt's: the sliding rows of 7, cut windows at every border
    ((19, 26), (5, 5), 1, 2, 1),        # EfficientNet's
    ((25, 21), (3, 3), 2, 1, 1),        # MobileNet's stride 2
    ((12, 30), (3, 5), 1, (6, 2), 1),   # rows and pixels whose windows lie wholly in the padding
    ((17, 22), (3, 3), 1, 4, (3, 2)),   # dilated, cut along both axes
    ((40,), (7,), 1, ((3, 9),), 1),     # 1-D
    ((5, 9, 11), (3, 3, 5), 1, 2, 1),   # 3-D: the outer ranges cut on two axes
])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_depthwise_padded_wide_against_torch(S, K, stride, padding, dilation, dt):
    """Padded depthwise convs read in place, wide enough for the sliding tiles (pixel
    runs of 8 and more, channel tails of every ISA's vector), on every ISA, with bias
    and activation, and on a view with negative strides."""
    rng = np.random.default_rng(3)
    c, n = 37, len(S)
    x = rng.standard_normal((2, *S, c)).astype(dt)
    w = rng.standard_normal((*K, c)).astype(dt)
    bias = rng.standard_normal(c).astype(dt)
    geo = fc._window.geometry("test", x, K, "w", stride, padding, dilation)
    tw = lambda a: np.moveaxis(a, -1, 0)[:, None]
    ref = torch_conv(x, tw(w), c, stride, geo.pads, dilation, bias)
    absref = torch_conv(np.abs(x), tw(np.abs(w)), c, stride, geo.pads, dilation, np.abs(bias))
    flipped = x[:, ::-1].copy()[:, ::-1]  # the same values through a negative stride
    for xin in (x, flipped):
        for got in on_every_isa(lambda: fc.depthwise_conv(xin, w, stride=stride, padding=padding,
                                                           dilation=dilation, bias=bias, activation="relu6")):
            check(got, act64(ref, "relu6"), absref, math.prod(K), "relu6")


@common
@given(geometry(max_rank=2), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.integers(0, 2), dtypes, acts,
       st.booleans(), st.booleans(), st.integers(0, 2**31))
def test_grouped_against_torch(g, groups, s, S_out, b, dt, act, with_bias, shuffle, seed):
    n, K, stride, D, padding, pads, S = g
    x, w, bias = operands(seed, [(b, *S, groups * s), (*K, groups, s, S_out), (groups * S_out,)], dt, "contiguous")
    # torch's (C, c // g, *K): output channel i*S_out + j is group i's j
    tw = lambda a: np.moveaxis(a, (-3, -1, -2), (0, 1, 2)).reshape(groups * S_out, s, *K)
    ref = torch_conv(x, tw(w), groups, stride, pads, D, bias if with_bias else None)
    absref = torch_conv(np.abs(x), tw(np.abs(w)), groups, stride, pads, D, np.abs(bias) if with_bias else None)
    if shuffle:
        sh = lambda a: np.swapaxes(a.reshape(*a.shape[:-1], groups, S_out), -1, -2).reshape(a.shape)
        ref, absref = sh(ref), sh(absref)
    kw = dict(stride=stride, padding=padding, dilation=D, bias=bias if with_bias else None, activation=act)
    for got in on_every_isa(lambda: fc.grouped_conv(x, w, shuffle, **kw)):
        check(got, act64(ref, act), absref, math.prod(K) * s, act)


@common
@given(geometry(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 2), dtypes, acts, st.booleans(),
       st.integers(0, 2**31))
def test_channel_conv_against_reference(g, m, blocks, b, dt, act, with_bias, seed):
    n, K, stride, D, padding, pads, S = g
    x, w, bias = operands(seed, [(b, *S, m * blocks), (*K, m), (blocks,)], dt, "strided")
    kw = dict(stride=stride, padding=padding, dilation=D, bias=bias if with_bias else None)
    ref = R.channel_conv(x.astype(np.float64), w.astype(np.float64), **kw, activation=None)
    absref = R.channel_conv(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                            **{**kw, "bias": None if bias is None or not with_bias else np.abs(bias)})
    for got in on_every_isa(lambda: fc.channel_conv(x, w, **kw, activation=act)):
        check(got, act64(ref, act), absref, math.prod(K) * m, act)


@common
@given(geometry(max_rank=2), st.integers(1, 9), st.integers(1, 9), st.integers(0, 2), dtypes, acts, st.booleans(),
       st.integers(0, 2**31))
def test_depthwise_separable_against_torch(g, c, C, b, dt, act, with_bias, seed):
    n, K, stride, D, padding, pads, S = g
    x, wd, wp, bias = operands(seed, [(b, *S, c), (*K, c), (c, C), (C,)], dt, "negative")
    tw = lambda a: np.moveaxis(a, -1, 0)[:, None]
    mid = torch_conv(x, tw(wd), c, stride, pads, D, None)
    amid = torch_conv(np.abs(x), tw(np.abs(wd)), c, stride, pads, D, None)
    ref = mid @ wp.astype(np.float64) + (bias if with_bias else 0)
    absref = amid @ np.abs(wp).astype(np.float64) + (np.abs(bias) if with_bias else 0)
    kw = dict(stride=stride, padding=padding, dilation=D, bias=bias if with_bias else None, activation=act)
    for got in on_every_isa(lambda: fc.depthwise_separable_conv(x, wd, wp, **kw)):
        check(got, act64(ref, act), absref, math.prod(K) * c, act)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_pointwise_bias_activation(isa, act, dt):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 5, 19)).astype(dt)
    for w, bias in [(rng.standard_normal((19, 37)).astype(dt), rng.standard_normal(37)),
                    (rng.standard_normal(19).astype(dt), np.array(0.75))]:
        got = fc.pointwise_conv(x, w, bias=bias, activation=act)
        ref = np.einsum("bpqc,c...->bpq...", x.astype(np.float64), w.astype(np.float64)) + bias
        absref = np.einsum("bpqc,c...->bpq...", np.abs(x).astype(np.float64), np.abs(w).astype(np.float64))
        check(got, act64(ref, act), absref + np.abs(bias), 19, act)
    w = rng.standard_normal((3, 5, 6)).astype(dt)
    x = rng.standard_normal((2, 4, 4, 15)).astype(dt)
    bias = rng.standard_normal(18)
    for shuffle in (False, True):
        got = fc.pointwise_grouped_conv(x, w, shuffle, bias=bias, activation=act)
        ref = R.pointwise_grouped_conv(x.astype(np.float64), w.astype(np.float64), shuffle, bias=bias, activation=act)
        np.testing.assert_allclose(got, ref, rtol=1e-5 if dt == np.float32 else 1e-12, atol=1e-5)


def test_extreme_activation_inputs(isa):
    """The vector exp and erf at and past their ranges: no NaN from finite inputs, +inf to +inf,
    -inf to NaN (-inf * 0, as torch gives)."""
    v = np.array([-1e30, -800, -100, -88.5, -20, -1e-30, 0, 1e-30, 20, 88.5, 100, 800, 1e30, np.inf, -np.inf])
    for dt in (np.float32, np.float64):
        x = v.astype(dt).reshape(1, 1, -1, 1)
        w = np.ones((1, 1), dt)
        for act in ("silu", "gelu"):
            got = fc.pointwise_conv(x, w, activation=act).ravel()
            with np.errstate(over="ignore", invalid="ignore"):
                ref = act64(v.astype(np.float64), act)
            np.testing.assert_allclose(got.astype(np.float64), ref.astype(dt).astype(np.float64), rtol=1e-5,
                                       atol=1e-30, err_msg=f"{act} {dt}")


def test_silu_is_within_a_few_ulps(isa):
    """The vector SiLU on a dense sweep of its range, against float64: at most 8 ulp of the
    value wherever it is a normal number (its exp polynomial measured 3.4 in float, 4 in
    double), so a cheaper polynomial that loses digits fails here, not only in the
    looser tolerance of the conv tests."""
    for dt, lo in ((np.float32, -87.0), (np.float64, -700.0)):
        x = np.linspace(lo, 90.0, 400_001).astype(dt)
        got = fc.pointwise_conv(x.reshape(1, 1, -1, 1), np.ones((1, 1), dt), activation="silu").ravel()
        ref = x.astype(np.float64) / (1 + np.exp(-x.astype(np.float64)))
        normal = np.abs(ref) >= np.finfo(dt).tiny
        ulps = np.abs(got[normal] - ref[normal]) / np.spacing(np.abs(ref[normal]).astype(dt))
        assert ulps.max() <= 8, f"{dt.__name__}: {ulps.max():.2f} ulp at x = {x[normal][ulps.argmax()]}"


def test_epilogue_is_fused_on_the_api_paths():
    """conv (GEMM), depthwise (tap-reduce), the filter and the grouped convs store the
    epilogue with their tiles; a bias along M falls back to a pass, still correct."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 9, 8))
    v = np.lib.stride_tricks.as_strided(x, (2, 4, 3, 4, 3, 8), (x.strides[0], 2 * x.strides[1], x.strides[1],
                                                                 2 * x.strides[2], x.strides[2], x.strides[3]))
    b16, b8 = rng.standard_normal(16), rng.standard_normal(8)
    p = _core.plan(v, "bPiQjc", rng.standard_normal((3, 3, 8, 16)), "ijco", "bPQo", bias=b16, bias_labels="o",
                   activation="relu")
    assert (p["path"], p["epilogue"]) == ("gemm", "fused")
    p = _core.plan(v, "bPiQjc", rng.standard_normal((3, 3, 8)), "ijc", "bPQc", bias=b8, bias_labels="c",
                   activation="silu")
    assert (p["path"], p["epilogue"]) == ("tapreduce", "fused")
    p = _core.plan(v, "bPiQjc", rng.standard_normal((3, 3, 2, 4, 8)), "ijgso", "bPQgo",
                   bias=b16.reshape(2, 8), bias_labels="go", activation="gelu")
    assert (p["path"], p["epilogue"]) == ("gemm", "fused")
    # a bias over an output pixel axis: the order whose tiles hold the pixels along N
    # (the weights' rows first) stores it fused
    w = rng.standard_normal((8, 5))
    bm = rng.standard_normal(9)
    out = np.empty((2, 9, 9, 5))
    p = _core.plan(x, "bpqc", w, "co", "bpqo", bias=bm, bias_labels="p", activation="relu6")
    assert (p["epilogue"], p["swapped"]) == ("fused", True)
    _core.contract(x, "bpqc", w, "co", out, "bpqo", bias=bm, bias_labels="p", activation="relu6")
    ref = np.clip(np.einsum("bpqc,co->bpqo", x, w) + bm[None, :, None, None], 0, 6)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    # a conv's border band (patches a little smaller than the weights): fused, not
    # swapped for the size; weights far larger than the output: swapped, a pass
    band = np.zeros((1, 3, 58, 64))
    bv = np.lib.stride_tricks.as_strided(band, (1, 1, 3, 56, 3, 64), (band.strides[0], 0, band.strides[1],
                                                                     band.strides[2], band.strides[2], 8))
    p = _core.plan(bv, "byYxXc", np.zeros((3, 3, 64, 64)), "YXcC", "byxC", bias=np.zeros(64), bias_labels="C",
                   activation="relu")
    assert (p["path"], p["swapped"], p["epilogue"]) == ("gemm", False, "fused")
    p = _core.plan(np.zeros((1, 2, 2, 512)), "bpqc", np.zeros((512, 2048)), "co", "bpqo", bias=np.zeros(2048),
                   bias_labels="o", activation="relu")
    assert (p["path"], p["swapped"], p["epilogue"]) == ("gemm", True, "pass")
    # a bias over both the pixels and the channels varies along M in either order:
    # applied by a pass after the GEMM
    bpo = rng.standard_normal((9, 5))
    p = _core.plan(x, "bpqc", w, "co", "bpqo", bias=bpo, bias_labels="po", activation="relu6")
    assert p["epilogue"] == "pass"
    _core.contract(x, "bpqc", w, "co", out, "bpqo", bias=bpo, bias_labels="po", activation="relu6")
    ref = np.clip(np.einsum("bpqc,co->bpqo", x, w) + bpo[None, :, None, :], 0, 6)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    # the dot path (a strided sum with no unit-stride axis) takes the pass too
    xs = x[..., ::2]
    out = np.empty((2, 9, 9))
    _core.contract(xs, "bpqc", w[::2, 0].copy(), "c", out, "bpq", bias=np.array(0.5), bias_labels="",
                   activation="relu")
    np.testing.assert_allclose(out, np.maximum(np.einsum("bpqc,c->bpq", xs, w[::2, 0]) + 0.5, 0), rtol=1e-12,
                               atol=1e-12)


def test_empty_sum_is_the_activated_bias(isa):
    x = np.ones((2, 5, 5, 0))
    bias = np.array([-1.0, 0.5, 7.0])
    got = fc.conv(x, np.ones((3, 3, 0, 3)), stride=1, padding=1, bias=bias, activation="relu6")
    np.testing.assert_array_equal(got, np.broadcast_to([0.0, 0.5, 6.0], (2, 5, 5, 3)))


def test_batch_zero_and_out(isa):
    x = np.zeros((0, 8, 8, 4), np.float32)
    w = np.ones((3, 3, 4, 6), np.float32)
    assert fc.conv(x, w, stride=2, padding=1, bias=np.ones(6)).shape == (0, 4, 4, 6)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 8, 4)).astype(np.float32)
    out = np.full((2, 4, 4, 6), np.nan, np.float32)
    r = fc.conv(x, w, out, stride=2, padding=1, bias=np.arange(6.0), activation="relu")
    assert r is out
    np.testing.assert_allclose(out, R.conv(x, w, stride=2, padding=1, bias=np.arange(6.0), activation="relu"),
                               rtol=1e-5, atol=1e-5)


def test_blocked_default_unchanged():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 8, 12, 5)), rng.standard_normal((2, 3, 5, 7))
    np.testing.assert_allclose(fc.conv(x, w), R.conv(x, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fc.conv(x, w), fc.conv(x, w, stride=(2, 3), padding="valid"), rtol=0, atol=0)
    with pytest.raises(ValueError, match="does not divide"):
        fc.conv(x[:, :7], w)
    # an explicit stride drops the trailing rows, as torch does
    assert fc.conv(x[:, :7], w, stride=(2, 3)).shape == (2, 3, 4, 7)


def test_padding_forms_agree():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 9, 10, 3)), rng.standard_normal((3, 4, 3, 2))
    a = fc.conv(x, w, stride=1, padding=((1, 1), (1, 2)))
    np.testing.assert_allclose(fc.conv(x, w, stride=1, padding="same"), a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fc.conv(x, w, stride=1, padding=[1, (1, 2)][0]),
                               fc.conv(x, w, stride=1, padding=(1, 1)), rtol=0, atol=0)


BAD = [
    (dict(stride=0), ValueError, "stride"),
    (dict(stride=(1, 2, 3)), ValueError, "stride"),
    (dict(stride=1.5), TypeError, "stride"),
    (dict(stride=True), TypeError, "stride"),
    (dict(stride=1, padding=-1), ValueError, "padding"),
    (dict(stride=1, padding=((0, -1), (0, 0))), ValueError, "padding"),
    (dict(stride=1, padding="full"), ValueError, "padding"),
    (dict(stride=2, padding="same"), ValueError, "same"),
    (dict(padding="same"), ValueError, "same"),
    (dict(stride=1, dilation=0), ValueError, "dilation"),
    (dict(stride=1, dilation=9), ValueError, "spatial axis 0"),
    (dict(stride=1, activation="tanh"), ValueError, "activation"),
    (dict(stride=1, activation=1), TypeError, "activation"),
    (dict(stride=1, bias=np.ones(5)), ValueError, "bias"),
    (dict(stride=1, bias=np.ones((1, 4))), ValueError, "bias"),
    (dict(stride=1, bias=np.array(["a"] * 4)), TypeError, "bias"),
    (dict(stride=None, padding=1), ValueError, "tile"),
]


@pytest.mark.parametrize("kw,exc,match", BAD)
def test_bad_arguments_write_nothing(kw, exc, match):
    x, w = np.ones((1, 6, 6, 3)), np.ones((3, 3, 3, 4))
    out = np.full((1, 4, 4, 4), 7.0)
    with pytest.raises(exc, match=match):
        fc.conv(x, w, out, **kw)
    assert (out == 7.0).all()
    with pytest.raises(exc, match=match):
        R.conv(x, w, **kw)


def test_window_larger_than_input_names_the_axis():
    with pytest.raises(ValueError, match="spatial axis 1 .* smaller than the window"):
        fc.depthwise_conv(np.ones((1, 9, 3, 2)), np.ones((3, 5, 2)), stride=1)


@pytest.mark.parametrize("op", ["conv", "depthwise_conv", "grouped_conv", "channel_conv", "depthwise_separable_conv"])
def test_keyword_only(op):
    x = np.ones((1, 4, 4, 4))
    args = {"conv": (np.ones((2, 2, 4, 2)),), "depthwise_conv": (np.ones((2, 2, 4)),),
            "grouped_conv": (np.ones((2, 2, 2, 2, 1)), False), "channel_conv": (np.ones((2, 2, 2)),),
            "depthwise_separable_conv": (np.ones((2, 2, 4)), np.ones((4, 3)))}[op]
    f = getattr(fc, op)
    with pytest.raises(TypeError):
        f(x, *args, None, 1)  # stride is not positional


def test_contract_reads_a_through_a_view_layout(isa):
    """_core.contract's view: a's data read through the given shape and byte strides (the
    window view conv passes instead of building it): the same result as the as_strided view,
    with and without padded windows; malformed layouts are errors that write nothing."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 9, 8, 6))
    w = rng.standard_normal((3, 3, 6, 5))
    for stride, pad in [(1, 1), (2, 0), (2, (1, 2))]:
        geo = fc._window.geometry("conv", x, (3, 3), "w", stride, pad, 1)
        shape, strides = fc._window.view_layout(x.shape[0], x.strides, geo, (6,), geo.out)
        view = np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
        axes = fc._window.padded_axes(geo, x)
        got, want = np.empty((2, *geo.out, 5)), np.empty((2, *geo.out, 5))
        _core.contract(x, "bPiQjc", w, "ijco", got, "bPQo", None, "", "", axes, (shape, strides))
        _core.contract(view, "bPiQjc", w, "ijco", want, "bPQo", None, "", "", axes)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got, fc.conv(x, w, stride=stride, padding=pad), rtol=1e-12, atol=1e-12)
    out = np.full((2, *geo.out, 5), 7.0)
    bad = [((shape[:-1], strides), "sizes but"),
           ((shape, strides[:-1] + (strides[-1] + 1,)), "multiple of its itemsize"),
           ((shape[:-1] + (-1,), strides), "negative size"),
           ((shape[1:], strides[1:]), "labels")]
    for layout, msg in bad:
        with pytest.raises(ValueError, match=msg):
            _core.contract(x, "bPiQjc", w, "ijco", out, "bPQo", None, "", "", axes, layout)
        assert (out == 7.0).all()
