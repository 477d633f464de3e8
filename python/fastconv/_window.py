"""Sliding windows: the geometry of a strided, padded, dilated convolution and its views.

A window view of x (b, *S, c) has the blocked patch view's layout
(b, O1, k1, ..., On, kn, *channels), with strides stride*s and dilation*s along each
spatial axis s: the engine reads the overlapping windows in place, as it reads blocked
patches. Zero padding is never a padded copy of the input: where the engine's GEMM
path takes the call, it reads the padding as zeros itself (run's padded); else the
outputs whose windows lie inside x are computed from x itself, and each border band
(the outputs along one side whose windows reach into the padding) from a zero-padded
copy of only the rows that band reads.
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np

from . import _core
from . import _patches as P


@dataclass(frozen=True)
class Geometry:
    """One call's windows: kernel K, stride, dilation, (lo, hi) padding per spatial axis,
    the output's spatial sizes; blocked: stride == kernel, no padding, no dilation (the
    patch view, P.view)."""

    K: tuple
    stride: tuple
    dilation: tuple
    pads: tuple
    out: tuple
    blocked: bool

    def span(self, i: int) -> int:
        """Input elements one window covers along axis i."""
        return self.dilation[i] * (self.K[i] - 1) + 1


def _ints(fn: str, name: str, value, n: int, least: int) -> tuple:
    """value: an int or a sequence of n ints, each >= least."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: argument '{name}' must be an int or a sequence of {n} ints, got bool")
    try:
        vals = (operator.index(value),) * n
    except TypeError:
        try:
            vals = tuple(value)
        except TypeError:
            raise TypeError(f"{fn}: argument '{name}' must be an int or a sequence of {n} ints, "
                            f"got {type(value).__name__}") from None
        if len(vals) != n:
            raise ValueError(f"{fn}: argument '{name}' must have one value per spatial axis ({n}), got {value!r}")
        if any(isinstance(v, (bool, np.bool_)) for v in vals):
            raise TypeError(f"{fn}: argument '{name}' must hold ints, got {value!r}")
        try:
            vals = tuple(operator.index(v) for v in vals)
        except TypeError:
            raise TypeError(f"{fn}: argument '{name}' must hold ints, got {value!r}") from None
    for v in vals:
        if v < least:
            raise ValueError(f"{fn}: argument '{name}' must be >= {least} on every axis, got {value!r}")
    return vals


def _pads(fn: str, padding, n: int, K: tuple, stride, dilation: tuple) -> tuple:
    """((lo, hi), ...) per axis from an int, n ints, n (lo, hi) pairs, "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if stride is None and any(k != 1 for k in K) or stride is not None and any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' needs stride 1 on every axis, got stride "
                                 f"{'None (stride == kernel ' + str(K) + ')' if stride is None else stride}")
            totals = [d * (k - 1) for k, d in zip(K, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)  # torch's rule: the extra zero on the high side
        raise ValueError(f"{fn}: argument 'padding' must be an int, a sequence, 'valid' or 'same', got {padding!r}")
    if not isinstance(padding, (bool, np.bool_)) and not isinstance(padding, (int, np.integer)):
        try:
            items = tuple(padding)
        except TypeError:
            items = None
        if items is not None and len(items) == n and all(not isinstance(p, (str, bytes)) and hasattr(p, "__len__")
                                                         for p in items):
            pairs = []
            for p in items:
                lo_hi = _ints(fn, "padding", p, 2, 0) if len(p) == 2 else None
                if lo_hi is None:
                    raise ValueError(f"{fn}: argument 'padding' must hold (lo, hi) pairs, got {padding!r}")
                pairs.append(lo_hi)
            return tuple(pairs)
    return tuple((p, p) for p in _ints(fn, "padding", padding, n, 0))


def geometry(fn: str, x: np.ndarray, K: tuple, wname: str, stride=None, padding=0, dilation=1) -> Geometry:
    """The windows of a conv of kernel K over x (b, *S, c); every error names fn and the axis.
    stride None: stride == kernel, where the windows must tile the (padded) axis exactly."""
    if stride is None and type(padding) is int and padding == 0 and type(dilation) is int and dilation == 1:
        # The defaults (blocked): by shapes alone, kept (a call's fixed cost; errors are
        # raised again, never kept).
        return _blocked(fn, x.shape[1:-1], tuple(K), wname)
    return _geometry(fn, x.shape[1:-1], K, wname, stride, padding, dilation)


@functools.lru_cache(maxsize=256)
def _blocked(fn: str, S: tuple, K: tuple, wname: str) -> Geometry:
    return _geometry(fn, S, K, wname, None, 0, 1)


def _geometry(fn: str, S: tuple, K: tuple, wname: str, stride, padding, dilation) -> Geometry:
    n = len(K)
    for k in K:
        if k < 1:
            raise ValueError(f"{fn}: argument '{wname}' must have kernel sizes >= 1, got kernel shape {tuple(K)}")
    if stride is None and type(padding) is int and padding == 0 and type(dilation) is int and dilation == 1:
        st, dil, pads = None, (1,) * n, ((0, 0),) * n  # the defaults, without the parsing (a call's fixed cost)
    else:
        st = None if stride is None else _ints(fn, "stride", stride, n, 1)
        dil = _ints(fn, "dilation", dilation, n, 1)
        pads = _pads(fn, padding, n, K, st, dil)
    blocked = st is None and all(p == (0, 0) for p in pads) and all(d == 1 for d in dil)
    steps = tuple(K) if st is None else st
    out = []
    for i, (s, k, (lo, hi), d, step) in enumerate(zip(S, K, pads, dil, steps)):
        if blocked and s % k:
            raise ValueError(
                f"{fn}: spatial axis {i} of 'x' has size {s}, which the kernel size {k} does not divide "
                f"(stride == kernel; nothing is cropped)"
            )
        padded, span = s + lo + hi, d * (k - 1) + 1
        if blocked:  # the note's patches: an empty axis has no patches
            out.append(s // k)
            continue
        if padded < span:
            raise ValueError(f"{fn}: spatial axis {i} of 'x' has size {s} (padded {padded}), smaller than the "
                             f"window (kernel {k}, dilation {d}: {span} elements)")
        if st is None and (padded - span) % step:
            raise ValueError(f"{fn}: spatial axis {i}: windows of kernel {k} at stride == kernel do not tile the "
                             f"padded size {padded} (give stride= to drop trailing rows)")
        out.append((padded - span) // step + 1)
    return Geometry(tuple(K), steps, dil, pads, tuple(out), blocked)


def window_view(x: np.ndarray, geo: Geometry, channels: tuple, origin: tuple, out: tuple) -> np.ndarray:
    """The windows of outputs [0, out) along each axis whose first window starts at input
    index origin: shape (b, O1, k1, ..., *channels); x (b, *S, c) with element strides."""
    if geo.blocked and origin == (0,) * len(out) and out == geo.out:
        return P.view(x, geo.K, channels)
    start = x[(slice(None),) + tuple(slice(o, None) for o in origin)]
    shape, strides = view_layout(x.shape[0], x.strides, geo, channels, out)
    return np.lib.stride_tricks.as_strided(start, shape, strides, writeable=False)


@functools.lru_cache(maxsize=256)
def view_layout(b: int, xstrides: tuple, geo: Geometry, channels: tuple, out: tuple) -> tuple:
    """(shape, strides in bytes) of window_view's view of outputs [0, out), for x of batch b
    and these strides (kept by them: a call's fixed cost)."""
    shape, strides = [b], [xstrides[0]]
    for i, (o, k) in enumerate(zip(out, geo.K)):
        s = xstrides[1 + i]
        shape += [o, k]
        strides += [geo.stride[i] * s if o > 1 else 0, geo.dilation[i] * s if k > 1 else 0]
    cs = [xstrides[-1]]
    for ch in reversed(channels[1:]):
        cs.insert(0, cs[0] * ch)
    return tuple(shape) + tuple(channels), tuple(strides + cs)


def _boxes(geo: Geometry, S: tuple) -> list:
    """The output boxes ([(a, b) per axis], interior): first each axis's border bands (the
    outputs before the first and after the last window that lies inside x, over the
    later axes' whole extent), then the box whose windows all lie inside x."""
    n = len(S)
    inner = []
    for i in range(n):
        lo, step, span = geo.pads[i][0], geo.stride[i], geo.span(i)
        first = -(-lo // step)                        # the first window starting at index >= 0
        last = (S[i] - span + lo) // step + 1 if S[i] >= span else first  # past the last inside x
        first, last = min(first, geo.out[i]), min(max(last, first), geo.out[i])
        inner.append((first, last))
    boxes, fixed = [], []
    for i in range(n):
        a, b = inner[i]
        rest = [(0, o) for o in geo.out[i + 1:]]
        for band in ((0, a), (b, geo.out[i])):
            if band[1] > band[0]:
                boxes.append((fixed + [band] + rest, False))
        if b <= a:
            return boxes
        fixed.append((a, b))
    boxes.append((fixed, True))
    return boxes


def padded_axes(geo: Geometry, x: np.ndarray):
    """The engine's description of the padded axes (_core.contract's windows): (output
    label, tap label, lo, size, step, dilation, x's stride in elements) for each axis
    with padding; None where x's strides are no whole elements."""
    axes = []
    for i, (lo, hi) in enumerate(geo.pads):
        if lo or hi:
            s = x.strides[1 + i]
            if s % x.itemsize:
                return None
            axes.append((P.OUTER[i], P.TAP[i], lo, x.shape[1 + i], geo.stride[i], geo.dilation[i], s // x.itemsize))
    return axes


def run(geo: Geometry, x: np.ndarray, channels: tuple, out: np.ndarray, call, padded=None) -> None:
    """call(view, out_box) for every output box: the window view (window_view's layout)
    and the box of out (b, *O, ...) it fills; border boxes read a zero-padded copy of
    only the input their windows cover. padded(x, layout, out, axes): one call for the
    whole output instead, the engine reading the padding as zeros (axes: padded_axes,
    none without padding; layout: view_layout's (shape, strides) of the windows as if
    every lo were 0, to read x through, its extent past x's), where the engine has a
    path for it (else NotImplementedError, having written nothing, and the boxes). The
    view itself is never built there: numpy's as_strided is most of a conv's Python time
    on a cold cache (docs/tuning.md)."""
    if geo.blocked:
        return call(window_view(x, geo, channels, (0,) * len(geo.K), geo.out), out)
    S = x.shape[1:-1]
    axes = padded_axes(geo, x) if padded is not None else None
    if axes is not None:
        try:
            return padded(x, view_layout(x.shape[0], x.strides, geo, channels, geo.out), out, axes)
        except NotImplementedError:
            pass
    for box, interior in _boxes(geo, S):
        sizes = tuple(b - a for a, b in box)
        starts = [a * st - p[0] for (a, _), st, p in zip(box, geo.stride, geo.pads)]
        obox = out[(slice(None),) + tuple(slice(a, b) for a, b in box)]
        if interior:
            call(window_view(x, geo, channels, tuple(starts), sizes), obox)
            continue
        ext = [(o - 1) * st + sp for o, st, sp in zip(sizes, geo.stride, (geo.span(i) for i in range(len(S))))]
        # From the block cache (a repeated layer's bands reuse their blocks), zeros in the
        # padding strips only: np.zeros of a band this size is fresh pages, faulted in on
        # the copy (most of what the bands cost).
        buf = _core.aligned_empty((x.shape[0], *ext, x.shape[-1]), x.dtype)
        src, dst = [slice(None)], [slice(None)]
        for i, (s0, e, s) in enumerate(zip(starts, ext, S)):
            lo, hi = max(s0, 0), min(s0 + e, s)
            d0, d1 = lo - s0, lo - s0 + max(hi - lo, 0)
            src.append(slice(lo, max(hi, lo)))
            dst.append(slice(d0, d1))
            lead = (slice(None),) * (1 + i)
            buf[lead + (slice(0, d0),)] = 0
            buf[lead + (slice(d1, e),)] = 0
        buf[tuple(dst)] = x[tuple(src)]
        call(window_view(buf, geo, channels, (0,) * len(S), sizes), obox)
