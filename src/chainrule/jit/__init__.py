"""``jit``: trace once per argument signature, optimise, compile with Numba.

``jit(f)(*args)`` looks up the flattened arguments' structure, shapes,
dtypes and static values in a dict; on a miss it traces ``f`` to a Jaxpr,
optimises it (``optimize``), cuts it into fused kernels and library calls
(``partition``), writes and compiles each kernel (``codegen``; Numba
compiles it as a CPython function, ``rt``; ``cache`` keeps its machine code,
which ``native`` loads in later processes without Numba) and assembles them
into one straight-line function (``plan``), in which control-flow bodies
are compiled executables too.

Called under another transform (``grad(jit(f))``, ``jvp(jit(f))``,
``make_jaxpr(jit(f))``, or with traced arguments), ``jit`` binds the call
primitive ``jit_p`` instead, whose rules are themselves jitted: the JVP is
``jit`` of the JVP of the inner Jaxpr, and the VJP recomputes the forward
pass inside a jitted backward function (as checkpointing does).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import traceback

import numpy as np

from ..config import config
from ..core import (
    ClosedJaxpr,
    ConcretizationError,
    Primitive,
    StagingTracer,
    Tracer,
    _eval,
    current_interpreter,
    eval_jaxpr,
    is_float,
    trace_to_jaxpr,
)
from ..tree_util import tree_flatten, tree_unflatten
from . import cache
from .optimize import optimize
from .partition import partition
from .plan import Executable

log = logging.getLogger("chainrule.jit")
if os.environ.get("CHAINRULE_LOG_COMPILES", "") not in ("", "0"):
    logging.basicConfig()
    log.setLevel(logging.INFO)

stats = cache.stats
stats.update(traces=0, plans=0)

# Held while tracing and building executables, so that threads calling a jitted
# function for the first time trace and compile it once (kernels have their own
# lock in cache.py). Reentrant: tracing one jitted function may call another.
_trace_lock = threading.RLock()


def reset_stats():
    for k in stats:
        stats[k] = 0


# ------------------------------------------------------------ jit_p ---


class _Name(str):
    """A function name that prints without quotes in the IR."""

    def __repr__(self):
        return str(self)


class JitJaxpr(ClosedJaxpr):
    """The inner Jaxpr of a ``jit_p`` equation: hashed and compared by identity,
    and the place where its compiled forms are kept."""

    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def executable(self):
        ex = self.__dict__.get("_executable")
        if ex is None:
            with _trace_lock:
                ex = self.__dict__.get("_executable")
                if ex is None:
                    name = getattr(self, "_name", "jit")
                    ex = self.__dict__["_executable"] = compile_jaxpr(
                        self, name).tiered(f"jit({name})")
        return ex


jit_p = Primitive("jit", multiple_results=True)


def _jit_impl(*args, jaxpr, name):
    return jaxpr.executable()(*args)


def _jit_aval(*avals, jaxpr, name):
    return list(jaxpr.out_avals)


def _flat_fun(closed):
    return lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs)


def _jit_jvp(primals, tangents, out, *, jaxpr, name):
    fwd = jaxpr.__dict__.get("_jvp_jit")
    if fwd is None:
        from ..api import jvp
        outs_float = [is_float(a.dtype) for a in jaxpr.out_avals]
        floats = [is_float(a.dtype) for a in jaxpr.in_avals]

        def jvp_fun(primals, tangents):
            ts, it = [], iter(tangents)
            for p, f in zip(primals, floats):
                ts.append(next(it) if f else p)
            _, t_out = jvp(_flat_fun(jaxpr), tuple(primals), tuple(ts))
            return [t for t, f in zip(t_out, outs_float) if f]

        jvp_fun.__name__ = f"jvp_{name}"
        # setdefault: threads racing here share one jit (and so one trace)
        fwd = jaxpr.__dict__.setdefault("_jvp_jit", jit(jvp_fun))
    ts = [t if t is not None else np.zeros(np.shape(p), np.dtype(p.dtype))
          for p, t in zip(primals, tangents) if is_float(np.dtype(p.dtype))]
    t_out = iter(fwd(list(primals), ts))
    return [next(t_out) if is_float(a.dtype) else None for a in jaxpr.out_avals]


def _jit_vjp(ct, out, *primals, wants, jaxpr, name):
    bwd = jaxpr.__dict__.get("_vjp_jit")
    if bwd is None:
        from ..api import vjp

        def vjp_fun(primals, cts):
            _, pullback = vjp(_flat_fun(jaxpr), *primals)
            gs = pullback(list(cts))
            return [g for g, p in zip(gs, primals) if is_float(np.dtype(p.dtype))]

        vjp_fun.__name__ = f"vjp_{name}"
        bwd = jaxpr.__dict__.setdefault("_vjp_jit", jit(vjp_fun))
    cts = [c if c is not None else np.zeros(a.shape, a.dtype)
           for c, a in zip(ct, jaxpr.out_avals)]
    gs = iter(bwd(list(primals), cts))
    res = []
    for p, w in zip(primals, wants):
        g = next(gs) if is_float(np.dtype(p.dtype)) else None
        res.append(g if w else None)
    return tuple(res)


def _jit_batch(axis_size, args, dims, *, jaxpr, name):
    from ..batching import inherited_axis
    cache_ = jaxpr.__dict__.setdefault("_batch_jits", {})
    # the named axis too: collectives in the Jaxpr mean something else per axis
    key = (axis_size, tuple(dims), inherited_axis.get())
    fn = cache_.get(key)
    if fn is None:
        from ..api import vmap

        def batched(*xs):
            return list(vmap(_flat_fun(jaxpr), in_axes=tuple(dims), axis_size=axis_size)(*xs))

        batched.__name__ = f"vmap_{name}"
        fn = cache_.setdefault(key, jit(batched))
    outs = fn(*args)
    return list(outs), [0] * len(outs)


jit_p.impl = _jit_impl
jit_p.batch = _jit_batch
jit_p.abstract_eval = _jit_aval
jit_p.jvp = _jit_jvp
jit_p.vjp = _jit_vjp


def compile_jaxpr(closed: ClosedJaxpr, name="jit") -> Executable:
    """Optimise, partition and compile a closed Jaxpr."""
    opt = optimize(closed, call_prims=(jit_p,))
    steps = partition(opt.jaxpr)
    stats["plans"] += 1
    return Executable(opt, steps, name)


# ------------------------------------------------ concretization errors ---


def _explain(err, fun, interp_eqns, in_vars, leaf_names, where):
    """A ConcretizationError that names the traced argument and the user's line."""
    tracer = None
    tb = err.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb)
        loc = tb.tb_frame.f_locals.get("self")
        if isinstance(loc, StagingTracer):
            tracer = loc
        tb = tb.tb_next
    import chainrule
    pkg = os.path.dirname(chainrule.__file__)
    user = None
    for fr in traceback.extract_tb(err.__traceback__):
        if not os.path.abspath(fr.filename).startswith(pkg):
            user = fr
    names = []
    if tracer is not None:
        deps = {id(tracer.ir_var)}
        for e in reversed(interp_eqns):
            if any(id(v) in deps for v in e.outputs):
                deps.update(id(a) for a in e.inputs)
        names = [n for v, n in zip(in_vars, leaf_names) if id(v) in deps]
    what = (f"argument{'s' if len(names) > 1 else ''} {', '.join(dict.fromkeys(names))}"
            if names else "an argument")
    line = (f" at {os.path.basename(user.filename)}:{user.lineno} (`{user.line}`)"
            if user is not None else "")
    msg = (f"{where}: Python control flow or a conversion{line} needs a concrete value, "
           f"but the value depends on {what}, which jit traces abstractly (only its shape "
           f"and dtype are known). Either mark it static (jit(..., static_argnums=...) or "
           f"static_argnames=...; static values are part of the cache key and must be "
           f"hashable), or express the control flow with chainrule.lax.cond / "
           f"chainrule.lax.while_loop (or chainrule.numpy.where).\n(original error: {err})")
    return ConcretizationError(msg)


# --------------------------------------------------------------- jit ---


def _static_tuple(v):
    return (v,) if isinstance(v, (int, str)) else tuple(v)


class _Entry:
    __slots__ = ("closed", "out_tree", "executable", "single")

    def __init__(self, closed, out_tree):
        self.closed, self.out_tree = closed, out_tree
        self.executable = None
        self.single = out_tree.num_leaves == 1 and tree_unflatten(out_tree, [0]) == 0


class JitFunction:
    """The function returned by ``jit``."""

    def __init__(self, fun, static_argnums=(), static_argnames=()):
        # update_wrapper copies fun.__dict__, so it goes first: our own
        # attributes must not be overwritten by same-named ones of fun's
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_argnums = _static_tuple(static_argnums)
        self.static_argnames = _static_tuple(static_argnames)
        try:
            self._sig = inspect.signature(fun)
        except (TypeError, ValueError):
            self._sig = None
        if self._sig is not None and self.static_argnames and not self.static_argnums:
            params = list(self._sig.parameters)
            self.static_argnums = tuple(params.index(n) for n in self.static_argnames
                                        if n in params and self._sig.parameters[n].kind in (
                                            inspect.Parameter.POSITIONAL_ONLY,
                                            inspect.Parameter.POSITIONAL_OR_KEYWORD))
        from ..api import describe
        self._where = f"jit({describe(fun)})"
        self._name = _Name(getattr(fun, "__name__", "fun"))
        self._fast: dict = {}
        self._entries: dict = {}
        self._last_key = None
        self.traces = 0

    # -- the hot path -------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if (not kwargs and not self.static_argnums and current_interpreter() is _eval
                and not config.debug_nans):
            try:
                if len(args) == 1:   # the common case, without a comprehension's frame
                    a = args[0]
                    key = ((a.shape, a.dtype),) if type(a) is np.ndarray else None
                else:
                    key = tuple([(a.shape, a.dtype) if type(a) is np.ndarray else None
                                 for a in args])
                entry = self._fast.get(key)
            except AttributeError:
                entry = None
            if entry is not None:
                outs = entry.executable.run(*args)
                return outs[0] if entry.single else tree_unflatten(entry.out_tree, outs)
        return self._call(args, kwargs)

    def _split(self, args, kwargs):
        static = tuple((i, args[i]) for i in self.static_argnums if i < len(args))
        static += tuple(sorted((k, v) for k, v in kwargs.items() if k in self.static_argnames))
        dyn_args = tuple(a for i, a in enumerate(args) if i not in self.static_argnums)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return static, dyn_args, dyn_kwargs

    def _call(self, args, kwargs):
        from ..api import _flatten_args
        static, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = _flatten_args((dyn_args, dyn_kwargs), self._where)
        try:
            hash(static)
        except TypeError:
            raise TypeError(f"{self._where}: static arguments must be hashable, got "
                            f"{[type(v).__name__ for _, v in static]}") from None
        avals = tuple((tuple(np.shape(x)), np.dtype(x.dtype)) for x in leaves)
        key = (in_tree, avals, static)
        entry = self._entries.get(key)
        if entry is None:
            with _trace_lock:  # another thread may have traced it meanwhile
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._trace(args, static, in_tree, leaves, key)
        traced = any(isinstance(x, Tracer) for x in leaves)
        if traced or current_interpreter() is not _eval or entry.executable is None:
            consts = getattr(entry.closed, "_tracer_consts", [])
            outs = jit_p.bind(*consts, *leaves, name=self._name, jaxpr=entry.closed)
        else:
            outs = entry.executable.run(*leaves)
            if config.debug_nans:
                self._check_nans(args, kwargs, outs)
        return tree_unflatten(entry.out_tree, list(outs))

    def _check_nans(self, args, kwargs, outs):
        """debug_nans under jit: compiled code has no per-primitive checks, so a
        NaN in a result re-runs the function op by op (as JAX does), whose checks
        name the primitive and the user's line."""
        if not any(isinstance(o, np.ndarray) and o.dtype.kind in "fc" and np.isnan(o).any()
                   for o in outs):
            return
        self.fun(*args, **kwargs)  # raises FloatingPointError at the first NaN
        raise FloatingPointError(f"debug_nans: {self._where} produced NaN in its compiled "
                                 "code, but not when run op by op")

    def _trace(self, args, static, in_tree, leaves, key):
        from ..api import _as_leaf
        reason = self._miss_reason(key)
        self._last_key = key
        static_map = dict(static)
        out_tree_box = []
        where = self._where

        def flat_fun(*tracers):
            dyn_args, dyn_kwargs = tree_unflatten(in_tree, list(tracers))
            it = iter(dyn_args)
            n = len(args)
            full = [static_map[i] if i in static_map else next(it) for i in range(n)]
            kw = dict(dyn_kwargs)
            kw.update({k: v for k, v in static_map.items() if isinstance(k, str)})
            out = self.fun(*full, **kw)
            out_leaves, out_tree = tree_flatten(out)
            out_tree_box.append(out_tree)
            return [_as_leaf(o, f"{where}: the function's output") for o in out_leaves]

        from ..core import StagingInterpreter, new_interpreter
        in_avals = [_aval(x) for x in leaves]
        with new_interpreter(StagingInterpreter, where) as interp:
            in_tracers = [interp.new_arg(a) for a in in_avals]
            try:
                outs = flat_fun(*in_tracers)
            except ConcretizationError as err:
                raise _explain(err, self.fun, interp.eqns, [t.ir_var for t in in_tracers],
                               self._leaf_names(args, static_map, in_tree),
                               where) from None
            closed = interp.build(in_tracers, outs)
        self.traces += 1
        stats["traces"] += 1
        log.info("%s: tracing (%s)", where, reason)
        tracer_consts = [c for c in closed.consts if isinstance(c, Tracer)]
        if tracer_consts:
            # closed-over values of an enclosing transform become explicit
            # operands, so that transform sees them
            j = closed.jaxpr
            lifted = [v for v, c in zip(j.constvars, closed.consts) if isinstance(c, Tracer)]
            kept = [(v, c) for v, c in zip(j.constvars, closed.consts) if not isinstance(c, Tracer)]
            from ..core import Jaxpr
            inner = JitJaxpr(Jaxpr([v for v, _ in kept], lifted + list(j.invars), j.eqns,
                                   j.outvars), [c for _, c in kept])
            inner._tracer_consts = tracer_consts
            inner._name = self._name
            return _Entry(inner, out_tree_box[-1])   # not cached: its constants change
        inner = JitJaxpr(closed.jaxpr, closed.consts)
        inner._name = self._name
        entry = _Entry(inner, out_tree_box[-1])
        if current_interpreter() is _eval and not any(isinstance(x, Tracer) for x in leaves):
            entry.executable = inner.executable()
        else:
            entry.executable = None
        self._entries[key] = entry
        if not static and all(
                type(x) is np.ndarray for x in leaves) and entry.executable is not None \
                and in_tree == tree_flatten((tuple(leaves), {}))[1]:
            self._fast[tuple((tuple(x.shape), x.dtype) for x in leaves)] = entry
        return entry

    def _miss_reason(self, key):
        if self._last_key is None:
            return "first call"
        tree, avals, static = key
        ltree, lavals, lstatic = self._last_key
        if tree != ltree:
            return "new argument structure"
        if static != lstatic:
            return f"new static values {static}"
        if [a[0] for a in avals] != [a[0] for a in lavals]:
            return f"new shapes {[a[0] for a in avals]}"
        return f"new dtypes {[a[1].name for a in avals]}"

    def _leaf_names(self, args, static_map, in_tree):
        params = list(self._sig.parameters) if self._sig is not None else []
        names = []
        dyn_idx = [i for i in range(len(args)) if i not in static_map]
        for i in dyn_idx:
            pname = params[i] if i < len(params) and self._sig.parameters[params[i]].kind != \
                inspect.Parameter.VAR_POSITIONAL else f"#{i}"
            n = tree_flatten(args[i])[1].num_leaves
            names += [f"'{pname}' (positional argument {i})"] * n
        names += ["a keyword argument"] * (in_tree.num_leaves - len(names))
        return names

    # -- introspection --------------------------------------------------------
    def lower(self, *args, **kwargs):
        """The compiled form for these arguments: ``str()`` shows the optimised
        Jaxpr, the kernels it was cut into and each kernel's source."""
        from ..api import _flatten_args
        static, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, in_tree = _flatten_args((dyn_args, dyn_kwargs), self._where)
        key = (in_tree, tuple((tuple(np.shape(x)), np.dtype(x.dtype)) for x in leaves), static)
        with _trace_lock:
            entry = self._entries.get(key) or self._trace(args, static, in_tree, leaves, key)
        return Lowered(entry.closed, entry.closed.executable(), self)


def _aval(x):
    from ..core import get_aval
    return get_aval(x)


class Lowered:
    """``jit(f).lower(*args)``: the plan for these arguments, as it runs now
    (kernels still being compiled show as NumPy fallbacks)."""

    def __init__(self, closed, executable, fun=None):
        self.jaxpr, self.executable, self._fun = closed, executable, fun

    @property
    def kernels(self):
        return self.executable.kernels

    def compile(self):
        """Wait for the compiled tier: every kernel the plan runs compiled
        (by the compile process, or here in ``"sync"`` mode), or known to stay
        on NumPy. Returns a ``Compiled``, called like the jit function."""
        ex = self.executable
        if getattr(ex, "pending", None):
            ex.upgrade(wait=True)
        return Compiled(self)

    def __str__(self):
        return self.executable.describe()

    __repr__ = __str__


class Compiled:
    """``jit(f).lower(*args).compile()``: the jit function on its compiled tier."""

    def __init__(self, lowered):
        self.lowered = lowered

    @property
    def tier(self):
        return self.lowered.executable.tier

    def __call__(self, *args, **kwargs):
        return self.lowered._fun(*args, **kwargs)

    def __str__(self):
        return str(self.lowered)

    __repr__ = __str__


def jit(fun=None, *, static_argnums=(), static_argnames=()):
    """Compile ``fun`` with Numba: ``jit(f)(*args)`` equals ``f(*args)``.

    ``static_argnums``/``static_argnames`` name arguments whose Python values
    (hashable) are fixed at trace time and part of the cache key; all other
    arguments are traced by shape and dtype, so Python control flow must not
    depend on their values. Usable as a decorator, with or without arguments.

    With ``config.jit_compile == "async"`` (the default) a new signature runs
    at once with NumPy implementations while a compile process compiles its
    kernels, which replace them between calls; ``"sync"`` compiles first.
    ``jit(f).lower(*args)`` shows the plan, ``.compile()`` waits for the
    compiled tier and returns a callable.
    """
    if fun is None:
        return lambda f: JitFunction(f, static_argnums, static_argnames)
    return JitFunction(fun, static_argnums, static_argnames)


__all__ = ["jit", "jit_p", "stats", "reset_stats", "compile_jaxpr", "JitFunction"]
