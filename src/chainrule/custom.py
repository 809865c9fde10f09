"""User-defined derivative rules: ``custom_jvp`` and ``custom_vjp``.

A decorated function becomes one call primitive whose params are the user's
function and rules (as flat functions of arrays). Every transform then knows
what to do with it:

- ``custom_jvp``: forward mode calls the rule; reverse mode transposes it
  (the rule is linear in the tangents, so its VJP is reverse mode over the
  rule with respect to the tangents).
- ``custom_vjp``: reverse mode runs ``fwd`` (which saves residuals, the
  lectures' "save for backward") and calls ``bwd`` on the way back; forward
  mode, which JAX refuses, transposes ``bwd`` the same way.
- ``vmap`` batches the function and its rules; ``make_jaxpr``/``jit`` stage
  one equation that keeps the rules for later transforms.
"""

from __future__ import annotations

import functools

import numpy as np

from .core import Primitive, get_aval, is_float, trace_to_jaxpr
from .tree_util import tree_flatten, tree_unflatten


def _zeros(x):
    aval = get_aval(x)
    return np.zeros(aval.shape, aval.dtype)


def _out_avals(fun, avals):
    return trace_to_jaxpr(lambda *a: list(fun(*a)), avals, "custom rule").out_avals


def _transpose_linear(linear_fun, example_in, cts):
    """``Lᵀ cts`` for a linear ``linear_fun``: reverse mode over it at zero."""
    from .api import vjp
    zeros = [_zeros(x) for x in example_in]
    _, pullback = vjp(lambda *t: list(linear_fun(*t)), *zeros)
    return list(pullback(list(cts)))


def _vmapped(fun):
    from .api import vmap
    # made now, inside the batching rule, so that it keeps the vmap's axis
    # name for collectives in rules that run later (a backward pass)
    batched = vmap(fun)
    return lambda *args: batched(*args)


def _split(args, nondiff_argnums):
    static = tuple(args[i] for i in nondiff_argnums)
    dyn = tuple(a for i, a in enumerate(args) if i not in nondiff_argnums)
    return static, dyn


def _merge(args, nondiff_argnums, dyn):
    """The full argument list: ``dyn`` back in the differentiable positions,
    the nondiff arguments where the caller put them."""
    it = iter(dyn)
    return tuple(a if i in nondiff_argnums else next(it) for i, a in enumerate(args))


# ----------------------------------------------------------- custom_jvp ---

custom_jvp_call_p = Primitive("custom_jvp_call", multiple_results=True)
custom_jvp_call_p.impl = lambda *args, fun, jvp: list(fun(*args))
custom_jvp_call_p.abstract_eval = lambda *avals, fun, jvp: _out_avals(fun, avals)


def _custom_jvp_full(primals, tangents, *, fun, jvp):
    tangents = [_zeros(p) if t is None else t for p, t in zip(primals, tangents)]
    outs, t_outs = jvp(list(primals), tangents)
    return list(outs), list(t_outs)


def _custom_jvp_vjp(cts, outs, *primals, wants, fun, jvp):
    return _transpose_linear(lambda *t: jvp(list(primals), list(t))[1], primals, cts)


def _custom_jvp_batch(axis_size, args, dims, *, fun, jvp):
    from .batching import bdim_to_front
    args = [bdim_to_front(a, d, axis_size) for a, d in zip(args, dims)]
    batched_jvp = _vmapped(lambda p, t: jvp(p, t))
    outs = custom_jvp_call_p.bind(*args, fun=_vmapped(fun), jvp=batched_jvp)
    return outs, [0] * len(outs)


custom_jvp_call_p.jvp_full = _custom_jvp_full
custom_jvp_call_p.jvp = lambda primals, tangents, out, **p: _custom_jvp_full(
    primals, tangents, **p)[1]
custom_jvp_call_p.vjp = _custom_jvp_vjp
custom_jvp_call_p.batch = _custom_jvp_batch


class custom_jvp:
    """A function with a forward-mode rule ``jvp(primals, tangents) ->
    (primal_out, tangent_out)`` given by ``defjvp`` (JAX's API).

    Reverse mode transposes the rule, so it must be linear in the tangents
    and written with ``chainrule.numpy``.
    """

    # The function and its rule live in private attributes, read through
    # properties: ``functools.wraps`` copies an instance's ``__dict__`` into
    # every wrapper (``grad(f)``, ``jit(...)``), and a plain ``fun`` there
    # replaced jit's own, so ``jit(grad(f))`` ran the undecorated ``f``.
    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self._custom = {"fun": fun, "nondiff_argnums": tuple(nondiff_argnums),
                        "jvp_rule": None}

    fun = property(lambda self: self._custom["fun"])
    nondiff_argnums = property(lambda self: self._custom["nondiff_argnums"])
    jvp_rule = property(lambda self: self._custom["jvp_rule"])

    def defjvp(self, jvp):
        self._custom["jvp_rule"] = jvp
        return jvp

    def __call__(self, *args):
        if self.jvp_rule is None:
            raise TypeError(f"custom_jvp {self.fun.__name__}: no rule; call .defjvp(rule)")
        static, dyn = _split(args, self.nondiff_argnums)
        leaves, in_tree = tree_flatten(dyn)
        out_tree = []

        def fun(*xs):
            full = _merge(args, self.nondiff_argnums, tree_unflatten(in_tree, list(xs)))
            flat, tree = tree_flatten(self.fun(*full))
            out_tree[:] = [tree]
            return flat

        def jvp(primals, tangents):
            p = tree_unflatten(in_tree, list(primals))
            t = tree_unflatten(in_tree, list(tangents))
            out, t_out = self.jvp_rule(*static, tuple(p), tuple(t))
            flat, tree = tree_flatten(out)
            out_tree[:] = [tree]
            return flat, tree_flatten(t_out)[0]

        outs = custom_jvp_call_p.bind(*leaves, fun=fun, jvp=jvp)
        return tree_unflatten(out_tree[0], outs)


# ----------------------------------------------------------- custom_vjp ---

custom_vjp_call_p = Primitive("custom_vjp_call", multiple_results=True)
custom_vjp_call_p.impl = lambda *args, fun, fwd, bwd: list(fun(*args))
custom_vjp_call_p.abstract_eval = lambda *avals, fun, fwd, bwd: _out_avals(fun, avals)


def _custom_vjp_fwd(*primals, fun, fwd, bwd):
    outs, residuals = fwd(*primals)
    return list(outs), residuals


def _custom_vjp_vjp(cts, outs, *primals, wants, residuals, fun, fwd, bwd):
    cts = [_zeros(o) if c is None else c for c, o in zip(cts, outs)]
    return list(bwd(residuals, cts))


def _custom_vjp_full(primals, tangents, *, fun, fwd, bwd):
    # forward mode from a reverse rule: bwd is linear in the cotangent, so
    # J t = (bwd)ᵀ t, which reverse mode over bwd computes
    outs, residuals = fwd(*primals)
    tangents = [_zeros(p) if t is None else t for p, t in zip(primals, tangents)]
    def bwd_dense(*ct):
        return [_zeros(p) if c is None else c for c, p in zip(bwd(residuals, list(ct)), primals)]
    t_outs = _transpose_linear(bwd_dense, outs, tangents)
    return list(outs), t_outs


def _custom_vjp_batch(axis_size, args, dims, *, fun, fwd, bwd):
    from .batching import bdim_to_front
    args = [bdim_to_front(a, d, axis_size) for a, d in zip(args, dims)]
    outs = custom_vjp_call_p.bind(*args, fun=_vmapped(fun), fwd=_vmapped(fwd),
                                  bwd=_vmapped(bwd))
    return outs, [0] * len(outs)


custom_vjp_call_p.vjp_fwd = _custom_vjp_fwd
custom_vjp_call_p.vjp = _custom_vjp_vjp
custom_vjp_call_p.jvp_full = _custom_vjp_full
custom_vjp_call_p.jvp = lambda primals, tangents, out, **p: _custom_vjp_full(
    primals, tangents, **p)[1]
custom_vjp_call_p.batch = _custom_vjp_batch


class custom_vjp:
    """A function with a reverse-mode rule given by ``defvjp(fwd, bwd)``
    (JAX's API): ``fwd(*args) -> (out, residuals)`` saves what the backward
    pass needs; ``bwd(residuals, ct) -> tuple`` of one cotangent per argument
    (``None`` for zero). ``nondiff_argnums`` are passed to ``bwd`` first.
    """

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        # private, as in custom_jvp: wrappers copy the instance __dict__
        self._custom = {"fun": fun, "nondiff_argnums": tuple(nondiff_argnums),
                        "fwd": None, "bwd": None}

    fun = property(lambda self: self._custom["fun"])
    nondiff_argnums = property(lambda self: self._custom["nondiff_argnums"])
    fwd = property(lambda self: self._custom["fwd"])
    bwd = property(lambda self: self._custom["bwd"])

    def defvjp(self, fwd, bwd):
        self._custom["fwd"], self._custom["bwd"] = fwd, bwd
        return self

    def __call__(self, *args):
        if self.fwd is None:
            raise TypeError(f"custom_vjp {self.fun.__name__}: no rule; call "
                            ".defvjp(fwd, bwd)")
        static, dyn = _split(args, self.nondiff_argnums)
        leaves, in_tree = tree_flatten(dyn)
        out_tree, res_tree = [], []

        def fun(*xs):
            full = _merge(args, self.nondiff_argnums, tree_unflatten(in_tree, list(xs)))
            flat, tree = tree_flatten(self.fun(*full))
            out_tree[:] = [tree]
            return flat

        def fwd(*xs):
            full = _merge(args, self.nondiff_argnums, tree_unflatten(in_tree, list(xs)))
            out, res = self.fwd(*full)
            flat, tree = tree_flatten(out)
            out_tree[:] = [tree]
            res_flat, rtree = tree_flatten(res)
            res_tree[:] = [rtree]
            return flat, res_flat

        def bwd(res_flat, cts):
            res = tree_unflatten(res_tree[0], list(res_flat))
            ct = tree_unflatten(out_tree[0], list(cts))
            in_cts = self.bwd(*static, res, ct)
            if not isinstance(in_cts, (tuple, list)) or len(in_cts) != len(dyn):
                raise TypeError(f"custom_vjp {self.fun.__name__}: bwd must return a tuple "
                                f"with one cotangent per differentiable argument "
                                f"({len(dyn)}), got {type(in_cts).__name__}")
            flat = []
            for k, (arg, c) in enumerate(zip(dyn, in_cts)):
                arg_leaves, arg_tree = tree_flatten(arg)
                if c is None:
                    flat += [_zeros(a) for a in arg_leaves]
                    continue
                c_leaves, c_tree = tree_flatten(c)
                if c_tree != arg_tree:
                    raise TypeError(f"custom_vjp {self.fun.__name__}: bwd returned a cotangent "
                                    f"with structure {c_tree} for differentiable argument {k}, "
                                    f"which has structure {arg_tree}")
                for a, cl in zip(arg_leaves, c_leaves):
                    if np.shape(cl) != np.shape(a):
                        raise ValueError(f"custom_vjp {self.fun.__name__}: bwd returned a "
                                         f"cotangent of shape {np.shape(cl)} for differentiable "
                                         f"argument {k}, a value of shape {np.shape(a)}")
                flat += c_leaves
            return [c if is_float(get_aval(x).dtype) else None for c, x in zip(flat, leaves)]

        outs = custom_vjp_call_p.bind(*leaves, fun=fun, fwd=fwd, bwd=bwd)
        return tree_unflatten(out_tree[0], outs)


__all__ = ["custom_jvp", "custom_vjp"]


# --------------------------------------------------------------- samples ---
# For the registry tests: the rules of a sin(x)·x written by hand.

def _sample_fun(x):
    from . import numpy as cnp
    return [cnp.sin(x) * x]


def _sample_jvp(primals, tangents):
    from . import numpy as cnp
    (x,), (t,) = primals, tangents
    return _sample_fun(x), [t * (cnp.cos(x) * x + cnp.sin(x))]


def _sample_fwd(x):
    from . import numpy as cnp
    return _sample_fun(x), [cnp.cos(x) * x + cnp.sin(x)]


def _sample_bwd(residuals, cts):
    return [cts[0] * residuals[0]]


custom_jvp_call_p.samples = lambda rng: [
    ((rng.normal(size=(3,)),), {"fun": _sample_fun, "jvp": _sample_jvp})]
custom_vjp_call_p.samples = lambda rng: [
    ((rng.normal(size=(2, 2)),), {"fun": _sample_fun, "fwd": _sample_fwd, "bwd": _sample_bwd})]
