"""The public operations: thin wrappers that validate, build strided views and
hand them to the native engine (``fastconv._core.contract``).

The convolutions take, keyword-only: ``stride`` (None: stride == kernel, the note's
blocked conv, where the kernel must divide each axis; else an int or one per spatial
axis, trailing rows that no window reaches dropped as torch drops them), ``padding``
(zeros: an int, one per axis, a ``(lo, hi)`` pair per axis, ``"valid"`` or ``"same"``,
the latter for stride 1 with torch's rule for even kernels), ``dilation`` (an int or one
per axis), ``bias`` (one value per output channel, cast to the result's dtype) and
``activation`` (None, ``"relu"``, ``"relu6"``, ``"silu"`` or ``"gelu"``, erf's). The
output's size along each axis is ``(s + lo + hi - dilation*(k-1) - 1) // stride + 1``.
Bias and activation are applied as the outputs are stored (no second pass over them):
``out = activation(conv + bias)``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from . import _core
from . import _patches as P
from . import _validate as V
from . import _window

IntOrTuple = Union[int, Sequence[int]]
Padding = Union[int, str, Sequence[int], Sequence[Sequence[int]]]


def _win(stride, padding, dilation):
    return (stride, padding, dilation)


def _unit_channels(*arrays) -> bool:
    """Whether every array's last (channel) axis is unit-stride: _core.depthwise_window's condition."""
    return all(a.shape[-1] == 1 or a.strides[-1] == a.itemsize for a in arrays)


def _contract(xv, xl, w, wl, res, ol, bias, bl, act, windows=(), view=None):
    _core.contract(xv, xl, w, wl, res, ol, bias, bl, act, windows, view)  # by position: a call's fixed cost


def depthwise_conv(x: np.ndarray, w: np.ndarray, out: Optional[np.ndarray] = None, *,
                   stride: Optional[IntOrTuple] = None, padding: Padding = 0, dilation: IntOrTuple = 1,
                   bias: Optional[np.ndarray] = None, activation: Optional[str] = None) -> np.ndarray:
    """Depthwise convolution, channels-last: one kernel per channel.

    ``x``: (b, *S, c) with 1..3 spatial axes; ``w``: (*K, c); ``bias``: (c,). Returns
    (b, *O, c) with ``out[b, P, c] = act(sum_K x[b, P*stride + K*dilation - lo, c] * w[K, c]
    + bias[c])``, zeros outside x. By default stride == kernel (blocked). Equals
    ``torch.nn.functional.conv{1,2,3}d(..., stride, padding, dilation, groups=c)``.
    """
    fn = "depthwise_conv"
    x, w, n, geo, dt, shape = V.depthwise(fn, x, w, win=_win(stride, padding, dilation))
    c = x.shape[-1]
    b, act = V.bias(fn, bias, (c,), dt), V.activation(fn, activation)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    xv, wv = V.native_operand(x, dt), V.native_operand(w, dt)
    if not geo.blocked and _unit_channels(xv, wv, res):
        # Windows read in place, the padding's taps skipped: no band copies.
        _core.depthwise_window(xv, wv, res, geo.stride, geo.dilation, tuple(lo for lo, _ in geo.pads), b, act)
        return V.deliver(out, res)
    _window.run(geo, xv, (c,), res,
                lambda xv, ov: _contract(xv, "b" + xs + "c", wv, ks + "c", ov, "b" + os_ + "c", b, "c", act))
    return V.deliver(out, res)


def pointwise_conv(x: np.ndarray, w: np.ndarray, out: Optional[np.ndarray] = None, *,
                   bias: Optional[np.ndarray] = None, activation: Optional[str] = None) -> np.ndarray:
    """1x1 convolution, channels-last.

    ``w`` of shape (c, C): the full 1x1 conv, ``out[b, *S, C] = act(sum_c x[b, *S, c] w[c, C] + bias[C])``.
    ``w`` of shape (c,): the filter, ``out[b, *S] = act(sum_c x[b, *S, c] w[c] + bias)``
    (``bias`` of shape () then).
    """
    fn = "pointwise_conv"
    x, w, n, _, dt, shape = V.pointwise(fn, x, w)
    b, act = V.bias(fn, bias, w.shape[1:], dt), V.activation(fn, activation)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    s = "b" + P.OUTER[:n]
    o = "o" * (w.ndim - 1)
    res = V.target(out)
    _contract(V.native_operand(x, dt), s + "c", V.native_operand(w, dt), "c" + o, res, s + o, b, o, act)
    return V.deliver(out, res)


def channel_conv(x: np.ndarray, w: np.ndarray, out: Optional[np.ndarray] = None, *,
                 stride: Optional[IntOrTuple] = None, padding: Padding = 0, dilation: IntOrTuple = 1,
                 bias: Optional[np.ndarray] = None, activation: Optional[str] = None) -> np.ndarray:
    """Channel-blocked convolution: the note's ``'bWkHlCm,klm->bWHC'``.

    ``x``: (b, *S, c); ``w``: (*K, m) with m dividing c; ``bias``: (c // m,). Every block
    of m adjacent channels is reduced with the same (*K, m) kernel: returns
    (b, *O, c // m). Windows as ``conv``'s.
    """
    fn = "channel_conv"
    x, w, n, geo, dt, shape = V.channel(fn, x, w, win=_win(stride, padding, dilation))
    c, m = x.shape[-1], w.shape[-1]
    b, act = V.bias(fn, bias, (c // m,), dt), V.activation(fn, activation)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    wv = V.native_operand(w, dt)
    _window.run(geo, V.native_operand(x, dt), (c // m, m), res,
                lambda xv, ov: _contract(xv, "b" + xs + "om", wv, ks + "m", ov, "b" + os_ + "o", b, "o", act))
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


def conv(x: np.ndarray, w: np.ndarray, out: Optional[np.ndarray] = None, *,
         stride: Optional[IntOrTuple] = None, padding: Padding = 0, dilation: IntOrTuple = 1,
         bias: Optional[np.ndarray] = None, activation: Optional[str] = None) -> np.ndarray:
    """Dense convolution, channels-last.

    ``x``: (b, *S, c) with 1..3 spatial axes; ``w``: (*K, c, C); ``bias``: (C,). Returns
    (b, *O, C): ``out[b, P, C] = act(sum_{K, c} x[b, P*stride + K*dilation - lo, c] * w[K, c, C]
    + bias[C])``, zeros outside x; by default stride == kernel, the note's
    ``'bWkHlc,klcC->bWHC'`` over the correct-patch view. Equals
    ``torch.nn.functional.conv{1,2,3}d(..., stride, padding, dilation)`` (+ the activation).
    Runs on the GEMM path: windows are read straight from x, never materialised (no
    im2col); the padding is read as zeros, never copied.
    """
    fn = "conv"
    x, w, n, geo, dt, shape = V.conv(fn, x, w, win=_win(stride, padding, dilation))
    b, act = V.bias(fn, bias, (w.shape[-1],), dt), V.activation(fn, activation)
    return _conv(x, w, n, geo, dt, V.output(fn, out, shape, dt, (("x", x), ("w", w))), b, act)


def _conv(x, w, n, geo, dt, out, b=None, act=""):
    """conv after its checks (V.conv's results, the checked out, bias and activation)."""
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    wv = V.native_operand(w, dt)
    xl, wl, ol = "b" + xs + "c", ks + "co", "b" + os_ + "o"
    _window.run(geo, V.native_operand(x, dt), (x.shape[-1],), res,
                lambda xv, ov: _contract(xv, xl, wv, wl, ov, ol, b, "o", act),
                lambda x_, lay, ov, axes: _contract(x_, xl, wv, wl, ov, ol, b, "o", act, axes, lay))
    return V.deliver(out, res)


def _grouped(fn, x, w, shuffle, out, pointwise, win, bias, activation):
    x, w, n, geo, dt, shape, (g, s, S) = V.grouped(fn, x, w, pointwise, win)
    b, act = V.bias(fn, bias, (g * S,), dt), V.activation(fn, activation)
    out = V.output(fn, out, shape, dt, (("x", x), ("w", w)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    # The bias is the unshuffled conv's, per (group, output): shuffle=True moves it with
    # the outputs.
    bv = None if b is None else b.reshape(g, S)
    wv = V.native_operand(w, dt)
    # shuffle=True is only another output stride: out[..., S*g + i] for group i.
    ov, ol = (res.reshape(*shape[:-1], S, g), "og") if shuffle else (res.reshape(*shape[:-1], g, S), "go")
    if pointwise:
        xv = V.native_operand(x, dt).reshape(*x.shape[:-1], g, s)
        _contract(xv, "b" + os_ + "gs", wv, "gso", ov, "b" + os_ + ol, bv, "go", act)
    else:
        xl, wl, oll = "b" + xs + "gs", ks + "gso", "b" + os_ + ol
        _window.run(geo, V.native_operand(x, dt), (g, s), ov,
                    lambda xv, o: _contract(xv, xl, wv, wl, o, oll, bv, "go", act),
                    lambda x_, lay, o, axes: _contract(x_, xl, wv, wl, o, oll, bv, "go", act, axes, lay))
    return V.deliver(out, res)


def grouped_conv(x: np.ndarray, w: np.ndarray, shuffle: bool = False, out: Optional[np.ndarray] = None, *,
                 stride: Optional[IntOrTuple] = None, padding: Padding = 0, dilation: IntOrTuple = 1,
                 bias: Optional[np.ndarray] = None, activation: Optional[str] = None) -> np.ndarray:
    """Group convolution: ``'bWkHlgs,klgsS->bWHgS'`` by default (stride == kernel), channels-last.

    ``x``: (b, *S, c); ``w``: (*K, g, c//g, C//g); ``bias``: (C,). Returns (b, *O, C) with
    group i's outputs at channels ``i*(C//g) ... (i+1)*(C//g) - 1``. ``shuffle=True`` writes
    the ShuffleNet order instead (``channel_shuffle(grouped_conv(x, w, bias=bias), g)``)
    directly through the output strides, at no extra cost. Windows as ``conv``'s. Equals
    torch's ``conv(groups=g)``.
    """
    return _grouped("grouped_conv", x, w, V.flag("grouped_conv", "shuffle", shuffle), out, False,
                    _win(stride, padding, dilation), bias, activation)


def pointwise_grouped_conv(x: np.ndarray, w: np.ndarray, shuffle: bool = False, out: Optional[np.ndarray] = None,
                           *, bias: Optional[np.ndarray] = None, activation: Optional[str] = None) -> np.ndarray:
    """Point-wise (1x1) group convolution: ``'bwhgs,gsS->bwhgS'``; ``w``: (g, c//g, C//g); ``bias``: (C,).

    ``shuffle=True`` gives the shuffled group conv's channel order (as ``grouped_conv``).
    """
    return _grouped("pointwise_grouped_conv", x, w, V.flag("pointwise_grouped_conv", "shuffle", shuffle), out,
                    True, None, bias, activation)


# A padded depthwise-separable conv's intermediate, at most this many bytes a block
# (docs/tuning.md): its depthwise stage reads the windows in place, as depthwise_conv
# does, a block of output rows at a time, and the 1x1 GEMM follows on that block
# while it is in cache.
_DWSEP_BLOCK = 2 << 20


def _dwsep_padded(geo, x, wd, wp, res, bias, act, os_):
    """depthwise_separable_conv's padded windows (x, wd, res unit-stride along channels)."""
    O, c, lo = geo.out, x.shape[-1], tuple(p for p, _ in geo.pads)
    row = int(np.prod(O[1:], dtype=np.int64)) * c * x.itemsize  # an output row along the first axis
    labels = "b" + os_

    def block(xs, ob, lo0):
        mid = _core.aligned_empty((ob.shape[0], ob.shape[1], *O[1:], c), x.dtype)
        _core.depthwise_window(xs, wd, mid, geo.stride, geo.dilation, (lo0,) + lo[1:])
        _contract(mid, labels + "c", wp, "co", ob, labels + "o", bias, "o", act)

    if row * O[0] <= _DWSEP_BLOCK:  # whole images a block
        step = max(1, _DWSEP_BLOCK // max(row * O[0], 1))
        for b0 in range(0, x.shape[0], step):
            block(x[b0:b0 + step], res[b0:b0 + step], lo[0])
        return
    rows, s, span = max(1, _DWSEP_BLOCK // row), geo.stride[0], geo.span(0)
    for i in range(x.shape[0]):
        for r0 in range(0, O[0], rows):
            r1 = min(O[0], r0 + rows)
            first = r0 * s - lo[0]  # the block's first window's first input row
            i0, i1 = max(first, 0), min(x.shape[1], (r1 - 1) * s - lo[0] + span)
            block(x[i:i + 1, i0:max(i1, i0)], res[i:i + 1, r0:r1], i0 - first)


def depthwise_separable_conv(x: np.ndarray, wd: np.ndarray, wp: np.ndarray, out: Optional[np.ndarray] = None, *,
                             stride: Optional[IntOrTuple] = None, padding: Padding = 0, dilation: IntOrTuple = 1,
                             bias: Optional[np.ndarray] = None, activation: Optional[str] = None) -> np.ndarray:
    """Depthwise-separable convolution, fused: depthwise then 1x1.

    ``x``: (b, *S, c); ``wd``: (*K, c); ``wp``: (c, C); ``bias``: (C,). Returns (b, *O, C)
    equal to ``pointwise_conv(depthwise_conv(x, wd, stride=..., padding=..., dilation=...),
    wp, bias=bias, activation=activation)``: the windows are the depthwise stage's, the
    bias and activation the output's. The depthwise stage fills a block of output pixels
    into a buffer that stays in cache and feeds the 1x1 GEMM tiles at once: the
    (b, *O, c) intermediate never goes to memory. With zero padding the depthwise stage
    reads the windows in place, as ``depthwise_conv``, into an intermediate of a block
    of output rows (at most 2 MiB, the padding never copied), and the 1x1 GEMM runs on
    each block as it is made.
    """
    fn = "depthwise_separable_conv"
    x, wd, wp, n, geo, dt, shape = V.depthwise_separable(fn, x, wd, wp, _win(stride, padding, dilation))
    b, act = V.bias(fn, bias, (wp.shape[1],), dt), V.activation(fn, activation)
    out = V.output(fn, out, shape, dt, (("x", x), ("wd", wd), ("wp", wp)))
    res = V.target(out)
    xs, ks, os_ = P.labels(n)
    wdv, wpv = V.native_operand(wd, dt), V.native_operand(wp, dt)

    def chain(xv, ov):
        try:
            _core.contract_chain(xv, "b" + xs + "c", wdv, ks + "c", "b" + os_ + "c", wpv, "co", ov, "b" + os_ + "o",
                                 b, "o", act)
        except NotImplementedError:  # no fused chain for these shapes (1x1 weights past the packing bound)
            mid = _core.aligned_empty((*ov.shape[:-1], x.shape[-1]), dt)
            _contract(xv, "b" + xs + "c", wdv, ks + "c", mid, "b" + os_ + "c", None, "", "")
            _contract(mid, "b" + os_ + "c", wpv, "co", ov, "b" + os_ + "o", b, "o", act)

    xv = V.native_operand(x, dt)
    if any(lo or hi for lo, hi in geo.pads) and _unit_channels(xv, wdv, res):
        _dwsep_padded(geo, xv, wdv, wpv, res, b, act, os_)
    else:
        _window.run(geo, xv, (x.shape[-1],), res, chain)
    return V.deliver(out, res)
