"""``lax.map`` and ``lax.associative_scan`` (JAX's semantics), built from
``scan``, ``vmap`` and array ops, so every transform applies to them."""

from __future__ import annotations

import numpy as np

from . import tree_util


def _leading_length(leaves, where):
    if not leaves:
        raise ValueError(f"{where}: needs at least one array to map over")
    lengths = {int(np.shape(x)[0]) if np.ndim(x) else None for x in leaves}
    if None in lengths:
        raise ValueError(f"{where}: every array needs a leading axis to map over, got a "
                         "scalar")
    if len(lengths) != 1:
        raise ValueError(f"{where}: the arrays' leading axes differ: {sorted(lengths)}")
    return lengths.pop()


def map(f, xs, *, batch_size=None):  # noqa: A001
    """``lax.map``: ``f`` applied to each slice of ``xs`` along its leading
    axis (a pytree), results stacked — a ``scan`` that carries nothing. With
    ``batch_size``, ``f`` runs ``vmap``-ed over chunks of that many slices in
    the scan, and once more over the remainder."""
    from . import numpy as jnp
    from .api import vmap
    from .control_flow import scan

    leaves, tree = tree_util.tree_flatten(xs)
    n = _leading_length(leaves, "lax.map")

    def scanned(g, xs):
        return scan(lambda c, x: (c, g(x)), (), xs)[1]

    if batch_size is None:
        return scanned(f, xs)
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"lax.map: batch_size must be a positive integer, got {batch_size!r}")
    bs = int(batch_size)
    nb, rem = divmod(n, bs)
    parts = []
    if nb:
        main = tree_util.tree_map(
            lambda x: jnp.reshape(x[:nb * bs], (nb, bs) + tuple(np.shape(x)[1:])), xs)
        out = scanned(vmap(f), main)
        parts.append(tree_util.tree_map(
            lambda y: jnp.reshape(y, (nb * bs,) + tuple(np.shape(y)[2:])), out))
    if rem:
        parts.append(vmap(f)(tree_util.tree_map(lambda x: x[nb * bs:], xs)))
    if len(parts) == 1:
        return parts[0]
    return tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), *parts)


def _take(x, axis, start, stop, step=1):
    return x[(slice(None),) * axis + (slice(start, stop, step),)]


def associative_scan(fn, elems, reverse=False, axis=0):
    """``lax.associative_scan``: all prefix combinations
    ``fn(...fn(fn(e0, e1), e2)..., ek)`` along ``axis`` of the pytree
    ``elems``, by the parallel odd/even recursion (O(log n) levels of
    vectorised ``fn`` calls). ``fn`` must be associative and work on slices
    (it gets pytrees of arrays shaped like ``elems`` except along ``axis``).
    ``reverse=True`` scans from the end."""
    from . import numpy as jnp

    leaves, tree = tree_util.tree_flatten(elems)
    if not leaves:
        return elems
    leaves = [jnp.asarray(x) for x in leaves]
    ndim = np.ndim(leaves[0])
    if ndim == 0:
        raise ValueError("lax.associative_scan: needs arrays with at least one axis")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"lax.associative_scan: axis {axis} is out of bounds for arrays "
                         f"of dimension {ndim}")
    axis %= ndim
    lengths = {int(np.shape(x)[axis]) for x in leaves}
    if len(lengths) != 1:
        raise ValueError("lax.associative_scan: the arrays' lengths along axis "
                         f"{axis} differ: {sorted(lengths)}")
    if reverse:
        leaves = [jnp.flip(x, axis) for x in leaves]

    def combine(a, b):
        out = fn(tree_util.tree_unflatten(tree, a), tree_util.tree_unflatten(tree, b))
        out_leaves, out_tree = tree_util.tree_flatten(out)
        if out_tree != tree:
            raise TypeError("lax.associative_scan: fn must return the structure of its "
                            f"inputs {tree}, got {out_tree}")
        return [jnp.asarray(o) for o in out_leaves]

    def interleave(a, b):  # a[0], b[0], a[1], b[1], ... (len(a) - len(b) is 0 or 1)
        nb = int(np.shape(b)[axis])
        shape = list(np.shape(b))
        shape[axis] = 2 * nb
        both = jnp.stack([_take(a, axis, 0, nb), b], axis=axis + 1)
        out = jnp.reshape(both, tuple(shape))
        if int(np.shape(a)[axis]) > nb:
            out = jnp.concatenate([out, _take(a, axis, nb, None)], axis=axis)
        return out

    def scan(xs):
        n = int(np.shape(xs[0])[axis])
        if n < 2:
            return xs
        pairs = combine([_take(x, axis, 0, n - 1, 2) for x in xs],
                        [_take(x, axis, 1, None, 2) for x in xs])
        odd = scan(pairs)           # prefixes ending at 1, 3, 5, ...
        if n % 2 == 0:
            even = combine([_take(o, axis, 0, -1) for o in odd],
                           [_take(x, axis, 2, None, 2) for x in xs])
        else:
            even = combine(odd, [_take(x, axis, 2, None, 2) for x in xs])
        even = [jnp.concatenate([_take(x, axis, 0, 1), e], axis=axis)
                for x, e in zip(xs, even)]
        return [interleave(e, o) for e, o in zip(even, odd)]

    out = scan(leaves)
    if reverse:
        out = [jnp.flip(x, axis) for x in out]
    return tree_util.tree_unflatten(tree, out)
