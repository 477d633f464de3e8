"""Every microkernel of csrc/kernels/registry.inc, called directly: every table this CPU
runs (scalar, AVX2, AVX-512 where it has them) and the emulated AVX-512 one (the shared
algorithms at AVX-512 widths and tiles, on any CPU), against naive loops
(tests/kernels/testers.h: tap-reduce, dot, zip, B packing, the GEMM tile and its zip
variant, with tails, strides and every tile width)."""
import pytest

from fastconv import _core, _kernel_tests

KERNELS = _kernel_tests.kernels()


@pytest.mark.parametrize("name", [k["name"] for k in KERNELS])
def test_kernel(name):
    assert _kernel_tests.check(name) == []


def test_every_table_is_covered():
    tables = {(k["isa"], k["emulated"]) for k in KERNELS}
    for isa in _core.supported_isas():
        assert (isa, False) in tables
    assert ("avx512", True) in tables  # emulated, whatever the CPU
    for isa, emulated in tables:  # each table: both dtypes, memory-bound and GEMM kernels
        for dtype in ("float32", "float64"):
            fams = {k["family"] for k in KERNELS if (k["isa"], k["emulated"], k["dtype"]) == (isa, emulated, dtype)}
            assert fams == {"membound", "gemm"}, (isa, emulated, dtype)


def test_dispatched_tile_is_a_registry_line():
    for dtype in ("float32", "float64"):
        b = _core.gemm_blocking(dtype)
        lines = [k for k in KERNELS if k["isa"] == _core.isa() and not k["emulated"] and k["dtype"] == dtype
                 and k["family"] == "gemm"]
        assert any((k["mr"], k["nr"], k["kc"]) == (b["mr"], b["nr"], b["kc"]) for k in lines)


def test_unknown_kernel():
    with pytest.raises(KeyError):
        _kernel_tests.check("avx9 float gemm 1x1")
