"""Every microkernel of csrc/kernels/registry.inc, called directly: every table this CPU
runs (scalar, AVX2, AVX-512 where it has them; scalar and NEON on aarch64) and the emulated AVX-512 one (the shared
algorithms at AVX-512 widths and tiles, on any CPU), against naive loops
(tests/kernels/testers.h: tap-reduce, dot, zip, B packing, the GEMM tile and its zip
variant, with tails, strides and every tile width)."""
import pathlib
import re

import pytest

from fastconv import _core, _kernel_tests

KERNELS = _kernel_tests.kernels()
REGISTRY = pathlib.Path(__file__).resolve().parents[1] / "csrc" / "kernels" / "registry.inc"


@pytest.mark.every_level
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
        lines = [k for k in KERNELS if k["isa"] == _core.isa() and not k["emulated"] and k["dtype"] == dtype
                 and k["family"] == "gemm"]
        nr = _core.gemm_blocking(dtype)["nr"]
        for n in range(4 * nr):  # the default tile (n = 0) and any fit tile an N takes
            b = _core.gemm_blocking(dtype, n)
            assert any((k["mr"], k["nr"], k["kc"]) == (b["mr"], b["nr"], b["kc"]) for k in lines), (dtype, n)


def test_unknown_kernel():
    with pytest.raises(KeyError):
        _kernel_tests.check("avx9 float gemm 1x1")


@pytest.mark.skipif(not REGISTRY.exists(), reason="needs the source tree's csrc/kernels/registry.inc")
def test_every_registry_line_of_this_cpu_is_an_entry():
    """Each line of registry.inc for a level this CPU runs is a tested entry, with its tile and
    K block (on aarch64 every neon line, on x86 every avx2/avx512 line the CPU supports)."""
    text = REGISTRY.read_text()
    lines = re.findall(r"^FASTCONV_(MEMBOUND|GEMM)\((\w+), (\w+)(?:, (\d+), (\d+), (\d+))?\)", text, re.M)
    assert lines
    names = {k["name"]: k for k in KERNELS if not k["emulated"]}
    for family, isa, ctype, mr, nv, kc in lines:
        if isa not in _core.supported_isas():
            continue
        dtype = {"float": "float32", "double": "float64"}[ctype]
        if family == "MEMBOUND":
            assert f"{isa} {ctype} membound" in names
        else:
            k = names[f"{isa} {ctype} gemm {mr}x{nv}"]
            assert (k["dtype"], k["mr"], k["nr"], k["kc"]) == (dtype, int(mr), int(nv) * k["w"], int(kc))
    assert {isa for _, isa, *_ in lines} >= set(_core.supported_isas())
