"""Collectives over a named axis (``psum``, ``all_gather``, ``ppermute``, ...)
and the cross-process operations they are built from under ``pmap``.

A collective names an axis; the ``vmap`` (or ``pmap``) that introduced that
name carries it out. Its ``named`` rule rewrites the collective as ordinary
operations over the batch axis (a sum over the batched axis is a ``psum``),
and, under ``pmap``, finishes it across processes with ``process_allreduce``,
``process_allgather``, ``process_alltoallv`` or ``process_reduce_scatter``,
primitives that call the job's communicator (``chainrule.distributed``).
A ``vmap`` over another name treats a collective as elementwise over its own
batch (``batch`` rules). Reverse mode uses the
SPMD transposes (``psum``'s is ``psum``; ``all_gather``'s is
``psum_scatter``), so ``vmap(grad(f))`` and ``grad`` of a summed ``vmap``
agree, and each rank's gradient is that of the sum of every rank's loss.

``named(axis, args, dims, **params) -> (outs, out_dims)`` runs with the
interpreter below the ``vmap`` as the current one; ``axis`` is the
``NamedAxis`` (name, local size, communicator, entries per process).
"""

from __future__ import annotations

import contextvars
from typing import NamedTuple

import numpy as np

from ..batching import batch_loop
from ..core import Primitive, ShapedArray

# ------------------------------------------------------------ named axes ---


class NamedAxis(NamedTuple):
    """An axis a collective can name: ``size`` entries in this process;
    under ``pmap``, ``comm`` is the communicator across processes and
    ``counts[r]`` the entries of rank ``r`` (None: this process is all)."""

    name: object
    size: int
    comm: object = None
    counts: tuple | None = None   # entries per process, under pmap

    @property
    def offset(self) -> int:
        return 0 if self.comm is None else sum(self.counts[:self.comm.rank])

    @property
    def total(self) -> int:
        return self.size if self.comm is None else sum(self.counts)


# The named axes of the vmaps/pmaps being traced, innermost last: a
# collective naming none of them is an error at the user's call.
axis_env: contextvars.ContextVar[tuple] = contextvars.ContextVar("chainrule_axis_env",
                                                                 default=())


def check_bound(op, axes):
    bound = {a.name for a in axis_env.get()}
    missing = [a for a in axes if a not in bound]
    if missing:
        raise NameError(
            f"{op}: unbound axis name {missing[0]!r}. A collective reduces over the axis "
            f"of an enclosing vmap(f, axis_name={missing[0]!r}) or pmap(f, "
            f"axis_name={missing[0]!r}); the names bound here are "
            f"{sorted(map(repr, bound)) or 'none'}.")


# ------------------------------------------------ helpers on the batch ---

def _front(x, d, n):
    from ..batching import bdim_to_front
    return bdim_to_front(x, d, n)


def _cnp():
    from .. import numpy as cnp
    return cnp


def _unbound_impl(name):
    def impl(*args, **params):
        check_bound(name, params.get("axes", (params.get("axis_name"),)))
        raise NameError(f"{name}: no vmap or pmap carried out this collective")
    return impl


def _collective(name, *, multiple_results=False):
    p = Primitive(name, multiple_results=multiple_results)
    p.collective = True
    p.impl = _unbound_impl(name)
    return p


# ------------------------------------------------ psum / pmax / pmin ---
# Multi-operand: one bind per pytree, so that pmap sends one buffer.

psum_p = _collective("psum", multiple_results=True)
pmean_p = _collective("pmean", multiple_results=True)
pmax_p = _collective("pmax", multiple_results=True)
pmin_p = _collective("pmin", multiple_results=True)
_REDUCE = {psum_p: "sum", pmean_p: "mean", pmax_p: "max", pmin_p: "min"}


def _reduce_aval(prim):
    def aval(*avals, axes):
        check_bound(prim.name, axes)
        return [ShapedArray(tuple(a.shape), np.dtype(a.dtype)) for a in avals]
    return aval


def _reduce_named(prim):
    op = _REDUCE[prim]

    def named(axis, args, dims, *, axes):
        cnp = _cnp()
        reduce = {"sum": cnp.sum, "mean": cnp.sum, "max": cnp.max, "min": cnp.min}[op]
        local = []
        for x, d in zip(args, dims):
            if d is not None:
                local.append(reduce(x, axis=d))
            elif op in ("sum", "mean") and axis.size != 1:   # the same on every entry
                local.append(x * axis.size)
            else:
                local.append(x)
        if axis.comm is not None:
            # a mean is the sum across processes, scaled once in its own buffer
            local = process_allreduce(local, op="sum" if op == "mean" else op, comm=axis.comm,
                                      scale=1.0 / axis.total if op == "mean" else 1.0)
        elif op == "mean":
            local = [x / axis.size if axis.size != 1 else x for x in local]
        rest = tuple(a for a in axes if a != axis.name)
        if rest:
            local = prim.bind(*local, axes=rest)
        return list(local), [None] * len(local)
    return named


def _same_dims_batch(prim):
    def batch(axis_size, args, dims, **params):
        return prim.bind(*args, **params), list(dims)
    return batch


def _psum_jvp(primals, tangents, out, *, axes):
    nz = [i for i, t in enumerate(tangents) if t is not None]
    summed = psum_p.bind(*[tangents[i] for i in nz], axes=axes)
    res = [None] * len(primals)
    for i, t in zip(nz, summed):
        res[i] = t
    return res


def _psum_vjp(ct, out, *primals, wants, axes):
    return tuple(psum_p.bind(*ct, axes=axes))


def _pmean_jvp(primals, tangents, out, *, axes):
    nz = [i for i, t in enumerate(tangents) if t is not None]
    means = pmean_p.bind(*[tangents[i] for i in nz], axes=axes)
    res = [None] * len(primals)
    for i, t in zip(nz, means):
        res[i] = t
    return res


def _pmean_vjp(ct, out, *primals, wants, axes):
    return tuple(pmean_p.bind(*ct, axes=axes))


def _extreme_jvp(prim):
    """Tangent of a max/min over the axis: the mean tangent of the entries
    that attain it (ties share, as for ``reduce_max``)."""
    def jvp(primals, tangents, out, *, axes):
        res = []
        for x, t, m in zip(primals, tangents, out):
            if t is None:
                res.append(None)
                continue
            hit = (x == m).astype(t.dtype)
            num, cnt = psum_p.bind(t * hit, hit, axes=axes)
            res.append(num / cnt)
        return res
    return jvp


def _extreme_vjp(prim):
    def vjp(ct, out, *primals, wants, axes):
        res = []
        for x, c, m, w in zip(primals, ct, out, wants):
            if not w:
                res.append(None)
                continue
            hit = (x == m).astype(c.dtype)
            total, cnt = psum_p.bind(c, hit, axes=axes)
            res.append(total * hit / cnt)
        return tuple(res)
    return vjp


for _p in (psum_p, pmean_p, pmax_p, pmin_p):
    _p.abstract_eval = _reduce_aval(_p)
    _p.named = _reduce_named(_p)
    _p.batch = _same_dims_batch(_p)
psum_p.jvp, psum_p.vjp = _psum_jvp, _psum_vjp
pmean_p.jvp, pmean_p.vjp = _pmean_jvp, _pmean_vjp
for _p in (pmax_p, pmin_p):
    _p.jvp, _p.vjp = _extreme_jvp(_p), _extreme_vjp(_p)


# ------------------------------------------------------------ all_gather ---

all_gather_p = _collective("all_gather")


def _all_gather_aval(x, *, axis_name, axis, tiled, size):
    check_bound("all_gather", (axis_name,))
    shape = list(x.shape)
    if not 0 <= axis <= len(shape) - (1 if tiled else 0):
        raise ValueError(f"all_gather: axis={axis} is out of range for an operand of shape "
                         f"{tuple(x.shape)}")
    if tiled:
        shape[axis] *= size
    else:
        shape.insert(axis, size)
    return ShapedArray(tuple(shape), x.dtype)


def _gather_named(ax, args, dims, *, axis_name, axis, tiled, size):
    cnp = _cnp()
    (x,), (d,) = args, dims
    stacked = _front(x, d, ax.size)                 # [n_local, ...]
    if ax.comm is not None:
        stacked = process_allgather(stacked, comm=ax.comm, counts=ax.counts)   # [n_global, ...]
    out = cnp.moveaxis(stacked, 0, axis)
    if tiled:
        shape = list(cnp.shape(out))
        out = cnp.reshape(out, shape[:axis] + [shape[axis] * shape[axis + 1]] + shape[axis + 2:])
    return [out], [None]


def _gather_batch(axis_size, args, dims, *, axis_name, axis, tiled, size):
    (x,), (d,) = args, dims
    out = all_gather_p.bind(_front(x, d, axis_size), axis_name=axis_name, axis=axis + 1,
                            tiled=tiled, size=size)
    return out, 0


def _gather_jvp(primals, tangents, out, **params):
    return all_gather_p.bind(tangents[0], **params)


def _gather_vjp(ct, out, x, *, wants, axis_name, axis, tiled, size):
    return (psum_scatter_p.bind(ct, axis_name=axis_name, scatter_dimension=axis, tiled=tiled,
                                size=size),)


all_gather_p.abstract_eval = _all_gather_aval
all_gather_p.named = _gather_named
all_gather_p.batch = _gather_batch
all_gather_p.jvp = _gather_jvp
all_gather_p.vjp = _gather_vjp

# ---------------------------------------------------------- psum_scatter ---

psum_scatter_p = _collective("psum_scatter")


def _scatter_aval(x, *, axis_name, scatter_dimension, tiled, size):
    check_bound("psum_scatter", (axis_name,))
    shape = list(x.shape)
    sd = scatter_dimension
    if not 0 <= sd < len(shape):
        raise ValueError(f"psum_scatter: scatter_dimension={sd} is out of range for an "
                         f"operand of shape {tuple(x.shape)}")
    if tiled:
        if shape[sd] % size:
            raise ValueError(f"psum_scatter: dimension {sd} of size {shape[sd]} does not "
                             f"split into {size} equal parts (the size of axis {axis_name!r})")
        shape[sd] //= size
    else:
        if shape[sd] != size:
            raise ValueError(f"psum_scatter: dimension {sd} has size {shape[sd]}, but axis "
                             f"{axis_name!r} has size {size} (pass tiled=True to split it)")
        del shape[sd]
    return ShapedArray(tuple(shape), x.dtype)


def _scatter_named(ax, args, dims, *, axis_name, scatter_dimension, tiled, size):
    cnp = _cnp()
    (x,), (d,) = args, dims
    if ax.comm is None:
        (total,), _ = _reduce_named(psum_p)(ax, [x], [d], axes=(axis_name,))
    else:   # the local sum; the sum across processes comes with the scatter
        total = cnp.sum(x, axis=d) if d is not None else x * ax.size if ax.size != 1 else x
    parts = cnp.moveaxis(total, scatter_dimension, 0)
    shape = list(cnp.shape(parts))
    parts = cnp.reshape(parts, [size, shape[0] // size] + shape[1:])
    if not tiled:
        parts = cnp.reshape(parts, [size] + shape[1:])
    else:
        parts = cnp.moveaxis(parts, 1, scatter_dimension + 1)
    if ax.comm is not None:   # one MPI_Reduce_scatter: each rank receives its rows' sums
        parts = process_reduce_scatter(parts, comm=ax.comm, counts=ax.counts)
    return [parts], [0]


def _scatter_batch(axis_size, args, dims, *, axis_name, scatter_dimension, tiled, size):
    (x,), (d,) = args, dims
    return psum_scatter_p.bind(_front(x, d, axis_size), axis_name=axis_name,
                               scatter_dimension=scatter_dimension + 1, tiled=tiled,
                               size=size), 0


def _scatter_jvp(primals, tangents, out, **params):
    return psum_scatter_p.bind(tangents[0], **params)


def _scatter_vjp(ct, out, x, *, wants, axis_name, scatter_dimension, tiled, size):
    return (all_gather_p.bind(ct, axis_name=axis_name, axis=scatter_dimension, tiled=tiled,
                              size=size),)


psum_scatter_p.abstract_eval = _scatter_aval
psum_scatter_p.named = _scatter_named
psum_scatter_p.batch = _scatter_batch
psum_scatter_p.jvp = _scatter_jvp
psum_scatter_p.vjp = _scatter_vjp

# -------------------------------------------------------------- ppermute ---

ppermute_p = _collective("ppermute")


def _ppermute_aval(x, *, axis_name, perm):
    check_bound("ppermute", (axis_name,))
    return ShapedArray(tuple(x.shape), x.dtype)


def _source_of(perm, n):
    """For each destination index its source, or -1 (which receives zeros)."""
    src = np.full(n, -1, dtype=np.int64)
    for s, t in perm:
        if not (0 <= s < n and 0 <= t < n):
            raise ValueError(f"ppermute: pair {(s, t)} is out of range for an axis of size {n}")
        src[t] = s
    return src


def _ppermute_named(ax, args, dims, *, axis_name, perm):
    cnp = _cnp()
    (x,), (d,) = args, dims
    lanes = _front(x, d, ax.size)
    if ax.comm is not None:
        return [_ppermute_across(ax, lanes, perm)], [0]
    src = _source_of(perm, ax.total)
    taken = cnp.take(lanes, np.maximum(src, 0), axis=0)
    keep = (src >= 0).reshape((-1,) + (1,) * (len(cnp.shape(taken)) - 1))
    return [cnp.where(keep, taken, cnp.zeros_like(taken))], [0]


def _ppermute_across(ax, lanes, perm):
    """Each row goes straight to the rank that holds its destination: one
    ``MPI_Alltoallv`` whose counts follow from ``perm`` and the shard sizes,
    known to every rank."""
    cnp = _cnp()
    bounds = np.concatenate([[0], np.cumsum(ax.counts)])
    rank_of = np.searchsorted(bounds, np.arange(ax.total), side="right") - 1
    lo, hi = ax.offset, ax.offset + ax.size
    row = int(np.prod(cnp.shape(lanes)[1:], dtype=np.int64))
    sent = sorted((t, s) for s, t in perm if lo <= s < hi)            # by destination
    send_counts = [row * sum(rank_of[t] == r for t, _ in sent) for r in range(len(ax.counts))]
    received = [t for r in range(len(ax.counts))                       # arrival order
                for t, s in sorted((t, s) for s, t in perm if lo <= t < hi and rank_of[s] == r)]
    recv_counts = [row * sum(rank_of[s] == r for s, t in perm if lo <= t < hi)
                   for r in range(len(ax.counts))]
    send = cnp.reshape(cnp.take(lanes, np.array([s - lo for _, s in sent], dtype=np.int64),
                                axis=0), (-1,))
    got = process_alltoallv(send, comm=ax.comm, send_counts=send_counts,
                            recv_counts=recv_counts)
    if not received:
        return cnp.zeros_like(lanes)
    got = cnp.reshape(got, (len(received),) + tuple(cnp.shape(lanes)[1:]))
    where_from = np.full(ax.size, -1, dtype=np.int64)
    for k, t in enumerate(received):
        where_from[t - lo] = k
    taken = cnp.take(got, np.maximum(where_from, 0), axis=0)
    keep = (where_from >= 0).reshape((-1,) + (1,) * (len(cnp.shape(taken)) - 1))
    return cnp.where(keep, taken, cnp.zeros_like(taken))


def _ppermute_batch(axis_size, args, dims, **params):
    return ppermute_p.bind(args[0], **params), dims[0]


def _ppermute_jvp(primals, tangents, out, **params):
    return ppermute_p.bind(tangents[0], **params)


def _ppermute_vjp(ct, out, x, *, wants, axis_name, perm):
    return (ppermute_p.bind(ct, axis_name=axis_name, perm=tuple((t, s) for s, t in perm)),)


ppermute_p.abstract_eval = _ppermute_aval
ppermute_p.named = _ppermute_named
ppermute_p.batch = _ppermute_batch
ppermute_p.jvp = _ppermute_jvp
ppermute_p.vjp = _ppermute_vjp

# ------------------------------------------------------------ all_to_all ---

all_to_all_p = _collective("all_to_all")


def _a2a_aval(x, *, axis_name, split_axis, concat_axis, tiled, size):
    check_bound("all_to_all", (axis_name,))
    shape = list(x.shape)
    nd = len(shape)
    if not (0 <= split_axis < nd and 0 <= concat_axis < nd):
        raise ValueError(f"all_to_all: split_axis={split_axis} or concat_axis={concat_axis} "
                         f"is out of range for an operand of shape {tuple(x.shape)}")
    if tiled:
        if shape[split_axis] % size:
            raise ValueError(f"all_to_all: split axis of size {shape[split_axis]} does not "
                             f"split into {size} parts (the size of axis {axis_name!r})")
        shape[split_axis] //= size
        shape[concat_axis] *= size
    else:
        if shape[split_axis] != size:
            raise ValueError(f"all_to_all: split axis has size {shape[split_axis]}, but axis "
                             f"{axis_name!r} has size {size} (pass tiled=True to split it)")
        del shape[split_axis]
        shape.insert(concat_axis, size)
    return ShapedArray(tuple(shape), x.dtype)


def _a2a_named(ax, args, dims, *, axis_name, split_axis, concat_axis, tiled, size):
    cnp = _cnp()
    (x,), (d,) = args, dims
    lanes = _front(x, d, ax.size)                       # [i, ...x]
    shape = list(cnp.shape(lanes))
    s = split_axis + 1
    if tiled:   # split axis -> (size, chunk): the chunk index is the destination
        lanes = cnp.reshape(lanes, shape[:s] + [size, shape[s] // size] + shape[s + 1:])
    parts = cnp.moveaxis(lanes, s, 0)                   # [j, i, ...]: part j of entry i
    if ax.comm is not None:
        parts = _a2a_across(ax, parts)                  # [j local, i global, ...]
    out = cnp.moveaxis(parts, 1, concat_axis + 1)       # i where the parts are stacked
    if tiled:
        oshape = list(cnp.shape(out))
        c = concat_axis + 1
        out = cnp.reshape(out, oshape[:c] + [oshape[c] * oshape[c + 1]] + oshape[c + 2:])
    return [out], [0]


def _a2a_across(ax, parts):
    """``parts[j, i]`` (j over all entries, i over this rank's) to
    ``[j over this rank's, i over all]``: the rows for rank r are one
    contiguous block, so one ``MPI_Alltoallv`` of the flattened array."""
    cnp = _cnp()
    shape = list(cnp.shape(parts))
    rest = int(np.prod(shape[2:], dtype=np.int64))
    counts, mine = ax.counts, ax.size
    send_counts = [c * mine * rest for c in counts]
    recv_counts = [mine * c * rest for c in counts]
    got = process_alltoallv(cnp.reshape(parts, (-1,)), comm=ax.comm, send_counts=send_counts,
                            recv_counts=recv_counts)
    blocks, start = [], 0
    for c, n in zip(counts, recv_counts):
        blocks.append(cnp.reshape(got[start:start + n], [mine, c] + shape[2:]))
        start += n
    return cnp.concatenate(blocks, axis=1)


def _a2a_batch(axis_size, args, dims, *, axis_name, split_axis, concat_axis, tiled, size):
    (x,), (d,) = args, dims
    return all_to_all_p.bind(_front(x, d, axis_size), axis_name=axis_name,
                             split_axis=split_axis + 1, concat_axis=concat_axis + 1,
                             tiled=tiled, size=size), 0


def _a2a_jvp(primals, tangents, out, **params):
    return all_to_all_p.bind(tangents[0], **params)


def _a2a_vjp(ct, out, x, *, wants, axis_name, split_axis, concat_axis, tiled, size):
    return (all_to_all_p.bind(ct, axis_name=axis_name, split_axis=concat_axis,
                              concat_axis=split_axis, tiled=tiled, size=size),)


all_to_all_p.abstract_eval = _a2a_aval
all_to_all_p.named = _a2a_named
all_to_all_p.batch = _a2a_batch
all_to_all_p.jvp = _a2a_jvp
all_to_all_p.vjp = _a2a_vjp

# ------------------------------------------------------------ axis_index ---

axis_index_p = _collective("axis_index")


def _axis_index_aval(*, axis_name):
    check_bound("axis_index", (axis_name,))
    return ShapedArray((), np.dtype(np.int32))


def _axis_index_named(ax, args, dims, *, axis_name):
    return [np.arange(ax.offset, ax.offset + ax.size, dtype=np.int32)], [0]


axis_index_p.abstract_eval = _axis_index_aval
axis_index_p.named = _axis_index_named
axis_index_p.batch = lambda axis_size, args, dims, **p: (axis_index_p.bind(**p), None)
axis_index_p.jvp = lambda primals, tangents, out, **p: None
axis_index_p.vjp = lambda ct, out, *, wants, **p: ()

COLLECTIVES = (psum_p, pmean_p, pmax_p, pmin_p, all_gather_p, psum_scatter_p, ppermute_p,
               all_to_all_p, axis_index_p)

# ------------------------------------------- across processes (pmap) ---
# These run on concrete arrays with the job's communicator; under jit they
# are library calls in the plan. They are SPMD: every process calls them in
# the same order with matching shapes.

process_allreduce_p = Primitive("process_allreduce", multiple_results=True)
process_allgather_p = Primitive("process_allgather")
process_alltoallv_p = Primitive("process_alltoallv")


def process_alltoallv(x, *, comm, send_counts, recv_counts):
    """The 1-D ``x``, of which ``send_counts[r]`` elements (in rank order) go to
    rank ``r``; returns what arrives, ``recv_counts[r]`` elements from rank ``r``."""
    return process_alltoallv_p.bind(x, comm=comm, send_counts=tuple(int(c) for c in send_counts),
                                    recv_counts=tuple(int(c) for c in recv_counts))


def _alltoallv_aval(x, *, comm, send_counts, recv_counts):
    if len(x.shape) != 1 or x.shape[0] != sum(send_counts):
        raise ValueError(f"process_alltoallv: a 1-D operand of {sum(send_counts)} elements, "
                         f"got shape {tuple(x.shape)}")
    return ShapedArray((sum(recv_counts),), x.dtype)


def _alltoallv_vjp(ct, out, x, *, wants, comm, send_counts, recv_counts):
    # the data flows back the way it came
    return (process_alltoallv(ct, comm=comm, send_counts=recv_counts, recv_counts=send_counts),)


process_alltoallv_p.impl = lambda x, *, comm, send_counts, recv_counts: comm.alltoallv(
    np.ascontiguousarray(x), send_counts, recv_counts)
process_alltoallv_p.abstract_eval = _alltoallv_aval
process_alltoallv_p.jvp = lambda primals, tangents, out, **p: process_alltoallv_p.bind(
    tangents[0], **p)
process_alltoallv_p.vjp = _alltoallv_vjp
process_alltoallv_p.batch = batch_loop(process_alltoallv_p)   # vmap of a pmap: rare
process_alltoallv_p.samples = lambda rng: [
    ((rng.normal(size=(5,)),), {"comm": _local_comm(), "send_counts": (5,),
                                "recv_counts": (5,)})]


def process_allreduce(xs, *, op, comm, scale=1.0):
    """The elementwise ``op`` over every process's ``xs`` (one message for all
    of them), times ``scale`` (a mean's division, done in the buffer)."""
    return process_allreduce_p.bind(*xs, op=op, comm=comm, scale=float(scale))


def process_allgather(x, *, comm, counts):
    """``x``'s rows of every process, in rank order (``counts[r]`` from rank r)."""
    return process_allgather_p.bind(x, comm=comm, counts=tuple(counts))


def _allreduce_impl(*xs, op, comm, scale):
    return comm.allreduce([np.asarray(x) for x in xs], op, scale)


def _allreduce_aval(*avals, op, comm, scale):
    return [ShapedArray(tuple(a.shape), np.dtype(a.dtype)) for a in avals]


def _allreduce_jvp(primals, tangents, out, *, op, comm, scale):
    nz = [i for i, t in enumerate(tangents) if t is not None]
    if op == "sum":
        summed = process_allreduce([tangents[i] for i in nz], op="sum", comm=comm, scale=scale)
    else:   # max/min: the mean tangent of the processes that attain it
        hits = [(primals[i] == out[i]).astype(tangents[i].dtype) for i in nz]
        both = process_allreduce([tangents[i] * h for i, h in zip(nz, hits)] + hits,
                                 op="sum", comm=comm)
        summed = [t / c for t, c in zip(both[:len(nz)], both[len(nz):])]
    res = [None] * len(primals)
    for i, t in zip(nz, summed):
        res[i] = t
    return res


def _allreduce_vjp(ct, out, *primals, wants, op, comm, scale):
    if op == "sum":
        return tuple(process_allreduce(list(ct), op="sum", comm=comm, scale=scale))
    hits = [(x == m).astype(c.dtype) for x, m, c in zip(primals, out, ct)]
    both = process_allreduce(list(ct) + hits, op="sum", comm=comm)
    n = len(ct)
    return tuple(t * h / c for t, h, c in zip(both[:n], hits, both[n:]))


def _allreduce_batch(axis_size, args, dims, **params):
    return process_allreduce_p.bind(*args, **params), list(dims)


process_reduce_scatter_p = Primitive("process_reduce_scatter")


def process_reduce_scatter(x, *, comm, counts):
    """The sum over processes of ``x`` (rows of every rank, in rank order),
    of which this process receives its ``counts[rank]`` rows."""
    return process_reduce_scatter_p.bind(x, comm=comm, counts=tuple(counts))


def _reduce_scatter_aval(x, *, comm, counts):
    if not x.shape or x.shape[0] != sum(counts):
        raise ValueError(f"process_reduce_scatter: operand of shape {tuple(x.shape)} does not "
                         f"have the {sum(counts)} rows of all processes first")
    return ShapedArray((counts[comm.rank],) + tuple(x.shape[1:]), x.dtype)


def _reduce_scatter_batch(axis_size, args, dims, *, comm, counts):
    from ..batching import moveaxis
    (x,), (d,) = args, dims
    if d != 1:
        x = moveaxis(x, d, 1)
    return process_reduce_scatter(x, comm=comm, counts=counts), 1


process_reduce_scatter_p.impl = lambda x, *, comm, counts: comm.reduce_scatter(
    np.asarray(x), counts)
process_reduce_scatter_p.abstract_eval = _reduce_scatter_aval
process_reduce_scatter_p.jvp = lambda primals, tangents, out, **p: (
    process_reduce_scatter_p.bind(tangents[0], **p))
process_reduce_scatter_p.vjp = lambda ct, out, x, *, wants, comm, counts: (
    process_allgather(ct, comm=comm, counts=counts),)
process_reduce_scatter_p.batch = _reduce_scatter_batch


def _allgather_impl(x, *, comm, counts):
    return comm.allgather(np.asarray(x), counts)


def _allgather_aval(x, *, comm, counts):
    shape = list(x.shape)
    if not shape or shape[0] != counts[comm.rank]:
        raise ValueError(f"process_allgather: operand of shape {tuple(x.shape)} does not have "
                         f"this process's {counts[comm.rank]} rows first")
    shape[0] = sum(counts)
    return ShapedArray(tuple(shape), x.dtype)


def _allgather_jvp(primals, tangents, out, *, comm, counts):
    return process_allgather(tangents[0], comm=comm, counts=counts)


def _allgather_vjp(ct, out, x, *, wants, comm, counts):
    return (process_reduce_scatter(ct, comm=comm, counts=counts),)


def _allgather_batch(axis_size, args, dims, *, comm, counts):
    from ..batching import moveaxis
    (x,), (d,) = args, dims
    # gather along the operand's own leading axis: put the batch axis second
    if d == 0:
        x = moveaxis(x, 0, 1)
    elif d > 1:
        x = moveaxis(x, d, 1)
    return process_allgather(x, comm=comm, counts=counts), 1


process_allreduce_p.impl = _allreduce_impl
process_allreduce_p.abstract_eval = _allreduce_aval
process_allreduce_p.jvp = _allreduce_jvp
process_allreduce_p.vjp = _allreduce_vjp
process_allreduce_p.batch = _allreduce_batch
process_allgather_p.impl = _allgather_impl
process_allgather_p.abstract_eval = _allgather_aval
process_allgather_p.jvp = _allgather_jvp
process_allgather_p.vjp = _allgather_vjp
process_allgather_p.batch = _allgather_batch


def _local_comm():
    from ..distributed import LOCAL
    return LOCAL


process_allreduce_p.samples = lambda rng: [
    ((rng.normal(size=(3,)), rng.normal(size=(2, 2))),
     {"op": "sum", "comm": _local_comm(), "scale": 0.5}),
    ((rng.normal(size=(4,)),), {"op": "max", "comm": _local_comm(), "scale": 1.0})]
process_reduce_scatter_p.samples = lambda rng: [
    ((rng.normal(size=(3, 2)),), {"comm": _local_comm(), "counts": (3,)})]
process_allgather_p.samples = lambda rng: [
    ((rng.normal(size=(2, 3)),), {"comm": _local_comm(), "counts": (2,)})]
