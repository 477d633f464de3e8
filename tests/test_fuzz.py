"""Bounded differential fuzz: fastconv against numpy.einsum / fastconv.reference in float64.

A fixed seed and a fixed number of cases, so that CI runs the same cases every time:

- random einsum calls (1-4 operands, repeated labels, ellipsis, implicit and explicit
  outputs, size-1 broadcasting, sizes 0-7, float32/float64/mixed, every operand in a
  random memory layout, optimize in {False, True, 'greedy', 'optimal'}, with and
  without out=, sometimes the sublist form, sometimes a malformed call that numpy
  refuses and fastconv must refuse with the same exception type), a share of them at
  the default SMALL_STEP (tiny steps on numpy.einsum), the rest with every step on the
  engine (the autouse fixture of conftest.py);
- every named operation on random valid shapes and layouts, on every ISA level this CPU
  supports, against ``fastconv.reference`` in float64.

Knobs (environment): FASTCONV_FUZZ_CASES (total cases, default 3000: 2000 einsum, 1000
named-op cases, each of those on every ISA), FASTCONV_FUZZ_SEED (default 20240601),
FASTCONV_FUZZ_NO_MISALIGNED=1 (lay out the operands and out= that would be misaligned
contiguously instead, every other draw unchanged: under the sanitizer build, where a
misaligned load is a UBSan report, to see what else fails).

Every case is built from (seed, family, index) alone. A failure prints the case and the
command that reruns it alone::

    python tests/test_fuzz.py einsum 123            # or: op 45; --seed S to change the seed
    python tests/test_fuzz.py einsum 0-1599 --quiet # a range, failures only
"""
from __future__ import annotations

import os
import re
import sys
import traceback

import numpy as np
import pytest

import fastconv
from fastconv import _einsum
from fastconv import reference as R

if __package__ in (None, ""):  # run as a script: conftest.py is beside this file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import ISAS, tolerance  # noqa: E402

CASES = int(os.environ.get("FASTCONV_FUZZ_CASES", "3000"))
SEED = int(os.environ.get("FASTCONV_FUZZ_SEED", "20240601"))
N_EINSUM = (2 * CASES + 2) // 3
N_OP = CASES - N_EINSUM
CHUNKS = 8
NO_MISALIGNED = os.environ.get("FASTCONV_FUZZ_NO_MISALIGNED", "") not in ("", "0")
DEFAULT_SMALL_STEP = _einsum.SMALL_STEP  # read at import, before the autouse fixture sets 0
FAMILY = {"einsum": 1, "op": 2}
DTYPES = (np.float32, np.float64)


def case_rng(family, index, seed=SEED):
    return np.random.default_rng([seed, FAMILY[family], index])


# ---------------------------------------------------------------- layouts

LAYOUTS = ("C", "F", "transposed", "sliced", "negative", "broadcast", "readonly", "misaligned")
LAYOUT_P = (0.22, 0.1, 0.14, 0.16, 0.1, 0.1, 0.1, 0.08)


def pick_layout(rng, allow=LAYOUTS):
    p = np.array([q for k, q in zip(LAYOUTS, LAYOUT_P) if k in allow])
    return str(rng.choice([k for k in LAYOUTS if k in allow], p=p / p.sum()))


def make_values(rng, shape, dtype, kind):
    """Random values of a shape; for the 'broadcast' layout, constant along the axes that
    will be stride-0 (returned as the base to broadcast)."""
    if kind == "broadcast":
        base_shape = tuple(1 if (n > 1 and rng.random() < 0.6) else n for n in shape)
        return rng.standard_normal(base_shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def lay_out(values, shape, kind, rng):
    """(array with values' contents in memory layout `kind`, a description of it)."""
    dt = values.dtype
    if kind == "broadcast":
        a = np.broadcast_to(values, shape)  # read-only, stride 0 on the axes values has size 1
        return a, "broadcast_to"
    if kind == "F":
        a = np.asfortranarray(values) if values.ndim else values.copy()  # (it makes 0-d 1-d)
        return a, "F"
    if kind == "transposed" and values.ndim > 1:
        order = tuple(int(i) for i in rng.permutation(values.ndim))
        a = np.ascontiguousarray(values.transpose(order)).transpose(np.argsort(order))
        return a, f"transposed(memory order {order})"
    if kind in ("sliced", "negative") and values.ndim:
        steps = [int(rng.choice([1, 2, 3])) for _ in shape]
        offs = [int(rng.integers(0, 3)) for _ in shape]
        neg = [kind == "negative" or bool(rng.random() < 0.3) for _ in shape]
        big = np.full([s * max(n, 1) + o + 1 for n, s, o in zip(shape, steps, offs)], np.nan, dt)
        a = big[tuple(slice(o, o + s * n, s) for n, s, o in zip(shape, steps, offs))]
        a = a[tuple(slice(None, None, -1) if ng else slice(None) for ng in neg)]
        a[...] = values
        st = [(-s if ng else s) for s, ng in zip(steps, neg)]
        return a, f"sliced(steps {st}, offsets {offs})"
    if kind == "readonly":
        a = values.copy()
        a.flags.writeable = False
        return a, "readonly"
    if kind == "misaligned":
        item = dt.itemsize
        off = int(rng.integers(1, item))
        if NO_MISALIGNED:
            return values.copy(order="C"), "C (misaligned layout off)"
        buf = np.zeros(values.nbytes + item, np.uint8)
        a = buf[off:off + values.nbytes].view(dt).reshape(values.shape)
        a[...] = values
        return a, f"misaligned(byte offset {off} from an aligned buffer)"
    return values.copy(order="C"), "C"  # (np.ascontiguousarray makes a 0-d array 1-d)


def describe(a, how):
    return (f"shape {a.shape} {a.dtype} strides {a.strides} {how}"
            + ("" if a.flags.writeable else " read-only")
            + ("" if a.flags.aligned else " MISALIGNED"))


def compare(got, ref, absref, nterms, what="result", tol_dtype=None):
    """None, or why got is not ref to the tolerance of conftest.py (float64 comparison)."""
    got, ref = np.asarray(got), np.asarray(ref)
    if got.shape != ref.shape:
        return f"{what}: shape {got.shape}, numpy/reference {ref.shape}"
    tol = tolerance(tol_dtype or got.dtype, max(int(nterms), 1), np.asarray(absref, np.float64))
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bad = ~(err <= tol)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        return (f"{what}: {int(bad.sum())} of {bad.size} values wrong; max error {err[bad].max():.6g}; "
                f"first at {list(map(int, i))}: got {got[i]!r}, want {ref[i]!r}, tolerance {np.broadcast_to(tol, bad.shape)[i]:.3g}")
    return None


# ---------------------------------------------------------------- einsum cases

POOL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def gen_einsum(index, seed=SEED):
    """The einsum case `index`: a dict with the call and how to reproduce it."""
    rng = case_rng("einsum", index, seed)
    nops = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.4, 0.25, 0.15]))
    nlab = int(rng.integers(1, 7))
    start = int(rng.integers(0, len(POOL) - nlab))
    pool = POOL[start:start + nlab]
    sizes = {lab: (0 if rng.random() < 0.04 else int(rng.integers(1, 8))) for lab in pool}
    use_ell = rng.random() < 0.25
    ell = tuple(int(rng.integers(1, 5)) for _ in range(int(rng.integers(0, 3))))
    subs, shapes = [], []
    for _ in range(nops):
        k = int(rng.choice([0, 1, 2, 3, 4], p=[0.05, 0.25, 0.35, 0.2, 0.15]))
        labels = [str(c) for c in rng.choice(list(pool), k)]
        if len(labels) > 1 and rng.random() < 0.5:
            labels = list(dict.fromkeys(labels))  # mostly distinct, else repeats (diagonals)
        shape = [sizes[c] for c in labels]
        for i, c in enumerate(labels):  # size-1 axes that broadcast against the others
            if labels.count(c) == 1 and rng.random() < 0.1:
                shape[i] = 1
        sub = "".join(labels)
        if use_ell and rng.random() < 0.8:
            pos = int(rng.integers(0, len(labels) + 1))
            n = int(rng.integers(0, len(ell) + 1))
            eshape = [1 if rng.random() < 0.2 else s for s in ell[len(ell) - n:]]  # right-aligned
            sub = sub[:pos] + "..." + sub[pos:]
            shape = shape[:pos] + eshape + shape[pos:]
        subs.append(sub)
        shapes.append(tuple(shape))
    present = list(dict.fromkeys(c for s in subs for c in s if c != "."))
    any_ell = any("..." in s for s in subs)
    if rng.random() < 0.35:
        expr = ",".join(subs)  # implicit output
    else:
        outl = [str(c) for c in rng.permutation(present)[: int(rng.integers(0, len(present) + 1))]] if present else []
        if any_ell and rng.random() < 0.85:
            outl.insert(int(rng.integers(0, len(outl) + 1)), "...")
        expr = ",".join(subs) + "->" + "".join(outl)
    bad = None
    if rng.random() < 0.06:  # a malformed call: numpy refuses it, fastconv must refuse it alike
        bad = str(rng.choice(["unknown output", "repeated output", "size", "ndim", "operands", "char"]))
        if bad == "unknown output":
            expr = ",".join(subs) + "->" + next(c for c in POOL if c not in pool)
        elif bad == "repeated output" and present:
            expr = ",".join(subs) + "->" + present[0] * 2
        elif bad == "size" and any(shapes):
            i = next(i for i, s in enumerate(shapes) if s)
            shapes[i] = (shapes[i][0] + 2,) + shapes[i][1:]
        elif bad == "ndim":
            shapes[0] = shapes[0] + (2,)
        elif bad == "operands":
            shapes.append((2,))
        else:
            expr = expr.replace(",", ",1", 1) if "," in expr else expr + "->."
    dtypes = [np.dtype(DTYPES[int(rng.integers(0, 2))]) for _ in shapes]
    if rng.random() < 0.5:
        dtypes = [dtypes[0]] * len(shapes)  # one dtype more often than mixed
    ops, descs = [], []
    for shape, dt in zip(shapes, dtypes):
        kind = pick_layout(rng)
        values = make_values(rng, shape, dt, kind)
        a, how = lay_out(values, shape, kind, rng)
        ops.append(a)
        descs.append(describe(a, how))
    optimize = [False, True, "greedy", "optimal"][int(rng.integers(0, 4))]
    sublist = bad is None and rng.random() < 0.06  # numpy's interleaved (operand, sublist) form
    out_kind = None
    if rng.random() < 0.4:
        out_kind = pick_layout(rng, ("C", "F", "transposed", "sliced", "negative", "misaligned"))
    small_step = DEFAULT_SMALL_STEP if rng.random() < 0.25 else 0
    isa = ISAS[int(rng.integers(0, len(ISAS)))]
    threads = [None, None, 1, 3][int(rng.integers(0, 4))]
    return dict(family="einsum", index=index, seed=seed, expr=expr, ops=ops, descs=descs, optimize=optimize,
                sublist=sublist, out_kind=out_kind, out_rng=np.random.default_rng([seed, 9, index]),
                small_step=small_step, isa=isa, threads=threads, malformed=bad)


def _sublist_args(expr, ops):
    """numpy's interleaved form of the same call: (op, [labels]...), [output]."""
    ins, _, outs = expr.partition("->")
    mapping = {}

    def conv(s):
        r, i = [], 0
        while i < len(s):
            if s.startswith("...", i):
                r.append(Ellipsis)
                i += 3
            else:
                r.append(mapping.setdefault(s[i], len(mapping)))
                i += 1
        return r

    args = []
    for op, s in zip(ops, ins.split(",")):
        args += [op, conv(s)]
    if "->" in expr:
        args.append(conv(outs))
    return args


def einsum_header(c):
    lines = [f"einsum case {c['index']} (seed {c['seed']}): fastconv.einsum({c['expr']!r}, ...,"
             f" optimize={c['optimize']!r}){' [sublist form]' if c['sublist'] else ''}"
             f"{' [malformed: ' + c['malformed'] + ']' if c['malformed'] else ''}"]
    lines += [f"  operand {i}: {d}" for i, d in enumerate(c["descs"])]
    lines.append(f"  out= {c.get('out_desc') or c['out_kind'] or 'None'}; SMALL_STEP={c['small_step']}; isa={c['isa']}; "
                 f"threads={c['threads'] or 'default'}")
    lines.append(f"  rerun: python tests/test_fuzz.py einsum {c['index']} --seed {c['seed']}")
    return "\n".join(lines)


def run_einsum_case(c):
    """None if fastconv agrees with numpy on case c, else what differs."""
    expr, ops, opt = c["expr"], c["ops"], c["optimize"]
    args = _sublist_args(expr, ops) if c["sublist"] else [expr, *ops]
    try:
        want = np.einsum(*args, optimize=opt)
    except Exception as e:  # numpy refuses the call: fastconv must refuse it with the same type
        try:
            got = fastconv.einsum(*args, optimize=opt)
        except Exception as f:
            if isinstance(f, type(e)):
                return None
            return f"numpy raises {type(e).__name__}({e}), fastconv raises {type(f).__name__}({f})"
        return f"numpy raises {type(e).__name__}({e}), fastconv returns {np.asarray(got).shape} {np.asarray(got).dtype}"
    want_arr = np.asarray(want)
    out = None
    if c["out_kind"] is not None:
        kind = c["out_kind"]
        nan = np.full(want_arr.shape, np.nan, want_arr.dtype)
        out, how = lay_out(nan, want_arr.shape, kind, c["out_rng"])
        c["out_desc"] = describe(out, how)
    # The oracle: numpy.einsum's plain loops (optimize=False) in float64; numpy's own
    # optimize=False refuses ellipsis axes missing from an explicit output, which its
    # other modes sum: then the same numpy mode as the call, still in float64.
    ops64 = [np.asarray(o, np.float64) for o in ops]

    def np64(arrays):
        a = _sublist_args(expr, arrays) if c["sublist"] else [expr, *arrays]
        try:
            return np.einsum(*a)
        except ValueError:
            return np.einsum(*a, optimize=opt)

    ref = np64(ops64)
    absref = np64([np.abs(o) for o in ops64])
    count = np64([np.ones(o.shape) for o in ops])
    nterms = int(np.max(count)) if np.size(count) else 1
    try:
        got = fastconv.einsum(*args, optimize=opt, out=out) if out is not None else fastconv.einsum(*args, optimize=opt)
    except Exception as e:
        return f"fastconv raises {type(e).__name__}: {e}; numpy returns {want_arr.shape} {want_arr.dtype}"
    if out is not None and got is not out:
        return "out= given but fastconv did not return it"
    g = np.asarray(got)
    if g.dtype != want_arr.dtype:
        return f"dtype {g.dtype}, numpy {want_arr.dtype}"
    # numpy.einsum with optimize runs a path of steps (an operand's own sums first, then
    # pairs), each intermediate in the dtype of its operands: float32 operands give a
    # float32 intermediate even when the result is float64 (fastconv returns numpy's
    # result, and is numpy where it falls back): then float32's tolerance.
    tol_dtype = None
    if opt not in (False, None) and len(ops) > 1 and any(o.dtype == np.float32 for o in ops):
        tol_dtype = np.float32
    bad = compare(g, ref, absref, nterms, tol_dtype=tol_dtype)
    if bad:
        return bad + f" (summed terms per output {nterms})"
    if out is None and type(got) is not type(want):
        return f"returns {type(got).__name__}, numpy returns {type(want).__name__}"
    return None


# ---------------------------------------------------------------- named-op cases

OPS = ("conv", "pointwise_conv", "pointwise_conv_filter", "depthwise_conv", "channel_conv", "grouped_conv",
       "pointwise_grouped_conv", "channel_shuffle", "depthwise_separable_conv", "spatially_separable_conv",
       "flattened_conv")
CHANNELS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 20, 24, 31, 32, 33, 40, 48, 63, 64, 65)
BIG_CHANNELS = CHANNELS + (95, 96, 97, 127, 128, 129, 192, 240)
WORK = 300_000  # multiply-adds (and input elements) per case at most: a few ms a case


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def gen_op(index, seed=SEED):
    rng = case_rng("op", index, seed)
    op = OPS[index % len(OPS)]  # every op equally often, in turn
    big = rng.random() < 0.2  # a fifth of the cases: more pixels and channels (several tiles, threads)
    for _ in range(200):  # rejection: shapes within the work budget
        n = 2 if op in ("spatially_separable_conv", "flattened_conv") else int(rng.integers(1, 4))
        pointwise = op in ("pointwise_conv", "pointwise_conv_filter", "pointwise_grouped_conv", "channel_shuffle")
        K = tuple(1 for _ in range(n)) if pointwise else tuple(int(rng.integers(1, 5)) for _ in range(n))
        pmax = (17 if pointwise else 10) if big else (5 if pointwise else 4)
        P = tuple(0 if rng.random() < 0.03 else int(rng.integers(1, pmax)) for _ in range(n))
        b = 0 if rng.random() < 0.08 else int(rng.integers(1, 4))
        c = int(rng.choice(BIG_CHANNELS if big else CHANNELS))
        C = int(rng.choice(BIG_CHANNELS if big else CHANNELS))
        S = tuple(p * k for p, k in zip(P, K))
        xshape = (b, *S, c)
        kk = int(np.prod(K))
        pix = b * int(np.prod(P))
        weights, kw, nterms = [], {}, 1
        if op == "conv":
            weights, nterms, work = [(*K, c, C)], kk * c, pix * kk * c * C
        elif op == "pointwise_conv":
            weights, nterms, work = [(c, C)], c, pix * c * C
        elif op == "pointwise_conv_filter":
            weights, nterms, work = [(c,)], c, pix * c
        elif op == "depthwise_conv":
            weights, nterms, work = [(*K, c)], kk, pix * kk * c
        elif op == "channel_conv":
            m = int(rng.choice(_divisors(c)))
            weights, nterms, work = [(*K, m)], kk * m, pix * kk * c
        elif op in ("grouped_conv", "pointwise_grouped_conv"):
            g = int(rng.choice(_divisors(c)))
            s, So = c // g, int(rng.integers(1, 33 if big else 9))
            weights = [(g, s, So)] if op == "pointwise_grouped_conv" else [(*K, g, s, So)]
            kw = {"shuffle": bool(rng.random() < 0.5)}
            nterms, work = kk * s, pix * kk * s * g * So
        elif op == "channel_shuffle":
            kw = {"groups": int(rng.choice(_divisors(c)))}
            nterms, work = 1, pix * c
        elif op == "depthwise_separable_conv":
            weights, nterms, work = [(*K, c), (c, C)], kk * c, pix * (kk * c + c * C)
        elif op == "spatially_separable_conv":
            weights = [(K[0], c, C), (K[1], c, C)]
            kw = {"strategy": str(rng.choice(["auto", "outer", "fused-staged"]))}
            nterms, work = kk * c, pix * kk * c * C * 2
        else:  # flattened_conv
            weights = [(c, C), (K[0], C), (K[1], C)]
            kw = {"strategy": str(rng.choice(["auto", "outer", "fused-staged"]))}
            nterms, work = kk * c, pix * kk * c * C * 2
        if work <= WORK and b * int(np.prod(S)) * c <= WORK:
            break
    xdt = np.dtype(DTYPES[int(rng.integers(0, 2))])
    wdts = [xdt if rng.random() < 0.6 else np.dtype(DTYPES[int(rng.integers(0, 2))]) for _ in weights]
    arrays, descs = [], []
    for name, shape, dt in [("x", xshape, xdt)] + [(f"w{i}", s, d) for i, (s, d) in enumerate(zip(weights, wdts))]:
        kind = pick_layout(rng)
        values = make_values(rng, shape, dt, kind)
        a, how = lay_out(values, shape, kind, rng)
        arrays.append(a)
        descs.append(f"{name}: " + describe(a, how))
    use_out = rng.random() < 0.4
    # out= must be C-contiguous: aligned, or not (numpy's own buffers at a byte offset)
    out_kind = ("misaligned" if rng.random() < 0.2 else "C") if use_out else None
    threads = [None, None, 1, 3][int(rng.integers(0, 4))]
    return dict(family="op", index=index, seed=seed, op=op, arrays=arrays, descs=descs, kw=kw, nterms=nterms,
                use_out=use_out, out_kind=out_kind, threads=threads)


def op_header(c):
    name = "pointwise_conv" if c["op"] == "pointwise_conv_filter" else c["op"]
    args = ["x"] + [f"w{i}" for i in range(len(c["arrays"]) - 1)] + [f"{k}={v!r}" for k, v in c["kw"].items()]
    args += [f"out=<{c.get('out_desc') or c['out_kind']}, NaN-filled>"] if c["use_out"] else []
    lines = [f"op case {c['index']} (seed {c['seed']}): fastconv.{name}({', '.join(args)})"]
    lines += [f"  {d}" for d in c["descs"]]
    lines.append(f"  threads={c['threads'] or 'default'}; every ISA of {ISAS}")
    lines.append(f"  rerun: python tests/test_fuzz.py op {c['index']} --seed {c['seed']}")
    return "\n".join(lines)


def run_op_case(c):
    name = "pointwise_conv" if c["op"] == "pointwise_conv_filter" else c["op"]
    fn, ref_fn = getattr(fastconv, name), getattr(R, name)
    x, *ws = c["arrays"]
    kw = dict(c["kw"])
    groups = kw.pop("groups", None)
    pos = (groups,) if groups is not None else ()
    strategy = kw.pop("strategy", None)
    fkw = dict(kw, **({"strategy": strategy} if strategy else {}))
    x64, w64 = np.asarray(x, np.float64), [np.asarray(w, np.float64) for w in ws]
    ref = ref_fn(x64, *w64, *pos, **kw)
    absref = ref_fn(np.abs(x64), *map(np.abs, w64), *pos, **kw)
    want_dt = np.result_type(x, *ws)
    problems = []
    for isa in ISAS:
        prev = fastconv.set_isa(isa)
        try:
            if c["use_out"]:
                out, how = lay_out(np.full(ref.shape, np.nan, want_dt), ref.shape, c["out_kind"],
                                   np.random.default_rng([c["seed"], 10, c["index"]]))
                c["out_desc"] = describe(out, how)
                got = fn(x, *ws, *pos, out=out, **fkw)
                if got is not out:
                    problems.append(f"[{isa}] out= given but not returned")
                    continue
            else:
                got = fn(x, *ws, *pos, **fkw)
        except Exception as e:
            problems.append(f"[{isa}] raises {type(e).__name__}: {e}")
            continue
        finally:
            fastconv.set_isa(prev)
        if got.dtype != want_dt:
            problems.append(f"[{isa}] dtype {got.dtype}, want {want_dt}")
        elif not got.flags.c_contiguous:
            problems.append(f"[{isa}] result not C-contiguous: strides {got.strides}")
        elif c["op"] == "channel_shuffle":
            if got.shape != ref.shape or not np.array_equal(got, ref.astype(want_dt)):
                problems.append(f"[{isa}] channel_shuffle differs from the reference")
        else:
            bad = compare(got, ref, absref, c["nterms"])
            if bad:
                problems.append(f"[{isa}] {bad} (summed terms per output {c['nterms']})")
    return "\n".join(problems) or None


# ---------------------------------------------------------------- running

def _with_threads(n, fn, *a):
    if n is None:
        return fn(*a)
    fastconv.set_num_threads(n)
    try:
        return fn(*a)
    finally:
        fastconv.set_num_threads(None)


def _plain_setattr(obj, name, value):
    setattr(obj, name, value)


def run_case(family, index, seed=SEED, setattr_=_plain_setattr):
    """(None or what failed, the case's description). An einsum case sets its SMALL_STEP
    with setattr_ (pytest's monkeypatch.setattr: undone when the test ends) and its ISA
    (restored after the case)."""
    if family == "einsum":
        c = gen_einsum(index, seed)
        setattr_(_einsum, "SMALL_STEP", c["small_step"])
        prev_isa = fastconv.set_isa(c["isa"])
        try:
            why = _with_threads(c["threads"], run_einsum_case, c)
        except Exception as e:  # noqa: BLE001 - a crash of the harness is a failure of the case
            why = f"unexpected {type(e).__name__}: {e}\n{traceback.format_exc()}"
        finally:
            fastconv.set_isa(prev_isa)
        return why, einsum_header(c)
    c = gen_op(index, seed)
    try:
        why = _with_threads(c["threads"], run_op_case, c)
    except Exception as e:  # noqa: BLE001
        why = f"unexpected {type(e).__name__}: {e}\n{traceback.format_exc()}"
    return why, op_header(c)


def _chunk(n, k):
    return range(k * n // CHUNKS, (k + 1) * n // CHUNKS)


def _run_chunk(family, indices, setattr_=_plain_setattr):
    """Runs every case of the chunk; fails with one example of each distinct kind of
    failure (the first line of the reason, numbers masked) and how many cases had it."""
    kinds = {}
    for i in indices:
        why, header = run_case(family, i, SEED, setattr_)
        if why:
            sig = re.sub(r"[0-9]+", "N", why.splitlines()[0])[:160]
            kinds.setdefault(sig, []).append(f"{header}\n  FAILED: {why}")
    if kinds:
        n = sum(map(len, kinds.values()))
        parts = [f"[{len(v)} case(s)] {v[0]}" + (f"\n  (also cases {_indices(v[1:])})" if len(v) > 1 else "")
                 for v in sorted(kinds.values(), key=len)][:8]
        pytest.fail(f"{n} of {len(indices)} {family} cases fail, {len(kinds)} kind(s) of failure; "
                    f"one example of each:\n\n" + "\n\n".join(parts), pytrace=False)


def _indices(failures):
    ids = [f.split(" ", 3)[2] for f in failures]  # "einsum case 12 (seed ...": the index
    return ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_fuzz_einsum(chunk, monkeypatch):
    # The autouse fixture of conftest.py set SMALL_STEP to 0 (every step on the engine);
    # about a quarter of the cases set it back to its default, through monkeypatch.
    _run_chunk("einsum", _chunk(N_EINSUM, chunk), monkeypatch.setattr)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_fuzz_ops(chunk):
    _run_chunk("op", _chunk(N_OP, chunk))


def test_cases_are_reproducible():
    """A case is a function of (seed, family, index) alone: the same call, the same values."""
    for fam, gen in (("einsum", gen_einsum), ("op", gen_op)):
        for i in (0, 7, 123):
            a, b = gen(i), gen(i)
            for k in ("expr", "optimize", "op", "kw"):
                assert a.get(k) == b.get(k)
            for x, y in zip(a.get("ops", a.get("arrays")), b.get("ops", b.get("arrays"))):
                assert x.shape == y.shape and x.strides == y.strides and np.array_equal(x, y, equal_nan=True)


def main(argv):
    import argparse

    p = argparse.ArgumentParser(description="Rerun fuzz cases of tests/test_fuzz.py by index.")
    p.add_argument("family", choices=sorted(FAMILY))
    p.add_argument("indices", help="an index, or a range A-B (inclusive)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--quiet", action="store_true", help="print failing cases only")
    a = p.parse_args(argv)
    lo, _, hi = a.indices.partition("-")
    lo, hi = int(lo), int(hi or lo)
    nfail = 0
    for i in range(lo, hi + 1):
        why, header = run_case(a.family, i, a.seed)
        nfail += bool(why)
        if why or not a.quiet:
            print(header)
            print("  FAILED: " + why if why else "  ok")
            print()
    print(f"{hi - lo + 1 - nfail} passed, {nfail} failed")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
