"""An executable: the steps of a partitioned Jaxpr as one Python function.

The steps are written out as straight-line Python (``run(v0, v1): ...``)
whose text holds only generated names and integer literals; constants,
kernels and NumPy implementations are bound by name in its globals. There is
no interpretation loop per call: taking buffers, calling each kernel and
library function, and returning fresh arrays is all that happens.

Memory. Fresh memory costs page faults (glibc hands big blocks back to the
kernel on ``free`` and maps them again on the next ``malloc``: about 2500
faults, several milliseconds, per MLP gradient on the reference machine),
so the plan allocates as little as it can per call:

- intermediates written by kernels and by ``dot_general`` (``np.matmul``
  with ``out=``) live in an *arena*: buffers assigned once per executable,
  shared by values whose lifetimes do not overlap (liveness over the
  steps), and reused by every call. Arenas are taken from and given back
  to a pool, so calls from several threads each get their own. Only values
  read by kernels, contractions and reductions (which never return views of
  their operands) live there; anything else a library call might return a
  view of is allocated per call as before.
- returned arrays must be the caller's own, so they are allocated per call,
  except that a large output the caller has dropped since the previous call
  (no reference left but the executable's) is written again instead of
  allocating a new one;
- other intermediates are deleted (``del``) after their last use, so peak
  memory is what is live, not everything computed.
"""

from __future__ import annotations

import functools
import logging
import operator
import sys
import threading
import warnings
import weakref

import numpy as np

from ..config import config
from ..core import ClosedJaxpr, Literal, Var
from . import cache, loops, native, threads
from .codegen import CodegenError, checked, generate, scratch
from .optimize import nbytes as _nbytes
from .partition import Call, Kernel

# library calls whose result may be a view of an input: outputs get copied
_VIEWS = {"reshape", "transpose", "broadcast_in_dim", "squeeze", "expand_dims", "slice",
          "rev", "stop_gradient", "optimization_barrier"}
# library calls whose result is always new memory: their operands may live in the arena
_FRESH = {"dot_general", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax",
          "argmin"}
# outputs at least this big are recycled when the caller has dropped them
_RECYCLE_BYTES = 1 << 16
_warned: set = set()
_log = logging.getLogger("chainrule.jit")
# the pending lists of the plans being built on this thread (a plan's
# control-flow bodies are built inside it, and its pending list holds theirs)
_tls = threading.local()


def _building() -> list:
    if not hasattr(_tls, "building"):
        _tls.building = []
    return _tls.building


def _ask(sources):
    """The compiled functions of ``sources`` from the compile process, or None
    while any is being compiled (it is then registered with the plans being
    built, which are rebuilt when it arrives) or if the compile process has
    died (warned once: the plan stays on NumPy)."""
    fns = [cache.request(src) for src in sources]
    waiting = [src for src, fn in zip(sources, fns) if fn is cache.PENDING]
    for pending in _building():
        pending.extend(waiting)
    if any(fn is None for fn in fns):
        cache.compiler_warning(stacklevel=7)
        return None
    return None if waiting else fns


_getrefcount = sys.getrefcount
_getweakrefcount = weakref.getweakrefcount


def _c(x, dtype=None, shape=None):
    """``x`` as a C-contiguous ndarray (of ``dtype``): what a kernel may be
    given (``np.ascontiguousarray`` would turn 0-d into 1-d). With ``shape``,
    a library call's result that a kernel reads is checked against its
    aval: kernels index raw memory, so a wrong size must never reach one."""
    if shape is not None and np.shape(x) != shape:
        raise AssertionError(f"chainrule.jit: a library call returned shape {np.shape(x)} "
                             f"where its abstract evaluation said {shape}")
    if (type(x) is np.ndarray and x.flags.c_contiguous
            and (dtype is None or x.dtype == dtype)):
        return x
    return np.array(x, dtype=dtype, order="C")


def _asarray(x):
    return x if type(x) is np.ndarray else np.asarray(x)


def _slot_refs(P, i):
    o = P[i]
    return _getrefcount(o)


# references to an array held only by the executable's list of previous outputs,
# as counted inside _out (the list, the local name, getrefcount's argument)
_FREE = _slot_refs([np.empty(1)], 0)


def _out(P, i, shape, dtype):
    """Output ``i``: the previous call's array when nobody else holds it (no
    reference, view or weak reference) and it is as we made it (the caller may
    have changed its shape, strides or dtype, or made it read-only), else new."""
    o = P[i]
    if o is not None and _getrefcount(o) == _FREE and not _getweakrefcount(o):
        flags = o.flags
        if flags.c_contiguous and flags.writeable and o.shape == shape and o.dtype == dtype:
            return o
    o = np.empty(shape, dtype)
    P[i] = o
    return o


def _fallback_warning(kernel, err):
    names = tuple(kernel.prim_names)
    if names not in _warned:
        _warned.add(names)
        warnings.warn(f"chainrule.jit: Numba could not compile the fused kernel of "
                      f"{', '.join(names)} ({type(err).__name__}: {str(err)[:200]}); "
                      "running it with the NumPy implementations instead (same results, "
                      "slower)", RuntimeWarning, stacklevel=4)


class _Compiler:
    """What ``lower_call`` rules get: ``compile(jaxpr)`` is a loop body or
    branch (a Jaxpr without constants) compiled like a jit function, called
    with ndarrays of the Jaxpr's input dtypes (the rules convert once per
    loop, so without ``Executable.__call__``'s conversion per step);
    ``compile.scan(...)`` is a whole scan, its loop written around the body's
    plan (``scan_loop``)."""

    @staticmethod
    def executable(jaxpr):
        from . import compile_jaxpr  # the package imports this module
        return compile_jaxpr(ClosedJaxpr(jaxpr, []), "body")

    def __call__(self, jaxpr):
        return self.executable(jaxpr).run

    def scan(self, jaxpr, *, num_consts, num_carry, length, reverse):
        whole = _whole(f"scan of {length} step(s)", lambda: loops.scan(
            _tidy(jaxpr), num_consts, num_carry, length, reverse))
        if whole is not None:
            return whole
        return scan_loop(self.executable(jaxpr), num_consts, num_carry, length, reverse)

    def while_loop(self, cond_jaxpr, body_jaxpr, *, cond_nconsts, body_nconsts):
        """The whole while loop as one kernel, or None (then the rule runs
        Python's ``while`` around the compiled cond and body)."""
        return _whole("while_loop", lambda: loops.while_loop(
            _tidy(cond_jaxpr), _tidy(body_jaxpr), cond_nconsts, body_nconsts))


def _tidy(jaxpr):
    """A loop body after folding, CSE and dead-code removal (the same Jaxpr
    when that would give it constants: a whole loop takes none), and so the
    branches and bodies of the control flow inside it (a cond branch of a
    VJP computes values only the other branches return). Calls of jitted
    functions are inlined, as in the plan of a whole jit function."""
    from . import jit_p
    from .optimize import dce, inline_calls, simplify
    opt = dce(simplify(inline_calls(ClosedJaxpr(jaxpr, []), {jit_p})))
    jaxpr = jaxpr if opt.consts or opt.jaxpr.constvars else opt.jaxpr
    eqns = [loops.map_inner(e, _tidy) for e in jaxpr.eqns]
    if all(a is b for a, b in zip(eqns, jaxpr.eqns)):
        return jaxpr
    return type(jaxpr)(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)


def _whole(what, build):
    """``build()``'s loop compiled as one kernel (``loops``), wrapped for the
    plan; None when it cannot be (logged with the reason) or, on the tiered
    path, while the compile process has it (the plan that holds it is rebuilt
    when it arrives, as for its kernels)."""
    try:
        if not native.supported():
            raise loops.Unsupported("this Python keeps ndarray data elsewhere")
        loop = build()
    except (loops.Unsupported, CodegenError) as err:
        _log.info("%s kept on the step-by-step path: %s", what, err)
        return None
    try:
        if cache.asynchronous():
            fns = _ask([loop.source])
            if fns is None:
                from .compiler import current
                c = current()
                if c is not None and c.died is not None:
                    _log.info("%s kept on the step-by-step path: the compile process ended",
                              what)
                else:
                    _log.info("%s compiled whole when the compile process has it; step by "
                              "step until then", what)
                return None
            (fn,) = fns
        else:
            fn = cache.compile_kernel(loop.source)
    except Exception as err:  # Numba's errors, or the compile process's report of them
        _log.info("%s kept on the step-by-step path: Numba could not compile it (%s: %s)",
                  what, type(err).__name__, str(err)[:200])
        return None
    cache.stats["loops_compiled_whole"] += 1
    _log.info("%s compiled whole%s", what, loop.holding())
    return loop.wrap(fn)


_compiler = _Compiler()


def scan_loop(ex, num_consts, num_carry, length, reverse):
    """``scan`` of the body ``ex`` as one Python function: the body's plan
    inlined in a ``for`` loop, its buffers taken once, the carries rebound
    and each ``y`` written into its stacked output, instead of a call per
    step (what lax.scan means: ``control_flow._scan_impl``)."""
    params, core, outs, uses_arena, g, checked = ex._pieces
    n_in = num_consts + num_carry
    carries, x_names = params[num_consts:n_in], params[n_in:]
    stacked = [f"S{k}" for k in range(len(x_names))]
    g = dict(g)
    y_avals = [v.aval for v in ex.closed.jaxpr.outvars[num_carry:]]
    lines = []
    if uses_arena:
        lines += ["A = _take()", "P = A[-1]"]
    for k, a in enumerate(y_avals):
        g[f"DY{k}"] = np.dtype(a.dtype)
        lines.append(f"Y{k} = _empty({(length,) + tuple(int(d) for d in a.shape)!r}, DY{k})")
    steps = f"range({length - 1}, -1, -1)" if reverse else f"range({length})"
    lines.append(f"for I in {steps}:")
    body = [f"{x} = {s}[I, ...]" for x, s in zip(x_names, stacked)] + list(core)
    for k, expr in enumerate(outs[num_carry:]):
        body.append(f"Y{k}[I] = {expr}")
    if carries:
        # a carry a kernel reads must stay C-contiguous (as the entry check wanted)
        new = [f"_c({e})" if c in checked else e for c, e in zip(carries, outs[:num_carry])]
        body.append(f"{', '.join(carries)}, = {', '.join(new)},")
    lines += ["    " + line for line in body]
    if uses_arena:
        lines.append("_give(A)")
    # results are the caller's own: with no step, the carries would be its inputs
    results = [f"_copy({c})" if length == 0 else c for c in carries]
    lines.append(f"return [{', '.join(results + [f'Y{k}' for k in range(len(y_avals))])}]")
    source = (f"def run({', '.join(params[:n_in] + stacked)}):\n"
              + "".join("    " + line + "\n" for line in lines))
    loop = ex._compile(source, g)
    dtypes = list(ex.in_dtypes)

    def run_scan(*args):
        # inputs C-contiguous and of their dtypes once: slices of the stacked
        # xs are then C-contiguous too, and the body's entry check is not needed
        return loop(*[_c(a, d) for a, d in zip(args, dtypes)])
    run_scan.source = source
    return run_scan


class _ExactKernel:
    """The libm form of a kernel whose fast form flagged an operand it cannot
    handle (``codegen.checked``), compiled the first time it is needed."""

    def __init__(self, kernel):
        self.kernel, self.fn = kernel, None

    def __call__(self, *args):
        if self.fn is None:
            self.fn = cache.compile_kernel(generate(self.kernel.spec, exact=True))
        return self.fn(*args)


def _matmul_form(eqn):
    """``(transpose lhs, transpose rhs)`` when ``dot_general`` is one matmul of
    operands of rank 1 or 2 (what ``_dot_general_impl`` does for it, with
    ``out=``), else None."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = eqn.inputs
    ln, rn = len(lhs.aval.shape), len(rhs.aval.shape)
    if (lb or rb or len(lc) != 1 or len(rc) != 1 or not 1 <= ln <= 2 or not 1 <= rn <= 2
            or isinstance(lhs, Literal) or isinstance(rhs, Literal)
            or np.dtype(lhs.aval.dtype) != np.dtype(rhs.aval.dtype)
            or np.dtype(eqn.outputs[0].aval.dtype) != np.dtype(lhs.aval.dtype)):
        return None
    return lc[0] != ln - 1, rc[0] != 0


class _Arena:
    """Buffer assignment: byte blocks shared by values with disjoint lifetimes."""

    def __init__(self):
        self.blocks = []       # sizes in bytes
        self.free = []         # indices of free blocks
        self.views = []        # (block, dtype, shape) per arena entry
        self.entry = {}        # id(var) -> arena entry index
        self.block_of = {}     # id(var) -> block index

    def assign(self, v):
        nbytes = max(1, _nbytes(v))
        fits = [b for b in self.free if nbytes <= self.blocks[b] <= 2 * nbytes]
        if fits:
            b = min(fits, key=lambda b: self.blocks[b])
            self.free.remove(b)
        else:
            b = len(self.blocks)
            self.blocks.append(nbytes)
        self.block_of[id(v)] = b

    def release(self, v):
        self.free.append(self.block_of[id(v)])

    def view(self, v):
        """The arena entry holding ``v``, as plan text."""
        if id(v) not in self.entry:
            self.entry[id(v)] = len(self.views)
            self.views.append((self.block_of[id(v)], np.dtype(v.aval.dtype),
                               tuple(v.aval.shape)))
        return f"A[{self.entry[id(v)]}]"

    def factory(self, n_recycled):
        blocks, views = list(self.blocks), list(self.views)

        def new():
            mem = [np.empty(n, np.uint8) for n in blocks]
            arena = []
            for b, dtype, shape in views:
                n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                arena.append(mem[b][:n].view(dtype).reshape(shape))
            arena.append([None] * n_recycled)   # the previous call's large outputs
            return arena
        return new

    @property
    def nbytes(self):
        return sum(self.blocks)


class Executable:
    """The compiled form of one optimised Jaxpr at fixed input avals."""

    def __init__(self, closed, steps, name="jitted"):
        self.closed, self.steps, self.name = closed, steps, name
        self.kernels = [s for s in steps if isinstance(s, Kernel)]
        self.in_dtypes = [np.dtype(v.aval.dtype) for v in closed.jaxpr.invars]
        self.fallbacks = []
        self.split = []      # kernels big enough to be split over threads
        # kernels this plan (or a control-flow body in it) runs with NumPy
        # until the compile process delivers them (the tiered path)
        self.pending: list[str] = []
        self.uncompiled = 0   # kernels on NumPy for now (or for good: the compiler died)
        tiered = cache.asynchronous()
        _building().append(self.pending)
        try:
            self._build(closed, steps, tiered)
        finally:
            _building().pop()

    def _request(self, k):
        """``(kernel, exact form)`` from the compile process, or ``(None, None)``
        while either is being compiled (or there is no compile process)."""
        sources = [k.source] + ([generate(k.spec, exact=True)] if checked(k.spec) else [])
        fns = _ask(sources)
        if fns is None:
            return None, None
        exact = None
        if len(fns) > 1:
            exact = _ExactKernel(k)
            exact.fn = fns[1]
        return fns[0], exact

    def _build(self, closed, steps, tiered):
        jaxpr = closed.jaxpr
        g = {"_empty": np.empty, "_c": _c, "_copy": np.array, "_asarray": _asarray,
             "_out": _out, "_matmul": np.matmul, "_tr": operator.attrgetter("T")}
        counter = [0]

        def glob(prefix, value):
            n = f"{prefix}{counter[0]}"
            counter[0] += 1
            g[n] = value
            return n

        # -- what runs: compiled kernels, and equations run by NumPy
        ops = []   # ("kernel", k, disp, exact) | ("call", eqn)
        defined: set[int] = set()

        def call(e):
            # The partitioner repeats a broadcast or a squeeze in each kernel
            # (and the call) that reads it; run by NumPy, it is computed once.
            if e.outputs and all(id(v) in defined for v in e.outputs):
                return
            defined.update(id(v) for v in e.outputs)
            ops.append(("call", e))

        def run_by_numpy(k):
            for e in k.order:
                call(e)

        for step in steps:
            if isinstance(step, Call):
                call(step.eqn)
                continue
            k = step
            try:
                if not native.supported():
                    raise CodegenError("this Python keeps ndarray data elsewhere")
                k.source = generate(k.spec)
                if tiered:
                    disp, exact = self._request(k)
                else:
                    disp = cache.compile_kernel(k.source)
                    exact = _ExactKernel(k) if checked(k.spec) else None
            except Exception as err:  # CodegenError, Numba's errors
                if not isinstance(err, CodegenError):
                    _fallback_warning(k, err)
                self.fallbacks.append(k)
                run_by_numpy(k)
                continue
            if disp is None:   # being compiled, or no compile process: NumPy for now
                self.uncompiled += 1
                self.fallbacks.append(k)
                run_by_numpy(k)
                continue
            defined.update(id(v) for v in k.outputs + k.reductions)
            # a large kernel runs in chunks over the process's cores (threads.py)
            disp = threads.split(disp, k)
            if exact is not None:
                exact = threads.split(exact, k)
            if isinstance(disp, threads.Split):
                self.split.append(k)
            ops.append(("kernel", k, disp, exact))

        def reads(op):
            if op[0] == "call":
                return [a for a in op[1].inputs if isinstance(a, Var)]
            return [b for b, _ in op[1].inputs if isinstance(b, Var)]

        def defines(op):
            return op[1].outputs if op[0] == "call" else op[1].outputs + op[1].reductions

        # -- liveness: the last op reading each value (returned values live on)
        returned = {id(v) for v in jaxpr.outvars if isinstance(v, Var)}
        last = {}
        readers: dict[int, list] = {}
        for i, op in enumerate(ops):
            for a in reads(op):
                last[id(a)] = i
                readers.setdefault(id(a), []).append(op)

        def into_memory(op):
            """Whether ``op`` writes its result into memory the plan provides."""
            return op[0] == "kernel" or (op[1].prim.name == "dot_general"
                                         and _matmul_form(op[1]) is not None)

        def safe_reader(op):
            return op[0] == "kernel" or op[1].prim.name in _FRESH

        arena = _Arena()
        pooled: set[int] = set()
        recycled: dict[int, int] = {}      # id(var) -> index in the previous-outputs list
        frees: dict[int, list] = {}        # op index -> values dead after it
        for i, op in enumerate(ops):
            for v in defines(op):
                if id(v) in last:
                    frees.setdefault(last[id(v)], []).append(v)
            if not into_memory(op):
                continue
            for v in defines(op):
                nbytes = _nbytes(v)
                if id(v) in returned:
                    if nbytes >= _RECYCLE_BYTES and id(v) not in recycled:
                        recycled[id(v)] = len(recycled)
                elif all(safe_reader(r) for r in readers.get(id(v), ())):
                    arena.assign(v)
                    pooled.add(id(v))
            for v in defines(op):
                if id(v) in pooled and id(v) not in last:   # never read
                    arena.release(v)
            for v in frees.get(i, ()):
                if id(v) in pooled:
                    arena.release(v)

        # -- the plan's text
        names: dict[int, str] = {}
        contiguous: set[int] = set()   # values known to be C-contiguous
        view_of: dict[int, str] = {}   # values that may alias inputs or constants

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
        if arena.blocks or recycled:
            lines += ["A = _take()", "P = A[-1]"]

        def alloc(v):
            """The name of a C-contiguous array for ``v`` to be written to."""
            n = name(v)
            contiguous.add(id(v))
            full = tuple(v.aval.shape)
            if id(v) in pooled:
                lines.append(f"{n} = {arena.view(v)}")
                return n
            dn = glob("D", np.dtype(v.aval.dtype))
            if id(v) in recycled:
                lines.append(f"{n} = _out(P, {recycled[id(v)]}, {full!r}, {dn})")
            else:
                lines.append(f"{n} = _empty({full!r}, {dn})")
            return n

        checked_inputs: list[str] = []   # arguments a kernel reads: checked on entry

        def operand(v):
            """``v`` as a C-contiguous ndarray of its dtype: what a kernel reads
            (it views the data pointer with its own shape)."""
            dtype = np.dtype(v.aval.dtype)
            if isinstance(v, Literal):
                return glob("c", np.array(v.val, dtype=dtype))
            n = name(v)
            if id(v) in pooled or id(v) in contiguous:
                return n
            if view_of.get(id(v)) == "const":
                return glob("c", _c(np.asarray(g[n]), dtype))
            if view_of.get(id(v)) == "input":
                if n not in checked_inputs:
                    checked_inputs.append(n)
                return n
            return f"_c({n}, {glob('D', dtype)}, {tuple(int(d) for d in v.aval.shape)!r})"

        def emit_call(eqn):
            if eqn.prim.lower_call is not None:   # control flow: its Jaxprs compiled too
                f = eqn.prim.lower_call(_compiler, **eqn.params)
                return emit_library_call(eqn, f)
            form = _matmul_form(eqn) if eqn.prim.name == "dot_general" else None
            if form is not None:
                (out,) = eqn.outputs
                a, b = (f"_tr({name(x)})" if t else name(x) for x, t in zip(eqn.inputs, form))
                o = alloc(out)
                lines.append(f"_matmul({a}, {b}, out={o})")
                return
            f = functools.partial(eqn.prim.impl, **eqn.params) if eqn.params else eqn.prim.impl
            emit_library_call(eqn, f)

        def emit_library_call(eqn, f):
            fn = glob("F", _quiet(f))
            args = ", ".join(name(a) for a in eqn.inputs)
            if eqn.prim.multiple_results and not eqn.outputs:   # an effect
                lines.append(f"{fn}({args})")
            elif eqn.prim.multiple_results:
                outs = ", ".join(name(v) for v in eqn.outputs)
                lines.append(f"{outs}{',' if len(eqn.outputs) == 1 else ''} = {fn}({args})")
                for v in eqn.outputs:
                    lines.append(f"{name(v)} = _asarray({name(v)})")
            else:
                lines.append(f"{name(eqn.outputs[0])} = _asarray({fn}({args}))")
            if eqn.prim.name in _VIEWS:
                for v in eqn.outputs:
                    view_of[id(v)] = eqn.prim.name

        for i, op in enumerate(ops):
            if op[0] == "call":
                emit_call(op[1])
            else:
                _, k, disp, exact = op
                kn = glob("K", disp)
                lines.append(f"# {k!r}")
                args = [str(int(n)) for n in k.extents]
                args += [alloc(v) for v in k.outputs]
                args += [alloc(v) for v in k.reductions]
                for kept, acc in scratch(k.spec):
                    shape = tuple(int(n) if d in kept else 1 for d, n in enumerate(k.extents))
                    args.append(f"_empty({shape!r}, {glob('D', np.dtype(acc))})")
                args += [operand(b) for b, _ in k.inputs]
                if exact is None:
                    lines.append(f"{kn}({', '.join(args)})")
                else:
                    lines.append(f"if {kn}({', '.join(args)}):")
                    lines.append(f"    {glob('X', exact)}({', '.join(args)})")
            dead = [name(v) for v in frees.get(i, ()) if id(v) not in returned
                    and id(v) not in pooled and id(v) in names]
            if dead:
                lines.append(f"del {', '.join(dead)}")

        outs = []
        for v in jaxpr.outvars:
            if isinstance(v, Literal):
                outs.append(f"_copy({name(v)})")
            elif id(v) in view_of:
                outs.append(f"_copy({name(v)})")
            else:
                outs.append(name(v))
        # what a loop built around this plan needs (scan_loop): its statements
        # between taking and giving back the buffers, and its results
        self._pieces = (params, lines[2:] if arena.blocks or recycled else list(lines),
                        outs, bool(arena.blocks or recycled), g, list(checked_inputs))
        if arena.blocks or recycled:
            lines.append("_give(A)")
            pool: list = []
            new = arena.factory(len(recycled))   # after the views were registered

            def take():
                try:
                    return pool.pop()
                except IndexError:
                    return new()

            g.update(_take=take, _give=pool.append)
        lines.append(f"return [{', '.join(outs)}]")
        self.arena_bytes = arena.nbytes
        # Kernels read arguments through their data pointers, so an argument a
        # kernel reads must be C-contiguous: almost always so, checked once on
        # entry; otherwise the plan runs in the form that copies it (_safe).
        body = "\n".join("    " + line for line in lines) + "\n"
        head = f"def run({', '.join(params)}):\n"
        if checked_inputs:
            safe = head + "".join(f"    {n} = _c({n})\n" for n in checked_inputs) + body
            g["_safe"] = self._compile(safe, g)
            flags = " and ".join(f"{n}.flags.c_contiguous" for n in checked_inputs)
            body = (f"    if not ({flags}):\n        return _safe({', '.join(params)})\n"
                    + body)
        self.source = head + body
        self.run = self._compile(self.source, g)
        self.tier = "NumPy" if self.uncompiled else "compiled"

    # -- tiers ----------------------------------------------------------------
    def tiered(self, where):
        """Make ``run`` swap in compiled kernels as they arrive (a top-level
        plan: control-flow bodies are rebuilt with the plan that holds them),
        and log the tier of each call when compiles are logged."""
        self._where = where
        self._seen = cache.generation
        self._upgrading = threading.Lock()
        self._plan_run = self.run
        if self.pending or _log.isEnabledFor(logging.INFO):
            self.run = self._run_tiered
        return self

    def _run_tiered(self, *args):
        if self.pending and (cache.generation != self._seen or config.jit_compile == "sync"):
            self.upgrade()
        if _log.isEnabledFor(logging.INFO):
            _log.info("%s: call on the %s tier%s", self._where, self.tier,
                      f" ({len(set(self.pending))} kernel(s) compiling)" if self.pending else "")
        return self._plan_run(*args)

    def upgrade(self, wait=False):
        """Rebuild the plan with the kernels that have arrived since it was
        built (``wait``: after the compile process has answered for all)."""
        if wait:
            cache.wait(self.pending)
        cache.compiler_warning(stacklevel=5)
        if not self._upgrading.acquire(blocking=wait):
            return   # another thread is at it: this call runs the current plan
        try:
            self._seen = cache.generation
            if not self.pending or (cache.asynchronous()
                                    and not any(cache.settled(s) for s in self.pending)):
                return
            new = Executable(self.closed, self.steps, self.name)
            for name in ("fallbacks", "split", "pending", "uncompiled", "source", "arena_bytes",
                         "_pieces", "tier"):
                setattr(self, name, getattr(new, name))
            self._plan_run = new.run
            _log.info("%s: now on the %s tier%s", self._where, self.tier,
                      f" ({len(set(self.pending))} kernel(s) still compiling)"
                      if self.pending else "")
            if not self.pending and not _log.isEnabledFor(logging.INFO):
                self.run = new.run   # nothing left to check per call
        finally:
            self._upgrading.release()

    def _compile(self, source, g):
        ns = dict(g)
        exec(compile(source, f"<chainrule-plan {self.name}>", "exec"), ns)
        return ns["run"]

    def __call__(self, *args):
        """Run on ``args`` of the avals it was compiled for, made ndarrays of
        their dtypes here (``jit``'s hot path calls ``run`` with such arrays)."""
        return self.run(*[a if type(a) is np.ndarray and a.dtype == d else np.asarray(a, d)
                          for a, d in zip(args, self.in_dtypes)])

    def describe(self) -> str:
        out = [f"optimised jaxpr:\n{self.closed}", ""]
        nk = sum(isinstance(s, Kernel) and s not in self.fallbacks for s in self.steps)
        out.append(f"{len(self.steps)} steps: {nk} fused kernel(s), "
                   f"{len(self.steps) - nk} library call(s) or fallbacks; "
                   f"arena {self.arena_bytes} bytes")
        for i, s in enumerate(self.steps):
            if isinstance(s, Kernel):
                tag = (" (NumPy fallback)" if s in self.fallbacks
                       else " (split over threads)" if s in self.split else "")
                out.append(f"[{i}] {s!r}{tag}: loop extents {s.extents}, "
                           f"{len(s.inputs)} input(s), {len(s.outputs)} output(s), "
                           f"{len(s.reductions)} reduction(s)")
                if s.source:
                    out.append("\n".join("      " + line for line in s.source.splitlines()))
            else:
                out.append(f"[{i}] library call: {s.eqn.prim.name}")
        out += ["", "plan:", self.source]
        return "\n".join(out)


def _quiet(f):
    """``f`` run with NumPy's floating-point warnings off: under ``jit`` as in
    eager mode, inf and NaN are values, not RuntimeWarnings in the user's
    program (the compiled kernels never warn either)."""
    def run(*args):
        with np.errstate(all="ignore"):
            return f(*args)
    run.__name__ = getattr(f, "__name__", "call")
    run.__wrapped__ = f
    return run
