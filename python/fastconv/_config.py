"""Runtime control: SIMD level and threads."""
from __future__ import annotations

import operator
import os

import numpy as np

from . import _core


def isa() -> str:
    """The SIMD level in use: "avx512", "avx2", "neon" or "scalar"."""
    return _core.isa()


def set_isa(name: str) -> str:
    """Force the SIMD level (a level this CPU supports, normally to test a lower one).

    Returns the previous level. Unknown or unsupported levels raise ValueError.
    """
    if not isinstance(name, str):
        raise TypeError(f"set_isa: argument 'name' must be a str, got {type(name).__name__}")
    if not name.isprintable() or not name.isascii():
        raise ValueError(f"set_isa: unknown ISA level {name!r}; this CPU supports {_core.supported_isas()}")
    prev = _core.isa()
    try:
        _core.set_isa(name.lower())
    except ValueError as e:
        raise ValueError(f"set_isa: {e}; this CPU supports {_core.supported_isas()}") from None
    return prev


def get_num_threads() -> int:
    """Threads the kernels use: set_num_threads' value, else the default: OMP_NUM_THREADS (or
    threadpoolctl's limit) as OpenMP reads it, else the CPUs this process may run on."""
    return _core.get_num_threads()


def max_threads() -> int:
    """The largest count set_num_threads accepts: 4 per CPU this process may run on, at least 64."""
    return _core.max_threads()


def set_num_threads(n: int | None) -> int:
    """Use n threads, 1 <= n <= max_threads() (None: follow the default again:
    OMP_NUM_THREADS, threadpoolctl, the CPUs).

    Returns the previous value. Where the system cannot start that many threads (a
    process limit, RLIMIT_AS), calls run on as many as it could start.
    """
    if n is None:
        return _core.set_num_threads(0)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, int) and not hasattr(n, "__index__"):
        raise TypeError(f"set_num_threads: argument 'n' must be an int or None, got {type(n).__name__}")
    n = operator.index(n)
    if not 1 <= n <= _core.max_threads():
        raise ValueError(f"set_num_threads: argument 'n' must be >= 1 and <= max_threads() = "
                         f"{_core.max_threads()} (or None), got {n}")
    return _core.set_num_threads(n)


def set_flush_denormal(mode: bool) -> bool:
    """Flush denormal inputs and results to zero in every kernel (True), or compute IEEE 754
    results as numpy does (False, the default). Denormal operands can slow floating-point
    arithmetic by orders of magnitude on some CPUs; flushing trades them for zeros.

    Returns whether the mode is supported (as ``torch.set_flush_denormal``): x86-64 and
    aarch64 support both.
    """
    if not isinstance(mode, (bool, np.bool_)):
        raise TypeError(f"set_flush_denormal: argument 'mode' must be a bool, got {type(mode).__name__}")
    return _core.set_flush_denormal(bool(mode))


def get_flush_denormal() -> bool:
    """Whether denormals are flushed to zero (set_flush_denormal)."""
    return _core.flush_denormal()


def release_memory() -> int:
    """Frees what fastconv keeps between calls and returns its size in bytes.

    Kept: freed outputs of 1 MiB or more, for the next output of their size (at most
    4 blocks and 256 MiB), and each thread's scratch (packed weights of up to 32 MiB on
    a thread that makes calls, and buffers of a few MiB on every thread).
    """
    return _core.release_memory()


def show_config(file=None) -> dict:
    """Print (and return) the build and runtime configuration."""
    cfg = {
        "version": _core.version,
        "compiler": _core.compiler,
        "isa_known": _core.known_isas(),
        "isa_supported": _core.supported_isas(),
        "isa_in_use": _core.isa(),
        "threads": _core.get_num_threads(),
        "max_threads": _core.max_threads(),
        "cpus": _core.hardware_threads(),
        "flush_denormal": _core.flush_denormal(),
        "l2_cache_bytes": _core.l2_cache_bytes(),
        "FASTCONV_ISA": os.environ.get("FASTCONV_ISA"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    width = max(map(len, cfg))
    print("\n".join(f"{k:<{width}} : {v}" for k, v in cfg.items()), file=file)
    return cfg


def _apply_env() -> None:
    name = os.environ.get("FASTCONV_ISA")
    if name:
        try:
            set_isa(name)
        except ValueError as e:
            raise ValueError(f"FASTCONV_ISA={name!r}: {e}") from None


def _register_threadpoolctl() -> None:
    """threadpoolctl.threadpool_limits(n) (and user_api="openmp") limit fastconv's default
    count, as they did when fastconv linked libgomp: a controller for fastconv's core,
    registered where threadpoolctl 3.5 or later is installed (earlier releases have no
    register() or do not check a library's symbols)."""
    try:
        import threadpoolctl
    except ImportError:
        return
    try:
        if tuple(int(v) for v in threadpoolctl.__version__.split(".")[:2]) < (3, 5):
            return
    except ValueError:
        return

    class FastconvController(threadpoolctl.LibController):
        user_api = "openmp"
        internal_api = "fastconv"
        filename_prefixes = ("_core.",)
        check_symbols = ("fastconv_default_threads", "fastconv_set_default_threads")

        def get_num_threads(self):
            return self.dynlib.fastconv_default_threads()

        def set_num_threads(self, num_threads):
            self.dynlib.fastconv_set_default_threads(int(num_threads))

        def get_version(self):
            return _core.version

    threadpoolctl.register(FastconvController)
