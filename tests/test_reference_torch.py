"""The einsum reference, and fastconv's native operations, against PyTorch: real
convolutions with stride == kernel, not the note's reshape."""
import numpy as np
import pytest

import fastconv
from fastconv import reference


@pytest.fixture(params=["reference", "fastconv"])
def ops(request):
    """The reference, then fastconv's native operations (skipping those not native yet)."""
    mod = reference if request.param == "reference" else fastconv

    class Ops:
        def __getattr__(self, name):
            if not hasattr(mod, name):
                pytest.skip(f"fastconv.{name} is not native yet")
            return getattr(mod, name)

    return Ops()

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(1)


def rand(*shape):
    return RNG.standard_normal(shape)


def to_torch(x):
    """(b, *S, c) -> (b, c, *S)"""
    return torch.from_numpy(np.moveaxis(x, -1, 1).copy())


def from_torch(t):
    return np.moveaxis(t.numpy(), 1, -1)


def tconv(x, weight, K, groups=1):
    """weight in torch layout (C, c/groups, *K)."""
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(K)]
    return from_torch(conv(to_torch(x), torch.from_numpy(np.array(weight)), stride=K, groups=groups))


SHAPES = [  # (x shape, kernel)
    ((2, 12, 5), (3,)),
    ((1, 8, 1), (8,)),
    ((3, 6, 8, 4), (2, 2)),
    ((2, 9, 4, 6), (3, 1)),
    ((1, 4, 6, 10, 3), (2, 3, 5)),
    ((2, 2, 2, 2, 8), (1, 1, 2)),
]


@pytest.mark.parametrize("shape,K", SHAPES)
def test_conv(ops, shape, K):
    x = rand(*shape)
    c, C = shape[-1], 5
    w = rand(*K, c, C)
    n = len(K)
    tw = np.transpose(w, (n + 1, n, *range(n)))
    np.testing.assert_allclose(ops.conv(x, w), tconv(x, tw, K), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,K", SHAPES)
def test_depthwise(ops, shape, K):
    x = rand(*shape)
    c = shape[-1]
    w = rand(*K, c)
    n = len(K)
    tw = np.transpose(w, (n, *range(n)))[:, None]
    np.testing.assert_allclose(ops.depthwise_conv(x, w), tconv(x, tw, K, groups=c), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,K", SHAPES)
def test_channel_conv(ops, shape, K):
    x = rand(*shape)
    c = shape[-1]
    m = max(d for d in (1, 2, 3, 4) if c % d == 0)
    w = rand(*K, m)
    n = len(K)
    tw = np.broadcast_to(np.transpose(w, (n, *range(n))), (c // m, m, *K))
    np.testing.assert_allclose(ops.channel_conv(x, w), tconv(x, tw, K, groups=c // m), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,K", SHAPES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_grouped(ops, shape, K, shuffle):
    x = rand(*shape)
    c = shape[-1]
    g = max(d for d in (1, 2, 3, 4) if c % d == 0)
    S = 3
    w = rand(*K, g, c // g, S)
    n = len(K)
    tw = np.transpose(w, (n, n + 2, n + 1, *range(n))).reshape(g * S, c // g, *K)
    want = tconv(x, tw, K, groups=g)
    if shuffle:
        want = from_torch(F.channel_shuffle(to_torch(want), g))
    np.testing.assert_allclose(ops.grouped_conv(x, w, shuffle=shuffle), want, rtol=1e-10, atol=1e-10)
    wp = rand(g, c // g, S)
    want = tconv(x, wp.transpose(0, 2, 1).reshape(g * S, c // g, *(1,) * n), (1,) * n, groups=g)
    if shuffle:
        want = from_torch(F.channel_shuffle(to_torch(want), g))
    np.testing.assert_allclose(ops.pointwise_grouped_conv(x, wp, shuffle=shuffle), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,K", SHAPES)
def test_pointwise(ops, shape, K):
    x = rand(*shape)
    c = shape[-1]
    n = len(K)
    w = rand(c, 7)
    ones = (1,) * n
    np.testing.assert_allclose(ops.pointwise_conv(x, w), tconv(x, w.T.reshape(7, c, *ones), ones), rtol=1e-10, atol=1e-10)
    f = rand(c)
    np.testing.assert_allclose(ops.pointwise_conv(x, f), tconv(x, f.reshape(1, c, *ones), ones)[..., 0],
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(2, 4, 6), (3, 5, 2, 12), (1, 2, 2, 2, 6)])
@pytest.mark.parametrize("g", [1, 2, 3, 6])
def test_channel_shuffle(ops, shape, g):
    x = rand(*shape)
    want = from_torch(F.channel_shuffle(to_torch(x), g))
    np.testing.assert_array_equal(ops.channel_shuffle(x, g), want)


def test_separable(ops):
    x = rand(2, 6, 8, 4)
    wv, wh = rand(3, 4, 5), rand(2, 4, 5)
    outer = np.einsum("kcC,lcC->Cckl", wv, wh)
    np.testing.assert_allclose(ops.spatially_separable_conv(x, wv, wh), tconv(x, outer, (3, 2)), rtol=1e-10, atol=1e-10)
    wd, wp = rand(3, 2, 4), rand(4, 5)
    dw = tconv(x, np.transpose(wd, (2, 0, 1))[:, None], (3, 2), groups=4)
    want = tconv(dw, wp.T.reshape(5, 4, 1, 1), (1, 1))
    np.testing.assert_allclose(ops.depthwise_separable_conv(x, wd, wp), want, rtol=1e-10, atol=1e-10)
    wc, wv1, wh1 = rand(4, 5), rand(3, 5), rand(2, 5)
    y = tconv(x, wc.T.reshape(5, 4, 1, 1), (1, 1))
    y = tconv(y, wv1.T.reshape(5, 1, 3, 1), (3, 1), groups=5)
    y = tconv(y, wh1.T.reshape(5, 1, 1, 2), (1, 2), groups=5)
    np.testing.assert_allclose(ops.flattened_conv(x, wc, wv1, wh1), y, rtol=1e-10, atol=1e-10)


def test_note_reshape_is_not_a_convolution(ops):
    """SPEC §1: the note's 2-D reshape chops the buffer; the correct-patch view is what torch computes."""
    b, w, h, c, k, l, C = 1, 4, 4, 2, 2, 2, 3
    x, wt = rand(b, w, h, c), rand(k, l, c, C)
    note = np.einsum("bWHklc,klcC->bWHC", x.reshape(b, w // k, h // l, k, l, c), wt)
    want = tconv(x, np.transpose(wt, (3, 2, 0, 1)), (k, l))
    assert not np.allclose(note, want)
    np.testing.assert_allclose(ops.conv(x, wt), want, rtol=1e-10, atol=1e-10)
