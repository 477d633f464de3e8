"""fastconv.einsum against numpy.einsum: the note's expressions verbatim, random contractions, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import HealthCheck
from hypothesis import strategies as st

import fastconv

from conftest import DTYPES, layout


def close(got, want, dtype=None):
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    tol = 2e-4 if got.dtype == np.float32 else 1e-10
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def ar(*shape, dtype=np.float64):
    """The note's arange(...) of a shape, scaled to keep float32 sums exact enough."""
    return (np.arange(int(np.prod(shape)), dtype=np.float64) % 17 - 8).reshape(shape).astype(dtype)


b, w, h, c, k, l, m, C, g = 2, 8, 6, 6, 2, 3, 3, 4, 2


def note_cases(dtype):
    """(name, subscripts, operands): the note's expressions with its own reshapes, verbatim,
    and the same contractions over the correct-patch views."""
    x1, x2, x3, x4 = ar(w, dtype=dtype), ar(w, h, dtype=dtype), ar(w, h, c, dtype=dtype), ar(b, w, h, c, dtype=dtype)
    return [
        ("1d", "Wk,k->W", x1.reshape(w // k, k), ar(k, dtype=dtype)),
        ("2d literal", "WHkl,kl->WH", x2.reshape(w // k, h // l, k, l), ar(k, l, dtype=dtype)),
        ("2d patches", "WkHl,kl->WH", x2.reshape(w // k, k, h // l, l), ar(k, l, dtype=dtype)),
        ("2d+c literal", "WHklc,klc->WH", x3.reshape(w // k, h // l, k, l, c), ar(k, l, c, dtype=dtype)),
        ("2d+c patches", "WkHlc,klc->WH", x3.reshape(w // k, k, h // l, l, c), ar(k, l, c, dtype=dtype)),
        ("conv literal", "bWHklc,klcC->bWHC", x4.reshape(b, w // k, h // l, k, l, c), ar(k, l, c, C, dtype=dtype)),
        ("conv patches", "bWkHlc,klcC->bWHC", x4.reshape(b, w // k, k, h // l, l, c), ar(k, l, c, C, dtype=dtype)),
        ("channel literal", "bWHCklm,klm->bWHC", x4.reshape(b, w // k, h // l, c // m, k, l, m), ar(k, l, m, dtype=dtype)),
        ("channel patches", "bWkHlCm,klm->bWHC", x4.reshape(b, w // k, k, h // l, l, c // m, m), ar(k, l, m, dtype=dtype)),
        ("1x1 1d", "wk,k->w", x1.reshape(w, 1), ar(1, dtype=dtype)),
        ("filter", "bwhc,c->bwh", x4, ar(c, dtype=dtype)),
        ("filter 1x1 kernel", "bwhklc,klc->bwh", x4.reshape(b, w, h, 1, 1, c), ar(1, 1, c, dtype=dtype)),
        ("full 1x1", "bwhc,cC->bwhC", x4, ar(c, C, dtype=dtype)),
        ("spatsep stage 1", "bWhkc,kcC->bWhcC", x4.reshape(b, w // k, h, k, c), ar(k, c, C, dtype=dtype)),
        ("spatsep stage 1 patches", "bWkhc,kcC->bWhcC", x4.reshape(b, w // k, k, h, c), ar(k, c, C, dtype=dtype)),
        ("spatsep stage 2", "bWHlcC,lcC->bWHC", ar(b, w // k, h, c, C, dtype=dtype).reshape(b, w // k, h // l, l, c, C),
         ar(l, c, C, dtype=dtype)),
        ("dwsep stage 1", "bWHklc,klc->bWHc", x4.reshape(b, w // k, h // l, k, l, c), ar(k, l, c, dtype=dtype)),
        ("dwsep stage 2", "bWHc,cC->bWHC", ar(b, w // k, h // l, c, dtype=dtype), ar(c, C, dtype=dtype)),
        ("dwsep fused", "bWkHlc,klc,cC->bWHC", x4.reshape(b, w // k, k, h // l, l, c), ar(k, l, c, dtype=dtype),
         ar(c, C, dtype=dtype)),
        ("group literal", "bWHklgs,klgsS->bWHgS", x4.reshape(b, w // k, h // l, k, l, g, c // g),
         ar(k, l, g, c // g, C // g, dtype=dtype)),
        ("group patches", "bWkHlgs,klgsS->bWHgS", x4.reshape(b, w // k, k, h // l, l, g, c // g),
         ar(k, l, g, c // g, C // g, dtype=dtype)),
        ("shuffled group", "bWkHlgs,klgsS->bWHSg", x4.reshape(b, w // k, k, h // l, l, g, c // g),
         ar(k, l, g, c // g, C // g, dtype=dtype)),
        ("shuffle", "bwhgn->bwhng", x4.reshape(b, w, h, g, c // g)),
        ("spatsep outer", "bWkHlc,kcC,lcC->bWHC", x4.reshape(b, w // k, k, h // l, l, c), ar(k, c, C, dtype=dtype),
         ar(l, c, C, dtype=dtype)),
        ("flattened outer", "bWkHlc,cC,kC,lC->bWHC", x4.reshape(b, w // k, k, h // l, l, c), ar(c, C, dtype=dtype),
         ar(k, C, dtype=dtype), ar(l, C, dtype=dtype)),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_note_expressions(isa, dtype):
    for name, sub, *ops in note_cases(dtype):
        close(fastconv.einsum(sub, *ops), np.einsum(sub, *ops))
        plan = fastconv.einsum_plan(sub, *ops)
        assert plan.native, (name, plan)


def test_note_literal_reshape_is_what_it_is():
    """einsum computes the note's literal 2-D expression exactly as numpy does, even though it is
    not a convolution; the correct-patch view gives fastconv.conv."""
    x4, wt = ar(b, w, h, c), ar(k, l, c, C)
    lit = fastconv.einsum("bWHklc,klcC->bWHC", x4.reshape(b, w // k, h // l, k, l, c), wt)
    close(lit, np.einsum("bWHklc,klcC->bWHC", x4.reshape(b, w // k, h // l, k, l, c), wt))
    patches = fastconv.einsum("bWkHlc,klcC->bWHC", x4.reshape(b, w // k, k, h // l, l, c), wt)
    close(patches, fastconv.conv(x4, wt))
    assert not np.allclose(lit, patches)


def test_small_steps_go_to_numpy(monkeypatch):
    monkeypatch.setattr("fastconv._einsum.SMALL_STEP", 1 << 15)
    a, bb = ar(4, 5), ar(5, 6)
    p = fastconv.einsum_plan("ij,jk->ik", a, bb)
    assert p.native and p.steps[0].path == "numpy" and p.steps[0].reason.startswith("small step")
    close(fastconv.einsum("ij,jk->ik", a, bb), np.einsum("ij,jk->ik", a, bb))
    assert fastconv.einsum_plan("ik,kl->il", ar(256, 16), ar(16, 32)).steps[0].path == "gemm"
    # j is summed and only the first operand has it: summed out of it first, then the GEMM
    big, w = ar(256, 16, 16), ar(16, 32)
    assert [s.path for s in fastconv.einsum_plan("ijk,kl->il", big, w).steps] == ["tapreduce", "gemm"]
    close(fastconv.einsum("ijk,kl->il", big, w), np.einsum("ijk,kl->il", big, w))


@pytest.mark.parametrize("sub,shapes,subs", [
    ("ij,jk->i", [(40, 30), (30, 20)], ["jk->j", "ij,j->i"]),
    ("ij,jk->k", [(40, 30), (30, 20)], ["ij->j", "j,jk->k"]),
    ("ij,jk->", [(40, 30), (30, 20)], ["ij->j", "jk->j", "j,j->"]),
    ("bij,bjk->b", [(3, 10, 12), (3, 12, 9)], ["bij->bj", "bjk->bj", "bj,bj->b"]),
    ("ij,kl->", [(4, 5), (6, 7)], ["ij,kl->"]),  # nothing of either would be left: one step
])
def test_labels_of_one_operand_summed_first(monkeypatch, sub, shapes, subs):
    """A label a pair sums that only one operand has is summed out of it first: the pair's
    product then runs over the labels they share (ij,jk->i was a sum over every (j, k))."""
    monkeypatch.setattr("fastconv._einsum.SMALL_STEP", 0)
    ops = [ar(*s).astype(np.float64) for s in shapes]
    p = fastconv.einsum_plan(sub, *ops)
    assert [s.subscripts for s in p.steps] == subs
    close(fastconv.einsum(sub, *ops), np.einsum(sub, *ops))


def test_plan_groups_and_fallback():
    x = ar(2, 4, 6, 8).astype(np.float32)
    p = fastconv.einsum_plan("bWkHlc,klcC->bWHC", x.reshape(2, 2, 2, 3, 2, 8), ar(2, 2, 8, 5).astype(np.float32))
    (s,) = p.steps
    assert p.native and s.path == "gemm"
    assert s.groups == {"batch": "", "m": "bWH", "n": "C", "k": "klc"}
    # Nothing summed (an elementwise product): numpy's broadcasting multiply, a native choice;
    # an outer product into whole output rows stays on the GEMM path.
    for sub, a, b in [("ij,ij->ij", x[0, 0], x[0, 0]), ("abc,bc->abc", x[0], x[0, 0]), ("kc,lc->klc", x[0, 0], x[0, 1]),
                      ("m,n->nm", x[0, 0, 0], x[0, 0, 1])]:
        p = fastconv.einsum_plan(sub, a, b)
        assert p.native and p.steps[0].path == "numpy" and p.steps[0].reason.startswith("nothing summed"), sub
        close(fastconv.einsum(sub, a, b), np.einsum(sub, a, b))
    p = fastconv.einsum_plan("m,n->mn", x[0, 0, 0], x[0, 0, 1])
    assert p.native and p.steps[0].path == "gemm" and p.steps[0].groups["k"] == ""
    close(fastconv.einsum("m,n->mn", x[0, 0, 0], x[0, 0, 1]), np.outer(x[0, 0, 0], x[0, 0, 1]))
    p = fastconv.einsum_plan("ij->i", np.ones((3, 4), np.int64))
    assert not p.native and "int64" in p.reason
    p = fastconv.einsum_plan("bWkHlc,klc,cC->bWHC", x.reshape(2, 2, 2, 3, 2, 8), ar(2, 2, 8).astype(np.float32),
                             ar(8, 5).astype(np.float32))
    assert [s.path for s in p.steps] == ["fused"]


@st.composite
def contractions(draw):
    pool = "abcdef"
    nops = draw(st.integers(1, 3))
    sizes = {c: draw(st.integers(0, 9)) for c in pool}
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    subs, ops = [], []
    for _ in range(nops):
        labels = draw(st.lists(st.sampled_from(pool), min_size=0, max_size=4))
        if len(labels) > 1 and draw(st.booleans()):
            labels = list(dict.fromkeys(labels))  # mostly distinct, sometimes repeated (diagonals)
        shape = [sizes[c] for c in labels]
        if labels and draw(st.integers(0, 4)) == 0:  # a size-1 dimension that broadcasts
            i = draw(st.integers(0, len(labels) - 1))
            shape[i] = 1
        base = rng.standard_normal([2 * n + 1 for n in shape]).astype(dtype)
        view = base[tuple(slice(None, None, 2) if draw(st.booleans()) else slice(0, n) for n in shape)]
        view = view[tuple(slice(None, n) for n in shape)]
        if draw(st.booleans()):
            view = view[tuple(slice(None, None, -1) for _ in shape)]
        if len(shape) > 1 and draw(st.booleans()):
            perm = rng.permutation(len(shape))
            view = np.ascontiguousarray(view.transpose(perm)).transpose(np.argsort(perm))
        subs.append("".join(labels))
        ops.append(view)
    present = list(dict.fromkeys("".join(subs)))
    if draw(st.booleans()):
        expr = ",".join(subs)  # implicit output
    else:
        outl = draw(st.lists(st.sampled_from(present), unique=True)) if present else []
        expr = ",".join(subs) + "->" + "".join(outl)
    return expr, ops


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=contractions(), use_out=st.booleans(), optimize=st.sampled_from([False, True]))
def test_random_contractions(isa, case, use_out, optimize):
    expr, ops = case
    try:
        want = np.einsum(expr, *ops, optimize=optimize)
    except Exception as e:  # numpy refuses it (sizes, broadcasting): so must fastconv, alike
        with pytest.raises(type(e)):
            fastconv.einsum(expr, *ops, optimize=optimize)
        return
    if use_out:
        out = np.full_like(want, np.nan)
        try:  # numpy's out= is stricter ('aa->a' on a (0, 1) array works only without it)
            np.einsum(expr, *ops, out=np.full_like(want, np.nan), optimize=optimize)
        except Exception as e:
            with pytest.raises(type(e)):
                fastconv.einsum(expr, *ops, out=out, optimize=optimize)
            return
        got = fastconv.einsum(expr, *ops, out=out, optimize=optimize)
        assert got is out
    else:
        got = fastconv.einsum(expr, *ops, optimize=optimize)
        if not optimize:  # numpy's own layout (with optimize, numpy's is its last pairwise step's)
            assert np.shape(got) == () or got.strides == want.strides
    close(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("args", [
    ("ij,jk->ix", np.ones((2, 3)), np.ones((3, 4))),
    ("ij->ii", np.ones((3, 3))),
    ("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5))),
    ("ij,jk->ik", np.ones((2, 3))),
    ("ij->j", np.ones((2, 3)), np.ones(3)),
    ("1j->j", np.ones((2, 3))),
    ("ijk->i", np.ones((2, 3))),
    ("i->i->i", np.ones(3)),
    ("ii->i", np.ones((2, 3))),
])
def test_errors_like_numpy(args):
    with pytest.raises(Exception) as want:
        np.einsum(*args)
    with pytest.raises(type(want.value)):
        fastconv.einsum(*args)


def test_sublist_ellipsis_and_kwargs():
    a, bb = ar(2, 3, 4), ar(4, 5)
    close(fastconv.einsum(a, [0, 1, 2], bb, [2, 3], [0, 1, 3]), np.einsum(a, [0, 1, 2], bb, [2, 3], [0, 1, 3]))
    close(fastconv.einsum("...j,jk->...k", a, bb), np.einsum("...j,jk->...k", a, bb))
    close(fastconv.einsum("...j,jk", a, bb), np.einsum("...j,jk", a, bb))
    close(fastconv.einsum("ij...->...", a), np.einsum("ij...->...", a))
    kw = {"dtype": np.float32, "casting": "unsafe"}
    close(fastconv.einsum("ijk,kl->il", a, bb, **kw), np.einsum("ijk,kl->il", a, bb, **kw))
    close(fastconv.einsum("ijk,kl->il", a.astype(np.float32), bb), np.einsum("ijk,kl->il", a.astype(np.float32), bb))
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(fastconv.einsum("ij->j", ints), np.einsum("ij->j", ints))
    close(fastconv.einsum("i,i", [1.0, 2.0], [3.0, 4.0]), np.einsum("i,i", [1.0, 2.0], [3.0, 4.0]))


@pytest.mark.parametrize("expr,shapes", [
    ("aaac,aab,a", [(2, 2, 2, 2), (2, 2, 2), (1,)]),      # found by hypothesis: D = 'ac', K outermost
    ("ac,a,ab->bc", [(5, 7), (5,), (5, 3)]),
    ("ca,a,ab->cb", [(7, 5), (5,), (5, 3)]),
    ("pqa,a,ab->pqb", [(4, 6, 5), (5,), (5, 3)]),           # D rows of a: the fused chain proper
    ("pqa,a,ab->bqp", [(4, 6, 5), (5,), (5, 3)]),
])
def test_tapreduce_feeding_gemm_layouts(isa, expr, shapes):
    """A tap-reduce step feeding a GEMM runs fused only when the intermediate is rows of the
    GEMM's K; every other layout must still be exact."""
    rng = np.random.default_rng(31)
    ops = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    close(fastconv.einsum(expr, *ops), np.einsum(expr, *ops))


def test_scalar_intermediate(isa, monkeypatch):
    """Found by the random tests: a tiny step on numpy.einsum returns a scalar, not an array."""
    monkeypatch.setattr("fastconv._einsum.SMALL_STEP", 1 << 15)
    x = np.ascontiguousarray(np.ones((9, 4, 9), np.float32).transpose(2, 1, 0)).transpose(2, 1, 0)
    c = np.ones(3, np.float32)
    for cc in (c, c[:0]):
        close(fastconv.einsum("daf,c,c->a", x, cc, cc), np.einsum("daf,c,c->a", x, cc, cc))


# numpy.einsum's behaviours fastconv.einsum reproduces (drop-in)


def raised(fn, *args, **kw):
    """The exception type fn raises, or None."""
    try:
        fn(*args, **kw)
    except Exception as e:
        return type(e)
    return None


@pytest.mark.parametrize("expr,shapes", [
    ("dcc,fce,ea,dbf->ab", [(2, 3, 3), (4, 3, 5), (5, 2), (2, 3, 4)]),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 6)]),
    ("cab,cdd->ab", [(3, 4, 5), (3, 2, 2)]),
    ("ij,jk->ik", [(3, 4), (4, 5)]),
])
def test_explicit_paths(expr, shapes):
    rng = np.random.default_rng(5)
    ops = [rng.standard_normal(s) for s in shapes]
    want = np.einsum(expr, *ops)
    paths = [np.einsum_path(expr, *ops, optimize=o)[0] for o in ("greedy", "optimal")]
    paths += [["einsum_path", tuple(range(len(ops)))]]
    if len(ops) == 2:
        paths += [["einsum_path", (1,), (0, 1)], ("einsum_path", [0, 1], [0])]
    for path in paths:
        for p in (list(path), tuple(path)):
            close(fastconv.einsum(expr, *ops, optimize=p), want)
            assert fastconv.einsum_plan(expr, *ops, optimize=p).native


@pytest.mark.parametrize("expr,n,optimize", [
    ("ab,bc,cd,de->ae", 4, ["einsum_path", (2, 3), (0, 1)]),   # operands left over
    ("a,a,a->a", 3, ["einsum_path", (1,), (0, 1)]),
    ("a,a->a", 2, ["einsum_path", (0,)]),
    ("a,a->a", 2, ["einsum_path", (0, 2)]),                     # no such operand
    ("a,a->a", 2, ["einsum_path"]),
    ("a,a->a", 2, 1),                                           # numpy takes True, not 1
    ("a,a,a->", 3, "nonsense"),
    ("a,a,a->", 3, {"a": 1}),
])
def test_invalid_optimize_raises_like_numpy(expr, n, optimize):
    ops = [np.ones(3)] * n
    want = raised(np.einsum, expr, *ops, optimize=optimize)
    assert want is not None
    with pytest.raises(want):
        fastconv.einsum(expr, *ops, optimize=optimize)
    assert not fastconv.einsum_plan(expr, *ops, optimize=optimize).native


@pytest.mark.parametrize("args", [
    ("i...->i", np.ones((3, 4))),
    ("i...->", np.ones((3, 4))),
    ("i...,i->i", np.ones((3, 4)), np.ones(3)),
    ("i...,i...->i", np.ones((3, 1)), np.ones((3, 1))),
    ("i...->i", np.ones(3)),                 # '...' stands for no dimension: accepted
    ("...i,i->i", np.ones(3), np.ones(3)),
    (np.ones((3, 4)), [0, Ellipsis], [0]),
    (np.ones((3, 4)), [0, Ellipsis], np.ones(3), [0], [0]),
    (np.ones((3, 4)), [0, Ellipsis], [0, Ellipsis]),
])
@pytest.mark.parametrize("optimize", [False, True, None])
def test_ellipsis_left_out_of_the_output(args, optimize):
    """numpy's C parser (optimize=False) refuses an explicit output without '...' when '...' stands
    for dimensions; with optimize, numpy's Python parser sums them."""
    err = raised(np.einsum, *args, optimize=optimize)
    if err is None:
        close(np.asarray(fastconv.einsum(*args, optimize=optimize)), np.asarray(np.einsum(*args, optimize=optimize)))
    else:
        with pytest.raises(err, match="ellipsis"):
            fastconv.einsum(*args, optimize=optimize)


def test_no_arguments_and_operand_limit():
    with pytest.raises(Exception) as want:
        np.einsum()
    with pytest.raises(type(want.value), match=str(want.value)):
        fastconv.einsum()
    for n in (33, 63, 64, 70):
        for expr, ops in ((",".join(["i"] * n), [np.ones(2)] * n), (",".join([""] * n), [np.array(1.5)] * n)):
            for optimize in (False, None, True):
                err = raised(np.einsum, expr, *ops, optimize=optimize)
                if err is None:
                    np.testing.assert_allclose(fastconv.einsum(expr, *ops, optimize=optimize),
                                               np.einsum(expr, *ops, optimize=optimize))
                else:
                    assert n >= 64  # optimize=True: numpy's path for scalars is one step of all
                    with pytest.raises(err, match="too many operands"):
                        fastconv.einsum(expr, *ops, optimize=optimize)


def test_fallback_calls_numpys_einsum_even_when_replaced(monkeypatch):
    """numpy's own tests run with numpy.einsum replaced by fastconv.einsum: the fallback must not recurse."""
    monkeypatch.setattr(np, "einsum", fastconv.einsum)
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(fastconv.einsum("ij->j", ints), ints.sum(0))
    np.testing.assert_array_equal(fastconv.einsum("ij,jk->ik", ints, ints.T, optimize=True), ints @ ints.T)


def aligned(a):
    """What the engine requires: data and every stride a multiple of the itemsize."""
    return a.ctypes.data % a.itemsize == 0 and all(s % a.itemsize == 0 for s in a.strides)


def _unaligned_cases():
    rec = np.zeros(12, dtype=[("a", "<f4"), ("b", "<i2")])  # packed: field 'a' has stride 6
    rec["a"] = np.arange(12) - 5
    wide = np.zeros((5, 4), dtype=[("x", "<f8", (3,)), ("y", "i1")])["x"]  # strides (100, 25, 8)
    wide[...] = np.arange(60).reshape(5, 4, 3) % 7 - 3
    raw = np.zeros(4 * 24 + 1, np.uint8)
    off1 = np.frombuffer(raw.data, np.float32, count=24, offset=1).reshape(4, 6)  # data at an odd address
    off4 = np.arange(26, dtype=np.float32).view(np.uint8)[4:4 + 8 * 12].view(np.float64).reshape(3, 4)
    return [("i,i", rec["a"], rec["a"]), ("ijk,k->ij", wide, np.arange(3.0)), ("ij,jk->ik", off1, ar(6, 5, dtype=np.float32)),
            ("ij,jk->ik", off4, ar(4, 2)), ("ij,ij->i", np.broadcast_to(rec["a"][:6], (3, 6)), ar(3, 6, dtype=np.float32)),
            ("ij->ji", off4, ), ("ii->", off1[:, :4])]


@pytest.mark.parametrize("case", range(7))
def test_unaligned_operands_are_copied(monkeypatch, case):
    """The engine takes strides that are multiples of the itemsize and data aligned to it."""
    expr, *ops = _unaligned_cases()[case]
    for o in ops:
        assert not aligned(o) or o is ops[-1]
    real = fastconv._core.contract

    def contract(*args):
        for a in args:
            if isinstance(a, np.ndarray):
                assert aligned(a), (a.strides, a.ctypes.data)
        return real(*args)

    monkeypatch.setattr(fastconv._core, "contract", contract)
    want = np.einsum(expr, *ops)
    close(np.asarray(fastconv.einsum(expr, *ops, out=np.empty_like(want) if np.ndim(want) else None)), np.asarray(want))
    close(np.asarray(fastconv.einsum(expr, *ops)), np.asarray(want))


def test_unaligned_out_falls_back():
    rec = np.zeros(10, dtype=[("a", "<f4"), ("b", "<i2")])
    field = rec["a"]
    x = ar(10, dtype=np.float32)
    assert fastconv.einsum("i,i->i", x, x, out=field) is field
    np.testing.assert_array_equal(rec["a"], x * x)
    odd = np.zeros(8 * 10 + 4, np.uint8)[4:].view(np.float64)
    assert not odd.flags.aligned
    assert fastconv.einsum("ij,j->i", ar(10, 3), ar(3), out=odd) is odd
    close(odd, np.einsum("ij,j->i", ar(10, 3), ar(3)))
    assert "alignment" in fastconv.einsum_plan("ij,j->i", ar(10, 3), ar(3), out=odd).reason


def test_casting_copies_only_the_memory_spanned():
    """A float32 broadcast or overlapping view cast for a float64 contraction is cast by the memory
    it occupies; materialised, these would take 200 MB and 80 MB."""
    import tracemalloc

    row = np.arange(1000, dtype=np.float32)[None]
    wide = np.broadcast_to(row, (25_000, 1000))                 # 200 MB as float64
    flat = np.arange(100_100, dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(flat, 100)  # (100001, 100): 80 MB as float64
    for a in (wide, windows, windows[::-3, ::-1], wide.T):
        tracemalloc.start()
        try:
            got = fastconv._validate.compact(a, np.dtype(np.float64))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 5 << 20, peak
        assert got.dtype == np.float64 and got.shape == a.shape and aligned(got)
        np.testing.assert_array_equal(got[::997, ::7], a[::997, ::7])
    # and through einsum: the mixed-dtype contraction itself
    tracemalloc.start()
    try:
        got = fastconv.einsum("ij,j->i", wide, np.ones(1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20, peak
    np.testing.assert_array_equal(got, np.full(25_000, row.sum(dtype=np.float64)))


def test_0d_results_are_numpy_scalars(monkeypatch):
    x = ar(5)
    m = ar(40, 40)
    calls = [("i,i", x, x), ("i,i->", x, x), ("i->", x), ("ii", m), ("ij,ij", m, m), ("ij,jk,ki", m, m, m),
             ("i,i,i", x, x, x), ("ij,j,i", m, ar(40), ar(40)), ("i,i", x.astype(np.float32), x), ("i,i", np.arange(3), np.arange(3)),
             ("", np.array(2.0)), ("i,i", x[:0], x[:0])]
    for small in (0, 1 << 15):  # the engine on every step, then numpy's small steps
        monkeypatch.setattr("fastconv._einsum.SMALL_STEP", small)
        for expr, *ops in calls:
            want = np.einsum(expr, *ops)
            got = fastconv.einsum(expr, *ops)
            assert type(got) is type(want) and np.isscalar(got), (expr, small, type(got))
            np.testing.assert_allclose(got, want, rtol=1e-6)
            out = np.empty((), want.dtype)
            assert fastconv.einsum(expr, *ops, out=out) is out


@pytest.mark.parametrize("expr,shape", [("ji", (3, 4)), ("ij->ji", (3, 4)), ("ii->i", (4, 4)), ("...", (2, 3)),
                                        ("i...->...i", (2, 3, 4)), ("iji->ij", (3, 2, 3)), ("ij", (3, 4))])
def test_one_operand_without_sum_is_numpys_view(expr, shape):
    a = ar(*shape)
    want = np.einsum(expr, a)
    for writeable in (True, False):
        a.flags.writeable = writeable
        got = fastconv.einsum(expr, a)
        assert np.shares_memory(got, a) and got.flags.writeable == writeable
        assert got.strides == want.strides
        close(got, want)
        assert fastconv.einsum_plan(expr, a).steps[0].path == "view"
    out = np.full_like(want, np.nan)
    assert fastconv.einsum(expr, a, out=out) is out and not np.shares_memory(out, a)
    close(out, want)


def _layout(x, kind, rng):
    if kind == "F":
        return np.asfortranarray(x)
    if kind == "sliced":
        big = np.zeros(tuple(2 * n + 1 for n in x.shape), x.dtype)
        v = big[tuple(slice(1, 2 * n + 1, 2) for n in x.shape)]
        v[...] = x
        return v
    return layout(x, {"C": "contiguous", "T": "transposed", "N": "negative"}[kind], rng)


@pytest.mark.parametrize("expr,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]), ("ijk,kl->lji", [(2, 3, 4), (4, 5)]),
    ("ij->i", [(3, 4)]), ("ijk->ki", [(2, 3, 4)]), ("ij,ij->ij", [(3, 4), (3, 4)]), ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij,kl->ilkj", [(2, 3), (4, 5)]), ("ijk,jk->ik", [(1, 3, 4), (3, 4)]),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 6)]), ("...ft,mf->...mt", [(2, 3, 5), (4, 3)]),
    ("iij,jk->ik", [(3, 3, 4), (4, 2)]), ("ij,jk->ik", [(3, 1), (1, 5)]), ("ij,jk->ik", [(0, 4), (4, 5)]),
])
@pytest.mark.parametrize("small", [0, 1 << 15])
def test_output_layout_is_numpys(monkeypatch, expr, shapes, small):
    """order='K': numpy lays its output out by the operands' strides (its iterator's axis order)."""
    import itertools

    monkeypatch.setattr("fastconv._einsum.SMALL_STEP", small)
    rng = np.random.default_rng(7)
    base = [ar(*s) for s in shapes]
    for kinds in itertools.product(["C", "F", "T", "N", "sliced"], repeat=len(shapes)):
        ops = [_layout(x, k, rng) for x, k in zip(base, kinds)]
        for cast in (False, True):
            if cast:  # byte strides of float32 and float64 operands compared, as numpy does
                ops = [ops[0].astype(np.float32, order="K")] + ops[1:]
            want, got = np.einsum(expr, *ops), fastconv.einsum(expr, *ops)
            assert got.strides == want.strides, (kinds, cast, got.strides, want.strides)
            assert got.flags.c_contiguous == want.flags.c_contiguous and got.flags.f_contiguous == want.flags.f_contiguous
            close(got, want)


def test_long_sums_are_as_precise_as_numpys(isa):
    """numpy's test_einsum_chunking_precision, over a broadcast, real memory and a strided view,
    as a sum, a dot and column sums: the engine sums pairwise (it summed a label sequentially
    and lost 12 of 15 digits)."""
    num = 1_000_000
    value = 1.0 + np.finfo(np.float64).eps * 8196
    full = np.full(2 * num, value)
    for x in (np.broadcast_to(np.array(value), num), full[:num], full[::2]):
        np.testing.assert_almost_equal(fastconv.einsum("i->", x) / num, value, decimal=15)
        np.testing.assert_almost_equal(fastconv.einsum("i,i->", x, np.ones(num)) / num, value, decimal=15)
        np.testing.assert_almost_equal(fastconv.einsum("ji->i", x.reshape(-1, 4) if x.strides[0] else
                                                       np.broadcast_to(x[:4], (num // 4, 4)), ) / (num // 4),
                                       np.full(4, value), decimal=15)
    assert fastconv.einsum_plan("i,i->", full[:num], full[:num]).native
