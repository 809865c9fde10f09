"""Jaxpr-to-Jaxpr optimisations run before partitioning.

- inlining of nested ``jit`` calls (so their equations fuse with ours);
- constant folding (equations whose inputs are all known are run now; a
  result that would be bigger than its inputs, like a broadcast, is left to
  the kernels);
- algebraic simplification of what reverse mode leaves behind: ``x * 1``,
  ``x + 0``, ``x - 0``, ``x / 1``, ``-(-x)``, broadcasts that NumPy
  broadcasting makes redundant, transposes of transposes, identity
  reshapes/casts;
- contractions with an identity matrix or a diagonal one (``eye * v``), which
  ``jacfwd``/``jacrev``/``hessian`` produce by pushing the standard basis
  through linear maps: ``dot_general(X, eye)`` is a transpose of ``X`` and
  ``dot_general(X, eye * v)`` a transpose of ``X`` scaled by ``v``, O(n^2)
  instead of a GEMM of O(n^3);
- common-subexpression elimination;
- dead-code elimination;
- a scan body's products of its per-step inputs with loop constants (an
  RNN's input projection ``u @ x``) are computed for all steps before the
  loop, as one matrix-matrix product whose rows the loop then reads;
- small contractions (a matrix-vector product in a loop body, say) become
  a broadcast multiply and a sum, which the partitioner fuses into a kernel
  like any reduction: NumPy's matmul costs over a microsecond per call
  whatever the size, a fused loop a few nanoseconds per multiply-add.

Every rewrite keeps each variable's shape and dtype, so results are the same
as eager evaluation.
"""

from __future__ import annotations

import numpy as np

from ..core import ClosedJaxpr, Eqn, Jaxpr, Literal, Var, live_eqns, param_jaxprs
from ..primitives import elementwise as ew
from ..primitives import shape as sh
from ..primitives.dot import dot_general_p

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


def _bind(eqns, producer, prim, ins, **params):
    """Append ``prim(*ins)`` to ``eqns`` and return its output variable."""
    out = Var(prim.abstract_eval(*[a.aval for a in ins], **params))
    eqn = Eqn(prim, list(ins), [out], params)
    eqns.append(eqn)
    producer[id(out)] = eqn
    return out


def _diagonal(a, value, producer, identities):
    """``(n, v)`` when ``a`` is known to be ``eye(n)`` (v None) or ``eye(n) * v``
    with ``v`` a scalar or a vector (shape (), (n,), (1, n) or (n, 1)), else None."""
    def is_eye(b):
        if not isinstance(b, Var) or len(b.aval.shape) != 2:
            return False
        n, m = b.aval.shape
        if n != m or n == 0:
            return False
        if id(b) not in identities:
            c = value(b)
            identities[id(b)] = (c is not None and np.size(c) <= _FOLD_LIMIT
                                 and bool(np.array_equal(c, np.eye(n))))
        return identities[id(b)]

    if is_eye(a):
        return a.aval.shape[0], None
    e = producer.get(id(a)) if isinstance(a, Var) else None
    if e is None or e.prim is not ew.mul_p:
        return None
    for x, v in ((e.inputs[0], e.inputs[1]), (e.inputs[1], e.inputs[0])):
        if is_eye(x):
            n = x.aval.shape[0]
            if tuple(v.aval.shape) in ((), (n,), (1, n), (n, 1)) and \
                    np.dtype(v.aval.dtype) == np.dtype(x.aval.dtype):
                return n, v
    return None


def _dot_with_diagonal(e, ins, value, producer, identities, eqns):
    """The replacement of ``dot_general`` by a transpose (and a scaling) when an
    operand is an identity or diagonal matrix, or None."""
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    if lb or rb or len(lc) != 1 or len(rc) != 1:
        return None
    lhs, rhs = ins
    out = e.outputs[0]
    for side, (d, x, xc) in enumerate(((rhs, lhs, lc[0]), (lhs, rhs, rc[0]))):
        diag = _diagonal(d, value, producer, identities)
        if diag is None or isinstance(x, Literal):
            continue
        n, v = diag
        nd = len(x.aval.shape)
        # the diagonal's free axis takes the place of x's contracted one, at the
        # end of the output (diagonal on the right) or at its start (on the left)
        rest = [i for i in range(nd) if i != xc]
        perm = tuple(rest + [xc]) if side == 0 else tuple([xc] + rest)
        y = x if perm == tuple(range(nd)) else _bind(eqns, producer, sh.transpose_p, [x],
                                                     permutation=perm)
        if v is not None:
            if v.aval.shape:
                shape = (n,) if side == 0 else (n,) + (1,) * (nd - 1)
                if tuple(v.aval.shape) != shape:
                    v = _bind(eqns, producer, sh.reshape_p, [v], new_sizes=shape)
            y = _bind(eqns, producer, ew.mul_p, [y, v])
        if tuple(y.aval.shape) != tuple(out.aval.shape) or \
                np.dtype(y.aval.dtype) != np.dtype(out.aval.dtype):  # pragma: no cover
            raise AssertionError("dot_general with a diagonal: wrong rewrite")
        return y
    return None


def simplify(closed: ClosedJaxpr) -> ClosedJaxpr:
    """One forward pass of folding, simplification and CSE."""
    jaxpr = closed.jaxpr
    known = {id(v): c for v, c in zip(jaxpr.constvars, closed.consts)
             if not hasattr(c, "_interp")}
    constvars, consts = list(jaxpr.constvars), list(closed.consts)
    subst: dict[int, object] = {}
    producer: dict[int, object] = {}
    seen: dict = {}
    identities: dict[int, bool] = {}
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
                with np.errstate(all="ignore"):
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
        if p is dot_general_p and out is not None:
            rep = _dot_with_diagonal(e, ins, value, producer, identities, eqns)
        if rep is not None:
            subst[id(out)] = rep
            continue
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
    kept = live_eqns(jaxpr.eqns, jaxpr.outvars)
    used = {id(a) for e in kept for a in e.inputs} | {id(v) for v in jaxpr.outvars}
    pairs = [(v, c) for v, c in zip(jaxpr.constvars, closed.consts) if id(v) in used]
    return ClosedJaxpr(Jaxpr([v for v, _ in pairs], list(jaxpr.invars), kept,
                             list(jaxpr.outvars)), [c for _, c in pairs])


# contractions of at most this many multiply-adds are fused (small_dots)
SMALL_DOT = 1 << 13


def _loop_layout(lhs_rank, rhs_rank, lc, rc):
    """Loop axes for ``dot_general`` as ``sum(lhs * rhs)``: positions of (lhs's
    free axis, rhs's free axis, the contracted axis), None where an operand
    has no free axis; each operand's axes must stay in order (broadcasts keep
    axis order), or None when no layout does that."""
    has_l, has_r = lhs_rank == 2, rhs_rank == 2
    l_first = not has_l or lc == 1        # lhs is (L, K): L before K
    r_first = has_r and rc == 1           # rhs is (R, K): R before K
    for order in (("L", "K", "R"), ("L", "R", "K"), ("K", "L", "R")):
        axes = [a for a in order if (a != "L" or has_l) and (a != "R" or has_r)]
        pos = {a: i for i, a in enumerate(axes)}
        if has_l and (pos["L"] < pos["K"]) != l_first:
            continue
        if has_r and (pos["R"] < pos["K"]) != r_first:
            continue
        return pos.get("L"), pos.get("R"), pos["K"]
    return None


def small_dots(closed: ClosedJaxpr, limit=SMALL_DOT) -> ClosedJaxpr:
    """Rewrite small rank-1/2 contractions as ``reduce_sum(mul(bcast, bcast))``
    (outer products of vectors as ``mul(bcast, bcast)``)."""
    from ..primitives.reductions import reduce_sum_p
    jaxpr = closed.jaxpr
    eqns, producer = [], {}
    subst: dict[int, object] = {}
    for e in jaxpr.eqns:
        ins = [subst.get(id(a), a) for a in e.inputs]
        rep = None
        if e.prim is dot_general_p:
            (lc, rc), (lb, rb) = e.params["dimension_numbers"]
            lhs, rhs = ins
            out = e.outputs[0]
            ln, rn = len(lhs.aval.shape), len(rhs.aval.shape)
            dt = np.dtype(out.aval.dtype)
            small = (dt.kind == "f" and np.dtype(lhs.aval.dtype) == dt
                     and np.dtype(rhs.aval.dtype) == dt and not lb and not rb
                     and int(np.prod(out.aval.shape)) * int(np.prod(
                         [lhs.aval.shape[i] for i in lc])) <= limit)
            layout = (_loop_layout(ln, rn, lc[0], rc[0])
                      if small and len(lc) == 1 and 1 <= ln <= 2 and 1 <= rn <= 2 else None)
            if small and not lc and ln == rn == 1:
                # an outer product (a weight's gradient in a loop body): a broadcast multiply
                shape = tuple(out.aval.shape)
                a = _bind(eqns, producer, sh.broadcast_in_dim_p, [lhs], shape=shape,
                          broadcast_dimensions=(0,))
                b = _bind(eqns, producer, sh.broadcast_in_dim_p, [rhs], shape=shape,
                          broadcast_dimensions=(1,))
                rep = _bind(eqns, producer, ew.mul_p, [a, b])
            elif layout is not None:
                pl, pr, pk = layout
                k = lhs.aval.shape[lc[0]]
                shape = [0] * (1 + (pl is not None) + (pr is not None))
                shape[pk] = k
                if pl is not None:
                    shape[pl] = lhs.aval.shape[1 - lc[0]]
                if pr is not None:
                    shape[pr] = rhs.aval.shape[1 - rc[0]]
                shape = tuple(shape)
                bl = (sorted([pl, pk]) if ln == 2 else [pk])
                br = (sorted([pr, pk]) if rn == 2 else [pk])
                a = _bind(eqns, producer, sh.broadcast_in_dim_p, [lhs], shape=shape,
                          broadcast_dimensions=tuple(bl))
                b = _bind(eqns, producer, sh.broadcast_in_dim_p, [rhs], shape=shape,
                          broadcast_dimensions=tuple(br))
                prod = _bind(eqns, producer, ew.mul_p, [a, b])
                rep = _bind(eqns, producer, reduce_sum_p, [prod], axes=(pk,))
                if tuple(rep.aval.shape) != tuple(out.aval.shape) or \
                        np.dtype(rep.aval.dtype) != dt:  # pragma: no cover
                    raise AssertionError("small_dots: wrong rewrite")
        if rep is not None:
            subst[id(e.outputs[0])] = rep
            continue
        ne = type(e)(e.prim, ins, e.outputs, e.params)
        eqns.append(ne)
    outvars = [subst.get(id(a), a) for a in jaxpr.outvars]
    return ClosedJaxpr(Jaxpr(list(jaxpr.constvars), list(jaxpr.invars), eqns, outvars),
                       list(closed.consts))


# at most this many bytes of values a scan's body would compute are stacked
# before the loop (hoist_from_scans)
HOIST_LIMIT = 1 << 24


def _l1_bytes() -> int:
    """The first-level data cache of CPU 0 (32 KiB where Linux does not say)."""
    import glob
    for d in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(f"{d}/level") as f, open(f"{d}/type") as t, open(f"{d}/size") as z:
                if f.read().strip() == "1" and t.read().strip() in ("Data", "Unified"):
                    size = z.read().strip()
                    return int(size[:-1]) * 1024 if size.endswith("K") else int(size)
        except (OSError, ValueError):
            continue
    return 32 * 1024


L1_BYTES = _l1_bytes()


def hoist_from_scans(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Move the contractions in a scan's body that read only its per-step
    inputs and its constants (not the carry) out of the loop: traced under
    ``vmap`` over the steps, they become one product for all steps, and the
    body reads its rows as new per-step inputs. In a compiled loop, a small
    product costs a pass over its operands every step, and a large one a
    BLAS call every step; one GEMM before the loop does both at its peak.

    Measured (``docs/performance.md``), this pays for a large product, and
    for a small one only when the body's constants together overflow the
    first-level cache: then the projection's matrix evicts the recurrent
    one every step. Otherwise the GEMM's call and the stacked rows cost more
    than the loop spends on the product, and the body keeps it."""
    from ..control_flow import scan_p
    jaxpr = closed.jaxpr
    if not any(e.prim is scan_p for e in jaxpr.eqns):
        return closed
    constvars, consts, eqns = list(jaxpr.constvars), list(closed.consts), []
    for e in jaxpr.eqns:
        eqns.append(_hoist(e, eqns, constvars, consts) if e.prim is scan_p else e)
    return ClosedJaxpr(Jaxpr(constvars, list(jaxpr.invars), eqns, list(jaxpr.outvars)), consts)


def _hoist(e, eqns, constvars, consts):
    """``e`` (a scan) with its body's carry-independent products stacked by
    equations appended to ``eqns``; ``e`` itself when it has none."""
    from ..api import vmap
    from ..checkpoint import optimization_barrier_p
    from ..control_flow import runner
    from ..core import trace_to_jaxpr
    from .loops import LOOP_DOT, multiply_adds
    p = e.params
    body, nc, nk, length = p["jaxpr"], p["num_consts"], p["num_carry"], p["length"]
    if length == 0 or any(e2.prim is optimization_barrier_p for e2 in body.eqns):
        return e   # a checkpointed body keeps its memory promise: nothing stacked
    ins = body.invars
    per_step = {id(v) for v in ins[nc + nk:]}
    known = {id(v) for v in ins[:nc]} | per_step
    producer = {}
    for b in body.eqns:
        plain = not getattr(b.prim, "effect", False) and next(
            param_jaxprs(b.params), None) is None
        vars_in = [a for a in b.inputs if isinstance(a, Var)]
        if plain and all(id(a) in known for a in vars_in):
            known.update(id(v) for v in b.outputs)
            for v in b.outputs:
                producer[id(v)] = b
            if any(id(a) in per_step for a in vars_in):
                per_step.update(id(v) for v in b.outputs)
    # the products of per-step values, and what they are computed from
    in_body = {id(a) for b in body.eqns for a in b.inputs}
    crowded = sum(nbytes(v) for v in ins[:nc] if id(v) in in_body) > L1_BYTES
    cone, todo = set(), [b for b in body.eqns if b.prim is dot_general_p
                         and producer.get(id(b.outputs[0])) is b
                         and id(b.outputs[0]) in per_step
                         and (crowded or multiply_adds(b) > LOOP_DOT)]
    while todo:
        b = todo.pop()
        if id(b) not in cone:
            cone.add(id(b))
            todo += [producer[id(a)] for a in b.inputs
                     if isinstance(a, Var) and id(a) in producer]
    if not cone:
        return e
    pre_eqns = [b for b in body.eqns if id(b) in cone]
    moved = {id(b) for b in pre_eqns if id(b.outputs[0]) in per_step}
    kept = [b for b in body.eqns if id(b) not in moved]
    read_later = {id(a) for b in kept for a in b.inputs} | {id(v) for v in body.outvars}
    boundary = [v for b in pre_eqns if id(b) in moved for v in b.outputs
                if id(v) in read_later]
    if not boundary or length * sum(nbytes(v) for v in boundary) > HOIST_LIMIT:
        return e
    read_before = {id(a) for b in pre_eqns for a in b.inputs}
    used = [i for i, v in enumerate(ins) if id(v) in read_before]
    pre = Jaxpr([], [ins[i] for i in used], pre_eqns, boundary)
    axes = tuple(None if i < nc else 0 for i in used)
    outer = [e.inputs[i] for i in used]
    try:
        batched = trace_to_jaxpr(lambda *a: vmap(runner(pre), in_axes=axes)(*a),
                                 [a.aval for a in outer], "scan inputs")
    except Exception:   # a primitive without a batching rule: the loop keeps it
        return e
    env = {id(v): a for v, a in zip(batched.jaxpr.invars, outer)}
    for v, c in zip(batched.jaxpr.constvars, batched.consts):
        constvars.append(v)
        consts.append(c)
    read = lambda a: a if isinstance(a, Literal) else env.get(id(a), a)  # noqa: E731
    for b in batched.jaxpr.eqns:
        eqns.append(type(b)(b.prim, [read(a) for a in b.inputs], b.outputs, b.params))
    stacked = [read(a) for a in batched.jaxpr.outvars]
    # the boundary values become the body's new per-step inputs
    new_body = Jaxpr(list(body.constvars), list(ins) + boundary,
                     live_eqns(kept, body.outvars), list(body.outvars))
    return type(e)(e.prim, list(e.inputs) + stacked, e.outputs, {**p, "jaxpr": new_body})


def nbytes(v) -> int:
    """The bytes of variable ``v``'s value."""
    return int(np.prod(v.aval.shape, dtype=np.int64)) * np.dtype(v.aval.dtype).itemsize


def optimize(closed: ClosedJaxpr, call_prims=()) -> ClosedJaxpr:
    closed = inline_calls(closed, set(call_prims))
    closed = dce(hoist_from_scans(dce(simplify(closed))))
    return dce(small_dots(dce(simplify(closed))))
