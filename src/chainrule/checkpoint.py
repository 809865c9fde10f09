"""checkpoint (remat): trade compute for memory in reverse mode.

Normally reverse mode keeps every intermediate value of the forward pass
alive until the backward pass reads it. A checkpointed function is one
``checkpoint`` primitive: its forward pass runs without a tape, keeping only
its inputs (and, by policy, some outputs such as matmul results), and its
VJP reruns the forward pass on a tape just before it is needed.
"""

from __future__ import annotations

import functools

from .control_flow import _dense, _vjp_flat, out_avals, run, trace_fun
from .core import Primitive, get_aval
from .tree_util import tree_flatten, tree_unflatten


class checkpoint_policies:
    """Which intermediate results a checkpointed function may keep."""

    @staticmethod
    def nothing_saveable(prim) -> bool:
        return False

    @staticmethod
    def dots_saveable(prim) -> bool:
        """Keep matmul outputs (the expensive part); recompute the cheap
        elementwise work around them."""
        return prim.name == "dot_general"

    @staticmethod
    def everything_saveable(prim) -> bool:
        return True


# A primitive whose output was saved in the forward pass: its value is the
# saved array, its derivative rules are those of the primitive it stands for.
saved_p = Primitive("saved")
saved_p.impl = lambda *args, prim, params: args[-1]
saved_p.abstract_eval = lambda *avals, prim, params: avals[-1]
saved_p.jvp = lambda primals, tangents, out, *, prim, params: prim.jvp(
    primals[:-1], tangents[:-1], out, **dict(params))
saved_p.vjp = lambda ct, out, *args, wants, prim, params: tuple(prim.vjp(
    ct, out, *args[:-1], wants=wants[:-1], **dict(params))) + (None,)
# Under vmap the value is the saved array, already batched like the inputs
# it was computed from (the derivative rules above are for whichever
# transform records the primitive before vmap sees it).
saved_p.batch = lambda axis_size, args, dims, *, prim, params: (args[-1], dims[-1])


# An identity that optimisations may not see through: jit's common
# subexpression elimination would otherwise find the recomputation in the
# backward pass equal to the forward pass's equations and keep the forward
# values alive instead, undoing the checkpoint (JAX's optimization_barrier).
optimization_barrier_p = Primitive("optimization_barrier", multiple_results=True)
optimization_barrier_p.impl = lambda *xs: list(xs)
optimization_barrier_p.abstract_eval = lambda *avals: list(avals)
optimization_barrier_p.jvp = lambda primals, tangents, out: list(tangents)
optimization_barrier_p.vjp = lambda cts, out, *xs, wants: tuple(cts)
optimization_barrier_p.batch = lambda axis_size, args, dims: (list(args), list(dims))
optimization_barrier_p.samples = lambda rng: [((rng.normal(size=(2, 3)), rng.normal(size=3)),
                                               {})]


def optimization_barrier(operand):
    """``operand`` (a pytree) unchanged, as values jit may not merge with
    equal computations elsewhere."""
    leaves, tree = tree_flatten(operand)
    return tree_unflatten(tree, optimization_barrier_p.bind(*leaves))


def _eval(jaxpr, args, policy, saved=None):
    """Evaluate ``jaxpr``; with ``saved``, reuse those equations' outputs.

    Returns the outputs and the outputs of the equations ``policy`` saves.
    """
    env = {}
    keep = {}

    def read(v):
        return v.val if hasattr(v, "val") else env[id(v)]

    for v, x in zip(jaxpr.invars, args):
        env[id(v)] = x
    for i, eqn in enumerate(jaxpr.eqns):
        ins = [read(v) for v in eqn.inputs]
        if saved is not None and i in saved:
            out = saved_p.bind(*ins, saved[i], prim=eqn.prim,
                               params=tuple(sorted(eqn.params.items())))
        else:
            out = eqn.prim.bind(*ins, **eqn.params)
        if saved is None and not eqn.prim.multiple_results and policy(eqn.prim):
            keep[i] = out
        outs = out if eqn.prim.multiple_results else [out]
        for v, o in zip(eqn.outputs, outs):
            env[id(v)] = o
    return [read(v) for v in jaxpr.outvars], keep


remat_p = Primitive("checkpoint", multiple_results=True)
remat_p.impl = lambda *args, jaxpr, policy: run(jaxpr, *args)
remat_p.abstract_eval = lambda *avals, jaxpr, policy: out_avals(jaxpr)


def _remat_vjp_fwd(*args, jaxpr, policy):
    # no tape here: intermediates die as soon as they are used
    return _eval(jaxpr, args, policy)


def _remat_vjp(cts, outs, *args, wants, residuals, jaxpr, policy):
    def recompute(*a):
        # one barrier per input: an input that needs no cotangent stays inactive
        a = [optimization_barrier_p.bind(x)[0] for x in a]
        return _eval(jaxpr, a, policy, residuals)[0]
    return _vjp_flat(recompute, list(args), _dense(cts, outs), wants)


def _remat_jvp_full(primals, tangents, *, jaxpr, policy):
    from .control_flow import _float_tangents, _jvp_flat
    n = len(primals)
    ts = _float_tangents(primals, tangents)

    def both(*a):
        outs, t_outs = _jvp_flat(lambda *p: run(jaxpr, *p), a[:n], a[n:])
        return outs + t_outs

    j, consts = trace_fun(both, [get_aval(x) for x in list(primals) + ts], "checkpoint jvp")
    res = remat_p.bind(*consts, *primals, *ts, jaxpr=j, policy=policy)
    k = len(res) // 2
    return res[:k], res[k:]


def _remat_batch(axis_size, args, dims, *, jaxpr, policy):
    from .api import vmap
    batched = vmap(lambda *a: run(jaxpr, *a), in_axes=tuple(dims))
    j, consts = trace_fun(batched, [get_aval(a) for a in args], "checkpoint (vmap)")
    outs = remat_p.bind(*consts, *args, jaxpr=j, policy=policy)
    return outs, [0] * len(outs)


remat_p.vjp_fwd = _remat_vjp_fwd
remat_p.vjp = _remat_vjp
remat_p.jvp_full = _remat_jvp_full
remat_p.jvp = lambda primals, tangents, out, **p: _remat_jvp_full(primals, tangents, **p)[1]
remat_p.batch = _remat_batch


def checkpoint(fun, *, policy=None, static_argnums=()):
    """``fun`` with its reverse-mode residuals recomputed instead of stored.

    ``policy(primitive) -> bool`` says which results may be kept (see
    ``checkpoint_policies``); by default nothing is, so the backward pass
    reruns the whole forward pass of ``fun``. Works under every transform.
    """
    policy = policy or checkpoint_policies.nothing_saveable
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def wrapped(*args):
        from .numpy import asarray
        dyn_idx = [i for i in range(len(args)) if i not in static]
        leaves, in_tree = tree_flatten(tuple(args[i] for i in dyn_idx))
        leaves = [asarray(x) for x in leaves]
        out_tree = []

        def flat(*xs):
            full = list(args)
            for i, x in zip(dyn_idx, tree_unflatten(in_tree, list(xs))):
                full[i] = x
            out, tree = tree_flatten(fun(*full))
            out_tree[:] = [tree]
            return [asarray(o) for o in out]

        jaxpr, consts = trace_fun(flat, [get_aval(x) for x in leaves], "checkpoint")
        outs = remat_p.bind(*consts, *leaves, jaxpr=jaxpr, policy=policy)
        return tree_unflatten(out_tree[0], outs)

    return wrapped


remat = checkpoint


# --------------------------------------------------------------- samples ---
# For the registry tests. ``saved`` stands for a dot_general whose output was
# kept: its value is given, not computed from its operands, so finite
# differences cannot check it (the registry tests say so); its rules are
# dot_general's, checked there.


def _remat_samples(rng):
    from . import numpy as cnp
    w, x = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(2, 3))
    jaxpr, _ = trace_fun(lambda w, x: [cnp.tanh(x @ w)], [get_aval(w), get_aval(x)],
                         "checkpoint sample")
    return [((w, x), {"jaxpr": jaxpr, "policy": p})
            for p in (checkpoint_policies.nothing_saveable, checkpoint_policies.dots_saveable)]


def _saved_samples(rng):
    from .primitives.dot import dot_general_p
    x, w = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    dims = (((1,), (0,)), ((), ()))
    return [((x, w, x @ w), {"prim": dot_general_p, "params": (("dimension_numbers", dims),)})]


remat_p.samples = _remat_samples
saved_p.samples = _saved_samples
