"""``pmap``: ``vmap`` whose mapped axis spans every process of the job.

Each process passes its own shard (the mapped axis holds its local
entries); within the process the entries are mapped as by ``vmap``, and a
collective reduces over them and then across processes through the job's
communicator (``chainrule.distributed``). With one process ``pmap`` is
``vmap`` with an axis name, so the same script runs on a laptop and, under
``mpiexec -n 8``, on eight processes.
"""

from __future__ import annotations

import functools

from .api import _batched_call, describe

__all__ = ["pmap"]


class _Anonymous:
    """The name of a pmap's axis when the user gave none: no collective can
    name it."""

    def __repr__(self):
        return "<unnamed pmap axis>"


def pmap(fun, axis_name=None, *, in_axes=0, out_axes=0, static_broadcasted_argnums=()):
    """Map ``fun`` over the leading (or ``in_axes``) axis of its arguments,
    where the axis is the concatenation of every process's shard in rank
    order. Returns this process's entries of the result. Collectives such as
    ``lax.pmean(grads, axis_name)`` see the whole axis: one message per
    collective for a whole pytree. Like JAX's, the mapped function is
    compiled (``jit``, with the static arguments as ``static_argnums``)."""
    from . import distributed
    from .jit import jit
    from .primitives.collectives import NamedAxis

    static = ((static_broadcasted_argnums,) if isinstance(static_broadcasted_argnums, int)
              else tuple(static_broadcasted_argnums))
    name = _Anonymous() if axis_name is None else axis_name
    where = f"pmap({describe(fun)})"

    def named(size):
        comm = distributed.communicator()
        if comm.size == 1:
            return NamedAxis(name, size)
        return NamedAxis(name, size, comm, tuple(comm.gather_objects(size)))

    @functools.wraps(fun)
    def mapped(*args):
        if static:
            n = len(args)
            fixed = {i % n: args[i] for i in static}
            dyn_idx = [i for i in range(n) if i not in fixed]

            def call(*dyn):
                full = list(args)
                for i, x in zip(dyn_idx, dyn):
                    full[i] = x
                return fun(*full)

            dyn_args = tuple(args[i] for i in dyn_idx)
            axes = in_axes
            if isinstance(in_axes, (tuple, list)) and len(in_axes) == n:
                axes = tuple(in_axes[i] for i in dyn_idx)
            return _batched_call(call, axes, out_axes, None, named, where, True)(*dyn_args)
        return _batched_call(fun, in_axes, out_axes, None, named, where, True)(*args)

    return jit(mapped, static_argnums=static)
