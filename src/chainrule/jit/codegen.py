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

Signature: ``kernel(n0, .., o0, .., r0, .., i0, ..)``; every array is
C-contiguous with the loop's (collapsed) rank, with extent 1 on the axes
where it is broadcast (inputs) or reduced (reductions).
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

_NAME = re.compile(r"^[ionrjtax][0-9]+$")
_NAMES = {"np", "math", "range", "abs", "min", "max", "kernel", "True", "False"}
_ATTRS = {"np": {"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "uint16",
                 "uint32", "uint64", "bool_", "log", "log1p", "arcsin", "arccos", "arccosh",
                 "arctanh", "sqrt", "cbrt", "sign", "floor", "ceil", "rint", "power",
                 "maximum", "minimum", "arctan2", "fmod", "zeros", "inf", "nan", "exp",
                 "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan", "arcsinh", "expm1",
                 "abs", "isnan"},
          "math": {"exp", "expm1", "sin", "cos", "tan", "atan", "sinh", "cosh", "tanh",
                   "asinh", "log", "sqrt", "inf", "nan"}}
_NODES = (ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.For, ast.Assign,
          ast.AugAssign, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Call, ast.BinOp,
          ast.UnaryOp, ast.Compare, ast.IfExp, ast.BoolOp, ast.Subscript, ast.Tuple,
          ast.Constant, ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Return,
          ast.Expr)


class CodegenError(Exception):
    """The kernel cannot be written (a primitive without an emitter, a dtype
    the backend does not handle, or text that fails validation)."""


def validate(src: str) -> None:
    """Parse generated source and check it holds only what we generate."""
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise CodegenError(f"generated code contains a {type(node).__name__}")
        if isinstance(node, ast.Name) and not (_NAME.match(node.id) or node.id in _NAMES):
            raise CodegenError(f"generated code uses the name {node.id!r}")
        if isinstance(node, ast.arg) and not _NAME.match(node.arg):
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
    - ``reductions``: ``[(body_index, kept_axes, dtype)]``: sums over the
      loop axes not in ``kept_axes``.
    """

    def __init__(self, rank, inputs, body, outputs, reductions):
        self.rank, self.inputs, self.body = rank, inputs, body
        self.outputs, self.reductions = outputs, reductions


def _acc_dtype(dtype):
    return "np.float64" if np.dtype(dtype).kind == "f" else "np.int64"


def generate(spec: KernelSpec) -> str:
    """The kernel's source text (validated)."""
    r = spec.rank
    idx = [f"j{d}" for d in range(r)]
    args = ([f"n{d}" for d in range(r)] + [f"o{k}" for k in range(len(spec.outputs))]
            + [f"r{k}" for k in range(len(spec.reductions))]
            + [f"i{k}" for k in range(len(spec.inputs))])
    lines = [f"def kernel({', '.join(args)}):"]
    pre, post = [], []

    def sub(axes):
        """Index of an array with extent 1 off ``axes``."""
        if r == 0:
            return "()"
        return ", ".join(idx[d] if d in axes else "0" for d in range(r))

    # reductions: a scalar accumulator when everything is summed, else an
    # accumulator array; float sums accumulate in float64
    acc_expr = []
    for k, (_, kept, dtype) in enumerate(spec.reductions):
        if np.dtype(dtype).name not in DTYPES or np.dtype(dtype).kind not in "fiu":
            raise CodegenError(f"reduce_sum of dtype {dtype}")
        cast = DTYPES[np.dtype(dtype).name]
        if not kept:
            pre.append(f"a{k} = {_acc_dtype(dtype)}(0)")
            acc_expr.append(f"a{k}")
            post.append(f"r{k}[{'()' if r == 0 else ', '.join(['0'] * r)}] = {cast}(a{k})")
        else:
            shape = ", ".join(f"n{d}" if d in kept else "1" for d in range(r))
            pre.append(f"a{k} = np.zeros(({shape},), {_acc_dtype(dtype)})")
            acc_expr.append(f"a{k}[{sub(kept)}]")
            # copy back with the cast, over the kept axes
            ind = "    "
            loop = []
            for d in sorted(kept):
                loop.append(f"{ind}for {idx[d]} in range(n{d}):")
                ind += "    "
            loop.append(f"{ind}r{k}[{sub(kept)}] = {cast}(a{k}[{sub(kept)}])")
            post.extend(line[4:] for line in loop)

    body = []
    loaded = {}
    for k, (dtype, axes) in enumerate(spec.inputs):
        if np.dtype(dtype).name not in DTYPES:
            raise CodegenError(f"input of dtype {dtype}")
        loaded[k] = f"x{k}"
        body.append(f"x{k} = i{k}[{sub(axes)}]")
    for k, (prim, operands, params, dtype) in enumerate(spec.body):
        if prim.lower is None:
            raise CodegenError(f"primitive '{prim.name}' has no Numba emitter")
        if np.dtype(dtype).name not in DTYPES:
            raise CodegenError(f"'{prim.name}' of dtype {dtype}")
        exprs = []
        for op in operands:
            if op[0] == "in":
                exprs.append(loaded[op[1]])
            elif op[0] == "tmp":
                exprs.append(f"t{op[1]}")
            else:
                exprs.append(literal(op[1], op[2]))
        expr = prim.lower(*exprs, **params)
        body.append(f"t{k} = {DTYPES[np.dtype(dtype).name]}({expr})")
    for k, b in enumerate(spec.outputs):
        body.append(f"o{k}[{sub(range(r))}] = t{b}")
    for k, (b, kept, dtype) in enumerate(spec.reductions):
        body.append(f"{acc_expr[k]} += t{b}")

    ind = "    "
    lines.extend(ind + p for p in pre)
    for d in range(r):
        lines.append(f"{ind}for {idx[d]} in range(n{d}):")
        ind += "    "
    lines.extend(ind + b for b in body)
    lines.extend("    " + p for p in post)
    src = "\n".join(lines) + "\n"
    validate(src)
    return src
