"""Every malformed call is a ValueError/TypeError naming the function and the argument; out is untouched."""
import numpy as np
import pytest

import fastconv
from fastconv import reference as R

f32 = np.float32
X = np.ones((2, 4, 6, 8), f32)

BAD = [
    # (function, args, kwargs, exception, message fragments)
    ("depthwise_conv", ([[1.0]], np.ones((2, 2, 8), f32)), {}, TypeError, ["'x'", "ndarray", "list"]),
    ("depthwise_conv", (X, "w"), {}, TypeError, ["'w'", "ndarray", "str"]),
    ("depthwise_conv", (X.astype(np.int32), np.ones((2, 2, 8), f32)), {}, TypeError, ["'x'", "int32"]),
    ("depthwise_conv", (X, np.ones((2, 2, 8), np.complex64)), {}, TypeError, ["'w'", "complex64"]),
    ("depthwise_conv", (X.astype(np.float16), np.ones((2, 2, 8), f32)), {}, TypeError, ["float16"]),
    ("depthwise_conv", (np.ones((4, 8), f32), np.ones((2, 8), f32)), {}, ValueError, ["'x'", "2 dimensions"]),
    ("depthwise_conv", (np.ones((1, 2, 2, 2, 2, 8), f32), np.ones((2, 8), f32)), {}, ValueError, ["'x'", "6 dimensions"]),
    ("depthwise_conv", (X, np.ones((2, 2, 7), f32)), {}, ValueError, ["'w'", "(*K, c)", "(2, 2, 7)"]),
    ("depthwise_conv", (X, np.ones((2, 8), f32)), {}, ValueError, ["'w'", "(2, 8)"]),
    ("depthwise_conv", (X, np.ones((3, 2, 8), f32)), {}, ValueError, ["spatial axis 0", "size 4", "kernel size 3"]),
    ("depthwise_conv", (X, np.ones((2, 4, 8), f32)), {}, ValueError, ["spatial axis 1", "size 6", "kernel size 4"]),
    ("depthwise_conv", (X, np.ones((0, 2, 8), f32)), {}, ValueError, ["'w'", "kernel sizes >= 1"]),
    ("pointwise_conv", (X, np.ones(7, f32)), {}, ValueError, ["'w'", "(c,) or (c, C)", "(7,)"]),
    ("pointwise_conv", (X, np.ones((8, 2, 2), f32)), {}, ValueError, ["'w'", "(8, 2, 2)"]),
    ("channel_conv", (X, np.ones((2, 2, 3), f32)), {}, ValueError, ["channel count", "(8)", "m = w.shape[-1]", "(3)"]),
    ("channel_conv", (X, np.ones((2, 2, 0), f32)), {}, ValueError, ["'w'", "m >= 1"]),
    ("channel_conv", (X, np.ones((2, 4), f32)), {}, ValueError, ["'w'", "(*K, m)"]),
    ("channel_conv", (X, np.ones((3, 2, 4), f32)), {}, ValueError, ["spatial axis 0", "kernel size 3"]),
    ("channel_shuffle", (X, 3), {}, ValueError, ["channel count", "groups", "(3)"]),
    ("channel_shuffle", (X, 0), {}, ValueError, ["'groups'", ">= 1"]),
    ("channel_shuffle", (X, -2), {}, ValueError, ["'groups'", ">= 1"]),
    ("channel_shuffle", (X, 2.0), {}, TypeError, ["'groups'", "integer", "float"]),
    ("channel_shuffle", (X, True), {}, TypeError, ["'groups'", "bool"]),
    ("channel_shuffle", (X.astype(np.int64), 2), {}, TypeError, ["'x'", "int64"]),
    ("channel_shuffle", (np.ones(8, f32), 2), {}, ValueError, ["'x'", "1 dimensions"]),
    ("conv", (X, np.ones((2, 2, 7, 4), f32)), {}, ValueError, ["'w'", "(*K, c, C)", "(2, 2, 7, 4)"]),
    ("conv", (X, np.ones((2, 8, 4), f32)), {}, ValueError, ["'w'", "2 kernel axes"]),
    ("conv", (X, np.ones((3, 2, 8, 4), f32)), {}, ValueError, ["spatial axis 0", "kernel size 3"]),
    ("conv", (X, np.ones((2, 2, 8, 4), np.int16)), {}, TypeError, ["'w'", "int16"]),
    ("pointwise_conv", (X, np.ones((7, 3), f32)), {}, ValueError, ["'w'", "(7, 3)"]),
    ("grouped_conv", (X, np.ones((2, 2, 3, 2, 4), f32)), {}, ValueError, ["'w'", "g * (c//g) = 8", "(2, 2, 3, 2, 4)"]),
    ("grouped_conv", (X, np.ones((2, 2, 0, 8, 4), f32)), {}, ValueError, ["'w'"]),
    ("grouped_conv", (X, np.ones((2, 4, 2, 4, 4), f32)), {}, ValueError, ["spatial axis 1", "kernel size 4"]),
    ("pointwise_grouped_conv", (X, np.ones((2, 3, 4), f32)), {}, ValueError, ["'w'", "(g, c//g, C//g)", "(2, 3, 4)"]),
    ("pointwise_grouped_conv", (X, np.ones((2, 2, 4, 4), f32)), {}, ValueError, ["'w'", "(2, 2, 4, 4)"]),
    ("depthwise_separable_conv", (X, np.ones((2, 2, 8), f32), np.ones((7, 3), f32)), {}, ValueError, ["'wp'", "(c, C)", "(7, 3)"]),
    ("depthwise_separable_conv", (X, np.ones((2, 2, 7), f32), np.ones((8, 3), f32)), {}, ValueError, ["'wd'", "(2, 2, 7)"]),
    ("depthwise_separable_conv", (X, np.ones((3, 2, 8), f32), np.ones((8, 3), f32)), {}, ValueError, ["spatial axis 0"]),
    ("spatially_separable_conv", (X, np.ones((2, 8, 3), f32), np.ones((2, 8, 4), f32)), {}, ValueError, ["'wh'", "(2, 8, 4)"]),
    ("spatially_separable_conv", (X, np.ones((2, 7, 3), f32), np.ones((2, 7, 3), f32)), {}, ValueError, ["'wv'", "(k, c, C)"]),
    ("spatially_separable_conv", (np.ones((2, 4, 8), f32), np.ones((2, 8, 3), f32), np.ones((2, 8, 3), f32)), {}, ValueError, ["'x'", "(b, w, h, c)"]),
    ("spatially_separable_conv", (X, np.ones((3, 8, 3), f32), np.ones((2, 8, 3), f32)), {}, ValueError, ["spatial axis 0", "kernel size 3"]),
    ("flattened_conv", (X, np.ones((8, 3), f32), np.ones((2, 4), f32), np.ones((2, 3), f32)), {}, ValueError, ["'wv'", "(k, C)", "(2, 4)"]),
    ("flattened_conv", (X, np.ones((7, 3), f32), np.ones((2, 3), f32), np.ones((2, 3), f32)), {}, ValueError, ["'wc'", "(7, 3)"]),
    ("flattened_conv", (X, np.ones((8, 3), f32), np.ones((2, 3), f32), np.ones((4, 3), f32)), {}, ValueError, ["spatial axis 1", "kernel size 4"]),
    ("flattened_conv", (X, np.ones((8, 3), np.int32), np.ones((2, 3), f32), np.ones((2, 3), f32)), {}, TypeError, ["'wc'", "int32"]),
]


@pytest.mark.parametrize("fn,args,kwargs,exc,frags", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
@pytest.mark.parametrize("module", [fastconv, R], ids=["fastconv", "reference"])
def test_bad_inputs(module, fn, args, kwargs, exc, frags):
    with pytest.raises(exc) as e:
        getattr(module, fn)(*args, **kwargs)
    msg = str(e.value)
    assert msg.startswith(fn + ":"), msg
    for f in frags:
        assert f in msg, (f, msg)


GOOD = [  # (function, args, result shape)
    ("depthwise_conv", (X, np.ones((2, 3, 8), f32)), (2, 2, 2, 8)),
    ("pointwise_conv", (X, np.ones(8, f32)), (2, 4, 6)),
    ("channel_conv", (X, np.ones((2, 2, 4), f32)), (2, 2, 3, 2)),
    ("channel_shuffle", (X, 4), (2, 4, 6, 8)),
    ("conv", (X, np.ones((2, 3, 8, 5), f32)), (2, 2, 2, 5)),
    ("pointwise_conv", (X, np.ones((8, 3), f32)), (2, 4, 6, 3)),
    ("grouped_conv", (X, np.ones((2, 2, 2, 4, 3), f32)), (2, 2, 3, 6)),
    ("pointwise_grouped_conv", (X, np.ones((4, 2, 3), f32)), (2, 4, 6, 12)),
    ("depthwise_separable_conv", (X, np.ones((2, 2, 8), f32), np.ones((8, 3), f32)), (2, 2, 3, 3)),
    ("spatially_separable_conv", (X, np.ones((2, 8, 3), f32), np.ones((3, 8, 3), f32)), (2, 2, 2, 3)),
    ("flattened_conv", (X, np.ones((8, 3), f32), np.ones((2, 3), f32), np.ones((3, 3), f32)), (2, 2, 2, 3)),
]


def bad_outs(shape):
    ro = np.zeros(shape, f32)
    ro.flags.writeable = False
    wide = np.zeros(shape[:-1] + (2 * shape[-1],), f32)
    return [
        ("list", [0.0], TypeError, "numpy.ndarray"),
        ("shape", np.zeros(shape[:-1] + (shape[-1] + 1,), f32), ValueError, "shape"),
        ("dtype", np.zeros(shape, np.float64), ValueError, "dtype float32"),
        ("readonly", ro, ValueError, "writeable"),
        ("noncontiguous", wide[..., ::2], ValueError, "C-contiguous"),
    ]


@pytest.mark.parametrize("fn,args,shape", GOOD, ids=[g[0] for g in GOOD])
def test_bad_out_untouched(fn, args, shape):
    for name, out, exc, frag in bad_outs(shape):
        before = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
        with pytest.raises(exc, match=frag) as e:
            getattr(fastconv, fn)(*args, out=out)
        assert str(e.value).startswith(f"{fn}: argument 'out'"), (name, str(e.value))
        if before is not None:
            np.testing.assert_array_equal(out, before)


def test_out_overlapping_input_is_refused():
    x = np.arange(2 * 4 * 6 * 8, dtype=f32).reshape(2, 4, 6, 8)
    before = x.copy()
    with pytest.raises(ValueError, match="overlap input 'x'"):
        fastconv.channel_shuffle(x, 2, out=x)
    with pytest.raises(ValueError, match="overlap input 'x'"):
        fastconv.pointwise_conv(x, np.ones(8, f32), out=x.reshape(-1)[: 2 * 4 * 6].reshape(2, 4, 6))
    np.testing.assert_array_equal(x, before)


def test_errors_dont_write_through_shared_views():
    """An out that is a view of w (same memory) is refused even when shapes match."""
    w = np.ones((2, 2, 8), f32)
    x = np.ones((1, 4, 4, 8), f32)
    buf = np.zeros(1 * 2 * 2 * 8 + 32, f32)
    out = buf[:32].reshape(1, 2, 2, 8)
    w2 = buf[:32].reshape(2, 2, 8)
    with pytest.raises(ValueError, match="overlap input 'w'"):
        fastconv.depthwise_conv(x, w2, out=out)
    fastconv.depthwise_conv(x, w, out=out)
    np.testing.assert_array_equal(out, np.full((1, 2, 2, 8), 4.0, f32))
