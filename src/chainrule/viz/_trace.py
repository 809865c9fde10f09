"""What ``draw`` and ``flat_code`` share: trace a function to its Jaxpr with
each equation tagged by the user function (group) it ran in, name its
values, evaluate it, and run the backward pass equation by equation.

The backward walk here mirrors ``ReverseInterpreter.backward`` but over a
Jaxpr instead of a tape, so that it can remember, for every equation and
operand, the cotangent that operand received from that equation: the
lectures' gradient on each edge of the graph.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import itertools
import sys
from typing import Any, Callable, NamedTuple

import numpy as np

from ..core import (
    ClosedJaxpr,
    Jaxpr,
    Literal,
    StagingInterpreter,
    Var,
    get_aval,
    is_float,
    new_interpreter,
)
from ..tree_util import tree_flatten, tree_unflatten

# ------------------------------------------------------------ grouping ---

_instances = itertools.count()
# The groups the running code is inside, outermost first: (name, instance).
_group_stack: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "chainrule_viz_groups", default=())


def node(name: str | None = None):
    """Decorator: draw everything ``fun`` computes as one node named ``name``.

    ``draw`` collapses the primitives a marked function runs into a single
    node of the graph, as the lectures draw the sigmoid gate: the edges in
    and out of the node still carry values and gradients, the inside is
    hidden. Outside ``draw`` the decorator does nothing but call ``fun``::

        @chainrule.viz.node("sigmoid")
        def sigmoid(x):
            return 1 / (1 + cnp.exp(-x))
    """

    def wrap(fun: Callable) -> Callable:
        label = name or getattr(fun, "__name__", "group")

        @functools.wraps(fun)
        def marked(*args, **kwargs):
            token = _group_stack.set(_group_stack.get() + ((label, next(_instances)),))
            try:
                return fun(*args, **kwargs)
            finally:
                _group_stack.reset(token)

        marked.__chainrule_group__ = label
        return marked

    if callable(name):  # used as @node without arguments
        fun, name = name, None
        return wrap(fun)
    return wrap


@contextlib.contextmanager
def _grouping(groups: dict | None):
    """Tag the calls of the functions in ``groups`` ({name: function}) by
    watching Python calls (``sys.setprofile``): the user's code needs no
    change, however it refers to the function."""
    if not groups:
        yield
        return
    codes = {}
    for label, funs in groups.items():
        for fun in funs if isinstance(funs, (list, tuple)) else (funs,):
            fun = inspect.unwrap(fun)
            code = getattr(fun, "__code__", None)
            if code is None:
                raise TypeError(f"draw(group=...): {label!r} must map to a Python function, "
                                f"got {type(fun).__name__}")
            codes[code] = label
    open_frames: dict[int, Any] = {}

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            token = _group_stack.set(_group_stack.get()
                                     + ((codes[frame.f_code], next(_instances)),))
            open_frames[id(frame)] = token
        elif event == "return" and id(frame) in open_frames:
            _group_stack.reset(open_frames.pop(id(frame)))

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)


class _TaggingStager(StagingInterpreter):
    """Staging that also remembers which groups each equation ran in."""

    def __init__(self, parent, name="draw"):
        super().__init__(parent, name)
        self.tags: list[tuple] = []

    def process_primitive(self, prim, args, params):
        n = len(self.eqns)
        out = super().process_primitive(prim, args, params)
        self.tags.extend([_group_stack.get()] * (len(self.eqns) - n))
        return out


# -------------------------------------------------------------- tracing ---


class Traced(NamedTuple):
    """A function traced at some arguments, with names for its values."""

    closed: ClosedJaxpr
    tags: list          # per equation: tuple of (group name, instance)
    leaves: list        # the argument leaves (arrays)
    in_names: list      # a Python identifier per leaf
    out_tree: Any
    fun_name: str

    @property
    def jaxpr(self) -> Jaxpr:
        return self.closed.jaxpr


def _identifier(text: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in str(text)).strip("_")
    if not out or out[0].isdigit():
        out = "x" + out
    return out


def leaf_names(fun, args) -> list:
    """Names for the leaves of ``args``: the parameter names of ``fun``, with
    ``_0``, ``_1``... (or dict keys) for the leaves of pytree arguments."""
    try:
        params = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = []
    for i, arg in enumerate(args):
        base = params[i] if i < len(params) else f"arg{i}"
        leaves, _ = tree_flatten(arg)
        if len(leaves) == 1 and np.ndim(leaves[0]) == np.ndim(arg) and not isinstance(
                arg, (list, tuple, dict)):
            names.append(_identifier(base))
        elif isinstance(arg, dict) and len(leaves) == len(arg):
            names.extend(_identifier(f"{base}_{k}") for k in sorted(arg, key=str))
        else:
            names.extend(_identifier(f"{base}_{j}") for j in range(len(leaves)))
    seen: dict[str, int] = {}
    unique = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if seen[n] == 1 else f"{n}_{seen[n] - 1}")
    return unique


def trace(fun, args, groups=None) -> Traced:
    """Trace ``fun(*args)`` to a Jaxpr whose equations carry group tags."""
    from ..api import _flatten_args, describe

    where = f"draw({describe(fun)})"
    leaves, in_tree = _flatten_args(tuple(args), where)
    box = {}

    def flat_fun(*tracers):
        out = fun(*tree_unflatten(in_tree, list(tracers)))
        out_leaves, box["out_tree"] = tree_flatten(out)
        return out_leaves

    with _grouping(groups), new_interpreter(_TaggingStager, where) as interp:
        in_tracers = [interp.new_arg(get_aval(x)) for x in leaves]
        outs = flat_fun(*in_tracers)
        closed = interp.build(in_tracers, outs)
        tags = list(interp.tags)
    return Traced(closed, tags, leaves, leaf_names(fun, args), box["out_tree"],
                  getattr(fun, "__name__", "f"))


# --------------------------------------------------- forward & backward ---


def _read(env, v):
    return v.val if isinstance(v, Literal) else env[id(v)]


def evaluate(traced: Traced):
    """Run the Jaxpr on the traced arguments. Returns ``(env, residuals)``:
    the value of every variable (by ``id``) and, for primitives that save
    residuals for their VJP, what they saved (by equation index)."""
    jaxpr = traced.jaxpr
    env: dict[int, Any] = {}
    for v, x in itertools.chain(zip(jaxpr.constvars, traced.closed.consts),
                                zip(jaxpr.invars, traced.leaves)):
        env[id(v)] = np.asarray(x)
    residuals = {}
    for k, eqn in enumerate(jaxpr.eqns):
        ins = [_read(env, v) for v in eqn.inputs]
        if eqn.prim.vjp_fwd is not None:
            out, residuals[k] = eqn.prim.vjp_fwd(*ins, **eqn.params)
        else:
            out = eqn.prim.bind(*ins, **eqn.params)
        outs = out if eqn.prim.multiple_results else [out]
        for v, o in zip(eqn.outputs, outs):
            env[id(v)] = np.asarray(o)
    return env, residuals


def differentiable_vars(jaxpr: Jaxpr) -> set:
    """Ids of the float variables that depend on a float input: the ones
    reverse mode gives a cotangent (constants and integers get none)."""
    live = {id(v) for v in jaxpr.invars if is_float(v.aval.dtype)}
    for eqn in jaxpr.eqns:
        if any(isinstance(v, Var) and id(v) in live for v in eqn.inputs):
            live.update(id(v) for v in eqn.outputs if is_float(v.aval.dtype))
    return live


def vjp_of_eqn(eqn, ct, out, ins, wants, residuals=None):
    """Call ``eqn``'s VJP rule (the lectures' downstream = local x upstream)."""
    if eqn.prim.vjp is None:
        from ..core import missing_rule
        raise missing_rule(eqn.prim, "vjp (reverse mode)")
    if eqn.prim.vjp_fwd is not None:
        return eqn.prim.vjp(ct, out, *ins, wants=wants, residuals=residuals, **eqn.params)
    return eqn.prim.vjp(ct, out, *ins, wants=wants, **eqn.params)


def backward(jaxpr: Jaxpr, read: Callable, out_cts: list, residuals=None,
             on_contribution: Callable | None = None, on_rule: Callable | None = None):
    """The backward pass over a Jaxpr, right to left.

    ``read(v)`` gives the forward value of a variable (or a tracer of it),
    ``out_cts`` one cotangent per output (``None`` for none). Every operand
    contribution is reported as ``on_contribution(k, i, var, ct)`` (equation
    ``k``, operand ``i``), and a value used twice sums its cotangents;
    ``on_rule(k, ct)`` is called before equation ``k``'s VJP rule runs.
    Returns the total cotangent of every variable, by ``id``.
    """
    residuals = residuals or {}
    diff = differentiable_vars(jaxpr)
    cts: dict[int, Any] = {}
    for v, ct in zip(jaxpr.outvars, out_cts):
        if isinstance(v, Var) and ct is not None and id(v) in diff:
            cts[id(v)] = cts[id(v)] + ct if id(v) in cts else ct
    done: dict[int, Any] = {}
    for k in range(len(jaxpr.eqns) - 1, -1, -1):
        eqn = jaxpr.eqns[k]
        if not any(id(v) in cts for v in eqn.outputs):
            continue
        if eqn.prim.multiple_results:
            ct = [cts.pop(id(v)) if id(v) in cts else np.zeros(v.aval.shape, v.aval.dtype)
                  for v in eqn.outputs]
            out = [read(v) for v in eqn.outputs]
        else:
            ct, out = cts.pop(id(eqn.outputs[0])), read(eqn.outputs[0])
        for v in eqn.outputs:
            done[id(v)] = ct
        wants = tuple(isinstance(v, Var) and id(v) in diff for v in eqn.inputs)
        ins = [read(v) for v in eqn.inputs]
        if on_rule is not None:
            on_rule(k, ct)
        in_cts = vjp_of_eqn(eqn, ct, out, ins, wants, residuals.get(k))
        for i, (v, c) in enumerate(zip(eqn.inputs, in_cts)):
            if c is None or not wants[i]:
                continue
            if on_contribution is not None:
                c = on_contribution(k, i, v, c, cts.get(id(v)))
            else:
                c = cts[id(v)] + c if id(v) in cts else c
            cts[id(v)] = c
    done.update(cts)  # what is left: the inputs' cotangents
    return done
