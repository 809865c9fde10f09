"""``chainrule.distributed``: the processes of a job and the communicator that
``pmap``'s collectives use across them, over MPI (``mpi4py``).

Launch a job with ``mpiexec -n 4 python train.py`` (or Slurm's ``srun``);
each process calls ``initialize()`` (``pmap`` does it for you) and works on
its own shard of the data. Without a launcher a program is a one-process
job and the same code runs unchanged. ``mpi4py`` is imported only here, and
only when a launch asks for it: ``pip install 'chainrule[distributed]'``.

A communicator is a small object with ``rank``, ``size``,
``allreduce(arrays, op)``, ``allgather(array, counts)`` and
``alltoallv(array, send_counts, recv_counts)``; ``LOCAL`` is the
one-process one, ``MpiCommunicator`` the real one. One ``allreduce`` call
carries a whole pytree: its leaves are packed by dtype into one contiguous
buffer, so a model's gradients cost one ``MPI_Allreduce`` per dtype, not one
per leaf. MPI releases the GIL while it works.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
import warnings

import numpy as np

__all__ = ["initialize", "is_initialized", "process_index", "process_count", "shard",
           "communicator", "LOCAL"]

_OPS = ("sum", "max", "min")
_REDUCE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


class LocalCommunicator:
    """The communicator of a one-process job: every collective is local."""

    rank, size = 0, 1

    def allreduce(self, arrays, op):
        return [np.array(a, copy=True) for a in arrays]

    def allgather(self, array, counts):
        return np.array(array, copy=True)

    def alltoallv(self, array, send_counts, recv_counts):
        return np.array(array, copy=True)

    def __repr__(self):
        return "<one process>"


LOCAL = LocalCommunicator()


class MpiCommunicator:
    """Collectives over an ``mpi4py`` communicator (``COMM_WORLD`` by default)
    on contiguous buffers."""

    def __init__(self, comm):
        from mpi4py import MPI
        self._MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    def __repr__(self):
        return f"<MPI {self.size} processes>"

    def _handshake(self, what, arrays):
        """With ``debug_collectives``: every rank must bring the same shapes and
        dtypes; a mismatch raises on every rank instead of corrupting memory or
        hanging."""
        from .config import config
        if not config.debug_collectives:
            return
        mine = [(tuple(np.shape(a)), np.dtype(a.dtype).str) for a in arrays]
        everyone = self.comm.allgather(mine)
        if any(e != everyone[0] for e in everyone):
            lines = "\n".join(f"  rank {r}: {e}" for r, e in enumerate(everyone))
            raise ValueError(f"{what}: the processes disagree on the operands' shapes and "
                             f"dtypes (rank: [(shape, dtype), ...]):\n{lines}")

    def allreduce(self, arrays, op):
        if op not in self._ops:
            raise ValueError(f"allreduce: op must be one of {_OPS}, got {op!r}")
        arrays = [np.asarray(a) for a in arrays]
        self._handshake(f"p{op} across processes", arrays)
        out = [None] * len(arrays)
        by_dtype: dict = {}
        for i, a in enumerate(arrays):
            by_dtype.setdefault(a.dtype, []).append(i)
        for dtype, idx in by_dtype.items():
            if dtype == np.bool_:   # MPI has no bool sum: reduce as bytes
                vals = self.allreduce([arrays[i].astype(np.uint8) for i in idx], op)
                for i, v in zip(idx, vals):
                    out[i] = v.astype(np.bool_) if op != "sum" else v.astype(np.int64)
                continue
            buf = np.concatenate([arrays[i].ravel() for i in idx]) if len(idx) > 1 \
                else np.array(arrays[idx[0]], copy=True).ravel()
            self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._ops[op])
            start = 0
            for i in idx:
                n = arrays[i].size
                out[i] = buf[start:start + n].reshape(arrays[i].shape)
                start += n
        return out

    def allgather(self, array, counts):
        array = np.ascontiguousarray(array)
        self._handshake("all_gather across processes", [array[:0]])
        row = int(np.prod(array.shape[1:], dtype=np.int64))
        out = np.empty((sum(counts),) + array.shape[1:], array.dtype)
        sizes = [c * row for c in counts]
        displs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
        self.comm.Allgatherv(array, [out, (sizes, displs)])
        return out

    def alltoallv(self, array, send_counts, recv_counts):
        array = np.ascontiguousarray(array)
        self._handshake("ppermute/all_to_all across processes", [array[:0]])
        out = np.empty(sum(recv_counts), array.dtype)

        def displs(counts):
            return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()

        self.comm.Alltoallv([array, (list(send_counts), displs(send_counts))],
                            [out, (list(recv_counts), displs(recv_counts))])
        return out

    def gather_objects(self, obj):
        return self.comm.allgather(obj)


_comm = None
_lock = threading.Lock()


def _launched_size() -> int:
    """How many processes the launcher started (1 without a launcher)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def _abort_on_uncaught(comm):
    """An uncaught exception on one rank prints its traceback and aborts the
    whole job, so the other ranks do not wait for it in a collective."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        sys.stderr.write(f"chainrule.distributed: uncaught exception on rank {comm.rank} "
                         f"of {comm.size}; aborting the job\n")
        sys.stderr.write("".join(traceback.format_exception(kind, value, tb)))
        sys.stderr.flush()
        try:
            comm.comm.Abort(1)
        finally:
            previous(kind, value, tb)

    def thread_hook(args):
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook


def initialize(num_processes=None):
    """Join the job this process was launched in (idempotent): with a launcher
    (``mpiexec``, ``srun``) the communicator is MPI's ``COMM_WORLD``, without
    one it is this process alone. ``num_processes`` states what you expect;
    asking for more than one without a launcher warns once."""
    global _comm
    with _lock:
        if _comm is not None:
            return _comm
        launched = _launched_size()
        if launched > 1:
            try:
                from mpi4py import MPI
            except ImportError as err:
                raise ImportError(
                    f"chainrule.distributed: this process was launched as one of {launched} "
                    "MPI processes, but mpi4py is not installed. Install the distributed "
                    "extra: pip install 'chainrule[distributed]'") from err
            comm = MpiCommunicator(MPI.COMM_WORLD)
            if num_processes is not None and num_processes != comm.size:
                raise ValueError(f"initialize(num_processes={num_processes}): the job has "
                                 f"{comm.size} processes")
            if comm.size > 1:
                _abort_on_uncaught(comm)
            _comm = comm
        else:
            if num_processes not in (None, 1):
                warnings.warn(
                    f"chainrule.distributed.initialize(num_processes={num_processes}): no "
                    "MPI launcher started this process, so it runs as a one-process job. "
                    f"Start it with: mpiexec -n {num_processes} python ...",
                    RuntimeWarning, stacklevel=2)
            _comm = LOCAL
        return _comm


def is_initialized() -> bool:
    return _comm is not None


def communicator():
    """The job's communicator (``initialize()`` first if needed)."""
    return _comm if _comm is not None else initialize()


def process_index() -> int:
    return communicator().rank


def process_count() -> int:
    return communicator().size


def shard(data, *, axis=0, index=None, count=None):
    """This process's contiguous share of ``data`` (an array or a pytree of
    arrays with a common ``axis`` length): rank ``r`` of ``n`` gets rows
    ``r*N//n .. (r+1)*N//n``, so shares differ by at most one row and their
    concatenation in rank order is ``data``."""
    from . import tree_util
    index = process_index() if index is None else index
    count = process_count() if count is None else count
    leaves, tree = tree_util.tree_flatten(data)
    lengths = {np.shape(x)[axis] for x in leaves}
    if len(lengths) != 1:
        raise ValueError(f"shard: the leaves have different lengths along axis {axis}: "
                         f"{sorted(lengths)}")
    n = lengths.pop()
    lo, hi = index * n // count, (index + 1) * n // count
    sl = (slice(None),) * (axis % np.ndim(leaves[0])) + (slice(lo, hi),)
    return tree_util.tree_unflatten(tree, [np.asarray(x)[sl] for x in leaves])
