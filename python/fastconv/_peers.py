"""ONNX Runtime and OpenVINO as benchmark peers (the ``peers`` extra; skipped when missing).

A workload describes itself as layers in NCHW terms (``Workload.layers``: convolutions
with OIHW weights, strides, padding, groups, bias and activation, and channel
shuffles). Each peer gets them as one ONNX graph, built and compiled outside the timed
call, with its input laid out in advance in the peer's preferred layout: ONNX Runtime
NCHW; OpenVINO both NCHW and an NHWC graph that transposes inside (often the faster of
the two: oneDNN's kernels are NHWC-native), its precision forced to f32 (on a CPU with
bf16 it may otherwise compute in bf16), every peer at the bench's thread count. Before a
peer is timed its output is checked equal to fastconv's.
"""
from __future__ import annotations

import numpy as np


def _conv_out(size, k, s, lo, hi, d):
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def onnx_model(layers, in_shape, nhwc=False):
    """The layers as a serialized ONNX model of one float32 input ``x`` (shape in_shape,
    NCHW, or NHWC where nhwc: then it is transposed inside) and one output ``y`` (NCHW,
    or NHWC where nhwc)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    b, c, h, w = in_shape if not nhwc else (in_shape[0], in_shape[3], in_shape[1], in_shape[2])
    cur = "x"
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]))
        cur = "x_nchw"
    for i, L in enumerate(layers):
        out = f"t{i}"
        if L["op"] == "conv":
            W = np.ascontiguousarray(L["w"], np.float32)
            o, _, k, l = W.shape
            s = L.get("stride", (1, 1))
            pads = L.get("pads", (0, 0, 0, 0))  # top, left, bottom, right
            d = L.get("dilation", (1, 1))
            inits.append(numpy_helper.from_array(W, f"w{i}"))
            ins = [cur, f"w{i}"]
            if L.get("bias") is not None:
                inits.append(numpy_helper.from_array(np.ascontiguousarray(L["bias"], np.float32), f"b{i}"))
                ins.append(f"b{i}")
            nodes.append(helper.make_node("Conv", ins, [out], kernel_shape=[k, l], strides=list(s), pads=list(pads),
                                          dilations=list(d), group=L.get("groups", 1)))
            c, h, w = o, _conv_out(h, k, s[0], pads[0], pads[2], d[0]), _conv_out(w, l, s[1], pads[1], pads[3], d[1])
            act = L.get("activation")
            if act:
                nodes += _activation(act, out, out + "a", inits, i)
                out += "a"
        elif L["op"] == "shuffle":
            g = L["groups"]
            inits.append(numpy_helper.from_array(np.array([b, g, c // g, h, w], np.int64), f"s{i}a"))
            inits.append(numpy_helper.from_array(np.array([b, c, h, w], np.int64), f"s{i}b"))
            nodes += [helper.make_node("Reshape", [cur, f"s{i}a"], [out + "r"]),
                      helper.make_node("Transpose", [out + "r"], [out + "t"], perm=[0, 2, 1, 3, 4]),
                      helper.make_node("Reshape", [out + "t", f"s{i}b"], [out])]
        else:
            raise ValueError(f"unknown layer {L['op']!r}")
        cur = out
    if nhwc:
        nodes.append(helper.make_node("Transpose", [cur], ["y"], perm=[0, 2, 3, 1]))
        out_shape = [b, h, w, c]
    else:
        nodes.append(helper.make_node("Identity", [cur], ["y"]))
        out_shape = [b, c, h, w]
    graph = helper.make_graph(nodes, "workload", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _activation(act, x, y, inits, i):
    """The nodes of an activation from x to y, in the forms the peers fuse into the conv."""
    from onnx import helper, numpy_helper

    const = lambda name, v: inits.append(numpy_helper.from_array(np.array(v, np.float32), f"{name}{i}"))  # noqa: E731
    if act == "relu":
        return [helper.make_node("Relu", [x], [y])]
    if act == "relu6":
        const("lo", 0.0), const("hi", 6.0)
        return [helper.make_node("Clip", [x, f"lo{i}", f"hi{i}"], [y])]
    if act == "silu":  # x * sigmoid(x)
        return [helper.make_node("Sigmoid", [x], [x + "s"]), helper.make_node("Mul", [x, x + "s"], [y])]
    if act == "gelu":  # 0.5 x (1 + erf(x / sqrt 2)), the erf GELU
        const("r2", np.sqrt(2.0)), const("one", 1.0), const("half", 0.5)
        return [helper.make_node("Div", [x, f"r2{i}"], [x + "d"]), helper.make_node("Erf", [x + "d"], [x + "e"]),
                helper.make_node("Add", [x + "e", f"one{i}"], [x + "p"]), helper.make_node("Mul", [x, x + "p"], [x + "m"]),
                helper.make_node("Mul", [x + "m", f"half{i}"], [y])]
    raise ValueError(f"unknown activation {act!r}")


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def onnxruntime_peer(layers, x, threads):
    """ONNX Runtime on the NCHW graph: a callable returning its (NHWC-viewed) output."""
    import onnxruntime as ort

    xn = _nchw(x)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_model(layers, xn.shape), opts, providers=["CPUExecutionProvider"])
    feed = {"x": xn}
    return lambda: sess.run(None, feed)[0], lambda y: y.transpose(0, 2, 3, 1)


def openvino_peers(layers, x, threads):
    """OpenVINO on the NCHW graph and on the NHWC one: {name: (callable, to NHWC)}."""
    import openvino as ov

    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
           "NUM_STREAMS": 1}
    peers = {}
    for name, nhwc, xin in (("openvino", False, _nchw(x)), ("openvino(nhwc)", True, np.ascontiguousarray(x))):
        model = core.read_model(onnx_model(layers, xin.shape, nhwc=nhwc), b"")
        compiled = core.compile_model(model, "CPU", cfg)
        req = compiled.create_infer_request()
        req.set_input_tensor(ov.Tensor(xin))

        def run(req=req):
            req.infer()
            return req.get_output_tensor(0).data

        peers[name] = (run, (lambda y: y) if nhwc else (lambda y: y.transpose(0, 2, 3, 1)))
    return peers


def peers(w, inputs, threads):
    """{peer name: callable} of the peers installed, for workload w on inputs, each checked
    equal to fastconv's result (a ValueError names the one that is not)."""
    if w.layers is None:
        return {}
    variants = w.layers if isinstance(w.layers, dict) else {"": w.layers}
    made = {}
    for suffix, layers_fn in variants.items():
        layers = layers_fn(*inputs)
        try:
            run, to_nhwc = onnxruntime_peer(layers, inputs[0], threads)
            made["onnxruntime" + suffix] = (run, to_nhwc)
        except ImportError:
            pass
        try:
            for name, p in openvino_peers(layers, inputs[0], threads).items():
                made[name + suffix] = p
        except ImportError:
            pass
    want = np.asarray(w.fastconv(*inputs)(), np.float64)
    scale = np.max(np.abs(want)) if want.size else 1.0
    out = {}
    for name, (run, to_nhwc) in made.items():
        got = np.asarray(to_nhwc(run()), np.float64).reshape(want.shape)
        err = np.max(np.abs(got - want)) if want.size else 0.0
        if not err <= 1e-3 * max(scale, 1.0):
            raise ValueError(f"{w.name}: {name}'s output differs from fastconv's (max error {err:.3g}, scale {scale:.3g})")
        out[name] = run
    return out
