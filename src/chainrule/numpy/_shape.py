"""Array creation and shape manipulation with NumPy's signatures."""

from __future__ import annotations

import builtins

import numpy as np

from ..core import Tracer
from ..primitives import shape as sh
from ._promote import asarray, canonical_axes, cast, promote

# ------------------------------------------------------------- creation ---

def array(object, dtype=None, copy=True):  # noqa: A002
    x = asarray(object, "array")
    if dtype is not None:
        return cast(x, dtype)
    return np.array(x, copy=copy) if isinstance(x, np.ndarray) else x


def zeros(shape, dtype=float):
    return np.zeros(shape, dtype)


def ones(shape, dtype=float):
    return np.ones(shape, dtype)


def full(shape, fill_value, dtype=None):
    if isinstance(fill_value, Tracer):
        return broadcast_to(cast(fill_value, dtype or fill_value.dtype), _shape_tuple(shape))
    return np.full(shape, fill_value, dtype)


def empty(shape, dtype=float):
    return np.zeros(shape, dtype)


def _like_shape_dtype(a, dtype):
    a = asarray(a, "zeros_like")
    return np.shape(a), np.dtype(dtype) if dtype is not None else a.dtype


def zeros_like(a, dtype=None):
    return np.zeros(*_like_shape_dtype(a, dtype))


def ones_like(a, dtype=None):
    return np.ones(*_like_shape_dtype(a, dtype))


def full_like(a, fill_value, dtype=None):
    shape, dt = _like_shape_dtype(a, dtype)
    return full(shape, fill_value, dt)


def eye(N, M=None, k=0, dtype=float):
    return np.eye(N, M, k, dtype=dtype)


identity = lambda n, dtype=float: np.identity(n, dtype)  # noqa: E731
arange = np.arange


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    """Evenly spaced numbers; differentiable in ``start`` and ``stop``."""
    if not isinstance(start, Tracer) and not isinstance(stop, Tracer):
        return np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype)
    start, stop = promote(start, stop, fname="linspace")
    div = (num - 1) if endpoint else num
    steps = np.arange(num, dtype=np.float64) / builtins.max(div, 1)
    out = start + (stop - start) * cast(steps, start.dtype)
    return cast(out, dtype) if dtype is not None else out


def _shape_tuple(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)


# ---------------------------------------------------------- manipulation ---

def shape(a):
    return np.shape(a)


def ndim(a):
    return len(np.shape(a))


def size(a):
    return int(np.prod(np.shape(a), dtype=np.int64))


def reshape(a, newshape=None, order="C", *, shape=None):
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    a = asarray(a, "reshape")
    newshape = _shape_tuple(shape if shape is not None else newshape)
    if newshape.count(-1) > 1:
        raise ValueError("reshape: can only specify one unknown dimension (-1)")
    if -1 in newshape:
        known = int(np.prod([n for n in newshape if n != -1], dtype=np.int64))
        if known == 0 or a.size % known:
            raise ValueError(f"reshape: cannot reshape array of size {a.size} into shape "
                             f"{newshape}")
        newshape = tuple(a.size // known if n == -1 else n for n in newshape)
    return sh.reshape(a, newshape)


def ravel(a):
    a = asarray(a, "ravel")
    return sh.reshape(a, (a.size,))


def transpose(a, axes=None):
    a = asarray(a, "transpose")
    if axes is None:
        axes = tuple(reversed(range(a.ndim)))
    axes = tuple(int(x) % a.ndim if a.ndim else int(x) for x in axes)
    return sh.transpose(a, axes)


def permute_dims(a, axes=None):
    return transpose(a, axes)


def swapaxes(a, axis1, axis2):
    a = asarray(a, "swapaxes")
    perm = list(range(a.ndim))
    i, j = (canonical_axes(ax, a.ndim, "swapaxes")[0] for ax in (axis1, axis2))
    perm[i], perm[j] = perm[j], perm[i]
    return sh.transpose(a, perm)


def moveaxis(a, source, destination):
    a = asarray(a, "moveaxis")
    src = [canonical_axes(s, a.ndim, "moveaxis")[0] for s in np.atleast_1d(source)]
    dst = [canonical_axes(d, a.ndim, "moveaxis")[0] for d in np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same length")
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return sh.transpose(a, order)


def squeeze(a, axis=None):
    a = asarray(a, "squeeze")
    if axis is None:
        axes = tuple(i for i, n in enumerate(a.shape) if n == 1)
    else:
        axes = canonical_axes(axis, a.ndim, "squeeze")
    return sh.squeeze(a, axes)


def expand_dims(a, axis):
    a = asarray(a, "expand_dims")
    n = len(axis) if isinstance(axis, (tuple, list)) else 1
    axes = canonical_axes(axis, a.ndim + n, "expand_dims")
    return sh.expand_dims(a, axes)


def broadcast_to(array, shape):
    x = asarray(array, "broadcast_to")
    shape = _shape_tuple(shape)
    try:
        if tuple(np.broadcast_shapes(np.shape(x), shape)) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {np.shape(x)} to "
                         f"{shape}") from None
    return sh.broadcast_to(x, shape)


def broadcast_arrays(*args):
    args = [asarray(a, "broadcast_arrays") for a in args]
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    return [sh.broadcast_to(a, shape) for a in args]


def broadcast_shapes(*shapes):
    return np.broadcast_shapes(*shapes)


def concatenate(arrays, axis=0, dtype=None):
    arrays = promote(*arrays, fname="concatenate")
    if dtype is not None:
        arrays = [cast(a, dtype) for a in arrays]
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if not arrays[0].ndim:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    axis = canonical_axes(axis, arrays[0].ndim, "concatenate")[0]
    return sh.concatenate(arrays, axis)


def stack(arrays, axis=0):
    arrays = promote(*arrays, fname="stack")
    shapes = {np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got "
                         f"{sorted(shapes)}")
    axis = canonical_axes(axis, arrays[0].ndim + 1, "stack")[0]
    return sh.concatenate([sh.expand_dims(a, (axis,)) for a in arrays], axis)


def atleast_1d(*arys):
    out = [asarray(a) if np.ndim(a) >= 1 else reshape(a, (1,)) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys):
    out = []
    for a in arys:
        a = asarray(a)
        out.append(a if a.ndim >= 2 else reshape(a, (1,) * (2 - a.ndim) + np.shape(a)))
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys):
    out = []
    for a in arys:
        a = asarray(a)
        if a.ndim == 0:
            a = reshape(a, (1, 1, 1))
        elif a.ndim == 1:
            a = reshape(a, (1, a.shape[0], 1))
        elif a.ndim == 2:
            a = reshape(a, a.shape + (1,))
        out.append(a)
    return out[0] if len(out) == 1 else out


def vstack(tup):
    return concatenate([atleast_2d(a) for a in tup], axis=0)


def hstack(tup):
    arrs = [atleast_1d(a) for a in tup]
    return concatenate(arrs, axis=0 if arrs[0].ndim == 1 else 1)


def dstack(tup):
    return concatenate([atleast_3d(a) for a in tup], axis=2)


def column_stack(tup):
    return concatenate([reshape(a, (-1, 1)) if np.ndim(a) < 2 else asarray(a) for a in tup],
                       axis=1)


def split(ary, indices_or_sections, axis=0):
    a = asarray(ary, "split")
    axis = canonical_axes(axis, a.ndim, "split")[0]
    n = a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError("split: array split does not result in an equal division")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step)) if step else [0] * (indices_or_sections + 1)
    else:
        bounds = [0] + [builtins.min(int(i), n) for i in indices_or_sections] + [n]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        start = [0] * a.ndim
        limit = list(a.shape)
        start[axis], limit[axis] = lo, builtins.max(lo, hi)
        out.append(sh.slice_(a, start, limit))
    return out


def flip(m, axis=None):
    m = asarray(m, "flip")
    return sh.rev(m, canonical_axes(axis, m.ndim, "flip"))


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def pad(array, pad_width, mode="constant", constant_values=0):
    """Pad with a constant (zeros are differentiable through ``pad``)."""
    a = asarray(array, "pad")
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} (only 'constant')")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (a.ndim, 2))
    config = [(int(lo), int(hi), 0) for lo, hi in widths]
    out = sh.pad(a, config)
    if isinstance(constant_values, Tracer) or np.any(constant_values != 0):
        from ._ufuncs import where
        inside = sh.pad(np.ones(np.shape(a), bool), config)
        out = where(inside, out, cast(constant_values, a.dtype))
    return out


def tile(A, reps):
    a = asarray(A, "tile")
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    nd = builtins.max(a.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    a = reshape(a, (1,) * (nd - a.ndim) + np.shape(a))
    # broadcast each axis against a new leading copy axis, then merge
    inter = []
    for r, n in zip(reps, np.shape(a)):
        inter += [r, n]
    expanded = sh.broadcast_in_dim(a, inter, tuple(range(1, 2 * nd, 2)))
    return sh.reshape(expanded, tuple(r * n for r, n in zip(reps, np.shape(a))))


def repeat(a, repeats, axis=None):
    a = asarray(a, "repeat")
    if axis is None:
        a, axis = ravel(a), 0
    axis = canonical_axes(axis, a.ndim, "repeat")[0]
    if not isinstance(repeats, (int, np.integer)):
        from ._indexing import take
        idx = np.repeat(np.arange(a.shape[axis]), np.asarray(repeats))
        return take(a, idx, axis=axis)
    shape = list(np.shape(a))
    expanded = sh.broadcast_in_dim(a, shape[:axis + 1] + [int(repeats)] + shape[axis + 1:],
                                   tuple(i for i in range(a.ndim + 1) if i != axis + 1))
    shape[axis] *= int(repeats)
    return sh.reshape(expanded, shape)


def roll(a, shift, axis=None):
    a = asarray(a, "roll")
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), np.shape(a))
    shifts = np.broadcast_to(shift, np.shape(np.atleast_1d(axis)))
    for s, ax in zip(shifts, np.atleast_1d(axis)):
        ax = canonical_axes(int(ax), a.ndim, "roll")[0]
        n = a.shape[ax]
        if n == 0:
            continue
        s = int(s) % n
        if s:
            head, tail = split(a, [n - s], axis=ax)
            a = concatenate([tail, head], axis=ax)
    return a


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """``base ** linspace(start, stop)``; differentiable in ``start``, ``stop``."""
    if not any(isinstance(v, Tracer) for v in (start, stop, base)):
        return np.logspace(start, stop, num, endpoint=endpoint, base=base, dtype=dtype,
                           axis=axis)
    from ._ufuncs import power
    if axis != 0 or np.ndim(start) or np.ndim(stop):
        raise NotImplementedError("logspace: traced start/stop must be scalars (axis=0)")
    out = power(base, linspace(start, stop, num, endpoint=endpoint))
    return cast(out, dtype) if dtype is not None else out


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """Numbers evenly spaced on a log scale from ``start`` to ``stop`` (one
    sign); differentiable in both."""
    if not any(isinstance(v, Tracer) for v in (start, stop)):
        return np.geomspace(start, stop, num, endpoint=endpoint, dtype=dtype, axis=axis)
    from ._ufuncs import absolute, exp, log, sign
    if axis != 0 or np.ndim(start) or np.ndim(stop):
        raise NotImplementedError("geomspace: traced start/stop must be scalars (axis=0)")
    start, stop = promote(start, stop, fname="geomspace")
    out = sign(start) * exp(linspace(log(absolute(start)), log(absolute(stop)), num,
                                     endpoint=endpoint))
    return cast(out, dtype) if dtype is not None else out
