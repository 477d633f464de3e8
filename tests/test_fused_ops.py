"""Depthwise-separable (fused), spatially separable and flattened convs against the reference, on every ISA."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
from fastconv import _core, _separable
from fastconv import reference as R

from conftest import DTYPES, SETTINGS, case, check, images, layout, num_threads


@SETTINGS
@given(data=st.data())
def test_depthwise_separable(isa, data):
    shape, K = data.draw(images(max_c=40))
    dtype, kind, rng = case(data.draw)
    C = data.draw(st.integers(1, 40))
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    wd = rng.standard_normal((*K, shape[-1])).astype(dtype)
    wp = rng.standard_normal((shape[-1], C)).astype(dtype)
    check(fastconv.depthwise_separable_conv, R.depthwise_separable_conv, x, (wd, wp), int(np.prod(K)) * shape[-1])


@st.composite
def separable_case(draw):
    k, l = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    b = draw(st.integers(0, 3))
    shape = (b, k * draw(st.integers(1, 4)), l * draw(st.integers(1, 4)), draw(st.integers(1, 20)))
    return shape, (k, l), draw(st.integers(1, 20)), draw(st.sampled_from(["auto", "outer", "fused-staged"]))


@SETTINGS
@given(data=st.data(), small_blocks=st.booleans())
def test_spatially_separable(isa, data, small_blocks, monkeypatch):
    shape, (k, l), C, strategy = data.draw(separable_case())
    dtype, kind, rng = case(data.draw)
    c = shape[-1]
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    wv, wh = rng.standard_normal((k, c, C)).astype(dtype), rng.standard_normal((l, c, C)).astype(dtype)
    with monkeypatch.context() as m:
        if small_blocks:
            m.setattr(_separable, "_BLOCK_BYTES", 1)  # one output row per block
        check(lambda *a, **kw: fastconv.spatially_separable_conv(*a, strategy=strategy, **kw),
              R.spatially_separable_conv, x, (wv, wh), k * l * c)


@SETTINGS
@given(data=st.data(), small_blocks=st.booleans())
def test_flattened(isa, data, small_blocks, monkeypatch):
    shape, (k, l), C, strategy = data.draw(separable_case())
    dtype, kind, rng = case(data.draw)
    c = shape[-1]
    x = layout(rng.standard_normal(shape).astype(dtype), kind, rng)
    wc, wv, wh = (rng.standard_normal(s).astype(dtype) for s in ((c, C), (k, C), (l, C)))
    with monkeypatch.context() as m:
        if small_blocks:
            m.setattr(_separable, "_BLOCK_BYTES", 1)
        check(lambda *a, **kw: fastconv.flattened_conv(*a, strategy=strategy, **kw),
              R.flattened_conv, x, (wc, wv, wh), k * l * c)


def test_plan_cost_model():
    x = np.zeros((4, 56, 56, 32), np.float32)
    wv, wh = np.zeros((2, 32, 64), np.float32), np.zeros((2, 32, 64), np.float32)
    p = fastconv.separable_plan("spatially_separable_conv", x, wv, wh)
    assert p.strategy == "outer"
    assert set(p.costs) == {"outer", "fused-staged", "staged"}
    M = 4 * 28 * 28
    assert p.costs["outer"]["flops"] == 2 * M * 4 * 32 * 64 + 4 * 32 * 64
    assert p.costs["fused-staged"]["flops"] == 2 * M * 2 * 32 * 64 * 3
    assert p.costs["staged"]["bytes"] > p.costs["fused-staged"]["bytes"]  # the whole intermediate, twice
    for s, c in p.costs.items():
        assert c["cost"] == c["flops"] + _separable.FLOP_PER_BYTE * c["bytes"]
    assert min(("outer", "fused-staged"), key=lambda s: p.costs[s]["cost"]) == p.strategy
    # a tiny image: reading the dense kernel outweighs the extra FLOPs
    tiny = fastconv.separable_plan("flattened_conv", np.zeros((1, 2, 2, 64), np.float32),
                                   np.zeros((64, 64), np.float32), np.zeros((2, 64), np.float32),
                                   np.zeros((2, 64), np.float32))
    assert tiny.strategy == "fused-staged" and tiny.reason.startswith("cost model")
    # ... but not for the spatially separable conv, whose first stage runs far below the
    # GEMM's rate: outer, though the model costs fused-staged less
    tiny = fastconv.separable_plan("spatially_separable_conv", np.zeros((1, 2, 2, 128), np.float32),
                                   np.zeros((2, 128, 128), np.float32), np.zeros((2, 128, 128), np.float32))
    assert tiny.costs["fused-staged"]["cost"] < tiny.costs["outer"]["cost"]
    assert tiny.strategy == "outer" and "slower at every size" in tiny.reason
    forced = fastconv.separable_plan("spatially_separable_conv", x, wv, wh, strategy="fused-staged")
    assert forced.strategy == "fused-staged" and forced.reason == "requested"


def test_plan_and_strategy_errors():
    x = np.zeros((1, 4, 4, 3), np.float32)
    wv = wh = np.zeros((2, 3, 5), np.float32)
    with pytest.raises(ValueError, match="'strategy'.*'staged'"):
        fastconv.spatially_separable_conv(x, wv, wh, strategy="staged")
    with pytest.raises(ValueError, match="'op'"):
        fastconv.separable_plan("conv", x, wv, wh)
    with pytest.raises(ValueError, match="spatially_separable_conv: spatial axis 1"):
        fastconv.separable_plan("spatially_separable_conv", x, wv, np.zeros((3, 3, 5), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_threads_and_streaming(isa, dtype):
    """Large enough to split between threads and to stream the output."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((4, 96, 80, 32)).astype(dtype)
    wd, wp = rng.standard_normal((2, 2, 32)).astype(dtype), rng.standard_normal((32, 96)).astype(dtype)
    for threads in (1, 2, 3):
        with num_threads(threads):
            check(fastconv.depthwise_separable_conv, R.depthwise_separable_conv, x, (wd, wp), 128)


def test_nan_inf_propagate(isa):
    rng = np.random.default_rng(22)
    x = rng.standard_normal((2, 4, 4, 6))
    x[0, 1, 1, 2] = np.nan
    x[1, 2, 3, 0] = np.inf
    wd, wp = np.abs(rng.standard_normal((2, 2, 6))) + 0.1, np.abs(rng.standard_normal((6, 5))) + 0.1
    wv, wh = np.abs(rng.standard_normal((2, 6, 5))) + 0.1, np.abs(rng.standard_normal((2, 6, 5))) + 0.1
    for got, ref in [(fastconv.depthwise_separable_conv(x, wd, wp), R.depthwise_separable_conv(x, wd, wp)),
                     (fastconv.spatially_separable_conv(x, wv, wh), R.spatially_separable_conv(x, wv, wh)),
                     (fastconv.spatially_separable_conv(x, wv, wh, strategy="fused-staged"),
                      R.spatially_separable_conv(x, wv, wh))]:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
        assert np.isnan(got).any() and np.isinf(got).any()


# Padded depthwise-separable convs: the depthwise stage read in place a block of output
# rows at a time, then the 1x1 GEMM on the block. The block bound is shrunk so that the
# images split into row blocks (windows cut at each block's edges, rows wholly in the
# padding) and whole-image blocks with a remainder; 1 to 3 axes, stride, dilation.
PADDED_DWSEP = [
    ((2, 11, 9), (3, 3), dict(stride=1, padding=1)),
    ((3, 10, 13), (5, 3), dict(stride=2, padding=(2, 1), dilation=(1, 2))),
    ((2, 6, 7), (3, 3), dict(stride=1, padding=5)),
    ((5, 4, 4), (3, 3), dict(stride=1, padding="same")),
    ((2, 23), (7,), dict(stride=1, padding=3)),
    ((2, 5, 6, 4), (3, 3, 3), dict(stride=(1, 2, 1), padding=1)),
]


@pytest.mark.parametrize("block", [256, 2048, 1 << 20])
@pytest.mark.parametrize("shape, K, kw", PADDED_DWSEP)
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_separable_padded(isa, monkeypatch, block, shape, K, kw, dtype):
    monkeypatch.setattr("fastconv._ops._DWSEP_BLOCK", block)
    rng = np.random.default_rng(len(shape) + K[0])
    x = rng.standard_normal((*shape, 6)).astype(dtype)
    wd = rng.standard_normal((*K, 6)).astype(dtype)
    wp = rng.standard_normal((6, 11)).astype(dtype)
    bias = rng.standard_normal(11).astype(dtype)
    check(fastconv.depthwise_separable_conv, R.depthwise_separable_conv, x, (wd, wp), int(np.prod(K)) * 6,
          bias=bias, activation="relu6", **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_outer_product_kernel(dtype):
    """The separable convs' dense kernel (_core.outer_rows): numpy's broadcast product bit
    for bit, from strided, byte-swapped, empty and mixed-dtype factors; bad shapes raise."""
    _outer = _separable._outer
    rng = np.random.default_rng(5)
    wv = rng.standard_normal((3, 7, 10)).astype(dtype)
    wh = rng.standard_normal((2, 7, 20)).astype(np.float32)[:, :, ::2]  # strided, maybe another dtype
    got = _outer(wv, wh, np.dtype(dtype))
    np.testing.assert_array_equal(got, wv[:, None] * wh.astype(dtype)[None])
    swapped = wv.astype(wv.dtype.newbyteorder(">"))
    np.testing.assert_array_equal(_outer(swapped, wv, np.dtype(dtype)), wv[:, None] * wv[None])
    assert _outer(wv[:0], wv, np.dtype(dtype)).shape == (0, 3, 7, 10)
    assert _outer(wv[:, :0], wv[:, :0], np.dtype(dtype)).shape == (3, 3, 0, 10)
    with pytest.raises(ValueError, match="outer_rows"):
        _core.outer_rows(wv, wv[:, :, :5].copy(), np.empty((3, 3, 7, 10), dtype))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.outer_rows(wv, wv, np.empty((3, 3, 7, 20), dtype)[..., ::2])
    raw = np.zeros(wv.nbytes + 1, np.uint8)
    odd = raw[1:].view(dtype).reshape(wv.shape)  # C-contiguous, misaligned
    odd[...] = wv
    assert not odd.flags.aligned
    with pytest.raises(ValueError, match="aligned"):
        _core.outer_rows(odd, wv, np.empty((3, 3, 7, 10), dtype))
    np.testing.assert_array_equal(_outer(odd, wv, np.dtype(dtype)), wv[:, None] * wv[None])
