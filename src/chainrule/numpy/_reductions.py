"""NumPy's reductions with ``axis`` and ``keepdims``, on arrays and tracers."""

from __future__ import annotations

import builtins

import numpy as np

from ..primitives import reductions as red
from ..primitives import scans
from ..primitives.shape import expand_dims, reshape
from ._promote import asarray, canonical_axes, cast, float_dtype
from ._ufuncs import divide, isnan, not_equal, sqrt, subtract, where


def _keep(y, axes, keepdims):
    return expand_dims(y, axes) if keepdims else y


def _sum_dtype(dtype):
    """NumPy sums small integers and booleans in the platform integer."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b" or (dtype.kind == "i" and dtype.itemsize < 8):
        return np.dtype(np.int64)
    if dtype.kind == "u" and dtype.itemsize < 8:
        return np.dtype(np.uint64)
    return dtype


def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001
    a = asarray(a, "sum")
    axes = canonical_axes(axis, a.ndim, "sum")
    a = cast(a, dtype or _sum_dtype(a.dtype))
    return _keep(red.reduce_sum(a, axes), axes, keepdims)


def prod(a, axis=None, dtype=None, keepdims=False):
    a = asarray(a, "prod")
    axes = canonical_axes(axis, a.ndim, "prod")
    a = cast(a, dtype or _sum_dtype(a.dtype))
    return _keep(red.reduce_prod(a, axes), axes, keepdims)


def max(a, axis=None, keepdims=False):  # noqa: A001
    a = asarray(a, "max")
    axes = canonical_axes(axis, a.ndim, "max")
    return _keep(red.reduce_max(a, axes), axes, keepdims)


def min(a, axis=None, keepdims=False):  # noqa: A001
    a = asarray(a, "min")
    axes = canonical_axes(axis, a.ndim, "min")
    return _keep(red.reduce_min(a, axes), axes, keepdims)


amax, amin = max, min


def _count(shape, axes):
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def mean(a, axis=None, dtype=None, keepdims=False):
    a = asarray(a, "mean")
    axes = canonical_axes(axis, a.ndim, "mean")
    out_dtype = np.dtype(dtype) if dtype else float_dtype(a.dtype)
    total = sum(cast(a, out_dtype), axis=axes, keepdims=keepdims)
    return divide(total, np.asarray(_count(np.shape(a), axes), out_dtype))


def _abs2(x):
    """``|x|²``: ``x * x``, or ``re² + im²`` (real) for complex ``x`` as NumPy's var."""
    if np.dtype(x.dtype).kind != "c":
        return x * x
    from ._complex import imag, real
    re, im = real(x), imag(x)
    return re * re + im * im


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    a = asarray(a, "var")
    axes = canonical_axes(axis, a.ndim, "var")
    a = cast(a, np.dtype(dtype) if dtype else float_dtype(a.dtype))
    centered = a - mean(a, axis=axes, keepdims=True)
    n = builtins.max(_count(np.shape(a), axes) - ddof, 0)  # as NumPy: nan or inf, never < 0
    sq = _abs2(centered)
    return divide(sum(sq, axis=axes, keepdims=keepdims), np.asarray(n, sq.dtype))


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    a = asarray(a, "average")
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        scl = np.asarray(_count(np.shape(a), canonical_axes(axis, a.ndim, "average")),
                         avg.dtype)
    else:
        w = asarray(weights, "average")
        if np.shape(w) != np.shape(a):
            if axis is None or w.ndim != 1:
                raise ValueError("average: weights must have the shape of `a`, or be 1-D "
                                 "along the given axis")
            shape = [1] * a.ndim
            shape[canonical_axes(axis, a.ndim, "average")[0]] = np.shape(w)[0]
            w = reshape(w, shape)
        scl = sum(w * np.ones((), float_dtype(a.dtype)), axis=axis, keepdims=keepdims)
        avg = divide(sum(a * w, axis=axis, keepdims=keepdims), scl)
    return (avg, scl) if returned else avg


def all(a, axis=None, keepdims=False):  # noqa: A001
    a = asarray(a, "all")
    return min(cast(a, bool), axis=axis, keepdims=keepdims) if np.size(a) else _empty_bool(
        a, axis, keepdims, True)


def any(a, axis=None, keepdims=False):  # noqa: A001
    a = asarray(a, "any")
    return max(cast(a, bool), axis=axis, keepdims=keepdims) if np.size(a) else _empty_bool(
        a, axis, keepdims, False)


def _empty_bool(a, axis, keepdims, value):
    axes = canonical_axes(axis, a.ndim, "all")
    shape = tuple(1 if i in axes else n for i, n in enumerate(np.shape(a)) if keepdims or
                  i not in axes)
    return np.full(shape, value)


def argmax(a, axis=None, keepdims=False):
    a = asarray(a, "argmax")
    if axis is None:
        return red.argmax(reshape(a, (np.size(a),)), 0)
    axis = canonical_axes(axis, a.ndim, "argmax")[0]
    return _keep(red.argmax(a, axis), (axis,), keepdims)


def argmin(a, axis=None, keepdims=False):
    a = asarray(a, "argmin")
    if axis is None:
        return red.argmin(reshape(a, (np.size(a),)), 0)
    axis = canonical_axes(axis, a.ndim, "argmin")[0]
    return _keep(red.argmin(a, axis), (axis,), keepdims)


def cumsum(a, axis=None, dtype=None):
    a = asarray(a, "cumsum")
    if axis is None:
        a, axis = reshape(a, (np.size(a),)), 0
    axis = canonical_axes(axis, a.ndim, "cumsum")[0]
    return red.cumsum(cast(a, dtype or _sum_dtype(a.dtype)), axis)


def count_nonzero(a, axis=None, keepdims=False):
    return sum(not_equal(asarray(a), 0), axis=axis, keepdims=keepdims)


def nansum(a, axis=None, dtype=None, keepdims=False):
    a = asarray(a, "nansum")
    return sum(where(isnan(a), np.zeros((), a.dtype), a), axis=axis, dtype=dtype,
               keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, keepdims=False):
    a = asarray(a, "nanmean")
    valid = cast(where(isnan(a), False, True), float_dtype(a.dtype))
    return divide(nansum(a, axis=axis, dtype=dtype, keepdims=keepdims), sum(
        valid, axis=axis, keepdims=keepdims))


def ptp(a, axis=None, keepdims=False):
    return subtract(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))


# ------------------------------------------------- scans and nan-reductions ---

def _scan_operand(a, axis, fname):
    a = asarray(a, fname)
    if axis is None:
        a, axis = reshape(a, (np.size(a),)), 0
    return a, canonical_axes(axis, a.ndim, fname)[0]


def cumprod(a, axis=None, dtype=None):
    """Running product; its derivative is exact where ``a`` has zeros (no
    division: see chainrule.primitives.scans)."""
    a, axis = _scan_operand(a, axis, "cumprod")
    return scans.cumprod(cast(a, dtype or _sum_dtype(a.dtype)), axis)


def cummax(a, axis=None):
    """Running maximum (``np.maximum.accumulate``); the gradient goes to the
    first position where each running maximum was attained."""
    a, axis = _scan_operand(a, axis, "cummax")
    return scans.cummax(a, axis)


def cummin(a, axis=None):
    """Running minimum (``np.minimum.accumulate``), like ``cummax``."""
    a, axis = _scan_operand(a, axis, "cummin")
    return scans.cummin(a, axis)


def _nan_filled(a, fill, fname):
    a = asarray(a, fname)
    if a.dtype.kind not in "fc":
        return a
    return where(isnan(a), np.asarray(fill, a.dtype), a)


def nancumsum(a, axis=None, dtype=None):
    return cumsum(_nan_filled(a, 0, "nancumsum"), axis=axis, dtype=dtype)


def nancumprod(a, axis=None, dtype=None):
    return cumprod(_nan_filled(a, 1, "nancumprod"), axis=axis, dtype=dtype)


def nanprod(a, axis=None, dtype=None, keepdims=False):
    return prod(_nan_filled(a, 1, "nanprod"), axis=axis, dtype=dtype, keepdims=keepdims)


def _nan_extremum(reduce, fill, a, axis, keepdims, fname):
    a = asarray(a, fname)
    if a.dtype.kind not in "fc":
        return reduce(a, axis=axis, keepdims=keepdims)
    out = reduce(_nan_filled(a, fill, fname), axis=axis, keepdims=keepdims)
    all_nan = all(isnan(a), axis=axis, keepdims=keepdims)
    return where(all_nan, np.asarray(np.nan, a.dtype), out)


def nanmax(a, axis=None, keepdims=False):
    """``max`` ignoring NaNs (NaN where a slice is all NaN, without a warning)."""
    return _nan_extremum(max, -np.inf, a, axis, keepdims, "nanmax")


def nanmin(a, axis=None, keepdims=False):
    return _nan_extremum(min, np.inf, a, axis, keepdims, "nanmin")


def nanvar(a, axis=None, dtype=None, ddof=0, keepdims=False):
    a = asarray(a, "nanvar")
    a = cast(a, np.dtype(dtype) if dtype else float_dtype(a.dtype))
    centered = _nan_filled(a - nanmean(a, axis=axis, keepdims=True), 0, "nanvar")
    sq = _abs2(centered)
    valid = cast(where(isnan(a), False, True), sq.dtype)
    n = sum(valid, axis=axis, keepdims=keepdims) - np.asarray(ddof, sq.dtype)
    return divide(sum(sq, axis=axis, keepdims=keepdims), n)


def nanstd(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return sqrt(nanvar(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))
