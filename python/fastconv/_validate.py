"""Argument validation shared by the native operations and the reference.

Every error names the function, the argument, what was expected and what was
received. Validation runs before anything is written to ``out``.
"""
from __future__ import annotations

import operator

import numpy as np

from . import _core
from . import _window
from ._patches import out_spatial

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def array(fn: str, name: str, value) -> np.ndarray:
    """value, checked: a float32 or float64 ndarray (of either byte order; a non-native one
    is computed on as its native counterpart)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{fn}: argument '{name}' must be a numpy.ndarray, got {type(value).__name__}")
    if value.dtype not in _FLOATS and value.dtype.newbyteorder("=") not in _FLOATS:
        raise TypeError(f"{fn}: argument '{name}' must have dtype float32 or float64, got {value.dtype}")
    return value


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    first = arrays[0].dtype
    if first is _FLOATS[0] or first is _FLOATS[1]:
        for a in arrays:  # the common case, without result_type (a call's fixed cost)
            if a.dtype is not first:
                break
        else:
            return first
    return np.result_type(*(a.dtype.newbyteorder("=") for a in arrays))


def flag(fn: str, name: str, value) -> bool:
    """A bool argument: True, False or a numpy bool (anything else is a TypeError, never truthiness)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: argument '{name}' must be a bool, got {type(value).__name__}")
    return bool(value)


def image(fn: str, x: np.ndarray) -> int:
    """Checks x is (batch, *spatial, channels) with 1..3 spatial axes; returns the spatial rank."""
    if not 3 <= x.ndim <= 5:
        raise ValueError(
            f"{fn}: argument 'x' must have shape (batch, *spatial, channels) with 1 to 3 spatial axes "
            f"(3 to 5 dimensions), got {x.ndim} dimensions with shape {x.shape}"
        )
    return x.ndim - 2


def kernel(fn: str, x: np.ndarray, K: tuple, wname: str) -> tuple:
    """Checks a blocked kernel K against x's spatial axes (stride == kernel)."""
    for i, k in enumerate(K):
        if k < 1:
            raise ValueError(f"{fn}: argument '{wname}' must have kernel sizes >= 1, got kernel shape {tuple(K)}")
        s = x.shape[1 + i]
        if s % k:
            raise ValueError(
                f"{fn}: spatial axis {i} of 'x' has size {s}, which the kernel size {k} does not divide "
                f"(stride == kernel; nothing is cropped)"
            )
    return tuple(K)


def weight_shape(fn: str, name: str, w: np.ndarray, expected, ok: bool) -> None:
    """expected: the expected shape in words, or a callable giving it (built only on error)."""
    if not ok:
        expected = expected() if callable(expected) else expected
        raise ValueError(f"{fn}: argument '{name}' must have shape {expected}, got {w.shape}")


def positive_int(fn: str, name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: argument '{name}' must be an integer, got bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{fn}: argument '{name}' must be an integer, got {type(value).__name__}") from None
    if v < 1:
        raise ValueError(f"{fn}: argument '{name}' must be >= 1, got {v}")
    return v


def divides(fn: str, what: str, n: int, by_name: str, by: int) -> None:
    if n % by:
        raise ValueError(f"{fn}: {what} ({n}) must be divisible by {by_name} ({by})")


def output(fn: str, out, shape: tuple, dtype: np.dtype, inputs) -> np.ndarray:
    """Returns out (checked) or a new array of the result's shape and dtype. The kernels
    write into ``target(out)``; ``deliver`` copies that into out where they differ."""
    if out is None:
        return _core.aligned_empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: argument 'out' must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{fn}: argument 'out' must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{fn}: argument 'out' must have dtype {dtype}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{fn}: argument 'out' must be writeable, got a read-only array")
    if not out.flags.c_contiguous:
        raise ValueError(f"{fn}: argument 'out' must be C-contiguous, got strides {out.strides}")
    for name, a in inputs:
        if np.may_share_memory(out, a) and np.shares_memory(out, a):
            raise ValueError(f"{fn}: argument 'out' must not overlap input '{name}'")
    return out


def target(out: np.ndarray) -> np.ndarray:
    """Where the kernels write a result for out: out itself, or an aligned array of its shape
    where out's data is not aligned to its itemsize (the kernels store whole elements)."""
    return out if out.flags.aligned else _core.aligned_empty(out.shape, out.dtype)


def deliver(out: np.ndarray, res: np.ndarray) -> np.ndarray:
    if res is not out:
        out[...] = res
    return out


def spans_less(a: np.ndarray) -> bool:
    """Whether a's elements occupy less memory than a copy of a would (zero or overlapping
    strides: a broadcast, an as_strided window view): then it is never copied whole."""
    if a.size <= 1:
        return False
    extent = sum(abs(s) * (n - 1) for s, n in zip(a.strides, a.shape)) + a.itemsize
    return extent < a.size * a.itemsize


def engine_ready(a: np.ndarray) -> bool:
    """Data and every stride a multiple of the itemsize, native byte order: what the engine reads."""
    return a.dtype.isnative and a.flags.aligned and not any(s % a.itemsize for n, s in zip(a.shape, a.strides) if n > 1)


def compact(a: np.ndarray, dtype) -> np.ndarray:
    """a in dtype (native byte order), engine_ready, copying at most the memory a spans: an axis
    of stride 0 (a broadcast) is copied once and broadcast back, an overlapping view (as_strided
    windows) is cast by the extent it covers and viewed again the same way."""
    dtype = np.dtype(dtype).newbyteorder("=")
    core = a[tuple(slice(0, 1) if s == 0 else slice(None) for s in a.strides)]
    item = a.itemsize
    steps = [s // item if n > 1 else 0 for n, s in zip(core.shape, core.strides)]
    if not spans_less(core) or any(s % item for n, s in zip(core.shape, core.strides) if n > 1):
        copy = np.array(core, dtype=dtype, order="C")  # a copy (ascontiguousarray keeps a misaligned array)
    else:  # the memory it spans as a 1-D array, cast, and the same view of that
        lowest = core[tuple(slice(n - 1, n) if st < 0 else slice(0, 1) for n, st in zip(core.shape, steps))]
        extent = 1 + sum(abs(st) * (n - 1) for n, st in zip(core.shape, steps))
        flat = np.array(np.lib.stride_tricks.as_strided(lowest, (extent,), (item,)), dtype=dtype)
        first = sum(-st * (n - 1) for n, st in zip(core.shape, steps) if st < 0)  # core[0, ..., 0] in flat
        copy = np.lib.stride_tricks.as_strided(flat[first:], core.shape, [st * flat.itemsize for st in steps],
                                               writeable=False)
    return copy if copy.shape == a.shape else np.broadcast_to(copy, a.shape)


def _contiguous_native(a: np.ndarray, dtype: np.dtype) -> bool:
    """Whether a is aligned, C-contiguous, of dtype and in native byte order."""
    flags = a.flags
    return flags.c_contiguous and flags.aligned and a.dtype == dtype and a.dtype.isnative


def native_operand(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """a as the engine reads it: in dtype, aligned, with element strides; a view where it
    already is, else a copy (of at most the memory a spans). A strided channel axis is
    copied into a contiguous one (the kernels' vector axis) unless a spans less memory than
    a copy would (a broadcast: the engine reads its zero strides in place)."""
    if _contiguous_native(a, dtype):
        return a  # the common case, without engine_ready's strides (a call's fixed cost)
    if a.dtype == dtype and engine_ready(a) and (a.flags.c_contiguous or a.ndim == 0 or a.shape[-1] <= 1 or a.strides[-1] == a.itemsize
               or spans_less(a)):
        return a
    return compact(a, dtype)


def contiguous(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """a as an aligned, C-contiguous array of dtype (native): a itself where it is one."""
    if _contiguous_native(a, dtype):
        return a
    return np.array(a, dtype=dtype, order="C")  # a copy (ascontiguousarray keeps a misaligned array)


ACTIVATIONS = ("relu", "relu6", "silu", "gelu")


def activation(fn: str, value) -> str:
    """None or one of ACTIVATIONS (the engine's name; "" for none)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{fn}: argument 'activation' must be None or a str, got {type(value).__name__}")
    if value not in ACTIVATIONS:
        raise ValueError(f"{fn}: argument 'activation' must be None or one of {', '.join(map(repr, ACTIVATIONS))}, "
                         f"got {value!r}")
    return value


def bias(fn: str, value, shape: tuple, dtype: np.dtype):
    """None, or value as a native array of dtype and the given shape (one value per
    output channel)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        b = value
    else:
        try:
            b = np.asarray(value)
        except Exception as e:  # an object numpy cannot read
            raise TypeError(f"{fn}: argument 'bias' must be None or an array, got {type(value).__name__}") from e
    if b.dtype.kind not in "fiu" or b.dtype == np.bool_:
        raise TypeError(f"{fn}: argument 'bias' must be a real array, got dtype {b.dtype}")
    if b.shape != tuple(shape):
        raise ValueError(f"{fn}: argument 'bias' must have shape {tuple(shape)} (one value per output channel), "
                         f"got {b.shape}")
    return native_operand(b, dtype) if b.dtype.kind == "f" else np.asarray(b, dtype)


def window(fn, x, K, wname, win):
    """The windows (_window.Geometry) of kernel K over x; win: (stride, padding, dilation),
    None: the blocked conv (stride == kernel)."""
    return _window.geometry(fn, x, K, wname, *(win or (None, 0, 1)))


# ---- one signature check per operation, shared by the native op and its reference ----
# Each returns (x, w, spatial rank, windows (a _window.Geometry), result dtype, result
# shape); win: (stride, padding, dilation) or None (stride == kernel).

def depthwise(fn, x, w, wname="w", win=None):
    x, w = array(fn, "x", x), array(fn, wname, w)
    n = image(fn, x)
    c = x.shape[-1]
    weight_shape(fn, wname, w, lambda: f"(*K, c) with {n} kernel axes and c = {c}", w.ndim == n + 1 and w.shape[-1] == c)
    geo = window(fn, x, w.shape[:n], wname, win)
    return x, w, n, geo, result_dtype(x, w), (x.shape[0], *geo.out, c)


def pointwise(fn, x, w):
    x, w = array(fn, "x", x), array(fn, "w", w)
    n = image(fn, x)
    c = x.shape[-1]
    weight_shape(fn, "w", w, lambda: f"(c,) or (c, C) with c = {c}", w.ndim in (1, 2) and w.shape[0] == c)
    return x, w, n, (1,) * n, result_dtype(x, w), (*x.shape[:-1], *w.shape[1:])


def channel(fn, x, w, win=None):
    x, w = array(fn, "x", x), array(fn, "w", w)
    n = image(fn, x)
    c = x.shape[-1]
    weight_shape(fn, "w", w, lambda: f"(*K, m) with {n} kernel axes", w.ndim == n + 1)
    m = w.shape[-1]
    if m < 1:
        raise ValueError(f"{fn}: argument 'w' must have a channel block m >= 1, got shape {w.shape}")
    divides(fn, "the channel count of 'x'", c, "the block size m = w.shape[-1]", m)
    geo = window(fn, x, w.shape[:n], "w", win)
    return x, w, n, geo, result_dtype(x, w), (x.shape[0], *geo.out, c // m)


def shuffle(fn, x, groups):
    x = array(fn, "x", x)
    n = image(fn, x)
    g = positive_int(fn, "groups", groups)
    divides(fn, "the channel count of 'x'", x.shape[-1], "groups", g)
    return x, g, n


def conv(fn, x, w, win=None):
    x, w = array(fn, "x", x), array(fn, "w", w)
    n = image(fn, x)
    c = x.shape[-1]
    weight_shape(fn, "w", w, lambda: f"(*K, c, C) with {n} kernel axes and c = {c}", w.ndim == n + 2 and w.shape[-2] == c)
    geo = window(fn, x, w.shape[:n], "w", win)
    return x, w, n, geo, result_dtype(x, w), (x.shape[0], *geo.out, w.shape[-1])


def grouped(fn, x, w, pointwise, win=None):
    """Returns (x, w, n, K, dtype, shape, (g, c//g, C//g)); w is (*K, g, s, S) or, pointwise, (g, s, S)."""
    x, w = array(fn, "x", x), array(fn, "w", w)
    n = image(fn, x)
    c = x.shape[-1]
    kn = 0 if pointwise else n
    expected = "(g, c//g, C//g)" if pointwise else f"(*K, g, c//g, C//g) with {n} kernel axes"
    weight_shape(fn, "w", w, lambda: f"{expected} and g * (c//g) = {c}", w.ndim == kn + 3 and w.shape[kn] * w.shape[kn + 1] == c)
    g, s, S = w.shape[kn:]
    if g < 1:
        raise ValueError(f"{fn}: argument 'w' must have g >= 1 groups, got shape {w.shape}")
    geo = window(fn, x, w.shape[:kn] if kn else (1,) * n, "w", win)
    return x, w, n, geo, result_dtype(x, w), (x.shape[0], *geo.out, g * S), (g, s, S)


def depthwise_separable(fn, x, wd, wp, win=None):
    x, wd, n, geo, _, _ = depthwise(fn, x, wd, "wd", win)
    wp = array(fn, "wp", wp)
    c = x.shape[-1]
    weight_shape(fn, "wp", wp, lambda: f"(c, C) with c = {c}", wp.ndim == 2 and wp.shape[0] == c)
    return x, wd, wp, n, geo, result_dtype(x, wd, wp), (x.shape[0], *geo.out, wp.shape[1])


def _image2d(fn, x):
    x = array(fn, "x", x)
    if x.ndim != 4:
        raise ValueError(f"{fn}: argument 'x' must have shape (b, w, h, c) (2 spatial axes), got {x.ndim} "
                         f"dimensions with shape {x.shape}")
    return x


def spatially_separable(fn, x, wv, wh):
    x, wv, wh = _image2d(fn, x), array(fn, "wv", wv), array(fn, "wh", wh)
    c = x.shape[-1]
    weight_shape(fn, "wv", wv, lambda: f"(k, c, C) with c = {c}", wv.ndim == 3 and wv.shape[1] == c)
    weight_shape(fn, "wh", wh, lambda: f"(l, c, C) with c = {c} and C = {wv.shape[2]}",
                 wh.ndim == 3 and wh.shape[1:] == wv.shape[1:])
    K = kernel(fn, x, (wv.shape[0], wh.shape[0]), "wv/wh")
    return x, wv, wh, K, result_dtype(x, wv, wh), (x.shape[0], *out_spatial(x, K), wv.shape[2])


def flattened(fn, x, wc, wv, wh):
    x, wc, wv, wh = _image2d(fn, x), array(fn, "wc", wc), array(fn, "wv", wv), array(fn, "wh", wh)
    c = x.shape[-1]
    weight_shape(fn, "wc", wc, lambda: f"(c, C) with c = {c}", wc.ndim == 2 and wc.shape[0] == c)
    C = wc.shape[1]
    weight_shape(fn, "wv", wv, lambda: f"(k, C) with C = {C}", wv.ndim == 2 and wv.shape[1] == C)
    weight_shape(fn, "wh", wh, lambda: f"(l, C) with C = {C}", wh.ndim == 2 and wh.shape[1] == C)
    K = kernel(fn, x, (wv.shape[0], wh.shape[0]), "wv/wh")
    return x, wc, wv, wh, K, result_dtype(x, wc, wv, wh), (x.shape[0], *out_spatial(x, K), C)
