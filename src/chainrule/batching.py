"""vmap: run a function on a batch by giving every primitive a batch axis.

A ``BatchTracer`` holds a value with one extra axis, ``bdim`` (``None`` for
values that are the same across the batch). Each primitive's ``batch`` rule
maps batched operands to a batched result in one call, so a vmapped function
costs one pass over the batch, not a Python loop. Rule signature:
``batch(axis_size, args, dims, **params) -> (out, out_dim)``, with ``dims[i]``
the batch axis of ``args[i]`` or ``None``.
"""

from __future__ import annotations

import contextvars

import numpy as np

from .core import Interpreter, ShapedArray, Tracer, bind_in, get_aval, missing_rule, set_interpreter


class BatchTracer(Tracer):
    __slots__ = ("val", "bdim", "aval")

    def __init__(self, interp, val, bdim: int):
        self._interp = interp
        self.val = val
        self.bdim = bdim
        shape = tuple(np.shape(val))
        self.aval = ShapedArray(shape[:bdim] + shape[bdim + 1:], val.dtype)


# The named axis of the vmap whose batching rule is running: a rule that
# vmaps an inner function (a loop body, a jit's Jaxpr) passes it on, so that
# collectives inside still see the axis (``api.vmap`` reads it once).
inherited_axis: contextvars.ContextVar = contextvars.ContextVar("chainrule_inherited_axis",
                                                                default=None)


class BatchInterpreter(Interpreter):
    name = "vmap"

    def __init__(self, parent, axis_size: int, axis=None):
        super().__init__(parent)
        self.axis_size = axis_size
        self.axis = axis   # a collectives.NamedAxis, or None for an anonymous vmap

    def process_primitive(self, prim, args, params):
        owned = [self.owns(a) for a in args]
        if self.axis is not None and getattr(prim, "collective", False) and self._names(
                prim, params):
            return self._collective(prim, args, owned, params)
        if not any(owned) and not (self.axis is not None and _names_axis(params,
                                                                          self.axis.name)):
            return bind_in(self.parent, prim, args, params)
        if prim.batch is None:
            raise missing_rule(prim, "vmap (batching)")
        vals = [a.val if o else a for a, o in zip(args, owned)]
        dims = [a.bdim if o else None for a, o in zip(args, owned)]
        token = inherited_axis.set(self.axis)
        try:
            with set_interpreter(self.parent):
                out, out_dim = prim.batch(self.axis_size, vals, dims, **params)
        finally:
            inherited_axis.reset(token)
        if prim.multiple_results:
            return [o if d is None else BatchTracer(self, o, d) for o, d in zip(out, out_dim)]
        return out if out_dim is None else BatchTracer(self, out, out_dim)

    def _names(self, prim, params):
        names = params["axes"] if "axes" in params else (params["axis_name"],)
        return self.axis.name in names

    def _collective(self, prim, args, owned, params):
        """A collective over this vmap's axis: carried out here, as ordinary
        operations over the batch (and across processes under pmap)."""
        prim.abstract_eval(*[get_aval(a) for a in args], **params)  # the user's errors
        vals = [a.val if o else a for a, o in zip(args, owned)]
        dims = [a.bdim if o else None for a, o in zip(args, owned)]
        with set_interpreter(self.parent):
            out, out_dim = prim.named(self.axis, vals, dims, **params)
        out = [o if d is None else BatchTracer(self, o, d) for o, d in zip(out, out_dim)]
        return out if prim.multiple_results else out[0]

    def unpack(self, x):
        return (x.val, x.bdim) if self.owns(x) else (x, None)


def _names_axis(params, name) -> bool:
    """Whether a primitive's inner Jaxprs (a jit, a loop body, a branch) hold
    a collective over ``name``: then this vmap must batch it even when none
    of its operands is batched, or the collective would go unseen."""
    from .core import ClosedJaxpr, Jaxpr
    for v in params.values():
        many = isinstance(v, (list, tuple)) and not isinstance(v, (Jaxpr, ClosedJaxpr))
        for j in (v if many else (v,)):
            if isinstance(j, ClosedJaxpr):
                j = j.jaxpr
            if isinstance(j, Jaxpr) and _jaxpr_names_axis(j, name):
                return True
    return False


def _jaxpr_names_axis(jaxpr, name) -> bool:
    return any((getattr(e.prim, "collective", False)
                and name in (e.params["axes"] if "axes" in e.params else (e.params["axis_name"],)))
               or _names_axis(e.params, name) for e in jaxpr.eqns)


# ------------------------------------------------------------ helpers ---


def moveaxis(x, src: int, dst: int):
    from .primitives.shape import transpose
    nd = len(np.shape(x))
    if src == dst:
        return x
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return transpose(x, perm)


def bdim_to_front(x, bdim, axis_size):
    """``x`` with its batch axis first; unbatched values are broadcast."""
    from .primitives.shape import broadcast_in_dim
    if bdim is None:
        shape = tuple(np.shape(x))
        return broadcast_in_dim(x, (axis_size,) + shape, tuple(range(1, len(shape) + 1)))
    return moveaxis(x, bdim, 0)


def batch_elementwise(prim):
    """Rule for broadcasting elementwise primitives: batch axis to the front,
    then pad batched operands with unit axes so that NumPy broadcasting lines
    the remaining axes up exactly as in the unbatched call."""

    def rule(axis_size, args, dims, **params):
        from .primitives.shape import reshape
        out_rank = max(len(np.shape(a)) - (d is not None) for a, d in zip(args, dims))
        moved = []
        for a, d in zip(args, dims):
            if d is None:
                moved.append(a)
                continue
            a = moveaxis(a, d, 0)
            shape = tuple(np.shape(a))
            pad = out_rank - (len(shape) - 1)
            moved.append(reshape(a, shape[:1] + (1,) * pad + shape[1:]) if pad else a)
        return prim.bind(*moved, **params), 0

    return rule


def batch_unary_axes(shift_params):
    """Rule for one-operand primitives whose params name axes: move the batch
    axis to the front and shift the axes by one (``shift_params`` maps params
    to shifted params)."""

    def make(prim):
        def rule(axis_size, args, dims, **params):
            (x,), (d,) = args, dims
            return prim.bind(moveaxis(x, d, 0), **shift_params(**params)), 0
        return rule

    return make


def batch_loop(prim):
    """Fallback rule: one call per batch element, stacked. Correct for any
    primitive and still differentiable, but a Python loop: used only where a
    vectorised rule is not worth its complexity."""

    def rule(axis_size, args, dims, **params):
        from .primitives.shape import concatenate, expand_dims, slice_, squeeze
        outs = []
        for i in range(axis_size):
            sliced = []
            for a, d in zip(args, dims):
                if d is None:
                    sliced.append(a)
                    continue
                shape = np.shape(a)
                lo = [0] * len(shape)
                hi = list(shape)
                lo[d], hi[d] = i, i + 1
                sliced.append(squeeze(slice_(a, lo, hi), (d,)))
            outs.append(prim.bind(*sliced, **params))
        if prim.multiple_results:
            return [concatenate([expand_dims(o[k], (0,)) for o in outs], 0)
                    for k in range(len(outs[0]))], [0] * len(outs[0])
        return concatenate([expand_dims(o, (0,)) for o in outs], 0), 0

    return rule


def is_batched(x) -> bool:
    return isinstance(x, BatchTracer)
