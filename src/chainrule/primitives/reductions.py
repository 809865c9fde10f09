"""Reductions and scans: sum, max, min, prod, argmax, argmin, cumsum.

``axes`` is always a tuple of non-negative axes; ``chainrule.numpy`` turns
NumPy's ``axis``/``keepdims`` into it. A reduction's cotangent is broadcast
back over the reduced axes: a sum copies it (add distributes), a max routes
it to the winners.
"""

from __future__ import annotations

import numpy as np

from ..batching import batch_unary_axes
from ..core import Primitive, ShapedArray
from ._helpers import defzero, normalize_axis
from .elementwise import as_dtype, eq, ne, select
from .shape import broadcast_in_dim


def _check_axes(name, x, axes):
    for a in axes:
        if not 0 <= a < x.ndim:
            raise ValueError(f"{name}: axis {a} is out of bounds for an array of "
                             f"dimension {x.ndim} (shape {tuple(x.shape)})")
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: repeated axis in {axes}")


def _reduced_aval(name, x, axes, dtype=None):
    _check_axes(name, x, axes)
    shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
    return ShapedArray(shape, np.dtype(dtype or x.dtype))


def expand_reduced(y, shape, axes):
    """Broadcast a reduced value back to the shape it was reduced from."""
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    return broadcast_in_dim(y, tuple(shape), kept)


def _reduction(name, impl):
    prim = Primitive(name)
    prim.impl = lambda x, *, axes: np.asarray(impl(x, axis=axes))
    prim.abstract_eval = lambda x, *, axes: _reduced_aval(name, x, axes)
    return prim


reduce_sum_p = _reduction("reduce_sum", np.sum)
reduce_sum_p.jvp = lambda primals, tangents, out, *, axes: reduce_sum(tangents[0], axes)
reduce_sum_p.vjp = lambda ct, out, x, *, wants, axes: (expand_reduced(ct, np.shape(x), axes),)


def _routes(out, x, axes):
    """Where the extremum came from, with ties sharing equally."""
    mask = as_dtype(eq(x, expand_reduced(out, np.shape(x), axes)), out.dtype)
    return mask / expand_reduced(reduce_sum(mask, axes), np.shape(x), axes)


def _extremum(name, impl):
    prim = _reduction(name, impl)

    def abstract_eval(x, *, axes):
        if x.size == 0 and any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{name}: zero-size array to reduction operation "
                             f"(shape {tuple(x.shape)}, axes {axes}) has no identity")
        return _reduced_aval(name, x, axes)

    prim.abstract_eval = abstract_eval
    prim.jvp = lambda primals, tangents, out, *, axes: reduce_sum(
        tangents[0] * _routes(out, primals[0], axes), axes)
    prim.vjp = lambda ct, out, x, *, wants, axes: (
        expand_reduced(ct, np.shape(x), axes) * _routes(out, x, axes),)
    return prim


reduce_max_p = _extremum("reduce_max", np.max)
reduce_min_p = _extremum("reduce_min", np.min)

reduce_prod_p = _reduction("reduce_prod", np.prod)


def _prod_partial(out, x, axes):
    """d prod / d x_i = product of the others, computed without dividing by 0.

    With no zero in a group it is prod / x_i; with exactly one zero, only the
    zero's position gets the product of the others; with two or more, all 0.
    """
    shape = np.shape(x)
    nonzero = ne(x, np.zeros((), x.dtype))
    safe = select(nonzero, x, np.ones((), x.dtype))
    safe_prod = expand_reduced(reduce_prod(safe, axes), shape, axes)
    zeros = expand_reduced(reduce_sum(as_dtype(nonzero, np.int64), axes), shape, axes)
    n = np.prod([shape[a] for a in axes], dtype=np.int64)
    no_zero = eq(zeros, n)
    one_zero = eq(zeros, n - 1)
    zero = np.zeros((), x.dtype)
    return select(no_zero, safe_prod / safe,
                  select(one_zero, select(nonzero, zero, safe_prod), zero))


reduce_prod_p.jvp = lambda primals, tangents, out, *, axes: reduce_sum(
    tangents[0] * _prod_partial(out, primals[0], axes), axes)
reduce_prod_p.vjp = lambda ct, out, x, *, wants, axes: (
    expand_reduced(ct, np.shape(x), axes) * _prod_partial(out, x, axes),)


def _arg_extremum(name, impl):
    prim = Primitive(name)
    prim.impl = lambda x, *, axis, index_dtype: np.asarray(impl(x, axis=axis)).astype(index_dtype)

    def abstract_eval(x, *, axis, index_dtype):
        axis = normalize_axis(name, axis, x.ndim)
        if x.shape[axis] == 0:
            raise ValueError(f"{name}: attempt to get {name} of an empty sequence")
        return ShapedArray(tuple(n for i, n in enumerate(x.shape) if i != axis),
                           np.dtype(index_dtype))

    prim.abstract_eval = abstract_eval
    defzero(prim)
    return prim


argmax_p = _arg_extremum("argmax", np.argmax)
argmin_p = _arg_extremum("argmin", np.argmin)


def _cumsum_impl(x, *, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    return np.cumsum(x, axis=axis)


cumsum_p = Primitive("cumsum")
cumsum_p.impl = _cumsum_impl


def _cumsum_aval(x, *, axis, reverse):
    normalize_axis("cumsum", axis, x.ndim)
    return ShapedArray(tuple(x.shape), np.dtype(x.dtype))


cumsum_p.abstract_eval = _cumsum_aval
cumsum_p.jvp = lambda primals, tangents, out, *, axis, reverse: cumsum(
    tangents[0], axis, reverse)
# the transpose of a running sum is a running sum from the other end
cumsum_p.vjp = lambda ct, out, x, *, wants, axis, reverse: (cumsum(ct, axis, not reverse),)


# ------------------------------------------------------------ batching ---

_shift_axes = batch_unary_axes(lambda *, axes: {"axes": tuple(a + 1 for a in axes)})
for _p in (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p):
    _p.batch = _shift_axes(_p)
for _p in (argmax_p, argmin_p):
    _p.batch = batch_unary_axes(lambda *, axis, index_dtype: {
        "axis": axis + 1 if axis >= 0 else axis, "index_dtype": index_dtype})(_p)
cumsum_p.batch = batch_unary_axes(lambda *, axis, reverse: {
    "axis": axis + 1 if axis >= 0 else axis, "reverse": reverse})(cumsum_p)


# ------------------------------------------------------ functions to call ---

def reduce_sum(x, axes):
    return reduce_sum_p.bind(x, axes=tuple(axes)) if axes else x


def reduce_max(x, axes):
    return reduce_max_p.bind(x, axes=tuple(axes)) if axes else x


def reduce_min(x, axes):
    return reduce_min_p.bind(x, axes=tuple(axes)) if axes else x


def reduce_prod(x, axes):
    return reduce_prod_p.bind(x, axes=tuple(axes)) if axes else x


def argmax(x, axis, index_dtype=np.int64):
    return argmax_p.bind(x, axis=axis, index_dtype=np.dtype(index_dtype))


def argmin(x, axis, index_dtype=np.int64):
    return argmin_p.bind(x, axis=axis, index_dtype=np.dtype(index_dtype))


def cumsum(x, axis, reverse=False):
    return cumsum_p.bind(x, axis=axis, reverse=bool(reverse))


# ---------------------------------------------------------------- samples ---

def _reduce_samples(rng):
    return [((rng.normal(size=(3,)),), {"axes": (0,)}),
            ((rng.normal(size=(2, 3)),), {"axes": (1,)}),
            ((rng.normal(size=(2, 3, 4)),), {"axes": (0, 2)}),
            ((rng.normal(size=(2, 3)),), {"axes": (0, 1)})]


for _p in (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p):
    _p.samples = _reduce_samples
for _p in (argmax_p, argmin_p):
    _p.samples = lambda rng: [((rng.normal(size=(2, 3)),),
                               {"axis": 1, "index_dtype": np.dtype(np.int64)})]
cumsum_p.samples = lambda rng: [((rng.normal(size=(2, 3)),), {"axis": 1, "reverse": False}),
                                ((rng.normal(size=(4,)),), {"axis": 0, "reverse": True})]
