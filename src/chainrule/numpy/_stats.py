"""Differences, integrals, convolutions and covariances, with NumPy's signatures.

All are compositions of slices, pads, reshapes, products and sums, so they
are differentiable to any order in every array argument.
"""

from __future__ import annotations

import numpy as np

from ..primitives import shape as sh
from ._promote import asarray, canonical_axes, cast, float_dtype, promote


def _range(x, lo, hi, axis):
    """``x`` restricted to ``lo:hi`` along ``axis``."""
    shape = np.shape(x)
    start = [0] * len(shape)
    limit = list(shape)
    start[axis], limit[axis] = lo, hi
    return sh.slice_(x, tuple(start), tuple(limit))


# ----------------------------------------------------------- differences ---

def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The ``n``-th discrete difference ``a[1:] - a[:-1]`` along ``axis``."""
    from ._shape import broadcast_to, concatenate
    a = asarray(a, "diff")
    if n < 0:
        raise ValueError(f"diff: order must be non-negative, got {n}")
    if a.ndim == 0:
        raise ValueError("diff: requires input that is at least one dimensional")
    axis = canonical_axes(axis, a.ndim, "diff")[0]
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        extra = asarray(extra, "diff")
        if extra is not a and extra.ndim == 0:
            shape = list(np.shape(a))
            shape[axis] = 1
            extra = broadcast_to(extra, tuple(shape))
        parts.append(extra)
    if len(parts) > 1:
        a = concatenate(parts, axis=axis)
    is_bool = a.dtype == np.bool_
    for _ in range(n):
        m = a.shape[axis]
        hi, lo = _range(a, 1, m, axis), _range(a, 0, max(m - 1, 0), axis)
        a = (hi != lo) if is_bool else hi - lo
    return a


def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with optional values around them."""
    from ._shape import concatenate, ravel
    a = ravel(asarray(ary, "ediff1d"))
    parts = [diff(a)]
    if to_begin is not None:
        parts.insert(0, ravel(asarray(to_begin, "ediff1d")))
    if to_end is not None:
        parts.append(ravel(asarray(to_end, "ediff1d")))
    return concatenate(parts) if len(parts) > 1 else parts[0]


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of ``y`` along ``axis`` by the trapezoidal rule."""
    from ._reductions import sum as _sum
    from ._shape import reshape
    y = asarray(y, "trapezoid")
    y = cast(y, float_dtype(y.dtype))
    axis = canonical_axes(axis, y.ndim, "trapezoid")[0]
    n = y.shape[axis]
    if x is None:
        d = dx
    else:
        x = asarray(x, "trapezoid")
        d = diff(x, axis=axis if x.ndim == y.ndim else -1)
        if d.ndim == 1 and y.ndim > 1:
            shape = [1] * y.ndim
            shape[axis] = d.shape[0]
            d = reshape(d, shape)
    mid = (_range(y, 1, n, axis) + _range(y, 0, max(n - 1, 0), axis)) / 2.0
    return _sum(d * mid, axis=axis)


# ----------------------------------------------------------- convolution ---

def _conv1d(a, v, mode, fname, flip_v, conj_v):
    """NumPy's 1-D convolve/correlate as one ``conv_general_dilated``."""
    from .._lax_conv import correlate_window
    from ._complex import conj
    a, v = promote(a, v, fname=fname)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"{fname}: inputs must be 1-D, got shapes {tuple(a.shape)} and "
                         f"{tuple(v.shape)}")
    if a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError(f"{fname}: inputs cannot be empty")
    n, m = a.shape[0], v.shape[0]
    lo, hi = min(n, m), max(n, m)
    if mode == "full":
        start, length = 0, n + m - 1
    elif mode == "same":
        start, length = (lo - 1) // 2, hi
        if m > n and not flip_v:
            start = lo - 1 - start  # NumPy swaps, centres, then reverses
    elif mode == "valid":
        start, length = lo - 1, hi - lo + 1
    else:
        raise ValueError(f"{fname}: mode must be 'full', 'same' or 'valid', got {mode!r}")
    if flip_v and m > n:
        a, v = v, a  # NumPy centres 'same' on the longer operand; convolution commutes
    if conj_v and np.dtype(v.dtype).kind == "c":
        v = conj(v)
    if flip_v:
        v = sh.rev(v, (0,))
    return correlate_window(a, v, (start,), (length,))


def convolve(a, v, mode="full"):
    """Discrete linear convolution of two 1-D arrays (modes full, same,
    valid; the longer operand sets 'same' and 'valid'), as one
    ``lax.conv_general_dilated``: differentiable in both, never a dense matrix."""
    return _conv1d(a, v, mode, "convolve", flip_v=True, conj_v=False)


def correlate(a, v, mode="valid"):
    """Cross-correlation ``c[k] = sum_n a[n + k] * conj(v[n])`` of two 1-D
    arrays (modes full, same, valid), as NumPy defines it."""
    return _conv1d(a, v, mode, "correlate", flip_v=False, conj_v=True)


# ---------------------------------------------------------- covariances ---

def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
        *, dtype=None):
    """Covariance matrix of the variables in the rows (``rowvar``) or columns
    of ``m`` (and ``y``); ``fweights``/``aweights`` are not supported."""
    from ._dot import matmul
    from ._reductions import mean
    from ._shape import atleast_2d, concatenate, squeeze, transpose
    if fweights is not None or aweights is not None:
        raise NotImplementedError("cov: fweights and aweights are not supported")
    x = atleast_2d(asarray(m, "cov"))
    if x.ndim > 2:
        raise ValueError(f"cov: m has more than 2 dimensions (shape {tuple(x.shape)})")
    if not rowvar and x.shape[0] != 1:
        x = transpose(x)
    if y is not None:
        y = atleast_2d(asarray(y, "cov"))
        if not rowvar and y.shape[0] != 1:
            y = transpose(y)
        x = concatenate(promote(x, y, fname="cov"), axis=0)
    x = cast(x, np.dtype(dtype) if dtype is not None else np.result_type(x.dtype, np.float64))
    if ddof is None:
        ddof = 0 if bias else 1
    centered = x - mean(x, axis=1, keepdims=True)
    from ._complex import conj  # NumPy's cov is X Xᴴ / (n - ddof)
    c = matmul(centered, conj(transpose(centered))) / np.asarray(x.shape[1] - ddof, x.dtype)
    return squeeze(c)


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """Pearson correlation coefficients, clipped to [-1, 1] as NumPy does."""
    from ._shape import reshape
    from ._ufuncs import clip, sqrt
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    std = sqrt(_diagonal(c))
    c = c / reshape(std, (-1, 1)) / reshape(std, (1, -1))
    return clip(c, -1, 1)


def _diagonal(c):
    from ._dot import diagonal
    return diagonal(c)
