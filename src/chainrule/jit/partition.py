"""Cut an optimised Jaxpr into fused kernels and library calls.

Walking the equations in order, each elementwise equation joins a kernel
group of the same loop shape (its output shape) that it is connected to
(one of its inputs is computed there, or they read the same input), provided
every input it needs exists by the time that group runs; otherwise it opens
a new group. ``broadcast_in_dim``, and ``reshape``/``expand_dims``/
``squeeze`` that only add or remove axes of size 1, are not computed at all
when they feed kernels: the kernel reads the original array with index
arithmetic. A ``reduce_sum``/``reduce_max``/``reduce_min`` of a value
computed in a group ends that group (its result is complete only after the
loop). Everything else (``dot_general``, gather, other reshapes, ...) is a
library call to the primitive's NumPy implementation.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core import Literal, Var
from ..primitives.reductions import reduce_max_p, reduce_min_p, reduce_sum_p
from ..primitives.shape import broadcast_in_dim_p, expand_dims_p, reshape_p, squeeze_p
from .codegen import DTYPES, KernelSpec


class Call:
    """One equation run by its primitive's NumPy ``impl``."""

    def __init__(self, eqn):
        self.eqn = eqn

    def __repr__(self):
        return f"call {self.eqn.prim.name}"


class Kernel:
    """A group of elementwise equations (and reductions) run as one loop."""

    def __init__(self, index, shape):
        self.index = index
        self.shape = tuple(shape)   # loop shape (uncollapsed)
        self.eqns = []              # elementwise and reduce_sum equations, in order
        self.bcasts = []            # broadcast_in_dim equations read through
        self.order = []             # bcasts and eqns in an order NumPy can run them (fallback)
        self.bases = set()          # ids of external values read
        # filled by finalize():
        self.spec = None
        self.inputs = []            # [(atom, collapsed shape)]
        self.outputs = []           # [Var] full-shape outputs
        self.reductions = []        # [Var] reduction outputs
        self.extents = ()           # collapsed loop shape
        self.source = None

    @property
    def prim_names(self):
        return sorted({e.prim.name for e in self.eqns})

    def __repr__(self):
        return f"kernel[{','.join(map(str, self.shape))}] {' '.join(self.prim_names)}"


# reductions a kernel computes, by the accumulation codegen writes for them
REDUCTIONS = {reduce_sum_p: "sum", reduce_max_p: "max", reduce_min_p: "min"}
_UNIT_RESHAPES = (reshape_p, expand_dims_p, squeeze_p)


def _fusable_dtype(dtype) -> bool:
    return np.dtype(dtype).name in DTYPES


def _unit_reshape(eqn) -> bool:
    """A reshape that only adds or removes axes of size 1."""
    if eqn.prim not in _UNIT_RESHAPES or not isinstance(eqn.inputs[0], Var):
        return False
    a, b = eqn.inputs[0].aval.shape, eqn.outputs[0].aval.shape
    return [n for n in a if n != 1] == [n for n in b if n != 1]


def _elementwise(eqn) -> bool:
    p = eqn.prim
    if p.lower is None or p.multiple_results or p is broadcast_in_dim_p or p in REDUCTIONS:
        return False
    ok = (len(eqn.outputs) == 1 and _fusable_dtype(eqn.outputs[0].aval.dtype)
          and all(_fusable_dtype(a.aval.dtype) for a in eqn.inputs))
    if not ok:
        _warn_complex(eqn)
    return ok


_complex_warned = []


def _warn_complex(eqn):
    """Kernels hold real and integer scalars only: complex equations run as
    NumPy calls (same values, no fusion). Said once per process."""
    if _complex_warned:
        return
    dtypes = [a.aval.dtype for a in list(eqn.inputs) + list(eqn.outputs)]
    if any(np.dtype(d).kind == "c" for d in dtypes):
        _complex_warned.append(True)
        warnings.warn("chainrule.jit: complex64/complex128 operations are not fused into "
                      "Numba kernels; they run as NumPy calls (same results, unfused). "
                      "This warning is shown once.", RuntimeWarning, stacklevel=2)


def _deferrable(eqn) -> bool:
    return ((eqn.prim is broadcast_in_dim_p or _unit_reshape(eqn))
            and _fusable_dtype(eqn.outputs[0].aval.dtype))


def _source(a, deferred):
    """(base atom, expanded shape of rank a.ndim) through deferred broadcasts
    and unit reshapes."""
    if isinstance(a, Var) and id(a) in deferred:
        eqn = deferred[id(a)]
        base, ex = _source(eqn.inputs[0], deferred)
        e = [1] * len(a.aval.shape)
        if eqn.prim is broadcast_in_dim_p:
            dims = eqn.params["broadcast_dimensions"]
        else:   # the axes of size > 1 keep their order
            dims = [d for d, n in enumerate(a.aval.shape) if n != 1]
            ex = [n for n, m in zip(ex, eqn.inputs[0].aval.shape) if m != 1]
        for d, n in zip(dims, ex):
            e[d] = n
        return base, tuple(e)
    return a, tuple(a.aval.shape)


def _sinkable(jaxpr) -> set:
    """Elementwise equations to compute in the kernel of their one consumer.

    Such an equation (``1 - t*t`` of a tanh's backward pass, the per-row
    arithmetic of a softmax's pullback) is not placed where it appears but
    where its only consumer, another elementwise equation, is: that kernel
    computes it, so its value never goes to memory, and the kernel that
    computes its operands does not grow an output for it. Its consumer must
    read it directly or through broadcasts that align it as NumPy
    broadcasting would (trailing axes), the alignment it is computed with.
    """
    deferred: dict[int, object] = {}
    consumers: dict[int, set] = {}
    aligned: dict[int, bool] = {}
    blocked = set()
    for eqn in jaxpr.eqns:
        if _deferrable(eqn):
            deferred[id(eqn.outputs[0])] = eqn
            continue
        fusable = _elementwise(eqn)
        for a in eqn.inputs:
            if isinstance(a, Literal):
                continue
            base, ex = _source(a, deferred)
            if not isinstance(base, Var):
                continue
            shape = tuple(base.aval.shape)
            ok = fusable and len(ex) >= len(shape) and \
                tuple(ex) == (1,) * (len(ex) - len(shape)) + shape
            consumers.setdefault(id(base), set()).add(id(eqn))
            aligned[id(base)] = aligned.get(id(base), True) and ok
    for a in jaxpr.outvars:
        if isinstance(a, Var):
            blocked.add(id(_source(a, deferred)[0]))
    return {id(e.outputs[0]) for e in jaxpr.eqns
            if not _deferrable(e) and _elementwise(e) and id(e.outputs[0]) not in blocked
            and len(consumers.get(id(e.outputs[0]), ())) == 1 and aligned[id(e.outputs[0])]}


def partition(jaxpr):
    """The steps (``Kernel`` and ``Call``) that compute ``jaxpr``, in order."""
    steps: list = []
    where: dict[int, tuple[int, str]] = {}   # id(var) -> (step index, 'elt'|'red'|'call')
    deferred: dict[int, object] = {}         # id(var) -> its broadcast/unit reshape
    sinkable = _sinkable(jaxpr)
    pending: dict[int, object] = {}          # id(var) -> equation waiting for its consumer

    def source(a):
        return _source(a, deferred)

    def bcast_chain(a):
        out = []
        while isinstance(a, Var) and id(a) in deferred:
            out.append(deferred[id(a)])
            a = deferred[id(a)].inputs[0]
        return out

    def materialize(a):
        base, _ = source(a)
        if isinstance(base, Var) and id(base) in pending:   # (not expected)
            place(pending[id(base)], alone=True)
        if isinstance(a, Var) and id(a) in deferred and id(a) not in where:
            eqn = deferred[id(a)]
            materialize(eqn.inputs[0])
            steps.append(Call(eqn))
            where[id(a)] = (len(steps) - 1, "call")

    def waiting(eqn, out):
        """The pending equations ``eqn`` needs, operands first, into ``out``."""
        for a in eqn.inputs:
            base, _ = source(a)
            if isinstance(base, Var) and id(base) in pending:
                e = pending[id(base)]
                if e not in out:
                    waiting(e, out)
                    out.append(e)
        return out

    def can_join(g: Kernel, eqns) -> tuple[bool, bool]:
        """(allowed, connected) for equations ``eqns`` joining group ``g``."""
        connected = False
        for eqn in eqns:
            for a in eqn.inputs:
                if isinstance(a, Literal):
                    continue
                base, _ = source(a)
                if isinstance(base, Literal) or id(base) in pending:
                    continue
                w = where.get(id(base))
                if w is not None:
                    if w[0] > g.index or (w[0] == g.index and (w[1] != "elt" or base is not a)):
                        return False, False
                    if w[0] == g.index:
                        connected = True
                if id(base) in g.bases:
                    connected = True
        return True, connected

    def place(eqn, alone=False):
        eqns = waiting(eqn, []) + [eqn]
        shape = tuple(eqn.outputs[0].aval.shape)
        group = None
        if not alone:
            for s in reversed(steps):
                if isinstance(s, Kernel) and s.shape == shape:
                    ok, connected = can_join(s, eqns)
                    if ok and connected:
                        group = s
                        break
            last = steps[-1] if steps else None
            if group is None and isinstance(last, Kernel) and last.shape == shape and \
                    can_join(last, eqns)[0]:
                group = last   # unconnected, but the loop just before runs over the same shape
        if group is None:
            group = Kernel(len(steps), shape)
            steps.append(group)
        for e in eqns:
            pending.pop(id(e.outputs[0]), None)
            group.eqns.append(e)
            for a in e.inputs:
                base, _ = source(a)
                if not isinstance(base, Literal):
                    if where.get(id(base), (None,))[0] != group.index:
                        group.bases.add(id(base))
                for b in reversed(bcast_chain(a)):
                    if b not in group.bcasts:
                        group.bcasts.append(b)
                        group.order.append(b)
            group.order.append(e)
            where[id(e.outputs[0])] = (group.index, "elt")

    for eqn in jaxpr.eqns:
        if _deferrable(eqn):
            deferred[id(eqn.outputs[0])] = eqn
            continue
        if _elementwise(eqn):
            if id(eqn.outputs[0]) in sinkable:
                pending[id(eqn.outputs[0])] = eqn
            else:
                place(eqn)
            continue
        if eqn.prim in REDUCTIONS and isinstance(eqn.inputs[0], Var):
            w = where.get(id(eqn.inputs[0]))
            dt = np.dtype(eqn.outputs[0].aval.dtype)
            shape = eqn.inputs[0].aval.shape
            # max/min of nothing is an error that NumPy raises: left to it
            empty = eqn.prim is not reduce_sum_p and 0 in [shape[a] for a in eqn.params["axes"]]
            if (w is not None and w[1] == "elt" and dt.kind in "fiu" and _fusable_dtype(dt)
                    and not empty):
                g = steps[w[0]]
                g.eqns.append(eqn)
                g.order.append(eqn)
                where[id(eqn.outputs[0])] = (g.index, "red")
                continue
        for a in eqn.inputs:
            materialize(a)
        steps.append(Call(eqn))
        for v in eqn.outputs:
            where[id(v)] = (len(steps) - 1, "call")
    for a in jaxpr.outvars:
        materialize(a)
    while pending:   # (not expected: every pending equation has a consumer)
        place(next(iter(pending.values())), alone=True)

    # which values computed inside a kernel are needed outside it
    used_outside: dict[int, set] = {}

    def use(a, step_index):
        if isinstance(a, Var):
            used_outside.setdefault(id(a), set()).add(step_index)

    for i, s in enumerate(steps):
        if isinstance(s, Call):
            for a in s.eqn.inputs:
                use(a, i)
        else:
            for e in s.eqns:
                for a in e.inputs:
                    base, _ = source(a)
                    use(base, i)
    for a in jaxpr.outvars:
        use(a, -1)
    for s in steps:
        if isinstance(s, Kernel):
            finalize(s, source, lambda v, s=s: any(
                i != s.index for i in used_outside.get(id(v), ())))
    return steps


def _collapse(shape, patterns):
    """Merge adjacent loop axes on which every pattern agrees; drop size-1 axes.

    ``patterns`` are sets of axes (an input's full axes, a reduction's kept
    axes). Returns the list of axis groups.
    """
    dims = [d for d, n in enumerate(shape) if n != 1]
    groups: list[list[int]] = []
    for d in dims:
        if groups and all((groups[-1][-1] in p) == (d in p) for p in patterns):
            groups[-1].append(d)
        else:
            groups.append([d])
    return groups


def finalize(k: Kernel, source, needed_outside) -> None:
    """Fill in the kernel's canonical spec and its collapsed shapes."""
    S = k.shape
    R = len(S)
    internal = {id(e.outputs[0]): i for i, e in enumerate(k.eqns) if e.prim not in REDUCTIONS}
    inputs: dict = {}
    in_list = []
    body_ops = []
    for e in k.eqns:
        if e.prim in REDUCTIONS:
            continue
        ops = []
        for a in e.inputs:
            if isinstance(a, Literal):
                ops.append(("lit", a.val, a.aval.dtype))
                continue
            if id(a) in internal:
                ops.append(("tmp", id(a)))
                continue
            base, ex = source(a)
            if id(base) in internal:   # a sunk equation, read through aligned broadcasts
                ops.append(("tmp", id(base)))
                continue
            if isinstance(base, Literal):
                ops.append(("lit", base.val, base.aval.dtype))
                continue
            ex = (1,) * (R - len(ex)) + tuple(ex)
            key = (id(base), ex)
            if key not in inputs:
                inputs[key] = len(in_list)
                in_list.append((base, ex))
            ops.append(("in", inputs[key]))
        body_ops.append((e, ops))
    reds = [e for e in k.eqns if e.prim in REDUCTIONS]
    full_sets = [{d for d in range(R) if ex[d] == S[d] and S[d] != 1} for _, ex in in_list]
    kept_sets = [{d for d in range(R) if d not in e.params["axes"]} for e in reds]
    groups = _collapse(S, full_sets + kept_sets)
    extents = tuple(int(np.prod([S[d] for d in g], dtype=np.int64)) for g in groups)

    def collapsed(axes_set):
        return {gi for gi, g in enumerate(groups) if g[0] in axes_set}

    def cshape(axes_set):
        c = collapsed(axes_set)
        return tuple(n if gi in c else 1 for gi, n in enumerate(extents))

    # body entries are numbered in order; map var ids to entry numbers
    number = {}
    body = []
    for i, (e, ops) in enumerate(body_ops):
        number[id(e.outputs[0])] = i
        body.append((e.prim, [("tmp", number[o[1]]) if o[0] == "tmp" else o for o in ops],
                     dict(e.params), np.dtype(e.outputs[0].aval.dtype)))
    k.outputs = [e.outputs[0] for e, _ in body_ops if needed_outside(e.outputs[0])]
    k.reductions = [e.outputs[0] for e in reds]
    k.inputs = [(base, cshape(fs)) for (base, _), fs in zip(in_list, full_sets)]
    k.extents = extents
    k.spec = KernelSpec(
        rank=len(groups),
        inputs=[(np.dtype(b.aval.dtype), collapsed(fs)) for (b, _), fs in zip(in_list, full_sets)],
        body=body,
        outputs=[number[id(v)] for v in k.outputs],
        reductions=[(number[id(e.inputs[0])], collapsed(ks), np.dtype(e.outputs[0].aval.dtype),
                     REDUCTIONS[e.prim]) for e, ks in zip(reds, kept_sets)])
