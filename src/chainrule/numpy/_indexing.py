"""NumPy indexing on arrays and tracers: ``x[idx]``, ``take``, ``take_along_axis``.

Basic indexing (ints, slices, ``None``, ``...``) becomes slice / rev /
squeeze / expand_dims, whose transposes are a pad and reshapes, so reverse
mode through ``x[1:-1]`` is cheap. Anything with an integer array becomes one
``gather`` (reverse mode: ``scatter_add``, so repeated indices accumulate).
Boolean masks are turned into integer arrays with ``np.nonzero``, which needs
their values: the output shape depends on them.
"""

from __future__ import annotations

import operator

import numpy as np

from ..core import ConcretizationError, Tracer
from ..primitives.elementwise import add, clamp, rem
from ..primitives.indexing import gather
from ..primitives.shape import expand_dims, reshape, rev, slice_, squeeze
from ._promote import _flat, asarray

_VALID = ("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
          "integer or boolean arrays are valid indices")

# --------------------------------------------------------------- parsing ---


def _entry(item):
    """One element of an index tuple, classified.

    Kinds: ('int', i), ('slice', s), ('newaxis',), ('ellipsis',),
    ('bool', b) for a scalar boolean, ('mask', bool array), ('array', ints).
    """
    if item is None:
        return ("newaxis",)
    if item is Ellipsis:
        return ("ellipsis",)
    if isinstance(item, slice):
        fields = (item.start, item.stop, item.step)
        return ("slice", slice(*(None if v is None else operator.index(v) for v in fields)))
    if isinstance(item, (bool, np.bool_)):
        return ("bool", bool(item))
    if isinstance(item, (int, np.integer)):
        return ("int", int(item))
    if isinstance(item, Tracer):
        kind = np.dtype(item.dtype).kind
        if kind == "b":
            raise ConcretizationError(
                f"indexing with a boolean mask needs concrete values (the output shape "
                f"depends on them), but the mask is a traced value {item.aval.str_short()} "
                f"inside {item._interp.name}. Use chainrule.numpy.where(mask, x, 0) "
                "instead, or pass the mask as a static (non-traced) argument.")
        if kind not in "iu":
            raise IndexError(f"{_VALID}; got a traced {np.dtype(item.dtype).name} value")
        return ("array", item)
    if isinstance(item, list) and any(isinstance(e, Tracer) for e in _flat(item)):
        return _entry(asarray(item, "indexing"))
    arr = np.asarray(item)
    if isinstance(item, (list, tuple)) and arr.size == 0:
        arr = arr.astype(np.intp)  # NumPy: an empty list is an empty integer index
    if arr.dtype.kind == "b":
        return ("bool", bool(arr)) if arr.ndim == 0 else ("mask", arr)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"{_VALID}; got {type(item).__name__} of dtype {arr.dtype}")
    return ("int", int(arr)) if arr.ndim == 0 else ("array", arr)


def _consumes(e) -> int:
    """How many axes of the array an entry indexes."""
    if e[0] in ("int", "slice", "array"):
        return 1
    return e[1].ndim if e[0] == "mask" else 0


def _parse(idx, shape):
    """Entries covering every axis: Ellipsis expanded, masks made integer."""
    items = idx if isinstance(idx, tuple) else (idx,)
    entries = [_entry(item) for item in items]
    ellipses = [i for i, e in enumerate(entries) if e[0] == "ellipsis"]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(map(_consumes, entries))
    if used > len(shape):
        raise IndexError(f"too many indices for an array of shape {tuple(shape)}: the array "
                         f"is {len(shape)}-dimensional, but {used} were indexed")
    fill = [("slice", slice(None))] * (len(shape) - used)
    if ellipses:
        entries[ellipses[0]:ellipses[0] + 1] = fill
    else:
        entries += fill
    out, dim = [], 0
    for e in entries:
        if e[0] == "mask":
            mask = e[1]
            for k, (m, n) in enumerate(zip(mask.shape, shape[dim:], strict=False)):
                if m != n:
                    raise IndexError(
                        f"boolean index did not match the indexed array along axis "
                        f"{dim + k}: the array of shape {tuple(shape)} has size {n} there, "
                        f"the mask of shape {mask.shape} has size {m}")
            out += [("array", nz) for nz in np.nonzero(mask)]
        else:
            out.append(e)
        dim += _consumes(e)
    return out


def _check_int(i, axis, shape):
    n = shape[axis]
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n} "
                         f"(array of shape {tuple(shape)})")
    return i % n


def _check_array(arr, axis, shape):
    """Bounds of a concrete index array; traced ones are checked at run time."""
    if isinstance(arr, np.ndarray) and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        _check_int(lo if lo < -shape[axis] else hi, axis, shape)
    return arr


# -------------------------------------------------------------- getitem ---


def getitem(x, idx):
    """NumPy's ``x[idx]``, differentiable in ``x``."""
    x = asarray(x, "indexing")
    shape = tuple(x.shape)
    entries = _parse(idx, shape)
    if any(e[0] == "array" for e in entries):
        return _advanced(x, shape, entries)
    return _basic(x, shape, entries)


def _basic(x, shape, entries):
    """Ints, slices and new axes: slice, then rev, squeeze and expand_dims."""
    start, limit, stride = [], [], []
    flips, drops, new, empty = [], [], [], []
    dim = pos = 0  # axis of x, axis of the output
    for e in entries:
        if e[0] in ("newaxis", "bool"):
            new.append(pos)
            if e[0] == "bool" and not e[1]:
                empty.append(pos)  # x[False] has a new axis of length 0
            pos += 1
            continue
        if e[0] == "int":
            i = _check_int(e[1], dim, shape)
            start.append(i), limit.append(i + 1), stride.append(1)
            drops.append(dim)
        else:
            r = range(*e[1].indices(shape[dim]))
            if not r:
                start.append(0), limit.append(0), stride.append(1)
            elif r.step > 0:
                start.append(r[0]), limit.append(r[-1] + 1), stride.append(r.step)
            else:  # take the same elements forwards, then reverse them
                start.append(r[-1]), limit.append(r[0] + 1), stride.append(-r.step)
                flips.append(dim)
            pos += 1
        dim += 1
    out = slice_(x, tuple(start), tuple(limit), tuple(stride))
    out = expand_dims(squeeze(rev(out, tuple(flips)), tuple(drops)), tuple(new))
    if empty:
        lim = tuple(0 if d in empty else n for d, n in enumerate(out.shape))
        out = slice_(out, (0,) * len(lim), lim)
    return out


def gather_spec(entries, shape, what="indexing"):
    """Index arrays and the gather/scatter ``spec`` for parsed ``entries``:
    every int becomes a 0-d index array (NumPy treats them alike), slices and
    new axes stay, trailing whole axes are implied."""
    if any(e[0] == "bool" for e in entries):
        raise IndexError(f"{what}: a scalar boolean index combined with array indices is "
                         "not supported; index with a boolean array instead")
    arrays, spec, dim = [], [], 0
    for e in entries:
        if e[0] == "newaxis":
            spec.append(("newaxis",))
            continue
        if e[0] == "slice":
            s = e[1]
            spec.append(("slice", s.start, s.stop, s.step))
        else:
            a = np.asarray(_check_int(e[1], dim, shape)) if e[0] == "int" else e[1]
            spec.append(("array", len(arrays)))
            arrays.append(_check_array(a, dim, shape))
        dim += 1
    while spec and spec[-1] == ("slice", None, None, None):
        spec.pop()
    return arrays, tuple(spec)


def _advanced(x, shape, entries):
    """Anything with an integer array: one gather."""
    arrays, spec = gather_spec(entries, shape)
    return gather(x, arrays, spec)


# ------------------------------------------------------- take & friends ---


def _index_operand(indices, fname):
    ind = indices if isinstance(indices, Tracer) else np.asarray(indices)
    if isinstance(indices, (list, tuple)) and ind.size == 0:
        ind = ind.astype(np.intp)
    if np.dtype(ind.dtype).kind not in "iu":
        raise TypeError(f"{fname}: indices must be integers, got dtype {ind.dtype}")
    return ind


def _axis(axis, ndim, fname):
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fname}: axis {axis} is out of bounds for an array of "
                         f"dimension {ndim}")
    return axis % ndim


def take(a, indices, axis=None, mode=None):
    """``np.take``: elements of ``a`` at ``indices`` along ``axis`` (flattened
    when ``None``). ``mode`` is 'raise' (default), 'wrap' or 'clip'."""
    a = asarray(a, "take")
    ind = _index_operand(indices, "take")
    if axis is None:
        a, axis = reshape(a, (a.size,)), 0
    axis = _axis(int(axis), len(a.shape), "take")
    n = a.shape[axis]
    if mode == "wrap":
        nn = np.asarray(n, ind.dtype)
        ind = np.mod(ind, n) if isinstance(ind, np.ndarray) else rem(add(rem(ind, nn), nn), nn)
    elif mode == "clip":
        lo, hi = np.asarray(0, ind.dtype), np.asarray(max(n - 1, 0), ind.dtype)
        ind = np.clip(ind, lo, hi) if isinstance(ind, np.ndarray) else clamp(ind, lo, hi)
    elif mode not in (None, "raise"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    else:
        _check_array(ind, axis, tuple(a.shape))
    spec = (("slice", None, None, None),) * axis + (("array", 0),)
    return gather(a, [ind], spec)


def take_along_axis(arr, indices, axis):
    """``np.take_along_axis``: ``out[..., j, ...] = arr[..., indices[..., j, ...], ...]``
    along ``axis``; the other axes of ``indices`` broadcast against ``arr``."""
    arr = asarray(arr, "take_along_axis")
    ind = _index_operand(indices, "take_along_axis")
    if axis is None:
        if len(ind.shape) != 1:
            raise ValueError("take_along_axis: with axis=None, indices must be 1-D, got "
                             f"shape {tuple(ind.shape)}")
        arr, axis = reshape(arr, (arr.size,)), 0
    ndim = len(arr.shape)
    if len(ind.shape) != ndim:
        raise ValueError(f"take_along_axis: indices (shape {tuple(ind.shape)}) and arr "
                         f"(shape {tuple(arr.shape)}) must have the same number of "
                         "dimensions")
    axis = _axis(int(axis), ndim, "take_along_axis")
    arrays = []
    for d, n in enumerate(arr.shape):
        if d == axis:
            arrays.append(_check_array(ind, axis, tuple(arr.shape)))
        else:  # an arange along axis d, broadcast against the indices
            arrays.append(np.arange(n).reshape([n if k == d else 1 for k in range(ndim)]))
    return gather(arr, arrays, tuple(("array", d) for d in range(ndim)))
