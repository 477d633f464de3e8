"""Runtime control: ISA detection and forcing, threads, configuration, the CLI."""
import os
import platform
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastconv
from fastconv import _core

from conftest import time_limit


def run_py(code, **env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=time_limit(120))


def test_isa_levels():
    known, supported = _core.known_isas(), _core.supported_isas()
    assert supported[0] == "scalar"
    assert set(supported) <= set(known)
    assert fastconv.isa() in supported
    assert all(k in ("scalar", "avx2", "avx512", "neon") for k in known)


def test_isa_levels_of_this_architecture():
    """Each architecture's levels: x86-64 scalar, AVX2 and AVX-512 (as the CPU has them);
    aarch64 scalar and NEON, NEON always supported (ARMv8-A's baseline) and the default."""
    machine = platform.machine().lower()
    known, supported = _core.known_isas(), _core.supported_isas()
    if machine in ("aarch64", "arm64"):
        assert known == ["scalar", "neon"]
        assert supported == ["scalar", "neon"]
    elif machine in ("x86_64", "amd64"):
        assert known == ["scalar", "avx2", "avx512"]
        assert supported == known[:len(supported)]
    else:
        pytest.skip(f"no SIMD levels are built for {machine}")
    assert _core.best_isa() == supported[-1]
    env = {k: v for k, v in os.environ.items() if k != "FASTCONV_ISA"}  # the default, not a forced level
    r = subprocess.run([sys.executable, "-c", "import fastconv; print(fastconv.isa())"], env=env,
                       capture_output=True, text=True, timeout=time_limit(120))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == supported[-1]


@pytest.mark.parametrize("name", _core.supported_isas())
def test_set_isa_roundtrip(name):
    prev = fastconv.set_isa(name)
    try:
        assert fastconv.isa() == name
        x = np.arange(64, dtype=np.float32).reshape(1, 2, 2, 16)
        np.testing.assert_array_equal(fastconv.channel_shuffle(x, 4), fastconv.reference.channel_shuffle(x, 4))
    finally:
        fastconv.set_isa(prev)
    assert fastconv.isa() == prev


def test_set_isa_errors():
    with pytest.raises(ValueError, match="unknown ISA level 'sse9'"):
        fastconv.set_isa("sse9")
    unsupported = [k for k in _core.known_isas() if k not in _core.supported_isas()]
    for k in unsupported:
        with pytest.raises(ValueError, match="not supported by this CPU"):
            fastconv.set_isa(k)
    with pytest.raises(TypeError):
        fastconv.set_isa(3)


@pytest.mark.parametrize("name", _core.supported_isas())
def test_env_forces_level(name):
    r = run_py("import fastconv; print(fastconv.isa())", FASTCONV_ISA=name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == name


def test_env_bad_level_is_value_error():
    r = run_py("import fastconv", FASTCONV_ISA="bogus")
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "FASTCONV_ISA='bogus'" in r.stderr
    unsupported = [k for k in _core.known_isas() if k not in _core.supported_isas()]
    for k in unsupported:
        r = run_py("import fastconv", FASTCONV_ISA=k)
        assert r.returncode != 0 and "not supported by this CPU" in r.stderr


def test_num_threads_set_get():
    prev = fastconv.set_num_threads(3)
    try:
        assert fastconv.get_num_threads() == 3
        assert fastconv.set_num_threads(1) == 3
        assert fastconv.get_num_threads() == 1
    finally:
        fastconv.set_num_threads(None)
    with pytest.raises(ValueError, match=">= 1"):
        fastconv.set_num_threads(0)
    with pytest.raises(TypeError):
        fastconv.set_num_threads("2")
    assert prev >= 1


def test_num_threads_follow_omp_env():
    r = run_py("import fastconv; print(fastconv.get_num_threads())", OMP_NUM_THREADS="3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


@pytest.mark.parametrize("value,want", [("3", 3), (" 3 ", 3), ("3,2,1", 3), ("0", None), ("-2", None),
                                        ("two", None), ("3x", None), ("3 2", None), ("3,", None),
                                        ("", None)])
def test_num_threads_omp_env_parsed_as_openmp(value, want):
    """OMP_NUM_THREADS read as libgomp reads it: its first level; a malformed value is ignored
    (the count is the CPUs')."""
    r = run_py("import fastconv; print(fastconv.get_num_threads(), fastconv._core.hardware_threads())",
               OMP_NUM_THREADS=value)
    assert r.returncode == 0, r.stderr
    got, cpus = map(int, r.stdout.split())
    assert got == (want if want is not None else cpus)


def test_num_threads_default_is_the_cpus():
    e = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    r = subprocess.run([sys.executable, "-c", "import fastconv; print(fastconv.get_num_threads())"], env=e,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == _core.hardware_threads()


def test_default_threads_per_thread():
    """The default count is per thread, as OpenMP's nthreads-var: a limit set on one thread
    (threadpoolctl's) leaves the others' default as it was."""
    fastconv.set_num_threads(None)
    initial = _core.default_threads()
    _core.set_default_threads(1)
    try:
        assert fastconv.get_num_threads() == 1
        seen = []
        t = threading.Thread(target=lambda: seen.append(fastconv.get_num_threads()))
        t.start()
        t.join()
        assert seen == [min(initial, fastconv.max_threads())]
    finally:
        _core.set_default_threads(0)
    assert _core.default_threads() == initial


def test_threadpoolctl_sees_fastconv():
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.5")
    mine = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "fastconv"]
    assert len(mine) == 1, threadpoolctl.threadpool_info()
    assert mine[0]["user_api"] == "openmp"
    assert os.path.samefile(mine[0]["filepath"], _core.__file__)
    assert mine[0]["num_threads"] == _core.default_threads()


def test_num_threads_follow_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.5")
    fastconv.set_num_threads(None)
    before = fastconv.get_num_threads()
    with threadpoolctl.threadpool_limits(1):
        assert fastconv.get_num_threads() == 1
    with threadpoolctl.threadpool_limits(2, user_api="openmp"):
        assert fastconv.get_num_threads() == 2
    assert fastconv.get_num_threads() == before


def test_concurrent_calls_from_python_threads():
    """The GIL is released; calls from several Python threads run and agree."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 64, 64, 32)).astype(np.float32)
    w = rng.standard_normal((2, 2, 32)).astype(np.float32)
    want = fastconv.depthwise_conv(x, w)
    results = [None] * 4

    def work(i):
        results[i] = [fastconv.depthwise_conv(x, w) for _ in range(5)]

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for rs in results:
        for r in rs:
            np.testing.assert_array_equal(r, want)


def test_show_config(capsys):
    cfg = fastconv.show_config()
    out = capsys.readouterr().out
    assert cfg["version"] == fastconv.__version__
    assert cfg["isa_in_use"] == fastconv.isa()
    for key in ("version", "compiler", "isa_supported", "isa_in_use", "threads", "l2_cache_bytes"):
        assert key in out
    # A multiple of 64 KiB on every CPU we know (1 MiB where the OS reports none).
    l2 = cfg["l2_cache_bytes"]
    assert l2 >= 64 << 10 and l2 % (64 << 10) == 0, l2


def test_cli_bench_smoke():
    r = subprocess.run([sys.executable, "-m", "fastconv", "bench", "--budget", "0.01", "--threads", "1",
                        "--only", "shuffle_g3_240", "filter_c64"],
                       capture_output=True, text=True, timeout=time_limit(300))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("fastconv") and "threads=1" in lines[0]
    for name in ("shuffle_g3_240", "filter_c64"):
        assert any(line.startswith(name) for line in lines)
    def is_row(line, impl):
        f = line.split()
        return len(f) > 2 and f[0] == impl and f[1].replace(".", "", 1).isdigit()

    assert sum(is_row(line, "fastconv") for line in lines) == 2
    peer_rows = [line.split() for line in lines if is_row(line, "einsum(opt)")]
    assert len(peer_rows) == 2
    for f in peer_rows:  # ratio to fastconv and rounds won, of the default 3 rounds
        assert f[-2].endswith("x") and f[-1] in ("0/3", "1/3", "2/3", "3/3"), f


def test_core_refuses_non_arrays():
    """The private entry points type-check their optional operand instead of reinterpreting it."""
    a = np.ones((2, 3), np.float32)
    out = np.empty(2, np.float32)
    for bad in (np.float32(1.0), 1.0, [1.0, 2.0], "x"):
        with pytest.raises(TypeError, match="numpy.ndarray or None"):
            _core.contract(a, "ij", bad, "", out, "i")
        with pytest.raises(TypeError, match="numpy.ndarray or None"):
            _core.plan(a, "ij", bad, "", "i")


def test_large_outputs_reuse_freed_blocks():
    """A freed output of at least a MiB is kept (bounded) and handed to the next output of
    its size: a fresh block faults a page per 4 KiB on its first stores."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 32, 32, 8)).astype(np.float32)
    w = rng.standard_normal((8, 256)).astype(np.float32)  # a 2 MiB output
    want = np.einsum("bhwc,cC->bhwC", x, w)
    lim = _core.block_cache()
    a = fastconv.pointwise_conv(x, w)
    addr, block = a.ctypes.data, a.nbytes + 64  # the block: data and one line of header
    del a
    assert _core.block_cache()["sizes"][-1] == block
    b = fastconv.pointwise_conv(x, w)
    assert b.ctypes.data == addr and b.ctypes.data % 64 == 0
    assert block not in _core.block_cache()["sizes"]
    np.testing.assert_allclose(b, want, rtol=1e-5, atol=1e-5)
    c = fastconv.pointwise_conv(x, w)  # b still alive: another block
    assert c.ctypes.data != b.ctypes.data
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)
    # Bounded: many sizes freed, at most max_blocks and max_bytes kept; small ones not kept.
    outs = [fastconv.pointwise_conv(x[:, :, : 8 + 2 * i], w) for i in range(lim["max_blocks"] + 3)]
    del outs
    sizes = _core.block_cache()["sizes"]
    assert 0 < len(sizes) <= lim["max_blocks"] and sum(sizes) <= lim["max_bytes"]
    assert min(sizes) >= lim["min_block"]


def test_cli_bench_unknown_workload():
    # A misspelt name (or a comma-joined list) must not print an empty table.
    r = subprocess.run([sys.executable, "-m", "fastconv", "bench", "--only", "filter_c64,shuffle_g3_240"],
                       capture_output=True, text=True, timeout=time_limit(60))
    assert r.returncode == 2
    assert "unknown workload(s) filter_c64,shuffle_g3_240" in r.stderr and "known: " in r.stderr
    assert "filter_c64" in r.stderr.split("known: ")[1]


def test_core_stubs_match_the_modules():
    """_core.pyi and _kernel_tests.pyi declare exactly the functions the modules have."""
    import re
    from pathlib import Path

    from fastconv import _kernel_tests

    for mod in (_core, _kernel_tests):
        stub = Path(mod.__file__).with_name(mod.__name__.rsplit(".", 1)[1] + ".pyi")
        if not stub.exists():  # the source tree's copy
            stub = Path(__file__).resolve().parent.parent / "python" / "fastconv" / stub.name
        declared = set(re.findall(r"^def (\w+)", stub.read_text(), re.M))
        actual = {n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n))
                  and not isinstance(getattr(mod, n), type)}
        assert declared == actual, (stub.name, declared ^ actual)
