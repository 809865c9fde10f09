"""checkpoint/remat: the same derivatives as without it, under every
transform and policy, with the forward pass recomputed in the backward pass."""

import numpy as np
import pytest
from helpers import tree_close as _close

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import checkpoint, checkpoint_policies, lax, remat
from chainrule.test_util import check_grads

RNG = np.random.default_rng(0)
POLICIES = {
    "default": None,
    "nothing_saveable": checkpoint_policies.nothing_saveable,
    "dots_saveable": checkpoint_policies.dots_saveable,
    "everything_saveable": checkpoint_policies.everything_saveable,
}


def _params(depth=8, width=6, seed=0):
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(size=(width, width)) / np.sqrt(width),
             "b": rng.normal(size=(width,)) * 0.1} for _ in range(depth)]


def layer(p, x):
    return cnp.tanh(x @ p["w"] + p["b"])


def mlp(params, x, policy="none"):
    """A deep MLP; ``policy`` "none" means no checkpoint at all."""
    for p in params:
        x = layer(p, x) if policy == "none" else checkpoint(layer, policy=POLICIES[policy])(p, x)
    return x


def loss(params, x, policy="none"):
    return cnp.sum(mlp(params, x, policy) ** 2)


def _names(closed):
    return [e.prim.name for e in closed.eqns]


@pytest.mark.parametrize("policy", list(POLICIES))
def test_same_gradient_deep_mlp(policy):
    params, x = _params(), RNG.normal(size=(5, 6))
    _close(mlp(params, x, policy), mlp(params, x))
    g = cr.grad(loss, argnums=(0, 1))(params, x, policy)
    _close(g, cr.grad(loss, argnums=(0, 1))(params, x))
    v, g2 = cr.value_and_grad(loss)(params, x, policy)
    _close(v, loss(params, x))
    _close(g2, g[0])


@pytest.mark.parametrize("policy", list(POLICIES))
def test_under_vmap_jvp_hessian(policy):
    params, xs = _params(depth=4, width=3), RNG.normal(size=(4, 3))
    # per-example gradients
    per = cr.vmap(cr.grad(lambda ps, x: loss(ps, x, policy)), in_axes=(None, 0))(params, xs)
    _close(per, cr.vmap(cr.grad(loss), in_axes=(None, 0))(params, xs))
    _close(cr.vmap(lambda x: mlp(params, x, policy))(xs), mlp(params, xs))
    _close(cr.grad(lambda ps: cnp.sum(cr.vmap(lambda x: loss(ps, x, policy))(xs)))(params),
           cr.grad(lambda ps: cnp.sum(cr.vmap(lambda x: loss(ps, x))(xs)))(params))
    # forward mode, and forward over reverse
    x, t = xs[0], RNG.normal(size=3)
    _close(cr.jvp(lambda x: mlp(params, x, policy), (x,), (t,)),
           cr.jvp(lambda x: mlp(params, x), (x,), (t,)))
    _close(cr.jvp(cr.grad(lambda x: loss(params, x, policy)), (x,), (t,)),
           cr.jvp(cr.grad(lambda x: loss(params, x)), (x,), (t,)))
    _close(cr.hessian(lambda x: loss(params, x, policy))(x),
           cr.hessian(lambda x: loss(params, x))(x), rtol=1e-9)
    _close(cr.vmap(cr.hessian(lambda x: loss(params, x, policy)))(xs),
           cr.vmap(cr.hessian(lambda x: loss(params, x)))(xs), rtol=1e-9)
    _close(cr.jacrev(lambda x: mlp(params, x, policy))(x),
           cr.jacfwd(lambda x: mlp(params, x))(x), rtol=1e-9)


@pytest.mark.parametrize("policy", ["nothing_saveable", "dots_saveable"])
def test_nested_grad_and_check_grads(policy):
    params = _params(depth=3, width=3)
    x = RNG.normal(size=(3,))
    f = lambda x: loss(params, x, policy)  # noqa: E731
    _close(cr.grad(lambda x: cnp.sum(cr.grad(f)(x) ** 2))(x),
           cr.grad(lambda x: cnp.sum(cr.grad(lambda x: loss(params, x))(x) ** 2))(x),
           rtol=1e-9)
    check_grads(lambda x: mlp(params, x, policy), (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("policy", ["nothing_saveable", "dots_saveable"])
def test_under_jit(policy):
    params, x = _params(depth=3, width=4), RNG.normal(size=(2, 4))
    _close(cr.jit(cr.grad(loss), static_argnums=2)(params, x, policy),
           cr.grad(loss)(params, x), rtol=1e-9)


def test_jit_keeps_the_recomputation():
    """jit's optimiser must not merge the backward pass's recomputation with
    the forward pass (an optimization_barrier separates them): the compiled
    gradient of residual blocks with a 4x wider hidden layer recomputes each
    block, and its memory (the plan's buffers and what a call allocates) is
    a fraction of the un-checkpointed plan's, which keeps every hidden layer."""
    import gc
    import tracemalloc
    rng = np.random.default_rng(1)
    d, depth = 16, 10
    ps = [{"w1": rng.normal(size=(d, 4 * d)) / 4, "w2": rng.normal(size=(4 * d, d)) / 8}
          for _ in range(depth)]
    x = rng.normal(size=(64, d))

    def block(p, h):
        return h + cnp.tanh(cnp.tanh(h @ p["w1"]) @ p["w2"])

    def loss_of(f):
        def loss(ps, x):
            for p in ps:
                x = f(p, x)
            return cnp.sum(x * x)
        return loss

    def memory(jf):
        jf(ps, x)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        jf(ps, x)
        per_call = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        return jf.lower(ps, x).executable.arena_bytes + per_call

    plain = cr.jit(cr.grad(loss_of(block)))
    ckpt = cr.jit(cr.grad(loss_of(checkpoint(block))))
    _close(ckpt(ps, x), plain(ps, x), rtol=1e-12)
    names = _names(ckpt.lower(ps, x).executable.closed.jaxpr)
    assert names.count("tanh") == 4 * depth and "optimization_barrier" in names
    assert _names(plain.lower(ps, x).executable.closed.jaxpr).count("tanh") == 2 * depth
    assert memory(ckpt) < 0.5 * memory(plain), (memory(ckpt), memory(plain))


def test_optimization_barrier():
    x, y = RNG.normal(size=3), RNG.normal(size=(2, 2))
    out = lax.optimization_barrier({"x": x, "y": y})
    assert out["x"] is x and out["y"] is y
    f = lambda x: cnp.sum(cnp.sin(lax.optimization_barrier(x * 2.0)) ** 2)  # noqa: E731
    check_grads(f, (x,), order=2)
    _close(cr.jit(cr.grad(f))(x), cr.grad(f)(x))
    _close(cr.vmap(f)(y), np.array([f(r) for r in y]))


def test_policies_decide_what_is_recomputed():
    """In the staged backward pass, nothing_saveable recomputes every tanh
    and matmul of the forward pass, dots_saveable only the tanh (its matmul
    outputs are kept), everything_saveable nothing."""
    depth = 3
    params, x = _params(depth=depth, width=4), RNG.normal(size=(2, 4))
    counts = {}
    for policy in ["none", "nothing_saveable", "dots_saveable", "everything_saveable"]:
        closed = cr.make_jaxpr(cr.grad(lambda ps, policy=policy: loss(ps, x, policy)))(params)
        names = _names(closed)
        counts[policy] = (names.count("tanh"), names.count("dot_general"),
                          names.count("saved"))
        leaves, tree = cr.tree_util.tree_flatten(params)
        _close(cr.tree_util.tree_unflatten(tree, closed(*leaves)), cr.grad(loss)(params, x))
    fwd_dots, bwd_dots = depth, 2 * depth - 1  # the input x needs no cotangent
    assert counts["none"] == (depth, fwd_dots + bwd_dots, 0)
    assert counts["nothing_saveable"] == (2 * depth, 2 * fwd_dots + bwd_dots, 0)
    assert counts["dots_saveable"] == (2 * depth, fwd_dots + bwd_dots, depth)
    assert counts["everything_saveable"][:2] == counts["none"][:2]


def test_residuals_by_policy():
    """What the forward pass keeps for the backward pass: the layer's inputs
    always, plus the outputs its policy saves."""
    from chainrule.checkpoint import _remat_vjp_fwd

    p, x = _params(depth=1, width=4)[0], RNG.normal(size=(2, 4))
    jaxpr_fn = cr.make_jaxpr(lambda p, x: checkpoint(layer)(p, x))
    (eqn,) = jaxpr_fn(p, x).eqns
    inner = eqn.params["jaxpr"]
    args = [p["b"], p["w"], x]  # pytree order of ({"w", "b"}, x): b, w, x
    for name, expected in [("nothing_saveable", set()), ("dots_saveable", {"dot_general"}),
                           ("everything_saveable", {"dot_general", "add", "tanh"})]:
        outs, keep = _remat_vjp_fwd(*args, jaxpr=inner, policy=POLICIES[name])
        _close(outs[0], np.tanh(x @ p["w"] + p["b"]))
        assert {inner.eqns[i].prim.name for i in keep} == expected, name


def test_static_argnums_pytree_outputs_and_remat_alias():
    def f(x, n, scale):
        y = x
        for _ in range(n):
            y = cnp.sin(y) * scale
        return {"y": y, "s": (cnp.sum(y),)}

    x = RNG.normal(size=(3,))
    g = lambda x, f: cnp.sum(f(x, 3, 2.0)["y"]) + f(x, 3, 2.0)["s"][0]  # noqa: E731
    expected = cr.grad(lambda x: g(x, f))(x)
    _close(cr.grad(lambda x: g(x, checkpoint(f, static_argnums=(1,))))(x), expected)
    _close(cr.grad(lambda x: g(x, remat(f, static_argnums=1)))(x), expected)
    assert remat is checkpoint


def test_checkpoint_inside_scan():
    params = _params(depth=1, width=3)[0]
    xs = RNG.normal(size=(6, 3))

    def run(p, policy):
        step = layer if policy == "none" else checkpoint(layer, policy=POLICIES[policy])

        def body(h, x):
            h = step(p, h + x)
            return h, cnp.sum(h)

        h, ys = lax.scan(body, cnp.zeros(3), xs)
        return cnp.sum(h ** 2) + cnp.sum(ys)

    expected = cr.grad(run)(params, "none")
    for policy in ["nothing_saveable", "dots_saveable"]:
        _close(cr.grad(run)(params, policy), expected)
        _close(cr.jvp(lambda b, policy=policy: run({"w": params["w"], "b": b}, policy),
                      (params["b"],),
                      (np.ones(3),)),
               cr.jvp(lambda b: run({"w": params["w"], "b": b}, "none"), (params["b"],),
                      (np.ones(3),)))
