"""Cost analysis on the IR: what a function, its JVP and its VJP cost, and
which mode to use for a Jacobian or a Hessian.

The lectures' rule of thumb: forward mode costs one pass per *input*
direction, reverse mode one pass per *output* direction, so for
``f: R^n -> R^m`` the full Jacobian takes ``n`` JVPs or ``m`` VJPs. Here the
passes are counted from the IR that chainrule actually runs:

- ``cost_analysis(f, *args)`` traces ``f``, its JVP and its VJP, and counts
  the FLOPs and bytes of every equation. Equations that depend on the
  tangent (or cotangent) are paid once per direction; the rest (the primal
  computation and the local derivatives that depend only on it) are paid
  once. It also reports the memory reverse mode keeps alive for the
  backward pass: the residuals, primal values some VJP rule reads.
- ``advise(f, *args)`` turns those counts into predicted costs of
  ``jacfwd`` and ``jacrev`` (and of forward-over-reverse vs
  reverse-over-reverse Hessians) with a simple machine model, and says which
  to use and how sure it is.

FLOP rules, per primitive family: elementwise ops cost one FLOP per output
element (transcendental functions are counted separately as well),
reductions one per input element, ``dot_general`` ``2·B·M·N·K``, ``fft``
``5 N log2 N`` per transform (half for real ones), and shape
ops (reshape, transpose, slicing, broadcasting, gather) none; every equation
moves the bytes of its array operands and its outputs.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import numpy as np

from .core import ClosedJaxpr, Jaxpr, Literal, Var, get_aval, is_float, param_jaxprs, trace_to_jaxpr

# ------------------------------------------------------------- families ---

TRANSCENDENTAL = frozenset({
    "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
    "tanh", "asinh", "acosh", "atanh", "logistic", "sqrt", "rsqrt", "cbrt", "pow", "atan2",
    "erf", "erfc", "erf_inv", "lgamma", "digamma", "igamma", "bessel_i0e", "bessel_i1e"})
SHAPE_OPS = frozenset({
    "broadcast_in_dim", "reshape", "transpose", "squeeze", "expand_dims", "concatenate",
    "slice", "pad", "rev", "gather", "dynamic_slice", "stop_gradient", "copy"})
REDUCTIONS = frozenset({
    "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin", "cumsum",
    "cumprod", "cummax", "cummin", "reduce_and", "reduce_or", "sort", "argsort", "logsumexp"})


class Cost(NamedTuple):
    """FLOPs (of which ``matmul_flops`` in contractions), transcendental
    function evaluations, bytes read and written, and primitive calls."""

    flops: float = 0.0
    transcendentals: float = 0.0
    bytes: float = 0.0
    eqns: int = 0
    matmul_flops: float = 0.0

    def __add__(self, other):
        return Cost(*(a + b for a, b in zip(self, other)))

    def __sub__(self, other):
        return Cost(*(max(a - b, 0) for a, b in zip(self, other)))

    def scale(self, k: float, eqns: bool = False) -> Cost:
        """``k`` times the work (``eqns``: also ``k`` times the calls)."""
        return Cost(self.flops * k, self.transcendentals * k, self.bytes * k,
                    self.eqns * k if eqns else self.eqns, self.matmul_flops * k)

    def __str__(self):
        return (f"{_si(self.flops)}FLOP ({_si(self.transcendentals)} transcendental), "
                f"{_si(self.bytes)}B, {self.eqns} primitive calls")


def _nbytes(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64)) * np.dtype(aval.dtype).itemsize


def _size(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64))


def eqn_cost(eqn) -> Cost:
    """The cost of one equation (see the module docstring for the rules)."""
    name = eqn.prim.name
    ins = [v.aval for v in eqn.inputs if not isinstance(v, Literal)]
    outs = [v.aval for v in eqn.outputs]
    moved = sum(map(_nbytes, ins)) + sum(map(_nbytes, outs))
    out_size = sum(map(_size, outs))
    inner = list(param_jaxprs(eqn.params))
    if inner:
        # control flow and calls: the cost of what runs inside
        costs = [jaxpr_cost(j.jaxpr if isinstance(j, ClosedJaxpr) else j) for j in inner]
        if name == "cond":
            body = max(costs, key=lambda c: c.flops + c.bytes)
        else:
            body = sum(costs, Cost())
        trips = eqn.params.get("length", 1) if name == "scan" else 1
        return body.scale(trips, eqns=True) + Cost(0, 0, 0, 1)
    if name == "dot_general":
        (lc, _), (lb, _) = eqn.params["dimension_numbers"]
        lhs = eqn.inputs[0].aval
        k = int(np.prod([lhs.shape[i] for i in lc], dtype=np.int64))
        flops = 2.0 * out_size * k  # every output element is a length-k dot product
        return Cost(flops, 0, moved, 1, flops)
    if name == "fft":
        # the usual count of a radix-2 complex FFT, 5 N log2 N per transform
        # (half that for the real ones), times the number of transforms
        lengths = eqn.params["fft_lengths"]
        n = float(np.prod(lengths))
        batch = (_size(ins[0]) if eqn.params["fft_type"] != "IRFFT" else out_size) / n
        real = 0.5 if eqn.params["fft_type"] in ("RFFT", "IRFFT") else 1.0
        return Cost(real * 5.0 * n * max(np.log2(n), 1.0) * batch, 0, moved, 1)
    if name in SHAPE_OPS:
        return Cost(0, 0, moved, 1)
    if name == "scatter_add":
        return Cost(float(_size(ins[1])) if len(ins) > 1 else 0.0, 0, moved, 1)
    if name in REDUCTIONS:
        return Cost(float(_size(ins[0])) if ins else 0.0, 0, moved, 1)
    if name == "integer_pow":
        y = abs(int(eqn.params.get("y", 2)))
        muls = max(y.bit_length() - 1 + bin(y).count("1") - 1, 1)
        return Cost(float(out_size * (muls + (eqn.params.get("y", 2) < 0))), 0, moved, 1)
    trans = out_size if name in TRANSCENDENTAL else 0
    return Cost(float(out_size), float(trans), moved, 1)


def jaxpr_cost(jaxpr: Jaxpr, eqns=None) -> Cost:
    """The total cost of ``jaxpr``'s equations (or of the subset ``eqns``)."""
    return sum((eqn_cost(e) for e in (jaxpr.eqns if eqns is None else eqns)), Cost())


def _depends(jaxpr: Jaxpr, seeds) -> list:
    """Per equation: whether it depends (transitively) on the ``seeds`` vars."""
    live = {id(v) for v in seeds}
    out = []
    for eqn in jaxpr.eqns:
        hit = any(isinstance(v, Var) and id(v) in live for v in eqn.inputs)
        if hit:
            live.update(id(v) for v in eqn.outputs)
        out.append(hit)
    return out


def _peak_live(jaxpr: Jaxpr, eqns) -> int:
    """Peak bytes of the values ``eqns`` create that are alive at once."""
    last = {}
    for k, eqn in enumerate(eqns):
        for v in eqn.inputs:
            if isinstance(v, Var):
                last[id(v)] = k
    for v in jaxpr.outvars:
        if isinstance(v, Var):
            last[id(v)] = len(eqns)
    live, peak, size = {}, 0, 0
    for k, eqn in enumerate(eqns):
        for v in eqn.outputs:
            live[id(v)] = _nbytes(v.aval)
            size += live[id(v)]
        peak = max(peak, size)
        for key in [key for key in live if last.get(key, -1) <= k]:
            size -= live.pop(key)
    return peak


# ------------------------------------------------------------ analysis ---


class EqnRow(NamedTuple):
    index: int
    primitive: str
    shape: str
    cost: Cost


class CostReport:
    """Costs of ``f``, of one JVP and of one VJP, from the IR.

    - ``f``: the primal computation; ``rows``: per equation of ``f``.
    - ``jvp``: per input direction (the tangent-dependent equations of the
      JVP); ``jvp_once``: what forward mode adds once (local derivatives
      that depend only on primal values).
    - ``vjp``: per output direction (the cotangent-dependent equations of
      the backward pass); ``vjp_once``: what reverse mode adds once.
    - ``residual_bytes``: memory reverse mode holds for the backward pass,
      the primal values (inputs included) that some VJP rule reads;
      ``residuals`` lists them as ``(shape, bytes)``;
      ``residual_bytes_inputs`` is the part that inputs and closed-over
      constants make up (alive anyway), the rest are intermediates.
    - ``n``, ``m``: input and output dimension (float elements).
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        lines = [f"cost_analysis({self.name}): R^{self.n} -> R^{self.m}",
                 f"  {'eqn':>4}  {'primitive':<20} {'output':<18} {'FLOPs':>9} "
                 f"{'transc.':>9} {'bytes':>9}"]
        for r in self.rows[:40]:
            lines.append(f"  {r.index:>4}  {r.primitive:<20} {r.shape:<18} "
                         f"{_si(r.cost.flops):>9} {_si(r.cost.transcendentals):>9} "
                         f"{_si(r.cost.bytes):>9}")
        if len(self.rows) > 40:
            lines.append(f"  ... {len(self.rows) - 40} more equations")
        for label, c in [("f", self.f), ("jvp, per input direction", self.jvp),
                         ("jvp, once", self.jvp_once), ("vjp, per output direction", self.vjp),
                         ("vjp, once", self.vjp_once)]:
            lines.append(f"  {label:<28} {c}")
        lines.append(f"  reverse-mode residuals: {_si(self.residual_bytes)}B in "
                     f"{len(self.residuals)} values ({_si(self.residual_bytes_inputs)}B of "
                     "them are inputs or constants, which the caller holds anyway)")
        return "\n".join(lines)


def _flat(fun, args, where):
    from .api import _flatten_args
    from .tree_util import tree_flatten, tree_unflatten

    leaves, in_tree = _flatten_args(tuple(args), where)

    def flat_fun(*xs):
        out = fun(*tree_unflatten(in_tree, list(xs)))
        return tree_flatten(out)[0]

    return flat_fun, leaves


def cost_analysis(f, *args) -> CostReport:
    """FLOPs and bytes of ``f`` at ``args``, of its JVP per input direction,
    of its VJP per output direction, and reverse mode's residual memory.

    Only shapes and dtypes of ``args`` matter (``f`` is traced, not run),
    except for Python control flow on values, which is traced as taken.
    """
    from .api import describe, jvp, vjp

    where = f"cost_analysis({describe(f)})"
    flat_fun, leaves = _flat(f, args, where)
    avals = [get_aval(x) for x in leaves]
    floats = [i for i, a in enumerate(avals) if is_float(a.dtype)]
    closed = trace_to_jaxpr(flat_fun, avals, where)
    jaxpr = closed.jaxpr
    out_avals = [v.aval for v in jaxpr.outvars]
    f_cost = jaxpr_cost(jaxpr)
    rows = [EqnRow(k, e.prim.name, " ".join(v.aval.str_short() for v in e.outputs),
                   eqn_cost(e)) for k, e in enumerate(jaxpr.eqns)]

    # forward mode: primals and tangents staged; tangent-dependent = per direction
    def jvp_fun(*xs):
        primals, tangents = xs[:len(leaves)], list(xs[len(leaves):])
        full = [tangents.pop(0) if i in floats else p for i, p in enumerate(primals)]
        return list(jvp(lambda *p: flat_fun(*p), tuple(primals), tuple(full))[1])

    jj = trace_to_jaxpr(jvp_fun, avals + [avals[i] for i in floats], where).jaxpr
    dep = _depends(jj, jj.invars[len(leaves):])
    jvp_dir = jaxpr_cost(jj, [e for e, d in zip(jj.eqns, dep) if d])
    jvp_once = jaxpr_cost(jj, [e for e, d in zip(jj.eqns, dep) if not d]) - f_cost
    jvp_mem = _peak_live(jj, [e for e, d in zip(jj.eqns, dep) if d])

    # reverse mode: primals and output cotangents staged
    out_float = [i for i, a in enumerate(out_avals) if is_float(a.dtype)]

    def vjp_fun(*xs):
        primals, cts = xs[:len(leaves)], list(xs[len(leaves):])
        _, pullback = vjp(lambda *p: flat_fun(*p), *primals)
        full = [cts.pop(0) if i in out_float else None for i in range(len(out_avals))]
        return [g for g in pullback(full) if get_aval(g).dtype != np.dtype([("float0", "V")])]

    vj = trace_to_jaxpr(vjp_fun, avals + [out_avals[i] for i in out_float], where).jaxpr
    dep = _depends(vj, vj.invars[len(leaves):])
    n_fwd = len(jaxpr.eqns)
    if [e.prim.name for e in vj.eqns[:n_fwd]] != [e.prim.name for e in jaxpr.eqns] or any(
            dep[:n_fwd]):
        n_fwd = dep.index(True) if True in dep else len(vj.eqns)
    backward = vj.eqns[n_fwd:]
    vjp_dir = jaxpr_cost(vj, [e for e, d in zip(vj.eqns, dep) if d])
    vjp_once = jaxpr_cost(vj, [e for e, d in zip(vj.eqns[n_fwd:], dep[n_fwd:]) if not d])
    vjp_mem = _peak_live(vj, [e for e, d in zip(vj.eqns, dep) if d])
    primal_vars = {id(v): v for v in list(vj.constvars) + list(vj.invars[:len(leaves)])}
    for e in vj.eqns[:n_fwd]:
        primal_vars.update((id(v), v) for v in e.outputs)
    read = {}
    for e in backward:
        for v in e.inputs:
            if isinstance(v, Var) and id(v) in primal_vars:
                read[id(v)] = primal_vars[id(v)]
    inputs = {id(v) for v in list(vj.invars[:len(leaves)]) + list(vj.constvars)}
    residuals = [(v.aval.str_short(), _nbytes(v.aval)) for v in read.values()]
    return CostReport(
        name=describe(f), rows=rows, f=f_cost, jvp=jvp_dir, jvp_once=jvp_once,
        vjp=vjp_dir, vjp_once=vjp_once, residuals=residuals,
        residual_bytes=sum(b for _, b in residuals),
        residual_bytes_inputs=sum(_nbytes(v.aval) for k, v in read.items() if k in inputs),
        jvp_live_bytes=jvp_mem, vjp_live_bytes=vjp_mem,
        n=sum(_size(avals[i]) for i in floats),
        m=sum(_size(out_avals[i]) for i in out_float),
        in_bytes=sum(_nbytes(a) for a in avals), out_bytes=sum(map(_nbytes, out_avals)))


# ------------------------------------------------------- machine model ---


@dataclasses.dataclass
class Machine:
    """How fast this machine runs each kind of work (used by ``advise``).

    ``overhead`` is the Python cost of one primitive call outside
    transforms, ``batched_overhead`` inside ``vmap`` (how jacfwd and jacrev
    run their passes), ``trace_overhead`` of recording one equation
    (linearize's staging, reverse mode's tape). ``calibrate()`` measures
    them; the defaults are a 2-core laptop-class CPU.
    """

    matmul_flops: float = 2.0e10       # FLOP/s in BLAS
    elementwise_flops: float = 1.0e9   # FLOP/s in NumPy ufuncs
    transcendentals: float = 1.5e8     # exp/tanh/... per second
    bandwidth: float = 5.0e9           # bytes/s
    overhead: float = 5e-6             # s per primitive call
    batched_overhead: float = 2.5e-5   # s per primitive call under vmap
    trace_overhead: float = 2e-5       # s per recorded equation

    def seconds(self, c: Cost, batch: int = 1, batched: bool = False) -> float:
        """Time of the work ``c`` done for ``batch`` directions at once."""
        calls = c.eqns * (self.batched_overhead if batched else self.overhead)
        return calls + batch * (c.matmul_flops / self.matmul_flops
                                + (c.flops - c.matmul_flops) / self.elementwise_flops
                                + c.transcendentals / self.transcendentals
                                + c.bytes / self.bandwidth)


def calibrate(repeat: int = 5) -> Machine:
    """Measure this machine's rates with a few NumPy and chainrule calls
    (about 0.2 s) and return a ``Machine`` for ``advise``."""
    from . import numpy as cnp
    from .api import jvp, vmap

    def best(fn):
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(256, 256)), rng.normal(size=(256, 256))
    x = rng.normal(size=1 << 18)
    mm = best(lambda: a @ b)
    add = best(lambda: x * x)
    ex = best(lambda: np.tanh(x))
    cp = best(lambda: x.copy())
    small = np.ones(4)
    per_call = best(lambda: [cnp.add(small, small) for _ in range(100)]) / 100
    batched = best(lambda: vmap(lambda v: [v := cnp.add(v, v) for _ in range(20)][-1])(
        np.ones((4, 4)))) / 20
    traced = best(lambda: jvp(lambda v: [v := cnp.add(v, v) for _ in range(20)][-1],
                              (small,), (small,))) / 20
    bandwidth = 2 * x.nbytes / cp
    # x * x: one FLOP per element plus reading and writing it
    compute = max(add - 2 * x.nbytes / bandwidth, 0.2 * add)
    return Machine(
        matmul_flops=2 * 256 ** 3 / mm,
        elementwise_flops=x.size / compute,
        transcendentals=x.size / ex,
        bandwidth=bandwidth,
        overhead=per_call,
        batched_overhead=max(batched, per_call),
        trace_overhead=max(traced, per_call))


# ------------------------------------------------------------- advisor ---


class Estimate(NamedTuple):
    """Predicted cost of one way of computing a derivative."""

    method: str
    passes: int          # JVPs or VJPs
    work: Cost           # total
    seconds: float       # predicted with the machine model
    memory: float        # predicted peak bytes beyond the inputs


def _confidence(ratio: float) -> float:
    """How sure a prediction ``ratio`` times apart is: 0.5 at a tie (a coin
    toss), 0.75 at 2x, 0.95 at 10x."""
    return round(1.0 - 0.5 / max(ratio, 1.0), 2)


class Advice:
    """``advise``'s answer: ``choice`` ('jacfwd' or 'jacrev'), ``confidence``
    (0.5 = a coin toss, 1 = certain), the two ``Estimate``s, a one-line
    ``reason``, and ``hessian`` (an ``Advice`` between forward-over-reverse
    and reverse-over-reverse, for scalar functions; else ``None``)."""

    def __init__(self, n, m, fwd, rev, choice, confidence, reason, hessian=None, name="f",
                 report=None):
        self.n, self.m, self.jacfwd, self.jacrev = n, m, fwd, rev
        self.choice, self.confidence, self.reason = choice, confidence, reason
        self.hessian, self.name, self.report = hessian, name, report

    @property
    def estimates(self):
        return {self.jacfwd.method: self.jacfwd, self.jacrev.method: self.jacrev}

    def _table(self, title):
        lines = [title,
                 f"  {'method':<42} {'passes':>6} {'FLOPs':>9} {'bytes':>9} {'time':>10} "
                 f"{'memory':>9}"]
        for e in (self.jacfwd, self.jacrev):
            mark = " <-" if e.method.startswith(self.choice) else ""
            lines.append(f"  {e.method:<42} {e.passes:>6} {_si(e.work.flops):>9} "
                         f"{_si(e.work.bytes):>9} {_fmt_time(e.seconds):>10} "
                         f"{_si(e.memory) + 'B':>9}{mark}")
        lines.append(f"  use {self.choice} (confidence {self.confidence:.2f}): {self.reason}")
        return lines

    def __repr__(self):
        lines = self._table(f"advise({self.name}): Jacobian of R^{self.n} -> R^{self.m}")
        if self.hessian is not None:
            lines += [""] + self.hessian._table(f"Hessian of {self.name} (R^{self.n} -> R):")
        return "\n".join(lines)


def _mode_estimates(rep: CostReport, machine: Machine, fwd_name, rev_name):
    n, m = rep.n, rep.m
    itemsize = 8
    # jacfwd: linearize (forward pass + tangent staging), then the linear
    # part for n directions in one vmapped pass, then the n x m result
    fwd_work = rep.f + rep.jvp_once + rep.jvp.scale(n)
    fwd_t = (machine.seconds(rep.f) + machine.seconds(rep.jvp_once)
             + (rep.f.eqns + rep.jvp_once.eqns + rep.jvp.eqns) * machine.trace_overhead
             + machine.seconds(rep.jvp, batch=n, batched=True)
             + (n * n + 2 * n * m) * itemsize / machine.bandwidth)
    fwd_mem = n * rep.jvp_live_bytes + n * m * itemsize + n * n * itemsize
    # jacrev: the tape (forward pass), then m cotangent directions in one
    # vmapped backward pass, then the m x n result
    rev_work = rep.f + rep.vjp_once + rep.vjp.scale(m)
    rev_t = (machine.seconds(rep.f) + rep.f.eqns * machine.trace_overhead
             + machine.seconds(rep.vjp_once)
             + machine.seconds(rep.vjp, batch=m, batched=True)
             + (m * m + 2 * n * m) * itemsize / machine.bandwidth)
    rev_mem = rep.residual_bytes + m * rep.vjp_live_bytes + n * m * itemsize + m * m * itemsize
    return (Estimate(fwd_name, n, fwd_work, fwd_t, fwd_mem),
            Estimate(rev_name, m, rev_work, rev_t, rev_mem))


def _decide(fwd: Estimate, rev: Estimate, short_f, short_r, n, m, what):
    faster, slower = (fwd, rev) if fwd.seconds <= rev.seconds else (rev, fwd)
    ratio = slower.seconds / max(faster.seconds, 1e-12)
    choice = short_f if faster is fwd else short_r
    if ratio < 1.15:
        reason = (f"{what}: both are predicted within 15% ({_fmt_time(fwd.seconds)} vs "
                  f"{_fmt_time(rev.seconds)}); either will do")
    else:
        reason = (f"{what}: {faster.passes} {'JVPs' if faster is fwd else 'VJPs'} instead of "
                  f"{slower.passes} {'VJPs' if faster is fwd else 'JVPs'}, predicted "
                  f"{ratio:.1f}x faster")
    return choice, _confidence(ratio), reason


def advise(f, *args, machine: Machine | None = None) -> Advice:
    """Which mode to use for the Jacobian of ``f`` at ``args``, and how sure.

    For ``f: R^n -> R^m``, ``jacfwd`` runs ``n`` JVPs and ``jacrev`` ``m``
    VJPs (each as one vmapped pass). Their costs are predicted from
    ``cost_analysis`` and a ``Machine`` model (defaults, or ``calibrate()``);
    the answer's ``choice`` is the predicted faster, ``confidence`` grows
    with how far apart the predictions are. For a scalar ``f`` the answer
    also compares Hessians: forward-over-reverse ``jacfwd(jacrev(f))``
    (n JVPs of the gradient) against reverse-over-reverse
    ``jacrev(jacrev(f))`` (n VJPs of the gradient, which keep the gradient's
    own residuals alive). Print it for a table.
    """
    from .api import describe, grad

    machine = machine or Machine()
    rep = cost_analysis(f, *args)
    fwd, rev = _mode_estimates(rep, machine, "jacfwd (forward mode, n JVPs)",
                               "jacrev (reverse mode, m VJPs)")
    choice, conf, reason = _decide(fwd, rev, "jacfwd", "jacrev", rep.n, rep.m, "Jacobian")
    hess = None
    if rep.m == 1 and rep.n >= 1:
        n_args = len(args)
        g = grad(f, argnums=tuple(range(n_args)) if n_args > 1 else 0)
        grep = cost_analysis(g, *args)
        hf, hr = _mode_estimates(grep, machine, "jacfwd(jacrev(f)) (forward-over-reverse)",
                                 "jacrev(jacrev(f)) (reverse-over-reverse)")
        hchoice, hconf, hreason = _decide(hf, hr, "jacfwd(jacrev(f))", "jacrev(jacrev(f))",
                                          grep.n, grep.m, "Hessian")
        hess = Advice(grep.n, grep.m, hf, hr, hchoice, hconf, hreason, None, describe(f), grep)
    return Advice(rep.n, rep.m, fwd, rev, choice, conf, reason, hess, describe(f), rep)


# ------------------------------------------------------------- helpers ---


def _si(x: float) -> str:
    x = float(x)
    for unit, k in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= k:
            return f"{x / k:.3g}{unit}"
    return f"{x:.3g}" if x != int(x) else f"{int(x)}"


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} µs"


__all__ = ["cost_analysis", "advise", "calibrate", "Machine", "Cost", "CostReport", "Advice",
           "Estimate", "eqn_cost", "jaxpr_cost"]
