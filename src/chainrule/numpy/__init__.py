"""NumPy's API on arrays and tracers: ``import chainrule.numpy as cnp``.

Functions take what NumPy takes (arrays, lists, scalars), broadcast and
promote dtypes as NumPy does, and return ``numpy.ndarray`` outside
transforms. Inside ``grad``, ``jvp``, ``make_jaxpr`` and friends they record
primitives, so they are differentiable.
"""

import numpy as _np

from . import _methods  # noqa: F401  (attaches operators to tracers)
from ._promote import asarray, result_type
from ._matrices import (cross, diag, diag_indices, diag_indices_from, diagflat, indices,
                        meshgrid, tri, tril, tril_indices, tril_indices_from, triu,
                        triu_indices, triu_indices_from, vander)
from ._reductions import (all, amax, amin, any, argmax, argmin, average, count_nonzero,
                          cummax, cummin, cumprod, cumsum, max, mean, min, nancumprod,
                          nancumsum, nanmax, nanmean, nanmin, nanprod, nanstd, nansum, nanvar,
                          prod, ptp, std, sum, var)
from ._shape import (arange, array, atleast_1d, atleast_2d, atleast_3d, broadcast_arrays,
                     broadcast_shapes, broadcast_to, column_stack, concatenate, dstack, empty,
                     expand_dims, eye, flip, fliplr, flipud, full, full_like, geomspace, hstack,
                     identity, linspace, logspace, moveaxis, ndim, ones, ones_like, pad,
                     permute_dims, ravel, repeat, reshape, roll, shape, size, split, squeeze,
                     stack, swapaxes, tile, transpose, vstack, zeros, zeros_like)
from ._sorting import (argsort, argwhere, flatnonzero, median, nonzero, percentile, quantile,
                       searchsorted, sort, unique)
from ._stats import corrcoef, correlate, convolve, cov, diff, ediff1d, trapezoid
from ._ufuncs import (abs, absolute, add, allclose, arccos, arccosh, arcsin, arcsinh, arctan,
                      arctan2, arctanh, around, array_equal, array_equiv, cbrt, ceil, clip,
                      copysign, cos, cosh, deg2rad, degrees, divide, equal, exp, exp2, expm1,
                      fix, float_power, floor, floor_divide, fmax, fmin, fmod, greater,
                      greater_equal, heaviside, hypot, isclose, isfinite, isinf, isnan, less,
                      less_equal, log, log1p, log2, log10, logaddexp, logaddexp2, logical_and,
                      logical_not, logical_or, logical_xor, maximum, minimum, mod, multiply,
                      nan_to_num, negative, not_equal, positive, power, rad2deg, radians,
                      reciprocal, remainder, rint, round, sign, signbit, sin, sinc, sinh, sqrt,
                      square, stop_gradient, subtract, tan, tanh, true_divide, trunc, where)

from ._complex import (angle, conj, conjugate, imag, iscomplex, iscomplexobj, isreal,
                       isrealobj, real)
from ._dot import (diagonal, dot, einsum, inner, kron, matmul, outer, tensordot, trace,
                   vdot)
from ._indexing import take, take_along_axis
from . import linalg  # noqa: E402,F401  (chainrule.numpy.linalg)
from ._at import at  # noqa: E402,F401  (at(x)[idx].set(v); tracers have x.at)

# dtypes and constants, as in NumPy
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64 = _np.int8, _np.int16, _np.int32, _np.int64
uint8, uint32, uint64 = _np.uint8, _np.uint32, _np.uint64
bool_, complex64, complex128 = _np.bool_, _np.complex64, _np.complex128
dtype, ndarray, newaxis = _np.dtype, _np.ndarray, _np.newaxis
pi, e, inf, nan, euler_gamma = _np.pi, _np.e, _np.inf, _np.nan, _np.euler_gamma
finfo, iinfo, issubdtype = _np.finfo, _np.iinfo, _np.issubdtype
floating, integer, inexact, number = _np.floating, _np.integer, _np.inexact, _np.number
