"""Turning user arguments into operands: conversion and NumPy dtype promotion.

Primitives want arrays (or tracers) of one dtype; users pass lists, Python
scalars and mixed dtypes. Promotion follows NumPy 2 (NEP 50): Python scalars
are "weak" and take the dtype of the array they meet.
"""

from __future__ import annotations

import numpy as np

from ..core import Tracer
from ..primitives.elementwise import convert_element_type

_SCALARS = (bool, int, float, complex)


def asarray(x, fname: str = "chainrule.numpy"):
    """An ndarray or a tracer; a clear TypeError for anything else."""
    if isinstance(x, (Tracer, np.ndarray)):
        return x
    if isinstance(x, (np.generic,) + _SCALARS):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        if any(isinstance(e, Tracer) for e in _flat(x)):
            from ._shape import stack
            parts = [asarray(e, fname) for e in x]
            shapes = sorted({tuple(np.shape(p)) for p in parts})
            if len(shapes) > 1:  # the same error as for a ragged list of numbers
                raise TypeError(f"{fname}: could not make an array from a ragged "
                                f"{type(x).__name__} (element shapes {shapes})")
            return stack(parts)
        try:
            arr = np.asarray(x)
        except ValueError as err:
            raise TypeError(f"{fname}: could not make an array from {type(x).__name__} "
                            f"({err})") from None
        return check_dtype(arr, fname)
    if hasattr(x, "__array__"):
        return check_dtype(np.asarray(x), fname)
    raise TypeError(f"{fname}: expected an array, a number or a (nested) list of numbers, "
                    f"got {type(x).__name__}")


def check_dtype(arr: np.ndarray, fname: str) -> np.ndarray:
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{fname}: arrays of dtype {arr.dtype} are not supported "
                        "(booleans, integers, floats and complex numbers are)")
    return arr


def _flat(xs):
    """The leaves of nested lists and tuples."""
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def dtype_or_weak(x):
    """What np.result_type needs: a dtype, or the Python scalar itself (weak)."""
    if isinstance(x, (Tracer, np.ndarray, np.generic)):
        return x.dtype
    if isinstance(x, _SCALARS):
        return x
    return asarray(x).dtype


def result_type(*args):
    return np.result_type(*map(dtype_or_weak, args))


def cast(x, dtype):
    """``x`` as an array or tracer of ``dtype`` (a no-op when it already is)."""
    dtype = np.dtype(dtype)
    if isinstance(x, (Tracer, np.ndarray)):
        return x if x.dtype == dtype else convert_element_type(x, dtype)
    return np.asarray(x, dtype=dtype)


_ARRAYS = (Tracer, np.ndarray)
_WEAK = (int, float)


def _promote_pair(a, b):
    """The common cases without np.result_type: two operands of one dtype,
    or a float array with a Python number (which takes the array's dtype)."""
    a_arr, b_arr = isinstance(a, _ARRAYS), isinstance(b, _ARRAYS)
    if a_arr and b_arr:
        return [a, b] if a.dtype == b.dtype else None
    if a_arr and type(b) in _WEAK and a.dtype.kind in "fc":
        return [a, np.array(b, a.dtype)]
    if b_arr and type(a) in _WEAK and b.dtype.kind in "fc":
        return [np.array(a, b.dtype), b]
    return None


def promote(*args, fname="chainrule.numpy"):
    """Operands of one dtype, following NumPy's promotion."""
    if len(args) == 2:
        fast = _promote_pair(*args)
        if fast is not None:
            return fast
    args = [a if isinstance(a, _SCALARS) else asarray(a, fname) for a in args]
    dtype = result_type(*args)
    return [cast(a, dtype) for a in args]


def float_dtype(dtype) -> np.dtype:
    """The dtype NumPy computes ``exp`` in: floats stay, others become float."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind in "fc" else np.result_type(dtype, np.float16)


def as_float(x, fname: str):
    """``x`` as an array of the dtype NumPy computes ``exp`` in (``float_dtype``)."""
    x = asarray(x, fname)
    return cast(x, float_dtype(x.dtype))


def scalar_like(value, x) -> np.ndarray:
    """A Python number as a 0-d array of ``x``'s dtype, so it does not promote ``x``."""
    return np.asarray(value, x.dtype)


def promote_float(*args, fname="chainrule.numpy"):
    """Promote, then make the result floating point (like np.true_divide)."""
    args = promote(*args, fname=fname)
    dtype = float_dtype(args[0].dtype)
    return [cast(a, dtype) for a in args]


def canonical_axes(axis, ndim, fname):
    """NumPy's ``axis`` argument (None, int or tuple) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{fname}: axis {a} is out of bounds for an array of "
                             f"dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fname}: repeated axis in {axis}")
    return tuple(sorted(out))
