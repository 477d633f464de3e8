"""Runs numpy's own einsum tests against fastconv.einsum (see .ci/numpy-einsum).

Only numpy.einsum is redirected, before the test module is imported (its parametrize
lists hold np.einsum itself); the oracles (np.dot, np.tensordot, np.sum, np.einsum_path)
stay numpy's, and fastconv's fallback calls the numpy.einsum it captured at import.
FASTCONV_EINSUM_NATIVE=1 runs every step on the engine (SMALL_STEP = 0), as tests/ do.
"""
import os

import numpy as np

import fastconv
import fastconv._einsum

assert fastconv._einsum._np_einsum is np.einsum, "fastconv captured something other than numpy.einsum"
np.einsum = fastconv.einsum
if os.environ.get("FASTCONV_EINSUM_NATIVE") == "1":
    fastconv._einsum.SMALL_STEP = 0


def pytest_report_header(config):
    mode = "native on every step" if fastconv._einsum.SMALL_STEP == 0 else "default SMALL_STEP"
    return f"numpy.einsum -> fastconv.einsum ({fastconv.__file__}), {mode}"
