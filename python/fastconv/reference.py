"""The numpy.einsum baselines of every operation (SPEC §2).

One function per operation, with the operation's signature plus ``optimize``
(passed to numpy.einsum). Each is written with numpy.einsum over the
correct-patch view ``x.reshape(b, S1//k1, k1, ..., c)`` — not the note's 2-D
reshape ``x.reshape(b, w//k, h//l, k, l, c)``, which chops the flat buffer and
does not pick out spatial patches. Tests use these as the oracle and
benchmarks as the baseline. Arguments are validated as in the native functions.
"""
from __future__ import annotations

import numpy as np

import math

from . import _patches as P
from . import _validate as V
from . import _window

_erf = np.frompyfunc(math.erf, 1, 1)


def activate(y: np.ndarray, activation) -> np.ndarray:
    """numpy's value of each activation (SPEC: relu, relu6, silu, erf GELU)."""
    if activation is None:
        return y
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.minimum(np.maximum(y, 0), 6)
    if activation == "silu":
        with np.errstate(over="ignore"):
            return y / (1 + np.exp(-y))
    if activation == "gelu":
        return (0.5 * y * (1 + _erf(y / math.sqrt(2)).astype(y.dtype))).astype(y.dtype)
    raise ValueError(f"unknown activation {activation!r}")


def _windows(x, geo, channels):
    """The window view of x zero-padded (a padded copy: the reference may copy)."""
    if not geo.blocked:
        x = np.pad(x, [(0, 0), *geo.pads, (0, 0)])
    return _window.window_view(x, geo, channels, (0,) * len(geo.K), geo.out)


def _epilogue(fn, r, out, dtype, bias, activation, bias_shape, shape=None):
    """act(r + bias) (checked as the native op checks them) into out or a new array."""
    b = V.bias(fn, bias, bias_shape, dtype)
    V.activation(fn, activation)
    r = np.asarray(r, dtype)
    if shape is not None:
        r = r.reshape(shape)
    if b is not None:
        r = r + b
    r = activate(r, activation).astype(dtype, copy=False)
    if out is None:
        return np.ascontiguousarray(r)
    out[...] = r
    return out


def _einsum(expr, *ops, out, dtype, optimize):
    ops = [o.astype(dtype, copy=False) for o in ops]
    r = np.einsum(expr, *ops, optimize=optimize)
    if out is None:
        return np.ascontiguousarray(r)
    out[...] = r
    return out


def _finish(fn, out, shape, dtype, arrays):
    return V.output(fn, out, shape, dtype, arrays) if out is not None else None


def conv(x, w, out=None, *, stride=None, padding=0, dilation=1, bias=None, activation=None, optimize=False):
    """Dense conv: ``'bWkHlc,klcC->bWHC'`` (2-D) over the (padded) window view, w (*K, c, C)."""
    fn = "conv"
    x, w, n, geo, dt, shape = V.conv(fn, x, w, (stride, padding, dilation))
    c = x.shape[-1]
    out = _finish(fn, out, shape, dt, (("x", x), ("w", w)))
    xs, ks, os_ = P.labels(n)
    r = _einsum(f"b{xs}c,{ks}cC->b{os_}C", _windows(x, geo, (c,)), w, out=None, dtype=dt, optimize=optimize)
    return _epilogue(fn, r, out, dt, bias, activation, (w.shape[-1],))


def pointwise_conv(x, w, out=None, *, bias=None, activation=None, optimize=False):
    """1x1 conv ``'bwhc,cC->bwhC'``, or the filter ``'bwhc,c->bwh'`` for w of shape (c,)."""
    fn = "pointwise_conv"
    x, w, n, _, dt, shape = V.pointwise(fn, x, w)
    out = _finish(fn, out, shape, dt, (("x", x), ("w", w)))
    tail = w.shape[1:]
    s = "b" + P.OUTER[:n]
    r = _einsum(f"{s}c,c{'C' * len(tail)}->{s}{'C' * len(tail)}", x, w, out=None, dtype=dt, optimize=optimize)
    return _epilogue(fn, r, out, dt, bias, activation, tail)


def depthwise_conv(x, w, out=None, *, stride=None, padding=0, dilation=1, bias=None, activation=None,
                   optimize=False):
    """Depthwise ``'bWkHlc,klc->bWHc'``, w (*K, c)."""
    fn = "depthwise_conv"
    x, w, n, geo, dt, shape = V.depthwise(fn, x, w, win=(stride, padding, dilation))
    c = x.shape[-1]
    out = _finish(fn, out, shape, dt, (("x", x), ("w", w)))
    xs, ks, os_ = P.labels(n)
    r = _einsum(f"b{xs}c,{ks}c->b{os_}c", _windows(x, geo, (c,)), w, out=None, dtype=dt, optimize=optimize)
    return _epilogue(fn, r, out, dt, bias, activation, (c,))


def channel_conv(x, w, out=None, *, stride=None, padding=0, dilation=1, bias=None, activation=None,
                 optimize=False):
    """Channel-blocked conv ``'bWkHlCm,klm->bWHC'``, w (*K, m)."""
    fn = "channel_conv"
    x, w, n, geo, dt, shape = V.channel(fn, x, w, (stride, padding, dilation))
    c, m = x.shape[-1], w.shape[-1]
    out = _finish(fn, out, shape, dt, (("x", x), ("w", w)))
    xs, ks, os_ = P.labels(n)
    r = _einsum(f"b{xs}Cm,{ks}m->b{os_}C", _windows(x, geo, (c // m, m)), w, out=None, dtype=dt, optimize=optimize)
    return _epilogue(fn, r, out, dt, bias, activation, (c // m,))


def _grouped(fn, x, w, out, shuffle, optimize, pointwise, win, bias, activation):
    x, w, n, geo, dt, shape, (g, s, S) = V.grouped(fn, x, w, pointwise, win)
    out = _finish(fn, out, shape, dt, (("x", x), ("w", w)))
    if pointwise:
        w = w[(None,) * n]
    xs, ks, os_ = P.labels(n)
    r = _einsum(f"b{xs}gs,{ks}gsS->b{os_}gS", _windows(x, geo, (g, s)), w, out=None, dtype=dt, optimize=optimize)
    r = _epilogue(fn, r, None, dt, bias, activation, (g * S,), shape)
    if shuffle:  # the conv's channels (bias included) in the ShuffleNet order
        r = np.ascontiguousarray(np.swapaxes(r.reshape(*shape[:-1], g, S), -1, -2).reshape(shape))
    if out is None:
        return r
    out[...] = r
    return out


def grouped_conv(x, w, shuffle=False, out=None, *, stride=None, padding=0, dilation=1, bias=None, activation=None,
                 optimize=False):
    """Group conv ``'bWkHlgs,klgsS->bWHgS'``, w (*K, g, c//g, C//g); shuffle=True gives ``...->bWHSg``."""
    return _grouped("grouped_conv", x, w, out, shuffle, optimize, False, (stride, padding, dilation), bias,
                    activation)


def pointwise_grouped_conv(x, w, shuffle=False, out=None, *, bias=None, activation=None, optimize=False):
    """Point-wise group conv ``'bwhgs,gsS->bwhgS'``, w (g, c//g, C//g); shuffle=True gives ``...->bwhSg``."""
    return _grouped("pointwise_grouped_conv", x, w, out, shuffle, optimize, True, None, bias, activation)


def channel_shuffle(x, groups, out=None, *, optimize=False):
    """ShuffleNet shuffle ``'...gn->...ng'``: ``out[..., j*g + i] = x[..., i*(c//g) + j]``."""
    fn = "channel_shuffle"
    x, g, _ = V.shuffle(fn, x, groups)
    c = x.shape[-1]
    out = _finish(fn, out, x.shape, x.dtype, (("x", x),))
    r = np.einsum("...gn->...ng", x.reshape(*x.shape[:-1], g, c // g), optimize=optimize).reshape(x.shape)
    if out is None:
        return np.ascontiguousarray(r)
    out[...] = r
    return out


def spatially_separable_conv(x, wv, wh, out=None, *, optimize=False):
    """``'bWkhc,kcC->bWhcC'`` then ``'bWHlcC,lcC->bWHC'``; wv (k, c, C), wh (l, c, C); 2-D."""
    fn = "spatially_separable_conv"
    x, wv, wh, (k, l), dt, shape = V.spatially_separable(fn, x, wv, wh)
    out = _finish(fn, out, shape, dt, (("x", x), ("wv", wv), ("wh", wh)))
    b, W, H, C = shape
    c = x.shape[-1]
    inter = np.einsum("bWkhc,kcC->bWhcC", x.reshape(b, W, k, x.shape[2], c).astype(dt, copy=False),
                      wv.astype(dt, copy=False), optimize=optimize)
    return _einsum("bWHlcC,lcC->bWHC", inter.reshape(b, W, H, l, c, C), wh, out=out, dtype=dt, optimize=optimize)


def depthwise_separable_conv(x, wd, wp, out=None, *, stride=None, padding=0, dilation=1, bias=None,
                             activation=None, optimize=False):
    """Depthwise ``'bWkHlc,klc->bWHc'`` then 1x1 ``'bWHc,cC->bWHC'``; wd (*K, c), wp (c, C)."""
    fn = "depthwise_separable_conv"
    x, wd, wp, n, geo, dt, shape = V.depthwise_separable(fn, x, wd, wp, (stride, padding, dilation))
    out = _finish(fn, out, shape, dt, (("x", x), ("wd", wd), ("wp", wp)))
    inter = depthwise_conv(x, wd, stride=stride, padding=padding, dilation=dilation, optimize=optimize)
    s = "b" + P.OUTER[:n]
    r = _einsum(f"{s}c,cC->{s}C", inter, wp, out=None, dtype=dt, optimize=optimize)
    return _epilogue(fn, r, out, dt, bias, activation, (wp.shape[1],))


def flattened_conv(x, wc, wv, wh, out=None, *, optimize=False):
    """Channel 1x1 ``'bwhc,cC->bwhC'``, then vertical ``'bWkhC,kC->bWhC'``, then horizontal
    ``'bWHlC,lC->bWHC'``; wc (c, C), wv (k, C), wh (l, C); 2-D."""
    fn = "flattened_conv"
    x, wc, wv, wh, (k, l), dt, shape = V.flattened(fn, x, wc, wv, wh)
    out = _finish(fn, out, shape, dt, (("x", x), ("wc", wc), ("wv", wv), ("wh", wh)))
    b, W, H, C = shape
    h = x.shape[2]
    y = np.einsum("bwhc,cC->bwhC", x.astype(dt, copy=False), wc.astype(dt, copy=False), optimize=optimize)
    y = np.einsum("bWkhC,kC->bWhC", y.reshape(b, W, k, h, C), wv.astype(dt, copy=False), optimize=optimize)
    return _einsum("bWHlC,lC->bWHC", y.reshape(b, W, H, l, C), wh, out=out, dtype=dt, optimize=optimize)
