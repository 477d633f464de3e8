"""The public operations: thin wrappers that validate, build strided views and
hand them to the native engine (``fastconv._core.contract``)."""
from __future__ import annotations

import numpy as np

from . import _core
from . import _patches as P
from . import _validate as V


def _inputs(fn: str, **arrays: np.ndarray):
    return [V.array(fn, name, a) for name, a in arrays.items()]


def depthwise_conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Depthwise blocked convolution (stride == kernel), channels-last.

    ``x``: (b, *S, c) with 1..3 spatial axes; ``w``: (*K, c), one kernel per channel.
    Returns (b, *S/K, c) with ``out[b, P, c] = sum_K x[b, P*K + K, c] * w[K, c]``.
    Equals ``torch.nn.functional.conv{1,2,3}d(..., stride=K, groups=c)``.
    """
    fn = "depthwise_conv"
    x, w = _inputs(fn, x=x, w=w)
    n = V.image(fn, x)
    c = x.shape[-1]
    V.weight_shape(fn, "w", w, f"(*K, c) with {n} kernel axes and c = {c}", w.ndim == n + 1 and w.shape[-1] == c)
    K = V.kernel(fn, x, w.shape[:n], "w")
    dt = V.result_dtype(x, w)
    out = V.output(fn, out, (x.shape[0], *P.out_spatial(x, K), c), dt, (("x", x), ("w", w)))
    xs, ks, os_ = P.labels(n)
    _core.contract(P.view(V.native_operand(x, dt), K, (c,)), "b" + xs + "c",
                   V.native_operand(w, dt), ks + "c", out, "b" + os_ + "c")
    return out


def pointwise_conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1x1 convolution, channels-last.

    ``w`` of shape (c, C): the full 1x1 conv, ``out[b, *S, C] = sum_c x[b, *S, c] w[c, C]``.
    ``w`` of shape (c,): the filter, ``out[b, *S] = sum_c x[b, *S, c] w[c]``.
    """
    fn = "pointwise_conv"
    x, w = _inputs(fn, x=x, w=w)
    n = V.image(fn, x)
    c = x.shape[-1]
    V.weight_shape(fn, "w", w, f"(c,) or (c, C) with c = {c}", w.ndim in (1, 2) and w.shape[0] == c)
    dt = V.result_dtype(x, w)
    lead = x.shape[:-1]
    if w.ndim == 2:
        # The dense 1x1 conv is a plain matrix product over the channels.
        out = V.output(fn, out, (*lead, w.shape[1]), dt, (("x", x), ("w", w)))
        np.matmul(x.astype(dt, copy=False), w.astype(dt, copy=False), out=out)
        return out
    out = V.output(fn, out, lead, dt, (("x", x), ("w", w)))
    os_ = "b" + P.OUTER[:n]
    _core.contract(V.native_operand(x, dt), os_ + "c", V.native_operand(w, dt), "c", out, os_)
    return out


def channel_conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Channel-blocked convolution: the note's ``'bWkHlCm,klm->bWHC'``.

    ``x``: (b, *S, c); ``w``: (*K, m) with m dividing c. Every block of m adjacent
    channels is reduced with the same (*K, m) kernel: returns (b, *S/K, c // m).
    """
    fn = "channel_conv"
    x, w = _inputs(fn, x=x, w=w)
    n = V.image(fn, x)
    c = x.shape[-1]
    V.weight_shape(fn, "w", w, f"(*K, m) with {n} kernel axes", w.ndim == n + 1)
    m = w.shape[-1]
    if m < 1:
        raise ValueError(f"{fn}: argument 'w' must have a channel block m >= 1, got shape {w.shape}")
    V.divides(fn, "the channel count of 'x'", c, "the block size m = w.shape[-1]", m)
    K = V.kernel(fn, x, w.shape[:n], "w")
    dt = V.result_dtype(x, w)
    out = V.output(fn, out, (x.shape[0], *P.out_spatial(x, K), c // m), dt, (("x", x), ("w", w)))
    xs, ks, os_ = P.labels(n)
    _core.contract(P.view(V.native_operand(x, dt), K, (c // m, m)), "b" + xs + "om",
                   V.native_operand(w, dt), ks + "m", out, "b" + os_ + "o")
    return out


def channel_shuffle(x: np.ndarray, groups: int, out: np.ndarray | None = None) -> np.ndarray:
    """ShuffleNet channel shuffle: ``out[..., j*g + i] = x[..., i*(c//g) + j]``.

    Same as ``torch.nn.functional.channel_shuffle`` on the channels-first tensor.
    """
    fn = "channel_shuffle"
    (x,) = _inputs(fn, x=x)
    n = V.image(fn, x)
    g = V.positive_int(fn, "groups", groups)
    c = x.shape[-1]
    V.divides(fn, "the channel count of 'x'", c, "groups", g)
    out = V.output(fn, out, x.shape, x.dtype, (("x", x),))
    lead = "b" + P.OUTER[:n]
    xv = V.native_operand(x, x.dtype)
    _core.contract(xv.reshape(*x.shape[:-1], g, c // g), lead + "gn", None, "",
                   out.reshape(*x.shape[:-1], c // g, g), lead + "ng")
    return out
