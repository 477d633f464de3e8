"""The bench's workloads (python/fastconv/_workloads.py) compute what they claim: fastconv,
its einsum baselines and the PyTorch formulations agree on each, at batch 1, so that every
bench figure compares the same computation."""
import numpy as np
import pytest

from fastconv._workloads import available

WORKLOADS = [w.at_batch(1) for w in available()]


@pytest.mark.parametrize("w", WORKLOADS, ids=lambda w: w.name)
def test_baselines_agree_with_fastconv(w):
    inputs = w.inputs(np.float64)
    got = np.asarray(w.fastconv(*inputs)())
    assert got.shape == w.out_shape
    want = w.einsum(*inputs, optimize=True)().reshape(got.shape)  # the einsum keeps groups as an axis
    tol = 1e-10 * max(1.0, np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=tol)
    np.testing.assert_allclose(w.fastconv_einsum(*inputs)().reshape(got.shape), want, rtol=1e-10, atol=tol)


@pytest.mark.parametrize("w", [w for w in WORKLOADS if w.torch is not None], ids=lambda w: w.name)
def test_torch_formulations_agree_with_fastconv(w):
    torch = pytest.importorskip("torch")
    inputs = w.inputs(np.float64)
    want = np.asarray(w.fastconv(*inputs)())
    for name, make in w.torch_peers().items():
        got = make(torch, *inputs)().permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-9,
                                   atol=1e-9 * max(1.0, np.abs(want).max()), err_msg=name)


def test_window_workloads_are_listed():
    names = {w.name for w in WORKLOADS}
    assert {"resnet3x3_c64", "resnet3x3s2_c128", "resnet7x7s2_stem", "mbv2_dw3x3_c144", "mbv2_dw3x3s2_c96",
            "convnext_dw7x7_c96", "effnet_dw5x5_c240", "shufflenet_pw_g3"} <= names
