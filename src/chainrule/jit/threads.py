"""Both cores where it pays: a large kernel split over threads.

A compiled kernel is machine code that releases the GIL around loops of at
least ``native.RELEASE_GIL_WORK`` iterations, and it loops over the extents
it is given, viewing each array from its data pointer. So the first loop
axis can be cut into chunks, each run by one thread as a call of the same
kernel with a smaller first extent and each array advanced to the chunk's
first row: no new code, nothing from Numba's threading layer (a kernel
loaded from the disk cache runs without importing Numba), one small pool of
persistent threads. The calling thread runs the first chunk itself.

- Outputs, and reductions and scratch arrays that keep axis 0, are sliced:
  each chunk writes its own rows. A reduction over axis 0 gets a private
  buffer per chunk after the first (which writes the plan's), and the
  partials are combined in chunk order (``+``, ``np.maximum`` or
  ``np.minimum``, NaN winning as in the kernel): results are deterministic
  for a given thread count, and a sum of floats may differ from the serial
  one by rounding (partial sums are rounded to the output dtype).
- Only kernels whose work (loop iterations times ``cost`` per iteration)
  gives every chunk at least ``CHUNK_WORK`` are split; smaller ones, and
  every kernel when one thread is asked for, are called as before. The
  threshold was measured on the reference machine (docs/performance.md,
  "Both cores: threaded kernels").
- Threads: ``config.jit_threads`` (or ``CHAINRULE_JIT_THREADS``) when set;
  else the CPUs this process may run on (``os.sched_getaffinity``), at
  most ``NUMBA_NUM_THREADS`` when that is set.
- BLAS keeps its own threads. A plan runs its steps one after another, so a
  split kernel and a BLAS call (``dot_general``) never run at once and the
  cores are not oversubscribed; two Python threads calling plans at once
  do not share the pool (the second one runs its kernels serially).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ..config import config
from .native import RELEASE_GIL_WORK

# Work (iterations x cost) a chunk must carry for a split to pay, in the
# units of ``cost`` (about 0.1-0.3 ns each here): where two threads started
# to beat one on the reference machine (benchmarks/jit_threads.py: two
# chunks of 2^22 units, about 1 ms of serial work; a Python thread's wake-up
# there costs 20 µs to 2 ms, which is what smaller kernels lose).
CHUNK_WORK = 1 << 22

# cost per iteration of an emitted call (a vectorised polynomial or libm)
_EXPENSIVE = {"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "asin", "acos", "atan",
              "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "logistic", "pow", "atan2",
              "cbrt", "erf", "erfc", "lgamma", "digamma", "erf_inv", "fmod", "rem"}
_CALL_COST = 8
_REDUCE_COST = 4


def cost(spec) -> int:
    """Rough cost of one loop iteration of a kernel: one per array element
    read or written and per arithmetic operation, ``_CALL_COST`` per
    transcendental function, ``_REDUCE_COST`` per reduction (an accumulation
    in order is bound by the latency of one add, not vectorised)."""
    arrays = len(spec.inputs) + len(spec.outputs) + _REDUCE_COST * len(spec.reductions)
    ops = sum(_CALL_COST if prim.name in _EXPENSIVE else 1 for prim, *_ in spec.body)
    return arrays + ops


def count() -> int:
    """Threads a split kernel may use now (at least 1)."""
    n = config.jit_threads
    if n:
        return n
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not Linux
        n = os.cpu_count() or 1
    cap = os.environ.get("NUMBA_NUM_THREADS", "")
    if cap.isdigit() and int(cap) > 0:
        n = min(n, int(cap))
    return max(1, n)


# ------------------------------------------------------------ the pool ---

class _Worker:
    """A daemon thread running one task at a time, handed over through two
    locks (the cheapest wake-up CPython has)."""

    def __init__(self):
        self.go = threading.Lock()
        self.go.acquire()
        self.done = threading.Lock()
        self.done.acquire()
        self.task = None
        self.result = None
        threading.Thread(target=self._loop, name="chainrule-jit-kernel", daemon=True).start()

    def _loop(self):
        while True:
            self.go.acquire()
            fn, args = self.task
            self.task = None
            try:
                self.result = fn(*args)
            except BaseException as err:   # handed to the caller
                self.result = err
            self.done.release()

    def start(self, fn, args):
        self.task = (fn, args)
        self.go.release()

    def join(self):
        self.done.acquire()
        result, self.result = self.result, None
        if isinstance(result, BaseException):
            raise result
        return result


_workers: list[_Worker] = []
_busy = threading.Lock()   # held while a split kernel runs: one at a time


def _reset_after_fork():
    global _busy
    _workers.clear()       # the threads did not survive the fork
    _busy = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _pool(n):
    while len(_workers) < n:
        _workers.append(_Worker())
    return _workers[:n]


# ------------------------------------------------------ split kernels ---

def _bounds(n0, chunks):
    """``chunks + 1`` boundaries of near-equal parts of ``range(n0)``."""
    q, r = divmod(n0, chunks)
    out, at = [0], 0
    for c in range(chunks):
        at += q + (c < r)
        out.append(at)
    return out


class Split:
    """A kernel (or its exact form) called in chunks of its first loop axis.

    ``rows`` has an entry per array argument, in call order (outputs,
    reductions, scratch, inputs): the elements of one index of axis 0 in
    that array's memory, or 0 when the array does not vary along axis 0
    (an input broadcast along it is passed whole; a reduction or a scratch
    array over it is private per chunk). ``combine`` holds, per reduction
    over axis 0, ``(argument position, op)``."""

    def __init__(self, fn, extents, rows, combine, scratch, work):
        self.fn = fn
        self.extents = tuple(int(n) for n in extents)
        self.rank = len(self.extents)
        self.rows = rows
        self.combine = combine
        self.scratch = scratch      # argument positions of scratch arrays over axis 0
        self.work = work            # iterations x cost of the whole kernel
        iters = int(np.prod(self.extents, dtype=np.int64))
        # a chunk must both pay for its thread and be big enough to release the GIL
        self.max_chunks = min(self.extents[0], work // CHUNK_WORK,
                              iters // RELEASE_GIL_WORK)

    def chunks(self, threads=None) -> int:
        """How many chunks a call runs in (1: the serial call)."""
        return max(1, min(count() if threads is None else threads, self.max_chunks))

    def __call__(self, *args):
        n = self.chunks()
        if n == 1 or not _busy.acquire(blocking=False):
            return self.fn(*args)
        try:
            return self._split(args, n)
        finally:
            _busy.release()

    def _split(self, args, n):
        r = self.rank
        arrays = args[r:]
        bounds = _bounds(self.extents[0], n)
        flat = [a.reshape(-1) if rows else a for a, rows in zip(arrays, self.rows)]
        partial = {pos: [] for pos, _ in self.combine}
        calls = []
        for c in range(n):
            lo, hi = bounds[c], bounds[c + 1]
            call = [hi - lo, *self.extents[1:]]
            for pos, (a, f, rows) in enumerate(zip(arrays, flat, self.rows)):
                if rows:
                    call.append(f[lo * rows:hi * rows])
                elif c and pos in partial:
                    p = np.empty_like(a)
                    partial[pos].append(p)
                    call.append(p)
                elif c and pos in self.scratch:
                    call.append(np.empty_like(a))
                else:
                    call.append(a)
            calls.append(call)
        workers = _pool(n - 1)
        for w, call in zip(workers, calls[1:]):
            w.start(self.fn, call)
        flag = self.fn(*calls[0])
        failed = None
        for w in workers:
            try:
                flag |= w.join()
            except BaseException as err:
                failed = failed or err
        if failed is not None:
            raise failed
        with np.errstate(all="ignore"):
            for pos, op in self.combine:
                out = arrays[pos]
                for p in partial[pos]:
                    if op == "sum":
                        np.add(out, p, out=out)
                    elif op == "max":
                        np.maximum(out, p, out=out)
                    else:
                        np.minimum(out, p, out=out)
        return flag


def split(fn, kernel):
    """``fn`` (a compiled kernel of the partitioner's ``kernel``, or its exact
    form) as a ``Split`` when the kernel is big enough to be worth splitting
    with two threads, else ``fn`` itself."""
    spec, extents = kernel.spec, tuple(int(n) for n in kernel.extents)
    if not extents or extents[0] < 2:
        return fn
    work = int(np.prod(extents, dtype=np.int64)) * cost(spec)
    if work < 2 * CHUNK_WORK or int(np.prod(extents, dtype=np.int64)) < 2 * RELEASE_GIL_WORK:
        return fn

    def row(axes):
        axes = set(axes)
        if 0 not in axes:
            return 0
        return int(np.prod([extents[d] for d in axes if d > 0], dtype=np.int64))

    from .codegen import scratch as scratch_of
    rows, combine, scratch = [], [], []
    rank = len(extents)
    for _ in spec.outputs:
        rows.append(row(range(rank)))
    for _, kept, _, op in spec.reductions:
        if 0 not in set(kept):
            combine.append((len(rows), op))
        rows.append(row(kept))
    for kept, _ in scratch_of(spec):
        if 0 not in kept:
            scratch.append(len(rows))
        rows.append(row(kept))
    for _, axes in spec.inputs:
        rows.append(row(axes))
    return Split(fn, extents, rows, combine, set(scratch), work)
