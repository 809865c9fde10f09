"""Loops compiled whole: a ``scan`` or ``while`` as one Numba function.

``plan.scan_loop`` runs a Python ``for`` around the body's plan, so each step
costs Python around its kernels (a few microseconds: about as much as the
arithmetic of a small RNN or ODE step). When the body (and the condition) is
only arithmetic this module can write out, the whole loop becomes one
kernel: elementwise primitives (their ``lower`` emitters, as in fused
kernels), ``reduce_sum``/``reduce_max``/``reduce_min``, ``dot_general``
(written as loops: for the small contractions of loop bodies they beat a
BLAS call, and Numba's ``np.dot`` would tie the code to Numba's runtime,
which the disk cache does without; a loop constant read across its
contiguous axis, ``W @ h``, is copied once before the loop with that axis
moved, so that every product accumulates along contiguous memory), and the structural primitives
``broadcast_in_dim``, ``reshape``/``squeeze``/``expand_dims``, ``transpose``
and ``slice``, which are index arithmetic, not memory.

The kernel has the fused kernels' form (``codegen``: a CPython fastcall
function whose arguments are C-contiguous ndarrays, ``rt``) and goes through
the same cache (``cache.compile_kernel``, or ``cache.request`` on the tiered
path), so it is cached on disk and compiled by the compile process like any
kernel; until it arrives, the loop runs on ``scan_loop``. The text holds
only generated names and literals (the shapes and the trip count are
literals: a loop is compiled per shape, as kernels are).

Inside: the array carries live in the (fresh) arrays that are returned,
rank-0 carries and values in local scalars; each step writes its ``y``
values into the preallocated stacks; other array values are written to
scratch arrays the caller passes in (kernels never allocate), except
elementwise values read once by another elementwise equation, which are
computed where they are read. No Python runs per step.

Control flow in the body is written out too. A ``cond`` (``lax.cond``,
``lax.switch``, and the conds of their JVPs and VJPs) becomes ``if``/
``elif``/``else`` on its index, clipped as ``_cond_impl`` clips it; every
branch writes the same output arrays (rank 0: locals). An inner ``scan``
(``fori_loop``) or ``while_loop`` becomes an inner ``for``/``while`` with
its own step variable: its carries are copied into scratch arrays (rank 0:
locals) before it, its ys go into scratch stacks, and the enclosing loop's
carry bookkeeping is set aside while it is written (``enter_loop``,
``leave_loop``). Inner Jaxprs are written from renamed copies, since the
writer keys what it knows by variable and one Jaxpr may serve several
equations.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from ..core import Literal, Var
from .codegen import _NODES, DTYPES, _needs_cast, literal, validate
from .native import RELEASE_GIL_WORK


class Unsupported(Exception):
    """The loop cannot be compiled whole (the message says what is missing)."""


_VIEWS = {"broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose", "slice", "pad",
          "concatenate", "rev"}
# identities on their operands (the last one for ``saved``): what they do for
# the optimiser and for reverse mode is done by the time a loop is written
_IDENTITIES = {"optimization_barrier", "saved"}
_REDUCE = {"reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min"}
_NAMES = {"np", "math", "vm", "rt", "range", "abs", "min", "max", "kernel", "True", "False"}
_LOOP_NODES = _NODES + (ast.While, ast.If, ast.Break)
_LOOP_NAME = re.compile(r"^[ijtanrsq][0-9]+$")


def _validate(src: str) -> None:
    """Generated loop source holds only what we generate (``codegen.validate``,
    with ``while``/``if``/``break`` for while loops)."""
    validate(src, nodes=_LOOP_NODES, name=_LOOP_NAME, names=_NAMES, check_args=False)


def _shape(v):
    return tuple(int(d) for d in v.aval.shape)


def _dtype(v):
    return np.dtype(v.aval.dtype)


def _rank(v):
    return len(v.aval.shape)


def _unpermuted(idx, perm):
    """The index of an array whose axes, permuted by ``perm``, are indexed by ``idx``."""
    sub = [None] * len(perm)
    for i, a in enumerate(perm):
        sub[a] = idx[i]
    return sub


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def _elementwise(prim):
    return (prim.lower is not None and not prim.multiple_results
            and prim.name not in _REDUCE and prim.name not in _VIEWS)


def _outer(e):
    """A ``dot_general`` without contraction: a product of broadcasts."""
    return e.prim.name == "dot_general" and not e.params["dimension_numbers"][0][0]


def _pointwise(e):
    """Equations whose output element reads each operand at one place, computed
    where their single reader needs them."""
    return _elementwise(e.prim) or _outer(e)


_CONTROL = {"cond": ("branches",), "scan": ("jaxpr",), "while": ("cond_jaxpr", "body_jaxpr"),
            "checkpoint": ("jaxpr",)}


def inner_jaxprs(e):
    """The Jaxprs of a control-flow equation (its branches or bodies), else ()."""
    out = []
    for key in _CONTROL.get(e.prim.name, ()):
        j = e.params[key]
        out += list(j) if key == "branches" else [j]
    return out


def map_inner(e, f):
    """``e`` with each of its inner Jaxprs ``j`` replaced by ``f(j)`` (``e``
    itself when it has none)."""
    keys = _CONTROL.get(e.prim.name, ())
    if not keys:
        return e
    params = {key: tuple(f(j) for j in e.params[key]) if key == "branches" else f(e.params[key])
              for key in keys}
    return type(e)(e.prim, e.inputs, e.outputs, {**e.params, **params})


# products of more multiply-adds than this stay BLAS calls, and their loop
# step by step: written as loops they run at about 10 GFMA/s on one core,
# where BLAS reaches 25 (and uses every core), which outweighs the Python
# around each step (benchmarks: a scan of tanh(h @ W), docs/performance.md)
LOOP_DOT = 1 << 17
# constants of at least this many bytes are read from cache-line-aligned memory
ALIGN_MIN = 1024


def multiply_adds(e):
    (lc, _), _ = e.params["dimension_numbers"]
    lhs = e.inputs[0]
    return _size(_shape(e.outputs[0])) * _size([_shape(lhs)[d] for d in lc])


def first_unsupported(jaxpr, where=""):
    """The name of the first primitive (or dtype) a whole loop cannot hold, or None."""
    for e in jaxpr.eqns:
        name = e.prim.name
        if name in _CONTROL:
            inside = f" in a {name}{' branch' if name == 'cond' else ' body'}"
            for j in inner_jaxprs(e):
                why = first_unsupported(j, inside + where)
                if why is not None:
                    return why
        elif not (_elementwise(e.prim) or name in _VIEWS or name in _REDUCE
                  or name in _IDENTITIES or name == "dot_general"):
            return f"primitive '{name}'{where}"
        elif name == "dot_general" and multiply_adds(e) > LOOP_DOT:
            return (f"a 'dot_general' of {multiply_adds(e)} multiply-adds{where} "
                    f"(above {LOOP_DOT}, BLAS is faster)")
        for v in list(e.inputs) + list(e.outputs):
            if _dtype(v).name not in DTYPES or not _dtype(v).isnative:
                return f"dtype {_dtype(v)} in '{name}'{where}"
            if isinstance(v, Literal) and np.ndim(v.val) != 0:
                return f"an array literal in '{name}'{where}"
    for v in jaxpr.outvars:
        if isinstance(v, Literal) and np.ndim(v.val) != 0:
            return f"an array literal output{where}"
    return None


def control_flow(jaxpr):
    """How many of each control-flow primitive ``jaxpr`` holds, at any depth
    (for the log: what a loop compiled whole has inside)."""
    counts = {}
    for e in jaxpr.eqns:
        if e.prim.name in _CONTROL:
            counts[e.prim.name] = counts.get(e.prim.name, 0) + 1
            for j in inner_jaxprs(e):
                for k, n in control_flow(j).items():
                    counts[k] = counts.get(k, 0) + n
    return counts


def _renamed(jaxpr):
    """``jaxpr`` with fresh variables. The writer keys what it knows by
    variable, and one inner Jaxpr may be the branch or body of several
    equations of a loop (a function called twice, a recomputed step)."""
    new = {}

    def rn(a):
        if isinstance(a, Literal):
            return a
        if id(a) not in new:
            new[id(a)] = Var(a.aval)
        return new[id(a)]
    invars = [rn(v) for v in jaxpr.invars]
    eqns = [type(e)(e.prim, [rn(a) for a in e.inputs], [rn(v) for v in e.outputs], e.params)
            for e in jaxpr.eqns]
    return type(jaxpr)(list(jaxpr.constvars), invars, eqns, [rn(a) for a in jaxpr.outvars])


class _Writer:
    """Source of one loop kernel: its arguments (with their roles for the
    wrapper), and the values of the Jaxprs' variables as code."""

    def __init__(self):
        self.roles = []          # ("const" | "carry" | "xs" | "ys", k) or ("tmp", shape, dtype)
        self.prologue = []
        self.counts = {}
        self.vals = {}           # id(var) -> (kind, data)
        self.uses = {}           # id(var) -> number of reads
        self.inline_ok = set()   # ids of elementwise values computed where read
        self.inplace = {}        # id(var) -> the carry storage it is written to
        self.done_carries = set()
        self.before = []         # lines before the loop
        self.invariant = set()   # ids of array values the loop does not change
        self.relaid_bufs = {}    # (id(var), perm) -> its copy with axes permuted
        self.inner = []          # inner Jaxprs as written (alive: state is keyed by id)
        self.to_align = []       # (buf, var) of the constants ``align`` may copy

    def new(self, prefix):
        n = self.counts.get(prefix, 0)
        self.counts[prefix] = n + 1
        return f"{prefix}{n}"

    def arg(self, role, dtype, shape):
        name = self.new("i")
        shape_text = "".join(f"{int(d)}, " for d in shape)
        self.prologue.append(f"{name} = rt.array(q3, {len(self.roles)}, "
                             f"{DTYPES[np.dtype(dtype).name]}, ({shape_text}))")
        self.roles.append(role)
        return name

    # -- values -----------------------------------------------------------
    def get(self, v, idx, stmts):
        """``v`` at index ``idx`` (list of index expressions) as an expression;
        statements it needs first are appended to ``stmts``."""
        if isinstance(v, Literal):
            return literal(v.val, v.aval.dtype)
        kind, data = self.vals[id(v)]
        if kind == "scalar":
            return data
        if kind == "buf":
            return f"{data}[{', '.join(idx) if idx else '()'}]"
        if kind == "xs":
            stacked, step = data
            return f"{stacked}[{', '.join([step] + list(idx))}]"
        if kind == "view":
            return data(idx, stmts)
        if kind == "inline":
            t = self.new("t")
            expr = (self.dot_parts(data)[2](idx, [], stmts) if _outer(data)
                    else self.elementwise(data, idx, stmts))
            stmts.append(f"{t} = {expr}")
            return t
        raise AssertionError(kind)

    def operand_index(self, v, out_shape, idx):
        """The index of an elementwise operand ``v`` (NumPy broadcasting)."""
        shape = _shape(v)
        if shape == out_shape:
            return list(idx)
        off = len(out_shape) - len(shape)
        return ["0" if n == 1 else idx[off + d] for d, n in enumerate(shape)]

    def elementwise(self, e, idx, stmts):
        (out,) = e.outputs
        scalar = len(_shape(out)) == 0
        exprs, dts = [], []
        for a in e.inputs:
            exprs.append(self.get(a, self.operand_index(a, _shape(out), idx), stmts))
            dts.append(_dtype(a))
        lower = e.prim.lower
        if (scalar or getattr(e.prim, "lower_check", None) is not None) and getattr(
                e.prim, "lower_libm", None) is not None:
            lower = e.prim.lower_libm   # no loop to vectorise, or fast only on part of the line
        expr = lower(*exprs, **e.params)
        if _needs_cast(e.prim, e.params, dts, _dtype(out)):
            expr = f"{DTYPES[_dtype(out).name]}({expr})"
        return expr

    def loops(self, shape, fill):
        """Lines of a loop nest over ``shape``; ``fill(idx, stmts)`` writes the body."""
        idx = [self.new("j") for _ in shape]
        stmts = []
        fill(idx, stmts)
        lines = [("    " * d) + f"for {j} in range({n}):"
                 for d, (j, n) in enumerate(zip(idx, shape))]
        return lines + [("    " * len(shape)) + s for s in stmts]

    def store(self, target, v, lines):
        """Write the value of ``v`` into the array ``target`` (of ``v``'s shape)."""
        shape = _shape(v)

        def fill(idx, stmts):
            expr = self.get(v, idx, stmts)
            stmts.append(f"{target}[{', '.join(idx) if idx else '()'}] = {expr}")
        lines += self.loops(shape, fill)

    def materialize(self, v, lines):
        """A scratch array holding ``v`` (its name)."""
        buf = self.arg(("tmp", _shape(v), _dtype(v)), _dtype(v), _shape(v))
        self.store(buf, v, lines)
        return buf

    # -- equations ----------------------------------------------------------
    def count_uses(self, jaxpr, outvars_extra=()):
        for e in jaxpr.eqns:
            for a in e.inputs:
                if isinstance(a, Var):
                    self.uses[id(a)] = self.uses.get(id(a), 0) + 1
        outs = {id(v) for v in jaxpr.outvars} | set(outvars_extra)
        # an elementwise value read once, by an elementwise equation of its
        # shape or by a reduction (which reads each element once)
        pointwise = {id(e.outputs[0]) for e in jaxpr.eqns if _pointwise(e)}
        self.producer = getattr(self, "producer", {})
        for e in jaxpr.eqns:
            for v in e.outputs:
                self.producer[id(v)] = e
            reduction = e.prim.name in _REDUCE
            if not (_elementwise(e.prim) or reduction):
                continue
            for a in e.inputs:
                if (isinstance(a, Var) and self.uses.get(id(a)) == 1 and id(a) not in outs
                        and id(a) in pointwise and _shape(a)
                        and (reduction or _shape(a) == _shape(e.outputs[0]))):
                    self.inline_ok.add(id(a))

    def plan_inplace(self, jaxpr, carry_in, carry_out):
        """Array carries whose new value can be written straight into their
        storage: computed by an elementwise equation that (with the values
        computed inside it) is the only reader of the old carry, at the same
        index. Their copy at the end of the step is saved."""
        outs = {id(v) for v in jaxpr.outvars}
        for k, (d, v) in enumerate(zip(carry_in, carry_out)):
            kind, buf = self.carry_vals[k]
            if (kind != "buf" or v is d or not isinstance(v, Var) or id(d) in outs
                    or id(v) in self.inplace):
                continue
            e = self.producer.get(id(v))
            if e is None or not _elementwise(e.prim) or _shape(v) != _shape(d):
                continue
            if sum(1 for u in jaxpr.outvars if u is v) != 1:
                continue
            tree, todo = [], [e]
            while todo:
                x = todo.pop()
                tree.append(x)
                todo += [self.producer[id(a)] for a in x.inputs
                         if isinstance(a, Var) and id(a) in self.inline_ok]
            reads = sum(1 for x in tree for a in x.inputs if a is d
                        and _shape(x.outputs[0]) == _shape(d))
            if reads == self.uses.get(id(d), 0):
                self.inplace[id(v)] = buf
                self.done_carries.add(k)

    def equations(self, jaxpr, lines):
        """Lines computing the equations of ``jaxpr`` (inputs already bound)."""
        for e in jaxpr.eqns:
            name = e.prim.name
            if name in _CONTROL:
                getattr(self, "emit_" + name)(e, lines)
                continue
            if name in _IDENTITIES:
                ins = e.inputs[-1:] if name == "saved" else e.inputs
                self.alias(e.outputs, ins)
                continue
            (out,) = e.outputs
            shape = _shape(out)
            if _elementwise(e.prim):
                if not shape:
                    t = self.new("t")
                    stmts = []
                    expr = self.elementwise(e, [], stmts)
                    lines += stmts + [f"{t} = {expr}"]
                    self.vals[id(out)] = ("scalar", t)
                elif id(out) in self.inline_ok:
                    self.vals[id(out)] = ("inline", e)
                else:
                    buf = self.inplace.get(id(out)) or self.arg(
                        ("tmp", shape, _dtype(out)), _dtype(out), shape)

                    def fill(idx, stmts, e=e, buf=buf):
                        expr = self.elementwise(e, idx, stmts)
                        stmts.append(f"{buf}[{', '.join(idx)}] = {expr}")
                    lines += self.loops(shape, fill)
                    self.vals[id(out)] = ("buf", buf)
            elif name in _VIEWS:
                self.vals[id(out)] = ("view", self.view(e))
                if all(id(a) in self.invariant for a in e.inputs):
                    self.invariant.add(id(out))
            elif name in _REDUCE:
                self.contraction(e, out, lines, self.reduce_parts(e))
            elif name == "dot_general" and id(out) in self.inline_ok:
                self.vals[id(out)] = ("inline", e)
            elif name == "dot_general":
                self.contraction(e, out, lines, self.dot_parts(e))
            else:
                raise Unsupported(f"primitive '{name}'")

    def view(self, e):
        if e.prim.name == "concatenate":
            return self.concatenate(e.inputs, e.params["dimension"])
        (x,) = e.inputs
        name, p = e.prim.name, e.params
        in_shape, out_shape = _shape(x), _shape(e.outputs[0])
        if name == "broadcast_in_dim":
            dims = p["broadcast_dimensions"]

            def at(idx, stmts):
                return self.get(x, ["0" if in_shape[i] == 1 else idx[d]
                                    for i, d in enumerate(dims)], stmts)
        elif name == "transpose":
            perm = p["permutation"]

            def at(idx, stmts):
                return self.get(x, _unpermuted(idx, perm), stmts)
        elif name == "slice":
            starts, strides = p["start_indices"], p["strides"] or (1,) * len(in_shape)

            def at(idx, stmts):
                return self.get(x, [f"({j} * {st} + {s})" if (st, s) != (1, 0) else j
                                    for j, s, st in zip(idx, starts, strides)], stmts)
        elif name == "pad":
            return self.pad(x, p["padding_config"])
        elif name == "rev":
            dims = set(p["dimensions"])

            def at(idx, stmts):
                return self.get(x, [f"({n - 1} - {j})" if d in dims else j
                                    for d, (j, n) in enumerate(zip(idx, in_shape))], stmts)
        else:   # reshape, squeeze, expand_dims: the same elements in the same order
            def at(idx, stmts):
                kept = [(j, n) for j, n in zip(idx, out_shape) if n != 1]
                if [n for n in in_shape if n != 1] == [n for _, n in kept]:
                    # only extent-1 axes come and go: no index arithmetic
                    it = iter(j for j, _ in kept)
                    return self.get(x, ["0" if n == 1 else next(it) for n in in_shape], stmts)
                flat = " + ".join(f"{j} * {_size(out_shape[d + 1:])}"
                                  for d, j in enumerate(idx)) or "0"
                return self.get(x, [f"(({flat}) // {_size(in_shape[d + 1:])} % {n})"
                                    for d, n in enumerate(in_shape)], stmts)
        return at

    def pad(self, x, config):
        """``pad`` (zeros around and between the elements) as a select: the
        operand is read at an index clamped into its bounds, so the read is
        always in bounds, and the pad value taken where the index is not an
        element's."""
        in_shape = _shape(x)
        if any(n == 0 for n in in_shape):
            raise Unsupported("'pad' of an empty array")
        zero = literal(0, _dtype(x))

        def at(idx, stmts):
            sub, conds = [], []
            for j, (lo, hi, interior), n in zip(idx, config, in_shape):
                if (lo, hi, interior) == (0, 0, 0):
                    sub.append(j)
                    continue
                off = f"({j} - {lo})" if lo else j
                src = f"({off} // {interior + 1})" if interior else off
                if (lo, interior) != (0, 0):
                    conds.append(f"{off} >= 0")
                if interior:
                    conds.append(f"{off} % {interior + 1} == 0")
                conds.append(f"{src} < {n}")
                sub.append(f"min(max({src}, 0), {n - 1})" if lo or interior
                           else f"min({src}, {n - 1})")
            value = self.get(x, sub, stmts)
            return f"({value} if {' and '.join(conds)} else {zero})" if conds else value
        return at

    def concatenate(self, xs, axis):
        """``concatenate`` as a chain of selects on the index along ``axis``;
        each operand is read at that index clamped into its extent."""
        parts = [(x, _shape(x)[axis]) for x in xs if _shape(x)[axis]]
        if not parts:
            raise Unsupported("'concatenate' of empty arrays")

        def at(idx, stmts):
            j, expr, start = idx[axis], None, sum(n for _, n in parts)
            for x, n in reversed(parts):
                start -= n
                k = f"({j} - {start})" if start else j
                sub = list(idx)
                sub[axis] = f"min(max({k}, 0), {n - 1})" if start else f"min({k}, {n - 1})"
                value = self.get(x, sub, stmts)
                expr = value if expr is None else f"({value} if {j} < {start + n} else {expr})"
            return expr
        return at

    def reduce_parts(self, e):
        (x,) = e.inputs
        axes = tuple(int(a) for a in e.params["axes"])
        in_shape = _shape(x)
        kept = [d for d in range(len(in_shape)) if d not in axes]

        def term(out_idx, red_idx, stmts):
            sub, ko, ro = [None] * len(in_shape), iter(out_idx), iter(red_idx)
            for d in range(len(in_shape)):
                sub[d] = next(ko) if d in kept else next(ro)
            return self.get(x, sub, stmts)
        return _REDUCE[e.prim.name], [in_shape[d] for d in axes], term

    def dot_parts(self, e, copies=None):
        """``dot_general`` as a sum of products; ``copies`` maps an operand's
        position to ``(buffer, perm)``: read it from ``buffer``, which holds it
        with its axes permuted by ``perm``."""
        lhs, rhs = e.inputs
        (lc, rc), (lb, rb) = e.params["dimension_numbers"]
        ls, rs = _shape(lhs), _shape(rhs)
        lf = [d for d in range(len(ls)) if d not in lc and d not in lb]
        rf = [d for d in range(len(rs)) if d not in rc and d not in rb]
        copies = copies or {}

        def read(k, v, sub, stmts):
            if k not in copies:
                return self.get(v, sub, stmts)
            buf, perm = copies[k]
            return f"{buf}[{', '.join(sub[a] for a in perm)}]"

        def term(out_idx, red_idx, stmts):
            nb = len(lb)
            b, li, ri = out_idx[:nb], out_idx[nb:nb + len(lf)], out_idx[nb + len(lf):]
            lsub, rsub = [None] * len(ls), [None] * len(rs)
            for k, (dl, dr) in enumerate(zip(lb, rb)):
                lsub[dl] = rsub[dr] = b[k]
            for k, (dl, dr) in enumerate(zip(lc, rc)):
                lsub[dl] = rsub[dr] = red_idx[k]
            for d, j in zip(lf, li):
                lsub[d] = j
            for d, j in zip(rf, ri):
                rsub[d] = j
            return f"{read(0, lhs, lsub, stmts)} * {read(1, rhs, rsub, stmts)}"
        return "sum", [ls[d] for d in lc], term

    def relaid(self, e):
        """For a ``dot_general`` whose output runs along a strided axis of a
        loop-invariant operand (``W @ h``: rows of ``W`` are dotted with
        ``h``), that operand copied once, before the loop, with that axis
        last: then each output element's sum accumulates along contiguous
        memory, vectorised across the output (``contraction``'s first form).
        ``{position: (buffer, perm)}`` for ``dot_parts``; empty if none."""
        (lc, rc), (lb, rb) = e.params["dimension_numbers"]
        lhs, rhs = e.inputs
        lf = [d for d in range(_rank(lhs)) if d not in lc and d not in lb]
        rf = [d for d in range(_rank(rhs)) if d not in rc and d not in rb]
        k, v, axis = (1, rhs, rf[-1]) if rf else (0, lhs, lf[-1]) if lf else (None,) * 3
        if (k is None or id(v) not in self.invariant or axis == _rank(v) - 1
                or _shape(v)[axis] < 4):
            return {}
        perm = tuple(a for a in range(_rank(v)) if a != axis) + (axis,)
        key = (id(v), perm)
        if key not in self.relaid_bufs:
            shape = tuple(_shape(v)[a] for a in perm)
            buf = self.arg(("tmp", shape, _dtype(v)), _dtype(v), shape)

            def fill(idx, stmts):
                src = self.get(v, _unpermuted(idx, perm), stmts)
                stmts.append(f"{buf}[{', '.join(idx)}] = {src}")
            self.before += self.loops(shape, fill)
            self.relaid_bufs[key] = buf
        return {k: (self.relaid_bufs[key], perm)}

    def contraction(self, e, out, lines, parts):
        """A reduction of ``term`` over the ``red`` extents for each output element.

        Three loop forms, for speed (a sum chained through one accumulator
        runs at the latency of an add, not the throughput): when the output's
        innermost index is an operand's contiguous one, the sums accumulated
        in the output along it (an axpy: each element's sum in order,
        vectorised across elements); else, when the reduced index is, eight
        accumulators over it (which LLVM turns into vector adds); else one
        accumulator."""
        op, red, term = parts
        dtype = _dtype(out)
        shape = _shape(out)
        cast = DTYPES[dtype.name]
        if dtype.kind not in "fiu":
            raise Unsupported(f"'{e.prim.name}' of dtype {dtype}")
        if op == "sum":
            acc_init = "0.0" if dtype.kind == "f" else "0"
        else:
            low = op == "max"
            acc_init = literal((-np.inf if low else np.inf) if dtype.kind == "f" else
                               (np.iinfo(dtype).min if low else np.iinfo(dtype).max), dtype)
        target = None
        if shape:
            target = self.inplace.get(id(out)) or self.arg(("tmp", shape, dtype), dtype, shape)
        result = self.new("t") if not shape else None

        def combine(a, t):
            if op == "sum":
                return f"{a} += {t}"
            # NaN wins, as in np.max/np.min
            return f"{a} = {'np.maximum' if op == 'max' else 'np.minimum'}({a}, {t})"

        probe_out = [f"j{900 + d}" for d in range(len(shape))]
        probe_red = [f"j{950 + d}" for d in range(len(red))]

        def contiguous(j):
            stmts = []
            probe = " ".join([term(probe_out, probe_red, stmts)] + stmts)
            return f", {j}]" in probe or f"[{j}]" in probe
        contiguous_red = bool(red) and contiguous(probe_red[-1])
        contiguous_out = bool(shape) and contiguous(probe_out[-1])
        same_acc = (op != "sum" or dtype.name in ("float64", "int64"))
        axpy_ok = bool(shape and red) and same_acc and id(out) not in self.inplace
        if axpy_ok and not contiguous_out and e.prim.name == "dot_general":
            copies = self.relaid(e)
            if copies:
                op, red, term = self.dot_parts(e, copies)
                contiguous_out = True
        if axpy_ok and contiguous_out:
            outer = shape[:-1]

            def fill_axpy(oidx, stmts):
                # the innermost reduction unrolled by up to 8: each element's
                # sum still runs in order, with fewer loads and stores of it
                jl = self.new("j")
                full = oidx + [jl]
                at = f"{target}[{', '.join(full)}]"
                stmts.append(f"for {jl} in range({shape[-1]}):")
                stmts.append(f"    {at} = {acc_init}")
                red_idx = [self.new("j") for _ in red]
                for d, (j, n) in enumerate(zip(red_idx[:-1], red[:-1])):
                    stmts.append("    " * d + f"for {j} in range({n}):")
                ind = "    " * (len(red) - 1)
                jr, n = red_idx[-1], red[-1]
                unroll = min(8, n)
                n8 = n - n % unroll
                a = self.new("a")
                inner = [f"{a} = {at}"]
                for u in range(unroll):
                    t = term(full, red_idx[:-1] + [f"({jr} + {u})" if u else jr], inner)
                    inner.append(combine(a, t))
                stmts.append(ind + f"for {jr} in range(0, {n8}, {unroll}):")
                stmts.append(ind + f"    for {jl} in range({shape[-1]}):")
                stmts.extend(ind + "        " + x for x in inner + [f"{at} = {a}"])
                if n8 < n:
                    rest = []
                    t = term(full, red_idx, rest)
                    stmts.append(ind + f"for {jr} in range({n8}, {n}):")
                    stmts.append(ind + f"    for {jl} in range({shape[-1]}):")
                    stmts.extend(ind + "        " + x for x in rest + [combine(at, t)])
            lines += self.loops(outer, fill_axpy)
            self.vals[id(out)] = ("buf", target)
            return

        def fill(out_idx, stmts):
            a = self.new("a")
            red_idx = [self.new("j") for _ in red]
            inner = []
            # a max or min is exact in any order; a sum's eight partial sums
            # are the usual pairwise-style rounding
            unroll = 8 if (contiguous_red and red[-1] >= 16) else 1
            if unroll > 1:
                accs = [a] + [self.new("a") for _ in range(unroll - 1)]
                stmts.extend(f"{x} = {acc_init}" for x in accs)
                jr = red_idx[-1]
                n8 = red[-1] - red[-1] % unroll
                for d, (j, n) in enumerate(zip(red_idx[:-1], red[:-1])):
                    stmts.append("    " * d + f"for {j} in range({n}):")
                ind = "    " * (len(red) - 1)
                stmts.append(ind + f"for {jr} in range(0, {n8}, {unroll}):")
                for u, x in enumerate(accs):
                    sub = red_idx[:-1] + [f"({jr} + {u})" if u else jr]
                    t = term(out_idx, sub, inner)
                    inner.append(combine(x, t))
                stmts.extend(ind + "    " + x for x in inner)
                if n8 < red[-1]:
                    rest = []
                    t = term(out_idx, red_idx, rest)
                    stmts.append(ind + f"for {jr} in range({n8}, {red[-1]}):")
                    stmts.extend(ind + "    " + x for x in rest + [combine(a, t)])
                pairs = accs
                fn = {"max": "np.maximum", "min": "np.minimum"}.get(op)
                while len(pairs) > 1:
                    pairs = [f"{fn}({x}, {y})" if fn else f"({x} + {y})"
                             for x, y in zip(pairs[::2], pairs[1::2])]
                stmts.append(f"{a} = {pairs[0]}")
            else:
                stmts.append(f"{a} = {acc_init}")
                t = term(out_idx, red_idx, inner)
                inner.append(combine(a, t))
                for d, (j, n) in enumerate(zip(red_idx, red)):
                    stmts.append("    " * d + f"for {j} in range({n}):")
                stmts.extend("    " * len(red) + x for x in inner)
            value = f"{cast}({a})" if (cast != "np.float64" or op != "sum") else a
            if target is None:
                stmts.append(f"{result} = {value}")
            else:
                stmts.append(f"{target}[{', '.join(out_idx)}] = {value}")
        lines += self.loops(shape, fill)
        self.vals[id(out)] = ("buf", target) if shape else ("scalar", result)

    # -- control flow inside the loop ------------------------------------------
    def fresh(self, jaxpr):
        j = _renamed(jaxpr)
        self.inner.append(j)
        return j

    def alias(self, invars, atoms):
        """Bind an inner Jaxpr's inputs to the values of the equation's operands."""
        for v, a in zip(invars, atoms):
            if isinstance(a, Literal):
                self.vals[id(v)] = ("scalar", literal(a.val, a.aval.dtype))
                continue
            self.vals[id(v)] = self.vals[id(a)]
            if id(a) in self.invariant:
                self.invariant.add(id(v))

    def emit_cond(self, e, lines):
        """``cond`` as ``if``/``elif``/``else`` on its index (clipped, as
        ``_cond_impl`` does: at most 0 is the first branch, anything past the
        middle ones the last). Every branch writes its results into the same
        scratch arrays (rank 0: locals), so the code after reads one place."""
        index, *args = e.inputs
        branches = e.params["branches"]
        outs = []
        for o in e.outputs:
            if _shape(o):
                outs.append(("buf", self.arg(("tmp", _shape(o), _dtype(o)), _dtype(o),
                                             _shape(o))))
            else:
                outs.append(("scalar", self.new("t")))
        bodies = []
        for b in branches:
            b = self.fresh(b)
            self.alias(b.invars, args)
            self.count_uses(b)
            made = {id(x.outputs[0]) for x in b.eqns if _elementwise(x.prim)}
            for v, (kind, data) in zip(b.outvars, outs):
                # an elementwise result is written straight into the output array
                if (kind == "buf" and isinstance(v, Var) and id(v) in made
                        and id(v) not in self.inplace and sum(u is v for u in b.outvars) == 1):
                    self.inplace[id(v)] = data
            body = []
            self.equations(b, body)
            for v, o, (kind, data) in zip(b.outvars, e.outputs, outs):
                if kind == "scalar":
                    stmts = []
                    expr = self.get(v, [], stmts)
                    body += stmts + [f"{data} = {DTYPES[_dtype(o).name]}({expr})"]
                elif not (isinstance(v, Var) and self.vals.get(id(v)) == ("buf", data)):
                    self.store(data, v, body)
            bodies.append(body or ["pass"])
        if len(bodies) == 1:
            lines += bodies[0]
        else:
            stmts = []
            i = self.get(index, [], stmts)
            k = self.new("t")
            lines += stmts + [f"{k} = {i}"]
            last = len(bodies) - 1
            for n, body in enumerate(bodies):
                head = ("else:" if n == last else f"if {k} <= 0:" if n == 0
                        else f"elif {k} == {n}:")
                lines.append(head)
                lines += ["    " + x for x in body]
        for o, val in zip(e.outputs, outs):
            self.vals[id(o)] = val

    def enter_loop(self, carry_in, init, lines):
        """Start an inner loop: its carries get their own storage (scratch
        arrays, rank 0: locals) holding copies of ``init``; the enclosing
        loop's carry bookkeeping is returned, for ``leave_loop``."""
        saved = (self.carry_vals, self.carry_bufs, self.done_carries, self.fixed)
        # the enclosing loop's carry arrays do not change while the inner one
        # runs, but stay out of the inner copies' sources, as its own do
        self.fixed = self.fixed | set(self.carry_bufs)
        self.carry_vals, self.carry_bufs, self.done_carries = [], [], set()
        for v, a in zip(carry_in, init):
            shape, dtype = _shape(v), _dtype(v)
            if shape:
                buf = self.arg(("tmp", shape, dtype), dtype, shape)
                self.store(buf, a, lines)
                self.carry_bufs.append(buf)
                self.carry_vals.append(("buf", buf))
            else:
                r = self.new("r")
                stmts = []
                expr = self.get(a, [], stmts)
                lines += stmts + [f"{r} = {DTYPES[dtype.name]}({expr})"]
                self.carry_vals.append(("scalar", r))
        return saved

    def leave_loop(self, saved):
        """End an inner loop: its carries' storage (its results), and the
        enclosing loop's bookkeeping back."""
        results = list(self.carry_vals)
        self.carry_vals, self.carry_bufs, self.done_carries, self.fixed = saved
        return results

    def stepped(self, a, step):
        """An inner scan's ``x``: step ``step`` of the stacked operand ``a``."""
        def at(idx, stmts):
            return self.get(a, [step] + list(idx), stmts)
        return at

    def emit_checkpoint(self, e, lines):
        """A checkpointed function: its equations in place (recomputation is
        for reverse mode, which has already been traced)."""
        j = self.fresh(e.params["jaxpr"])
        self.alias(j.invars, e.inputs)
        self.count_uses(j)
        self.equations(j, lines)
        self.alias(e.outputs, j.outvars)

    def emit_scan(self, e, lines):
        """A scan inside the loop, written out with its own step variable;
        its ys go into scratch stacks."""
        p = e.params
        j, nc, nk, length = p["jaxpr"], p["num_consts"], p["num_carry"], p["length"]
        j = self.fresh(j)
        ops = e.inputs
        carry_in, carry_out = j.invars[nc:nc + nk], j.outvars[:nk]
        saved = self.enter_loop(carry_in, ops[nc:nc + nk], lines)
        step = self.new("s")
        self.alias(j.invars[:nc], ops[:nc])
        for v, val in zip(carry_in, self.carry_vals):
            self.vals[id(v)] = val
        for v, a in zip(j.invars[nc + nk:], ops[nc + nk:]):
            self.vals[id(v)] = ("view", self.stepped(a, step))
        self.count_uses(j)
        self.plan_inplace(j, carry_in, carry_out)
        body = []
        self.equations(j, body)
        ys_out = []
        for v, o in zip(j.outvars[nk:], e.outputs[nk:]):
            ys = self.arg(("tmp", _shape(o), _dtype(o)), _dtype(o), _shape(o))

            def fill(idx, stmts, v=v, ys=ys):
                expr = self.get(v, idx, stmts)
                stmts.append(f"{ys}[{', '.join([step] + idx)}] = {expr}")
            body += self.loops(_shape(v), fill)
            ys_out.append(("buf", ys))
        self.update_carries(carry_in, carry_out, body)
        lines.append(f"for {step} in range({length - 1}, -1, -1):" if p["reverse"]
                     else f"for {step} in range({length}):")
        lines += ["    " + x for x in body] or ["    pass"]
        for o, val in zip(e.outputs, self.leave_loop(saved) + ys_out):
            self.vals[id(o)] = val

    def emit_while(self, e, lines):
        """A while loop inside the loop: ``while True`` with the condition's
        ``break``, as the outermost ``while_loop`` is written."""
        p = e.params
        ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
        cj, bj = self.fresh(p["cond_jaxpr"]), self.fresh(p["body_jaxpr"])
        ops = e.inputs
        carry_b = bj.invars[nbc:]
        saved = self.enter_loop(carry_b, ops[ncc + nbc:], lines)
        self.alias(cj.invars[:ncc], ops[:ncc])
        self.alias(bj.invars[:nbc], ops[ncc:ncc + nbc])
        for vc, vb, val in zip(cj.invars[ncc:], carry_b, self.carry_vals):
            self.vals[id(vc)] = self.vals[id(vb)] = val
        self.count_uses(cj)
        self.count_uses(bj)
        self.plan_inplace(bj, carry_b, bj.outvars)
        body = []
        self.equations(cj, body)
        stmts = []
        pred = self.get(cj.outvars[0], [], stmts)
        body += stmts + [f"if not {pred}:", "    break"]
        self.equations(bj, body)
        self.update_carries(carry_b, bj.outvars, body)
        lines.append("while True:")
        lines += ["    " + x for x in body]
        for o, val in zip(e.outputs, self.leave_loop(saved)):
            self.vals[id(o)] = val

    # -- carries ------------------------------------------------------------
    def bind_inputs(self, invars, kinds, before):
        """Bind ``invars`` (``kinds``: (role, k, "const"|"carry"|"xs")) to arguments;
        rank-0 consts and carries are loaded into locals in ``before``."""
        for v, (role, k) in zip(invars, kinds):
            shape = _shape(v)
            if role == "xs":
                stacked = self.arg(("xs", k), _dtype(v), (self.length,) + shape)
                self.vals[id(v)] = ("xs", (stacked, self.step))
            elif role == "carry":
                self.vals[id(v)] = self.carry_vals[k]
            else:
                buf = self.arg(("const", k), _dtype(v), shape)
                if shape:
                    self.vals[id(v)] = ("buf", buf)
                    self.invariant.add(id(v))
                    if _size(shape) * _dtype(v).itemsize >= ALIGN_MIN:
                        self.to_align.append((buf, v))
                else:
                    t = self.new("t")
                    before.append(f"{t} = {buf}[()]")
                    self.vals[id(v)] = ("scalar", t)

    def align(self, body, before):
        """Constants the loop's ``body`` reads, read from a cache-line-aligned
        copy (scratch, which the wrapper aligns) when they do not start on a
        line: the loop reads them every step, the copy is one pass."""
        text = "\n".join(body)
        for buf, v in self.to_align:
            if not re.search(rf"\b{buf}\[", text):
                continue
            copy = self.arg(("tmp", _shape(v), _dtype(v)), _dtype(v), _shape(v))
            before.append(f"if rt.misaligned({buf}):")
            before += ["    " + line for line in self.loops(
                _shape(v), lambda idx, stmts, buf=buf, copy=copy: stmts.append(
                    f"{copy}[{', '.join(idx)}] = {buf}[{', '.join(idx)}]"))]
            before.append(f"    {buf} = {copy}")

    def carries(self, avals, before, after):
        """The carries' storage: their returned arrays, rank-0 ones in locals."""
        self.carry_vals, self.carry_bufs = [], []
        for k, (shape, dtype) in enumerate(avals):
            buf = self.arg(("carry", k), dtype, shape)
            self.carry_bufs.append(buf)
            if shape:
                self.carry_vals.append(("buf", buf))
            else:
                r = self.new("r")
                before.append(f"{r} = {buf}[()]")
                after.append(f"{buf}[()] = {r}")
                self.carry_vals.append(("scalar", r))

    def update_carries(self, invars, outvars, lines):
        """Lines at the end of a step: the new carries into their storage (all
        computed before any is overwritten: a carry may read another)."""
        copies, assigns = [], []
        for k, (inv, outv) in enumerate(zip(invars, outvars)):
            if outv is inv or k in self.done_carries:
                continue
            kind, data = self.carry_vals[k]
            if kind == "scalar":
                n = self.new("n")
                stmts = []
                expr = self.get(outv, [], stmts)
                lines += stmts + [f"{n} = {expr}"]
                assigns.append(f"{data} = {n}")
                continue
            src = self.vals.get(id(outv)) if isinstance(outv, Var) else None
            if src is None or src[0] != "buf" or src[1] in self.carry_bufs or src[1] in self.fixed:
                buf = self.materialize(outv, lines)
            else:
                buf = src[1]
            copies.append((data, buf, _shape(outv)))
        for data, buf, shape in copies:
            def fill(idx, stmts, data=data, buf=buf):
                stmts.append(f"{data}[{', '.join(idx)}] = {buf}[{', '.join(idx)}]")
            lines += self.loops(shape, fill)
        lines += assigns

    def source(self, before, loop_head, body, after, work):
        lines = ["def kernel(q0, q1, q2):", "    q3 = rt.argv(q1)"]
        lines += ["    " + s for s in self.prologue]
        lines += ["    " + s for s in before]
        lines.append(f"    q4 = rt.release({int(work)})")
        lines.append("    " + loop_head)
        lines += ["        " + s for s in body] or ["        pass"]
        lines.append("    rt.acquire(q4)")
        lines += ["    " + s for s in after]
        lines.append("    return rt.done(0)")
        src = "\n".join(lines) + "\n"
        _validate(src)
        return src


def _step_work(w):
    """Rough element operations per step (for releasing the GIL)."""
    return max(1, sum(_size(r[1]) for r in w.roles if r[0] == "tmp"))


class Loop:
    """A whole loop: ``source`` (the kernel's text) and ``wrap(kernel)``, the
    function the plan calls with the loop's operands."""

    def __init__(self, source, roles, in_dtypes, carry_avals, y_avals, n_consts, n_carry):
        self.source, self.roles = source, roles
        self.in_dtypes = in_dtypes
        self.carry_avals, self.y_avals = carry_avals, y_avals
        self.n_consts, self.n_carry = n_consts, n_carry
        self.inside = {}   # control flow written inside it: {"cond": 2, ...}

    def holding(self):
        """For the log: ``", with 1 cond and 1 scan inside"``, or ""."""
        if not self.inside:
            return ""
        parts = [f"{n} {k}" for k, n in sorted(self.inside.items())]
        return f", with {' and '.join(parts)} inside"

    def wrap(self, kernel):
        """The function the plan calls: written out for this loop's roles, so
        that a call costs the checks and allocations it needs and no loop over
        the roles (a few microseconds, which a short scan notices)."""
        from .plan import _c
        nc, nk = self.n_consts, self.n_carry
        n_in = len(self.in_dtypes)
        g = {"_c": _c, "_fresh": np.array, "_empty": np.empty, "kernel": kernel, "pool": []}
        for i, d in enumerate(self.in_dtypes):
            g[f"D{i}"] = np.dtype(d)
        tmp = [(r[1], np.dtype(r[2])) for r in self.roles if r[0] == "tmp"]
        g["_new"] = lambda: [aligned_empty(shape, dtype) for shape, dtype in tmp]
        lines = [f"a{i} = _c(a{i}, D{i})" for i in range(n_in)]
        # carries are fresh arrays: the kernel updates them in place, and returns them
        lines += [f"c{k} = _fresh(a{nc + k}, order='C')" for k in range(nk)]
        for k, (shape, dtype) in enumerate(self.y_avals):
            g[f"DY{k}"] = np.dtype(dtype)
            lines.append(f"y{k} = _empty({tuple(shape)!r}, DY{k})")
        # scratch buffers reused across calls (threads each pop their own)
        lines += ["try:", "    t = pool.pop()", "except IndexError:", "    t = _new()"]
        argv, n_tmp = [], 0
        for r in self.roles:
            kind = r[0]
            if kind == "tmp":
                argv.append(f"t[{n_tmp}]")
                n_tmp += 1
            elif kind == "const":
                argv.append(f"a{r[1]}")
            elif kind == "carry":
                argv.append(f"c{r[1]}")
            elif kind == "xs":
                argv.append(f"a{nc + nk + r[1]}")
            else:
                argv.append(f"y{r[1]}")
        results = [f"c{k}" for k in range(nk)] + [f"y{k}" for k in range(len(self.y_avals))]
        lines += [f"kernel({', '.join(argv)})", "pool.append(t)",
                  f"return [{', '.join(results)}]"]
        src = (f"def run({', '.join(f'a{i}' for i in range(n_in))}):\n"
               + "".join(f"    {line}\n" for line in lines))
        exec(compile(src, "<chainrule loop wrapper>", "exec"), g)
        run = g["run"]
        run.whole = True
        run.source = self.source
        return run


def aligned_empty(shape, dtype, line=64):
    """``np.empty(shape, dtype)`` starting on a cache line (NumPy gives 16 bytes)."""
    dtype = np.dtype(dtype)
    n = _size(shape) * dtype.itemsize
    raw = np.empty(n + line, np.uint8)
    start = -raw.ctypes.data % line
    return raw[start:start + n].view(dtype).reshape(shape)


def scan(jaxpr, num_consts, num_carry, length, reverse):
    """The ``Loop`` of a scan of ``jaxpr``; ``Unsupported`` if it cannot be one."""
    why = first_unsupported(jaxpr)
    if why is not None:
        raise Unsupported(why)
    w = _Writer()
    w.length, w.fixed, w.step = length, set(), "s0"
    w.new("s")
    invars = jaxpr.invars
    carry_in = invars[num_consts:num_consts + num_carry]
    n_x = len(invars) - num_consts - num_carry
    carry_avals = [(_shape(v), _dtype(v)) for v in carry_in]
    y_out = jaxpr.outvars[num_carry:]
    before, after = [], []
    w.carries(carry_avals, before, after)
    kinds = ([("const", k) for k in range(num_consts)]
             + [("carry", k) for k in range(num_carry)] + [("xs", k) for k in range(n_x)])
    w.bind_inputs(invars, kinds, before)
    w.fixed = {d for kind, d in (w.vals[id(v)] for v in invars[:num_consts]) if kind == "buf"}
    w.fixed |= {d[0] for kind, d in (w.vals[id(v)] for v in invars[num_consts + num_carry:])}
    w.count_uses(jaxpr)
    w.plan_inplace(jaxpr, carry_in, jaxpr.outvars[:num_carry])
    body = []
    w.equations(jaxpr, body)
    y_avals = [((length,) + _shape(v), _dtype(v)) for v in y_out]
    for k, v in enumerate(y_out):
        ys = w.arg(("ys", k), _dtype(v), (length,) + _shape(v))
        shape = _shape(v)

        def fill(idx, stmts, v=v, ys=ys):
            expr = w.get(v, idx, stmts)
            stmts.append(f"{ys}[{', '.join([w.step] + idx)}] = {expr}")
        body += w.loops(shape, fill)
    w.update_carries(carry_in, jaxpr.outvars[:num_carry], body)
    head = (f"for s0 in range({length - 1}, -1, -1):" if reverse
            else f"for s0 in range({length}):")
    inside = control_flow(jaxpr)
    work = min(length * _step_work(w), 1 << 40)
    if "while" in inside and length:
        work = max(work, RELEASE_GIL_WORK)   # an inner while's trips are unknown
    w.align(body, before)
    src = w.source(before + w.before, head, body, after, work)
    in_dtypes = [_dtype(v) for v in invars]
    loop = Loop(src, w.roles, in_dtypes, carry_avals, y_avals, num_consts, num_carry)
    loop.inside = inside
    return loop


def while_loop(cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    """The ``Loop`` of a while loop (operands: cond consts, body consts, carry)."""
    for j in (cond_jaxpr, body_jaxpr):
        why = first_unsupported(j)
        if why is not None:
            raise Unsupported(why)
    w = _Writer()
    w.length, w.fixed = 0, set()
    carry_b = body_jaxpr.invars[body_nconsts:]
    carry_avals = [(_shape(v), _dtype(v)) for v in carry_b]
    before, after = [], []
    w.carries(carry_avals, before, after)
    nk = len(carry_b)
    w.bind_inputs(cond_jaxpr.invars, [("const", k) for k in range(cond_nconsts)]
                  + [("carry", k) for k in range(nk)], before)
    w.bind_inputs(body_jaxpr.invars, [("const", cond_nconsts + k) for k in range(body_nconsts)]
                  + [("carry", k) for k in range(nk)], before)
    consts = cond_jaxpr.invars[:cond_nconsts] + body_jaxpr.invars[:body_nconsts]
    w.fixed = {d for kind, d in (w.vals[id(v)] for v in consts) if kind == "buf"}
    w.count_uses(cond_jaxpr)
    w.count_uses(body_jaxpr)
    w.plan_inplace(body_jaxpr, carry_b, body_jaxpr.outvars)
    body = []
    w.equations(cond_jaxpr, body)
    (pred,) = cond_jaxpr.outvars
    stmts = []
    p = w.get(pred, [], stmts)
    body += stmts + [f"if not {p}:", "    break"]
    w.equations(body_jaxpr, body)
    w.update_carries(carry_b, body_jaxpr.outvars, body)
    w.align(body, before)
    src = w.source(before + w.before, "while True:", body, after, RELEASE_GIL_WORK)
    in_dtypes = ([_dtype(v) for v in cond_jaxpr.invars[:cond_nconsts]]
                 + [_dtype(v) for v in body_jaxpr.invars])
    loop = Loop(src, w.roles, in_dtypes, carry_avals, [], cond_nconsts + body_nconsts, nk)
    for j in (cond_jaxpr, body_jaxpr):
        for k, n in control_flow(j).items():
            loop.inside[k] = loop.inside.get(k, 0) + n
    return loop


