"""Runtime control: SIMD level and threads."""
from __future__ import annotations

import os

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
    prev = _core.isa()
    try:
        _core.set_isa(name.lower())
    except ValueError as e:
        raise ValueError(f"set_isa: {e}; this CPU supports {_core.supported_isas()}") from None
    return prev


def get_num_threads() -> int:
    """Threads the kernels use: set_num_threads' value, else OpenMP's (OMP_NUM_THREADS, threadpoolctl)."""
    return _core.get_num_threads()


def set_num_threads(n: int | None) -> int:
    """Use n threads (None: follow OpenMP / threadpoolctl again). Returns the previous value."""
    if n is None:
        return _core.set_num_threads(0)
    if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
        raise TypeError(f"set_num_threads: argument 'n' must be an int or None, got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: argument 'n' must be >= 1 (or None), got {n}")
    return _core.set_num_threads(n)


def show_config(file=None) -> dict:
    """Print (and return) the build and runtime configuration."""
    cfg = {
        "version": _core.version,
        "compiler": _core.compiler,
        "openmp": _core.openmp,
        "isa_known": _core.known_isas(),
        "isa_supported": _core.supported_isas(),
        "isa_in_use": _core.isa(),
        "threads": _core.get_num_threads(),
        "l2_cache_bytes": _core.l2_cache_bytes(),
        "FASTCONV_ISA": os.environ.get("FASTCONV_ISA"),
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
