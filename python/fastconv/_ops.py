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
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    _core.contract(P.view(V.native_operand(x, dt), K, (c,)), "b" + xs + "c",
                   V.native_operand(w, dt), ks + "c", res, "b" + os_ + "c")
    return V.deliver(out, res)


def pointwise_conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1x1 convolution, channels-last.

    ``w`` of shape (c, C): the full 1x1 conv, ``out[b, *S, C] = sum_c x[b, *S, c] w[c, C]``.
    ``w`` of shape (c,): the filter, ``out[b, *S] = sum_c x[b, *S, c] w[c]``.
    """
    fn = "pointwise_conv"
    x, w, n, _, dt, shape = V.pointwise(fn, x, w)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    s = "b" + P.OUTER[:n]
    o = "o" * (w.ndim - 1)
    res = V.target(out)
    _core.contract(V.native_operand(x, dt), s + "c", V.native_operand(w, dt), "c" + o, res, s + o)
    return V.deliver(out, res)


def channel_conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Channel-blocked convolution: the note's ``'bWkHlCm,klm->bWHC'``.

    ``x``: (b, *S, c); ``w``: (*K, m) with m dividing c. Every block of m adjacent
    channels is reduced with the same (*K, m) kernel: returns (b, *S/K, c // m).
    """
    fn = "channel_conv"
    x, w, n, K, dt, shape = V.channel(fn, x, w)
    c, m = x.shape[-1], w.shape[-1]
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    _core.contract(P.view(V.native_operand(x, dt), K, (c // m, m)), "b" + xs + "om",
                   V.native_operand(w, dt), ks + "m", res, "b" + os_ + "o")
    return V.deliver(out, res)


def channel_shuffle(x: np.ndarray, groups: int, out: np.ndarray | None = None) -> np.ndarray:
    """ShuffleNet channel shuffle: ``out[..., j*g + i] = x[..., i*(c//g) + j]``.

    Same as ``torch.nn.functional.channel_shuffle`` on the channels-first tensor.
    """
    fn = "channel_shuffle"
    x, g, n = V.shuffle(fn, x, groups)
    c = x.shape[-1]
    dt = V.result_dtype(x)
    out = V.output(fn, out, x.shape, dt, (("x", x),))
    if c == 0:  # nothing to move, whatever the group count
        return out
    res = V.target(out)
    lead = "b" + P.OUTER[:n]
    xv = V.native_operand(x, dt)
    _core.contract(xv.reshape(*x.shape[:-1], g, c // g), lead + "gn", None, "",
                   res.reshape(*x.shape[:-1], c // g, g), lead + "ng")
    return V.deliver(out, res)


def conv(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Dense blocked convolution (stride == kernel), channels-last.

    ``x``: (b, *S, c) with 1..3 spatial axes; ``w``: (*K, c, C). Returns (b, *S/K, C):
    ``out[b, P, C] = sum_{K, c} x[b, P*K + K, c] * w[K, c, C]``, the note's
    ``'bWkHlc,klcC->bWHC'`` over the correct-patch view; equals
    ``torch.nn.functional.conv{1,2,3}d(..., stride=K)``. Runs on the GEMM path:
    patch rows are gathered straight from x, never materialised (no im2col).
    """
    fn = "conv"
    x, w, n, K, dt, shape = V.conv(fn, x, w)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    _core.contract(P.view(V.native_operand(x, dt), K, (x.shape[-1],)), "b" + xs + "c",
                   V.native_operand(w, dt), ks + "co", res, "b" + os_ + "o")
    return V.deliver(out, res)


def _grouped(fn, x, w, shuffle, out, pointwise):
    x, w, n, K, dt, shape, (g, s, S) = V.grouped(fn, x, w, pointwise)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    if pointwise:
        xv, xl, wl = V.native_operand(x, dt).reshape(*x.shape[:-1], g, s), "b" + os_ + "gs", "gso"
    else:
        xv, xl, wl = P.view(V.native_operand(x, dt), K, (g, s)), "b" + xs + "gs", ks + "gso"
    # shuffle=True is only another output stride: out[..., S*g + i] for group i.
    ov, ol = (res.reshape(*shape[:-1], S, g), "og") if shuffle else (res.reshape(*shape[:-1], g, S), "go")
    _core.contract(xv, xl, V.native_operand(w, dt), wl, ov, "b" + os_ + ol)
    return V.deliver(out, res)


def grouped_conv(x: np.ndarray, w: np.ndarray, shuffle: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Group convolution (stride == kernel): ``'bWkHlgs,klgsS->bWHgS'``, channels-last.

    ``x``: (b, *S, c); ``w``: (*K, g, c//g, C//g). Returns (b, *S/K, C) with group i's
    outputs at channels ``i*(C//g) ... (i+1)*(C//g) - 1``. ``shuffle=True`` writes the
    ShuffleNet order instead (``channel_shuffle(grouped_conv(x, w), g)``) directly
    through the output strides, at no extra cost. Equals torch's ``conv(groups=g)``.
    """
    return _grouped("grouped_conv", x, w, V.flag("grouped_conv", "shuffle", shuffle), out, pointwise=False)


def pointwise_grouped_conv(x: np.ndarray, w: np.ndarray, shuffle: bool = False,
                           out: np.ndarray | None = None) -> np.ndarray:
    """Point-wise (1x1) group convolution: ``'bwhgs,gsS->bwhgS'``; ``w``: (g, c//g, C//g).

    ``shuffle=True`` gives the shuffled group conv's channel order (as ``grouped_conv``).
    """
    return _grouped("pointwise_grouped_conv", x, w, V.flag("pointwise_grouped_conv", "shuffle", shuffle), out,
                    pointwise=True)


def depthwise_separable_conv(x: np.ndarray, wd: np.ndarray, wp: np.ndarray,
                             out: np.ndarray | None = None) -> np.ndarray:
    """Depthwise-separable convolution, fused: depthwise (stride == kernel) then 1x1.

    ``x``: (b, *S, c); ``wd``: (*K, c); ``wp``: (c, C). Returns (b, *S/K, C) equal to
    ``pointwise_conv(depthwise_conv(x, wd), wp)``. The depthwise stage fills a block of
    output pixels into a buffer that stays in cache and feeds the 1x1 GEMM tiles at
    once: the (b, *S/K, c) intermediate never goes to memory.
    """
    fn = "depthwise_separable_conv"
    x, wd, wp, n, K, dt, shape = V.depthwise_separable(fn, x, wd, wp)
    out = V.output(fn, out, shape, dt, (("x", x), ("wd", wd), ("wp", wp)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    xv, wdv, wpv = V.native_operand(x, dt), V.native_operand(wd, dt), V.native_operand(wp, dt)
    try:
        _core.contract_chain(P.view(xv, K, (x.shape[-1],)), "b" + xs + "c", wdv, ks + "c", "b" + os_ + "c",
                             wpv, "co", res, "b" + os_ + "o")
    except NotImplementedError:  # no fused chain for these shapes (1x1 weights past the packing bound)
        pointwise_conv(depthwise_conv(xv, wdv), wpv, out=res)
    return V.deliver(out, res)
