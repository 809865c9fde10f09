"""``chainrule.distributed``: the processes of a job and the communicator that
``pmap``'s collectives use across them, over MPI (``mpi4py``).

Launch a job with ``mpiexec -n 4 python train.py`` (or Slurm's ``srun``);
each process calls ``initialize()`` (``pmap`` does it for you) and works on
its own shard of the data. Without a launcher a program is a one-process
job and the same code runs unchanged. ``mpi4py`` is imported only here, and
only when a launch asks for it: ``pip install 'chainrule[distributed]'``.

A communicator is a small object with ``rank``, ``size``,
``allreduce(arrays, op, scale)``, ``allgather(array, counts)``,
``alltoallv(array, send_counts, recv_counts)`` and
``reduce_scatter(array, counts)``; ``LOCAL`` is the
one-process one, ``MpiCommunicator`` the real one. One ``allreduce`` call
carries a whole pytree: its leaves are packed by dtype into one contiguous
buffer, so a model's gradients cost one ``MPI_Allreduce`` per dtype, not one
per leaf. MPI releases the GIL while it works.
"""

from __future__ import annotations

import os
import sys
import threading
import time
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

    def allreduce(self, arrays, op, scale=1.0):
        return [np.array(a, copy=True) if scale == 1.0 else np.asarray(a) * scale
                for a in arrays]

    def allgather(self, array, counts):
        return np.array(array, copy=True)

    def alltoallv(self, array, send_counts, recv_counts):
        return np.array(array, copy=True)

    def reduce_scatter(self, array, counts):
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
        self._staging = {}
        self._lock = threading.Lock()   # one collective at a time through the buffers

    def _buffer(self, slot, dtype, n):
        """A persistent buffer of ``n`` elements: MPI is several times slower on
        memory it has not seen before (2.5 ms instead of 0.4 ms for 5 MB here),
        so data is staged through buffers that live as long as the
        communicator, and copied out once."""
        key = (slot, np.dtype(dtype))
        buf = self._staging.get(key)
        if buf is None or buf.size < n:
            buf = self._staging[key] = np.empty(max(n, 1), dtype)
        return buf[:n]

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

    def allreduce(self, arrays, op, scale=1.0):
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
                vals = self.allreduce([arrays[i].astype(np.uint8) for i in idx], op, scale)
                for i, v in zip(idx, vals):
                    out[i] = v.astype(np.bool_) if op != "sum" else v.astype(np.int64)
                continue
            total = sum(arrays[i].size for i in idx)
            with self._lock:
                result = self._free_result_buffer(dtype, total)
                start = 0
                for i in idx:   # pack every leaf of this dtype into one buffer
                    n = arrays[i].size
                    result[start:start + n] = arrays[i].ravel()
                    start += n
                self.comm.Allreduce(self._MPI.IN_PLACE, result, op=self._ops[op])
                if scale != 1.0:
                    result *= scale
            start = 0
            for i in idx:
                n = arrays[i].size
                out[i] = result[start:start + n].reshape(arrays[i].shape)
                start += n
        return out

    def _free_result_buffer(self, dtype, n):
        """A buffer for an all-reduce whose results are views into it: one of a
        few persistent buffers that nothing refers to any more (the previous
        step's gradients have been used and dropped), so that neither a copy
        out nor memory new to MPI is needed; a new one when all are in use."""
        pool = self._staging.setdefault(("results", np.dtype(dtype), n), [])
        for i in range(len(pool)):
            if sys.getrefcount(pool[i]) == 2:   # the pool's reference and the call's
                return pool[i]
        buf = np.empty(n, dtype)
        if len(pool) < 4:
            pool.append(buf)
        return buf

    def allgather(self, array, counts):
        array = np.asarray(array)
        self._handshake("all_gather across processes", [array[:0]])
        row = int(np.prod(array.shape[1:], dtype=np.int64))
        sizes = [c * row for c in counts]
        with self._lock:
            send = self._buffer("send", array.dtype, array.size)
            send[:] = array.ravel()
            out = self._buffer("recv", array.dtype, sum(sizes))
            self.comm.Allgatherv(send, [out, (sizes, _displacements(sizes))])
            return out.reshape((sum(counts),) + array.shape[1:]).copy()

    def alltoallv(self, array, send_counts, recv_counts):
        array = np.asarray(array)
        self._handshake("ppermute/all_to_all across processes", [array[:0]])
        with self._lock:
            send = self._buffer("send", array.dtype, array.size)
            send[:] = array.ravel()
            out = self._buffer("recv", array.dtype, sum(recv_counts))
            self.comm.Alltoallv([send, (list(send_counts), _displacements(send_counts))],
                                [out, (list(recv_counts), _displacements(recv_counts))])
            return out.copy()

    def reduce_scatter(self, array, counts):
        array = np.asarray(array)
        self._handshake("psum_scatter across processes", [array])
        row = int(np.prod(array.shape[1:], dtype=np.int64))
        with self._lock:
            send = self._buffer("send", array.dtype, array.size)
            send[:] = array.ravel()
            out = self._buffer("recv", array.dtype, counts[self.rank] * row)
            self.comm.Reduce_scatter(send, out, [c * row for c in counts], op=self._MPI.SUM)
            return out.reshape((counts[self.rank],) + array.shape[1:]).copy()

    def gather_objects(self, obj):
        return self.comm.allgather(obj)


def _displacements(counts):
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()


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
        # the launcher forwards our stderr through a pipe; aborting at once can
        # end the job before it has read the traceback (seen with MPICH's
        # hydra under load), so give it a moment first
        time.sleep(0.5)
        try:
            comm.comm.Abort(1)
        finally:
            previous(kind, value, tb)

    def thread_hook(args):
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook


def _keep_freed_memory():
    """Ask glibc to keep freed memory in the process instead of handing it
    back to the kernel at once. A data-parallel step frees its gradients
    (megabytes) after packing them for the all-reduce; with glibc's default
    thresholds that memory is trimmed and the next step takes ~2000 page
    faults to get it back (2.3 ms of a 12 ms step, measured here). Only in
    multi-process jobs, and ``CHAINRULE_MALLOC_TUNING=0`` turns it off."""
    if os.environ.get("CHAINRULE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith(
            "linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 1 << 30)    # M_TRIM_THRESHOLD
        libc.mallopt(-3, 64 << 20)   # M_MMAP_THRESHOLD: larger blocks still come from mmap
    except (OSError, AttributeError):
        pass


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
                _keep_freed_memory()
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
