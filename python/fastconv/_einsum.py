"""fastconv.einsum: numpy.einsum's results, on the native engine where it has a path.

Every call numpy.einsum accepts is accepted (subscripts or interleaved sublists,
implicit or explicit output, ellipsis, repeated indices, any number of operands).
float32/float64 ndarray operands run natively: each operand is described by its
labels and its actual strides (no copy of the input, whatever the view, except a
bounded copy of one the engine cannot read: misaligned, byte-swapped or of another
dtype), repeated indices become diagonal views, size-1 dimensions broadcast with
stride 0. This module parses and orders: one or two operands a step, pairwise in
numpy.einsum_path's order; the engine plans each step (its path, which operand goes
first, a one-operand sum, two steps fused into one chain: _core.plan, plan_chain).
A label a pair sums that only one operand has is summed out of that operand first
(its own step). Tiny steps, products with nothing summed (numpy's broadcasting multiply
streams them) and whatever the engine has no path for run on numpy.einsum, and so do
other dtypes, non-ndarray operands, and the dtype/order/casting arguments.
``einsum_plan`` tells what will run, from the same decisions.

As numpy.einsum: one operand with nothing summed comes back as numpy's view of it, a
0-d result as a numpy scalar, and the output is laid out as numpy's (order='K').
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from . import _core
from . import _validate as V

try:  # numpy's own parser, so that every accepted form parses exactly as in numpy
    from numpy._core.einsumfunc import _parse_einsum_input
except ImportError:  # numpy < 2
    try:
        from numpy.core.einsumfunc import _parse_einsum_input
    except ImportError:  # pragma: no cover - then everything goes to numpy
        _parse_einsum_input = None

# numpy's einsum as imported: the fallback must call it even when numpy.einsum has been
# replaced by fastconv.einsum (numpy's own einsum tests run that way).
_np_einsum = np.einsum
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Steps with at most this many multiply-adds (and elements moved) run on numpy.einsum:
# its fixed cost is lower than the engine's setup (a weights-only outer product, say).
# The tests set it to 0 to run every step on the engine.
SMALL_STEP = 1 << 15
# numpy.einsum's C core takes at most NPY_MAXARGS - 1 operands (the output is one more):
# 63 since numpy 2.0, 31 before. Past that numpy raises, and so must fastconv.
_MAX_OPERANDS = 63 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 31


class _Fallback(Exception):
    """The whole call goes to numpy.einsum (which also raises numpy's errors)."""


class Step(NamedTuple):
    """One contraction of an einsum plan."""

    subscripts: str      # e.g. "bWkHlc,klc->bWHc"
    operands: tuple      # indices into the operand list of the plan at this step
    path: str            # the engine's ("permute", "tapreduce", "dot", "gemm", "fused"), "view" or "numpy"
    groups: dict         # {"batch", "m", "n", "k"}: labels of each index group (native steps)
    reason: str          # why numpy, when it is


class Plan(NamedTuple):
    """What fastconv.einsum will run for a call: native steps, or the fallback and why."""

    native: bool
    steps: tuple
    reason: str


class _Structure(NamedTuple):
    """What a call runs, from its subscripts, its operands' shapes, strides and dtypes and optimize."""

    ins: list        # each operand's labels as parsed (repeated labels included)
    outl: str        # the output's labels
    sizes: dict      # label -> size
    dtype: np.dtype  # the result's
    steps: list      # (operand indices, their labels, result labels) per step
    layout: str      # the output's labels, outermost first, as numpy.einsum lays it out (order='K')
    view: bool       # one operand, nothing summed: numpy.einsum returns a view of it
    as_is: tuple     # per operand: of dtype, every stride a multiple of the itemsize (then aligned data will do)
    numpy_0d: bool   # a 0-d result of optimize's pairwise path: its type is numpy's matmul's (then numpy runs it)


def _prepare(args, out, kwargs, optimize):
    """(structure, operands), or _Fallback(reason).

    The structure depends only on the subscripts, the operands' shapes, strides and
    dtypes and optimize: it is cached per such signature, so that a repeated call
    costs its views and its contractions."""
    key = _signature(args, kwargs, optimize)
    try:
        structure = _STRUCTURES.get(key) if key is not None else None
    except TypeError:  # an unhashable optimize (numpy refuses it)
        key = structure = None
    if structure is None:
        structure = _structure(args, kwargs, optimize)
        if key is not None:
            if len(_STRUCTURES) >= 512:
                _STRUCTURES.clear()
            _STRUCTURES[key] = structure
    if isinstance(structure, str):
        raise _Fallback(structure)
    s = structure
    arrays = args[1:] if key is not None else _parse_einsum_input(args)[2]
    if out is not None and (type(out) is not np.ndarray or out.dtype != s.dtype
                            or out.shape != tuple(s.sizes[c] for c in s.outl) or not out.flags.writeable
                            or not V.engine_ready(out) or any(np.may_share_memory(out, a) for a in arrays)):
        raise _Fallback("out= is left to numpy (dtype, shape, writeability, alignment or overlap)")
    return s, arrays


def _views(s, arrays):
    """The operands as the engine takes them: diagonals, s.dtype, aligned, broadcast (views where they can be)."""
    views = []
    for labels, a, as_is in zip(s.ins, arrays, s.as_is):
        a, labels = _diagonal(a, labels)
        if not (as_is and a.flags.aligned):
            a = a if a.dtype == s.dtype and V.engine_ready(a) else V.compact(a, s.dtype)
        views.append(_broadcast(a, labels, s.sizes))
    return views


_STRUCTURES = {}


def _path_key(optimize):
    """optimize, hashable: an explicit path's lists as tuples (numpy.einsum takes either)."""
    if isinstance(optimize, (list, tuple)):
        return tuple(tuple(p) if isinstance(p, list) else p for p in optimize)
    return optimize


def _signature(args, kwargs, optimize):
    """A key of what _structure depends on (unhashable with an unhashable optimize), or None (not cached)."""
    if not args or not isinstance(args[0], str) or any(type(a) is not np.ndarray for a in args[1:]):
        return None
    # optimize's type too: numpy refuses optimize=1 but takes True
    return (args[0], tuple((a.shape, a.strides, a.dtype.str) for a in args[1:]),
            tuple(sorted(kwargs.items(), key=lambda kv: kv[0])), type(optimize), _path_key(optimize))


def _structure(args, kwargs, optimize):
    """A _Structure, or why it falls back."""
    try:
        return _analyse(args, kwargs, optimize)
    except _Fallback as e:
        return str(e)


def _analyse(args, kwargs, optimize):
    if _parse_einsum_input is None:
        raise _Fallback("numpy's einsum parser is not available")
    extra = {k: v for k, v in kwargs.items() if v is not None and not (k == "casting" and v == "safe")
             and not (k == "order" and v == "K")}
    if extra:
        raise _Fallback(f"argument(s) {sorted(extra)} are left to numpy")
    ops = args[1:] if args and isinstance(args[0], str) else args[0::2]
    for a in ops:
        if type(a) is not np.ndarray:
            raise _Fallback(f"operand of type {type(a).__name__}: only numpy.ndarray runs natively")
        if a.dtype not in _FLOATS:
            raise _Fallback(f"operand dtype {a.dtype}: only float32/float64 run natively")
    try:
        ins, outl, arrays = _parse_einsum_input(args)
    except Exception as e:  # numpy.einsum raises its own error for it
        raise _Fallback(f"subscripts: {e}") from None
    if optimize is False and _ellipsis_left_out(args):
        raise _Fallback("'...' stands for dimensions the explicit output leaves out (numpy's C parser refuses it)")
    ins = ins.split(",")
    if len(ins) != len(arrays) or len(set(outl)) != len(outl):
        raise _Fallback("malformed subscripts")
    sizes = {}
    labels_after, diagonals = [], []
    for labels, a in zip(ins, arrays):
        if len(labels) != a.ndim:
            raise _Fallback("subscripts do not match the operand's dimensions")
        a, labels = _diagonal(a, labels)
        labels_after.append(labels)
        diagonals.append(a)
        for lab, n in zip(labels, a.shape):
            if sizes.get(lab, 1) == 1 or n == sizes[lab]:
                sizes[lab] = max(sizes.get(lab, n), n) if n != 0 or lab not in sizes else 0
            elif n != 1:
                raise _Fallback(f"label {lab!r} has sizes {sizes[lab]} and {n}")
    if any(lab not in sizes for lab in outl):
        raise _Fallback("an output label is in no input")
    dtype = np.result_type(*arrays)
    expr = ",".join(ins) + "->" + outl
    try:
        order = _order(expr, tuple(a.shape for a in arrays), _path_key(optimize))
    except _Fallback:
        raise
    except Exception as e:  # numpy refuses optimize (an invalid path, say): numpy.einsum raises it
        raise _Fallback(f"optimize: {type(e).__name__}: {e}") from None
    view = len(arrays) == 1 and set(labels_after[0]) == set(outl)
    as_is = tuple(a.dtype == dtype and not any(st % a.itemsize for st in a.strides) for a in arrays)
    # numpy.einsum's pairwise path returns a 0-d result as a scalar or a 0-d array depending on
    # how its matmul step reshapes and orders its operands (numpy's bmm_einsum); only its C
    # einsum (optimize=False, one operand) returns a scalar always.
    numpy_0d = not outl and optimize is not False and len(arrays) >= 2
    return _Structure(ins, outl, sizes, dtype, _steps(labels_after, outl, order, sizes),
                      _k_layout(labels_after, diagonals, outl, sizes), view, as_is, numpy_0d)


def _ellipsis_left_out(args):
    """An explicit output without '...' while some operand's '...' stands for dimensions: numpy's
    C parser (optimize=False) refuses it ("output has more dimensions than subscripts given"),
    its Python parser (any other optimize) sums them."""
    if isinstance(args[0], str):
        subs = args[0].replace(" ", "")
        if "->" not in subs or "..." in subs.split("->", 1)[1]:
            return False
        terms, ops = subs.split("->", 1)[0].split(","), args[1:]
        named = [len(t.replace("...", "")) if "..." in t else None for t in terms]
    else:
        if len(args) % 2 == 0 or any(s is Ellipsis for s in args[-1]):
            return False
        terms, ops = args[1::2], args[0::2]
        named = [sum(s is not Ellipsis for s in t) if any(s is Ellipsis for s in t) else None for t in terms]
    return any(n is not None and a.ndim > n for n, a in zip(named, ops))


@functools.lru_cache(maxsize=512, typed=True)
def _order(expr, shapes, optimize):
    """Pairwise contraction order for an expression and operand shapes: numpy.einsum_path's for
    optimize (which raises numpy's error for an invalid one), greedy where numpy contracts all
    operands at once (the order does not change the result). Cached: it costs more than a small
    contraction. _Fallback where numpy would take more operands at once than it can."""
    n = len(shapes)
    if optimize is False or optimize is None:
        if n > _MAX_OPERANDS:
            raise _Fallback(f"{n} operands: more than numpy.einsum takes")
        if n <= 2:
            return [tuple(range(n))]
        optimize = "greedy"
    if isinstance(optimize, tuple):  # numpy.einsum takes a tuple path, einsum_path only a list
        optimize = list(optimize)
    dummies = [np.lib.stride_tricks.as_strided(np.zeros(1), s, (0,) * len(s)) for s in shapes]
    path = [tuple(p) for p in np.einsum_path(expr, *dummies, optimize=optimize)[0][1:]]
    if any(len(p) > _MAX_OPERANDS for p in path):
        raise _Fallback("a step of more operands than numpy.einsum takes")
    return _pairwise(path, n)


def _pairwise(path, n):
    """numpy's path with every step of more than two operands split into a left fold of
    pairs (same list convention: a step's operands are removed, its result appended)."""
    ids = list(range(n))  # the operand list, by identity: ints for inputs, objects for results
    out = []
    for step in path:
        left = list(range(len(ids)))
        taken = sorted(left.pop(i) for i in sorted(step, reverse=True))  # the positions numpy pops
        members = [ids[i] for i in taken]
        if len(members) == 1:
            out.append((taken[0],))
            ids.remove(members[0])
            ids.append(object())
            continue
        acc = members[0]
        for m in members[1:]:
            out.append((ids.index(acc), ids.index(m)))
            ids.remove(acc)
            ids.remove(m)
            acc = object()
            ids.append(acc)
    return out


def _k_layout(labels, views, outl, sizes):
    """The output's labels, outermost first, as numpy.einsum allocates its output for order='K':
    its iterator's axes (the output's labels, then the summed ones sorted) in nditer's order
    (npyiter_find_best_axis_ordering: a stable insertion sort from the innermost axis by the
    operands' strides; an operand without the axis, or of size 1 along it, has no say; where
    operands disagree, C order wins)."""
    axes = outl + "".join(sorted(set("".join(labels)) - set(outl)))

    def stride(lab, a, c):
        i = lab.find(c)
        return 0 if i < 0 or a.shape[i] == 1 or sizes[c] == 1 else a.strides[i]

    strides = {c: [stride(lab, a, c) for lab, a in zip(labels, views)] for c in axes}
    perm = list(axes[::-1])  # innermost first
    for i0 in range(1, len(perm)):
        s0, pos = strides[perm[i0]], i0
        for i1 in range(i0 - 1, -1, -1):
            swap = None  # None: no operand has a stride along both axes
            for a0, a1 in zip(s0, strides[perm[i1]]):
                if a0 and a1:
                    if abs(a1) <= abs(a0):
                        swap = False
                    elif swap is None:
                        swap = True
            if swap is False:
                break
            if swap:
                pos = i1
        perm.insert(pos, perm.pop(i0))
    return "".join(c for c in reversed(perm) if c in outl)


def _empty(s):
    """An uninitialised output laid out as numpy.einsum's."""
    buf = _core.aligned_empty(tuple(s.sizes[c] for c in s.layout), s.dtype)
    if buf.size == 0:  # numpy's empty output has zero strides
        return np.lib.stride_tricks.as_strided(buf, tuple(s.sizes[c] for c in s.outl), (0,) * buf.ndim)
    return buf if s.layout == s.outl else buf.transpose([s.layout.index(c) for c in s.outl])


def _laid_out(r, s):
    """Whether r is what _empty(s) would give: dtype, shape and strides (numpy's own result
    of a call whose operands the views cast or copied may be laid out otherwise)."""
    shape = tuple(s.sizes[c] for c in s.outl)
    if r.dtype != s.dtype or r.shape != shape or 0 in shape:
        return False
    step, strides = r.itemsize, {}
    for c in reversed(s.layout):
        strides[c] = step
        step *= s.sizes[c]
    return r.strides == tuple(strides[c] for c in s.outl)


def _diagonal(a, labels):
    """A view with each repeated label taken once (its diagonal)."""
    if len(set(labels)) == len(labels):
        return a, labels
    keep, shape, strides = "", [], []
    for lab, n, s in zip(labels, a.shape, a.strides):
        if lab in keep:
            i = keep.index(lab)
            if shape[i] != n:
                raise _Fallback(f"repeated label {lab!r} with sizes {shape[i]} and {n}")
            strides[i] += s
        else:
            keep += lab
            shape.append(n)
            strides.append(s)
    return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False), keep


def _broadcast(a, labels, sizes):
    """Size-1 dimensions stretched to their label's size with stride 0."""
    shape = tuple(sizes[lab] for lab in labels)
    if shape == a.shape:
        return a
    strides = tuple(0 if n == 1 and sizes[lab] != 1 else s for lab, n, s in zip(labels, a.shape, a.strides))
    return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)


def _steps(labels, outl, order, sizes):
    """(operand indices, their labels, result labels) per step, numpy's list convention:
    the pair is removed and its result appended. An intermediate keeps the label order
    of its larger operand first, so that the contiguous axis stays innermost. A label
    that a pair sums and only one of the two has is summed out of that one first (its
    own step): `ij,jk->i` is `jk->j`, then `ij,j->i`, not a sum over every (j, k) of
    a[i, j] * b[j, k] (docs/tuning.md)."""
    labels = list(labels)
    volume = lambda lab: math.prod(sizes[c] for c in lab)  # noqa: E731
    steps = []
    for k, idx in enumerate(order):
        rest = [lab for i, lab in enumerate(labels) if i not in idx]
        if k == len(order) - 1:
            res = outl
        else:
            needed = set(outl).union(*rest) if rest else set(outl)
            by_size = sorted(idx, key=lambda i: -volume(labels[i]))
            res = "".join(dict.fromkeys(c for i in by_size for c in labels[i] if c in needed))
        if len(idx) == 2:
            idx, labels = _sum_singles(idx, labels, res, steps)
        steps.append((idx, [labels[i] for i in idx], res))
        labels = [lab for i, lab in enumerate(labels) if i not in idx] + [res]
    return steps


def _sum_singles(idx, labels, res, steps):
    """For the pair idx: a step per operand that has labels summed here and in neither the
    other operand nor res (summed out of it first, unless nothing of it would be left);
    returns the pair's indices and the operands' labels after those steps."""
    for j in (0, 1):
        i, other = idx[j], labels[idx[1 - j]]
        kept = "".join(c for c in labels[i] if c in other or c in res)
        if kept == labels[i] or not kept:
            continue
        steps.append(((i,), [labels[i]], kept))
        labels = [lab for q, lab in enumerate(labels) if q != i] + [kept]
        shift = lambda q: q - (q > i)  # noqa: E731
        idx = (len(labels) - 1, shift(idx[1])) if j == 0 else (shift(idx[0]), len(labels) - 1)
    return idx, labels


def _small(ops, labs, res, sizes):
    """Few enough multiply-adds and elements that numpy.einsum's lower fixed cost wins."""
    work = math.prod(sizes[c] for c in set("".join(labs)) | set(res))
    return max(work, sum(a.size for a in ops)) <= SMALL_STEP


class _Action(NamedTuple):
    """What runs for one step, or for two as one fused chain: decided once (_decide), then
    run by einsum (_execute) or shown by einsum_plan."""

    kind: str        # "numpy", "engine" or "fused"
    args: list       # the step's operands
    labs: list       # their labels
    res: str         # the step's result labels
    plan: dict       # the engine's plan (_core.plan / plan_chain); None for a small step
    chain: tuple     # "fused": (the second step's other operand, its labels, its result labels)
    reason: str      # why numpy, when it is


def _decide(steps, k, ops, sizes):
    """(the action from step k, the operands left beside its result, the steps it takes).
    A step whose result is the second step's operand beside one other runs with it as a
    fused chain where the engine plans one; the engine chooses each step's path."""
    idx, labs, res = steps[k]
    args = [ops[i] for i in idx]
    rest = [a for i, a in enumerate(ops) if i not in idx]
    if _small(args, labs, res, sizes):
        return _Action("numpy", args, labs, res, None, None, f"small step (<= {SMALL_STEP} multiply-adds)"), rest, 1
    if k + 1 < len(steps) and len(idx) == 2:
        idx2, labs2, res2 = steps[k + 1]
        if len(idx2) == 2 and idx2[1] == len(rest) and idx2[0] < len(rest):
            other = rest[idx2[0]]
            p = _core.plan_chain(args[0], labs[0], args[1], labs[1], res, other, labs2[0], res2)
            if p["supported"]:
                left = [a for i, a in enumerate(rest) if i != idx2[0]]
                return _Action("fused", args, labs, res, p, (other, labs2[0], res2), ""), left, 2
    two = len(args) == 2
    p = _core.plan(args[0], labs[0], args[1] if two else None, labs[1] if two else "", res)
    if two and p["supported"] and _elementwise(p, res):
        return _Action("numpy", args, labs, res, p, None, _ELEMENTWISE), rest, 1
    return _Action("engine" if p["supported"] else "numpy", args, labs, res, p, None, p["reason"]), rest, 1


_ELEMENTWISE = "nothing summed: an elementwise product, which numpy's broadcasting multiply streams"


def _elementwise(p, res):
    """Whether a two-operand step's plan sums nothing and is not an outer product whose
    output rows the GEMM writes whole (docs/tuning.md): the engine's paths are built for
    sums, and a product with nothing summed ran 2-33x slower there than on numpy.einsum
    (a GEMM of K = 1 per batch index or into strided rows, the dot path's one-term dots)."""
    if p["k"]:
        return False
    return not (p["path"] == "gemm" and p["batch"] == "" and p["n"] and res[-1:] in p["n"])


def _execute(act, sizes, dtype, out):
    """Runs an action into out (allocated when None) and returns its result."""
    res = act.chain[2] if act.kind == "fused" else act.res
    expr = ",".join(act.labs) + "->" + act.res
    if act.kind == "numpy":  # numpy.einsum is quicker on its own result than into out=
        r = np.asarray(_np_einsum(expr, *act.args))  # a 0-d result comes back a scalar
        if out is None:
            return r
        out[...] = r
        return out
    if out is None:
        out = _core.aligned_empty(tuple(sizes[c] for c in res), dtype)
    a, la = act.args[0], act.labs[0]
    if act.kind == "fused":
        other, lother, _ = act.chain
        _core.contract_chain(a, la, act.args[1], act.labs[1], act.res, other, lother, out, res)
        return out
    try:
        two = len(act.args) == 2
        _core.contract(a, la, act.args[1] if two else None, act.labs[1] if two else "", out, res)
    except NotImplementedError:
        _np_einsum(expr, *act.args, out=out)
    return out


def einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    """numpy.einsum's result, on fastconv's native engine where it has a path.

    Same arguments as ``numpy.einsum``. float32/float64 ndarray operands of any
    strides (views, slices, transposes, the note's reshapes, correct-patch views) run
    natively without copying the input; the rest falls back to ``numpy.einsum``,
    which also raises its usual errors for malformed calls. ``einsum_plan`` shows
    what will run.
    """
    try:
        s, arrays = _prepare(operands, out, {"dtype": dtype, "order": order, "casting": casting}, optimize)
    except _Fallback:
        return _np_einsum(*operands, out=out, optimize=optimize, dtype=dtype, order=order, casting=casting)
    if out is None and (s.view or s.numpy_0d):  # numpy's view (shares memory), numpy's 0-d type
        return _np_einsum(*operands, optimize=optimize)
    ops, steps = _views(s, arrays), s.steps
    result = out
    k = 0
    while k < len(steps):
        act, ops, taken = _decide(steps, k, ops, s.sizes)
        k += taken
        whole = act.kind == "numpy" and taken == len(steps)  # numpy.einsum runs the whole call
        if k == len(steps) and result is None and not whole:
            result = _empty(s)
        ops.append(_execute(act, s.sizes, s.dtype, result if k == len(steps) else None))
    if result is None:  # numpy.einsum ran the whole call: its result, unless laid out otherwise
        result = ops[-1] if _laid_out(ops[-1], s) else _empty(s)
        if result is not ops[-1]:
            result[...] = ops[-1]
    # numpy.einsum's C einsum returns a 0-d result as a scalar (and out= as itself)
    return result[()] if out is None and result.ndim == 0 else result


def einsum_plan(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe") -> Plan:
    """What ``einsum`` would run for these arguments: the native steps with their
    engine path and index groups (batch, M, N, K), or the fallback to numpy and why."""
    try:
        s, arrays = _prepare(operands, out, {"dtype": dtype, "order": order, "casting": casting}, optimize)
        ops = _views(s, arrays)
    except _Fallback as e:
        return Plan(False, (), f"numpy.einsum: {e}")
    no_groups = {g: "" for g in ("batch", "m", "n", "k")}
    if s.view and out is None:
        step = Step(s.ins[0] + "->" + s.outl, ("operand 0",), "view", no_groups, "numpy.einsum's view of the operand")
        return Plan(True, (step,), "native")
    if s.numpy_0d and out is None:
        return Plan(False, (), "numpy.einsum: a 0-d result of optimize's path (its type is numpy's matmul step's)")
    names = [f"operand {i}" for i in range(len(ops))]
    steps = []
    k = 0
    while k < len(s.steps):
        act, ops, taken = _decide(s.steps, k, ops, s.sizes)
        idx = s.steps[k][0]
        used = [names[i] for i in idx]
        sub = ",".join(act.labs) + "->" + act.res
        p = act.plan or {}
        groups = {g: p.get(g, "") for g in ("batch", "m", "n", "k")}
        if act.kind == "fused":
            _, lother, res2 = act.chain
            rest = [nm for i, nm in enumerate(names) if i not in idx]
            used.append(rest[s.steps[k + 1][0][0]])
            sub += f" ; {lother},{act.res}->{res2}"
        steps.append(Step(sub, tuple(used), act.plan["path"] if act.kind != "numpy" else "numpy", groups,
                          act.reason))
        names = [nm for i, nm in enumerate(names) if i not in idx]
        if act.kind == "fused":  # the second step's other operand leaves too
            names = [nm for i, nm in enumerate(names) if i != s.steps[k + 1][0][0]]
        names.append(f"step {k + taken - 1}")
        res = act.chain[2] if act.kind == "fused" else act.res
        ops.append(_core.aligned_empty(tuple(s.sizes[c] for c in res), s.dtype))
        k += taken
    native = all(st.path != "numpy" or st.reason.startswith("small") or st.reason == _ELEMENTWISE for st in steps)
    reason = "native" if native else "some steps run on numpy.einsum (see their reasons)"
    return Plan(native, tuple(steps), reason)
