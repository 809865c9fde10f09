"""NumPy names that ``jax.numpy`` offers too (issue 13): shape helpers
(``rot90``, ``append``, ``r_``/``c_``, ...), selection (``select``,
``partition``), finite differences (``gradient``), polynomials, windows, and
aliases. All are compositions of differentiable ops, so every transform
applies; those whose result shape depends on values (set operations, ...)
need concrete inputs, as in JAX without ``size=``."""

from __future__ import annotations

import builtins

import numpy as np

from . import _reductions as r
from . import _shape as s
from . import _sorting as so
from . import _ufuncs as u
from ._promote import asarray, cast, float_dtype, promote


def _norm_axis(axis, ndim, name):
    if not -ndim <= axis < builtins.max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of bounds for an array of dimension "
                         f"{ndim}")
    return axis % builtins.max(ndim, 1)


def _sl(ndim, axis, sl):
    return (slice(None),) * axis + (sl,) + (slice(None),) * (ndim - axis - 1)


# ---------------------------------------------------------- aliases ---
acos, acosh, asin, asinh = u.arccos, u.arccosh, u.arcsin, u.arcsinh
atan, atanh, atan2, pow = u.arctan, u.arctanh, u.arctan2, u.power  # noqa: A001
concat = s.concatenate


def fabs(x, /):
    """``|x|`` for real arrays, in floating point (NumPy's ``fabs``)."""
    x = asarray(x, "fabs")
    if x.dtype.kind == "c":
        raise TypeError("fabs: complex input is not supported (use abs)")
    return u.absolute(cast(x, float_dtype(x.dtype)))


def isposinf(x, /):
    x = asarray(x, "isposinf")
    return u.logical_and(u.isinf(x), u.greater(x, 0))


def isneginf(x, /):
    x = asarray(x, "isneginf")
    return u.logical_and(u.isinf(x), u.less(x, 0))


def modf(x, /):
    """``(fractional part, integral part)``, both with ``x``'s sign."""
    x = asarray(x, "modf")
    x = cast(x, float_dtype(x.dtype))
    i = u.trunc(x)
    return u.subtract(x, i), i


def divmod(x1, x2, /):  # noqa: A001
    return u.floor_divide(x1, x2), u.remainder(x1, x2)


def ldexp(x1, x2, /):
    """``x1 * 2**x2`` (``x2`` integer)."""
    x1 = asarray(x1, "ldexp")
    x1 = cast(x1, float_dtype(x1.dtype))
    return u.multiply(x1, cast(u.exp2(cast(asarray(x2), x1.dtype)), x1.dtype))


def real_if_close(a, tol=100):
    """``a.real`` if every imaginary part is within ``tol`` machine epsilons
    of zero (needs a concrete array: the result's dtype depends on it)."""
    a = asarray(a, "real_if_close")
    if a.dtype.kind != "c":
        return a
    from ..core import Tracer
    if isinstance(a, Tracer):
        raise TypeError("real_if_close: the result's dtype depends on the values, so it "
                        "needs a concrete array (not one traced by jit/grad/vmap)")
    eps = np.finfo(a.dtype).eps
    if np.all(np.abs(np.imag(a)) < (tol * eps if tol > 1 else tol)):
        from ._complex import real
        return real(a)
    return a


def copy(a, order=None):
    a = asarray(a, "copy")
    from ..core import Tracer
    return a if isinstance(a, Tracer) else np.array(a, copy=True)


def empty_like(prototype, dtype=None, shape=None):
    from . import zeros, zeros_like
    if shape is None:
        return zeros_like(prototype, dtype=dtype)
    return zeros(shape, dtype or asarray(prototype).dtype)


# ----------------------------------------------------------- shapes ---


def rot90(m, k=1, axes=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (from the
    first axis towards the second, as NumPy)."""
    m = asarray(m, "rot90")
    if len(axes) != 2:
        raise ValueError("rot90: axes must name two axes")
    a0, a1 = (_norm_axis(int(a), np.ndim(m), "rot90") for a in axes)
    if a0 == a1:
        raise ValueError("rot90: the two axes must differ")
    k = int(k) % 4
    if k == 0:
        return m
    if k == 2:
        return s.flip(s.flip(m, a0), a1)
    perm = list(range(np.ndim(m)))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return s.transpose(s.flip(m, a1), perm)
    return s.flip(s.transpose(m, perm), a1)


def append(arr, values, axis=None):
    arr, values = asarray(arr, "append"), asarray(values, "append")
    if axis is None:
        return s.concatenate([s.ravel(arr), s.ravel(values)])
    return s.concatenate([arr, values], axis=axis)


def row_stack(tup):
    return s.vstack(tup)


def array_split(ary, indices_or_sections, axis=0):
    ary = asarray(ary, "array_split")
    axis = _norm_axis(axis, np.ndim(ary), "array_split")
    n = np.shape(ary)[axis]
    if np.ndim(indices_or_sections) == 0:
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError("array_split: number of sections must be larger than 0")
        q, rem = builtins.divmod(n, k)
        sizes = [q + 1] * rem + [q] * (k - rem)
        bounds = np.cumsum([0] + sizes)
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    nd = np.ndim(ary)
    return [ary[_sl(nd, axis, slice(int(a), int(b)))]
            for a, b in zip(bounds[:-1], bounds[1:])]


def hsplit(ary, indices_or_sections):
    return s.split(ary, indices_or_sections, axis=1 if np.ndim(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    if np.ndim(ary) < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return s.split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    if np.ndim(ary) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return s.split(ary, indices_or_sections, axis=2)


def rollaxis(a, axis, start=0):
    a = asarray(a, "rollaxis")
    nd = np.ndim(a)
    axis = _norm_axis(axis, nd, "rollaxis")
    start = start + nd if start < 0 else start
    if not 0 <= start <= nd:
        raise ValueError(f"rollaxis: start {start} is out of bounds")
    if axis < start:
        start -= 1
    return s.moveaxis(a, axis, start) if axis != start else a


def matrix_transpose(x, /):
    x = asarray(x, "matrix_transpose")
    if np.ndim(x) < 2:
        raise ValueError("matrix_transpose: needs at least 2 dimensions")
    return s.swapaxes(x, -1, -2)


def unstack(x, /, *, axis=0):
    x = asarray(x, "unstack")
    axis = _norm_axis(axis, np.ndim(x), "unstack")
    return tuple(x[_sl(np.ndim(x), axis, i)] for i in range(np.shape(x)[axis]))


def resize(a, new_shape):
    a = s.ravel(asarray(a, "resize"))
    shape = (int(new_shape),) if np.ndim(new_shape) == 0 else tuple(int(n) for n in new_shape)
    total = int(np.prod(shape, dtype=np.int64))
    n = np.size(a)
    if n == 0 or total == 0:
        from . import zeros
        return zeros(shape, a.dtype)
    reps = -(-total // n)
    return s.reshape(s.tile(a, reps)[:total], shape)


def delete(arr, obj, axis=None):
    arr = asarray(arr, "delete")
    if axis is None:
        arr, axis = s.ravel(arr), 0
    axis = _norm_axis(axis, np.ndim(arr), "delete")
    n = np.shape(arr)[axis]
    drop = np.zeros(n, bool)
    drop[np.arange(n)[obj] if isinstance(obj, slice) else np.asarray(obj, int)] = True
    from ._indexing import take
    return take(arr, np.flatnonzero(~drop), axis=axis)


def insert(arr, obj, values, axis=None):
    arr = asarray(arr, "insert")
    if axis is None:
        arr, axis = s.ravel(arr), 0
    axis = _norm_axis(axis, np.ndim(arr), "insert")
    n = np.shape(arr)[axis]
    idx = np.arange(n + 1)[obj] if isinstance(obj, slice) else np.asarray(obj, int)
    scalar = idx.ndim == 0
    idx = np.where(np.atleast_1d(idx) < 0, np.atleast_1d(idx) + n, np.atleast_1d(idx))
    values = asarray(values, "insert")
    vshape = list(np.shape(arr))
    vshape[axis] = 1 if scalar else len(idx)
    if scalar and np.ndim(values) == np.ndim(arr) - 1:
        values = s.expand_dims(values, axis)
    if scalar and np.ndim(values) == np.ndim(arr):
        vshape[axis] = np.shape(values)[axis]
        idx = np.full(vshape[axis], idx[0])
    values = s.broadcast_to(values, tuple(vshape))
    a, v = promote(arr, values, fname="insert")
    both = s.concatenate([a, v], axis=axis)
    # positions in the result: old elements shift by the number of inserts before them
    order = np.argsort(np.concatenate([np.arange(n), idx - 0.5 + np.arange(len(idx)) * 1e-9]),
                       kind="stable")
    from ._indexing import take
    return take(both, order, axis=axis)


def block(arrays):
    """``np.block``: nested lists of arrays joined, innermost along the last axis."""
    def depth(x):
        return 1 + depth(x[0]) if isinstance(x, list) and x else (1 if isinstance(x, list)
                                                                  else 0)
    d = depth(arrays)

    def rank(x):
        return builtins.max(rank(e) for e in x) if isinstance(x, list) else np.ndim(x)
    nd = builtins.max(rank(arrays), d)

    def join(x, level):
        if not isinstance(x, list):
            x = asarray(x, "block")
            return s.reshape(x, (1,) * (nd - np.ndim(x)) + tuple(np.shape(x)))
        return s.concatenate([join(e, level + 1) for e in x], axis=nd - d + level)
    return join(arrays, 0)


def fromfunction(function, shape, *, dtype=float, **kwargs):
    from . import indices
    return function(*indices(shape, dtype=dtype), **kwargs)


class _Concat:
    def __init__(self, axis, ndmin, name):
        self.axis, self.ndmin, self.name = axis, ndmin, name

    def __getitem__(self, key):
        from . import arange, linspace
        if not isinstance(key, tuple):
            key = (key,)
        axis, ndmin, parts = self.axis, self.ndmin, []
        for item in key:
            if isinstance(item, str):
                spec = [int(t) for t in item.split(",")]
                axis = spec[0]
                if len(spec) > 1:
                    ndmin = spec[1]
                continue
            if isinstance(item, slice):
                step = 1 if item.step is None else item.step
                start = 0 if item.start is None else item.start
                if isinstance(step, complex):
                    a = linspace(start, item.stop, int(abs(step)))
                else:
                    a = arange(start, item.stop, step)
            else:
                a = asarray(item, self.name)
            if np.ndim(a) < ndmin:
                shape = tuple(np.shape(a))
                if self.name == "c_" and np.ndim(a) == 1:
                    a = s.reshape(a, shape + (1,) * (ndmin - 1))
                else:
                    a = s.reshape(a, (1,) * (ndmin - len(shape)) + shape)
            parts.append(a)
        return s.concatenate(parts, axis=axis)


r_ = _Concat(0, 1, "r_")
c_ = _Concat(-1, 2, "c_")


class _Grid:
    def __init__(self, sparse):
        self.sparse = sparse

    def __getitem__(self, key):
        from . import arange, linspace, meshgrid
        single = not isinstance(key, tuple)
        key = (key,) if single else key
        axes = []
        for k in key:
            step = 1 if k.step is None else k.step
            start = 0 if k.start is None else k.start
            axes.append(linspace(start, k.stop, int(abs(step))) if isinstance(step, complex)
                        else arange(start, k.stop, step))
        if single:
            return axes[0]
        out = meshgrid(*axes, indexing="ij", sparse=self.sparse)
        return tuple(out) if self.sparse else s.stack(out)


mgrid, ogrid = _Grid(False), _Grid(True)
s_, index_exp = np.s_, np.index_exp


def ix_(*args):
    out = []
    for i, a in enumerate(args):
        a = asarray(a, "ix_")
        if np.ndim(a) != 1:
            raise ValueError("ix_: cross index must be 1 dimensional")
        shape = [1] * len(args)
        shape[i] = np.shape(a)[0]
        out.append(s.reshape(a, tuple(shape)))
    return tuple(out)


# -------------------------------------------------------- selection ---


def select(condlist, choicelist, default=0):
    """The first choice whose condition holds, elementwise; ``default`` where
    none does (gradients flow to the chosen entries only)."""
    if len(condlist) != len(choicelist):
        raise ValueError("select: condlist and choicelist must have the same length")
    if not condlist:
        raise ValueError("select: condlist must not be empty")
    out = asarray(default, "select")
    for c, v in zip(reversed(condlist), reversed(choicelist)):
        c = asarray(c, "select")
        if c.dtype != np.bool_:
            raise TypeError(f"select: condlist entries must be boolean, got {c.dtype}")
        out = u.where(c, v, out)
    return out


def choose(a, choices, mode="raise"):
    a = asarray(a, "choose")
    choices = [asarray(c, "choose") for c in choices]
    n = len(choices)
    from ..core import Tracer
    if mode == "raise" and not isinstance(a, Tracer) and (np.any(a < 0) or np.any(a >= n)):
        raise ValueError("choose: invalid entry in choice array")
    if mode == "wrap":
        a = u.remainder(a, n)
    elif mode == "clip":
        a = u.clip(a, 0, n - 1)
    out = choices[-1]
    for i in range(n - 2, -1, -1):
        out = u.where(u.equal(a, i), choices[i], out)
    return s.broadcast_to(out, np.broadcast_shapes(np.shape(a), *[np.shape(c) for c in choices]))


def compress(condition, a, axis=None):
    cond = np.asarray(condition, bool)
    a = asarray(a, "compress")
    if axis is None:
        a, axis = s.ravel(a), 0
    from ._indexing import take
    return take(a, np.flatnonzero(cond), axis=axis)


def extract(condition, arr):
    return compress(s.ravel(np.asarray(condition, bool)), s.ravel(asarray(arr)))


def partition(a, kth, axis=-1):
    """Like NumPy's: the ``kth`` element in its sorted place, smaller ones
    before it, larger after (here the whole axis comes out sorted, which is
    one valid answer)."""
    return so.sort(a, axis=axis)


def argpartition(a, kth, axis=-1):
    return so.argsort(a, axis=axis)


def sort_complex(a):
    a = asarray(a, "sort_complex")
    out = so.sort(a) if a.dtype.kind == "c" else so.sort(cast(a, np.result_type(a.dtype,
                                                                               np.complex64)))
    return out


def lexsort(keys, axis=-1):
    keys = [asarray(k, "lexsort") for k in keys]
    from ._indexing import take_along_axis
    order = so.argsort(keys[0], axis=axis, stable=True)
    for k in keys[1:]:
        o = so.argsort(take_along_axis(k, order, axis), axis=axis, stable=True)
        order = take_along_axis(order, o, axis)
    return order


def nanargmax(a, axis=None, keepdims=False):
    a = asarray(a, "nanargmax")
    return r.argmax(u.where(u.isnan(a), -np.inf, a), axis=axis, keepdims=keepdims)


def nanargmin(a, axis=None, keepdims=False):
    a = asarray(a, "nanargmin")
    return r.argmin(u.where(u.isnan(a), np.inf, a), axis=axis, keepdims=keepdims)


def digitize(x, bins, right=False):
    bins = asarray(bins, "digitize")
    b = np.asarray(bins) if not hasattr(bins, "aval") else None
    if b is not None and b.size > 1 and b[0] > b[-1]:   # decreasing bins
        n = b.size
        return u.subtract(n, so.searchsorted(b[::-1], x, side="left" if right else "right"))
    return so.searchsorted(bins, x, side="left" if right else "right")


def isin(element, test_elements, assume_unique=False, invert=False):
    e = asarray(element, "isin")
    t = s.ravel(asarray(test_elements, "isin"))
    hit = r.any(u.equal(s.expand_dims(e, -1), t), axis=-1)
    return u.logical_not(hit) if invert else hit


def _concrete(name, *xs):
    from ..core import Tracer
    if any(isinstance(x, Tracer) for x in xs):
        raise TypeError(f"{name}: the result's shape depends on the values, so it needs "
                        "concrete arrays (not ones traced by jit/grad/vmap)")
    return [np.asarray(x) for x in xs]


def intersect1d(ar1, ar2, assume_unique=False, return_indices=False):
    return np.intersect1d(*_concrete("intersect1d", ar1, ar2), assume_unique=assume_unique,
                          return_indices=return_indices)


def union1d(ar1, ar2):
    return np.union1d(*_concrete("union1d", ar1, ar2))


def setdiff1d(ar1, ar2, assume_unique=False):
    return np.setdiff1d(*_concrete("setdiff1d", ar1, ar2), assume_unique=assume_unique)


def setxor1d(ar1, ar2, assume_unique=False):
    return np.setxor1d(*_concrete("setxor1d", ar1, ar2), assume_unique=assume_unique)


def unique_values(x):
    return so.unique(x)


def unique_counts(x):
    return so.unique(x, return_counts=True)


def unique_inverse(x):
    return so.unique(x, return_inverse=True)


def unique_all(x):
    return so.unique(x, return_index=True, return_inverse=True, return_counts=True)


def bincount(x, weights=None, minlength=0, *, length=None):
    x = asarray(x, "bincount")
    if length is None:
        (xc,) = _concrete("bincount (without length=)", x)
        length = builtins.max(int(xc.max()) + 1 if xc.size else 0, minlength)
    onehot = u.equal(s.expand_dims(x, -1), np.arange(length))
    if weights is None:
        return r.sum(cast(onehot, np.int64), axis=0)
    w = asarray(weights, "bincount")
    return r.sum(u.where(onehot, s.expand_dims(w, -1), 0.0), axis=0)


def trim_zeros(filt, trim="fb"):
    (f,) = _concrete("trim_zeros", filt)
    nz = np.flatnonzero(f)
    if nz.size == 0:
        return filt[:0]
    lo = nz[0] if "f" in trim else 0
    hi = nz[-1] + 1 if "b" in trim else len(f)
    return filt[lo:hi]


def unravel_index(indices, shape):
    idx = asarray(indices, "unravel_index")
    out = []
    for n in reversed(tuple(shape)):
        out.append(u.remainder(idx, n))
        idx = u.floor_divide(idx, n)
    return tuple(reversed(out))


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    out = 0
    for i, n in zip(multi_index, dims):
        i = asarray(i, "ravel_multi_index")
        if mode == "wrap":
            i = u.remainder(i, n)
        elif mode == "clip":
            i = u.clip(i, 0, n - 1)
        out = u.add(u.multiply(out, n), i)
    return out


# ------------------------------------------- differences, windows, ... ---


def gradient(f, *varargs, axis=None, edge_order=1):
    """Second-order central differences inside, one-sided (first or second
    order) at the ends, as NumPy; spacings as scalars or coordinate arrays."""
    f = asarray(f, "gradient")
    f = cast(f, float_dtype(f.dtype))
    nd = np.ndim(f)
    axes = list(range(nd)) if axis is None else [
        _norm_axis(a, nd, "gradient") for a in (axis if isinstance(axis, (tuple, list))
                                                else [axis])]
    if not varargs:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("gradient: invalid number of spacing arguments")
    outs = []
    for ax, h in zip(axes, spacing):
        n = np.shape(f)[ax]
        if n < edge_order + 1:
            raise ValueError("gradient: shape of the array too small to calculate a "
                             "numerical gradient; at least (edge_order + 1) elements are "
                             "required")

        def at(sl, ax=ax):
            return f[_sl(nd, ax, sl)]

        shape = [1] * nd
        if np.ndim(h) == 0:
            h = float(h) if not hasattr(h, "aval") else h
            mid = u.divide(u.subtract(at(slice(2, None)), at(slice(None, -2))), u.multiply(2.0, h))
            if edge_order == 1:
                first = u.divide(u.subtract(at(slice(1, 2)), at(slice(0, 1))), h)
                last = u.divide(u.subtract(at(slice(-1, None)), at(slice(-2, -1))), h)
            else:
                first = u.divide(u.add(u.add(u.multiply(-1.5, at(slice(0, 1))),
                                             u.multiply(2.0, at(slice(1, 2)))),
                                       u.multiply(-0.5, at(slice(2, 3)))), h)
                last = u.divide(u.add(u.add(u.multiply(0.5, at(slice(-3, -2))),
                                            u.multiply(-2.0, at(slice(-2, -1)))),
                                      u.multiply(1.5, at(slice(-1, None)))), h)
        else:
            x = asarray(h, "gradient")
            if np.ndim(x) != 1 or np.shape(x)[0] != n:
                raise ValueError("gradient: a coordinate array must match the axis length")
            shape[ax] = -1
            dx = s.reshape(s.ravel(u.subtract(x[1:], x[:-1])), tuple(
                d if i != ax else n - 1 for i, d in enumerate([1] * nd)))
            h1 = dx[_sl(nd, ax, slice(None, -1))]
            h2 = dx[_sl(nd, ax, slice(1, None))]
            a = u.divide(u.negative(h2), u.multiply(h1, u.add(h1, h2)))
            b = u.divide(u.subtract(h2, h1), u.multiply(h1, h2))
            c = u.divide(h1, u.multiply(h2, u.add(h1, h2)))
            mid = u.add(u.add(u.multiply(a, at(slice(None, -2))), u.multiply(b, at(slice(1, -1)))),
                        u.multiply(c, at(slice(2, None))))
            d0, dl = dx[_sl(nd, ax, slice(0, 1))], dx[_sl(nd, ax, slice(-1, None))]
            if edge_order == 1:
                first = u.divide(u.subtract(at(slice(1, 2)), at(slice(0, 1))), d0)
                last = u.divide(u.subtract(at(slice(-1, None)), at(slice(-2, -1))), dl)
            else:
                d1 = dx[_sl(nd, ax, slice(1, 2))]
                a0 = u.divide(u.negative(u.add(u.multiply(2.0, d0), d1)),
                              u.multiply(d0, u.add(d0, d1)))
                b0 = u.divide(u.add(d0, d1), u.multiply(d0, d1))
                c0 = u.divide(u.negative(d0), u.multiply(d1, u.add(d0, d1)))
                first = u.add(u.add(u.multiply(a0, at(slice(0, 1))),
                                    u.multiply(b0, at(slice(1, 2)))),
                              u.multiply(c0, at(slice(2, 3))))
                dm = dx[_sl(nd, ax, slice(-2, -1))]
                al = u.divide(dl, u.multiply(dm, u.add(dm, dl)))
                bl = u.divide(u.negative(u.add(dl, dm)), u.multiply(dm, dl))
                cl = u.divide(u.add(u.multiply(2.0, dl), dm), u.multiply(dl, u.add(dm, dl)))
                last = u.add(u.add(u.multiply(al, at(slice(-3, -2))),
                                   u.multiply(bl, at(slice(-2, -1)))),
                             u.multiply(cl, at(slice(-1, None))))
        outs.append(s.concatenate([first, mid, last], axis=ax) if n > 2 else
                    s.concatenate([first, last], axis=ax))
    return outs[0] if len(outs) == 1 else outs


def _window(M, fn):
    M = int(M)
    if M < 1:
        return np.zeros(0)
    if M == 1:
        return np.ones(1)
    return fn(np.arange(M), M)


def bartlett(M):
    return _window(M, lambda n, M: 1 - np.abs(2 * n / (M - 1) - 1))


def blackman(M):
    return _window(M, lambda n, M: 0.42 - 0.5 * np.cos(2 * np.pi * n / (M - 1))
                   + 0.08 * np.cos(4 * np.pi * n / (M - 1)))


def hamming(M):
    return _window(M, lambda n, M: 0.54 - 0.46 * np.cos(2 * np.pi * n / (M - 1)))


def hanning(M):
    return _window(M, lambda n, M: 0.5 - 0.5 * np.cos(2 * np.pi * n / (M - 1)))


def kaiser(M, beta):
    return np.kaiser(int(M), float(beta))


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    x = asarray(x, "cumulative_sum")
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError("cumulative_sum: axis is required for arrays of more than one "
                             "dimension")
        axis = 0
    out = r.cumsum(x, axis=axis, dtype=dtype)
    if include_initial:
        shape = list(np.shape(out))
        shape[axis % np.ndim(out)] = 1
        out = s.concatenate([np.zeros(shape, out.dtype), out], axis=axis)
    return out


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    x = asarray(x, "cumulative_prod")
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError("cumulative_prod: axis is required for arrays of more than one "
                             "dimension")
        axis = 0
    out = r.cumprod(x, axis=axis, dtype=dtype)
    if include_initial:
        shape = list(np.shape(out))
        shape[axis % np.ndim(out)] = 1
        out = s.concatenate([np.ones(shape, out.dtype), out], axis=axis)
    return out


def nanmedian(a, axis=None, keepdims=False):
    return nanquantile(a, 0.5, axis=axis, keepdims=keepdims)


def nanquantile(a, q, axis=None, method="linear", keepdims=False):
    """Quantiles ignoring NaNs (NaNs sorted last, the count of non-NaN
    entries per slice sets the interpolation positions)."""
    a = asarray(a, "nanquantile")
    a = cast(a, float_dtype(a.dtype))
    if method != "linear":
        raise NotImplementedError("nanquantile: only method='linear' is supported")
    if axis is None:
        a, axis, nd0 = s.ravel(a), 0, np.ndim(a)
    else:
        nd0 = None
    axis = _norm_axis(axis, np.ndim(a), "nanquantile")
    srt = so.sort(a, axis=axis)   # NaNs last
    cnt = r.sum(cast(u.logical_not(u.isnan(a)), srt.dtype), axis=axis, keepdims=True)
    qa = np.asarray(q, dtype=srt.dtype)
    n = np.shape(a)[axis]
    from ._indexing import take_along_axis
    outs = []
    for qq in qa.ravel():
        pos = u.multiply(qq, u.subtract(cnt, 1.0))
        lo = u.clip(u.floor(pos), 0, n - 1)
        hi = u.clip(u.add(lo, 1.0), 0, u.maximum(u.subtract(cnt, 1.0), 0.0))
        frac = u.subtract(pos, lo)
        li, hi_ = cast(lo, np.int64), cast(hi, np.int64)
        vlo, vhi = take_along_axis(srt, li, axis), take_along_axis(srt, hi_, axis)
        v = u.add(vlo, u.multiply(frac, u.subtract(vhi, vlo)))
        v = u.where(u.equal(cnt, 0), np.nan, v)
        if not keepdims:
            v = s.squeeze(v, axis)
        elif nd0 is not None:
            v = s.reshape(v, (1,) * nd0)
        outs.append(v)
    if qa.ndim == 0:
        return outs[0]
    return s.reshape(s.stack(outs), qa.shape + tuple(np.shape(outs[0])))


def nanpercentile(a, q, axis=None, method="linear", keepdims=False):
    return nanquantile(a, np.asarray(q) / 100.0, axis=axis, method=method, keepdims=keepdims)


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation (differentiable in ``x`` and ``fp``)."""
    if period is not None:
        raise NotImplementedError("interp: period= is not supported")
    x, xp, fp = asarray(x, "interp"), asarray(xp, "interp"), asarray(fp, "interp")
    dt = float_dtype(np.result_type(x.dtype, xp.dtype, fp.dtype))
    x, xp, fp = cast(x, dt), cast(xp, dt), cast(fp, dt)
    n = np.shape(xp)[0]
    i = u.clip(so.searchsorted(xp, x, side="right"), 1, n - 1)
    from ._indexing import take
    x0, x1 = take(xp, u.subtract(i, 1)), take(xp, i)
    y0, y1 = take(fp, u.subtract(i, 1)), take(fp, i)
    dx = u.subtract(x1, x0)
    t = u.divide(u.subtract(x, x0), u.where(u.equal(dx, 0), 1.0, dx))
    y = u.add(y0, u.multiply(t, u.subtract(y1, y0)))
    y = u.where(u.less(x, xp[0]), fp[0] if left is None else left, y)
    y = u.where(u.greater(x, xp[-1]), fp[-1] if right is None else right, y)
    return y


def unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    p = asarray(p, "unwrap")
    p = cast(p, float_dtype(p.dtype))
    nd = np.ndim(p)
    axis = _norm_axis(axis, nd, "unwrap")
    discont = period / 2 if discont is None else discont
    from ._stats import diff
    dd = diff(p, axis=axis)
    half = period / 2
    ddmod = u.subtract(u.remainder(u.add(dd, half), period), half)
    ddmod = u.where(u.logical_and(u.equal(ddmod, -half), u.greater(dd, 0)), half, ddmod)
    corr = u.subtract(ddmod, dd)
    corr = u.where(u.less(u.absolute(dd), discont), 0.0, corr)
    zero = u.multiply(p[_sl(nd, axis, slice(0, 1))], 0.0)
    return u.add(p, s.concatenate([zero, r.cumsum(corr, axis=axis)], axis=axis))


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    from ..api import vmap
    arr = asarray(arr, "apply_along_axis")
    nd = np.ndim(arr)
    axis = _norm_axis(axis, nd, "apply_along_axis")
    f = lambda x: func1d(x, *args, **kwargs)  # noqa: E731
    a = s.moveaxis(arr, axis, -1)
    for _ in range(nd - 1):
        f = vmap(f)
    out = f(a)
    # the function's output axes go where ``axis`` was
    extra = np.ndim(out) - (nd - 1)
    if extra <= 0:
        return out
    return s.moveaxis(out, tuple(range(nd - 1, nd - 1 + extra)),
                      tuple(range(axis, axis + extra)))


def apply_over_axes(func, a, axes):
    a = asarray(a, "apply_over_axes")
    for ax in np.atleast_1d(axes):
        b = func(a, int(ax))
        if np.ndim(b) == np.ndim(a) - 1:
            b = s.expand_dims(b, int(ax))
        a = b
    return a


def piecewise(x, condlist, funclist, *args, **kw):
    x = asarray(x, "piecewise")
    if isinstance(condlist, (list, tuple)):
        conds = [asarray(c) for c in condlist]
    else:
        conds = [asarray(condlist)]
    n = len(conds)
    if len(funclist) == n + 1:
        other = u.logical_not(r.any(s.stack([s.broadcast_to(c, np.shape(x)) for c in conds]),
                                    axis=0))
        conds = conds + [other]
    elif len(funclist) != n:
        raise ValueError(f"piecewise: with {n} condition(s), {n} or {n + 1} functions are "
                         "needed")
    out = u.multiply(x, 0)
    for c, f in zip(conds, funclist):
        v = f(x, *args, **kw) if callable(f) else f
        out = u.where(c, v, out)
    return out


# ---------------------------------------------------------- products ---


def vecdot(x1, x2, /, *, axis=-1):
    from ._complex import conj
    a, b = promote(x1, x2, fname="vecdot")
    if a.dtype.kind == "c":
        a = conj(a)
    return r.sum(u.multiply(a, b), axis=axis)


def matvec(x1, x2, /):
    from ._dot import matmul
    return s.squeeze(matmul(x1, s.expand_dims(asarray(x2), -1)), -1)


def vecmat(x1, x2, /):
    from ._complex import conj
    from ._dot import matmul
    x1 = asarray(x1, "vecmat")
    if x1.dtype.kind == "c":
        x1 = conj(x1)
    return s.squeeze(matmul(s.expand_dims(x1, -2), x2), -2)


# ------------------------------------------------------- polynomials ---


def polyval(p, x):
    """Horner's rule; ``p`` highest power first."""
    p, x = asarray(p, "polyval"), asarray(x, "polyval")
    out = u.multiply(x, 0)
    out = cast(out, np.result_type(p.dtype, x.dtype))
    for k in range(np.shape(p)[0]):
        out = u.add(u.multiply(out, x), p[k])
    return out


def _pad_front(a, n):
    from . import pad
    return pad(a, (n - np.shape(a)[0], 0)) if np.shape(a)[0] < n else a


def polyadd(a1, a2):
    a1, a2 = s.atleast_1d(asarray(a1)), s.atleast_1d(asarray(a2))
    n = builtins.max(np.shape(a1)[0], np.shape(a2)[0])
    return u.add(_pad_front(a1, n), _pad_front(a2, n))


def polysub(a1, a2):
    a1, a2 = s.atleast_1d(asarray(a1)), s.atleast_1d(asarray(a2))
    n = builtins.max(np.shape(a1)[0], np.shape(a2)[0])
    return u.subtract(_pad_front(a1, n), _pad_front(a2, n))


def polymul(a1, a2):
    from ._stats import convolve
    return convolve(s.atleast_1d(asarray(a1)), s.atleast_1d(asarray(a2)))


def polyder(p, m=1):
    p = asarray(p, "polyder")
    for _ in range(int(m)):
        n = np.shape(p)[0] - 1
        if n <= 0:
            return u.multiply(p[:1], 0)
        p = u.multiply(p[:-1], np.arange(n, 0, -1).astype(float_dtype(p.dtype)))
    return p


def polyint(p, m=1, k=None):
    p = asarray(p, "polyint")
    p = cast(p, float_dtype(p.dtype))
    m = int(m)
    ks = np.zeros(m) if k is None else np.broadcast_to(np.asarray(k, float), (m,))
    for i in range(m):
        n = np.shape(p)[0]
        p = s.concatenate([u.divide(p, np.arange(n, 0, -1).astype(p.dtype)),
                           np.asarray([ks[i]], p.dtype)])
    return p


def poly(seq_of_zeros):
    z = asarray(seq_of_zeros, "poly")
    if np.ndim(z) == 2:
        from .linalg import eigvals
        z = eigvals(z)
    out = np.ones(1, np.result_type(z.dtype, np.float64))
    for i in range(np.shape(z)[0]):
        out = u.subtract(s.concatenate([out, np.zeros(1, out.dtype)]),
                         s.concatenate([np.zeros(1, out.dtype), u.multiply(out, z[i])]))
    return out


def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    if full or cov:
        raise NotImplementedError("polyfit: full= and cov= are not supported")
    from .linalg import lstsq
    x, y = asarray(x, "polyfit"), asarray(y, "polyfit")
    dt = float_dtype(np.result_type(x.dtype, y.dtype))
    x, y = cast(x, dt), cast(y, dt)
    from . import vander
    A = vander(x, int(deg) + 1)
    if w is not None:
        w = asarray(w)
        A = u.multiply(A, s.expand_dims(w, -1))
        y = u.multiply(y, w if np.ndim(y) == 1 else s.expand_dims(w, -1))
    scale = u.sqrt(r.sum(u.multiply(A, A), axis=0))
    coef = lstsq(u.divide(A, scale), y, rcond=rcond)[0]
    return u.divide(coef, scale if np.ndim(coef) == 1 else s.expand_dims(scale, -1))


# ------------------------------------------ utilities and dtypes (NumPy's) ---
# Functions that never see traced values (printing, files, dtype queries) are
# NumPy's own.
can_cast, promote_types, isdtype, iterable = (np.can_cast, np.promote_types, np.isdtype,
                                              np.iterable)
get_printoptions, printoptions, set_printoptions = (np.get_printoptions, np.printoptions,
                                                    np.set_printoptions)
load, save, savez = np.load, np.save, np.savez
frombuffer, fromfile, fromiter, fromstring, from_dlpack = (
    np.frombuffer, np.fromfile, np.fromiter, np.fromstring, np.from_dlpack)
mask_indices = np.mask_indices
bool, int_, uint, uint16 = np.bool_, np.int_, np.uint, np.uint16  # noqa: A001
single, double, csingle, cdouble = np.single, np.double, np.csingle, np.cdouble
generic, character, flexible, object_ = np.generic, np.character, np.flexible, np.object_
complexfloating, signedinteger, unsignedinteger = (np.complexfloating, np.signedinteger,
                                                   np.unsignedinteger)


def astype(x, dtype, /, *, copy=False):
    return cast(asarray(x, "astype"), np.dtype(dtype))


def isscalar(element):
    """True for Python/NumPy scalars and for 0-d arrays (as ``jax.numpy``)."""
    if isinstance(element, (builtins.bool, int, float, complex, np.generic)):
        return True
    return hasattr(element, "dtype") and np.ndim(element) == 0


def array_str(a, max_line_width=None, precision=None, suppress_small=None):
    return np.array_str(np.asarray(a), max_line_width, precision, suppress_small)


def array_repr(arr, max_line_width=None, precision=None, suppress_small=None):
    return np.array_repr(np.asarray(arr), max_line_width, precision, suppress_small)


def frexp(x, /):
    """``(mantissa, exponent)`` with ``x = m * 2**e`` and ``0.5 <= |m| < 1``
    (normal numbers; 0, inf and NaN as NumPy)."""
    x = asarray(x, "frexp")
    x = cast(x, float_dtype(x.dtype))
    ax = u.absolute(x)
    ok = u.logical_and(u.isfinite(x), u.not_equal(x, 0))
    safe = u.where(ok, ax, 1.0)
    e = u.add(u.floor(u.log2(safe)), 1.0)
    m = u.divide(x, u.exp2(e))
    # log2 rounding at exact powers of two: renormalise into [0.5, 1)
    big = u.greater_equal(u.absolute(m), 1.0)
    m, e = u.where(big, u.multiply(m, 0.5), m), u.where(big, u.add(e, 1.0), e)
    small = u.less(u.absolute(m), 0.5)
    m, e = u.where(small, u.multiply(m, 2.0), m), u.where(small, u.subtract(e, 1.0), e)
    return u.where(ok, m, x), cast(u.where(ok, e, 0.0), np.int32)


def _int_pair(name, x1, x2):
    a, b = promote(x1, x2, fname=name)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: needs integer arrays, got {a.dtype}")
    return a, b


def gcd(x1, x2, /):
    """Greatest common divisor, elementwise (Euclid's algorithm in a
    ``while_loop``, so it runs under ``jit``)."""
    from ..control_flow import while_loop
    a, b = _int_pair("gcd", x1, x2)
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    a, b = u.absolute(s.broadcast_to(a, shape)), u.absolute(s.broadcast_to(b, shape))

    def body(ab):
        a, b = ab
        nz = u.not_equal(b, 0)
        safe = u.where(nz, b, 1)
        return u.where(nz, b, a), u.where(nz, u.remainder(a, safe), 0)

    return while_loop(lambda ab: r.any(u.not_equal(ab[1], 0)), body, (a, b))[0]


def lcm(x1, x2, /):
    a, b = _int_pair("lcm", x1, x2)
    g = gcd(a, b)
    return u.where(u.equal(g, 0), 0,
                   u.absolute(u.multiply(u.floor_divide(a, u.where(u.equal(g, 0), 1, g)), b)))


def bitwise_count(x, /):
    """The number of 1 bits in ``|x|``, as uint8 (NumPy's)."""
    x = asarray(x, "bitwise_count")
    if x.dtype.kind not in "biu":
        raise TypeError(f"bitwise_count: needs integer arrays, got {x.dtype}")
    if x.dtype.kind == "b":
        return cast(x, np.uint8)
    bits = 8 * x.dtype.itemsize
    v = cast(u.absolute(x), np.dtype(f"uint{bits}")) if x.dtype.kind == "i" else x
    count = cast(u.bitwise_and(v, 1), np.uint8)
    for k in range(1, bits):
        count = u.add(count, cast(u.bitwise_and(u.right_shift(v, k), 1), np.uint8))
    return count


def unpackbits(a, /, axis=None, count=None, bitorder="big"):
    a = asarray(a, "unpackbits")
    if a.dtype != np.uint8:
        raise TypeError(f"unpackbits: needs uint8 input, got {a.dtype}")
    if axis is None:
        a, axis = s.ravel(a), 0
    axis = _norm_axis(axis, np.ndim(a), "unpackbits")
    shifts = np.arange(7, -1, -1, dtype=np.uint8) if bitorder == "big" else np.arange(
        8, dtype=np.uint8)
    b = u.bitwise_and(u.right_shift(s.expand_dims(a, -1), shifts), np.uint8(1))
    b = s.moveaxis(b, -1, axis + 1)
    shape = list(np.shape(a))
    shape[axis] *= 8
    out = s.reshape(b, tuple(shape))
    if count is not None:
        out = out[_sl(np.ndim(out), axis, slice(0, int(count)))]
    return out


def packbits(a, /, axis=None, bitorder="big"):
    a = asarray(a, "packbits")
    if a.dtype.kind not in "biu":
        raise TypeError(f"packbits: needs integer or boolean input, got {a.dtype}")
    if axis is None:
        a, axis = s.ravel(a), 0
    axis = _norm_axis(axis, np.ndim(a), "packbits")
    bits = cast(u.not_equal(a, 0), np.uint8)
    n = np.shape(bits)[axis]
    pad_n = (-n) % 8
    if pad_n:
        from . import pad
        widths = [(0, 0)] * np.ndim(bits)
        widths[axis] = (0, pad_n)
        bits = pad(bits, widths)
    bits = s.moveaxis(bits, axis, -1)
    bits = s.reshape(bits, tuple(np.shape(bits)[:-1]) + (-1, 8))
    shifts = np.arange(7, -1, -1, dtype=np.uint8) if bitorder == "big" else np.arange(
        8, dtype=np.uint8)
    packed = r.sum(u.left_shift(bits, shifts), axis=-1, dtype=np.uint8)
    return s.moveaxis(cast(packed, np.uint8), -1, axis)


def _no_inplace(name, inplace):
    if inplace:
        raise ValueError(f"{name}: arrays here are immutable, so inplace=True cannot work; "
                         f"pass inplace=False and use the returned array (as in jax.numpy)")


def fill_diagonal(a, val, wrap=False, *, inplace=True):
    _no_inplace("fill_diagonal", inplace)
    a = asarray(a, "fill_diagonal")
    if np.ndim(a) < 2:
        raise ValueError("fill_diagonal: array must be at least 2-d")
    shape = np.shape(a)
    if np.ndim(a) > 2 and len(set(shape)) != 1:
        raise ValueError("fill_diagonal: all dimensions of the input must be of equal length")
    n = builtins.min(shape)
    if np.ndim(a) == 2 and wrap and shape[0] > shape[1]:
        flat = np.arange(0, shape[0] * shape[1], shape[1] + 1)
        idx = np.unravel_index(flat, shape)
    else:
        idx = (np.arange(n),) * np.ndim(a)
    vals = s.ravel(asarray(val))
    k = len(idx[0])
    vals = s.tile(vals, -(-k // builtins.max(np.size(vals), 1)))[:k] if np.size(vals) else vals
    return a.at[idx].set(vals) if hasattr(a, "at") else _at(a)[idx].set(vals)


def _at(a):
    from ._at import at
    return at(a)


def put(a, ind, v, mode=None, *, inplace=True):
    _no_inplace("put", inplace)
    a = asarray(a, "put")
    ind = np.asarray(ind).ravel() if not hasattr(ind, "aval") else s.ravel(ind)
    vals = s.ravel(asarray(v))
    k = np.size(ind)
    if np.size(vals) != k:
        vals = s.tile(vals, -(-k // np.size(vals)))[:k]
    n = np.size(a)
    if mode == "wrap":
        ind = u.remainder(ind, n)
    elif mode == "clip":
        ind = u.clip(ind, 0, n - 1)
    flat = _at(s.ravel(a))[ind].set(vals)
    return s.reshape(flat, np.shape(a))


def place(arr, mask, vals, *, inplace=True):
    _no_inplace("place", inplace)
    arr = asarray(arr, "place")
    (m,) = _concrete("place (mask)", mask)
    where_ = np.flatnonzero(np.broadcast_to(m, np.shape(arr)))
    return put(arr, where_, vals, inplace=False)


def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    _no_inplace("put_along_axis", inplace)
    arr = asarray(arr, "put_along_axis")
    nd = np.ndim(arr)
    axis = _norm_axis(axis, nd, "put_along_axis")
    ind = asarray(indices, "put_along_axis")
    shape = np.broadcast_shapes(np.shape(ind), tuple(
        1 if i == axis else n for i, n in enumerate(np.shape(arr))))
    ind = s.broadcast_to(ind, shape)
    grids = list(np.ogrid[tuple(slice(0, n) for n in shape)])
    grids[axis] = ind
    vals = s.broadcast_to(asarray(values), shape)
    return _at(arr)[tuple(grids)].set(vals)


def roots(p, *, strip_zeros=True):
    """Roots of a polynomial (highest power first): eigenvalues of its
    companion matrix (complex)."""
    p = s.atleast_1d(asarray(p, "roots"))
    (pc,) = _concrete("roots", p) if strip_zeros else (None,)
    if strip_zeros:
        nz = np.flatnonzero(pc)
        if nz.size == 0:
            return np.zeros(0, np.complex128)
        trailing = len(pc) - 1 - nz[-1]
        p = p[nz[0]:nz[-1] + 1]
    else:
        trailing = 0
    n = np.shape(p)[0] - 1
    dt = float_dtype(p.dtype)
    p = cast(p, dt)
    if n < 1:
        out = np.zeros(0, np.result_type(dt, np.complex64))
    else:
        from .linalg import eigvals
        first = u.negative(u.divide(p[1:], p[0]))
        comp = s.concatenate([s.reshape(first, (1, n)), np.eye(n - 1, n, dtype=dt)], axis=0)
        out = eigvals(comp)
    if trailing:
        out = s.concatenate([out, np.zeros(trailing, out.dtype)])
    return out


def polydiv(u_, v):
    """Quotient and remainder of polynomial division (``v``'s leading
    coefficient must be nonzero)."""
    num = cast(s.atleast_1d(asarray(u_, "polydiv")), np.float64)
    den = s.atleast_1d(asarray(v, "polydiv"))
    den = cast(den, np.result_type(den.dtype, np.float64))
    m, n = np.shape(num)[0] - 1, np.shape(den)[0] - 1
    if m < n:
        return np.zeros(1, num.dtype), num
    scale = u.divide(1.0, den[0])
    rem = num
    qs = []
    for k in range(m - n + 1):
        d = u.multiply(scale, rem[k])
        qs.append(d)
        from . import pad
        sub = pad(u.multiply(d, den), (k, m - n - k))
        rem = u.subtract(rem, sub)
    q = s.stack(qs)
    rem = rem[m - n + 1:] if n > 0 else np.zeros(1, num.dtype)
    return q, rem


class vectorize:
    """``np.vectorize`` for array functions: ``pyfunc`` on scalars (or core
    shapes given by ``signature``), mapped with ``vmap`` over the broadcast
    batch axes; ``excluded`` names positional/keyword arguments passed as is."""

    def __init__(self, pyfunc, *, excluded=frozenset(), signature=None):
        self.pyfunc, self.excluded, self.signature = pyfunc, set(excluded), signature
        self.__doc__ = getattr(pyfunc, "__doc__", None)

    def __call__(self, *args, **kwargs):
        from ..api import vmap
        pos = [i for i in range(len(args)) if i not in self.excluded]
        kw = {k: v for k, v in kwargs.items() if k not in self.excluded}
        fixed_kw = {k: v for k, v in kwargs.items() if k in self.excluded}
        vals = [asarray(args[i], "vectorize") for i in pos] + [
            asarray(v, "vectorize") for v in kw.values()]
        if self.signature is None:
            cores = [0] * len(vals)
        else:
            ins = self.signature.split("->")[0]
            import re
            groups = re.findall(r"\(([^)]*)\)", ins)
            cores = [len([d for d in g.split(",") if d.strip()]) for g in groups]
            if len(cores) != len(vals):
                raise ValueError("vectorize: the signature names a different number of "
                                 "inputs than were given")
        batch = np.broadcast_shapes(*[np.shape(v)[:np.ndim(v) - c]
                                      for v, c in zip(vals, cores)]) if vals else ()
        vals = [s.broadcast_to(v, batch + tuple(np.shape(v)[np.ndim(v) - c:]))
                for v, c in zip(vals, cores)]
        names = list(kw)

        def f(*vs):
            full = list(args)
            for i, v in zip(pos, vs[:len(pos)]):
                full[i] = v
            kws = dict(fixed_kw, **dict(zip(names, vs[len(pos):])))
            return self.pyfunc(*full, **kws)

        g = f
        for _ in batch:
            g = vmap(g)
        return g(*vals)


# -------------------------------------------------------- histograms ---
# Bin edges need concrete data unless ``range`` is given (as in JAX); counts
# are differentiable in ``weights``.


def histogram_bin_edges(a, bins=10, range=None, weights=None):  # noqa: A002
    a = asarray(a, "histogram_bin_edges")
    if np.ndim(bins) == 1:
        return asarray(bins)
    from ..core import Tracer
    if range is None:
        (ac,) = _concrete("histogram_bin_edges (without range=)", a)
        return np.histogram_bin_edges(ac, bins)
    if isinstance(bins, str):
        raise TypeError("histogram_bin_edges: string bins need concrete data")
    lo, hi = range
    del Tracer
    return np.linspace(float(lo), float(hi), int(bins) + 1)


def _bin_index(x, edges):
    n = np.shape(edges)[0] - 1
    i = u.subtract(so.searchsorted(edges, x, side="right"), 1)
    i = u.where(u.equal(x, edges[-1]), n - 1, i)        # the last bin is closed
    inside = u.logical_and(u.greater_equal(x, edges[0]), u.less_equal(x, edges[-1]))
    return u.clip(i, 0, n - 1), inside


def histogramdd(sample, bins=10, range=None, weights=None, density=None):  # noqa: A002
    sample = asarray(sample, "histogramdd")
    if np.ndim(sample) == 1:
        sample = s.reshape(sample, (-1, 1))
    d = np.shape(sample)[1]
    if np.ndim(bins) == 0 and not isinstance(bins, (list, tuple)):
        bins = [bins] * d
    ranges = [None] * d if range is None else list(range)
    edges = [histogram_bin_edges(sample[:, k], bins[k], ranges[k]) for k in builtins.range(d)]
    flat, ok = 0, True
    for k in builtins.range(d):
        i, inside = _bin_index(sample[:, k], edges[k])
        flat = u.add(u.multiply(flat, np.shape(edges[k])[0] - 1), i)
        ok = u.logical_and(ok, inside)
    sizes = tuple(np.shape(e)[0] - 1 for e in edges)
    w = np.ones(np.shape(sample)[0]) if weights is None else asarray(weights)
    w = u.where(ok, w, 0.0)
    counts = bincount(flat, w, length=int(np.prod(sizes)))
    counts = s.reshape(counts, sizes)
    if density:
        vol = 1.0
        for k, e in enumerate(edges):
            shape = [1] * d
            shape[k] = -1
            vol = u.multiply(vol, s.reshape(u.subtract(e[1:], e[:-1]), tuple(shape)))
        counts = u.divide(counts, u.multiply(r.sum(counts), vol))
    return counts, edges


def histogram(a, bins=10, range=None, weights=None, density=None):  # noqa: A002
    a = s.ravel(asarray(a, "histogram"))
    edges = histogram_bin_edges(a, bins, range)
    counts, _ = histogramdd(s.reshape(a, (-1, 1)), [edges], None,
                            None if weights is None else s.ravel(asarray(weights)), density)
    return counts, edges


def histogram2d(x, y, bins=10, range=None, weights=None, density=None):  # noqa: A002
    if np.ndim(bins) == 1 and np.shape(bins)[0] != 2 or np.ndim(bins) == 0:
        bins = [bins, bins]
    counts, edges = histogramdd(s.stack([asarray(x), asarray(y)], axis=1), bins, range,
                                weights, density)
    return counts, edges[0], edges[1]
