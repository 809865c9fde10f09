"""Scans and sorting: cumprod, cummax, cummin along one axis, and argsort.

The derivatives of the scans are *linear recurrences* along the axis,
``h[i] = a[i] * h[i-1] + b[i]`` (or from the other end), which
``linear_recurrence`` evaluates in ``log2(n)`` doubling steps (Hillis–Steele)
made of slices, concatenations, products and sums. The rules are therefore
chainrule code, differentiable again, and never divide:

- cumprod: ``∂out[i]/∂x[j] = prod(x[:j]) * prod(x[j+1:i+1])`` for j <= i.
  Forward mode runs ``h[i] = x[i] h[i-1] + t[i] E[i]`` with ``E`` the
  exclusive cumprod; reverse mode runs ``R[j] = ct[j] + x[j+1] R[j+1]`` from
  the end and returns ``E * R``. Both are exact when ``x`` has zeros.
- cummax / cummin: the gradient goes to the running argmax (argmin), the
  *first* position where the running extremum was attained. With ``r`` the
  indicator of a new strict record, forward mode carries the tangent of the
  last record, ``h[i] = (1 - r[i]) h[i-1] + r[i] t[i]``; reverse mode is its
  transpose.
- argsort: integer output, no derivative (sort is a gather by it).
"""

from __future__ import annotations

import numpy as np

from ..batching import batch_unary_axes
from ..core import Primitive, ShapedArray
from ._helpers import defzero, normalize_axis
from .elementwise import add, as_dtype, gt, lt, mul, sub
from .shape import concatenate, slice_

# ------------------------------------------------------- the recurrence ---


def _take(x, lo, hi, axis):
    shape = np.shape(x)
    start = [0] * len(shape)
    limit = list(shape)
    start[axis], limit[axis] = lo, hi
    return slice_(x, tuple(start), tuple(limit))


def _shift(x, d, fill, axis, reverse=False):
    """``x`` moved ``d`` places along ``axis`` (towards the end, or the start
    when ``reverse``), the vacated places holding ``fill``."""
    shape = list(np.shape(x))
    n = shape[axis]
    shape[axis] = min(d, n)
    block = np.full(shape, fill, dtype=np.dtype(x.dtype))
    if d >= n:
        return block
    if reverse:
        return concatenate([_take(x, d, n, axis), block], axis)
    return concatenate([block, _take(x, 0, n - d, axis)], axis)


def linear_recurrence(a, b, axis, reverse=False):
    """``h`` with ``h[i] = a[i] * h[i-1] + b[i]`` along ``axis`` (``h[-1] = 0``);
    with ``reverse``, ``h[i] = a[i] * h[i+1] + b[i]`` from the end.

    Doubling: after the step with distance ``d``, ``(A[i], B[i])`` composes
    the ``2d`` maps ending at ``i``; ``log2(n)`` steps of chainrule ops.
    """
    n = np.shape(b)[axis]
    d = 1
    while d < n:
        b = add(b, mul(a, _shift(b, d, 0, axis, reverse)))
        if 2 * d < n:
            a = mul(a, _shift(a, d, 1, axis, reverse))
        d *= 2
    return b


# ------------------------------------------------------------- cumprod ---

def _scan_aval(name):
    def abstract_eval(x, *, axis):
        normalize_axis(name, axis, x.ndim)
        return ShapedArray(tuple(x.shape), np.dtype(x.dtype))
    return abstract_eval


cumprod_p = Primitive("cumprod")
cumprod_p.impl = lambda x, *, axis: np.cumprod(x, axis=axis, dtype=np.asarray(x).dtype)
cumprod_p.abstract_eval = _scan_aval("cumprod")


def _exclusive_cumprod(out, axis):
    return _shift(out, 1, 1, axis)


def _cumprod_jvp(primals, tangents, out, *, axis):
    (x,), (t,) = primals, tangents
    return linear_recurrence(x, mul(t, _exclusive_cumprod(out, axis)), axis)


def _cumprod_vjp(ct, out, x, *, wants, axis):
    r = linear_recurrence(_shift(x, 1, 1, axis, reverse=True), ct, axis, reverse=True)
    return (mul(_exclusive_cumprod(out, axis), r),)


cumprod_p.jvp = _cumprod_jvp
cumprod_p.vjp = _cumprod_vjp

# ------------------------------------------------------ cummax, cummin ---


def _records(out, x, axis, better):
    """1 where ``x`` sets a new strict record of the running extremum, else 0."""
    n = np.shape(x)[axis]
    if n == 0:
        return as_dtype(gt(x, x), x.dtype)
    first = np.ones(np.shape(_take(x, 0, 1, axis)), dtype=bool)
    rest = better(_take(x, 1, n, axis), _take(out, 0, n - 1, axis))
    return as_dtype(concatenate([first, rest], axis), x.dtype)


def _extremum_scan(name, ufunc, better):
    prim = Primitive(name)
    prim.impl = lambda x, *, axis: ufunc.accumulate(x, axis=axis)
    prim.abstract_eval = _scan_aval(name)

    def jvp(primals, tangents, out, *, axis):
        (x,), (t,) = primals, tangents
        r = _records(out, x, axis, better)
        return linear_recurrence(sub(np.ones((), r.dtype), r), mul(r, t), axis)

    def vjp(ct, out, x, *, wants, axis):
        r = _records(out, x, axis, better)
        keep = _shift(sub(np.ones((), r.dtype), r), 1, 1, axis, reverse=True)
        return (mul(r, linear_recurrence(keep, ct, axis, reverse=True)),)

    prim.jvp, prim.vjp = jvp, vjp
    return prim


cummax_p = _extremum_scan("cummax", np.maximum, gt)
cummin_p = _extremum_scan("cummin", np.minimum, lt)

# -------------------------------------------------------------- argsort ---

argsort_p = Primitive("argsort")
argsort_p.impl = lambda x, *, axis: np.argsort(x, axis=axis, kind="stable").astype(np.int64)


def _argsort_aval(x, *, axis):
    normalize_axis("argsort", axis, x.ndim)
    return ShapedArray(tuple(x.shape), np.dtype(np.int64))


argsort_p.abstract_eval = _argsort_aval
defzero(argsort_p)

# ------------------------------------------------------------- batching ---

for _p in (cumprod_p, cummax_p, cummin_p, argsort_p):
    _p.batch = batch_unary_axes(lambda *, axis: {"axis": axis + 1})(_p)

# ---------------------------------------------------- functions to call ---


def cumprod(x, axis):
    return cumprod_p.bind(x, axis=int(axis))


def cummax(x, axis):
    return cummax_p.bind(x, axis=int(axis))


def cummin(x, axis):
    return cummin_p.bind(x, axis=int(axis))


def argsort(x, axis):
    """Indices that sort ``x`` along ``axis`` (stable; NaNs last, as NumPy)."""
    return argsort_p.bind(x, axis=int(axis))


# --------------------------------------------------------------- samples ---

def _scan_samples(rng):
    return [((rng.normal(size=(5,)),), {"axis": 0}),
            ((rng.normal(size=(2, 3)),), {"axis": 1}),
            ((rng.normal(size=(4, 2)),), {"axis": 0}),
            ((rng.normal(size=(1,)),), {"axis": 0})]


def _cumprod_samples(rng):
    zeros = rng.normal(size=(2, 5))
    zeros[0, 1] = zeros[1, 3] = zeros[1, 4] = 0.0      # exact zeros: no division
    return _scan_samples(rng) + [((zeros,), {"axis": 1})]


cumprod_p.samples = _cumprod_samples
for _p in (cummax_p, cummin_p, argsort_p):
    _p.samples = _scan_samples
