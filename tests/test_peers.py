"""The bench's ONNX Runtime and OpenVINO peers (python/fastconv/_peers.py): every workload's
layers as an ONNX graph computing what fastconv computes (skips without the peers)."""
import numpy as np
import pytest

from fastconv import _peers
from fastconv._workloads import available


@pytest.mark.parametrize("w", available(), ids=lambda w: w.name)
def test_peer_graphs_compute_the_workload(w):
    if not any(_installed(m) for m in ("onnxruntime", "openvino")):
        pytest.skip("neither onnxruntime nor openvino is installed")
    w = w.at_batch(1)
    inputs = w.inputs()
    peers = _peers.peers(w, inputs, threads=1)  # raises where a peer's output differs from fastconv's
    suffixes = list(w.layers) if isinstance(w.layers, dict) else [""]
    if _installed("onnxruntime"):
        assert all("onnxruntime" + s in peers for s in suffixes)
    if _installed("openvino"):
        assert all(n + s in peers for n in ("openvino", "openvino(nhwc)") for s in suffixes)


def test_a_wrong_graph_is_caught():
    pytest.importorskip("onnxruntime")
    w = next(w for w in available() if w.name == "down2x2_96to192").at_batch(1)
    inputs = w.inputs()
    wrong = type(w)(**{**w.__dict__, "layers": lambda x, k: _peers_wrong(x, k)})
    with pytest.raises(ValueError, match="differs from fastconv"):
        _peers.peers(wrong, inputs, threads=1)


def _peers_wrong(x, w):
    k, l = w.shape[:2]
    return [{"op": "conv", "w": np.ascontiguousarray(w.transpose(3, 2, 1, 0)), "stride": (k, l), "groups": 1}]


def _installed(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False
