"""An executable: the steps of a partitioned Jaxpr as one Python function.

The steps are written out as straight-line Python (``run(v0, v1): ...``)
whose text holds only generated names and integer literals; constants,
kernels and NumPy implementations are bound by name in its globals. There is
no interpretation loop per call: allocating outputs, calling each kernel and
library function, and returning fresh arrays is all that happens.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ..core import Literal, Var
from . import cache
from .codegen import CodegenError, generate
from .partition import Call, Kernel

# library calls whose result may be a view of an input: outputs get copied
_VIEWS = {"reshape", "transpose", "broadcast_in_dim", "squeeze", "expand_dims", "slice",
          "rev", "stop_gradient"}
_warned: set = set()


def _c(x):
    """``x`` C-contiguous (``np.ascontiguousarray`` would turn 0-d into 1-d)."""
    return x if x.flags.c_contiguous else np.array(x, order="C")


def _asarray(x):
    return x if type(x) is np.ndarray else np.asarray(x)


def _fallback_warning(kernel, err):
    names = tuple(kernel.prim_names)
    if names not in _warned:
        _warned.add(names)
        warnings.warn(f"chainrule.jit: Numba could not compile the fused kernel of "
                      f"{', '.join(names)} ({type(err).__name__}: {str(err)[:200]}); "
                      "running it with the NumPy implementations instead (same results, "
                      "slower)", RuntimeWarning, stacklevel=4)


class Executable:
    """The compiled form of one optimised Jaxpr at fixed input avals."""

    def __init__(self, closed, steps, name="jitted"):
        self.closed, self.steps, self.name = closed, steps, name
        self.kernels = [s for s in steps if isinstance(s, Kernel)]
        self.fallbacks = []
        jaxpr = closed.jaxpr
        g = {"_empty": np.empty, "_c": _c, "_copy": np.array,
             "_asarray": _asarray}
        names: dict[int, str] = {}
        contiguous: set[int] = set()   # values known to be C-contiguous
        view_of: dict[int, str] = {}   # values that may alias inputs or constants
        counter = [0]

        def glob(prefix, value):
            n = f"{prefix}{counter[0]}"
            counter[0] += 1
            g[n] = value
            return n

        def name(v):
            if isinstance(v, Literal):
                return glob("L", v.val)
            if id(v) not in names:
                names[id(v)] = f"v{len(names)}"
            return names[id(v)]

        params = [name(v) for v in jaxpr.invars]
        for v, c in zip(jaxpr.constvars, closed.consts):
            names[id(v)] = glob("c", c)
            view_of[id(v)] = "const"
        for v in jaxpr.invars:
            view_of[id(v)] = "input"
        lines = []

        def emit_call(eqn):
            f = functools.partial(eqn.prim.impl, **eqn.params) if eqn.params else eqn.prim.impl
            fn = glob("F", f)
            args = ", ".join(name(a) for a in eqn.inputs)
            if eqn.prim.multiple_results:
                outs = ", ".join(name(v) for v in eqn.outputs)
                lines.append(f"{outs}{',' if len(eqn.outputs) == 1 else ''} = {fn}({args})")
                for v in eqn.outputs:
                    lines.append(f"{name(v)} = _asarray({name(v)})")
            else:
                lines.append(f"{name(eqn.outputs[0])} = _asarray({fn}({args}))")
            if eqn.prim.name in _VIEWS:
                for v in eqn.outputs:
                    view_of[id(v)] = eqn.prim.name

        def shaped(v, shape):
            """``v`` as a C-contiguous array of ``shape`` (a view when possible)."""
            n = name(v)
            if id(v) in contiguous:
                expr = n
            elif id(v) in view_of and view_of[id(v)] == "const":
                arr = _c(np.asarray(g[n])).reshape(shape)
                return glob("c", arr)
            else:
                expr = f"_c({n})"
            return expr if tuple(v.aval.shape) == tuple(shape) else f"{expr}.reshape({shape!r})"

        for step in steps:
            if isinstance(step, Call):
                emit_call(step.eqn)
                continue
            k = step
            try:
                k.source = generate(k.spec)
                arrays = ([(v.aval.dtype, len(k.extents)) for v in k.outputs]
                          + [(v.aval.dtype, len(k.extents)) for v in k.reductions]
                          + [(b.aval.dtype, len(k.extents), True) for b, _ in k.inputs])
                disp = cache.compile_kernel(k.source, cache.signature(len(k.extents), arrays))
            except Exception as err:  # CodegenError, Numba's errors
                if not isinstance(err, CodegenError):
                    _fallback_warning(k, err)
                self.fallbacks.append(k)
                for e in k.bcasts + k.eqns:
                    emit_call(e)
                continue
            kn = glob("K", disp)
            lines.append(f"# {k!r}")
            args = [str(int(n)) for n in k.extents]
            for v in k.outputs:
                dn = glob("D", np.dtype(v.aval.dtype))
                lines.append(f"{name(v)} = _empty({tuple(v.aval.shape)!r}, {dn})")
                contiguous.add(id(v))
                args.append(shaped(v, k.extents))
            for v, shape in zip(k.reductions, k.red_shapes):
                dn = glob("D", np.dtype(v.aval.dtype))
                lines.append(f"{name(v)} = _empty({tuple(v.aval.shape)!r}, {dn})")
                contiguous.add(id(v))
                args.append(shaped(v, shape))
            for b, shape in k.inputs:
                args.append(shaped(b, shape))
            lines.append(f"{kn}({', '.join(args)})")

        outs = []
        for v in jaxpr.outvars:
            if isinstance(v, Literal):
                outs.append(f"_copy({name(v)})")
            elif id(v) in view_of:
                outs.append(f"_copy({name(v)})")
            else:
                outs.append(name(v))
        lines.append(f"return [{', '.join(outs)}]")
        self.source = (f"def run({', '.join(params)}):\n"
                       + "\n".join("    " + line for line in lines) + "\n")
        exec(compile(self.source, f"<chainrule-plan {self.name}>", "exec"), g)
        self.run = g["run"]

    def __call__(self, *args):
        return self.run(*args)

    def describe(self) -> str:
        out = [f"optimised jaxpr:\n{self.closed}", ""]
        nk = sum(isinstance(s, Kernel) and s not in self.fallbacks for s in self.steps)
        out.append(f"{len(self.steps)} steps: {nk} fused kernel(s), "
                   f"{len(self.steps) - nk} library call(s) or fallbacks")
        for i, s in enumerate(self.steps):
            if isinstance(s, Kernel):
                tag = " (NumPy fallback)" if s in self.fallbacks else ""
                out.append(f"[{i}] {s!r}{tag}: loop extents {s.extents}, "
                           f"{len(s.inputs)} input(s), {len(s.outputs)} output(s), "
                           f"{len(s.reductions)} reduction(s)")
                if s.source:
                    out.append("\n".join("      " + line for line in s.source.splitlines()))
            else:
                out.append(f"[{i}] library call: {s.eqn.prim.name}")
        out += ["", "plan:", self.source]
        return "\n".join(out)
