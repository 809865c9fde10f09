"""``flat_code``: the forward and backward pass of a scalar function as
plain NumPy code, the lectures' "flat" gradient code, generated from the IR.

The forward pass is the function's Jaxpr, one line per equation. The
backward pass is traced: every forward value becomes an input of a staged
function that walks the equations right to left and calls each primitive's
VJP rule, so the backward code is exactly what ``grad`` computes. Each VJP
contribution becomes one line, ``grad_<value> = <upstream> * <local>``,
with the rule's intermediate results written inline.
"""

from __future__ import annotations

import keyword
from typing import Any

import numpy as np

from ..core import Literal, StagingInterpreter, Var, is_float, new_interpreter
from . import _trace

# ------------------------------------------------------------ emitters ---
# An emitter turns a primitive application into a NumPy expression. It gets
# the operand expressions as (text, precedence) pairs and returns one.

ATOM, POWER, UNARY, PRODUCT, SUM, COMPARE = 6, 5, 4, 3, 2, 1


def _wrap(e, prec):
    text, p = e
    return text if p >= prec else f"({text})"


def _binop(sym, prec, right_assoc=False):
    def emit(eqn, ins, **params):
        a, b = ins
        lp, rp = (prec + 1, prec) if right_assoc else (prec, prec + 1)
        return f"{_wrap(a, lp)} {sym} {_wrap(b, rp)}", prec
    return emit


def _call(fn):
    def emit(eqn, ins, **params):
        return f"{fn}({', '.join(t for t, _ in ins)})", ATOM
    return emit


def _tuple(xs):
    xs = tuple(int(x) for x in xs)
    return repr(xs)


def _dtype(d):
    return f"np.{np.dtype(d).name}"


def _broadcast_in_dim(eqn, ins, *, shape, broadcast_dimensions):
    (x,) = ins
    in_shape = eqn.inputs[0].aval.shape
    if not in_shape:
        return f"np.broadcast_to({x[0]}, {_tuple(shape)})", ATOM
    expanded = [1] * len(shape)
    for d, n in zip(broadcast_dimensions, in_shape):
        expanded[d] = n
    return f"np.broadcast_to(np.reshape({x[0]}, {_tuple(expanded)}), {_tuple(shape)})", ATOM


def _slice(eqn, ins, *, start_indices, limit_indices, strides):
    (x,) = ins
    strides = strides or (1,) * len(start_indices)
    parts = [f"{a}:{b}" + (f":{s}" if s != 1 else "")
             for a, b, s in zip(start_indices, limit_indices, strides)]
    return f"{_wrap(x, ATOM)}[{', '.join(parts)}]", ATOM


def _dot_general(eqn, ins, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    (a, b), (la, ra) = ins, [v.aval for v in eqn.inputs]
    if not lb and len(lc) == 1 and la.ndim <= 2 and ra.ndim <= 2:
        if lc[0] == la.ndim - 1 and rc[0] == 0:
            return f"{_wrap(a, POWER)} @ {_wrap(b, POWER)}", PRODUCT
        if la.ndim == 2 and lc[0] == 0 and rc[0] == 0:
            return f"{_wrap(a, ATOM)}.T @ {_wrap(b, POWER)}", PRODUCT
        if ra.ndim == 2 and lc[0] == la.ndim - 1 and rc[0] == 1:
            return f"{_wrap(a, POWER)} @ {_wrap(b, ATOM)}.T", PRODUCT
    if not lc and not lb:
        return f"np.multiply.outer({a[0]}, {b[0]})", ATOM
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ls = [None] * la.ndim
    rs = [None] * ra.ndim
    for i, j in zip(lb, rb):
        ls[i] = rs[j] = next(letters)
    for i, j in zip(lc, rc):
        ls[i] = rs[j] = next(letters)
    for s in (ls, rs):
        for i in range(len(s)):
            if s[i] is None:
                s[i] = next(letters)
    out = ([ls[i] for i in lb] + [ls[i] for i in range(la.ndim) if i not in lb and i not in lc]
           + [rs[i] for i in range(ra.ndim) if i not in rb and i not in rc])
    spec = f"{''.join(ls)},{''.join(rs)}->{''.join(out)}"
    return f"np.einsum('{spec}', {a[0]}, {b[0]})", ATOM


def _pad(eqn, ins, *, padding_config):
    if any(lo < 0 or hi < 0 or interior for lo, hi, interior in padding_config):
        raise ValueError("lax-style padding: use the generic call")
    widths = tuple((int(lo), int(hi)) for lo, hi, _ in padding_config)
    return f"np.pad({ins[0][0]}, {widths!r})", ATOM


def _reduce(fn):
    def emit(eqn, ins, *, axes):
        return f"{fn}({ins[0][0]}, axis={_tuple(axes)})", ATOM
    return emit


def _cumsum(eqn, ins, *, axis, reverse):
    x = ins[0][0]
    if reverse:
        return f"np.flip(np.cumsum(np.flip({x}, {axis}), axis={axis}), {axis})", ATOM
    return f"np.cumsum({x}, axis={axis})", ATOM


EMITTERS = {
    "add": _binop("+", SUM), "sub": _binop("-", SUM),
    "mul": _binop("*", PRODUCT), "div": _binop("/", PRODUCT),
    "pow": _binop("**", POWER, right_assoc=True),
    "neg": lambda eqn, ins: (f"-{_wrap(ins[0], UNARY)}", UNARY),
    "integer_pow": lambda eqn, ins, *, y: (f"{_wrap(ins[0], ATOM)} ** {y}"
                                           if y >= 0 else f"{_wrap(ins[0], ATOM)} ** {y}.0",
                                           POWER),
    "max": _call("np.maximum"), "min": _call("np.minimum"), "atan2": _call("np.arctan2"),
    "rem": _call("np.fmod"), "exp": _call("np.exp"), "log": _call("np.log"),
    "log1p": _call("np.log1p"), "expm1": _call("np.expm1"), "sin": _call("np.sin"),
    "cos": _call("np.cos"), "tan": _call("np.tan"), "asin": _call("np.arcsin"),
    "acos": _call("np.arccos"), "atan": _call("np.arctan"), "sinh": _call("np.sinh"),
    "cosh": _call("np.cosh"), "tanh": _call("np.tanh"), "asinh": _call("np.arcsinh"),
    "acosh": _call("np.arccosh"), "atanh": _call("np.arctanh"),
    "logistic": lambda eqn, ins: (f"1 / (1 + np.exp(-{_wrap(ins[0], UNARY)}))", PRODUCT),
    "sqrt": _call("np.sqrt"), "cbrt": _call("np.cbrt"), "abs": _call("np.abs"),
    "sign": _call("np.sign"), "floor": _call("np.floor"), "ceil": _call("np.ceil"),
    "round": _call("np.round"), "eq": _binop("==", COMPARE), "ne": _binop("!=", COMPARE),
    "lt": _binop("<", COMPARE), "le": _binop("<=", COMPARE), "gt": _binop(">", COMPARE),
    "ge": _binop(">=", COMPARE), "and": _call("np.logical_and"),
    "or": _call("np.logical_or"), "xor": _call("np.logical_xor"), "not": _call("np.logical_not"),
    "select": _call("np.where"),
    "clamp": lambda eqn, ins: (f"np.minimum(np.maximum({ins[0][0]}, {ins[1][0]}), "
                               f"{ins[2][0]})", ATOM),
    "stop_gradient": lambda eqn, ins: ins[0],
    "convert_element_type": lambda eqn, ins, *, new_dtype: (
        f"np.asarray({ins[0][0]}).astype({_dtype(new_dtype)})", ATOM),
    "reduce_sum": _reduce("np.sum"), "reduce_max": _reduce("np.max"),
    "reduce_min": _reduce("np.min"), "reduce_prod": _reduce("np.prod"),
    "argmax": lambda eqn, ins, *, axis, index_dtype: (
        f"np.argmax({ins[0][0]}, axis={axis}).astype({_dtype(index_dtype)})", ATOM),
    "argmin": lambda eqn, ins, *, axis, index_dtype: (
        f"np.argmin({ins[0][0]}, axis={axis}).astype({_dtype(index_dtype)})", ATOM),
    "cumsum": _cumsum,
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": lambda eqn, ins, *, new_sizes: (
        f"np.reshape({ins[0][0]}, {_tuple(new_sizes)})", ATOM),
    "transpose": lambda eqn, ins, *, permutation: (
        f"np.transpose({ins[0][0]}, {_tuple(permutation)})", ATOM),
    "squeeze": lambda eqn, ins, *, dimensions: (
        f"np.squeeze({ins[0][0]}, axis={_tuple(dimensions)})", ATOM),
    "expand_dims": lambda eqn, ins, *, dimensions: (
        f"np.expand_dims({ins[0][0]}, {_tuple(dimensions)})", ATOM),
    "concatenate": lambda eqn, ins, *, dimension: (
        f"np.concatenate([{', '.join(t for t, _ in ins)}], axis={dimension})", ATOM),
    "slice": _slice, "pad": _pad,
    "rev": lambda eqn, ins, *, dimensions: (
        f"np.flip({ins[0][0]}, {_tuple(dimensions)})" if dimensions else ins[0][0], ATOM),
    "dot_general": _dot_general,
}


# ------------------------------------------------------------- printer ---


class _Printer:
    """Names values and writes lines; constants that are not scalars and
    primitives with no emitter go through ``namespace``."""

    def __init__(self):
        self.names: dict[int, str] = {}
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {}
        self.defs: dict[int, Any] = {}   # var id -> eqn (for inlining)
        self.uses: dict[int, int] = {}
        self.rule_of: dict[int, int] = {}   # id(eqn) -> forward equation whose rule made it
        self.rule_ct: dict[int, tuple] = {}  # rule -> (id of its upstream ct var, name)
        self.ntemp = 0
        self.imports: set = set()

    def literal(self, val) -> str:
        val = np.asarray(val)
        if val.dtype.kind == "b":
            return repr(bool(val))
        if val.dtype.kind in "iu":
            return repr(int(val))
        x = float(val) if val.dtype.kind == "f" else complex(val)
        if isinstance(x, float) and not np.isfinite(x):
            return "np.nan" if np.isnan(x) else ("np.inf" if x > 0 else "-np.inf")
        return repr(x)

    def constant(self, name: str, val) -> str:
        """A line defining a non-scalar constant (inline when small)."""
        val = np.asarray(val)
        if val.size <= 16 and val.dtype.kind in "biuf":
            if val.size and np.all(val == val.flat[0]):
                return (f"{name} = np.full({_tuple(val.shape)}, {self.literal(val.flat[0])}, "
                        f"dtype={_dtype(val.dtype)})")
            return f"{name} = np.array({val.tolist()!r}, dtype={_dtype(val.dtype)})"
        self.namespace[f"_{name}"] = val
        return f"{name} = _{name}  # a {val.dtype}{list(val.shape)} constant"

    def atom(self, v, rule=None):
        """The expression of ``v``: its name, or its defining equation
        inline. Inside the VJP rule of equation ``rule``, that rule's
        upstream cotangent is called ``grad_<its output>``."""
        if isinstance(v, Literal):
            text = self.literal(v.val)
            return text, (ATOM if not text.startswith("-") else UNARY)
        if rule is not None and self.rule_ct.get(rule, (None,))[0] == id(v):
            return self.rule_ct[rule][1], ATOM
        if id(v) in self.names:
            return self.names[id(v)], ATOM
        eqn = self.defs[id(v)]
        if self.uses.get(id(v), 0) > 1 or eqn.prim.multiple_results:
            name = f"t{self.ntemp}"
            self.ntemp += 1
            self.emit_line(eqn, [name] if not eqn.prim.multiple_results else None)
            return self.names[id(v)], ATOM
        return self.render(eqn)

    def render(self, eqn):
        rule = self.rule_of.get(id(eqn))
        ins = [self.atom(v, rule) for v in eqn.inputs]
        emitter = EMITTERS.get(eqn.prim.name)
        if emitter is not None:
            try:
                return emitter(eqn, ins, **eqn.params)
            except (TypeError, KeyError, ValueError, IndexError):
                pass  # params the emitter does not know: use the generic call
        # No NumPy spelling: call the primitive's own implementation.
        args = ", ".join(t for t, _ in ins)
        try:
            text = repr(eqn.params)
            ok = _same(eval(text, {"np": np, "dtype": np.dtype}), eqn.params)
        except Exception:
            ok = False
        if ok:
            self.imports.add("from chainrule.core import registry as _primitives")
            return (f"_primitives[{eqn.prim.name!r}].impl({args}, **{text})", ATOM)
        key = f"_P{len(self.namespace)}"
        self.namespace[key] = (eqn.prim, eqn.params)
        return (f"{key}[0].impl({args}, **{key}[1])  "
                f"# {eqn.prim.name}: pass FlatCode.namespace to exec"), ATOM

    def emit_line(self, eqn, names):
        """One line ``names = <expr>`` for ``eqn`` (and name its outputs)."""
        text, _ = self.render(eqn)
        if eqn.prim.multiple_results:
            names = names or [f"t{self.ntemp + i}" for i in range(len(eqn.outputs))]
            self.ntemp += len(eqn.outputs) if names[0].startswith("t") else 0
            lhs = ", ".join(names) + ("," if len(names) == 1 else "")
        else:
            lhs = names[0]
        comment = ""
        if "  # " in text:
            text, comment = text.split("  # ", 1)
            comment = "  # " + comment
        self.lines.append(f"{lhs} = {text}{comment}")
        for v, n in zip(eqn.outputs, names):
            self.names[id(v)] = n


class FlatCode:
    """Generated flat code: ``str()`` (or printing it) gives the source;
    ``compile()`` runs it and returns the function, which returns
    ``(value, (grad_arg0, grad_arg1, ...))``."""

    def __init__(self, source: str, name: str, namespace: dict):
        self.source = source
        self.name = name
        self.namespace = namespace

    def compile(self):
        env = dict(self.namespace)
        exec(compile(self.source, f"<flat_code {self.name}>", "exec"), env)
        return env[self.name]

    def __str__(self):
        return self.source

    def __repr__(self):
        return self.source


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _const_expr(p: _Printer, c, taken: set) -> str:
    """A cotangent that a rule returned as a concrete array."""
    c = np.asarray(c)
    if c.ndim == 0:
        return p.literal(c)
    name = _fresh(f"k{len(taken)}", taken)
    p.lines.append(p.constant(name, c))
    return name


def _fresh(name: str, taken: set) -> str:
    if keyword.iskeyword(name) or name in taken or name in ("np",):
        k = 1
        while f"{name}_{k}" in taken:
            k += 1
        name = f"{name}_{k}"
    taken.add(name)
    return name


def flat_code(f, *args, name: str | None = None) -> FlatCode:
    """The forward and backward pass of a scalar ``f`` at ``args``, written
    out as flat NumPy code: the lectures' "flat gradient code".

    The forward pass is one line per primitive (``s0 = w0 * x0``); the
    backward pass starts from ``grad_L = 1.0`` and has one line per VJP
    contribution (``grad_s3 = grad_L * (L * (1 - L))``): the upstream
    gradient times the local gradient, generated from each primitive's VJP
    rule, and ``grad_x = grad_x + ...`` where a value used twice sums its
    gradients. The code runs with only NumPy (``import numpy as np``) and
    computes what ``grad`` computes; ``print`` it to read it, ``.compile()``
    to run it. The function it defines returns ``(value, grads)`` with one
    gradient per argument leaf (zeros for integer arguments).
    """
    traced = _trace.trace(f, args)
    jaxpr = traced.jaxpr
    if len(jaxpr.outvars) != 1 or jaxpr.outvars[0].aval.shape != () or not is_float(
            jaxpr.outvars[0].aval.dtype):
        raise TypeError(f"flat_code({traced.fun_name}) needs a function returning one real "
                        f"scalar, got {[v.aval.str_short() for v in jaxpr.outvars]}")
    fname = name or traced.fun_name
    fname = fname if fname.isidentifier() and not keyword.iskeyword(fname) else "f"
    p = _Printer()
    taken = {fname}
    params = [_fresh(n, taken) for n in traced.in_names]
    for v, n in zip(jaxpr.invars, params):
        p.names[id(v)] = n
    body = ["# forward pass"]
    for j, (v, c) in enumerate(zip(jaxpr.constvars, traced.closed.consts)):
        p.names[id(v)] = _fresh(f"c{j}", taken)
        body.append(p.constant(p.names[id(v)], c))
    out_var = jaxpr.outvars[0]
    out_name = _fresh("L", taken)
    count = 0
    for eqn in jaxpr.eqns:
        names = []
        for v in eqn.outputs:
            if v is out_var:
                names.append(out_name)
            else:
                names.append(_fresh(f"s{count}", taken))
                count += 1
        p.emit_line(eqn, names)
    if isinstance(out_var, Literal) or id(out_var) not in p.names or \
            p.names[id(out_var)] != out_name:
        p.lines.append(f"{out_name} = {p.atom(out_var)[0]}")
    body += p.lines
    p.lines = []

    # -- the backward pass, staged ---------------------------------------
    fwd_vars = list(jaxpr.constvars) + list(jaxpr.invars) + [
        v for eqn in jaxpr.eqns for v in eqn.outputs]
    grad_of = {id(v): _fresh(f"grad_{p.names[id(v)]}", taken) for v in fwd_vars}
    events = []
    with new_interpreter(StagingInterpreter, "flat_code") as st:
        tracer = {id(v): st.new_arg(v.aval) for v in fwd_vars}
        seed = st.new_arg(out_var.aval) if isinstance(out_var, Var) else None
        accum_out = set()

        rule_start = []

        def on_rule(k, ct):
            rule_start.append((len(st.eqns), k, ct))

        def on_contribution(k, i, v, c, prev):
            if prev is None:
                events.append(("first", k, v, c, None))
                return c
            total = prev + c
            events.append(("accum", k, v, c, total))
            accum_out.add(id(getattr(total, "ir_var", None)))
            return total

        def read(v):
            return v.val if isinstance(v, Literal) else tracer[id(v)]

        residuals = {}
        for k, eqn in enumerate(jaxpr.eqns):
            if eqn.prim.vjp_fwd is not None:
                _, residuals[k] = eqn.prim.vjp_fwd(*[read(v) for v in eqn.inputs],
                                                   **eqn.params)
        totals = {}
        if seed is not None:
            totals = _trace.backward(jaxpr, read, [seed], residuals, on_contribution,
                                     on_rule)
        bwd = st.build([tracer[id(v)] for v in fwd_vars] + ([seed] if seed is not None else []),
                       [totals.get(id(v), 0.0) for v in jaxpr.invars])
    bj = bwd.jaxpr

    # -- print it ----------------------------------------------------------
    for v, fv in zip(bj.invars, fwd_vars):
        p.names[id(v)] = p.names[id(fv)]
    if seed is not None:
        p.names[id(bj.invars[-1])] = grad_of[id(out_var)]
    p.lines = [f"{grad_of[id(out_var)]} = 1.0"] if seed is not None else []
    for j, (v, c) in enumerate(zip(bj.constvars, bwd.consts)):
        p.names[id(v)] = _fresh(f"k{j}", taken)
        p.lines.append(p.constant(p.names[id(v)], c))
    for eqn in bj.eqns:
        for v in eqn.outputs:
            p.defs[id(v)] = eqn
        if any(id(v) in accum_out for v in eqn.outputs):
            continue  # written as `grad_x = grad_x + ...`
        for v in eqn.inputs:
            if isinstance(v, Var):
                p.uses[id(v)] = p.uses.get(id(v), 0) + 1
    for _kind, _, _, c, _ in events:
        if isinstance(getattr(c, "ir_var", None), Var):
            p.uses[id(c.ir_var)] = p.uses.get(id(c.ir_var), 0) + 1
    bounds = [b for b, _, _ in rule_start] + [len(bj.eqns)]
    for (start, k, ct), stop in zip(rule_start, bounds[1:]):
        for eqn in bj.eqns[start:stop]:
            p.rule_of[id(eqn)] = k
        if isinstance(getattr(ct, "ir_var", None), Var):
            outs = jaxpr.eqns[k].outputs
            p.rule_ct[k] = (id(ct.ir_var), grad_of[id(outs[0])])
    accumulated = {id(v) for kind, _, v, _, _ in events if kind == "accum"}

    for kind, k, v, c, total in events:
        gname = grad_of[id(v)]
        cvar = c.ir_var if isinstance(getattr(c, "ir_var", None), Var) else None
        if cvar is None:
            expr = _const_expr(p, c, taken)
        elif (kind == "first" and id(v) not in accumulated and id(cvar) not in p.names
              and id(cvar) in p.defs and not p.defs[id(cvar)].prim.multiple_results
              and p.rule_ct.get(k, (None,))[0] != id(cvar)):
            # the contribution is this value's whole gradient: name it so
            p.lines.append(f"{gname} = {p.render(p.defs[id(cvar)])[0]}")
            p.names[id(cvar)] = gname
            continue
        else:
            expr = p.atom(cvar, k)[0]
        if kind == "first":
            p.lines.append(f"{gname} = {expr}")
            if cvar is not None and id(cvar) not in p.names and id(v) not in accumulated:
                p.names[id(cvar)] = gname
        else:
            p.lines.append(f"{gname} = {gname} + {expr}")
            if isinstance(getattr(total, "ir_var", None), Var):
                p.names[id(total.ir_var)] = gname
    grads = []
    for v in jaxpr.invars:
        g = grad_of[id(v)]
        if id(v) not in totals:
            if is_float(v.aval.dtype):
                p.lines.append(f"{g} = np.zeros({_tuple(v.aval.shape)}, "
                               f"dtype={_dtype(v.aval.dtype)})")
            else:
                p.lines.append(f"{g} = np.zeros({_tuple(v.aval.shape)}, "
                               "dtype=[('float0', 'V')])  # integers have no gradient")
        grads.append(g)
    body.append("")
    body.append("# backward pass: downstream gradient = upstream gradient * local gradient")
    body += p.lines
    ret = ", ".join(grads) + ("," if len(grads) == 1 else "")
    body.append(f"return {out_name}, ({ret})")
    src = ["import numpy as np", *sorted(p.imports), "", "",
           f"def {fname}({', '.join(params)}):"]
    src += ["    " + line if line else "" for line in body]
    return FlatCode("\n".join(src) + "\n", fname, p.namespace)
