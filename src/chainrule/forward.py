"""Forward mode: push tangents through each primitive, left to right.

A ``JVPTracer`` carries a primal value and its tangent (``None`` is a
symbolic zero, so that constants cost nothing). Each primitive's JVP rule
runs in the parent interpreter, so tangent computations are themselves
traced by enclosing transforms (``jvp(grad(f))``, ``jit(jvp(f))``).
"""

from __future__ import annotations

import numpy as np

from .config import check_nans, config, in_rule
from .core import (
    Interpreter,
    PrimalTracer,
    bind_in,
    missing_rule,
    quiet_fp,
    set_interpreter,
)


class JVPTracer(PrimalTracer):
    __slots__ = ("tangent",)

    def __init__(self, interp, primal, tangent):
        self._interp = interp
        self.primal = primal
        self.tangent = tangent


class JVPInterpreter(Interpreter):
    name = "jvp"

    def process_primitive(self, prim, args, params):
        owned = [self.owns(a) for a in args]
        if not any(owned):
            return bind_in(self.parent, prim, args, params)
        primals = [a.primal if o else a for a, o in zip(args, owned)]
        tangents = [a.tangent if o else None for a, o in zip(args, owned)]
        if all(t is None for t in tangents):
            return bind_in(self.parent, prim, primals, params)
        if prim.jvp_full is not None:
            # call-like primitives (custom rules, loops) compute both at once
            with set_interpreter(self.parent), in_rule("JVP", prim.name), quiet_fp():
                out, t_out = prim.jvp_full(primals, tangents, **params)  # call-like: rare
        else:
            if prim.jvp is None:
                raise missing_rule(prim, "jvp")
            out = bind_in(self.parent, prim, primals, params)
            with set_interpreter(self.parent), quiet_fp():
                if config.debug_nans:
                    with in_rule("JVP", prim.name):
                        t_out = prim.jvp(primals, tangents, out, **params)
                else:
                    t_out = prim.jvp(primals, tangents, out, **params)
        if config.debug_nans:
            for t in (t_out if prim.multiple_results else [t_out]):
                if isinstance(t, (np.ndarray, np.generic)):  # concrete (0-d included)
                    with in_rule("JVP", prim.name):
                        check_nans(prim.name, t)
        if prim.multiple_results:
            return [o if t is None else JVPTracer(self, o, t) for o, t in zip(out, t_out)]
        return out if t_out is None else JVPTracer(self, out, t_out)

    def lift(self, primal, tangent):
        return JVPTracer(self, primal, tangent)

    def unpack(self, x):
        """(primal, tangent or None) of an output of the traced function."""
        if self.owns(x):
            return x.primal, x.tangent
        return x, None
