"""custom_jvp and custom_vjp under every transform."""

from functools import partial

import numpy as np
import pytest
from helpers import tree_close as _close

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import custom_jvp, custom_vjp, nn
from chainrule.test_util import check_grads

RNG = np.random.default_rng(0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------ custom_jvp ---


@custom_jvp
def softplus(x):
    """log(1 + e^x), whose autodiff derivative e^x / (1 + e^x) is inf/inf
    for large x; the rule gives sigmoid(x)."""
    return cnp.log1p(cnp.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * nn.sigmoid(x)


def sum_softplus(x):
    return cnp.sum(softplus(x))


def test_custom_jvp_value_and_grad():
    x = np.array([0.3, -1.2, 2.0, 800.0])
    with np.errstate(over="ignore", invalid="ignore"):
        np.testing.assert_allclose(softplus(x[:3]), np.log1p(np.exp(x[:3])))
        g = cr.grad(sum_softplus)(x)
        # without the rule the derivative at 800 is nan
        naive = cr.grad(lambda x: cnp.sum(cnp.log1p(cnp.exp(x))))(x)
    _close(g, _sigmoid(x))
    assert np.isnan(naive[3]) and np.all(np.isfinite(naive[:3]))


def test_custom_jvp_rule_is_used_in_both_modes():
    calls = []

    @custom_jvp
    def f(x):
        return cnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        calls.append(1)
        (x,), (t,) = primals, tangents
        return f(x), 3.0 * t  # deliberately not cos(x): shows the rule is used

    x = np.array([0.1, 0.2])
    _, t = cr.jvp(f, (x,), (np.array([1.0, 2.0]),))
    _close(t, [3.0, 6.0])
    _close(cr.grad(lambda x: cnp.sum(f(x)))(x), [3.0, 3.0])
    _close(cr.jacrev(f)(x), 3 * np.eye(2))
    _close(cr.jacfwd(f)(x), 3 * np.eye(2))
    assert calls


def test_custom_jvp_jvp_vmap_hessian():
    x = RNG.normal(size=(4,))
    s = _sigmoid(x)
    out, t = cr.jvp(softplus, (x,), (np.ones(4),))
    _close(out, np.log1p(np.exp(x)))
    _close(t, s)
    _close(cr.vmap(softplus)(x), np.log1p(np.exp(x)))
    _close(cr.vmap(cr.grad(softplus))(x), s)
    xs = RNG.normal(size=(3, 4))
    _close(cr.vmap(cr.grad(sum_softplus))(xs), _sigmoid(xs))
    _close(cr.grad(lambda x: cnp.sum(cr.vmap(softplus)(x)))(xs), _sigmoid(xs))
    _close(cr.hessian(sum_softplus)(x), np.diag(s * (1 - s)))
    _close(cr.vmap(cr.hessian(sum_softplus))(xs),
           np.stack([np.diag(_sigmoid(r) * (1 - _sigmoid(r))) for r in xs]))


def test_custom_jvp_nested_grad():
    x = 0.7
    s = _sigmoid(x)
    _close(cr.grad(softplus)(x), s)
    _close(cr.grad(cr.grad(softplus))(x), s * (1 - s))
    _close(cr.grad(cr.grad(cr.grad(softplus)))(x), s * (1 - s) * (1 - 2 * s))
    _, t = cr.jvp(cr.grad(softplus), (x,), (1.0,))
    _close(t, s * (1 - s))
    check_grads(sum_softplus, (RNG.normal(size=(3,)),), order=2, modes=("fwd", "rev"))


def test_custom_jvp_make_jaxpr_and_jit():
    x = RNG.normal(size=(3,))
    jaxpr = cr.make_jaxpr(softplus)(x)
    assert [e.prim.name for e in jaxpr.eqns] == ["custom_jvp_call"]
    _close(jaxpr(x)[0], np.log1p(np.exp(x)))
    # the staged equation keeps the rule: grad of the Jaxpr uses it
    _close(cr.grad(lambda x: cnp.sum(jaxpr(x)[0]))(x), _sigmoid(x))
    gj = cr.make_jaxpr(cr.grad(sum_softplus))(x)
    assert "logistic" in str(gj)
    _close(gj(x)[0], _sigmoid(x))
    _close(cr.jit(cr.grad(sum_softplus))(x), _sigmoid(x))
    _close(cr.jit(softplus)(x), np.log1p(np.exp(x)))


def test_jit_of_transforms_of_a_custom_function():
    """functools.wraps copies a custom function's attributes into grad's
    wrapper; they must not replace jit's own (jit(grad(f)) once ran f)."""
    x = np.array([0.3, -1.2, 800.0])
    with np.errstate(over="ignore"):
        _close(cr.jit(cr.grad(lambda x: cnp.sum(softplus(x))))(x), _sigmoid(x))
        _close(cr.jit(cr.vmap(cr.grad(softplus)))(x), _sigmoid(x))
        _close(cr.grad(lambda x: cnp.sum(cr.jit(softplus)(x)))(x), _sigmoid(x))
    _close(cr.jit(cr.grad(softplus))(0.3), _sigmoid(0.3))
    _close(cr.jit(cr.grad(sin_mul))(0.3, 2.0), 2 * np.cos(0.3))
    _close(cr.jit(cr.jacfwd(sin_mul))(x[:2], x[:2]), np.diag(np.cos(x[:2]) * x[:2]))
    assert softplus.fun.__name__ == "softplus" and softplus.nondiff_argnums == ()
    assert sin_mul.fwd is _sin_mul_fwd and sin_mul.bwd is _sin_mul_bwd
    assert "fun" not in vars(cr.grad(softplus)) and "fwd" not in vars(cr.grad(sin_mul))


def test_custom_jvp_nondiff_argnums():
    @partial(custom_jvp, nondiff_argnums=(1,))
    def powk(x, k):
        return x ** k

    @powk.defjvp
    def powk_jvp(k, primals, tangents):
        (x,), (t,) = primals, tangents
        return powk(x, k), k * x ** (k - 1) * t

    assert powk(2.0, 3) == 8.0  # k stays in its position
    _close(cr.grad(powk)(2.0, 3), 12.0)
    _close(cr.grad(cr.grad(powk))(2.0, 3), 12.0)
    _close(cr.vmap(cr.grad(powk), in_axes=(0, None))(np.array([1.0, 2.0]), 3), [3.0, 12.0])
    _, t = cr.jvp(lambda x: powk(x, 4), (2.0,), (1.0,))
    _close(t, 32.0)


def test_custom_jvp_pytree_args_and_outputs():
    @custom_jvp
    def f(p):
        return {"prod": p["a"] * p["b"], "sum": (p["a"] + p["b"],)}

    @f.defjvp
    def f_jvp(primals, tangents):
        (p,), (t,) = primals, tangents
        return f(p), {"prod": t["a"] * p["b"] + p["a"] * t["b"], "sum": (t["a"] + t["b"],)}

    p = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, -1.0])}
    out = f(p)
    _close(out, {"prod": p["a"] * p["b"], "sum": (p["a"] + p["b"],)})
    g = cr.grad(lambda p: cnp.sum(f(p)["prod"]) + 2 * cnp.sum(f(p)["sum"][0]))(p)
    _close(g, {"a": p["b"] + 2, "b": p["a"] + 2})
    _, t = cr.jvp(f, (p,), ({"a": np.ones(2), "b": np.zeros(2)},))
    _close(t, {"prod": p["b"], "sum": (np.ones(2),)})
    _close(cr.jacfwd(lambda p: f(p)["prod"])(p), cr.jacrev(lambda p: f(p)["prod"])(p))


def test_custom_jvp_without_rule_errors():
    @custom_jvp
    def f(x):
        return x

    with pytest.raises(TypeError, match="defjvp"):
        f(1.0)


# ------------------------------------------------------------ custom_vjp ---


@custom_vjp
def sin_mul(x, y):
    return cnp.sin(x) * y


def _sin_mul_fwd(x, y):
    return sin_mul(x, y), (cnp.cos(x), cnp.sin(x), y)


def _sin_mul_bwd(res, g):
    c, s, y = res
    return (c * y * g, s * g)


sin_mul.defvjp(_sin_mul_fwd, _sin_mul_bwd)


def test_custom_vjp_grad_uses_residuals():
    calls = {"fun": 0, "fwd": 0, "bwd": 0}

    @custom_vjp
    def f(x):
        calls["fun"] += 1
        return cnp.exp(x)

    def fwd(x):
        calls["fwd"] += 1
        e = cnp.exp(x)
        return e, e  # save the output for the backward pass

    def bwd(e, g):
        calls["bwd"] += 1
        return (e * g,)

    f.defvjp(fwd, bwd)
    x = np.array([0.5, -1.0])
    _close(cr.grad(lambda x: cnp.sum(f(x)))(x), np.exp(x))
    assert calls == {"fun": 0, "fwd": 1, "bwd": 1}


def test_custom_vjp_grad_vmap_jit():
    x, y = RNG.normal(size=(4,)), RNG.normal(size=(4,))
    gx, gy = cr.grad(lambda x, y: cnp.sum(sin_mul(x, y)), argnums=(0, 1))(x, y)
    _close(gx, np.cos(x) * y)
    _close(gy, np.sin(x))
    _close(cr.vmap(sin_mul)(x, y), np.sin(x) * y)
    _close(cr.vmap(cr.grad(sin_mul), in_axes=(0, None))(x, 2.0), 2 * np.cos(x))
    xs = RNG.normal(size=(3, 4))
    _close(cr.vmap(cr.grad(lambda x: cnp.sum(sin_mul(x, y))))(xs), np.cos(xs) * y)
    _close(cr.jit(cr.grad(lambda x: cnp.sum(sin_mul(x, y))))(x), np.cos(x) * y)
    _close(cr.jacrev(sin_mul)(x, y), np.diag(np.cos(x) * y))


def test_custom_vjp_forward_mode_equals_true_jvp():
    x, y = RNG.normal(size=(4,)), RNG.normal(size=(4,))
    tx, ty = RNG.normal(size=(4,)), RNG.normal(size=(4,))
    out, t = cr.jvp(sin_mul, (x, y), (tx, ty))
    _close(out, np.sin(x) * y)
    _close(t, np.cos(x) * y * tx + np.sin(x) * ty)
    _close(cr.jacfwd(sin_mul)(x, y), np.diag(np.cos(x) * y))
    _close(cr.jacfwd(sin_mul, argnums=(0, 1))(x, y), cr.jacrev(sin_mul, argnums=(0, 1))(x, y))
    # tangents batched by vmap
    ts = RNG.normal(size=(3, 4))
    _, tb = cr.vmap(lambda t: cr.jvp(lambda x: sin_mul(x, y), (x,), (t,)))(ts)
    _close(tb, ts * np.cos(x) * y)
    check_grads(sin_mul, (x, y), order=2, modes=("fwd", "rev"))


def test_custom_vjp_hessian_and_nested_grad():
    x, y = RNG.normal(size=(3,)), RNG.normal(size=(3,))
    _close(cr.hessian(lambda x: cnp.sum(sin_mul(x, y)))(x), np.diag(-np.sin(x) * y))
    _close(cr.grad(cr.grad(lambda x: sin_mul(x, 2.0)))(0.3), -2 * np.sin(0.3))
    _close(cr.vmap(cr.hessian(lambda x: sin_mul(x, 2.0)))(x), -2 * np.sin(x))


def test_custom_vjp_make_jaxpr():
    x, y = RNG.normal(size=(3,)), RNG.normal(size=(3,))
    jaxpr = cr.make_jaxpr(sin_mul)(x, y)
    assert [e.prim.name for e in jaxpr.eqns] == ["custom_vjp_call"]
    _close(jaxpr(x, y)[0], np.sin(x) * y)
    _close(cr.grad(lambda x: cnp.sum(jaxpr(x, y)[0]))(x), np.cos(x) * y)
    gj = cr.make_jaxpr(cr.grad(lambda x: cnp.sum(sin_mul(x, y))))(x)
    _close(gj(x)[0], np.cos(x) * y)


@partial(custom_vjp, nondiff_argnums=(1,))
def clip_gradient(x, bound):
    return x


def _clip_fwd(x, bound):
    return x, None


def _clip_bwd(bound, res, g):
    return (cnp.clip(g, -bound, bound),)


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_custom_vjp_nondiff_argnums_gradient_clipping():
    x = np.array([1.0, -2.0, 0.5])
    _close(clip_gradient(x, 0.5), x)  # the bound stays in its position
    g = cr.grad(lambda x: cnp.sum(clip_gradient(x, 0.5) * np.array([3.0, -4.0, 0.1])))(x)
    _close(g, [0.5, -0.5, 0.1])
    gs = cr.vmap(cr.grad(lambda x: 10 * clip_gradient(x, 1.0)))(x)
    _close(gs, np.ones(3))
    # forward mode transposes bwd, linearised at a zero cotangent, where the
    # clip is the identity
    _, t = cr.jvp(lambda x: clip_gradient(x, 1.0), (x,), (np.array([0.1, 0.2, -0.3]),))
    _close(t, [0.1, 0.2, -0.3])


def test_custom_vjp_pytrees_and_integer_args():
    @custom_vjp
    def f(p, n):
        return {"y": p["w"] * n, "z": (cnp.sum(p["w"] ** 2),)}

    def fwd(p, n):
        return f(p, n), (p["w"], n)

    def bwd(res, ct):
        w, n = res
        return {"w": ct["y"] * n + 2 * w * ct["z"][0]}, None

    f.defvjp(fwd, bwd)
    p = {"w": np.array([1.0, -3.0])}
    n = np.array(4)
    out = f(p, n)
    _close(out, {"y": p["w"] * 4, "z": (np.array(10.0),)})
    g = cr.grad(lambda p: cnp.sum(f(p, n)["y"]) + f(p, n)["z"][0])(p)
    _close(g, {"w": 4 + 2 * p["w"]})
    _, t = cr.jvp(lambda p: f(p, n), (p,), ({"w": np.array([1.0, 0.0])},))
    _close(t, {"y": np.array([4.0, 0.0]), "z": (np.array(2.0),)})


def _bad(bwd_out):
    @custom_vjp
    def f(p, x):
        return p["a"] * x

    f.defvjp(lambda p, x: (f(p, x), None), lambda res, g: bwd_out(g))
    p = {"a": np.array([1.0, 2.0])}
    return lambda: cr.grad(lambda p: cnp.sum(f(p, np.ones(2))))(p)


def test_custom_vjp_bwd_structure_errors():
    with pytest.raises(TypeError, match="bwd must return a tuple with one cotangent per "
                       r"differentiable argument \(2\), got ndarray"):
        _bad(lambda g: g)()
    with pytest.raises(TypeError, match=r"one cotangent per differentiable argument \(2\)"):
        _bad(lambda g: ({"a": g},))()
    with pytest.raises(TypeError, match="structure"):
        _bad(lambda g: ({"b": g}, g))()
    with pytest.raises(TypeError, match="structure"):
        _bad(lambda g: (g, g))()
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        _bad(lambda g: ({"a": cnp.ones(3)}, g))()
    # None for a whole argument is a zero cotangent
    _close(_bad(lambda g: ({"a": 2 * g}, None))(), {"a": 2 * np.ones(2)})


def test_custom_vjp_without_rule_errors():
    @custom_vjp
    def f(x):
        return x

    with pytest.raises(TypeError, match="defvjp"):
        f(1.0)
