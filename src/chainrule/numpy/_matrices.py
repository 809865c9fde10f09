"""Structured arrays: diagonals, triangles, grids, cross products, Vandermonde.

Index-only helpers (``tri``, ``triu_indices``, ``indices`` ...) return NumPy
arrays. The others are linear maps of their inputs made of pads, slices,
reshapes and ``where`` with a constant mask, so they differentiate exactly.
"""

from __future__ import annotations

import numpy as np

from ..primitives import shape as sh
from ._promote import asarray, canonical_axes, promote

# ------------------------------------------------------ concrete helpers ---

tri = np.tri
triu_indices, tril_indices = np.triu_indices, np.tril_indices
diag_indices = np.diag_indices


def triu_indices_from(arr, k=0):
    shape = np.shape(arr)
    if len(shape) != 2:
        raise ValueError(f"triu_indices_from: input must be 2-D, got shape {shape}")
    return np.triu_indices(shape[-2], k, shape[-1])


def tril_indices_from(arr, k=0):
    shape = np.shape(arr)
    if len(shape) != 2:
        raise ValueError(f"tril_indices_from: input must be 2-D, got shape {shape}")
    return np.tril_indices(shape[-2], k, shape[-1])


def diag_indices_from(arr):
    shape = np.shape(arr)
    if len(shape) < 2 or len(set(shape)) != 1:
        raise ValueError(f"diag_indices_from: all dimensions must be equal, got {shape}")
    return np.diag_indices(shape[0], len(shape))


def indices(dimensions, dtype=int, sparse=False):
    return np.indices(dimensions, dtype=dtype, sparse=sparse)


# -------------------------------------------------------------- diagonals ---

def diag(v, k=0):
    """1-D ``v``: a square matrix with ``v`` on diagonal ``k`` (a strided pad of
    ``v``, flattened); 2-D ``v``: its ``k``-th diagonal."""
    from ._dot import diagonal
    v = asarray(v, "diag")
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {tuple(v.shape)}")
    k = int(k)
    n = v.shape[0]
    size = n + abs(k)
    if n == 0:
        return np.zeros((size, size), v.dtype)
    start = k if k >= 0 else -k * size
    last = start + (n - 1) * (size + 1)
    flat = sh.pad(v, ((start, size * size - last - 1, size),))
    return sh.reshape(flat, (size, size))


def diagflat(v, k=0):
    from ._shape import ravel
    return diag(ravel(v), k)


def _triangle(m, k, fname, lower):
    from ._ufuncs import where
    m = asarray(m, fname)
    if m.ndim < 2:
        raise ValueError(f"{fname}: input must have at least 2 dimensions, got shape "
                         f"{tuple(m.shape)}")
    rows, cols = m.shape[-2:]
    keep = np.tri(rows, cols, k if lower else k - 1, dtype=bool)
    return where(keep if lower else ~keep, m, np.zeros((), m.dtype))


def tril(m, k=0):
    """Lower triangle (on and below diagonal ``k``) of the last two axes."""
    return _triangle(m, int(k), "tril", True)


def triu(m, k=0):
    """Upper triangle (on and above diagonal ``k``) of the last two axes."""
    return _triangle(m, int(k), "triu", False)


# --------------------------------------------------------------- grids ---

def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate arrays from 1-D coordinate vectors ('xy': Cartesian,
    'ij': matrix indexing), as NumPy; broadcast, so gradients sum back."""
    from ._shape import ravel
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [ravel(asarray(x, "meshgrid")) for x in xi]
    nd = len(xs)
    shape = [x.shape[0] for x in xs]
    if indexing == "xy" and nd > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(xs):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and nd > 1 else i
        one = [1] * nd
        one[axis] = x.shape[0]
        y = sh.reshape(x, tuple(one))
        out.append(y if sparse else sh.broadcast_to(y, tuple(shape)))
    return out


# ------------------------------------------------------------- products ---

def _component(x, i, axis):
    shape = np.shape(x)
    start = [0] * len(shape)
    limit = list(shape)
    start[axis], limit[axis] = i, i + 1
    return sh.squeeze(sh.slice_(x, tuple(start), tuple(limit)), (axis,))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors, giving the z-component, or a
    2- and a 3-vector) along the given axes, broadcasting the others."""
    from ._shape import broadcast_arrays, moveaxis, stack
    a, b = promote(a, b, fname="cross")
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, canonical_axes(axisa, a.ndim, "cross")[0], -1)
    b = moveaxis(b, canonical_axes(axisb, b.ndim, "cross")[0], -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"cross: incompatible dimensions for cross product (dimension "
                         f"must be 2 or 3), got {na} and {nb}")
    a0, a1 = _component(a, 0, a.ndim - 1), _component(a, 1, a.ndim - 1)
    b0, b1 = _component(b, 0, b.ndim - 1), _component(b, 1, b.ndim - 1)
    z = a0 * b1 - a1 * b0
    if na == nb == 2:
        return z
    a2 = _component(a, 2, a.ndim - 1) if na == 3 else None
    b2 = _component(b, 2, b.ndim - 1) if nb == 3 else None
    x = -(a2 * b1) if b2 is None else (a1 * b2 if a2 is None else a1 * b2 - a2 * b1)
    y = a2 * b0 if b2 is None else (-(a0 * b2) if a2 is None else a2 * b0 - a0 * b2)
    out = stack(broadcast_arrays(x, y, z), axis=-1)
    return moveaxis(out, -1, canonical_axes(axisc, out.ndim, "cross")[0])


def vander(x, N=None, increasing=False):
    """Vandermonde matrix: columns are powers of ``x`` (decreasing by default)."""
    from ._shape import stack
    from ._ufuncs import power
    x = asarray(x, "vander")
    if x.ndim != 1:
        raise ValueError(f"vander: x must be 1-D, got shape {tuple(x.shape)}")
    n = x.shape[0] if N is None else int(N)
    powers = range(n) if increasing else range(n - 1, -1, -1)
    if n == 0:
        return np.zeros((x.shape[0], 0), x.dtype)
    return stack([power(x, p) for p in powers], axis=1)
