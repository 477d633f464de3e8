"""Correct-patch views and their labels (SPEC §1).

For x of shape (b, S1, .., Sn, c) and a blocked kernel (k1, .., kn), the patch view
is x.reshape(b, S1//k1, k1, .., Sn//kn, kn, c): every split of an axis into
(outer, inner) is a view for any strides, so no data moves.
"""
from __future__ import annotations

import functools

import numpy as np

OUTER = "PQR"   # output spatial axes
TAP = "ijk"     # kernel taps along each spatial axis


def view(x: np.ndarray, K: tuple, channels: tuple) -> np.ndarray:
    """x (b, *S, c) -> (b, S1//k1, k1, ..., *channels) with prod(channels) == c."""
    return x.reshape(_view_shape(x.shape, tuple(K), tuple(channels)))


@functools.lru_cache(maxsize=256)
def _view_shape(shape: tuple, K: tuple, channels: tuple) -> tuple:
    """view's shape (kept by shapes: a call's fixed cost)."""
    out = [shape[0]]
    for s, k in zip(shape[1:-1], K):
        out += [s // k, k]
    return tuple(out) + channels


@functools.lru_cache(maxsize=None)
def labels(n: int) -> tuple[str, str, str]:
    """(patch-view spatial labels, kernel labels, output spatial labels) for n spatial axes."""
    return "".join(OUTER[i] + TAP[i] for i in range(n)), TAP[:n], OUTER[:n]


def out_spatial(x: np.ndarray, K: tuple) -> tuple:
    return tuple(s // k for s, k in zip(x.shape[1:-1], K))
