"""The SPEC §4 benchmark workloads, shared by ``python -m fastconv bench`` and bench/.

A workload knows how to make its inputs, how fastconv computes it, its einsum
baseline over the correct-patch views (used for numpy.einsum in both modes and
opt_einsum), its PyTorch formulation, its layers for the ONNX Runtime and OpenVINO
peers (_peers.py), and the bytes and FLOPs it moves, at batch 8 (SPEC §4; the
separable ones at 4) or at any batch (``at_batch``).
Only workloads whose fastconv operation exists are listed by ``available()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

import fastconv


@dataclass
class Workload:
    name: str
    op: str                      # fastconv function
    kind: str                    # "memory" (GB/s vs np.copyto) or "compute" (GFLOP/s vs matmul)
    shapes: tuple                # input shapes (x first)
    expr: str                    # einsum over the views below
    views: Callable              # (*inputs) -> einsum operands
    out_shape: tuple
    flops: int
    kwargs: dict = field(default_factory=dict)
    torch: Callable | dict | None = None  # (torch, *inputs) -> callable; or {peer name: that}
    layers: Callable | dict | None = None  # (*inputs) -> NCHW layers (_peers.py); or {suffix: that}
    bias: bool = False            # the last input is the bias (fastconv's bias=)
    post: Callable | None = None  # (einsum result, *inputs) -> output: the baselines' bias and activation

    def at_batch(self, b: int) -> "Workload":
        """The same workload on a batch of b images (FLOPs and bytes scale with it)."""
        b0 = self.shapes[0][0]
        if b == b0:
            return self
        return replace(self, shapes=((b, *self.shapes[0][1:]), *self.shapes[1:]),
                       out_shape=(b, *self.out_shape[1:]), flops=self.flops * b // b0)

    def inputs(self, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        return tuple(rng.standard_normal(s).astype(dtype) for s in self.shapes)

    def nbytes(self, dtype=np.float32) -> int:
        item = np.dtype(dtype).itemsize
        n = sum(int(np.prod(s)) for s in self.shapes) + int(np.prod(self.out_shape))
        return n * item

    def fastconv(self, *inputs):
        fn = getattr(fastconv, self.op)
        if self.bias:
            *args, b = inputs
            return lambda: fn(*args, bias=b, **self.kwargs)
        return lambda: fn(*inputs, **self.kwargs)

    def fastconv_einsum(self, *inputs):
        """The same workload as fastconv.einsum over the correct-patch views."""
        return self._baseline(lambda *ops: fastconv.einsum(self.expr, *ops), inputs)

    def _baseline(self, contract, inputs):
        """contract over the views, then post (bias, activation) where the workload has one.
        A pure permutation comes back as a view: materialised, as every baseline must."""
        ops = self.views(*inputs)
        if self.post is None:
            return lambda: np.ascontiguousarray(contract(*ops))
        return lambda: self.post(contract(*ops), *inputs)

    def einsum(self, *inputs, optimize=False):
        return self._baseline(lambda *ops: np.einsum(self.expr, *ops, optimize=optimize), inputs)

    def torch_peers(self) -> dict:
        """PyTorch formulations by peer name ("torch", or "torch(chain)", "torch(outer)", ...)."""
        if self.torch is None:
            return {}
        return self.torch if isinstance(self.torch, dict) else {"torch": self.torch}

    def opt_einsum(self, *inputs):
        import opt_einsum

        return self._baseline(lambda *ops: opt_einsum.contract(self.expr, *ops), inputs)


def _nchw(torch, x):
    """A channels-last numpy array as an NCHW torch tensor in channels_last memory format (no copy)."""
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def _torch_depthwise(torch, x, w):
    xt = _nchw(torch, x)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 0, 1)[:, None]))
    k, l, c = w.shape
    F = torch.nn.functional
    return lambda: F.conv2d(xt, wt, stride=(k, l), groups=c)


def _torch_filter(torch, x, w):
    xt = _nchw(torch, x)
    wt = torch.from_numpy(w.reshape(1, -1, 1, 1).copy())
    F = torch.nn.functional
    return lambda: F.conv2d(xt, wt)


def _torch_channel(torch, x, w):
    k, l, m = w.shape
    c = x.shape[-1]
    xt = _nchw(torch, x)
    wt = torch.from_numpy(np.ascontiguousarray(np.broadcast_to(w.transpose(2, 0, 1), (c // m, m, k, l))))
    F = torch.nn.functional
    return lambda: F.conv2d(xt, wt, stride=(k, l), groups=c // m)


def _torch_shuffle(g):
    """torch's fastest shuffle here: channel_shuffle on a contiguous NCHW tensor (the same bytes)."""
    def make(torch, x):
        xt = _nchw(torch, x).contiguous()
        return lambda: torch.nn.functional.channel_shuffle(xt, g)

    return make


def _torch_conv(torch, x, w):
    """Dense conv: w (k, l, c, C) -> torch (C, c, k, l), stride = kernel."""
    k, l = w.shape[:2]
    xt = _nchw(torch, x)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).contiguous(
        memory_format=torch.channels_last)
    F = torch.nn.functional
    return lambda: F.conv2d(xt, wt, stride=(k, l))


def _torch_pointwise(torch, x, w):
    return _torch_conv(torch, x, w[None, None])


def _torch_grouped(torch, x, w, shuffle=False):
    """w (k, l, g, s, S) -> torch (g*S, s, k, l) with groups=g; shuffle: then channel_shuffle."""
    k, l, g, s, S = w.shape
    xt = _nchw(torch, x)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 4, 3, 0, 1).reshape(g * S, s, k, l))).contiguous(
        memory_format=torch.channels_last)
    F = torch.nn.functional
    if shuffle:
        return lambda: F.channel_shuffle(F.conv2d(xt, wt, stride=(k, l), groups=g), g)
    return lambda: F.conv2d(xt, wt, stride=(k, l), groups=g)


def _torch_pwgroup_shuffle(torch, x, w):
    return _torch_grouped(torch, x, w[None, None], shuffle=True)


# Layers for the ONNX Runtime / OpenVINO peers (_peers.py): NCHW convs, OIHW weights.
def _conv_layer(W, stride=(1, 1), groups=1):
    return {"op": "conv", "w": np.ascontiguousarray(W), "stride": tuple(stride), "groups": groups}


def _layers_conv(x, w):
    k, l = w.shape[:2]
    return [_conv_layer(w.transpose(3, 2, 0, 1), (k, l))]


def _layers_pointwise(x, w):
    return [_conv_layer(w.T[:, :, None, None])]


def _layers_grouped(x, w, shuffle=False):
    k, l, g, s, S = w.shape
    layers = [_conv_layer(w.transpose(2, 4, 3, 0, 1).reshape(g * S, s, k, l), (k, l), g)]
    return layers + [{"op": "shuffle", "groups": g}] if shuffle else layers


def _layers_depthwise(x, w):
    k, l, c = w.shape
    return [_conv_layer(w.transpose(2, 0, 1)[:, None], (k, l), c)]


def _layers_filter(x, w):
    return [_conv_layer(w.reshape(1, -1, 1, 1))]


def _layers_channel(x, w):
    k, l, m = w.shape
    c = x.shape[-1]
    return [_conv_layer(np.broadcast_to(w.transpose(2, 0, 1), (c // m, m, k, l)), (k, l), c // m)]


def _layers_outer(expr):
    """A dense conv whose (k, l, c, C) kernel is the einsum of the weights (the outer product)."""
    return lambda x, *ws: _layers_conv(x, np.einsum(expr, *ws))


def _patch2(x, k, l, c_split):
    b, w, h, _ = x.shape
    return x.reshape(b, w // k, k, h // l, l, *c_split)


def _conv(name, x, w):
    b, W, H, c = x
    k, l, _, C = w
    return Workload(name, "conv", "compute", (x, w), "bWkHlc,klcC->bWHC",
                    lambda x, w: (_patch2(x, k, l, (c,)), w), (b, W // k, H // l, C),
                    2 * b * (W // k) * (H // l) * C * k * l * c, torch=_torch_conv, layers=_layers_conv)


WORKLOADS = [
    _conv("patchify_vit16", (8, 224, 224, 3), (16, 16, 3, 768)),
    _conv("stem4x4_c96", (8, 224, 224, 3), (4, 4, 3, 96)),
    _conv("down2x2_96to192", (8, 56, 56, 96), (2, 2, 96, 192)),
    Workload("pointwise1x1_128to256", "pointwise_conv", "compute", ((8, 56, 56, 128), (128, 256)),
             "bwhc,cC->bwhC", lambda x, w: (x, w), (8, 56, 56, 256), 2 * 8 * 56 * 56 * 128 * 256,
             torch=_torch_pointwise, layers=_layers_pointwise),
    Workload("grouped2x2_g4_128", "grouped_conv", "compute", ((8, 56, 56, 128), (2, 2, 4, 32, 32)),
             "bWkHlgs,klgsS->bWHgS", lambda x, w: (_patch2(x, 2, 2, (4, 32)), w), (8, 28, 28, 128),
             2 * 8 * 28 * 28 * 128 * 2 * 2 * 32, torch=_torch_grouped, layers=_layers_grouped),
    Workload("pwgroup1x1_g3_240", "pointwise_grouped_conv", "compute", ((8, 28, 28, 240), (3, 80, 80)),
             "bwhgs,gsS->bwhSg", lambda x, w: (x.reshape(*x.shape[:-1], 3, 80), w), (8, 28, 28, 240),
             2 * 8 * 28 * 28 * 240 * 80, kwargs={"shuffle": True}, torch=_torch_pwgroup_shuffle,
             layers=lambda x, w: _layers_grouped(x, w[None, None], shuffle=True)),
    Workload("depthwise2x2_c64", "depthwise_conv", "memory", ((8, 112, 112, 64), (2, 2, 64)),
             "bWkHlc,klc->bWHc", lambda x, w: (_patch2(x, 2, 2, (64,)), w), (8, 56, 56, 64),
             2 * 8 * 56 * 56 * 64 * 4, torch=_torch_depthwise, layers=_layers_depthwise),
    Workload("filter_c64", "pointwise_conv", "memory", ((8, 112, 112, 64), (64,)),
             "bwhc,c->bwh", lambda x, w: (x, w), (8, 112, 112),
             2 * 8 * 112 * 112 * 64, torch=_torch_filter, layers=_layers_filter),
    Workload("channelconv_2x2x4", "channel_conv", "memory", ((8, 112, 112, 64), (2, 2, 4)),
             "bWkHlCm,klm->bWHC", lambda x, w: (_patch2(x, 2, 2, (16, 4)), w), (8, 56, 56, 16),
             2 * 8 * 56 * 56 * 16 * 16, torch=_torch_channel, layers=_layers_channel),
    Workload("shuffle_g3_240", "channel_shuffle", "memory", ((8, 28, 28, 240),),
             "bwhgn->bwhng", lambda x: (x.reshape(*x.shape[:-1], 3, 80),), (8, 28, 28, 240),
             0, kwargs={"groups": 3}, torch=_torch_shuffle(3), layers=lambda x: [{"op": "shuffle", "groups": 3}]),
]


def _torch_dwsep_chain(torch, x, wd, wp):
    k, l, c = wd.shape
    F = torch.nn.functional
    xt = _nchw(torch, x)
    wdt = torch.from_numpy(np.ascontiguousarray(wd.transpose(2, 0, 1)[:, None]))
    wpt = torch.from_numpy(np.ascontiguousarray(wp.T[:, :, None, None])).contiguous(memory_format=torch.channels_last)
    return lambda: F.conv2d(F.conv2d(xt, wdt, stride=(k, l), groups=c), wpt)


def _outer_conv(torch, x, kernel):
    """torch conv2d with a dense (k, l, c, C) kernel built from the factors (the outer product)."""
    return _torch_conv(torch, x, np.ascontiguousarray(kernel.astype(x.dtype)))


def _torch_spatialsep_chain(torch, x, wv, wh):
    """The note's two stages with torch ops: vertical (k, c, C) kernel per (c, C), then horizontal."""
    k, c, C = wv.shape
    l = wh.shape[0]
    b, W, H, _ = x.shape
    F = torch.nn.functional
    xt = _nchw(torch, x)
    # stage 1: grouped conv c -> c*C with a (k, 1) kernel, stride (k, 1); stage 2: grouped (1, l) conv c*C -> C
    w1 = torch.from_numpy(np.ascontiguousarray(wv.transpose(1, 2, 0).reshape(c * C, 1, k, 1)))
    w2 = torch.from_numpy(np.ascontiguousarray(wh.transpose(2, 1, 0).reshape(C, c, 1, l)))
    return lambda: F.conv2d(F.conv2d(xt, w1, stride=(k, 1), groups=c)
                            .reshape(b, c, C, W // k, H).transpose(1, 2).reshape(b, C * c, W // k, H),
                            w2, stride=(1, l), groups=C)


def _torch_flattened_chain(torch, x, wc, wv, wh):
    k, C = wv.shape
    l = wh.shape[0]
    F = torch.nn.functional
    xt = _nchw(torch, x)
    wct = torch.from_numpy(np.ascontiguousarray(wc.T[:, :, None, None])).contiguous(memory_format=torch.channels_last)
    wvt = torch.from_numpy(np.ascontiguousarray(wv.T[:, None, :, None]))
    wht = torch.from_numpy(np.ascontiguousarray(wh.T[:, None, None, :]))
    return lambda: F.conv2d(F.conv2d(F.conv2d(xt, wct), wvt, stride=(k, 1), groups=C), wht, stride=(1, l), groups=C)


FUSED = [
    Workload("dwsep2x2_32to64", "depthwise_separable_conv", "compute", ((8, 112, 112, 32), (2, 2, 32), (32, 64)),
             "bWkHlc,klc,cC->bWHC", lambda x, wd, wp: (_patch2(x, 2, 2, (32,)), wd, wp), (8, 56, 56, 64),
             2 * 8 * 56 * 56 * 32 * (4 + 64),
             torch={"torch(chain)": _torch_dwsep_chain,
                    "torch(outer)": lambda t, x, wd, wp: _outer_conv(t, x, np.einsum("klc,cC->klcC", wd, wp))},
             layers={"(chain)": lambda x, wd, wp: _layers_depthwise(x, wd) + _layers_pointwise(None, wp),
                     "(outer)": _layers_outer("klc,cC->klcC")}),
    Workload("spatialsep2x2_32to64", "spatially_separable_conv", "compute", ((4, 56, 56, 32), (2, 32, 64), (2, 32, 64)),
             "bWkHlc,kcC,lcC->bWHC", lambda x, wv, wh: (_patch2(x, 2, 2, (32,)), wv, wh), (4, 28, 28, 64),
             2 * 4 * 28 * 28 * 4 * 32 * 64,
             torch={"torch(chain)": _torch_spatialsep_chain,
                    "torch(outer)": lambda t, x, wv, wh: _outer_conv(t, x, np.einsum("kcC,lcC->klcC", wv, wh))},
             layers={"(outer)": _layers_outer("kcC,lcC->klcC")}),
    Workload("flattened2x2_32to64", "flattened_conv", "compute", ((4, 56, 56, 32), (32, 64), (2, 64), (2, 64)),
             "bWkHlc,cC,kC,lC->bWHC", lambda x, wc, wv, wh: (_patch2(x, 2, 2, (32,)), wc, wv, wh), (4, 28, 28, 64),
             2 * 4 * 28 * 28 * 4 * 32 * 64,
             torch={"torch(chain)": _torch_flattened_chain,
                    "torch(outer)": lambda t, x, wc, wv, wh: _outer_conv(t, x, np.einsum("cC,kC,lC->klcC", wc, wv, wh))},
             layers={"(outer)": _layers_outer("cC,kC,lC->klcC")}),
]
WORKLOADS += FUSED


def available() -> list[Workload]:
    return [w for w in WORKLOADS if hasattr(fastconv, w.op)]


def select(names: list[str] | None, batch: int | None = None) -> list[Workload]:
    """The available workloads named in ``names`` (all of them for None or []), at batch
    ``batch`` (None: each workload's own, SPEC §4's).

    Raises ValueError for a name that is not a workload, listing the known ones:
    a misspelt name would otherwise give an empty table.
    """
    ws = available()
    known = {w.name for w in ws}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(w.name for w in ws)}")
    return [w.at_batch(batch) if batch else w for w in ws if not names or w.name in names]


# The convolutions real networks use (issue 18): overlapping windows (stride, zero
# padding), a bias and an activation. The einsum baselines pad a copy of x (numpy has no
# padding), contract the window view and apply the bias and activation with numpy ops;
# torch runs the conv, then the activation op, as users write it; the ONNX peers get the
# bias in the Conv and the activation as its own node (ONNX Runtime and OpenVINO fuse it).
def _window_view(x, K, stride, pad, channels):
    """The reference's window view of x zero-padded (a padded copy, as numpy must)."""
    from . import _window
    from .reference import _windows

    return _windows(x, _window.geometry("bench", x, K, "w", stride, pad), channels)


def _torch_act(torch, act):
    F = torch.nn.functional
    return {"relu": F.relu, "relu6": F.relu6, "silu": F.silu, "gelu": F.gelu, None: lambda y: y}[act]


def _torch_window_conv(stride, pad, act, groups=None):
    """torch conv2d (dense, or depthwise where groups == "c") with bias, then the activation op."""
    def make(torch, x, w, b):
        xt = _nchw(torch, x)
        if groups == "c":  # w (k, l, c)
            g, wt = w.shape[-1], torch.from_numpy(np.ascontiguousarray(w.transpose(2, 0, 1)[:, None]))
        else:               # w (k, l, c, C)
            g, wt = 1, torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).contiguous(
                memory_format=torch.channels_last)
        bt, f, F = torch.from_numpy(b), _torch_act(torch, act), torch.nn.functional
        return lambda: f(F.conv2d(xt, wt, bt, stride=stride, padding=pad, groups=g))

    return make


def _torch_window_pwgroup(act):
    def make(torch, x, w, b):
        g, s, S = w.shape
        xt = _nchw(torch, x)
        wt = torch.from_numpy(np.ascontiguousarray(w.transpose(0, 2, 1).reshape(g * S, s, 1, 1))).contiguous(
            memory_format=torch.channels_last)
        bt, f, F = torch.from_numpy(b), _torch_act(torch, act), torch.nn.functional
        return lambda: F.channel_shuffle(f(F.conv2d(xt, wt, bt, groups=g)), g)

    return make


def _window_workload(name, op, kind, x, w, stride, pad, act):
    """A 2-D conv (op "conv": w (k, l, c, C)) or depthwise conv (w (k, l, c)) with a bias of
    the output channels, stride and symmetric padding pad, then act."""
    b, W, H, c = x
    k, l = w[:2]
    C = w[-1]
    O = tuple((s + 2 * pad - kk) // stride + 1 for s, kk in zip((W, H), (k, l)))
    dense = op == "conv"
    expr = "bWkHlc,klcC->bWHC" if dense else "bWkHlc,klc->bWHc"
    taps = k * l * (c if dense else 1)
    from .reference import activate

    layer = lambda x, w, bias: [dict(_conv_layer(  # noqa: E731
        w.transpose(3, 2, 0, 1) if dense else w.transpose(2, 0, 1)[:, None], (stride, stride), 1 if dense else c),
        pads=(pad,) * 4, bias=bias, activation=act)]
    return Workload(name, op, kind, (x, w, (C,)), expr,
                    lambda x, w, bias: (_window_view(x, (k, l), stride, pad, (c,)), w), (b, *O, C),
                    2 * b * O[0] * O[1] * C * taps,
                    kwargs={"stride": stride, "padding": pad, "activation": act}, bias=True,
                    post=lambda y, x, w, bias: activate(y + bias, act),
                    torch=_torch_window_conv((stride, stride), pad, act, None if dense else "c"), layers=layer)


WINDOWS = [
    _window_workload("resnet3x3_c64", "conv", "compute", (8, 56, 56, 64), (3, 3, 64, 64), 1, 1, "relu"),
    _window_workload("resnet3x3s2_c128", "conv", "compute", (8, 56, 56, 64), (3, 3, 64, 128), 2, 1, "relu"),
    _window_workload("resnet7x7s2_stem", "conv", "compute", (8, 224, 224, 3), (7, 7, 3, 64), 2, 3, "relu"),
    _window_workload("mbv2_dw3x3_c144", "depthwise_conv", "memory", (8, 56, 56, 144), (3, 3, 144), 1, 1, "relu6"),
    _window_workload("mbv2_dw3x3s2_c96", "depthwise_conv", "memory", (8, 112, 112, 96), (3, 3, 96), 2, 1, "relu6"),
    _window_workload("convnext_dw7x7_c96", "depthwise_conv", "memory", (8, 56, 56, 96), (7, 7, 96), 1, 3, None),
    _window_workload("effnet_dw5x5_c240", "depthwise_conv", "memory", (8, 28, 28, 240), (5, 5, 240), 1, 2, "silu"),
    Workload("shufflenet_pw_g3", "pointwise_grouped_conv", "compute", ((8, 28, 28, 240), (3, 80, 80), (240,)),
             "bwhgs,gsS->bwhgS", lambda x, w, bias: (x.reshape(*x.shape[:-1], 3, 80), w), (8, 28, 28, 240),
             2 * 8 * 28 * 28 * 240 * 80, kwargs={"shuffle": True, "activation": "relu"}, bias=True,
             post=lambda y, x, w, bias: _shuffle3(np.maximum(y.reshape(*y.shape[:-2], 240) + bias, 0)),
             torch=_torch_window_pwgroup("relu"),
             layers=lambda x, w, bias: [dict(_layers_grouped(x, w[None, None])[0], bias=bias, activation="relu"),
                                        {"op": "shuffle", "groups": 3}]),
]
WORKLOADS += WINDOWS


def _shuffle3(y):
    return np.ascontiguousarray(y.reshape(*y.shape[:-1], 3, 80).swapaxes(-1, -2).reshape(y.shape))
