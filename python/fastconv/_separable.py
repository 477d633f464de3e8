"""Spatially separable and flattened convolutions: exact, by the cheapest strategy.

Strategies, for stride == kernel (k, l) on an output of M = b*W*H pixels, c input
and C output channels:

- ``outer``: the factors' outer product is a dense (k, l, c, C) kernel, run on the
  GEMM path as ``conv``: 2*M*k*l*c*C FLOPs, the input and output moved once.
- ``fused-staged``: the note's stages one block of output rows at a time, the
  intermediate of a block staying in cache (the engine's staged chain,
  ``_core.contract_staged``): spatially separable
  2*M*l*c*C*(k + 1) FLOPs, flattened 2*M*k*l*C*(c + 1); input and output once.
- ``staged``: the stages over the whole input, the intermediate written and read
  back (bWhcC: M*l*c*C values; flattened: M*k*l*C). Costed, never run: SPEC forbids
  materialising it for the whole input.

The cost model: cost = FLOPs + FLOP_PER_BYTE * bytes moved, FLOP_PER_BYTE being a
machine balance (peak FLOP/s over memory bandwidth) of 8. With non-overlapping
windows the factorisation saves no FLOPs (no output shares an intermediate), so
``outer`` has the fewest; it is chosen unless the image is so small that reading
the dense kernel costs more than the extra FLOPs of ``fused-staged``. The model
weighs both strategies' FLOPs alike, which holds for the flattened conv only: the
spatially separable conv's first stage sums k terms into each value of a c x C
intermediate, far below the GEMM's rate, and ``outer`` was faster at every size
measured (docs/tuning.md), so ``auto`` picks ``outer`` for it (``AUTO``).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from . import _core
from . import _validate as V
from ._ops import _conv

FLOP_PER_BYTE = 8
STRATEGIES = ("outer", "fused-staged", "staged")
RUNNABLE = ("outer", "fused-staged")
AUTO = {"spatially_separable_conv": ("outer",), "flattened_conv": RUNNABLE}  # what "auto" picks from
_BLOCK_BYTES = 1 << 20  # intermediate per block of rows, fused-staged (docs/tuning.md)


class Plan(NamedTuple):
    """What a separable convolution will run: the strategy and each strategy's cost."""

    op: str
    strategy: str
    costs: dict  # strategy -> {"flops", "bytes", "cost"}
    reason: str


def _costs(op, shape_x, K, c, C, item):
    b, w, h, _ = shape_x
    k, l = K
    M = b * (w // k) * (h // l)
    io = item * (b * w * h * c + M * C)
    if op == "spatially_separable_conv":
        weights = item * (k + l) * c * C
        fl_outer, fl_staged = 2 * M * k * l * c * C + k * l * c * C, 2 * M * l * c * C * (k + 1)
        inter = M * l * c * C
    else:
        weights = item * (c + k + l) * C
        fl_outer, fl_staged = 2 * M * k * l * c * C + 2 * k * l * c * C, 2 * M * k * l * C * (c + 1)
        inter = M * k * l * C
    table = {
        "outer": (fl_outer, io + weights + item * k * l * c * C),
        "fused-staged": (fl_staged, io + weights),
        "staged": (fl_staged, io + weights + 2 * item * inter),
    }
    return {s: {"flops": f, "bytes": by, "cost": f + FLOP_PER_BYTE * by} for s, (f, by) in table.items()}


def _plan(op, x, K, c, C, dt, strategy):
    best = _strategy(op, x.shape, K, c, C, dt, strategy)
    if strategy != "auto":
        reason = "requested"
    elif len(AUTO[op]) == 1:
        reason = (f"{best}: fused-staged's first stage runs far below the GEMM's rate (slower at every size "
                  f"measured), whatever the cost model says")
    else:
        reason = (f"cost model: {best} is the cheapest runnable strategy "
                  f"(cost = FLOPs + {FLOP_PER_BYTE} * bytes); staged is never run (whole intermediate)")
    return Plan(op, best, _costs(op, x.shape, K, c, C, np.dtype(dt).itemsize), reason)


def _strategy(op, shape, K, c, C, dt, strategy) -> str:
    """The strategy _plan names (a call's fixed cost: its costs are kept by shape)."""
    if strategy == "auto":
        return _cheapest(op, shape, K, c, C, np.dtype(dt).itemsize)
    if isinstance(strategy, str) and strategy in RUNNABLE:
        return strategy
    raise ValueError(f"{op}: argument 'strategy' must be 'auto' or one of {RUNNABLE}, got {strategy!r}")


@functools.lru_cache(maxsize=256)
def _cheapest(op, shape, K, c, C, item) -> str:
    costs = _costs(op, shape, K, c, C, item)
    return min(AUTO[op], key=lambda s: costs[s]["cost"])


def _outer(a: np.ndarray, b: np.ndarray, dt) -> np.ndarray:
    """(p, *S) x (q, *S) -> (p, q, *S): a[i] * b[j] (numpy's broadcast product, bit for bit)."""
    a, b = V.contiguous(a, dt), V.contiguous(b, dt)
    out = np.empty((a.shape[0], *b.shape), dt)
    _core.outer_rows(a, b, out)
    return out


def spatially_separable_conv(x: np.ndarray, wv: np.ndarray, wh: np.ndarray, out: np.ndarray | None = None,
                             strategy: str = "auto") -> np.ndarray:
    """Spatially separable convolution (2-D, stride == kernel): exact.

    ``x``: (b, w, h, c); ``wv``: (k, c, C) (vertical, along w); ``wh``: (l, c, C)
    (horizontal, along h). Returns (b, w//k, h//l, C) equal to the note's two stages
    ``'bWkhc,kcC->bWhcC'`` then ``'bWHlcC,lcC->bWHC'``, i.e. a dense conv with the
    kernel ``wv[k, c, C] * wh[l, c, C]``. The strategy (``'auto'``, ``'outer'`` or
    ``'fused-staged'``) is picked by a small cost model of FLOPs and bytes, stated in
    ``fastconv._separable`` and shown by ``separable_plan``; the whole bWhcC
    intermediate is never materialised.
    """
    fn = "spatially_separable_conv"
    x, wv, wh, K, dt, shape = V.spatially_separable(fn, x, wv, wh)
    out = V.output(fn, out, shape, dt, (("x", x), ("wv", wv), ("wh", wh)))
    c, C = x.shape[-1], wv.shape[2]
    strategy = _strategy(fn, x.shape, K, c, C, dt, strategy)
    if strategy == "outer":  # the (k, l, c, C) outer product, as conv (its shapes checked here)
        return _conv(x, _outer(wv, wh, dt), 2, V.window(fn, x, K, "wv/wh", None), dt, out)
    wv, wh = wv.astype(dt, copy=False), wh.astype(dt, copy=False)
    b, w, h, _ = x.shape
    k, l = K
    xv, wv, wh = V.native_operand(x, dt), V.native_operand(wv, dt), V.native_operand(wh, dt)
    res = V.target(out)
    _core.contract_staged(xv.reshape(b, w // k, k, h, c), "bWkhc", wv, "kcC", "bWhcC", "bWHlcC", wh, "lcC",
                          res, "bWHC", "W", _BLOCK_BYTES)
    return V.deliver(out, res)


def flattened_conv(x: np.ndarray, wc: np.ndarray, wv: np.ndarray, wh: np.ndarray, out: np.ndarray | None = None,
                   strategy: str = "auto") -> np.ndarray:
    """Flattened convolution (2-D, stride == kernel): exact.

    ``x``: (b, w, h, c); ``wc``: (c, C), then ``wv``: (k, C) along w and ``wh``: (l, C)
    along h, each keeping C. Returns (b, w//k, h//l, C) equal to the 1x1 conv, then the
    vertical and the horizontal depthwise convs, i.e. a dense conv with the kernel
    ``wv[k, C] * wh[l, C] * wc[c, C]``. Strategy as in ``spatially_separable_conv``.
    """
    fn = "flattened_conv"
    x, wc, wv, wh, K, dt, shape = V.flattened(fn, x, wc, wv, wh)
    out = V.output(fn, out, shape, dt, (("x", x), ("wc", wc), ("wv", wv), ("wh", wh)))
    c, C = x.shape[-1], wc.shape[1]
    strategy = _strategy(fn, x.shape, K, c, C, dt, strategy)
    k, l = K
    wd = _outer(wv, wh, dt)  # vertical then horizontal depthwise: one (k, l, C) depthwise
    if strategy == "outer":  # (k, l, c, C), as conv (its shapes checked here)
        W = _outer(wd.reshape(k * l, C), wc, dt).reshape(k, l, c, C)
        return _conv(x, W, 2, V.window(fn, x, K, "wv/wh", None), dt, out)
    b, w, h, _ = x.shape
    xv, wc = V.native_operand(x, dt), V.native_operand(wc, dt)
    res = V.target(out)
    _core.contract_staged(xv.reshape(b, w // k, k, h, c), "bWkhc", wc, "cC", "bWkhC", "bWkHlC", wd, "klC",
                          res, "bWHC", "W", _BLOCK_BYTES)
    return V.deliver(out, res)


def separable_plan(op: str, x: np.ndarray, *weights: np.ndarray, strategy: str = "auto") -> Plan:
    """The plan ``op`` (``'spatially_separable_conv'`` or ``'flattened_conv'``) would run for these
    arguments: the chosen strategy, and FLOPs, bytes and cost of every strategy."""
    if op == "spatially_separable_conv":
        x, wv, wh, K, dt, _ = V.spatially_separable(op, x, *weights)
        C = wv.shape[2]
    elif op == "flattened_conv":
        x, wc, wv, wh, K, dt, _ = V.flattened(op, x, *weights)
        C = wc.shape[1]
    else:
        raise ValueError(f"separable_plan: argument 'op' must be 'spatially_separable_conv' or 'flattened_conv', "
                         f"got {op!r}")
    return _plan(op, x, K, x.shape[-1], C, dt, strategy)
