"""Structured control flow: cond, switch, scan, fori_loop, while_loop.

Each is a primitive whose params hold inner Jaxprs (traced once from the
user's functions; closed-over values become leading operands), so every
transform can rewrite it: forward mode loops/branches over (primal, tangent)
pairs, reverse mode builds the backward loop, vmap batches the bodies, jit
compiles them. The inner Jaxprs are built by tracing chainrule's own
transforms of the bodies, so the rules compose to any depth.

Where the predicate is concrete (eager code, static values), ``cond`` and
``while_loop`` run Python control flow, which every interpreter already
differentiates; the primitives appear where values are traced (jit, vmap).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .core import (
    ConcretizationError,
    Jaxpr,
    Primitive,
    ShapedArray,
    Tracer,
    Var,
    eval_jaxpr,
    get_aval,
    is_float,
    live_eqns,
    trace_to_jaxpr,
)
from .tree_util import tree_flatten, tree_map, tree_unflatten

# ------------------------------------------------------------ helpers ---


def trace_fun(fun, in_avals, name):
    """Trace ``fun(*flat) -> flat`` to ``(jaxpr, consts)``; the jaxpr takes
    the consts as its leading inputs (closure conversion)."""
    closed = trace_to_jaxpr(lambda *xs: list(fun(*xs)), in_avals, name)
    j = closed.jaxpr
    return Jaxpr([], list(j.constvars) + list(j.invars), j.eqns, j.outvars), list(closed.consts)


def run(jaxpr, *args):
    return eval_jaxpr(jaxpr, [], *args)


def runner(jaxpr):
    return lambda *args: run(jaxpr, *args)


def out_avals(jaxpr):
    return [ShapedArray(tuple(v.aval.shape), np.dtype(v.aval.dtype)) for v in jaxpr.outvars]


def _avals(xs):
    return [get_aval(x) for x in xs]


def _zeros(aval):
    return np.zeros(aval.shape, aval.dtype)


def _check_types(where, got, expected, what):
    if len(got) != len(expected):
        raise TypeError(f"{where}: {what} has {len(expected)} values, got {len(got)}")
    for g, e in zip(got, expected):
        if tuple(g.shape) != tuple(e.shape) or np.dtype(g.dtype) != np.dtype(e.dtype):
            raise TypeError(f"{where}: {what} must keep its shapes and dtypes, but "
                            f"{e.str_short()} became {g.str_short()}")


def _concrete(x):
    """``x`` as a concrete array, or None when it is traced abstractly."""
    try:
        return np.asarray(x._concrete("control flow") if isinstance(x, Tracer) else x)
    except ConcretizationError:
        return None


def _jvp_flat(fun, primals, tangents):
    """Flat JVP; integer values get zero tangents of their own dtype."""
    from .api import jvp
    outs, t_outs = jvp(lambda *a: list(fun(*a)), tuple(primals), tuple(tangents))
    return list(outs), [t if is_float(get_aval(o).dtype) else _zeros(get_aval(o))
                        for o, t in zip(outs, t_outs)]


def _float_tangents(xs, ts):
    """Tangents for every value, zeros where symbolic (None)."""
    return [_zeros(get_aval(x)) if t is None else t for x, t in zip(xs, ts)]


def _vjp_flat(fun, primals, cts, wants=None):
    """Cotangents of the float ``primals`` that are wanted (None elsewhere)."""
    from .api import vjp
    wants = [True] * len(primals) if wants is None else list(wants)
    idx = [i for i, p in enumerate(primals) if wants[i] and is_float(get_aval(p).dtype)]

    def of_wanted(*ws):
        full = list(primals)
        for i, w in zip(idx, ws):
            full[i] = w
        return list(fun(*full))

    _, pullback = vjp(of_wanted, *[primals[i] for i in idx])
    in_cts = iter(pullback(list(cts)))
    return [next(in_cts) if i in idx else None for i in range(len(primals))]


def _dense(cts, outs):
    return [(_zeros(get_aval(o)) if c is None else c) if is_float(get_aval(o).dtype)
            else _zeros(get_aval(o)) for c, o in zip(cts, outs)]


# --------------------------------------------------------------- cond ---

cond_p = Primitive("cond", multiple_results=True)


def _branches(funs, avals):
    """Trace each branch; pad each Jaxpr to take every branch's consts, so
    that one operand list serves all. Returns (branches, consts)."""
    traced = [trace_fun(f, avals, "cond branch") for f in funs]
    consts = [c for _, cs in traced for c in cs]
    branches = []
    for i, (jaxpr, cs) in enumerate(traced):
        invars = []
        for j, (other, ocs) in enumerate(traced):
            invars += (jaxpr.invars[:len(cs)] if i == j
                       else [Var(v.aval) for v in other.invars[:len(ocs)]])
        branches.append(Jaxpr([], invars + jaxpr.invars[len(cs):], jaxpr.eqns, jaxpr.outvars))
    outs = [out_avals(b) for b in branches]
    for o in outs[1:]:
        _check_types("cond", o, outs[0], "every branch's output (as branch 0's)")
    return tuple(branches), consts


def _exact(xs, avals):
    """``xs`` as C-contiguous ndarrays of the avals' dtypes: what compiled
    bodies take (``lower_call``) without copying, converted once before a
    loop rather than every step."""
    return [x if type(x) is np.ndarray and x.dtype == a.dtype and x.flags.c_contiguous
            else np.array(x, a.dtype, order="C") for x, a in zip(xs, avals)]


def _in_avals(jaxpr):
    return [v.aval for v in jaxpr.invars]


def _cond_impl(index, *args, branches, run_branch=None):
    i = int(np.clip(int(index), 0, len(branches) - 1))
    if run_branch is not None:
        return run_branch[i](*_exact(args, _in_avals(branches[i])))
    return [np.asarray(o) for o in run(branches[i], *args)]


def _cond_lower_call(compile, *, branches):
    return functools.partial(_cond_impl, branches=branches,
                             run_branch=[compile(b) for b in branches])


def _cond_jvp_full(primals, tangents, *, branches):
    index, args = primals[0], list(primals[1:])
    ts = _float_tangents(args, tangents[1:])
    n = len(args)
    funs = [lambda *a, b=b: sum(_jvp_flat(runner(b), a[:n], a[n:]), []) for b in branches]
    new, consts = _branches(funs, _avals(args) + _avals(ts))
    outs = cond_p.bind(index, *consts, *args, *ts, branches=new)
    k = len(outs) // 2
    return outs[:k], [t if is_float(get_aval(t).dtype) else None for t in outs[k:]]


def _cond_vjp(cts, outs, index, *args, wants, branches):
    # recompute the chosen branch and run its VJP (what checkpointing does)
    cts = _dense(cts, outs)
    n = len(args)
    mask = [is_float(get_aval(a).dtype) for a in args]

    def branch_vjp(b):
        def f(*a):
            in_cts = _vjp_flat(runner(b), a[:n], a[n:])
            return [c for c, m in zip(in_cts, mask) if m]
        return f

    new, consts = _branches([branch_vjp(b) for b in branches], _avals(args) + _avals(cts))
    flat = iter(cond_p.bind(index, *consts, *args, *cts, branches=new))
    return [None] + [next(flat) if m else None for m in mask]


def _cond_batch(axis_size, args, dims, *, branches):
    from .api import vmap
    from .batching import bdim_to_front
    from .primitives.elementwise import eq, select
    from .primitives.shape import reshape
    index, ops, op_dims = args[0], list(args[1:]), list(dims[1:])
    batched = [lambda *a, b=b: vmap(runner(b), in_axes=tuple(op_dims), axis_size=axis_size)(*a)
               for b in branches]
    if dims[0] is None:
        avals = _avals(ops)
        new, consts = _branches(batched, avals)
        outs = cond_p.bind(index, *consts, *ops, branches=new)
        return outs, [0] * len(outs)
    # a batched predicate: every branch runs on the whole batch, then each
    # example takes its own branch's result
    index = bdim_to_front(index, dims[0], axis_size)
    results = [f(*ops) for f in batched]
    outs = []
    for k, first in enumerate(results[0]):
        shape = (axis_size,) + (1,) * (len(np.shape(first)) - 1)
        out = first
        for i in range(1, len(branches)):
            pick = reshape(eq(index, np.asarray(i, get_aval(index).dtype)), shape)
            out = select(pick, results[i][k], out)
        outs.append(out)
    return outs, [0] * len(outs)


cond_p.impl = _cond_impl
cond_p.lower_call = _cond_lower_call
cond_p.abstract_eval = lambda index, *args, branches: out_avals(branches[0])
cond_p.jvp_full = _cond_jvp_full
cond_p.jvp = lambda primals, tangents, out, **p: _cond_jvp_full(primals, tangents, **p)[1]
cond_p.vjp = _cond_vjp
cond_p.batch = _cond_batch


def switch(index, branches, *operands):
    """``branches[index](*operands)``, with ``index`` clamped to the range."""
    from .numpy import asarray, clip
    from .primitives.elementwise import convert_element_type
    concrete = _concrete(index)
    if concrete is not None:
        return branches[int(np.clip(int(concrete), 0, len(branches) - 1))](*operands)
    index = convert_element_type(clip(asarray(index), 0, len(branches) - 1), np.int32)
    leaves, in_tree = tree_flatten(operands)
    out_tree = []

    def flat(b):
        def f(*xs):
            out, tree = tree_flatten(b(*tree_unflatten(in_tree, list(xs))))
            out_tree[:] = [tree]
            return out
        return f

    new, consts = _branches([flat(b) for b in branches], _avals(leaves))
    outs = cond_p.bind(index, *consts, *leaves, branches=new)
    return tree_unflatten(out_tree[0], outs)


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``.

    A concrete ``pred`` runs just that branch; a traced one (under jit or a
    batched predicate under vmap) stages both, and vmap runs both and selects.
    """
    from .numpy import asarray, not_equal
    from .primitives.elementwise import convert_element_type
    concrete = _concrete(pred)
    if concrete is not None:
        if concrete.shape != ():
            raise TypeError(f"cond: the predicate must be a scalar, got shape {concrete.shape}")
        return (true_fun if bool(concrete) else false_fun)(*operands)
    pred = asarray(pred)
    if pred.shape != ():
        raise TypeError(f"cond: the predicate must be a scalar, got shape {pred.shape}")
    is_true = pred if pred.dtype == np.bool_ else not_equal(pred, 0)
    index = convert_element_type(is_true, np.int32)
    return switch(index, [false_fun, true_fun], *operands)


# --------------------------------------------------------------- scan ---
# Operands: consts, carry, xs (each x has the scanned axis first). The body
# Jaxpr maps (consts, carry, x) to (carry, y); ys are stacked along axis 0.

scan_p = Primitive("scan", multiple_results=True)


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse):
    body = runner(jaxpr)
    consts = args[:num_consts]
    carry = list(args[num_consts:num_consts + num_carry])
    xs = args[num_consts + num_carry:]
    # each y goes straight into its slot of the stacked output: no list of
    # per-step arrays to stack afterwards (which doubled the peak memory of
    # long scans, e.g. of the carries reverse mode keeps)
    stacked = [np.empty((length,) + tuple(a.shape), a.dtype)
               for a in out_avals(jaxpr)[num_carry:]]
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        out = body(*consts, *carry, *[x[i, ...] for x in xs])
        carry = out[:num_carry]
        for buf, y in zip(stacked, out[num_carry:]):
            buf[i] = y
    return [np.asarray(c) for c in carry] + stacked


def _scan_lower_call(compile, *, jaxpr, **params):
    # jit writes the loop itself, around the compiled body (the same steps as _scan_impl)
    return compile.scan(jaxpr, **params)


def _scan_aval(*avals, jaxpr, num_consts, num_carry, length, reverse):
    outs = out_avals(jaxpr)
    return outs[:num_carry] + [ShapedArray((length,) + tuple(a.shape), a.dtype)
                               for a in outs[num_carry:]]


def _split_scan(args, num_consts, num_carry):
    return (list(args[:num_consts]), list(args[num_consts:num_consts + num_carry]),
            list(args[num_consts + num_carry:]))


def _x_avals(xs):
    return [ShapedArray(tuple(get_aval(x).shape[1:]), get_aval(x).dtype) for x in xs]


def bind_scan(body, consts_args, carry, xs, length, reverse, name="scan"):
    """Trace ``body(*consts_args, *carry, *x) -> carry + y`` and bind scan."""
    nca = len(consts_args)
    jaxpr, consts = trace_fun(body, _avals(consts_args) + _avals(carry) + _x_avals(xs), name)
    _check_types(name, out_avals(jaxpr)[:len(carry)], _avals(carry), "the carry")
    return scan_p.bind(*consts, *consts_args, *carry, *xs, jaxpr=jaxpr,
                       num_consts=len(consts) + nca, num_carry=len(carry),
                       length=length, reverse=reverse)


def _scan_jvp_full(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse):
    # Two loops, the way partial evaluation splits them: the primal scan
    # runs on the primals alone, so it stays concrete when they are (eager
    # jvp, linearize, jacfwd), and stacks what the tangent scan reads.
    consts, carry, xs = _split_scan(primals, num_consts, num_carry)
    tc, tcarry, txs = _split_scan(_float_tangents(primals, tangents), num_consts, num_carry)
    split = _split_body_jvp(jaxpr, num_consts, num_carry)
    n_out = len(out_avals(jaxpr))
    if split is None:
        return _scan_jvp_recomputing(consts, carry, xs, tc, tcarry, txs, jaxpr, num_consts,
                                     num_carry, length, reverse)
    outs = bind_scan(runner(split.fwd), split.tconsts + consts, carry, xs, length, reverse)
    primal_outs, stacks = outs[:n_out], outs[n_out:]
    cs = split.tconsts + consts + list(run(split.hoisted, *split.tconsts, *consts))
    n_cs, nx, nr, nk, nc = len(cs), len(xs), len(stacks), len(carry), len(consts)
    tj = Jaxpr([], split.bwd_in, live_eqns(split.bwd_eqns, split.outs2), split.outs2)

    def tangent_body(*a):
        c, t_c, t_k = a[:n_cs], a[n_cs:n_cs + nc], a[n_cs + nc:n_cs + nc + nk]
        rest = a[n_cs + nc + nk:]
        x, res, t_x = rest[:nx], rest[nx:nx + nr], rest[nx + nr:]
        return run(tj, *c, *x, *res, *t_c, *t_k, *t_x)

    t_outs = bind_scan(tangent_body, cs + tc, tcarry, xs + list(stacks) + txs, length, reverse,
                       name="scan (tangents)")
    return primal_outs, [t if is_float(get_aval(t).dtype) else None for t in t_outs]


def _split_body_jvp(jaxpr, num_consts, num_carry):
    avals = _in_avals(jaxpr)
    n = len(avals)

    def lin(*a):
        outs, t_outs = _jvp_flat(runner(jaxpr), a[:n], a[n:])
        return list(outs) + list(t_outs)

    lj, tconsts = trace_fun(lin, avals + avals, "scan (body's JVP)")
    return _partial_eval(lj, tconsts, n, len(jaxpr.outvars), num_consts, num_carry,
                         len(lj.eqns))


def _scan_jvp_recomputing(consts, carry, xs, tc, tcarry, txs, jaxpr, num_consts, num_carry,
                          length, reverse):
    """The tangent scan recomputing each step's primal values from the
    carries the primal scan emits: for bodies whose equations compute primal
    and tangent values together (a ``cond`` or ``checkpoint`` inside)."""
    nc, nk, nx = len(consts), len(carry), len(xs)
    outs = bind_scan(_with_carry_out(jaxpr, num_consts, num_carry), consts, carry, xs, length,
                     reverse)
    n_out = len(out_avals(jaxpr))
    primal_outs, carries_in = outs[:n_out], outs[n_out:]

    def tangent_body(*a):
        c, t_c, t_k = a[:nc], a[nc:2 * nc], a[2 * nc:2 * nc + nk]
        x, t_x, k = a[2 * nc + nk:2 * nc + nk + nx], a[2 * nc + nk + nx:2 * nc + nk + 2 * nx], \
            a[2 * nc + nk + 2 * nx:]
        _, t_outs = _jvp_flat(runner(jaxpr), list(c) + list(k) + list(x),
                              list(t_c) + list(t_k) + list(t_x))
        return t_outs

    t_outs = bind_scan(tangent_body, consts + tc, tcarry, xs + txs + list(carries_in), length,
                       reverse, name="scan (tangents)")
    return primal_outs, [t if is_float(get_aval(t).dtype) else None for t in t_outs]


# Reverse mode splits the body's VJP where the cotangents enter (partial
# evaluation, as JAX's linearize does): what needs no cotangent runs in the
# forward loop, which stacks the values the backward loop reads, so that the
# backward loop does not recompute the forward step. Structural ops
# (broadcasts, reshapes) are recomputed from their stacked operand rather
# than stacked themselves, values made from the consts alone are computed
# once before the backward loop, and a recomputation that ``checkpoint``
# asked for stays in the backward loop. Forward mode splits the body's JVP
# the same way: the primal loop stacks what the tangent loop reads.

_RECOMPUTED = frozenset({"broadcast_in_dim", "reshape", "transpose", "squeeze", "expand_dims",
                         "convert_element_type"})


_CHEAP = frozenset({"add", "sub", "mul", "neg", "max", "min", "abs", "sign", "select",
                    "integer_pow", "convert_element_type"})


class _SplitBody(NamedTuple):
    """A body's VJP (or JVP) as the bodies of two loops: the forward (primal)
    one and the backward (tangent) one."""
    tconsts: list     # constants captured while tracing the body's VJP
    fwd: Jaxpr        # (tconsts, consts, carry, x) -> (carry, y, residuals)
    hoisted: Jaxpr    # (tconsts, consts) -> invariant values the backward reads
    bwd_in: list      # what the backward body reads: tconsts+consts, hoisted, x,
                      # residuals, then cotangents (tangents)
    bwd_eqns: list
    outs2: list       # the backward body's outputs (reverse mode: per body
                      # input, its cotangent, None where inactive)


def _split_body_vjp(jaxpr, num_consts, num_carry, wants):
    from .api import vjp
    from .core import current_interpreter
    avals, outs = _in_avals(jaxpr), out_avals(jaxpr)
    n, n_out = len(avals), len(outs)
    active = [i for i, a in enumerate(avals) if is_float(a.dtype)
              and (wants[i] or num_consts <= i < num_consts + num_carry)]
    cut = []

    def lin(*a):
        primals, cts = list(a[:n]), list(a[n:])

        def of_active(*ws):
            full = list(primals)
            for i, w in zip(active, ws):
                full[i] = w
            return run(jaxpr, *full)

        if not active:
            cut.append(len(current_interpreter().eqns))
            return run(jaxpr, *primals)
        out, pullback = vjp(of_active, *[primals[i] for i in active])
        cut.append(len(current_interpreter().eqns))
        return list(out) + list(pullback(cts))

    lj, tconsts = trace_fun(lin, avals + outs, "scan (body's VJP)")
    split = _partial_eval(lj, tconsts, n, n_out, num_consts, num_carry, cut[0])
    in_cts = [None] * n
    for i, v in zip(active, split.outs2):
        in_cts[i] = v
    return split._replace(outs2=in_cts)


def _partial_eval(lj, tconsts, n, n_out, num_consts, num_carry, cut):
    """Split ``lj`` (inputs: its traced consts, the body's ``n`` inputs, then
    the values the second loop brings: cotangents or tangents; outputs: the
    body's ``n_out`` outputs, then the second loop's) into the two loops'
    bodies. Equations from ``cut`` on were traced by a pullback. None when a
    body output needs a second-loop input (an equation computing both)."""
    from .checkpoint import optimization_barrier_p
    t = len(tconsts)
    ins = lj.invars
    consts_v, vary_v, cts_v = ins[:t + num_consts], ins[t + num_consts:t + n], ins[t + n:]
    # kind of each value: "c" made from consts alone, "v" varies per step
    # without needing a cotangent (forward loop), "u" needs one (backward loop)
    kind = {id(v): "c" for v in consts_v}
    kind.update({id(v): "v" for v in vary_v})
    kind.update({id(v): "u" for v in cts_v})
    producer, eqn_kind = {}, {}
    for i, e in enumerate(lj.eqns):
        ks = {kind[id(a)] for a in e.inputs if isinstance(a, Var)}
        late = i >= cut  # traced by the pullback
        effect = getattr(e.prim, "effect", False)
        if "u" in ks or late and (effect or e.prim is optimization_barrier_p):
            k = "u"
        elif "v" in ks or effect:
            k = "u" if late and e.prim.name in _RECOMPUTED else "v"
        else:
            k = "c"
        eqn_kind[id(e)] = k
        for v in e.outputs:
            kind[id(v)] = k
            producer[id(v)] = e
    if any(isinstance(v, Var) and kind[id(v)] == "u" for v in lj.outvars[:n_out]):
        return None
    back = [e for e in lj.eqns if eqn_kind[id(e)] == "u"]
    outs2 = list(lj.outvars[n_out:])
    # what the backward loop reads that it does not compute: recompute the
    # structural ops of the forward pass from their operands, stack the rest
    xs_v = {id(x) for x in vary_v[num_carry:]}

    def backward_reads(recomputed):
        """(equations, hoisted values, stacked values) of the backward loop
        when it recomputes the equations in ``recomputed`` and the
        structural ones."""
        need, hoist, stack, seen = list(back), [], [], set()
        needed = {id(e) for e in need}
        reads = [a for e in need for a in e.inputs] + outs2
        while reads:
            v = reads.pop()
            if not isinstance(v, Var) or id(v) in seen or kind[id(v)] == "u":
                continue
            seen.add(id(v))
            e = producer.get(id(v))
            if kind[id(v)] == "c":
                if e is not None:
                    hoist.append(v)
            elif id(v) in xs_v:
                pass  # an x: read from xs directly
            elif e is not None and (e.prim.name in _RECOMPUTED or id(e) in recomputed) \
                    and not getattr(e.prim, "effect", False):
                if id(e) not in needed:
                    needed.add(id(e))
                    need.append(e)
                reads.extend(e.inputs)
            else:
                stack.append(v)
        return need, hoist, stack

    need, hoist, stack = backward_reads(set())
    # a stacked value that a few cheap elementwise ops make from values the
    # backward loop has anyway (tanh's 1 - y*y from a stacked y) is
    # recomputed there instead: one stack less to write and read
    first = {id(v) for v in stack}

    def free(a, depth, skip, chain):
        if not isinstance(a, Var) or kind[id(a)] in "cu" or id(a) in xs_v:
            return True
        if id(a) in first and a is not skip:
            return True
        e = producer.get(id(a))
        if depth and e is not None and e.prim.name in _CHEAP:
            chain.append(id(e))
            return all(free(b, depth - 1, skip, chain) for b in e.inputs)
        return False

    cheap = set()
    for v in stack:
        chain = []
        if free(v, 3, v, chain):
            cheap.update(chain)
    if cheap:
        need, hoist, stack = backward_reads(cheap)
    order = {id(e): i for i, e in enumerate(lj.eqns)}
    bwd_eqns = sorted({id(e): e for e in need}.values(), key=lambda e: order[id(e)])
    fwd_eqns = [e for e in lj.eqns if eqn_kind[id(e)] != "u"]
    fwd = Jaxpr([], list(ins[:t + n]), live_eqns(fwd_eqns, lj.outvars[:n_out] + stack),
                list(lj.outvars[:n_out]) + stack)
    c_eqns = [e for e in lj.eqns if eqn_kind[id(e)] == "c"]
    hoisted = Jaxpr([], list(consts_v), live_eqns(c_eqns, hoist), hoist)
    bwd_in = list(consts_v) + hoist + list(vary_v[num_carry:]) + stack + list(cts_v)
    return _SplitBody(tconsts, fwd, hoisted, bwd_in, bwd_eqns, outs2)


def _scan_vjp_fwd(*args, jaxpr, num_consts, num_carry, length, reverse, wants=None):
    wants = (True,) * len(args) if wants is None else tuple(wants)
    split = _split_body_vjp(jaxpr, num_consts, num_carry, wants)
    consts, carry, xs = _split_scan(args, num_consts, num_carry)
    outs = bind_scan(runner(split.fwd), split.tconsts + consts, carry, xs, length, reverse)
    n_out = len(jaxpr.outvars)
    return outs[:n_out], (split, outs[n_out:])


def _with_carry_out(jaxpr, num_consts, num_carry):
    def body(*a):
        out = run(jaxpr, *a)
        return out + list(a[num_consts:num_consts + num_carry])
    return body


def _summands(v, producer):
    """``v`` as the terms of the (same-shape) adds that make it."""
    e = producer.get(id(v))
    if (e is not None and e.prim.name == "add"
            and all(isinstance(a, Var) and a.aval.shape == v.aval.shape for a in e.inputs)):
        return _summands(e.inputs[0], producer) + _summands(e.inputs[1], producer)
    return [v]


def _stacked_product(v, producer, stacked, may_stack):
    """``v`` as ``perm(dot_general(a, b))`` of two per-step values, where
    summing it over the steps is one product of their stacks, contracting
    the steps too (the outer products ``g_t h_{t-1}^T`` of an RNN's weight
    gradient become one GEMM after the loop instead of a store-bound update
    of the whole matrix every step); None where that does not pay, or
    where it would stack a new value and ``may_stack`` is false."""
    perm, e = None, producer.get(id(v))
    if e is not None and e.prim.name == "transpose":
        perm, e = e.params["permutation"], producer.get(id(e.inputs[0]))
    if e is None or e.prim.name != "dot_general" or e.params["dimension_numbers"][1] != ((), ()):
        return None
    ops = e.inputs
    if not all(isinstance(a, Var) and (id(a) in producer or id(a) in stacked) for a in ops):
        return None  # a loop constant: no steps to contract
    new = sum(int(np.prod(a.aval.shape)) for a in ops if id(a) not in stacked)
    if new and not may_stack or int(np.prod(v.aval.shape)) <= new:
        return None  # stacking the operands would move more than the update
    return ops, e.params["dimension_numbers"][0], perm


def _scan_vjp(cts, outs, *args, wants, residuals, jaxpr, num_consts, num_carry, length, reverse):
    from .primitives.dot import dot_general_p
    from .primitives.shape import transpose
    split, stacks = residuals
    consts, carry, xs = _split_scan(args, num_consts, num_carry)
    cts = _dense(cts, outs)
    ct_carry, ct_ys = cts[:num_carry], cts[num_carry:]
    # cotangents of the consts and xs only where wanted (no stacked d_xs of
    # an xs nobody differentiates); the carry's always flow through the loop
    wc, _, wx = _split_scan(list(wants), num_consts, num_carry)
    ic, ik, ix = _split_scan(split.outs2, num_consts, num_carry)
    fc = [v is not None and w for v, w in zip(ic, wc)]
    fk = [v is not None for v in ik]
    fx = [v is not None and w for v, w in zip(ix, wx)]
    # the backward loop's per-step inputs: xs, then residuals, then y cotangents
    n_cs_in = len(split.bwd_in) - len(xs) - len(stacks) - len(cts)
    step_in = split.bwd_in[n_cs_in:n_cs_in + len(xs) + len(stacks)] + \
        split.bwd_in[len(split.bwd_in) - len(ct_ys):]
    stacked = {id(v): i for i, v in enumerate(step_in)}
    producer = {id(o): e for e in split.bwd_eqns for o in e.outputs}
    # a body the user checkpointed keeps its sums in the loop: stacking their
    # factors would spend the memory that checkpoint saves
    from .checkpoint import optimization_barrier_p
    may_stack = not any(e.prim is optimization_barrier_p for e in split.bwd_eqns)
    # each wanted const's cotangent: terms summed in the loop, and products
    # summed after it (operands: ("x", i) a per-step input, ("y", j) stacked)
    sums, products, new_ys = [], [], []

    def operand(a):
        if id(a) in stacked:
            return ("x", stacked[id(a)])
        if not any(a is y for y in new_ys):
            new_ys.append(a)
        return ("y", next(j for j, y in enumerate(new_ys) if y is a))

    for v, m in zip(ic, fc):
        if not m:
            continue
        terms, prods = [], []
        for t in _summands(v, producer) if isinstance(v, Var) else [v]:
            found = _stacked_product(t, producer, stacked, may_stack)
            if found is None:
                terms.append(t)
            else:
                ops, dims, perm = found
                prods.append(([operand(a) for a in ops], dims, perm))
        sums.append(terms)
        products.append(prods)
    loop_terms = [t for terms in sums for t in terms]
    outvars = (loop_terms + [v for v, m in zip(ik, fk) if m] + [v for v, m in zip(ix, fx) if m]
               + new_ys)
    bwd = Jaxpr([], split.bwd_in, live_eqns(split.bwd_eqns, outvars), outvars)
    cs = split.tconsts + consts + list(run(split.hoisted, *split.tconsts, *consts))
    n_cs, n_acc, n_kf, nk, nx = len(cs), sum(bool(t) for t in sums), sum(fk), num_carry, len(xs)
    n_terms = len(loop_terms)
    ct_consts0 = [_zeros(get_aval(c)) for c, m in zip(consts, fc) if m]
    acc0 = [z for z, terms in zip(ct_consts0, sums) if terms]

    def body(*a):
        c, acc, ctk = a[:n_cs], a[n_cs:n_cs + n_acc], a[n_cs + n_acc:n_cs + n_acc + nk]
        rest = a[n_cs + n_acc + nk:]
        x, res, cty = rest[:nx], rest[nx:nx + len(stacks)], rest[nx + len(stacks):]
        d = list(run(bwd, *c, *x, *res, *ctk, *cty))
        terms = iter(d[:n_terms])
        new_acc = [functools.reduce(lambda s, t: s + t, [next(terms) for _ in ts], s)
                   for s, ts in zip(acc, [ts for ts in sums if ts])]
        d_k = iter(d[n_terms:n_terms + n_kf])
        return (new_acc + [next(d_k) if m else _zeros(get_aval(v)) for m, v in zip(fk, ctk)]
                + d[n_terms + n_kf:])

    per_step = xs + list(stacks) + list(ct_ys)
    outs_b = bind_scan(body, cs, acc0 + list(ct_carry), per_step, length, not reverse,
                       name="scan (backward)")
    acc = iter(outs_b[:n_acc])
    d_carry = outs_b[n_acc:n_acc + nk]
    n_dx = sum(fx)
    d_xs = iter(outs_b[n_acc + nk:n_acc + nk + n_dx])
    ys_new = outs_b[n_acc + nk + n_dx:]
    d_consts = []
    for z, terms, prods in zip(ct_consts0, sums, products):
        total = next(acc) if terms else None
        for ops, (lc, rc), perm in prods:
            lhs, rhs = [per_step[i] if kind == "x" else ys_new[i] for kind, i in ops]
            p = dot_general_p.bind(lhs, rhs, dimension_numbers=(
                ((0,) + tuple(i + 1 for i in lc), (0,) + tuple(i + 1 for i in rc)), ((), ())))
            p = p if perm is None else transpose(p, perm)
            total = p if total is None else total + p
        d_consts.append(z if total is None else total)
    d_consts = iter(d_consts)
    return ([next(d_consts) if m else None for m in fc]
            + [d if m else None for d, m in zip(d_carry, fk)]
            + [next(d_xs) if m else None for m in fx])


def _scan_batch(axis_size, args, dims, *, jaxpr, num_consts, num_carry, length, reverse):
    from .api import vmap
    from .batching import bdim_to_front, moveaxis
    consts, carry, xs = _split_scan(args, num_consts, num_carry)
    cd, _, xd = _split_scan(dims, num_consts, num_carry)
    # every carry is batched (a batched body makes them so anyway), the batch
    # axis of xs sits right after the scanned axis
    carry = [bdim_to_front(c, d, axis_size) for c, d in zip(carry, dims[num_consts:])]
    xs = [bdim_to_front(x, None, axis_size) if d is None else moveaxis(x, d, 0)
          for x, d in zip(xs, xd)]
    xs = [moveaxis(x, 0, 1) for x in xs]
    in_axes = tuple(cd) + (0,) * num_carry + (0,) * len(xs)
    body = vmap(runner(jaxpr), in_axes=in_axes)
    outs = bind_scan(lambda *a: body(*a), consts, carry, xs, length, reverse)
    return outs, [0] * num_carry + [1] * (len(outs) - num_carry)


scan_p.impl = _scan_impl
scan_p.lower_call = _scan_lower_call
scan_p.abstract_eval = _scan_aval
scan_p.jvp_full = _scan_jvp_full
scan_p.jvp = lambda primals, tangents, out, **p: _scan_jvp_full(primals, tangents, **p)[1]
scan_p.vjp_fwd = _scan_vjp_fwd
scan_p.vjp_fwd_wants = True
scan_p.vjp = _scan_vjp
scan_p.batch = _scan_batch


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``,
    returning the final carry and the stacked ``y``s (JAX's ``lax.scan``).

    Reverse mode runs the part of each step's VJP that needs no cotangent in
    the forward loop and stacks what the backward loop reads (as JAX does);
    wrap the body in ``checkpoint`` to recompute it in the backward loop instead.
    ``unroll=k`` runs ``k`` steps per iteration of the loop (``True``: all of
    them), with the same results.
    """
    from .numpy import asarray
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [asarray(x) for x in x_leaves]
    lengths = {np.shape(x)[0] for x in x_leaves if np.ndim(x) > 0}
    if any(np.ndim(x) == 0 for x in x_leaves):
        raise ValueError("scan: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        conc = _concrete(length)
        if conc is None or conc.ndim or conc.dtype.kind not in "iu":
            raise TypeError(f"scan: length must be a static integer, got {length!r}")
        length = int(conc)
    if length is None:
        if len(lengths) != 1:
            raise ValueError(f"scan: xs leaves have different leading sizes {sorted(lengths)}"
                             if lengths else "scan: give length when xs is None")
        length = lengths.pop()
    elif lengths and lengths != {length}:
        raise ValueError(f"scan: length={length} but xs have leading sizes {sorted(lengths)}")
    steps = _unroll("scan", unroll, int(length))
    if steps > 1:
        return _scan_unrolled(f, init, xs, int(length), bool(reverse), steps)
    c_leaves, c_tree = tree_flatten(init)
    c_leaves = [asarray(c) for c in c_leaves]
    y_tree = []

    def body(*a):
        carry = tree_unflatten(c_tree, list(a[:len(c_leaves)]))
        x = tree_unflatten(x_tree, list(a[len(c_leaves):]))
        new_carry, y = f(carry, x)
        k_leaves, k_tree = tree_flatten(new_carry)
        if k_tree != c_tree:
            raise TypeError(f"scan: the body must return a carry with the structure of init "
                            f"{c_tree}, got {k_tree}")
        y_leaves, tree = tree_flatten(y)
        y_tree[:] = [tree]
        return [asarray(k) for k in k_leaves] + [asarray(v) for v in y_leaves]

    outs = bind_scan(body, [], c_leaves, x_leaves, int(length), bool(reverse))
    carry = tree_unflatten(c_tree, outs[:len(c_leaves)])
    return carry, tree_unflatten(y_tree[0], outs[len(c_leaves):])


def _unroll(where, unroll, length):
    """The steps per loop iteration that ``unroll`` asks for."""
    if isinstance(unroll, (bool, np.bool_)):
        return max(length, 1) if unroll else 1
    if isinstance(unroll, (int, np.integer)) and unroll >= 1:
        return min(int(unroll), max(length, 1))
    raise ValueError(f"{where}: unroll must be a positive int or a bool, got {unroll!r}")


def _scan_unrolled(f, init, xs, length, reverse, steps):
    """``scan`` with ``steps`` calls of ``f`` per iteration: a scan over
    chunks of the xs, then one over the steps left over (run first when
    ``reverse``, as they come last in the order of the steps)."""
    from .numpy import concatenate, reshape, stack
    n = length - length % steps
    main, rest = (slice(length - n, length), slice(0, length - n)) if reverse else \
        (slice(0, n), slice(n, length))
    chunks = tree_map(lambda x: reshape(x[main], (n // steps, steps) + tuple(x.shape[1:])), xs)

    def chunk(carry, xc):
        ys = [None] * steps
        for i in (range(steps - 1, -1, -1) if reverse else range(steps)):
            carry, ys[i] = f(carry, tree_map(lambda x, i=i: x[i], xc))
        return carry, ys

    carry, ys = scan(chunk, init, chunks, length=n // steps, reverse=reverse)
    # each step's ys stacked over the chunks, interleaved after the loop
    ys = tree_map(lambda *y: reshape(stack(y, axis=1), (n,) + tuple(y[0].shape[1:])), *ys)
    if n == length:
        return carry, ys
    carry, ys_rest = scan(f, carry, tree_map(lambda x: x[rest], xs), length=length - n,
                          reverse=reverse)
    parts = (ys_rest, ys) if reverse else (ys, ys_rest)
    return carry, tree_map(lambda a, b: concatenate([a, b]), *parts)


def fori_loop(lower, upper, body_fun, init_val, *, unroll=None):
    """``for i in range(lower, upper): val = body_fun(i, val)``; a scan when
    the bounds are concrete (so reverse mode works under jit), else a
    while_loop. ``unroll`` (as ``scan``'s) needs concrete bounds."""
    lo, hi = _concrete(lower), _concrete(upper)
    if unroll is not None and (lo is None or hi is None) and _unroll(
            "fori_loop", unroll, 2) > 1:
        raise ValueError("fori_loop: unroll needs concrete loop bounds (the loop is then a "
                         "scan); these bounds are traced")
    if lo is not None and hi is not None:
        lo, hi = int(lo), int(hi)

        def step(carry, _):
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        (_, val), _ = scan(step, (np.asarray(lo, np.int64), init_val), None,
                           length=max(hi - lo, 0), unroll=1 if unroll is None else unroll)
        return val
    return while_loop(lambda c: c[0] < upper, lambda c: (c[0] + 1, body_fun(c[0], c[1])),
                      (lower, init_val))[1]


# --------------------------------------------------------- while_loop ---
# Operands: cond consts, body consts, carry.

while_p = Primitive("while", multiple_results=True)


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, run_cond=None,
                run_body=None):
    test, body = run_cond or runner(cond_jaxpr), run_body or runner(body_jaxpr)
    cc = args[:cond_nconsts]
    bc = args[cond_nconsts:cond_nconsts + body_nconsts]
    val = list(args[cond_nconsts + body_nconsts:])
    if run_body is not None:
        cc = _exact(cc, _in_avals(cond_jaxpr))
        bc, val = (_exact(bc, _in_avals(body_jaxpr)),
                   _exact(val, _in_avals(body_jaxpr)[body_nconsts:]))
    while bool(test(*cc, *val)[0]):
        val = body(*bc, *val)
    return [np.asarray(v) for v in val]


def _while_lower_call(compile, *, cond_jaxpr, body_jaxpr, **params):
    # jit compiles the whole loop as one kernel when it can, else runs this
    # Python loop around the compiled cond and body
    whole = getattr(compile, "while_loop", None)
    f = None if whole is None else whole(cond_jaxpr, body_jaxpr, **params)
    if f is not None:
        return f
    return functools.partial(_while_impl, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
                             run_cond=compile(cond_jaxpr), run_body=compile(body_jaxpr),
                             **params)


def _bind_while(cond_fun, body_fun, cond_args, body_args, carry):
    cj, cconsts = trace_fun(cond_fun, _avals(cond_args) + _avals(carry), "while_loop cond")
    bj, bconsts = trace_fun(body_fun, _avals(body_args) + _avals(carry), "while_loop body")
    pred = out_avals(cj)
    if len(pred) != 1 or pred[0].shape != () or np.dtype(pred[0].dtype) != np.bool_:
        raise TypeError(f"while_loop: cond_fun must return a boolean scalar, got "
                        f"{[a.str_short() for a in pred]}")
    _check_types("while_loop", out_avals(bj), _avals(carry), "the loop value")
    return while_p.bind(*cconsts, *cond_args, *bconsts, *body_args, *carry, cond_jaxpr=cj,
                        body_jaxpr=bj, cond_nconsts=len(cconsts) + len(cond_args),
                        body_nconsts=len(bconsts) + len(body_args))


def _while_jvp_full(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts,
                    body_nconsts):
    ncc, nbc = cond_nconsts, body_nconsts
    cc, bc, val = primals[:ncc], list(primals[ncc:ncc + nbc]), list(primals[ncc + nbc:])
    length = _counted_trips(cond_jaxpr, body_jaxpr, ncc, nbc, list(cc), bc, val)
    if length is not None:
        # the trip count is known: the JVP is a scan of that length, which
        # can be staged with traced tangents (linearize, jacfwd, hessian) and
        # differentiated again, where a while over (primal, tangent) cannot
        consts, params = _while_as_scan(cond_jaxpr, body_jaxpr, ncc, nbc, _avals(val), length)
        return _scan_jvp_full(list(consts) + list(primals),
                              [None] * len(consts) + list(tangents), **params)
    ts = _float_tangents(primals, tangents)
    tbc, tval = ts[ncc:ncc + nbc], ts[ncc + nbc:]
    nb, nv = len(bc), len(val)

    def body(*a):
        c, t_c, v, t_v = a[:nb], a[nb:2 * nb], a[2 * nb:2 * nb + nv], a[2 * nb + nv:]
        outs, t_outs = _jvp_flat(runner(body_jaxpr), list(c) + list(v), list(t_c) + list(t_v))
        return outs + t_outs

    outs = _bind_while(lambda *a: run(cond_jaxpr, *a[:ncc], *a[ncc:ncc + nv]), body,
                       list(cc), bc + tbc, val + tval)
    return outs[:nv], [t if is_float(get_aval(t).dtype) else None for t in outs[nv:]]


def _trip_count(n):
    """The concrete value of the step counter ``n`` (its largest entry when
    vmap batched it), or None when it is only known abstractly (jit)."""
    from .batching import BatchTracer
    while isinstance(n, Tracer):
        if isinstance(n, BatchTracer):
            n = n.val
            continue
        try:
            n = n._concrete("while_loop trip count")
        except ConcretizationError:
            return None
    return int(np.max(n)) if np.size(n) else 0


def _counted_trips(cond_jaxpr, body_jaxpr, ncc, nbc, cc, bc, val):
    """Run the loop with a step counter: its trip count, or None when only
    known abstractly (under jit)."""
    nv = len(val)

    def counted_body(*a):
        return run(body_jaxpr, *a[:nbc], *a[nbc:nbc + nv]) + [a[-1] + 1]

    counted = _bind_while(lambda *a: run(cond_jaxpr, *a[:ncc], *a[ncc:ncc + nv]),
                          counted_body, cc, bc, val + [np.asarray(0, np.int64)])
    return _trip_count(counted[-1])


def _while_as_scan(cond_jaxpr, body_jaxpr, ncc, nbc, carry_avals, length):
    """The loop as a scan of ``length`` masked steps (a finished loop keeps
    its value): params and consts of a scan over (cc, bc, val)."""
    from .primitives.elementwise import select

    def step(*a):
        cc, bc, v = a[:ncc], a[ncc:ncc + nbc], list(a[ncc + nbc:])
        go = run(cond_jaxpr, *cc, *v)[0]
        new = run(body_jaxpr, *bc, *v)
        return [select(go, n, o) for n, o in zip(new, v)]

    avals = [v.aval for v in cond_jaxpr.invars[:ncc]] + [v.aval for v in
                                                         body_jaxpr.invars[:nbc]]
    jaxpr, consts = trace_fun(step, avals + list(carry_avals), "while_loop (as a scan)")
    params = dict(jaxpr=jaxpr, num_consts=len(consts) + ncc + nbc, num_carry=len(carry_avals),
                  length=length, reverse=False)
    return consts, params


def _while_vjp_fwd(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, wants=None):
    # Record the trip count by running the loop with a step counter, then
    # replay it as a scan of that length, which keeps the per-iteration
    # carries for the backward loop. Under vmap the counter is per example
    # and the scan runs the longest; finished examples keep their values.
    ncc, nbc = cond_nconsts, body_nconsts
    cc, bc, val = list(args[:ncc]), list(args[ncc:ncc + nbc]), list(args[ncc + nbc:])
    length = _counted_trips(cond_jaxpr, body_jaxpr, ncc, nbc, cc, bc, val)
    if length is None:
        raise NotImplementedError(
            "reverse mode through while_loop with a traced trip count (under jit or "
            "make_jaxpr) cannot keep its per-iteration residuals; use fori_loop or scan "
            "with a static length, or while_loop(..., max_steps=N) which bounds the loop. "
            "(Outside jit, grad of a while_loop works: its trip count is recorded.)")
    consts, params = _while_as_scan(cond_jaxpr, body_jaxpr, ncc, nbc, _avals(val), length)
    wants = (True,) * len(args) if wants is None else tuple(wants)
    outs, res = _scan_vjp_fwd(*consts, *cc, *bc, *val, **params,
                              wants=(False,) * len(consts) + wants)
    return outs, (consts, params, res)


def _while_vjp(cts, outs, *args, wants, residuals, cond_jaxpr, body_jaxpr, cond_nconsts,
               body_nconsts):
    consts, params, res = residuals
    in_cts = _scan_vjp(cts, outs, *consts, *args, wants=(False,) * len(consts) + tuple(wants),
                       residuals=res, **params)
    return list(in_cts[len(consts):])


def _while_batch(axis_size, args, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts,
                 body_nconsts):
    from .api import vmap
    from .batching import bdim_to_front
    from .numpy import any as any_
    from .primitives.elementwise import select
    from .primitives.shape import reshape
    ncc, nbc = cond_nconsts, body_nconsts
    cc, bc, val = list(args[:ncc]), list(args[ncc:ncc + nbc]), list(args[ncc + nbc:])
    ccd, bcd = dims[:ncc], dims[ncc:ncc + nbc]
    val = [bdim_to_front(v, d, axis_size) for v, d in zip(val, dims[ncc + nbc:])]
    nv = len(val)
    cond_b = vmap(runner(cond_jaxpr), in_axes=tuple(ccd) + (0,) * nv)
    body_b = vmap(runner(body_jaxpr), in_axes=tuple(bcd) + (0,) * nv)

    # examples whose condition already failed keep their value; the loop runs
    # while any example is still going
    def cond_fun(*a):
        return [any_(cond_b(*a)[0])]

    def body_fun(*a):
        c_args, b_args, v = a[:ncc], a[ncc:ncc + nbc], a[ncc + nbc:]
        going = cond_b(*c_args, *v)[0]
        new = body_b(*b_args, *v)
        return [select(reshape(going, (axis_size,) + (1,) * (np.ndim(n) - 1)), n, o)
                for n, o in zip(new, v)]

    outs = _bind_while(cond_fun, body_fun, cc, cc + bc, val)
    return outs, [0] * len(outs)


while_p.impl = _while_impl
while_p.lower_call = _while_lower_call
while_p.abstract_eval = lambda *avals, body_jaxpr, **p: out_avals(body_jaxpr)
while_p.jvp_full = _while_jvp_full
while_p.jvp = lambda primals, tangents, out, **p: _while_jvp_full(primals, tangents, **p)[1]
while_p.vjp_fwd = _while_vjp_fwd
while_p.vjp_fwd_wants = True
while_p.vjp = _while_vjp
while_p.batch = _while_batch


def while_loop(cond_fun, body_fun, init_val, max_steps=None):
    """``while cond_fun(val): val = body_fun(val)``.

    With a concrete condition this is a Python loop (eager ``grad`` tapes
    it). A traced condition becomes a ``while`` primitive; with
    ``max_steps`` it becomes a bounded scan instead, which reverse mode can
    differentiate even under jit (JAX cannot).
    """
    from .numpy import asarray
    leaves, tree = tree_flatten(init_val)
    init_avals = _avals(leaves)

    def concrete_pred(val):
        pred = cond_fun(val)
        aval = get_aval(pred)
        if aval.shape != () or np.dtype(aval.dtype) != np.bool_:
            raise TypeError(f"while_loop: cond_fun must return a boolean scalar, got "
                            f"{aval.str_short()}")
        return _concrete(pred)

    def checked_body(val):
        new, new_tree = tree_flatten(body_fun(val))
        if new_tree != tree:
            raise TypeError(f"while_loop: body_fun must return the structure of init_val "
                            f"{tree}, got {new_tree}")
        _check_types("while_loop", _avals(new), init_avals, "the loop value")
        return tree_unflatten(tree, new)

    go, val, steps = concrete_pred(init_val), init_val, 0
    while go is not None and bool(go):
        if max_steps is not None and steps >= max_steps:
            return val
        val, steps = checked_body(val), steps + 1
        go = concrete_pred(val)
    if go is not None:
        return val
    if steps:  # the condition became traced along the way: stage the rest
        return while_loop(cond_fun, body_fun, val,
                          None if max_steps is None else max_steps - steps)
    leaves = [asarray(x) for x in leaves]

    def flat_cond(*xs):
        return [asarray(cond_fun(tree_unflatten(tree, list(xs))))]

    def flat_body(*xs):
        new, new_tree = tree_flatten(body_fun(tree_unflatten(tree, list(xs))))
        if new_tree != tree:
            raise TypeError(f"while_loop: body_fun must return the structure of init_val "
                            f"{tree}, got {new_tree}")
        return [asarray(x) for x in new]

    if max_steps is not None:
        from .primitives.elementwise import select

        def step(carry, _):
            go = flat_cond(*carry)[0]
            new = flat_body(*carry)
            return [select(go, n, o) for n, o in zip(new, carry)], None

        final, _ = scan(step, leaves, None, length=int(max_steps))
        return tree_unflatten(tree, final)
    return tree_unflatten(tree, _bind_while(flat_cond, flat_body, [], [], leaves))


# --------------------------------------------------------------- samples ---
# For the registry tests: each sample's params are traced from small bodies
# with no closed-over values, so the operands are exactly the listed arrays.


def _cond_samples(rng):
    from . import numpy as cnp
    x = rng.normal(size=(3,))
    branches, _ = _branches([lambda v: [cnp.sin(v) * v], lambda v: [cnp.exp(v) - v]],
                            _avals([x]))
    return [((np.asarray(i, np.int32), x), {"branches": branches}) for i in (0, 1)]


def _scan_samples(rng):
    from . import numpy as cnp
    c, xs = rng.normal(size=(2,)), rng.normal(size=(4, 2))
    jaxpr, _ = trace_fun(lambda k, x: [cnp.tanh(k * x + k), cnp.sum(k * x)],
                         _avals([c]) + _x_avals([xs]), "scan sample")
    return [((c, xs), {"jaxpr": jaxpr, "num_consts": 0, "num_carry": 1, "length": 4,
                       "reverse": r}) for r in (False, True)]


def _while_samples(rng):
    from . import numpy as cnp
    i, v = np.asarray(0, np.int64), rng.uniform(0.5, 1.5, size=(2,))
    cj, _ = trace_fun(lambda n, x: [n < 3], _avals([i, v]), "while sample")
    bj, _ = trace_fun(lambda n, x: [n + 1, cnp.sin(x) * x + 0.5], _avals([i, v]),
                      "while sample")
    return [((i, v), {"cond_jaxpr": cj, "body_jaxpr": bj, "cond_nconsts": 0,
                      "body_nconsts": 0})]


cond_p.samples = _cond_samples
scan_p.samples = _scan_samples
while_p.samples = _while_samples
