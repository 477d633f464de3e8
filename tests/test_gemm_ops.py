"""The GEMM path (conv, 1x1, grouped, point-wise grouped) against the reference, on every ISA."""
import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
from fastconv import _core
from fastconv import reference as R

from conftest import DTYPES, SETTINGS, assert_close, assert_matmul_close, case, check, images, layout, num_threads


@SETTINGS
@given(data=st.data())
def test_conv(isa, data):
    shape, K = data.draw(images(max_c=20))
    dtype, kind, rng = case(data.draw)
    C = data.draw(st.integers(1, 40))
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    w = rng.standard_normal((*K, shape[-1], C)).astype(dtype)
    check(fastconv.conv, R.conv, x, w, int(np.prod(K)) * shape[-1])


@SETTINGS
@given(data=st.data())
def test_pointwise(isa, data):
    shape, _ = data.draw(images(max_c=67))
    dtype, kind, rng = case(data.draw)
    C = data.draw(st.integers(1, 67))
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    w = layout(rng.standard_normal((shape[-1], C)).astype(dtype), data.draw(st.sampled_from(["contiguous", "transposed"])), rng)
    check(fastconv.pointwise_conv, R.pointwise_conv, x, w, shape[-1])


@st.composite
def grouped_case(draw, pointwise):
    shape, K = draw(images(max_c=24))
    c = shape[-1]
    g = draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    S = draw(st.integers(1, 20))
    wshape = (g, c // g, S) if pointwise else (*K, g, c // g, S)
    return shape, K, wshape


@pytest.mark.parametrize("pointwise", [False, True], ids=["grouped_conv", "pointwise_grouped_conv"])
@SETTINGS
@given(data=st.data())
def test_grouped(isa, pointwise, data):
    shape, K, wshape = data.draw(grouped_case(pointwise=pointwise))
    dtype, kind, rng = case(data.draw)
    shuffle = data.draw(st.booleans())
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    w = rng.standard_normal(wshape).astype(dtype)
    fn, ref = ((fastconv.pointwise_grouped_conv, R.pointwise_grouped_conv) if pointwise
               else (fastconv.grouped_conv, R.grouped_conv))
    taps = 1 if pointwise else int(np.prod(K))
    check(fn, ref, x, w, taps * wshape[-2], shuffle=shuffle)


def sizes(t):
    return sorted({1, max(1, t - 1), t, t + 1})


@pytest.mark.parametrize("dtype", DTYPES)
def test_microkernel_edges(isa, dtype):
    """m, n, k at 1, tile-1, tile, tile+1 and across the KC boundary, through a plain GEMM;
    n also around the vector width (narrow kernels, partial last vectors, balanced panels)."""
    bl = _core.gemm_blocking(np.dtype(dtype).name)
    rng = np.random.default_rng(11)
    ks = sizes(4) + [bl["kc"] - 1, bl["kc"], bl["kc"] + 1, 2 * bl["kc"] + 3]
    for m in sizes(bl["mr"]) + [2 * bl["mr"] + 1]:
        nr, w = bl["nr"], bl["w"]
        for n in sorted(set(sizes(nr) + sizes(w) + [nr + w + 1, 2 * nr - w, 3 * nr - 1])):
            for k in ks:
                a = rng.standard_normal((m, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                out = np.full((m, n), np.nan, dtype)
                _core.contract(a, "mk", b, "kn", out, "mn")
                assert_matmul_close(out, a, b)


def fit_tile_columns(dtype):
    """The tile the engine runs where N is exactly its width, where the ISA has one (AVX-512
    float: 6 x 4 for N of 4 vectors), and the column counts that take it."""
    default = _core.gemm_blocking(np.dtype(dtype).name)
    tiles = {n: _core.gemm_blocking(np.dtype(dtype).name, n) for n in range(1, 4 * default["nr"])}
    ns = [n for n, b in tiles.items() if b != default]
    return (tiles[ns[0]], ns) if ns else (None, [])


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_tile_edges(isa, dtype):
    """The fit tile (fit_tile_columns) through the engine: every N it takes, and one past each
    end (the default tile again); m at 1, its MR - 1, MR, MR + 1 and 2 MR + 1, k across KC;
    a plain GEMM, the shuffled group GEMM (its zip kernel) and a padded conv of 64 channels."""
    bl, ns = fit_tile_columns(dtype)
    if bl is None:
        pytest.skip(f"{_core.isa()} {np.dtype(dtype).name} runs one GEMM tile for every N")
    assert bl["nr"] == ns[-1] and all(b - a == 1 for a, b in zip(ns, ns[1:])), ns
    rng = np.random.default_rng(19)
    for m in sizes(bl["mr"]) + [2 * bl["mr"] + 1]:
        for n in [ns[0] - 1, *ns, ns[-1] + 1]:
            for k in (3, bl["kc"] + 1):
                a = rng.standard_normal((m, k)).astype(dtype)
                b = rng.standard_normal((k, n)).astype(dtype)
                out = np.full((m, n), np.nan, dtype)
                _core.contract(a, "mk", b, "kn", out, "mn")
                assert_matmul_close(out, a, b)
        a = rng.standard_normal((m, 3, 5)).astype(dtype)
        b = rng.standard_normal((3, 5, ns[-1])).astype(dtype)
        out = np.full((m, ns[-1], 3), np.nan, dtype)
        _core.contract(a, "mgk", b, "gkn", out, "mng")
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        assert_close(out, np.einsum("mgk,gkn->mng", a64, b64), np.einsum("mgk,gkn->mng", np.abs(a64), np.abs(b64)), 5)
    x = rng.standard_normal((2, 9, 7, 16)).astype(dtype)
    w = rng.standard_normal((3, 3, 16, ns[-1])).astype(dtype)
    bias = rng.standard_normal(ns[-1]).astype(dtype)
    check(fastconv.conv, R.conv, x, w, 9 * 16, stride=(1, 2), padding=1, bias=bias, activation="relu")


def test_order_reads_k_unit_stride():
    """Of a GEMM's two operand orders, the one whose A reads K unit-stride is taken where it
    has 32 rows or more, though its B (packed every call) is the larger operand: a conv's
    weights as A read K at the channels' stride. Fewer rows: the larger operand is A."""
    rng = np.random.default_rng(20)
    w = rng.standard_normal((4, 4, 3, 256)).astype(np.float32)  # K = 48, N = 256: larger than x
    for hw, swapped in ((32, False), (16, True)):  # M = 64 patches; M = 16
        x = rng.standard_normal((1, hw, hw, 3)).astype(np.float32)
        xv = x.reshape(1, hw // 4, 4, hw // 4, 4, 3)
        assert w.size > x.size
        p = _core.plan(xv, "bWkHlc", w, "klcC", "bWHC")
        assert (p["path"], p["swapped"]) == ("gemm", swapped), hw
        check(fastconv.conv, R.conv, x, w, 48)
    # einsum: a's K strided (a column-major A), b's K unit-stride: b's order, b the larger
    a = np.asfortranarray(rng.standard_normal((64, 40)))
    b = rng.standard_normal((50, 40))
    assert _core.plan(a, "mk", b, "nk", "mn")["swapped"] is True
    np.testing.assert_allclose(fastconv.einsum("mk,nk->mn", a, b), a @ b.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shuffle_zip_kernel_edges(isa, dtype):
    """The shuffled group GEMM (the zip kernel): every group count with zip code of its own
    (2-8) and one past them (9, element by element); rows at 1, tile-1, tile, tile+1 and
    2 tiles+1; columns a group around the vector width and the tile (partial last vectors,
    narrow kernels). Into a fresh output, whose row stride is one vector-aligned or not."""
    bl = _core.gemm_blocking(np.dtype(dtype).name)
    rng = np.random.default_rng(18)
    for g in (2, 3, 4, 5, 8, 9):
        for m in sizes(bl["mr"]) + [2 * bl["mr"] + 1]:
            for n in sorted(set(sizes(bl["w"]) + sizes(bl["nr"]))):
                a = rng.standard_normal((m, g, 5)).astype(dtype)
                b = rng.standard_normal((g, 5, n)).astype(dtype)
                if n > 1:  # a unit N is dropped: a dot per output
                    assert _core.plan(a, "mgk", b, "gkn", "mng")["path"] == "gemm"
                out = np.full((m, n, g), np.nan, dtype)
                _core.contract(a, "mgk", b, "gkn", out, "mng")
                a64, b64 = a.astype(np.float64), b.astype(np.float64)
                assert_close(out, np.einsum("mgk,gkn->mng", a64, b64),
                             np.einsum("mgk,gkn->mng", np.abs(a64), np.abs(b64)), 5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_engine_strided_operands(isa, dtype):
    """Transposed and sliced A, B and out, irregular output rows, several batch and K dims."""
    rng = np.random.default_rng(12)
    a = rng.standard_normal((3, 9, 5, 7)).astype(dtype)           # g m1 k1 k2
    b = rng.standard_normal((7, 3, 5, 11)).astype(dtype)[::-1]    # k2 g k1 n (negative stride)
    big = np.zeros((3, 11, 2 * 9), dtype)
    out = big[:, :, ::2]                                           # g n m: non-unit m stride
    _core.contract(a, "gmpq", b, "qgpn", out, "gnm")
    want = np.einsum("gmpq,qgpn->gnm", a.astype(np.float64), b.astype(np.float64))
    absref = np.einsum("gmpq,qgpn->gnm", np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64)))
    assert_close(out, want, absref, 35)
    assert not big[:, :, 1::2].any()  # nothing written between the output's elements


def test_float32_within_1e4_of_float64(isa):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 32, 32, 48))
    w = rng.standard_normal((4, 4, 48, 64))
    got = fastconv.conv(x.astype(np.float32), w.astype(np.float32)).astype(np.float64)
    want = R.conv(x.astype(np.float32).astype(np.float64), w.astype(np.float32).astype(np.float64))
    scale = R.conv(np.abs(x), np.abs(w))
    assert np.max(np.abs(got - want) / scale) < 1e-4


@pytest.mark.parametrize("threads", [1, 2, 3, 7, 16])
def test_threads_partition(isa, threads):
    """Batch 1, small images (N is split), big M (M blocks, claimed in shrinking chunks),
    chunks of some groups of a tile, and the fused chain, for several thread counts (7
    and 16 oversubscribe). B packed by every thread for itself (small B) and once, in
    shares, where it passes kOwnPackedB (the 1024 x 160 B: 768 KiB and more packed)."""
    with num_threads(threads):
        rng = np.random.default_rng(14)
        for xs, ws in [((1, 4, 4, 32), (2, 2, 32, 200)), ((3, 60, 44, 24), (2, 2, 24, 40)), ((1, 8, 8, 3), (8, 8, 3, 96)),
                       ((2, 8, 8, 256), (2, 2, 256, 160))]:
            x = rng.standard_normal(xs).astype(np.float32)
            w = rng.standard_normal(ws).astype(np.float32)
            check(fastconv.conv, R.conv, x, w, int(np.prod(ws[:-1])))
        # Groups of one tile split between threads (1 and 2 tiles of 5 groups), and many tiles.
        for xs in [(1, 4, 4, 60), (1, 8, 6, 60), (2, 14, 10, 60)]:
            x = rng.standard_normal(xs).astype(np.float32)
            check(fastconv.grouped_conv, R.grouped_conv, x, rng.standard_normal((2, 2, 5, 12, 20)).astype(np.float32),
                  48)
        wd, wp = rng.standard_normal((2, 2, 60)).astype(np.float32), rng.standard_normal((60, 70)).astype(np.float32)
        check(fastconv.depthwise_separable_conv, R.depthwise_separable_conv, x, (wd, wp), 240)
        x = rng.standard_normal((4, 24, 24, 96)).astype(np.float32)
        for shuffle in (False, True):
            check(fastconv.pointwise_grouped_conv, R.pointwise_grouped_conv, x,
                  rng.standard_normal((3, 32, 40)).astype(np.float32), 32, shuffle=shuffle)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("g", [3, 9])
def test_shuffle_into_irregular_rows(isa, dtype, threads, g):
    """The shuffled output through a strided out= whose rows are at no one stride (an h
    slice of a wider array): tiles are zipped one at a time, each at its rows' stride
    where it has one (inside an h row) and row by row where it spans two. 9 groups: more
    than the zip kernel has code for."""
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 8, 13, g, 16)).astype(dtype)
    w = rng.standard_normal((g, 16, 24)).astype(dtype)
    assert fastconv.einsum_plan("bwhgs,gsS->bwhSg", x, w).steps[0].path != "numpy"
    big = np.full((2, 8, 15, 24, g), np.nan, dtype)
    out = big[:, :, 1:14]
    with num_threads(threads):
        assert fastconv.einsum("bwhgs,gsS->bwhSg", x, w, out=out) is out
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    ref = np.einsum("bwhgs,gsS->bwhSg", x64, w64)
    assert_close(out, ref, np.einsum("bwhgs,gsS->bwhSg", np.abs(x64), np.abs(w64)), 16)
    assert np.isnan(big[:, :, 0]).all() and np.isnan(big[:, :, 14]).all()  # nothing written outside out


def test_same_bits_on_any_thread_count(isa):
    """Threads claim row chunks at run time, but each output is computed by one tile
    in K order: the result does not depend on the thread count, on who ran what, or
    on who packed B (each thread for itself, or a share each: the (2, 2, 256, 160)
    kernel)."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((4, 48, 40, 24)).astype(np.float32)
    w = rng.standard_normal((2, 2, 24, 72)).astype(np.float32)
    xg = rng.standard_normal((2, 28, 20, 60)).astype(np.float32)
    wg = rng.standard_normal((2, 2, 5, 12, 20)).astype(np.float32)
    xb = rng.standard_normal((2, 16, 8, 256)).astype(np.float32)
    wb = rng.standard_normal((2, 2, 256, 160)).astype(np.float32)
    runs = []
    for threads in (1, 2, 3, 7):
        with num_threads(threads):
            runs.append((fastconv.conv(x, w), fastconv.grouped_conv(xg, wg), fastconv.conv(xb, wb)))
    for got in runs[1:]:
        for a, b in zip(runs[0], got):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_gathered_rows(isa, dtype, threads):
    """Patch rows of >= 8 runs passed by >= 4 panels are gathered into contiguous rows:
    within one K block and across KC blocks (runs split at the boundary); a
    channel-strided input (not gathered) alongside."""
    rng = np.random.default_rng(17)
    with num_threads(threads):
        for xs, ws in [((2, 32, 40, 5), (8, 8, 5, 200)), ((1, 24, 16, 24), (8, 8, 24, 70)),
                       ((3, 16, 16, 3), (16, 16, 3, 130))]:
            x = rng.standard_normal(xs).astype(dtype)
            w = rng.standard_normal(ws).astype(dtype)
            check(fastconv.conv, R.conv, x, w, int(np.prod(ws[:-1])))
        x = rng.standard_normal((2, 32, 32, 8)).astype(np.float64)[:, :, ::-1, ::2]
        check(fastconv.conv, R.conv, x, rng.standard_normal((8, 8, 4, 300)), 256)


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_output_channel(isa, dtype):
    """N of size 1 runs as one dot product per output (the tap-reduce path); where that path
    cannot take the layout (a weight that varies along groups) the GEMM path still does."""
    rng = np.random.default_rng(19)
    x = rng.standard_normal((2, 12, 10, 16)).astype(dtype)
    w = rng.standard_normal((2, 2, 16, 1)).astype(dtype)
    plan = fastconv.einsum_plan("bWkHlc,klcC->bWHC", x.reshape(2, 6, 2, 5, 2, 16), w)
    assert [s.path for s in plan.steps] == ["tapreduce"]
    check(fastconv.conv, R.conv, x, w, 64)
    check(fastconv.pointwise_conv, R.pointwise_conv, x, rng.standard_normal((16, 1)).astype(dtype), 16)
    check(fastconv.conv, R.conv, x[..., :1], w[:, :, :1], 4)  # c == 1 too
    check(fastconv.grouped_conv, R.grouped_conv, x, rng.standard_normal((2, 2, 4, 4, 1)).astype(dtype), 16)
    # Not where the vector axis would be M (a column-major A): that plan would pack K x M weights.
    a = rng.standard_normal((40, 300)).astype(dtype).T
    b = rng.standard_normal((40, 1)).astype(dtype)
    assert _core.plan(a, "mk", b, "kn", "mn")["path"] == "gemm"
    out = np.full((300, 1), np.nan, dtype)
    _core.contract(a, "mk", b, "kn", out, "mn")
    assert_matmul_close(out, a, b)
    # A dot per output does not start a fused chain (the chain's first stage has no N).
    w1, w2 = rng.standard_normal((16, 1)).astype(dtype), rng.standard_normal((1, 40)).astype(dtype)
    plan = fastconv.einsum_plan("bhwc,cd,de->bhwe", x, w1, w2)
    assert [s.path for s in plan.steps] == ["tapreduce", "gemm"]
    got = fastconv.einsum("bhwc,cd,de->bhwe", x, w1, w2)
    np.testing.assert_allclose(got, np.einsum("bhwc,cd,de->bhwe", x, w1, w2), rtol=1e-4, atol=1e-4)


def test_large_b_path(isa):
    """A packed B past the cache-resident size (larger M blocks), K across KC blocks, several M blocks."""
    rng = np.random.default_rng(18)
    a = rng.standard_normal((600, 1030)).astype(np.float32)
    b = rng.standard_normal((1030, 2100)).astype(np.float32)
    assert b.nbytes > 8 << 20
    assert_matmul_close(fastconv.einsum("mk,kn->mn", a, b), a, b)


@pytest.mark.parametrize("threads", [1, 2, 16])
def test_large_output_streaming_path(isa, threads):
    """An 8 MiB output: streamed (non-temporal stores) where each thread's share is at
    least half an L2 (1 and 2 threads on any L2 up to 8 MiB), cached where it is not
    (16 threads on 1-2 MiB L2s), and never through a misaligned out=."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((4, 64, 64, 32)).astype(np.float32)
    w = rng.standard_normal((32, 128)).astype(np.float32)
    want = R.pointwise_conv(x, w)
    wg = rng.standard_normal((4, 8, 32)).astype(np.float32)
    with num_threads(threads):
        got = fastconv.pointwise_conv(x, w)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        buf = np.zeros(want.size + 1, np.float32)
        out = buf[1:].reshape(want.shape)  # 4-byte offset: not vector-aligned
        fastconv.pointwise_conv(x, w, out=out)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
        for shuffle in (False, True):
            np.testing.assert_allclose(fastconv.pointwise_grouped_conv(x, wg, shuffle),
                                       R.pointwise_grouped_conv(x, wg, shuffle), rtol=1e-4, atol=1e-4)


def test_denormals_flushed_in_workers_only(isa):
    """FTZ/DAZ is set inside the kernels' threads and restored: numpy keeps its denormals."""
    tiny = np.float32(1e-39)  # a float32 denormal
    x = np.full((1, 4, 4, 16), tiny, np.float32)
    w = np.ones((2, 2, 16, 8), np.float32)
    out = fastconv.conv(x, w)
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    assert np.float32(tiny) * np.float32(1.5) != 0  # the calling thread still computes denormals
    assert (np.array([tiny], np.float32) * np.float32(3.0))[0] > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_inf_propagate(isa, dtype):
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 4, 4, 12)).astype(dtype)
    x[0, 1, 2, 3] = np.nan
    x[1, 0, 0, 5] = np.inf
    w = np.abs(rng.standard_normal((2, 2, 12, 8))).astype(dtype) + 0.1
    wg = np.abs(rng.standard_normal((2, 2, 3, 4, 8))).astype(dtype) + 0.1
    for got, ref in [(fastconv.conv(x, w), R.conv(x, w)),
                     (fastconv.pointwise_conv(x, w[0, 0]), R.pointwise_conv(x, w[0, 0])),
                     (fastconv.grouped_conv(x, wg, True), R.grouped_conv(x, wg, True))]:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
        assert np.isnan(got).any() and np.isinf(got).any()


def test_zero_sizes():
    x = np.zeros((0, 4, 4, 8), np.float32)
    assert fastconv.conv(x, np.ones((2, 2, 8, 5), np.float32)).shape == (0, 2, 2, 5)
    y = np.ones((2, 4, 4, 0), np.float32)
    np.testing.assert_array_equal(fastconv.pointwise_conv(y, np.ones((0, 3), np.float32)), np.zeros((2, 4, 4, 3)))
    assert fastconv.pointwise_conv(np.ones((1, 2, 2, 4), np.float32), np.ones((4, 0), np.float32)).shape == (1, 2, 2, 0)


def _contract_calls(monkeypatch):
    """The windows argument of every _core.contract call from here on."""
    calls = []
    contract = _core.contract

    def spy(*args, **kw):  # windows: the tenth argument, by position or by name
        calls.append(args[9] if len(args) > 9 else kw.get("windows", ()))
        return contract(*args, **kw)

    monkeypatch.setattr(_core, "contract", spy)
    return calls


# Padded convs on the GEMM path, the padding read as zeros by the engine (one call, no
# border bands): windows cut at every border, windows wholly in the padding, dilation,
# stride 3, 1 to 3 axes, a K past one K block (300 channels x 9 taps), tails of tiles,
# an output of one pixel (the last tile's repeated rows are padded ones), groups with
# and without the shuffle.
PADDED_GEMM = [
    ((9, 11), (3, 3), 5, 7, dict(stride=1, padding=1)),
    ((8, 8), (3, 3), 16, 33, dict(stride=2, padding=1)),
    ((23, 17), (7, 7), 3, 16, dict(stride=2, padding=3)),
    ((10, 10), (3, 3), 6, 6, dict(stride=1, padding=((1, 2), (0, 3)), dilation=2)),
    ((5, 5), (3, 3), 3, 4, dict(stride=3, padding=4, dilation=(2, 1))),
    ((3, 3), (3, 3), 2, 5, dict(stride=1, padding=3)),
    ((3, 3), (3, 3), 4, 9, dict(stride=3, padding=1)),
    ((6, 7), (3, 3), 300, 20, dict(stride=1, padding=1)),
    ((31,), (5,), 7, 12, dict(stride=1, padding=((4, 1),))),
    ((5, 6, 4), (3, 3, 2), 5, 8, dict(stride=1, padding=(1, 1, 1))),
]


@pytest.mark.parametrize("S, K, c, C, kw", PADDED_GEMM)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_padded_in_one_call(isa, monkeypatch, S, K, c, C, kw, dtype):
    rng = np.random.default_rng(len(S) + c)
    x = rng.standard_normal((2, *S, c)).astype(dtype)
    w = rng.standard_normal((*K, c, C)).astype(dtype)
    bias = rng.standard_normal(C).astype(dtype)
    calls = _contract_calls(monkeypatch)
    check(fastconv.conv, R.conv, x, w, int(np.prod(K)) * c, bias=bias, activation="relu", **kw)
    assert len(calls) == 2 and all(calls), calls  # check() calls it twice (out= too), each with windows
    # a negative-stride view and a batch of one
    xr = x[:1, ::-1]
    np.testing.assert_allclose(fastconv.conv(xr, w, **kw), R.conv(xr.astype(np.float64), w.astype(np.float64), **kw),
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-3 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("groups", [2, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_grouped_padded_in_one_call(isa, monkeypatch, shuffle, groups, dtype):
    rng = np.random.default_rng(groups)
    x = rng.standard_normal((2, 9, 13, 4 * groups)).astype(dtype)
    w = rng.standard_normal((3, 3, groups, 4, 8)).astype(dtype)
    bias = rng.standard_normal(8 * groups).astype(dtype)
    calls = _contract_calls(monkeypatch)
    check(fastconv.grouped_conv, R.grouped_conv, x, w, 36, shuffle=shuffle, stride=(1, 2), padding=(1, 2),
          bias=bias, activation="relu6")
    assert len(calls) == 2 and all(calls), calls


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_padded_falls_back_to_bands(isa, monkeypatch, dtype):
    """Inputs whose taps the engine cannot copy for a padded row take the border bands,
    and agree with the reference: broadcast along an axis (a tap at stride 0), and rows
    narrower than the kernel (one kernel row's taps overlap the next one's in memory)."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 3, 6, 10)).astype(dtype)
    broadcast = np.broadcast_to(rng.standard_normal((2, 7, 1, 6)).astype(dtype), (2, 7, 9, 6))
    narrow = rng.standard_normal((2, 4, 1, 6)).astype(dtype)
    for x in (broadcast, narrow):
        calls = _contract_calls(monkeypatch)
        check(fastconv.conv, R.conv, x, w, 54, stride=1, padding=1)
        assert len(calls) > 2 and not all(calls), calls  # refused with windows, then the bands


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_with_nothing_summed(isa, dtype):
    """The engine's own paths for a product with nothing summed (a GEMM of K = 1, per batch
    index or into strided rows; the dot path's one-term dots), which fastconv.einsum leaves
    to numpy for speed: still exact where _core.contract is called on them."""
    rng = np.random.default_rng(21)
    for sub, sa, sb in [("ij,ij->ij", (37, 20), (37, 20)), ("abc,bc->abc", (5, 6, 19), (6, 19)),
                        ("kc,lc->klc", (7, 33), (9, 33)), ("m,n->nm", (40,), (35,)), ("m,n->mn", (40,), (35,))]:
        a, b = rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
        (la, lb), lo = sub.split("->")[0].split(","), sub.split("->")[1]
        out = np.full(np.einsum(sub, a, b).shape, np.nan, dtype)
        _core.contract(a, la, b, lb, out, lo)
        np.testing.assert_array_equal(out, np.einsum(sub, a, b))


def test_plans_kept_by_layout(isa):
    """_core.contract keeps each plan by what planning reads (labels, shapes, strides,
    windows, epilogue, ISA): calls alike in all but one of those, in turn, each run their own."""
    rng = np.random.default_rng(22)
    a = rng.standard_normal((40, 24)).astype(np.float32)
    b = rng.standard_normal((24, 36)).astype(np.float32)
    bias = rng.standard_normal(36).astype(np.float32)
    same_shapes = [(a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b)), (a[::-1], b), (a, b[:, ::-1]),
                   (a[:, ::-1], b[::-1])]
    for _ in range(2):
        for x, y in same_shapes:
            out = np.full((40, 36), np.nan, np.float32)
            _core.contract(x, "mk", y, "kn", out, "mn")
            np.testing.assert_allclose(out, x @ y, rtol=1e-5, atol=1e-4)
        for bb, act, want in [(bias, "relu", np.maximum(a @ b + bias, 0)), (None, "", a @ b), (bias, "", a @ b + bias)]:
            out = np.full((40, 36), np.nan, np.float32)
            _core.contract(a, "mk", b, "kn", out, "mn", bb, "n", act)
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-4)
        out = np.full((36, 40), np.nan, np.float32)  # the same operands, another output layout
        _core.contract(a, "mk", b, "kn", out, "nm")
        np.testing.assert_allclose(out, (a @ b).T, rtol=1e-5, atol=1e-4)
    # The fused chain's plans, the same way: one input contiguous, one strided, in turn.
    x = rng.standard_normal((2, 8, 8, 16)).astype(np.float32)
    xs = np.repeat(x, 2, axis=2)[:, :, ::2]
    wd, wp = rng.standard_normal((2, 2, 16)).astype(np.float32), rng.standard_normal((16, 24)).astype(np.float32)
    want = R.depthwise_separable_conv(x.astype(np.float64), wd, wp)
    for _ in range(2):
        for v in (x, xs):
            np.testing.assert_allclose(fastconv.depthwise_separable_conv(v, wd, wp), want, rtol=1e-4, atol=1e-4)


@contextlib.contextmanager
def b_in_place(mode):
    """The GEMM path reads B in place never, always (where B's layout allows) or as tuned."""
    prev = _core.set_gemm_b_in_place(mode)
    try:
        yield
    finally:
        _core.set_gemm_b_in_place(prev)


def _in_place_runs(fn):
    """fn()'s result and how many GEMM regions read B in place during it."""
    n0 = _core.gemm_b_in_place_runs()
    got = fn()
    return got, _core.gemm_b_in_place_runs() - n0


@pytest.mark.parametrize("dtype", DTYPES)
def test_b_in_place(isa, dtype):
    """B read in place by the kernels (rows ldb apart) instead of packed: on every ISA (forced),
    bitwise the packed GEMM's result and close to the reference; taken only where N is
    unit-stride in whole vectors and every K index is a row the same positive stride on (a
    sliced B, a grouped B, a padded conv's weights, K across KC, 1 and 3 threads), packed
    otherwise (a partial last vector, B's K reversed or N strided, the shuffle's zip)."""
    bl = _core.gemm_blocking(np.dtype(dtype).name)
    w, kc = bl["w"], bl["kc"]
    rng = np.random.default_rng(23)

    def both(fn):
        with b_in_place("never"):
            packed, n_packed = _in_place_runs(fn)
        with b_in_place("always"):
            direct, n_direct = _in_place_runs(fn)
        assert n_packed == 0
        np.testing.assert_array_equal(direct, packed)
        return direct, n_direct

    def gemm(a, b):
        out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
        _core.contract(a, "mk", b, "kn", out, "mn")
        return out

    checked = 0
    for threads in (1, 3):
        with num_threads(threads):
            for m in (1, bl["mr"] + 1, 5 * bl["mr"] + 3, 40):
                for k in (3, kc + 5):
                    a = rng.standard_normal((m, k)).astype(dtype)
                    for n in (w, 2 * bl["nr"] + w, w + 1):
                        eligible = n % w == 0  # whole vectors (every N on the scalar ISA)
                        big = rng.standard_normal((k, n + 3)).astype(dtype)
                        wide = rng.standard_normal((k, 2 * n)).astype(dtype)
                        for b, ok in ((big[:, :n].copy(), eligible), (big[:, :n], eligible),
                                      (big[::-1, :n], False), (wide[:, ::2], False)):
                            got, runs = both(lambda: gemm(a, b))
                            assert_matmul_close(got, a, b)
                            p = _core.plan(a, "mk", b, "kn", "mn")
                            if (p["path"], p["swapped"]) == ("gemm", False):  # b is B
                                assert (runs > 0) == ok, (m, k, n, b.strides)
                                checked += 1
    assert checked >= 24, checked
    # groups, each its own B (not interleaved in the output)
    a = rng.standard_normal((40, 3, kc + 2)).astype(dtype)
    b = rng.standard_normal((3, kc + 2, 2 * w)).astype(dtype)
    def grouped(out_shape, out_labels):
        out = np.full(out_shape, np.nan, dtype)
        _core.contract(a, "mgk", b, "gkn", out, out_labels)
        return out

    got, runs = both(lambda: grouped((3, 40, 2 * w), "gmn"))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert_close(got, np.einsum("mgk,gkn->gmn", a64, b64), np.einsum("mgk,gkn->gmn", np.abs(a64), np.abs(b64)), kc + 2)
    assert runs > 0
    # the shuffle's zip kernel reads packed B only (one K block)
    a, b = a[:, :, :5].copy(), b[:, :5].copy()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    got, runs = both(lambda: grouped((40, 2 * w, 3), "mng"))
    assert_close(got, np.einsum("mgk,gkn->mng", a64, b64), np.einsum("mgk,gkn->mng", np.abs(a64), np.abs(b64)), 5)
    assert runs == 0
    # a padded, strided conv with bias and activation: its weights are B
    x = rng.standard_normal((2, 9, 7, 16)).astype(dtype)
    wt = rng.standard_normal((3, 3, 16, 2 * w)).astype(dtype)
    bias = rng.standard_normal(2 * w).astype(dtype)
    kw = dict(stride=(1, 2), padding=1, bias=bias, activation="relu")
    got, runs = both(lambda: fastconv.conv(x, wt, **kw))
    assert runs > 0
    check(fastconv.conv, R.conv, x, wt, 9 * 16, **kw)
    with b_in_place("always"):
        check(fastconv.conv, R.conv, x, wt, 9 * 16, **kw)


def test_b_in_place_tuned():
    """As tuned, B is read in place where each thread's rows are few tiles (a batch-1 1x1 conv
    of 49 pixels), on the ISAs whose tile says so (in_place_tiles), and packed where they are
    many (tens of thousands of rows)."""
    bl = _core.gemm_blocking("float32")
    rng = np.random.default_rng(24)
    w = rng.standard_normal((256, 128)).astype(np.float32)
    for pixels, few in ((7, True), (128, False)):
        x = rng.standard_normal((1, pixels, pixels, 256)).astype(np.float32)
        with b_in_place("tuned"), num_threads(1):
            got, runs = _in_place_runs(lambda: fastconv.pointwise_conv(x, w))
        assert (runs > 0) == (few and pixels * pixels <= bl["mr"] * bl["in_place_tiles"]), (pixels, bl)
        assert_matmul_close(got.reshape(-1, 128), x.reshape(-1, 256), w)
