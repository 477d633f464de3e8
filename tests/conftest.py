import numpy as np
import pytest

import fastconv
from fastconv import _core

ISAS = _core.supported_isas()


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs the test once per SIMD level this CPU supports (forced), restoring the level after."""
    prev = fastconv.set_isa(request.param)
    yield request.param
    fastconv.set_isa(prev)


def tolerance(dtype, nterms, absref):
    """Error bound for a sum of nterms products: a few ulps times sqrt(nterms) times sum |x||w|."""
    eps = np.finfo(dtype).eps
    return 16 * eps * np.sqrt(max(nterms, 1)) * absref + np.finfo(dtype).tiny


def assert_close(got, ref, absref, nterms):
    ref = np.asarray(ref)
    assert got.shape == ref.shape
    tol = tolerance(got.dtype, nterms, np.asarray(absref, np.float64))
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bad = ~(err <= tol)
    assert not bad.any(), f"max error {err[bad].max()} at {np.argwhere(bad)[:3].tolist()}"
