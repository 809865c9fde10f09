"""Shared pieces for declaring primitives: shape rules and rule builders.

These are plain functions. A family file declares each primitive with
``Primitive(name)`` and fills in its rules next to each other, using these
builders where a rule is one line of math.
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, ShapedArray, is_float

# --------------------------------------------------------------- shapes ---


def broadcast_shapes(opname: str, *shapes) -> tuple:
    """NumPy broadcasting of shapes, with an error naming the op."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            f"{opname}: shapes {', '.join(map(str, shapes))} cannot be broadcast "
            "together (NumPy broadcasting: trailing axes must be equal or 1)") from None


def same_dtype(opname: str, *avals) -> np.dtype:
    dtypes = {np.dtype(a.dtype) for a in avals}
    if len(dtypes) > 1:
        names = ", ".join(np.dtype(a.dtype).name for a in avals)
        raise TypeError(f"{opname}: operands must have one dtype, got {names} "
                        "(chainrule.numpy promotes; the primitive does not)")
    return dtypes.pop()


def elementwise_aval(opname: str, *avals, dtype=None) -> ShapedArray:
    shape = broadcast_shapes(opname, *(a.shape for a in avals))
    d = same_dtype(opname, *avals)
    return ShapedArray(shape, np.dtype(dtype) if dtype is not None else d)


def normalize_axis(opname: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ValueError(f"{opname}: axis {axis} is out of bounds for an array of "
                         f"dimension {ndim}")
    return axis % ndim if ndim else 0


# -------------------------------------------------- cotangent plumbing ---


def unbroadcast(ct, shape):
    """Sum ``ct`` down to ``shape``: the VJP of NumPy broadcasting.

    A value broadcast to many places was used many times, so its gradient is
    the sum of the gradients of its copies.
    """
    try:
        ct_shape = ct.shape
    except AttributeError:  # a Python scalar
        ct_shape = np.shape(ct)
    if ct_shape == shape or tuple(ct_shape) == tuple(shape):
        return ct
    from .reductions import reduce_sum
    from .shape import reshape

    lead = len(ct_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and ct_shape[lead + i] != 1)
    summed = reduce_sum(ct, axes) if axes else ct
    return reshape(summed, tuple(shape))


def instantiate(t, aval_like):
    """A tangent that is ``None`` (symbolic zero) becomes real zeros."""
    if t is not None:
        return t
    shape, dtype = np.shape(aval_like), aval_like.dtype
    return np.zeros(shape, dtype)


# ------------------------------------------------------ rule builders ---


def defderiv(prim: Primitive, *partials, nan_safe=False):
    """Rules from local derivatives: ``partials[i](out, *xs) = d out / d x_i``.

    Forward mode multiplies each tangent by its local derivative and sums;
    reverse mode multiplies the upstream cotangent by it (the lectures'
    downstream = upstream * local) and sums over broadcast axes. ``None``
    marks an operand with no derivative.

    ``nan_safe`` (True, or a predicate of the params) marks primitives whose
    local derivative can be infinite or NaN (log, sqrt, division, ...): there
    a zero upstream cotangent gives a zero downstream one instead of
    ``0 * inf = NaN``. That is what makes
    ``where(x > 0, sqrt(x), 0)`` have a finite gradient at ``x <= 0``: the
    branch ``where`` did not choose receives exactly zero.
    """

    def jvp(primals, tangents, out, **params):
        total = None
        for partial, t in zip(partials, tangents):
            if partial is None or t is None:
                continue
            term = t * partial(out, *primals, **params)
            total = term if total is None else total + term
        if total is not None and np.shape(total) != np.shape(out):
            from .shape import broadcast_to
            total = broadcast_to(total, np.shape(out))
        return total

    def downstream(ct, partial, params, out, primals):
        if (type(ct) is np.ndarray and type(partial) is np.ndarray
                and partial.size >= 4096 and partial.shape == ct.shape and partial.dtype == ct.dtype
                and partial.flags.owndata and partial.flags.writeable
                and partial is not out and all(partial is not p for p in primals)):
            # eager, and the local derivative is a temporary this rule made:
            # multiply into it rather than allocate another array
            prod = np.multiply(ct, partial, out=partial)
        else:
            prod = ct * partial
        if nan_safe is True or (nan_safe and nan_safe(**params)):
            from .elementwise import eq, select
            zero = np.zeros((), prod.dtype)
            prod = select(eq(ct, np.zeros((), ct.dtype)), zero, prod)
        return prod

    def vjp(ct, out, *primals, wants, **params):
        if len(partials) == 1:  # the common unary case, without a generator
            local = partials[0](out, *primals, **params)
            return (unbroadcast(downstream(ct, local, params, out, primals), primals[0].shape),)
        return tuple(
            unbroadcast(downstream(ct, partial(out, *primals, **params), params, out, primals),
                        x.shape)
            if want and partial is not None else None
            for partial, x, want in zip(partials, primals, wants))

    prim.jvp, prim.vjp = jvp, vjp


def deflinear(prim: Primitive, transpose):
    """Rules of a linear primitive: forward mode applies it to the tangents;
    reverse mode applies ``transpose(ct, *primals, **params)``."""

    def jvp(primals, tangents, out, **params):
        ts = [instantiate(t, x) for t, x in zip(tangents, primals)]
        return prim.bind(*ts, **params)

    def vjp(ct, out, *primals, wants, **params):
        cts = transpose(ct, *primals, **params)
        return tuple(c if w else None for c, w in zip(cts, wants))

    prim.jvp, prim.vjp = jvp, vjp


def defzero(prim: Primitive):
    """Rules of a primitive whose output has no derivative (comparisons,
    argmax, rounding): zero tangent, no cotangents."""
    prim.jvp = lambda primals, tangents, out, **params: None
    prim.vjp = lambda ct, out, *primals, wants, **params: (None,) * len(primals)


def float_only(opname: str, aval) -> None:
    if not is_float(aval.dtype):
        raise TypeError(f"{opname} needs a floating-point operand, got {aval.dtype}")
