"""Numba source for one fused kernel: explicit loops over the output.

A kernel is a group of elementwise equations over one loop shape, plus the
reductions (``reduce_sum``) that end them. Its source is built from each
primitive's ``lower`` emitter and contains only generated names, names from
a fixed whitelist (``np``, ``math`` and some of their attributes) and numeric
literals; ``validate`` parses it and checks exactly that before anything is
compiled. Names are canonical (``i0`` inputs, ``o0`` outputs, ``r0``
reductions, ``n0`` loop extents, ``j0`` loop indices, ``t0`` temporaries), so
the same chain of operations over the same dtypes, ranks and broadcast
patterns gives the same text, whatever function it came from: the text is
the kernel's canonical form and its cache key.

Signature: a CPython fastcall function (``rt.py``), called as
``kernel(n0, .., o0, .., r0, .., s0, .., i0, ..)`` with the loop extents as
ints and every array C-contiguous, of the dtype the kernel was generated
for; the prologue views each one with the loop's (collapsed) rank, with
extent 1 on the axes where it is broadcast (inputs) or reduced (reductions
and their scratch accumulators ``s``).

Transcendental functions come from ``vmath`` (``vm.exp``, ``vm.sin``, ...),
written so that LLVM vectorises the loop. Their primitives also have
``lower_libm``, the scalar libm form (``math.exp``, ...), used where there
is no loop to vectorise (rank-0 kernels: a long scalar chain compiles much
faster with calls than with inlined polynomials). An emitter whose fast form
is accurate only on part of the real line also has ``lower_check`` (an int
expression, nonzero where the fast form is not accurate): the kernel then
ORs the checks into ``f0`` and returns it, and the plan re-runs the whole
kernel in its libm form (``generate(spec, exact=True)``, compiled the first
time it is needed) when the result is nonzero.

Every temporary is cast to its IR dtype (``t3 = np.float32(...)``), except
where the expression has that dtype already (float64 arithmetic on float64
operands): the casts cost Numba's type inference time, not run time.

Reductions accumulate in a scalar when the kept axes are outer loop axes
(a row sum, a total), else directly in the output (whose extent-1 axes are
the reduced ones) when it has the accumulator's dtype; only a column sum of
a narrower dtype needs an accumulator array, ``s``, which the plan provides
(``scratch``): kernels never allocate.
"""

from __future__ import annotations

import ast
import math
import re

import numpy as np

# dtypes a kernel can hold, with the constructor that casts to them
DTYPES = {"float64": "np.float64", "float32": "np.float32", "int64": "np.int64",
          "int32": "np.int32", "int16": "np.int16", "int8": "np.int8", "uint8": "np.uint8",
          "uint16": "np.uint16", "uint32": "np.uint32", "uint64": "np.uint64",
          "bool": "np.bool_"}

_NAME = re.compile(r"^[ionrsjtaxfq][0-9]+$")
_NAMES = {"np", "math", "vm", "rt", "range", "abs", "min", "max", "kernel",
          "True", "False"}
_ATTRS = {"np": {"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "uint16",
                 "uint32", "uint64", "bool_", "log", "log1p", "arcsin", "arccos", "arccosh",
                 "arctanh", "sqrt", "cbrt", "sign", "floor", "ceil", "rint", "power",
                 "maximum", "minimum", "arctan2", "fmod", "inf", "nan", "exp",
                 "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan", "arcsinh", "expm1",
                 "abs", "isnan"},
          "math": {"exp", "expm1", "sin", "cos", "tan", "atan", "sinh", "cosh", "tanh",
                   "asinh", "log", "sqrt", "inf", "nan"},
          # chainrule.jit.vmath
          "vm": {"exp", "sin", "cos", "tanh_finish", "logistic_finish"},
          # chainrule.jit.rt: the prologue's argument access
          "rt": {"argv", "long", "array", "done", "release", "acquire", "misaligned"}}
_NODES = (ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.For, ast.Assign,
          ast.AugAssign, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Call, ast.BinOp,
          ast.UnaryOp, ast.Compare, ast.IfExp, ast.BoolOp, ast.Subscript, ast.Tuple,
          ast.Constant, ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Return,
          ast.Expr)


class CodegenError(Exception):
    """The kernel cannot be written (a primitive without an emitter, a dtype
    the backend does not handle, or text that fails validation)."""


def validate(src: str, nodes=_NODES, name=_NAME, names=_NAMES, check_args=True) -> None:
    """Parse generated source and check it holds only what we generate: the
    ``nodes``, local names matching ``name`` and the globals in ``names``
    (loops.py passes its own, for ``while``/``if``/``break``)."""
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if not isinstance(node, nodes):
            raise CodegenError(f"generated code contains a {type(node).__name__}")
        if isinstance(node, ast.Name) and not (name.match(node.id) or node.id in names):
            raise CodegenError(f"generated code uses the name {node.id!r}")
        if check_args and isinstance(node, ast.arg) and not name.match(node.arg):
            raise CodegenError(f"generated code has the argument {node.arg!r}")
        if isinstance(node, ast.Attribute):
            base = node.value.id if isinstance(node.value, ast.Name) else None
            if base not in _ATTRS or node.attr not in _ATTRS[base]:
                raise CodegenError(f"generated code uses the attribute {node.attr!r}")
        if isinstance(node, ast.Constant) and not (
                node.value is None or type(node.value) in (int, float, bool)):
            raise CodegenError("generated code contains a non-numeric constant")
        if isinstance(node, ast.FunctionDef) and (node.name != "kernel" or node.decorator_list):
            raise CodegenError("generated code defines an unexpected function")


def literal(value, dtype) -> str:
    """A scalar as source text: a numeric literal cast to its dtype."""
    dtype = np.dtype(dtype)
    if dtype.name not in DTYPES:
        raise CodegenError(f"literal of dtype {dtype}")
    v = np.asarray(value).item()
    if dtype.kind == "b":
        return "True" if v else "False"
    if dtype.kind in "iu":
        text = str(int(v))
    else:
        v = float(v)
        text = ("np.nan" if math.isnan(v) else "np.inf" if v == math.inf
                else "(-np.inf)" if v == -math.inf else repr(v))
    return text if dtype.name in ("float64", "int64") else f"{DTYPES[dtype.name]}({text})"


class KernelSpec:
    """What the code generator needs, in canonical terms.

    - ``rank``: rank of the collapsed loop.
    - ``inputs``: ``[(dtype, full_axes)]``, ``full_axes`` the loop axes along
      which the input varies (it is broadcast along the others).
    - ``body``: ``[(prim, operands, params, dtype)]`` in order, each operand
      ``("in", k)``, ``("tmp", k)`` (an earlier body entry) or ``("lit",
      value, dtype)``; entry ``k`` defines ``t{k}``.
    - ``outputs``: body indices written to full-shape outputs.
    - ``reductions``: ``[(body_index, kept_axes, dtype, op)]``: reductions
      (``op`` "sum", "max" or "min") over the loop axes not in ``kept_axes``.
    """

    def __init__(self, rank, inputs, body, outputs, reductions):
        self.rank, self.inputs, self.body = rank, inputs, body
        self.outputs, self.reductions = outputs, reductions


def _acc_dtype(dtype):
    return "np.float64" if np.dtype(dtype).kind == "f" else "np.int64"


def _extreme(dtype, low):
    """The start of a max (``low``) or min accumulation, as source text."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return literal(-np.inf if low else np.inf, dtype)
    info = np.iinfo(dtype)
    return literal(info.min if low else info.max, dtype)


# primitives whose emitted expression is float64 when its operands are
_FLOAT_CLOSED = {"add", "sub", "mul", "div", "neg", "exp", "log", "log1p", "expm1", "sin", "cos",
                 "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
                 "atanh", "logistic", "sqrt", "cbrt", "abs", "pow", "max", "min", "atan2",
                 "stop_gradient", "convert_element_type"}
_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge"}


def _needs_cast(prim, params, operand_dtypes, dtype) -> bool:
    """Whether ``t = expr`` needs a cast to ``dtype`` (conservatively)."""
    dtype = np.dtype(dtype)
    f64 = np.dtype(np.float64)
    name = prim.name
    if name == "select":
        operand_dtypes = operand_dtypes[1:]
    if dtype == f64 and operand_dtypes and all(d == f64 for d in operand_dtypes):
        if name in _FLOAT_CLOSED or name == "select":
            return False
        if name == "integer_pow" and int(params.get("y", 0)) > 0:
            return False
    if dtype == np.dtype(bool) and name in _COMPARISONS and operand_dtypes and all(
            d == f64 for d in operand_dtypes):
        return False
    return True


def _scratch_indices(spec: KernelSpec) -> list[int]:
    """Reductions accumulated in a scratch array: kept axes not all outer,
    and an accumulator wider than the output."""
    out = []
    for k, (_, kept, dtype, op) in enumerate(spec.reductions):
        kept = set(kept)
        acc = _acc_dtype(dtype) if op == "sum" else DTYPES.get(np.dtype(dtype).name)
        if kept != set(range(len(kept))) and acc != DTYPES.get(np.dtype(dtype).name):
            out.append(k)
    return out


def scratch(spec: KernelSpec) -> list[tuple[set, str]]:
    """The accumulator arrays the plan passes after the reductions: ``(kept
    axes, dtype)`` each, extent 1 on the other axes; their contents are not read."""
    return [(set(spec.reductions[k][1]), _acc_dtype(spec.reductions[k][2]).replace("np.", ""))
            for k in _scratch_indices(spec)]


def checked(spec: KernelSpec) -> bool:
    """Whether the fast form of this kernel reports operands it cannot handle."""
    return spec.rank > 0 and any(
        getattr(prim, "lower_check", None) is not None for prim, *_ in spec.body)


def generate(spec: KernelSpec, exact: bool = False) -> str:
    """The kernel's source text (validated); ``exact``: the libm form."""
    r = spec.rank
    libm = exact or r == 0
    idx = [f"j{d}" for d in range(r)]
    lines = ["def kernel(q0, q1, q2):", "    q3 = rt.argv(q1)"]
    args = [f"n{d}" for d in range(r)]
    lines += [f"    n{d} = rt.long(q3[{d}])" for d in range(r)]

    def view(name, dtype, axes):
        """The prologue line viewing the next argument as ``name``."""
        if np.dtype(dtype).name not in DTYPES or not np.dtype(dtype).isnative:
            raise CodegenError(f"array of dtype {dtype}")
        shape = "".join(f"n{d}, " if d in axes else "1, " for d in range(r))
        lines.append(f"    {name} = rt.array(q3, {len(args)}, "
                     f"{DTYPES[np.dtype(dtype).name]}, ({shape}))")
        args.append(name)

    for k, b in enumerate(spec.outputs):
        view(f"o{k}", spec.body[b][3], range(r))
    for k, (_, kept, dtype, _) in enumerate(spec.reductions):
        view(f"r{k}", dtype, kept)
    for k, (kept, acc) in enumerate(scratch(spec)):
        view(f"s{k}", acc, kept)
    for k, (dtype, axes) in enumerate(spec.inputs):
        view(f"i{k}", dtype, axes)
    # statements before the loop over axis d (inside the loops over 0..d-1), and
    # after it; pre[r]/post[r] surround the body in the innermost loop
    pre = [[] for _ in range(r + 1)]
    post = [[] for _ in range(r + 1)]
    check = not libm and checked(spec)

    def sub(axes):
        """Index of an array with extent 1 off ``axes``."""
        if r == 0:
            return "()"
        return ", ".join(idx[d] if d in axes else "0" for d in range(r))

    def loops(axes, stmt, ind="    "):
        out = []
        for d in sorted(axes):
            out.append(f"{ind}for {idx[d]} in range(n{d}):")
            ind += "    "
        out.append(ind + stmt)
        return out

    if check:
        pre[0].append("f0 = 0")
    scratch_of = {k: i for i, k in enumerate(_scratch_indices(spec))}
    acc_expr = []
    for k, (_, kept, dtype, op) in enumerate(spec.reductions):
        if np.dtype(dtype).name not in DTYPES or np.dtype(dtype).kind not in "fiu":
            raise CodegenError(f"reduction of dtype {dtype}")
        cast = DTYPES[np.dtype(dtype).name]
        # sums accumulate in float64/int64, max/min in the output dtype
        acc = _acc_dtype(dtype) if op == "sum" else cast
        init = {"sum": f"{acc}(0)", "max": _extreme(dtype, low=True),
                "min": _extreme(dtype, low=False)}[op]
        kept = set(kept)
        p = len(kept)
        if kept == set(range(p)):
            # outer axes kept: a scalar accumulator inside the loops over them
            pre[p].append(f"a{k} = {init}")
            post[p].append(f"r{k}[{sub(kept)}] = {cast}(a{k})")
            acc_expr.append(f"a{k}")
        elif acc == cast:
            # accumulate in the output itself, initialised first
            pre[0][:0] = [line[4:] for line in loops(kept, f"r{k}[{sub(kept)}] = {init}")]
            acc_expr.append(f"r{k}[{sub(kept)}]")
        else:
            # a wider accumulator array from the plan (scratch), zeroed first
            s_k = f"s{scratch_of[k]}"
            pre[0][:0] = [line[4:] for line in loops(kept, f"{s_k}[{sub(kept)}] = {init}")]
            acc_expr.append(f"{s_k}[{sub(kept)}]")
            post[0].extend(line[4:] for line in loops(
                kept, f"r{k}[{sub(kept)}] = {cast}({s_k}[{sub(kept)}])"))

    body = []
    loaded = {}
    for k, (_, axes) in enumerate(spec.inputs):   # dtypes checked by view() above
        loaded[k] = f"x{k}"
        body.append(f"x{k} = i{k}[{sub(axes)}]")
    for k, (prim, operands, params, dtype) in enumerate(spec.body):
        if prim.lower is None:
            raise CodegenError(f"primitive '{prim.name}' has no Numba emitter")
        if np.dtype(dtype).name not in DTYPES:
            raise CodegenError(f"'{prim.name}' of dtype {dtype}")
        exprs, dts = [], []
        for op in operands:
            if op[0] == "in":
                exprs.append(loaded[op[1]])
                dts.append(np.dtype(spec.inputs[op[1]][0]))
            elif op[0] == "tmp":
                exprs.append(f"t{op[1]}")
                dts.append(np.dtype(spec.body[op[1]][3]))
            else:
                exprs.append(literal(op[1], op[2]))
                dts.append(np.dtype(op[2]))
        lower_check = getattr(prim, "lower_check", None)
        if check and lower_check is not None:
            line = f"f0 |= {lower_check(*exprs, **params)}"
            if line not in body:
                body.append(line)
        lower = getattr(prim, "lower_libm", None) if libm else None
        expr = (lower or prim.lower)(*exprs, **params)
        if _needs_cast(prim, params, dts, dtype):
            expr = f"{DTYPES[np.dtype(dtype).name]}({expr})"
        body.append(f"t{k} = {expr}")
    for k, b in enumerate(spec.outputs):
        body.append(f"o{k}[{sub(range(r))}] = t{b}")
    for k, (b, _, _, op) in enumerate(spec.reductions):
        if op == "sum":
            body.append(f"{acc_expr[k]} += t{b}")
        else:   # np.maximum/np.minimum: NaN wins, as in np.max/np.min
            fn = "np.maximum" if op == "max" else "np.minimum"
            body.append(f"{acc_expr[k]} = {fn}({acc_expr[k]}, t{b})")
    if r:
        pre[0].insert(0, f"q4 = rt.release({' * '.join(args[:r])})")
        post[0].append("rt.acquire(q4)")
    post[0].append(f"return rt.done({'f0' if check else '0'})")

    def emit(d, ind):
        lines.extend(ind + st for st in pre[d])
        if d == r:
            lines.extend(ind + b for b in body)
        else:
            lines.append(f"{ind}for {idx[d]} in range(n{d}):")
            emit(d + 1, ind + "    ")
        lines.extend(ind + st for st in post[d])

    emit(0, "    ")
    src = "\n".join(lines) + "\n"
    validate(src)
    return src
