"""The memory-bound operations against the einsum reference, on every ISA this CPU supports."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
from fastconv import reference as R

from conftest import DTYPES, SETTINGS, case, check, images, layout, num_threads



@SETTINGS
@given(data=st.data())
def test_depthwise(isa, data):
    (shape, K) = data.draw(images())
    dtype, kind, rng = case(data.draw)
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    w = rng.standard_normal((*K, shape[-1])).astype(data.draw(st.sampled_from(DTYPES)))
    check(fastconv.depthwise_conv, R.depthwise_conv, x, w, int(np.prod(K)))


@SETTINGS
@given(data=st.data())
def test_filter(isa, data):
    (shape, _) = data.draw(images(max_c=140))
    dtype, kind, rng = case(data.draw)
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    w = rng.standard_normal(shape[-1]).astype(dtype)
    check(fastconv.pointwise_conv, R.pointwise_conv, x, w, shape[-1])


@SETTINGS
@given(data=st.data())
def test_channel_conv(isa, data):
    (shape, K) = data.draw(images())
    c = shape[-1]
    m = data.draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    dtype, kind, rng = case(data.draw)
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    w = rng.standard_normal((*K, m)).astype(dtype)
    check(fastconv.channel_conv, R.channel_conv, x, w, int(np.prod(K)) * m)


@SETTINGS
@given(data=st.data())
def test_channel_shuffle(isa, data):
    (shape, _) = data.draw(images(max_c=67))
    c = shape[-1]
    g = data.draw(st.sampled_from([d for d in range(1, c + 1) if c % d == 0]))
    dtype, kind, rng = case(data.draw)
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    got = fastconv.channel_shuffle(x, g)
    np.testing.assert_array_equal(got, R.channel_shuffle(x, g))
    out = np.empty_like(got)
    assert fastconv.channel_shuffle(x, g, out=out) is out
    np.testing.assert_array_equal(out, got)


# Padded depthwise convs read in place, against the reference without PyTorch (so that
# the aarch64 run, which has none, checks them too): wide enough for the sliding tiles,
# cut windows at every border, windows wholly in the padding, dilation, 1 to 3 axes.
@pytest.mark.parametrize("S, K, kw", [
    ((23, 29), (7, 7), dict(stride=1, padding=3)),
    ((19, 26), (5, 5), dict(stride=1, padding=2)),
    ((25, 21), (3, 3), dict(stride=2, padding=1)),
    ((12, 30), (3, 5), dict(stride=1, padding=(6, 2))),
    ((17, 22), (3, 3), dict(stride=1, padding=4, dilation=(3, 2))),
    ((40,), (7,), dict(stride=1, padding=((3, 9),))),
    ((5, 9, 11), (3, 3, 5), dict(stride=1, padding=2)),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_padded(isa, S, K, kw, dtype):
    rng = np.random.default_rng(len(S) + K[0])
    x = rng.standard_normal((2, *S, 37)).astype(dtype)
    w = rng.standard_normal((*K, 37)).astype(dtype)
    check(fastconv.depthwise_conv, R.depthwise_conv, x, w, int(np.prod(K)), **kw)


def _at_offset(a, elements):
    """A copy of a whose data starts `elements` past a 64-byte boundary."""
    buf = np.empty(a.nbytes + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + elements * a.itemsize
    v = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    v[...] = a
    return v


# The padded depthwise path stages the lines of x into aligned rings where x's vectors
# are misaligned (an offset from a 64-byte boundary, or channels no whole number of
# vectors) and an output reads 9 or more taps per pixel of x, else reads x in place:
# both, with 7x7 and dilated 3-D windows (staged where misaligned), stride 2 (in place),
# 1-D lines too long to stage (over 1 MiB a thread: in place), and staged lines no window
# reaches along them (a 1-pixel axis, padded 5 before it, stride 2: every output there a
# bias alone).
@pytest.mark.parametrize("S, K, kw", [
    ((2, 21, 19), (7, 7), dict(stride=1, padding=3)),
    ((1, 9, 1), (7, 3), dict(stride=(1, 2), padding=((3, 3), (5, 0)))),
    ((2, 9, 7, 11), (3, 3, 3), dict(stride=1, padding=(1, 2, 3), dilation=(1, 2, 2))),
    ((2, 15, 17), (3, 3), dict(stride=2, padding=1)),
    ((1, 4500), (3,), dict(stride=1, padding=2, dilation=2)),
])
@pytest.mark.parametrize("c", [32, 37])
@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_padded_staged_or_in_place(isa, S, K, kw, c, offset, dtype):
    rng = np.random.default_rng(c + offset)
    x = _at_offset(rng.standard_normal((*S, c)).astype(dtype), offset)
    w = rng.standard_normal((*K, c)).astype(dtype)
    check(fastconv.depthwise_conv, R.depthwise_conv, x, w, int(np.prod(K)), **kw)
    bias = rng.standard_normal(c).astype(dtype)  # the epilogue as the staged rows store
    got = fastconv.depthwise_conv(x, w, bias=bias, activation="relu6", **kw)
    np.testing.assert_allclose(got, np.clip(fastconv.depthwise_conv(x, w, **kw) + bias, 0, 6), rtol=1e-5, atol=1e-5)


# Tile-keyed edge cases: channels around the 8- and 16-lane vectors, kernels 1..3.
@pytest.mark.parametrize("c", [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65])
@pytest.mark.parametrize("dtype", DTYPES)
def test_tails(isa, c, dtype):
    rng = np.random.default_rng(c)
    x = rng.standard_normal((2, 6, 4, c)).astype(dtype)
    w = rng.standard_normal((2, 2, c)).astype(dtype)
    check(fastconv.depthwise_conv, R.depthwise_conv, x, w, 4)
    check(fastconv.pointwise_conv, R.pointwise_conv, x, w[0, 0], c)
    for m in (1, 2, 4, 8, 16, c):
        if c % m == 0:
            check(fastconv.channel_conv, R.channel_conv, x, w[..., :m], 4 * m)
    for g in range(1, min(c, 20) + 1):
        if c % g == 0:
            np.testing.assert_array_equal(fastconv.channel_shuffle(x, g), R.channel_shuffle(x, g))


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_large(isa, threads, dtype):
    """Big enough that the work is split between threads, with splits inside rows; 7
    threads oversubscribe, so that threads take chunks of the others' shares (check's
    out= starts as NaN: a chunk left out or written twice out of place shows)."""
    with num_threads(threads):
        rng = np.random.default_rng(7)
        x = rng.standard_normal((3, 62, 46, 40)).astype(dtype)
        check(fastconv.depthwise_conv, R.depthwise_conv, x, rng.standard_normal((2, 2, 40)).astype(dtype), 4)
        check(fastconv.depthwise_conv, R.depthwise_conv, x, rng.standard_normal((3, 3, 40)).astype(dtype), 9,
              stride=1, padding=1)
        check(fastconv.pointwise_conv, R.pointwise_conv, x, rng.standard_normal(40).astype(dtype), 40)
        check(fastconv.channel_conv, R.channel_conv, x, rng.standard_normal((1, 2, 4)).astype(dtype), 8)
        for g in (2, 5, 8, 10):
            np.testing.assert_array_equal(fastconv.channel_shuffle(x, g), R.channel_shuffle(x, g))


def test_3d_large(isa):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 10, 12, 9, 24))
    w = rng.standard_normal((5, 4, 3, 24))
    check(fastconv.depthwise_conv, R.depthwise_conv, x, w, 60)
    check(fastconv.channel_conv, R.channel_conv, x, w[..., :6], 360)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_inf_propagate(isa, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 4, 20)).astype(dtype)
    x[0, 1, 2, 3] = np.nan
    x[1, 0, 0, 5] = np.inf
    x[1, 3, 3, 7] = -np.inf
    w = rng.standard_normal((2, 2, 20)).astype(dtype)
    for got, ref in [
        (fastconv.depthwise_conv(x, w), R.depthwise_conv(x, w)),
        (fastconv.pointwise_conv(x, w[0, 0]), R.pointwise_conv(x, w[0, 0])),
        (fastconv.channel_conv(x, w[..., :4]), R.channel_conv(x, w[..., :4])),
        (fastconv.channel_shuffle(x, 4), R.channel_shuffle(x, 4)),
    ]:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(ref))
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(ref))
        assert np.isnan(got).any()


def test_zero_batch_and_empty_channels():
    x = np.zeros((0, 4, 4, 8), np.float32)
    assert fastconv.depthwise_conv(x, np.ones((2, 2, 8), np.float32)).shape == (0, 2, 2, 8)
    assert fastconv.channel_shuffle(x, 2).shape == x.shape
    y = np.ones((2, 4, 6, 0), np.float32)
    np.testing.assert_array_equal(fastconv.pointwise_conv(y, np.ones(0, np.float32)), np.zeros((2, 4, 6)))


def test_dtype_promotion():
    x = np.ones((1, 2, 2, 4), np.float32)
    w = np.ones((2, 2, 4), np.float64)
    assert fastconv.depthwise_conv(x, w).dtype == np.float64
    assert fastconv.depthwise_conv(x, w.astype(np.float32)).dtype == np.float32
