"""Sorting, order statistics and value-dependent selections.

``sort`` is a gather by ``argsort`` (an integer primitive with no
derivative), so the gradient of a sorted value goes back to the element it
came from; ``median``, ``quantile`` and ``percentile`` interpolate between
sorted values. Functions whose output *shape* depends on the values
(``nonzero``, ``argwhere``, ``flatnonzero``, ``unique``) need concrete
values: they work under ``grad``/``jvp`` (which carry them) and raise
``ConcretizationError`` under ``make_jaxpr``/``jit``.
"""

from __future__ import annotations

import numpy as np

from ..core import Tracer
from ..primitives import scans
from ._promote import asarray, canonical_axes, cast, float_dtype


def _concrete(x, fname):
    """The value behind ``x``; a ConcretizationError for staged values."""
    while isinstance(x, Tracer):
        x = x._concrete(f"{fname} (its output shape depends on the values)")
    return np.asarray(x)


def _flat_or_axis(a, axis, fname):
    from ._shape import ravel
    a = asarray(a, fname)
    if axis is None:
        return ravel(a), 0
    return a, canonical_axes(axis, a.ndim, fname)[0]


# ----------------------------------------------------------------- sort ---

def argsort(a, axis=-1, kind=None, order=None, *, stable=None, descending=False):
    """Indices that sort ``a`` along ``axis`` (stable); no derivative."""
    if order is not None:
        raise NotImplementedError("argsort: structured arrays (order=) are not supported")
    a, axis = _flat_or_axis(a, axis, "argsort")
    if descending:
        # stable and descending: sort the reversed array, then map back
        from ._shape import flip
        idx = flip(scans.argsort(flip(a, axis), axis), axis)
        return np.asarray(a.shape[axis] - 1, np.int64) - idx
    return scans.argsort(a, axis)


def sort(a, axis=-1, kind=None, order=None, *, stable=None, descending=False):
    """Sorted copy of ``a``; differentiable: each output's gradient goes to the
    element it came from (NaNs sort last, as in NumPy)."""
    from ._indexing import take_along_axis
    a, axis = _flat_or_axis(a, axis, "sort")
    idx = argsort(a, axis, kind, order, descending=descending)
    return take_along_axis(a, idx, axis)


# --------------------------------------------------------- order stats ---

_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False):
    """The ``q``-th quantiles of ``a`` (``q`` concrete, in [0, 1]), with NumPy's
    methods linear (default), lower, higher, nearest and midpoint. The result
    has the shape of ``q`` followed by the reduced shape of ``a``. Not
    NaN-aware: unlike NumPy, a NaN does not make the result NaN."""
    from ._indexing import take
    from ._shape import moveaxis, reshape
    if out is not None:
        raise NotImplementedError("quantile: out= is not supported")
    if method not in _METHODS:
        raise NotImplementedError(f"quantile: method {method!r} (supported: {_METHODS})")
    a = asarray(a, "quantile")
    a = cast(a, float_dtype(a.dtype))
    q = _concrete(q, "quantile (q must be concrete)").astype(np.float64)
    if np.any((q < 0) | (q > 1)) or np.any(np.isnan(q)):
        raise ValueError("quantile: q must be in the range [0, 1]")
    axes = canonical_axes(axis, a.ndim, "quantile")
    kept = [i for i in range(a.ndim) if i not in axes]
    shape = tuple(np.shape(a))
    x = moveaxis(a, axes, tuple(range(len(kept), a.ndim))) if axes else a
    n = int(np.prod([shape[i] for i in axes], dtype=np.int64))
    if n == 0:
        raise ValueError("quantile: cannot take quantiles of an empty array")
    x = sort(reshape(x, tuple(shape[i] for i in kept) + (n,)), axis=-1)
    pos = q * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    if method == "lower":
        hi = lo
    elif method == "higher":
        lo = hi = np.ceil(pos).astype(np.int64)
    elif method == "nearest":
        lo = hi = np.around(pos).astype(np.int64)
    w = np.full(q.shape, 0.5) if method == "midpoint" else pos - np.floor(pos)
    if method == "midpoint":
        hi = np.where(pos == lo, lo, hi)
    vlo = take(x, lo, axis=-1)                    # kept shape + q.shape
    vhi = take(x, hi, axis=-1) if not np.array_equal(lo, hi) else vlo
    w = np.asarray(w, a.dtype)
    res = vlo if vhi is vlo else vlo + (vhi - vlo) * w
    if q.ndim:
        res = moveaxis(res, tuple(range(len(kept), len(kept) + q.ndim)), tuple(range(q.ndim)))
    if keepdims:
        res = reshape(res, q.shape + tuple(1 if i in axes else shape[i]
                                           for i in range(a.ndim)))
    return res


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False):
    """``quantile(a, q / 100)``."""
    q = _concrete(q, "percentile (q must be concrete)").astype(np.float64) / 100
    return quantile(a, q, axis, out, overwrite_input, method, keepdims)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The middle value (mean of the two middle values for even counts)."""
    return quantile(a, 0.5, axis, out, overwrite_input, "linear", keepdims)


# ---------------------------------------------------------- searching ---

def searchsorted(a, v, side="left", sorter=None):
    """Insertion indices of ``v`` into the sorted 1-D ``a``; no derivative.
    Traced inputs are compared all-pairs (O(len(a) * size(v)) memory)."""
    from ._reductions import sum as _sum
    from ._shape import expand_dims
    from ._ufuncs import less, less_equal
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if not isinstance(a, Tracer) and not isinstance(v, Tracer):
        return np.searchsorted(np.asarray(a), np.asarray(v), side=side, sorter=sorter)
    a = asarray(a, "searchsorted")
    if a.ndim != 1:
        raise ValueError(f"searchsorted: a must be 1-D, got shape {tuple(a.shape)}")
    if sorter is not None:
        from ._indexing import take
        a = take(a, sorter)
    v = asarray(v, "searchsorted")
    before = (less if side == "left" else less_equal)(a, expand_dims(v, -1))
    return _sum(before, axis=-1)


def nonzero(a):
    """Indices of the non-zero elements, one array per axis (concrete only)."""
    return np.nonzero(_concrete(a, "nonzero"))


def flatnonzero(a):
    return np.flatnonzero(_concrete(a, "flatnonzero"))


def argwhere(a):
    return np.argwhere(_concrete(a, "argwhere"))


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None,
           *, equal_nan=True):
    """Sorted unique elements (concrete values only). The values are gathered
    from the first occurrences, so they are differentiable under ``grad``."""
    from ._indexing import take
    from ._shape import ravel
    flags = dict(return_index=return_index, return_inverse=return_inverse,
                 return_counts=return_counts, equal_nan=equal_nan)
    if not isinstance(ar, Tracer):
        return np.unique(np.asarray(ar), axis=axis, **flags)
    if axis is not None:
        raise NotImplementedError("unique: axis= is not supported on traced values")
    res = np.unique(_concrete(ar, "unique"), **{**flags, "return_index": True})
    out = take(ravel(ar), res[1])
    extra = ([res[1]] if return_index else []) + list(res[2:])
    return (out, *extra) if extra else out
