"""Collectives over named axes (JAX's ``lax.psum`` family), on pytrees.

The axis is the one a ``vmap(f, axis_name=...)`` or ``pmap(f, axis_name=...)``
introduced; ``axis_name`` may be a tuple of names for ``psum``, ``pmean``,
``pmax``, ``pmin``, ``all_gather`` and ``axis_index`` (the axes taken
together, the first name outermost). The primitives and their rules live in
``primitives/collectives.py``.
"""

from __future__ import annotations

import numpy as np

from . import tree_util
from .core import get_aval, is_float
from .primitives import collectives as _c

__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "ppermute",
           "pshuffle", "all_to_all", "axis_index", "axis_size"]


def _names(axis_name):
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)


def axis_size(axis_name) -> int:
    """The number of entries along a named axis (across all processes)."""
    names = _names(axis_name)
    _c.check_bound("axis_size", names)
    env = {a.name: a for a in _c.axis_env.get()}
    return int(np.prod([env[n].total for n in names]))


def _single(op, axis_name):
    names = _names(axis_name)
    if len(names) != 1:
        raise NotImplementedError(f"{op}: one axis name, not a tuple ({axis_name!r})")
    return names[0]


def _reduce(prim, x, axis_name):
    axes = _names(axis_name)
    _c.check_bound(prim.name, axes)
    leaves, tree = tree_util.tree_flatten(x)
    return tree_util.tree_unflatten(tree, list(prim.bind(*leaves, axes=axes)) if leaves else [])


def _cast(leaf, dtype):
    from .numpy import asarray
    return asarray(leaf).astype(dtype)


def psum(x, axis_name):
    """The sum over the named axis, the same on every entry along it
    (booleans count as int64, as in NumPy's ``sum``)."""
    def countable(leaf):
        return _cast(leaf, np.int64) if get_aval(leaf).dtype == np.bool_ else leaf

    return _reduce(_c.psum_p, tree_util.tree_map(countable, x), axis_name)


def pmean(x, axis_name):
    """The mean over the named axis (one reduction, scaled once); integer
    and boolean values average to float64."""
    def floating(leaf):
        return leaf if is_float(get_aval(leaf).dtype) else _cast(leaf, np.float64)

    return _reduce(_c.pmean_p, tree_util.tree_map(floating, x), axis_name)


def pmax(x, axis_name):
    return _reduce(_c.pmax_p, x, axis_name)


def pmin(x, axis_name):
    return _reduce(_c.pmin_p, x, axis_name)


def axis_index(axis_name):
    """This entry's position along the named axis (int32)."""
    names = _names(axis_name)
    _c.check_bound("axis_index", names)
    index = None
    for name in names:
        i = _c.axis_index_p.bind(axis_name=name)
        index = i if index is None else index * axis_size(name) + i
    return index


def all_gather(x, axis_name, *, axis=0, tiled=False):
    """Every entry's ``x`` stacked along a new axis ``axis`` (concatenated
    along ``axis`` with ``tiled=True``), the same on every entry."""
    names = _names(axis_name)
    _c.check_bound("all_gather", names)

    def one(leaf):
        nd = np.ndim(leaf)
        ax = axis % (nd if tiled else nd + 1) if nd or not tiled else axis
        out = leaf
        for name in reversed(names):   # innermost name first: its index varies fastest
            out = _c.all_gather_p.bind(out, axis_name=name, axis=ax, tiled=False,
                                       size=axis_size(name))
        if len(names) > 1:   # (n_outer, n_inner, ...) at ax -> one axis
            from .numpy import reshape, shape
            s = list(shape(out))
            out = reshape(out, s[:ax] + [int(np.prod(s[ax:ax + len(names)]))]
                          + s[ax + len(names):])
        if tiled:
            from .numpy import reshape, shape
            s = list(shape(out))
            out = reshape(out, s[:ax] + [s[ax] * s[ax + 1]] + s[ax + 2:])
        return out

    return tree_util.tree_map(one, x)


def psum_scatter(x, axis_name, *, scatter_dimension=0, tiled=False):
    """``psum`` of ``x``, of which entry ``i`` keeps only part ``i`` along
    ``scatter_dimension`` (that dimension is the axis's size, or with
    ``tiled=True`` a multiple of it)."""
    name = _single("psum_scatter", axis_name)
    _c.check_bound("psum_scatter", (name,))
    return tree_util.tree_map(
        lambda leaf: _c.psum_scatter_p.bind(leaf, axis_name=name,
                                            scatter_dimension=scatter_dimension % np.ndim(leaf),
                                            tiled=tiled, size=axis_size(name)), x)


def ppermute(x, axis_name, perm):
    """Entry ``dst`` receives the ``x`` of entry ``src`` for each ``(src, dst)``
    in ``perm``; entries that receive nothing get zeros."""
    name = _single("ppermute", axis_name)
    _c.check_bound("ppermute", (name,))
    perm = tuple((int(s), int(d)) for s, d in perm)
    srcs, dsts = [s for s, _ in perm], [d for _, d in perm]
    if len(set(srcs)) != len(srcs) or len(set(dsts)) != len(dsts):
        raise ValueError(f"ppermute: perm {list(perm)} sends from or to an entry twice")
    _c._source_of(perm, axis_size(name))
    return tree_util.tree_map(lambda leaf: _c.ppermute_p.bind(leaf, axis_name=name, perm=perm), x)


def pshuffle(x, axis_name, perm):
    """Entry ``i`` receives the ``x`` of entry ``perm[i]``."""
    return ppermute(x, axis_name, [(int(s), d) for d, s in enumerate(perm)])


def all_to_all(x, axis_name, split_axis, concat_axis, *, tiled=False):
    """Entry ``i`` sends part ``j`` of ``x`` along ``split_axis`` to entry
    ``j``, and stacks what it receives along ``concat_axis`` (concatenates,
    with ``tiled=True``)."""
    name = _single("all_to_all", axis_name)
    _c.check_bound("all_to_all", (name,))

    def one(leaf):
        nd = np.ndim(leaf)
        return _c.all_to_all_p.bind(leaf, axis_name=name, split_axis=split_axis % nd,
                                    concat_axis=concat_axis % nd, tiled=tiled,
                                    size=axis_size(name))

    return tree_util.tree_map(one, x)
