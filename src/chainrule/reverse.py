"""Reverse mode: record a tape, then walk it right to left.

Like autograd, the forward pass runs for real (each primitive is evaluated in
the parent interpreter, so Python ``if`` on values works) while the
``ReverseInterpreter`` appends one record per primitive to its tape. The
backward pass visits the records in reverse; each primitive's VJP rule turns
the upstream cotangent into downstream cotangents, and a value used twice
sums its cotangents. The walk is a loop, not a recursion, and runs in the
caller's interpreter, so an enclosing transform traces it: that is how
``grad(grad(f))`` and ``jit(grad(f))`` work.
"""

from __future__ import annotations

import numpy as np

from .config import check_nans, config, in_rule, user_line
from .core import (
    Interpreter,
    PrimalTracer,
    bind_in,
    get_aval,
    missing_rule,
    quiet_fp,
    set_interpreter,
)


class ReverseTracer(PrimalTracer):
    __slots__ = ("node",)

    def __init__(self, interp, primal, node: int):
        self._interp = interp
        self.primal = primal
        self.node = node


class Record:
    """One primitive application on the tape (the lectures' graph node)."""

    __slots__ = ("prim", "params", "primals", "out", "in_nodes", "out_nodes", "residuals",
                 "line")

    def __init__(self, prim, params, primals, out, in_nodes, out_nodes, residuals, line=None):
        self.prim, self.params, self.primals, self.out = prim, params, primals, out
        self.in_nodes, self.out_nodes, self.residuals = in_nodes, out_nodes, residuals
        self.line = line  # the user's line that applied it (debug_nans only)


class ReverseInterpreter(Interpreter):
    name = "grad"

    def __init__(self, parent):
        super().__init__(parent)
        self.tape: list[Record] = []
        self.num_nodes = 0

    def new_node(self) -> int:
        self.num_nodes += 1
        return self.num_nodes - 1

    def new_input(self, primal) -> ReverseTracer:
        return ReverseTracer(self, primal, self.new_node())

    def process_primitive(self, prim, args, params):
        primals, in_nodes = [], []
        for a in args:
            if (type(a) is ReverseTracer and a._interp is self) or self.owns(a):
                primals.append(a.primal)
                in_nodes.append(a.node)
            else:
                primals.append(a)
                in_nodes.append(None)
        if in_nodes.count(None) == len(in_nodes):
            return bind_in(self.parent, prim, args, params)
        residuals = None
        if prim.vjp_fwd is not None:
            # primitives whose VJP needs more than inputs and outputs (custom
            # rules, loops) compute what they save for backward here
            extra = ({"wants": tuple(n is not None for n in in_nodes)} if prim.vjp_fwd_wants
                     else {})
            with set_interpreter(self.parent):
                out, residuals = prim.vjp_fwd(*primals, **params, **extra)
        else:
            out = bind_in(self.parent, prim, primals, params)
        outs = out if prim.multiple_results else [out]
        out_nodes = [self.new_node() if o.dtype.kind in "fc" else None for o in outs]
        if all(n is None for n in out_nodes):
            return out  # integer or boolean results carry no gradient
        if prim.vjp is None:
            raise missing_rule(prim, "vjp (reverse mode)")
        self.tape.append(Record(prim, params, primals, out, in_nodes, out_nodes, residuals,
                                user_line() if config.debug_nans else None))
        tracers = [o if n is None else ReverseTracer(self, o, n) for o, n in zip(outs, out_nodes)]
        return tracers if prim.multiple_results else tracers[0]

    def node_of(self, x):
        """Tape node of an output of the traced function (None if constant)."""
        return x.node if self.owns(x) else None

    def backward(self, out_nodes, out_cts, in_nodes, consume=False):
        """Cotangents of ``in_nodes`` given cotangents of ``out_nodes``.

        Runs in the current interpreter (the caller's). Inputs that receive no
        cotangent get ``None``. With ``consume`` (a pullback used once, as in
        ``grad``), each record is dropped once visited, so forward values are
        freed as the backward pass passes them instead of at its end.
        """
        cts: dict[int, object] = {}
        for n, ct in zip(out_nodes, out_cts):
            if n is not None and ct is not None:
                cts[n] = cts[n] + ct if n in cts else ct
        with quiet_fp():   # once for the whole walk, not per rule
            if consume:
                tape, self.tape = self.tape, []
                while tape:
                    self._visit(tape.pop(), cts)
            else:
                for rec in reversed(self.tape):
                    self._visit(rec, cts)
        return [cts.get(n) for n in in_nodes]

    def _visit(self, rec, cts):
        """Apply one record's VJP rule: its output cotangent becomes its
        inputs' (summed where a value feeds several primitives)."""
        if rec.prim.multiple_results:
            if not any(n in cts for n in rec.out_nodes):
                return
            ct = [cts.pop(n) if n in cts else _zeros_like(o)
                  for n, o in zip(rec.out_nodes, rec.out)]
        else:
            n = rec.out_nodes[0]
            if n not in cts:
                return
            ct = cts.pop(n)
        wants = tuple([n is not None for n in rec.in_nodes])
        extra = {} if rec.prim.vjp_fwd is None else {"residuals": rec.residuals}
        if config.debug_nans:
            with in_rule("VJP", rec.prim.name, rec.line):
                in_cts = rec.prim.vjp(ct, rec.out, *rec.primals, wants=wants, **extra,
                                      **rec.params)
        else:
            in_cts = rec.prim.vjp(ct, rec.out, *rec.primals, wants=wants, **extra,
                                  **rec.params)
        for n, x, c in zip(rec.in_nodes, rec.primals, in_cts):
            if n is None or c is None:
                continue
            if config.debug_nans:  # concrete cotangents (ndarrays and NumPy scalars)
                with in_rule("VJP", rec.prim.name, rec.line):
                    check_nans(rec.prim.name, c)
            if c.shape != x.shape:
                raise AssertionError(
                    f"internal error: VJP rule of '{rec.prim.name}' returned a "
                    f"cotangent of shape {np.shape(c)} for an operand of shape "
                    f"{np.shape(x)}")
            if n in cts:
                cts[n] = cts[n] + c
                if config.debug_nans:  # inf + -inf where a value's gradients meet
                    with in_rule("VJP", rec.prim.name, rec.line):
                        check_nans(rec.prim.name, cts[n], "the sum of the cotangents of a "
                                   f"value used more than once (after the VJP rule of "
                                   f"'{rec.prim.name}')")
            else:
                cts[n] = c


def _zeros_like(x):
    aval = get_aval(x)
    return np.zeros(aval.shape, aval.dtype)

