"""The public operations: thin wrappers that validate, build strided views and
hand them to the native engine (``fastconv._core.contract``)."""
from __future__ import annotations

import numpy as np

from . import _core
from . import _patches as P
from . import _validate as V


def depthwise_conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Depthwise blocked convolution (stride == kernel), channels-last.

    ``x``: (b, *S, c) with 1..3 spatial axes; ``w``: (*K, c), one kernel per channel.
    Returns (b, *S/K, c) with ``out[b, P, c] = sum_K x[b, P*K + K, c] * w[K, c]``.
    Equals ``torch.nn.functional.conv{1,2,3}d(..., stride=K, groups=c)``.
    """
    fn = "depthwise_conv"
    x, w, n, K, dt, shape = V.depthwise(fn, x, w)
    c = x.shape[-1]
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
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
    x, w, n, _, dt, shape = V.pointwise(fn, x, w)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    if w.ndim == 2:
        # The dense 1x1 conv is a plain matrix product over the channels.
        np.matmul(x.astype(dt, copy=False), w.astype(dt, copy=False), out=out)
        return out
    os_ = "b" + P.OUTER[:n]
    _core.contract(V.native_operand(x, dt), os_ + "c", V.native_operand(w, dt), "c", out, os_)
    return out


def channel_conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Channel-blocked convolution: the note's ``'bWkHlCm,klm->bWHC'``.

    ``x``: (b, *S, c); ``w``: (*K, m) with m dividing c. Every block of m adjacent
    channels is reduced with the same (*K, m) kernel: returns (b, *S/K, c // m).
    """
    fn = "channel_conv"
    x, w, n, K, dt, shape = V.channel(fn, x, w)
    c, m = x.shape[-1], w.shape[-1]
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    xs, ks, os_ = P.labels(n)
    _core.contract(P.view(V.native_operand(x, dt), K, (c // m, m)), "b" + xs + "om",
                   V.native_operand(w, dt), ks + "m", out, "b" + os_ + "o")
    return out


def channel_shuffle(x: np.ndarray, groups: int, out: np.ndarray | None = None) -> np.ndarray:
    """ShuffleNet channel shuffle: ``out[..., j*g + i] = x[..., i*(c//g) + j]``.

    Same as ``torch.nn.functional.channel_shuffle`` on the channels-first tensor.
    """
    fn = "channel_shuffle"
    x, g, n = V.shuffle(fn, x, groups)
    c = x.shape[-1]
    out = V.output(fn, out, x.shape, x.dtype, (("x", x),))
    lead = "b" + P.OUTER[:n]
    xv = V.native_operand(x, x.dtype)
    _core.contract(xv.reshape(*x.shape[:-1], g, c // g), lead + "gn", None, "",
                   out.reshape(*x.shape[:-1], c // g, g), lead + "ng")
    return out
