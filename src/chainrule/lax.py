"""Low-level operations and structured control flow (JAX's ``jax.lax``).

Control flow that must survive ``jit`` or ``vmap`` with traced predicates
goes through ``cond``/``switch``/``scan``/``fori_loop``/``while_loop``; each
is a primitive with forward, reverse and batching rules.
"""

from .checkpoint import optimization_barrier
from .control_flow import cond, fori_loop, scan, switch, while_loop
from .numpy import stop_gradient
from .primitives.dot import dot_general
from .primitives.elementwise import convert_element_type, integer_pow, logistic, select
from .primitives.fft import FftType, fft  # noqa: E402  (the discrete Fourier transform)
from .primitives.reductions import cumsum, reduce_max, reduce_min, reduce_prod, reduce_sum
from .primitives.shape import (
                               broadcast_in_dim,
                               concatenate,
                               expand_dims,
                               pad,
                               reshape,
                               rev,
                               squeeze,
                               transpose,
)
from .primitives.shape import slice_ as slice  # noqa: A001

__all__ = ["cond", "switch", "scan", "fori_loop", "while_loop", "stop_gradient",
           "dot_general", "convert_element_type", "integer_pow", "logistic", "select",
           "cumsum", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod",
           "broadcast_in_dim", "concatenate", "expand_dims", "pad", "reshape", "rev",
           "squeeze", "transpose", "slice", "optimization_barrier"]
__all__ += ["fft", "FftType"]
from ._lax_conv import (  # noqa: E402  (convolution, JAX's spellings)
    ConvDimensionNumbers,
    conv,
    conv_dimension_numbers,
    conv_general_dilated,
    conv_transpose,
    conv_with_general_padding,
)

__all__ += ["conv_general_dilated", "conv", "conv_with_general_padding", "conv_transpose",
            "conv_dimension_numbers", "ConvDimensionNumbers"]

from ._lax_loops import associative_scan, map  # noqa: E402,A004  (issue 13)

__all__ += ["map", "associative_scan"]

from ._lax_windows import add, max, min, mul, reduce_window  # noqa: E402,A004  (pooling)

__all__ += ["reduce_window", "add", "max", "min", "mul"]

from ._lax_parallel import (  # noqa: E402  (collectives over named axes)
    all_gather,
    all_to_all,
    axis_index,
    axis_size,
    pmax,
    pmean,
    pmin,
    ppermute,
    pshuffle,
    psum,
    psum_scatter,
)

__all__ += ["psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "ppermute",
            "pshuffle", "all_to_all", "axis_index", "axis_size"]
