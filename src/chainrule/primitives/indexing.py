"""Indexing primitives: gather (NumPy advanced indexing) and scatter_add.

Both take the index arrays as operands and a static ``spec``: a tuple with
one entry per index position of a NumPy index expression (Ellipsis already
expanded by the caller):

- ``('slice', start, stop, step)``: a slice, fields ``int`` or ``None``;
- ``('array', k)``: the ``k``-th index-array operand (integer dtype);
- ``('newaxis',)``: ``None`` / ``np.newaxis``.

Axes not named by the spec are kept whole, as NumPy does. The two are each
other's transpose: gathering copies values out (a value read twice gets the
sum of both cotangents), scatter_add adds them back in (``np.add.at``).
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, ShapedArray, Tracer
from ._helpers import same_dtype, unbroadcast

# ------------------------------------------------------------ the spec ---


def index_tuple(spec, arrays) -> tuple:
    """The NumPy index that ``spec`` describes, with ``arrays`` filled in."""
    return tuple(slice(*e[1:]) if e[0] == "slice" else None if e[0] == "newaxis"
                 else arrays[e[1]] for e in spec)


def _check_spec(opname, spec, num_arrays):
    seen = []
    for e in spec:
        ok = isinstance(e, tuple) and len(e) >= 1 and (
            (e[0] == "slice" and len(e) == 4 and e[3] != 0
             and all(v is None or isinstance(v, int) for v in e[1:]))
            or (e[0] == "array" and len(e) == 2 and isinstance(e[1], int))
            or (e[0] == "newaxis" and len(e) == 1))
        if not ok:
            raise ValueError(f"{opname}: bad index spec entry {e!r} (expected "
                             "('slice', start, stop, step), ('array', k) or ('newaxis',))")
        if e[0] == "array":
            seen.append(e[1])
    if sorted(seen) != list(range(num_arrays)):
        raise ValueError(f"{opname}: spec {spec} must name each of its {num_arrays} index "
                         "arrays exactly once")


def gather_shape(opname: str, shape, spec, index_avals) -> tuple:
    """The shape of ``x[idx]`` by NumPy's rules.

    Slices and newaxes keep their places. The index arrays broadcast together;
    their shape goes where they stand when they are adjacent in the index, and
    first otherwise (NumPy's rule for advanced indices separated by a slice or
    a newaxis).
    """
    shape = tuple(shape)
    _check_spec(opname, spec, len(index_avals))
    for a in index_avals:
        if np.dtype(a.dtype).kind not in "iu":
            raise TypeError(f"{opname}: index arrays must have an integer dtype, got "
                            f"{np.dtype(a.dtype).name}")
    consumed = sum(e[0] != "newaxis" for e in spec)
    if consumed > len(shape):
        raise IndexError(f"{opname}: too many indices for an array of shape {shape}: "
                         f"{consumed} axes indexed, the array has {len(shape)}")
    try:
        bshape = tuple(np.broadcast_shapes(*(tuple(a.shape) for a in index_avals)))
    except ValueError:
        raise IndexError(f"{opname}: index arrays of shapes "
                         f"{', '.join(str(tuple(a.shape)) for a in index_avals)} cannot be "
                         "broadcast together") from None
    where = [i for i, e in enumerate(spec) if e[0] == "array"]
    adjacent = not where or where == list(range(where[0], where[-1] + 1))
    out, dim, at = [], 0, None
    for e in spec:
        if e[0] == "slice":
            out.append(len(range(*slice(*e[1:]).indices(shape[dim]))))
            dim += 1
        elif e[0] == "newaxis":
            out.append(1)
        else:
            at = len(out) if at is None else at
            dim += 1
    out.extend(shape[dim:])
    if at is not None:
        at = at if adjacent else 0
        out[at:at] = bshape
    return tuple(out)


# --------------------------------------------------------------- gather ---

gather_p = Primitive("gather")


def _gather_impl(x, *arrays, spec):
    return np.asarray(x)[index_tuple(spec, arrays)]


def _gather_aval(x, *arrays, spec):
    return ShapedArray(gather_shape("gather", x.shape, spec, arrays), np.dtype(x.dtype))


def _gather_jvp(primals, tangents, out, *, spec):
    # linear in x; the indices are integers and carry no tangent
    t = tangents[0]
    return None if t is None else gather_p.bind(t, *primals[1:], spec=spec)


def _gather_vjp(ct, out, x, *arrays, wants, spec):
    rest = (None,) * len(arrays)
    if not wants[0]:
        return (None,) + rest
    zeros = np.zeros(np.shape(x), np.dtype(ct.dtype))
    return (scatter_add_p.bind(zeros, ct, *arrays, spec=spec),) + rest


gather_p.impl = _gather_impl
gather_p.abstract_eval = _gather_aval
gather_p.jvp = _gather_jvp
gather_p.vjp = _gather_vjp

# ---------------------------------------------------------- scatter_add ---

scatter_add_p = Primitive("scatter_add")


def _scatter_add_impl(operand, updates, *arrays, spec):
    out = np.array(operand, copy=True)
    np.add.at(out, index_tuple(spec, arrays), updates)
    return out


def scatter_aval(name):
    """The shape rule of every scatter primitive (``name`` for its errors):
    the operand's aval, once ``updates`` broadcast to the indexed shape."""
    def abstract_eval(operand, updates, *arrays, spec):
        dtype = same_dtype(name, operand, updates)
        target = gather_shape(name, operand.shape, spec, arrays)
        try:
            ok = tuple(np.broadcast_shapes(tuple(updates.shape), target)) == target
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{name}: updates of shape {tuple(updates.shape)} do not "
                             f"broadcast to the indexed shape {target} of an operand of "
                             f"shape {tuple(operand.shape)}")
        return ShapedArray(tuple(operand.shape), dtype)
    return abstract_eval


def _scatter_add_jvp(primals, tangents, out, *, spec):
    # linear in (operand, updates)
    operand, updates, *arrays = primals
    t_op, t_up = tangents[:2]
    if t_up is None:
        return t_op
    if t_op is None:
        t_op = np.zeros(np.shape(operand), np.dtype(t_up.dtype))
    return scatter_add_p.bind(t_op, t_up, *arrays, spec=spec)


def _scatter_add_vjp(ct, out, operand, updates, *arrays, wants, spec):
    ct_up = None
    if wants[1]:
        ct_up = unbroadcast(gather_p.bind(ct, *arrays, spec=spec), np.shape(updates))
    return (ct if wants[0] else None, ct_up) + (None,) * len(arrays)


scatter_add_p.impl = _scatter_add_impl
scatter_add_p.abstract_eval = scatter_aval("scatter_add")
scatter_add_p.jvp = _scatter_add_jvp
scatter_add_p.vjp = _scatter_add_vjp

# ------------------------------------------------------------ batching ---
# With only ``x`` batched, a leading full slice keeps the batch axis. When
# the indices are batched too, a leading ``arange(B)`` index array pairs each
# batch element of ``x`` with its own indices; NumPy then puts the batch axis
# first whether or not the advanced indices are adjacent.


def _adjacent(spec):
    pos = [i for i, e in enumerate(spec) if e[0] == "array"]
    return not pos or pos[-1] - pos[0] + 1 == len(pos)


def _batched_indices(axis_size, arrays, dims):
    """Index arrays for the ``arange`` form: batch axis first, unit axes
    inserted so that they broadcast against each other as before."""
    from ..batching import moveaxis
    from .shape import reshape
    rank = max((np.ndim(a) - (d is not None) for a, d in zip(arrays, dims)), default=0)
    out = []
    for a, d in zip(arrays, dims):
        if d is not None:
            a = moveaxis(a, d, 0)
            shape = tuple(np.shape(a))
            a = reshape(a, shape[:1] + (1,) * (rank - len(shape) + 1) + shape[1:])
        out.append(a)
    batch = np.arange(axis_size).reshape((axis_size,) + (1,) * rank)
    return [batch] + out


def _shift_spec(spec, first):
    return (first,) + tuple(("array", e[1] + 1) if e[0] == "array" else e for e in spec)


def _block_perm(spec, index_avals, rank):
    """The arange form puts the advanced-index block first; when the original
    index had it later (adjacent arrays after slices), this permutation takes
    the batched natural layout (B, before, block, after) to the arange
    layout (B, block, before, after). None when no move is needed."""
    kinds = [e[0] for e in spec]
    if "array" not in kinds:
        return None
    at = kinds.index("array")  # output axes made before the index block
    n = kinds.count("array")
    if not at or kinds[at:at + n] != ["array"] * n:
        return None
    nb = len(np.broadcast_shapes(*(a.shape for a in index_avals)))
    return ((0,) + tuple(range(1 + at, 1 + at + nb)) + tuple(range(1, 1 + at))
            + tuple(range(1 + at + nb, 1 + rank)))


def _unbatched_avals(arrays, dims):
    return [ShapedArray(tuple(np.shape(a)[:d]) + tuple(np.shape(a)[d + 1:]) if d is not None
                        else tuple(np.shape(a)), np.dtype(a.dtype)) for a, d in zip(arrays, dims)]


def _gather_batch(axis_size, args, dims, *, spec):
    from ..batching import bdim_to_front
    from .shape import transpose
    (x, *arrays), (xd, *ids) = args, dims
    x = bdim_to_front(x, xd, axis_size)
    if all(d is None for d in ids):
        new = (("slice", None, None, None),) + spec
        out_dim = 0 if _adjacent(new) else max((np.ndim(a) for a in arrays), default=0)
        return gather_p.bind(x, *arrays, spec=new), out_dim
    idx = _batched_indices(axis_size, arrays, ids)
    out = gather_p.bind(x, *idx, spec=_shift_spec(spec, ("array", 0)))
    perm = _block_perm(spec, _unbatched_avals(arrays, ids), np.ndim(out) - 1)
    if perm is not None:
        out = transpose(out, tuple(np.argsort(perm).tolist()))
    return out, 0


def batch_scatter(prim):
    """One batching rule for every scatter: the operand gets the batch axis
    first and an ``arange`` index pairs it with its own indices; the updates
    are laid out the way the arange form indexes (see ``_block_perm``)."""

    def rule(axis_size, args, dims, *, spec):
        from ..batching import bdim_to_front
        from .shape import broadcast_to, reshape, transpose
        (operand, updates, *arrays), (od, ud, *ids) = args, dims
        unbatched = _unbatched_avals(arrays, ids)
        op_shape = tuple(np.shape(operand))
        if od is not None:
            op_shape = op_shape[:od] + op_shape[od + 1:]
        target = gather_shape(prim.name, op_shape, spec, unbatched)
        operand = bdim_to_front(operand, od, axis_size)
        updates = bdim_to_front(updates, ud, axis_size)
        ushape = tuple(np.shape(updates))
        updates = reshape(updates, ushape[:1] + (1,) * (len(target) + 1 - len(ushape))
                          + ushape[1:])
        updates = broadcast_to(updates, (axis_size,) + target)
        perm = _block_perm(spec, unbatched, len(target))
        if perm is not None:
            updates = transpose(updates, perm)
        idx = _batched_indices(axis_size, arrays, ids)
        return prim.bind(operand, updates, *idx, spec=_shift_spec(spec, ("array", 0))), 0

    return rule


gather_p.batch = _gather_batch
scatter_add_p.batch = batch_scatter(scatter_add_p)


# ------------------------------------------------------ functions to call ---


def normalize_spec(spec) -> tuple:
    """The spec with plain Python ints, so that it hashes and prints stably."""
    def entry(e):
        if e[0] == "slice":
            return ("slice",) + tuple(None if v is None else int(v) for v in e[1:])
        if e[0] == "array":
            return ("array", int(e[1]))
        return tuple(e)
    return tuple(entry(tuple(e)) for e in spec)


def _arrays(index_arrays):
    return [a if isinstance(a, (Tracer, np.ndarray)) else np.asarray(a) for a in index_arrays]


def gather(x, index_arrays, spec):
    """``x[idx]`` where ``spec`` describes ``idx`` (see the module docstring)."""
    return gather_p.bind(x, *_arrays(index_arrays), spec=normalize_spec(spec))


def scatter_add(operand, updates, index_arrays, spec):
    """A copy of ``operand`` with ``updates`` added at ``operand[idx]``;
    repeated positions accumulate (``np.add.at``)."""
    return scatter_add_p.bind(operand, updates, *_arrays(index_arrays),
                              spec=normalize_spec(spec))


# ---------------------------------------------------------------- samples ---

_ALL = ("slice", None, None, None)


def _index_samples(rng):
    """(x, index arrays, spec) triples shared by gather and scatter_add."""
    return [
        # 1-D integer array with duplicates and a negative index
        (rng.normal(size=(5,)), (np.array([0, 2, 2, 4, -1]),), (("array", 0),)),
        # 2-D index array on the last axis, after a stepped slice
        (rng.normal(size=(4, 5)), (rng.integers(0, 5, size=(2, 3)),),
         (("slice", 1, 4, 2), ("array", 0))),
        # 2-D index array before a reversing slice and a newaxis
        (rng.normal(size=(4, 3)), (np.array([[3, 0], [0, 1]]),),
         (("array", 0), ("slice", None, None, -1), ("newaxis",))),
        # two index arrays broadcast together, adjacent (shape stays in place)
        (rng.normal(size=(3, 4, 5)), (np.array([[0], [2]]), np.array([1, 3, 3])),
         (_ALL, ("array", 0), ("array", 1))),
        # two index arrays separated by a slice (their shape goes first)
        (rng.normal(size=(3, 4, 2)), (np.array([[0], [2], [2]]), np.array([1, 0])),
         (("array", 0), _ALL, ("array", 1))),
    ]


def _scatter_add_samples(rng):
    out = []
    for x, arrays, spec in _index_samples(rng):
        shape = gather_shape("scatter_add", x.shape, spec,
                             [ShapedArray(a.shape, a.dtype) for a in arrays])
        out.append(((x, rng.normal(size=shape)) + arrays, {"spec": spec}))
    # updates broadcast along the indexed shape
    out.append(((rng.normal(size=(4, 3)), rng.normal(size=(3,)), np.array([1, 1, 0])),
                {"spec": (("array", 0),)}))
    return out


gather_p.samples = lambda rng: [((x,) + arrays, {"spec": spec})
                                for x, arrays, spec in _index_samples(rng)]
scatter_add_p.samples = _scatter_add_samples
