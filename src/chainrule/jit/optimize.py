"""Jaxpr-to-Jaxpr optimisations run before partitioning.

- inlining of nested ``jit`` calls (so their equations fuse with ours);
- constant folding (equations whose inputs are all known are run now; a
  result that would be bigger than its inputs, like a broadcast, is left to
  the kernels);
- algebraic simplification of what reverse mode leaves behind: ``x * 1``,
  ``x + 0``, ``x - 0``, ``x / 1``, ``-(-x)``, broadcasts that NumPy
  broadcasting makes redundant, transposes of transposes, identity
  reshapes/casts;
- common-subexpression elimination;
- dead-code elimination.

Every rewrite keeps each variable's shape and dtype, so results are the same
as eager evaluation.
"""

from __future__ import annotations

import numpy as np

from ..core import ClosedJaxpr, Jaxpr, Literal, Var
from ..primitives import elementwise as ew
from ..primitives import shape as sh

_BROADCASTING = {ew.add_p, ew.sub_p, ew.mul_p, ew.div_p, ew.pow_p, ew.max_p, ew.min_p,
                 ew.atan2_p, ew.rem_p, ew.eq_p, ew.ne_p, ew.lt_p, ew.le_p, ew.gt_p, ew.ge_p,
                 ew.and_p, ew.or_p, ew.xor_p, ew.select_p, ew.clamp_p}
_FOLD_LIMIT = 1 << 20


def _same_aval(a, b) -> bool:
    return tuple(a.aval.shape) == tuple(b.aval.shape) and np.dtype(a.aval.dtype) == np.dtype(
        b.aval.dtype)


def inline_calls(closed: ClosedJaxpr, call_prims) -> ClosedJaxpr:
    """Replace equations of ``call_prims`` by the equations of their Jaxpr."""
    jaxpr = closed.jaxpr
    constvars, consts, eqns = list(jaxpr.constvars), list(closed.consts), []

    def inline(inner: ClosedJaxpr, in_atoms):
        env = {}
        for v, c in zip(inner.jaxpr.constvars, inner.consts):
            nv = Var(v.aval)
            constvars.append(nv)
            consts.append(c)
            env[id(v)] = nv
        for v, a in zip(inner.jaxpr.invars, in_atoms):
            env[id(v)] = a
        read = lambda a: a if isinstance(a, Literal) else env[id(a)]  # noqa: E731
        for e in inner.jaxpr.eqns:
            ins = [read(a) for a in e.inputs]
            if e.prim in call_prims:
                outs = inline(e.params["jaxpr"], ins)
            else:
                outs = [Var(v.aval) for v in e.outputs]
                eqns.append(type(e)(e.prim, ins, outs, e.params))
            for v, o in zip(e.outputs, outs):
                env[id(v)] = o
        return [read(a) for a in inner.jaxpr.outvars]

    if not any(e.prim in call_prims for e in jaxpr.eqns):
        return closed
    env = {}
    read = lambda a: a if isinstance(a, Literal) else env.get(id(a), a)  # noqa: E731
    for e in jaxpr.eqns:
        ins = [read(a) for a in e.inputs]
        if e.prim in call_prims:
            for v, o in zip(e.outputs, inline(e.params["jaxpr"], ins)):
                env[id(v)] = o
        else:
            eqns.append(type(e)(e.prim, ins, e.outputs, e.params))
    outvars = [read(a) for a in jaxpr.outvars]
    return ClosedJaxpr(Jaxpr(constvars, list(jaxpr.invars), eqns, outvars), consts)


def _param_key(params):
    try:
        key = tuple(sorted((k, v) for k, v in params.items()))
        hash(key)
        return key
    except TypeError:
        return None


def _atom_key(a):
    if isinstance(a, Literal):
        return ("lit", np.dtype(a.aval.dtype).str, a.val.item())
    return ("var", id(a))


def simplify(closed: ClosedJaxpr) -> ClosedJaxpr:
    """One forward pass of folding, simplification and CSE."""
    jaxpr = closed.jaxpr
    known = {id(v): c for v, c in zip(jaxpr.constvars, closed.consts)
             if not hasattr(c, "_interp")}
    constvars, consts = list(jaxpr.constvars), list(closed.consts)
    subst: dict[int, object] = {}
    producer: dict[int, object] = {}
    seen: dict = {}
    eqns = []

    def read(a):
        while isinstance(a, Var) and id(a) in subst:
            a = subst[id(a)]
        return a

    def value(a):
        if isinstance(a, Literal):
            return a.val
        return known.get(id(a))

    def is_all(a, x) -> bool:
        v = value(a)
        return v is not None and np.size(v) <= _FOLD_LIMIT and bool(np.all(v == x))

    for e in jaxpr.eqns:
        ins = [read(a) for a in e.inputs]
        out = e.outputs[0] if len(e.outputs) == 1 else None
        p = e.prim
        # -- constant folding
        vals = [value(a) for a in ins]
        if (out is not None and not p.multiple_results and p.impl is not None and ins
                and all(v is not None for v in vals)
                and np.prod(out.aval.shape, dtype=np.int64) <= max(
                    [1] + [np.size(v) for v in vals])):
            try:
                r = np.asarray(p.impl(*vals, **e.params))
            except Exception:  # leave it to run time, where errors surface normally
                r = None
            if r is not None and r.shape == tuple(out.aval.shape) and r.dtype == out.aval.dtype:
                if r.ndim == 0:
                    subst[id(out)] = Literal(r)
                else:
                    constvars.append(out)
                    consts.append(r)
                    known[id(out)] = r
                continue
        # -- algebraic simplification
        rep = None
        if out is not None:
            if p in (ew.mul_p,):
                for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
                    if is_all(b, 1) and _same_aval(a, out):
                        rep = a
                        break
            elif p in (ew.add_p,):
                for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
                    if is_all(b, 0) and _same_aval(a, out):
                        rep = a
                        break
            elif p is ew.sub_p and is_all(ins[1], 0) and _same_aval(ins[0], out):
                rep = ins[0]
            elif p is ew.div_p and is_all(ins[1], 1) and _same_aval(ins[0], out):
                rep = ins[0]
            elif p is ew.neg_p and id(ins[0]) in producer and producer[id(ins[0])].prim is ew.neg_p:
                rep = producer[id(ins[0])].inputs[0]
            elif p is ew.stop_gradient_p:  # derivatives were taken while tracing
                rep = ins[0]
            elif p in (ew.convert_element_type_p, sh.reshape_p) and _same_aval(ins[0], out):
                rep = ins[0]
            elif p is sh.reshape_p and id(ins[0]) in producer and \
                    producer[id(ins[0])].prim is sh.reshape_p:
                x = producer[id(ins[0])].inputs[0]
                if _same_aval(x, out):
                    rep = x
                else:
                    ins = [x]
                    e = type(e)(p, ins, e.outputs, e.params)
            elif p is sh.broadcast_in_dim_p and _same_aval(ins[0], out):
                rep = ins[0]
            elif p is sh.transpose_p:
                perm = tuple(e.params["permutation"])
                inner = producer.get(id(ins[0]))
                if perm == tuple(range(len(perm))):
                    rep = ins[0]
                elif inner is not None and inner.prim is sh.transpose_p:
                    p1 = inner.params["permutation"]
                    composed = tuple(p1[i] for i in perm)
                    if composed == tuple(range(len(composed))):
                        rep = inner.inputs[0]
                    else:
                        ins = [inner.inputs[0]]
                        e = type(e)(p, ins, e.outputs, {"permutation": composed})
        if rep is not None:
            subst[id(out)] = rep
            continue
        # -- broadcasts that the elementwise op's own broadcasting makes redundant
        if p in _BROADCASTING and out is not None:
            new = list(ins)
            for i, a in enumerate(ins):
                b = producer.get(id(a)) if isinstance(a, Var) else None
                if b is None or b.prim is not sh.broadcast_in_dim_p:
                    continue
                x = b.inputs[0]
                shape, dims = b.params["shape"], tuple(b.params["broadcast_dimensions"])
                if dims != tuple(range(len(shape) - len(x.aval.shape), len(shape))):
                    continue
                trial = new[:i] + [x] + new[i + 1:]
                try:
                    if np.broadcast_shapes(*[t.aval.shape for t in trial]) == tuple(out.aval.shape):
                        new = trial
                except ValueError:
                    pass
            ins = new
        # -- CSE
        pk = _param_key(e.params)
        if pk is not None and not p.multiple_results:
            key = (p, tuple(_atom_key(a) for a in ins), pk)
            if key in seen:
                subst[id(out)] = seen[key]
                continue
            seen[key] = out
        ne = type(e)(p, ins, e.outputs, e.params)
        eqns.append(ne)
        for v in e.outputs:
            producer[id(v)] = ne
    outvars = [read(a) for a in jaxpr.outvars]
    return ClosedJaxpr(Jaxpr(constvars, list(jaxpr.invars), eqns, outvars), consts)


def dce(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Drop equations whose results are never used, and unused constants."""
    jaxpr = closed.jaxpr
    live = {id(v) for v in jaxpr.outvars if isinstance(v, Var)}
    kept = []
    for e in reversed(jaxpr.eqns):
        if any(id(v) in live for v in e.outputs):
            kept.append(e)
            live.update(id(a) for a in e.inputs if isinstance(a, Var))
    pairs = [(v, c) for v, c in zip(jaxpr.constvars, closed.consts) if id(v) in live]
    return ClosedJaxpr(Jaxpr([v for v, _ in pairs], list(jaxpr.invars), kept[::-1],
                             list(jaxpr.outvars)), [c for _, c in pairs])


def optimize(closed: ClosedJaxpr, call_prims=()) -> ClosedJaxpr:
    closed = inline_calls(closed, set(call_prims))
    closed = dce(simplify(closed))
    return dce(simplify(closed))
