"""fastconv: fast channels-last convolutions for NumPy.

Blocked (stride == kernel) dense, 1x1, grouped (optionally shuffled), depthwise,
channel-blocked, depthwise-separable, spatially separable and flattened convolutions,
the ShuffleNet channel shuffle and a drop-in ``einsum``, computed by a C++ core (SIMD,
its own worker threads) as contractions over strided views of the input. ``fastconv.reference`` holds
the numpy.einsum baselines of every operation.
"""
from . import reference
from ._config import (get_flush_denormal, get_num_threads, isa, max_threads, release_memory, set_flush_denormal,
                      set_isa, set_num_threads, show_config)
from ._config import _apply_env, _register_threadpoolctl
from ._core import version as __version__
from ._einsum import einsum, einsum_plan
from ._separable import flattened_conv, separable_plan, spatially_separable_conv
from ._ops import (
    channel_conv,
    channel_shuffle,
    conv,
    depthwise_conv,
    depthwise_separable_conv,
    grouped_conv,
    pointwise_conv,
    pointwise_grouped_conv,
)

_apply_env()
_register_threadpoolctl()
del _apply_env, _register_threadpoolctl

__all__ = [
    "__version__",
    "channel_conv",
    "channel_shuffle",
    "conv",
    "depthwise_conv",
    "depthwise_separable_conv",
    "einsum",
    "einsum_plan",
    "flattened_conv",
    "get_flush_denormal",
    "get_num_threads",
    "isa",
    "max_threads",
    "grouped_conv",
    "pointwise_conv",
    "pointwise_grouped_conv",
    "reference",
    "release_memory",
    "separable_plan",
    "set_flush_denormal",
    "set_isa",
    "set_num_threads",
    "show_config",
    "spatially_separable_conv",
]
