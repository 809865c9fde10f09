"""The public transforms: grad, value_and_grad, vjp, jvp, linearize, jacfwd,
jacrev, hessian, make_jaxpr, composed, on pytrees, against finite differences."""

import collections
import dataclasses

import numpy as np
import pytest

import chainrule.numpy as cnp
from chainrule import grad, hessian, jacfwd, jacrev, jvp, linearize, make_jaxpr, value_and_grad, vjp
from chainrule.core import ClosedJaxpr, Primitive, ShapedArray, registry
from chainrule.test_util import check_grads
from chainrule.tree_util import tree_flatten, tree_map, tree_structure

rng = np.random.default_rng(0)


def allclose(a, b, **kw):
    """Pytrees equal leaf by leaf (and in structure)."""
    assert tree_structure(a) == tree_structure(b), (tree_structure(a), tree_structure(b))
    for x, y in zip(tree_flatten(a)[0], tree_flatten(b)[0], strict=True):
        np.testing.assert_allclose(x, y, **{"rtol": 1e-7, "atol": 1e-9, **kw})


def numerical_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobian of an array function, shape out.shape + x.shape."""
    x = np.asarray(x, float)
    out_shape = np.shape(f(x))
    jac = np.zeros(out_shape + x.shape)
    for k in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[k] = eps
        jac[(Ellipsis,) + k] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return jac


# ------------------------------------------------------------- grad ---


def f_xy(x, y):
    return x * y ** 2 + cnp.sin(x)


def test_grad_argnums():
    x, y = 2.0, 3.0
    dx, dy = y ** 2 + np.cos(x), 2 * x * y
    allclose(grad(f_xy)(x, y), np.asarray(dx))
    allclose(grad(f_xy, argnums=1)(x, y), np.asarray(dy))
    allclose(grad(f_xy, argnums=-1)(x, y), np.asarray(dy))
    allclose(grad(f_xy, argnums=(0, 1))(x, y), (np.asarray(dx), np.asarray(dy)))
    allclose(grad(f_xy, argnums=(1,))(x, y), (np.asarray(dy),))
    g = grad(f_xy)(x, y)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == ()


def test_grad_keyword_arguments_are_constants():
    def f(x, scale=1.0):
        return cnp.sum(x * scale)
    allclose(grad(f)(np.ones(3), scale=2.5), np.full(3, 2.5))


def test_grad_of_arrays_has_their_shape_and_dtype():
    x = rng.normal(size=(2, 3))
    g = grad(lambda x: cnp.sum(x ** 3))(x)
    allclose(g, 3 * x ** 2)
    x32 = x.astype(np.float32)
    g32 = grad(lambda x: cnp.sum(x ** 3))(x32)
    assert g32.dtype == np.float32


def test_grad_has_aux():
    def f(x):
        y = cnp.sum(x ** 2)
        return y, {"y": y, "double": 2 * x, "note": [x.shape]}

    x = np.array([1.0, 2.0])
    g, aux = grad(f, has_aux=True)(x)
    allclose(g, 2 * x)
    assert set(aux) == {"y", "double", "note"}
    assert isinstance(aux["y"], np.ndarray) and isinstance(aux["double"], np.ndarray)
    allclose(aux["y"], np.asarray(5.0))
    allclose(aux["double"], 2 * x)
    assert aux["note"] == [(2,)]


def test_value_and_grad():
    v, g = value_and_grad(f_xy)(2.0, 3.0)
    allclose(v, np.asarray(2.0 * 9 + np.sin(2.0)))
    allclose(g, np.asarray(9 + np.cos(2.0)))
    (v, aux), g = value_and_grad(lambda x: (x ** 2, x + 1), has_aux=True)(3.0)
    allclose((v, aux, g), (np.asarray(9.0), np.asarray(4.0), np.asarray(6.0)))
    v, (gx, gy) = value_and_grad(f_xy, argnums=(0, 1))(2.0, 3.0)
    allclose((gx, gy), (np.asarray(9 + np.cos(2.0)), np.asarray(12.0)))


def test_grad_of_constant_function_is_zero():
    allclose(grad(lambda x: 3.0)(2.0), np.asarray(0.0))
    allclose(grad(lambda x, y: cnp.sum(y))(np.ones(3), np.ones(2)), np.zeros(3))


def test_value_used_twice_sums_its_gradients():
    allclose(grad(lambda x: x * x + x)(3.0), np.asarray(7.0))


# ---------------------------------------------------------------- vjp ---


def test_vjp_matches_manual():
    x = rng.normal(size=3)
    y, pullback = vjp(cnp.sin, x)
    allclose(y, np.sin(x))
    ct = rng.normal(size=3)
    (g,) = pullback(ct)
    allclose(g, ct * np.cos(x))


def test_vjp_pytree_outputs_and_inputs():
    def f(params, x):
        return {"a": cnp.sin(params["w"]) * x, "b": [cnp.sum(params["w"] * x), params["b"] * 2]}

    params = {"w": rng.normal(size=3), "b": np.asarray(1.5)}
    x = rng.normal(size=3)
    out, pullback = vjp(f, params, x)
    allclose(out, {"a": np.sin(params["w"]) * x,
                   "b": [np.sum(params["w"] * x), np.asarray(3.0)]})
    ct = {"a": rng.normal(size=3), "b": [np.asarray(0.7), np.asarray(-2.0)]}
    g_params, g_x = pullback(ct)
    expected_w = ct["a"] * np.cos(params["w"]) * x + 0.7 * x
    expected_x = ct["a"] * np.sin(params["w"]) + 0.7 * params["w"]
    allclose(g_params, {"w": expected_w, "b": np.asarray(-4.0)})
    allclose(g_x, expected_x)


def test_vjp_has_aux():
    out, pullback, aux = vjp(lambda x: (x * 2, {"sq": x ** 2}), np.array([1.0, 3.0]),
                             has_aux=True)
    allclose(out, np.array([2.0, 6.0]))
    allclose(aux, {"sq": np.array([1.0, 9.0])})
    allclose(pullback(np.array([1.0, 1.0])), (np.array([2.0, 2.0]),))


def test_vjp_pullback_can_be_called_twice():
    _, pullback = vjp(lambda x: x ** 3, 2.0)
    allclose(pullback(1.0), (np.asarray(12.0),))
    allclose(pullback(2.0), (np.asarray(24.0),))


# ---------------------------------------------------------------- jvp ---


def test_jvp():
    x, t = rng.normal(size=4), rng.normal(size=4)
    y, ty = jvp(cnp.sin, (x,), (t,))
    allclose((y, ty), (np.sin(x), np.cos(x) * t))
    y, ty = jvp(f_xy, (2.0, 3.0), (1.0, 0.0))
    allclose(ty, np.asarray(9 + np.cos(2.0)))
    y, ty = jvp(f_xy, (2.0, 3.0), (0.0, 1.0))
    allclose(ty, np.asarray(12.0))


def test_jvp_pytrees():
    def f(p):
        return {"s": cnp.sum(p["a"] * p["b"][0]), "t": (p["b"][1] ** 2,)}

    p = {"a": rng.normal(size=3), "b": [rng.normal(size=3), np.asarray(2.0)]}
    t = {"a": rng.normal(size=3), "b": [rng.normal(size=3), np.asarray(1.0)]}
    out, tout = jvp(f, (p,), (t,))
    allclose(out, {"s": np.sum(p["a"] * p["b"][0]), "t": (np.asarray(4.0),)})
    allclose(tout, {"s": np.sum(t["a"] * p["b"][0] + p["a"] * t["b"][0]),
                    "t": (np.asarray(4.0),)})


def test_jvp_has_aux_and_constant_output():
    y, t, aux = jvp(lambda x: (x * 3, x + 1), (2.0,), (1.0,), has_aux=True)
    allclose((y, t, aux), (np.asarray(6.0), np.asarray(3.0), np.asarray(3.0)))
    y, t = jvp(lambda x: np.ones(2), (2.0,), (1.0,))
    allclose((y, t), (np.ones(2), np.zeros(2)))


# ----------------------------------------------------------- linearize ---


def test_linearize_equals_jvp():
    def f(x, y):
        return cnp.tanh(x) * cnp.exp(y) + x ** 2

    x, y = rng.normal(size=3), rng.normal(size=3)
    out, f_jvp = linearize(f, x, y)
    allclose(out, np.tanh(x) * np.exp(y) + x ** 2)
    assert isinstance(f_jvp.jaxpr, ClosedJaxpr)
    assert "mul" in str(f_jvp.jaxpr)
    assert "tanh" not in str(f_jvp.jaxpr)  # only the linear part is replayed
    for _ in range(3):
        tx, ty = rng.normal(size=3), rng.normal(size=3)
        allclose(f_jvp(tx, ty), jvp(f, (x, y), (tx, ty))[1])


def test_linearize_pytree():
    p = {"w": rng.normal(size=2), "b": np.asarray(0.5)}
    out, f_jvp = linearize(lambda p: cnp.sum(cnp.sin(p["w"])) * p["b"], p)
    t = {"w": rng.normal(size=2), "b": np.asarray(1.0)}
    allclose(f_jvp(t), jvp(lambda p: cnp.sum(cnp.sin(p["w"])) * p["b"], (p,), (t,))[1])


# ----------------------------------------------------------- Jacobians ---

def _random_function(seed):
    r = np.random.default_rng(seed)
    a, b = r.normal(size=(3, 4)), r.normal(size=3)

    def f(x):  # R^4 -> R^3
        h = cnp.tanh(cnp.sum(a * x, axis=1) + b)
        return h * cnp.sin(x[:3]) + cnp.exp(-x[1:] ** 2)

    return f


@pytest.mark.parametrize("seed", range(3))
def test_jacfwd_equals_jacrev_equals_finite_differences(seed):
    f = _random_function(seed)
    x = np.random.default_rng(seed + 10).normal(size=4)
    jf, jr = jacfwd(f)(x), jacrev(f)(x)
    assert jf.shape == jr.shape == (3, 4)
    allclose(jf, jr)
    allclose(jf, numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


def test_jacobian_shapes_are_out_shape_plus_in_shape():
    x = rng.normal(size=(2, 3))

    def f(x):
        return cnp.sin(x)[:, :, None] * np.ones((1, 1, 4))  # (2, 3, 4)

    for jac in (jacfwd, jacrev):
        j = jac(f)(x)
        assert j.shape == (2, 3, 4, 2, 3)
        allclose(j, numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)
    # scalar in, scalar out; scalar in, vector out
    assert jacfwd(cnp.sin)(1.0).shape == jacrev(cnp.sin)(1.0).shape == ()
    g = lambda t: cnp.stack([t, t ** 2, cnp.sin(t)])
    allclose(jacfwd(g)(0.5), np.array([1.0, 1.0, np.cos(0.5)]))
    allclose(jacrev(g)(0.5), np.array([1.0, 1.0, np.cos(0.5)]))


def test_jacobians_of_pytrees():
    def f(p, x):
        return {"y": cnp.tanh(p["w"] * x + p["b"]), "n": (cnp.sum(p["w"] ** 2),)}

    p = {"w": rng.normal(size=3), "b": np.asarray(0.3)}
    x = rng.normal(size=3)
    jf = jacfwd(f, argnums=(0, 1))(p, x)
    jr = jacrev(f, argnums=(0, 1))(p, x)
    allclose(jf, jr)
    # structure: output tree of input trees
    assert jf["y"][0]["w"].shape == (3, 3) and jf["y"][0]["b"].shape == (3,)
    assert jf["y"][1].shape == (3, 3) and jf["n"][0][0]["w"].shape == (3,)
    assert jf["n"][0][0]["b"].shape == () and jf["n"][0][1].shape == (3,)
    w, b = p["w"], p["b"]
    d = 1 - np.tanh(w * x + b) ** 2
    allclose(jf["y"][0]["w"], np.diag(d * x))
    allclose(jf["y"][0]["b"], d)
    allclose(jf["y"][1], np.diag(d * w))
    allclose(jf["n"][0][0]["w"], 2 * w)
    allclose(jf["n"][0][1], np.zeros(3))


def test_jacobian_has_aux():
    j, aux = jacrev(lambda x: (cnp.sin(x), cnp.sum(x)), has_aux=True)(np.ones(2))
    allclose(j, np.diag(np.cos(np.ones(2))))
    allclose(aux, np.asarray(2.0))
    j, aux = jacfwd(lambda x: (cnp.sin(x), cnp.sum(x)), has_aux=True)(np.ones(2))
    allclose(j, np.diag(np.cos(np.ones(2))))
    allclose(aux, np.asarray(2.0))


def _scalar_fun(x):
    return cnp.sum(cnp.sin(x) * x[::-1]) + cnp.prod(x) + cnp.sum(x ** 4) / 4


def test_hessian_matches_finite_differences_and_is_symmetric():
    x = rng.normal(size=4)
    h = hessian(_scalar_fun)(x)
    assert h.shape == (4, 4)
    allclose(h, h.T, rtol=1e-12, atol=1e-12)
    g = grad(_scalar_fun)
    allclose(h, numerical_jacobian(g, x), rtol=1e-6, atol=1e-7)
    allclose(h, jacrev(jacrev(_scalar_fun))(x))
    allclose(h, jacfwd(jacfwd(_scalar_fun))(x))
    allclose(h, jacrev(jacfwd(_scalar_fun))(x))


# --------------------------------------------------------- composition ---


def test_third_derivative_of_sin():
    x = np.linspace(-3, 3, 7)
    d3 = [grad(grad(grad(cnp.sin)))(xi) for xi in x]
    allclose(np.array(d3), -np.cos(x))
    allclose(grad(grad(grad(grad(cnp.sin))))(0.7), np.asarray(np.sin(0.7)))


def test_hessian_vector_product():
    x, v = rng.normal(size=4), rng.normal(size=4)
    _, hvp = jvp(grad(_scalar_fun), (x,), (v,))
    allclose(hvp, hessian(_scalar_fun)(x) @ v)
    # reverse-over-reverse gives the same
    allclose(grad(lambda x: cnp.sum(grad(_scalar_fun)(x) * v))(x), hvp)
    # reverse-over-forward too
    allclose(grad(lambda x: jvp(_scalar_fun, (x,), (v,))[1])(x), hvp)


def test_perturbation_confusion_reverse():
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(1.0) == 1.0


def test_perturbation_confusion_forward():
    out = jvp(lambda x: x * jvp(lambda y: x + y, (1.0,), (1.0,))[1], (1.0,), (1.0,))[1]
    assert out == 1.0


def test_perturbation_confusion_mixed():
    assert grad(lambda x: x * jvp(lambda y: x + y, (1.0,), (1.0,))[1])(1.0) == 1.0
    assert jvp(lambda x: x * grad(lambda y: x + y)(1.0), (1.0,), (1.0,))[1] == 1.0
    # the inner derivative depends on x: d/dx [x * d/dy (x*y)] = 2x
    assert grad(lambda x: x * grad(lambda y: x * y)(2.0))(3.0) == 6.0
    assert jvp(lambda x: x * jvp(lambda y: x * y, (2.0,), (1.0,))[1], (3.0,), (1.0,))[1] == 6.0


def test_python_control_flow_in_eager_grad():
    def f(x):
        if x > 0:
            return x ** 2
        return -3 * x

    assert grad(f)(2.0) == 4.0
    assert grad(f)(-2.0) == -3.0
    assert jvp(f, (2.0,), (1.0,))[1] == 4.0
    assert grad(grad(f))(2.0) == 2.0

    def loop(x):
        y = x
        while y < 10:
            y = y * 2
        return y

    assert grad(loop)(3.0) == 4.0  # 3 -> 6 -> 12


def test_grad_under_make_jaxpr_and_jaxpr_evaluation():
    def f(x):
        return cnp.sum(cnp.tanh(x) ** 2)

    x = rng.normal(size=3)
    closed = make_jaxpr(grad(f))(x)
    allclose(closed(x)[0], grad(f)(x))
    allclose(closed(x)[0], 2 * np.tanh(x) * (1 - np.tanh(x) ** 2))
    # a Jaxpr can itself be differentiated
    allclose(grad(lambda x: cnp.sum(closed(x)[0]))(x), jacfwd(grad(f))(x).sum(0))


# -------------------------------------------------------------- pytrees ---

Point = collections.namedtuple("Point", ["x", "y"])


@dataclasses.dataclass
class Layer:
    w: np.ndarray
    b: np.ndarray


def test_pytrees_in_and_out():
    params = {
        "layers": [Layer(rng.normal(size=(2,)), np.asarray(0.1)),
                   Layer(rng.normal(size=(2,)), np.asarray(-0.2))],
        "point": Point(np.asarray(1.0), np.asarray(2.0)),
        "extra": (np.asarray(3.0), None),
    }

    def loss(p):
        s = p["point"].x * p["point"].y * p["extra"][0]
        for layer in p["layers"]:
            s = s + cnp.sum(layer.w ** 2) + layer.b
        return s

    g = grad(loss)(params)
    assert tree_structure(g) == tree_structure(params)
    assert isinstance(g["layers"][0], Layer) and isinstance(g["point"], Point)
    assert g["extra"][1] is None
    allclose(g["layers"][0].w, 2 * params["layers"][0].w)
    allclose(g["layers"][1].b, np.asarray(1.0))
    allclose(g["point"], Point(np.asarray(6.0), np.asarray(3.0)))
    allclose(g["extra"][0], np.asarray(2.0))
    check_grads(loss, (params,), order=2)

    def out_tree(p):
        return Point(x=[p["point"].x * 2, None], y={"a": Layer(p["point"].y, p["point"].x)})

    out, pullback = vjp(out_tree, params)
    ct = tree_map(np.ones_like, out)
    (gp,) = pullback(ct)
    allclose(gp["point"], Point(np.asarray(3.0), np.asarray(1.0)))
    allclose(gp["layers"][0].w, np.zeros(2))
    jf = jacfwd(out_tree)(params)
    jr = jacrev(out_tree)(params)
    allclose(jf, jr)


def test_grad_of_list_and_tuple_arguments():
    g = grad(lambda xs: xs[0] * xs[1][0] * xs[1][1])([2.0, (3.0, 4.0)])
    assert isinstance(g, list) and isinstance(g[1], tuple)
    allclose(g, [np.asarray(12.0), (np.asarray(8.0), np.asarray(6.0))])


# ------------------------------------------------------------ make_jaxpr ---

GOLDEN = """\
{ lambda ; a:f64[3]. let
    b:f64[3] = tanh a
    c:f64[3] = integer_pow[y=2] b
    d:f64[] = reduce_sum[axes=(0,)] c
  in (d) }"""


def test_make_jaxpr_golden():
    closed = make_jaxpr(lambda x: cnp.sum(cnp.tanh(x) ** 2))(np.ones(3))
    assert str(closed) == GOLDEN
    assert closed.in_avals == [ShapedArray((3,), np.dtype("float64"))]
    assert closed.out_avals == [ShapedArray((), np.dtype("float64"))]


def test_make_jaxpr_literals_consts_and_float32():
    c = np.arange(3.0)
    closed = make_jaxpr(lambda x: cnp.sin(x) * 2.0 + c)(np.ones(3, np.float32))
    text = str(closed)
    assert text.splitlines()[0] == "{ lambda a:f64[3] ; b:f32[3]. let"
    assert "2.0:f32" in text
    allclose(closed(np.ones(3, np.float32))[0], np.sin(np.ones(3)) * 2 + c, rtol=1e-6)


def test_make_jaxpr_of_grad_shows_the_backward_pass():
    closed = make_jaxpr(grad(lambda x: cnp.sum(cnp.tanh(x) ** 2)))(np.ones(3))
    names = [e.prim.name for e in closed.eqns]
    # forward pass, then the backward pass: d(sum) -> d(y**2) = 2y -> d(tanh) = 1 - y**2
    assert names[:3] == ["tanh", "integer_pow", "reduce_sum"]
    backward = names[3:]
    assert backward.count("mul") >= 3 and "sub" in backward
    assert "tanh" not in backward  # the tanh rule reuses the forward output
    text = str(closed)
    assert "sub 1.0:f64" in text and "mul 2.0:f64" in text
    assert closed.out_avals == [ShapedArray((3,), np.dtype("float64"))]


def test_make_jaxpr_static_argnums_and_pytrees():
    def f(x, n):
        for _ in range(n):
            x = cnp.sin(x)
        return {"out": x}

    closed = make_jaxpr(f, static_argnums=1)(np.ones(2), 3)
    assert [e.prim.name for e in closed.eqns] == ["sin"] * 3
    closed = make_jaxpr(lambda p: p["a"] + p["b"])({"a": 1.0, "b": np.ones(2)})
    assert len(closed.jaxpr.invars) == 2


# ---------------------------------------------------- check_grads itself ---


@pytest.fixture
def wrong_prims():
    """Throwaway primitives with deliberately wrong rules (removed afterwards)."""
    made = []

    def make(name, *, jvp_factor, vjp_factor):
        prim = Primitive(name)
        made.append(name)
        prim.impl = lambda x: np.sin(x)
        prim.abstract_eval = lambda x: ShapedArray(tuple(x.shape), np.dtype(x.dtype))
        prim.jvp = lambda primals, tangents, out: tangents[0] * cnp.cos(primals[0]) * jvp_factor
        prim.vjp = lambda ct, out, x, *, wants: (ct * cnp.cos(x) * vjp_factor,)
        return prim

    yield make
    for name in made:
        registry.pop(name, None)


def test_check_grads_accepts_right_rules(wrong_prims):
    prim = wrong_prims("test_right_sin", jvp_factor=1.0, vjp_factor=1.0)
    check_grads(lambda x: prim.bind(x), (rng.normal(size=3),), order=1)


def test_check_grads_rejects_a_wrong_jvp(wrong_prims):
    prim = wrong_prims("test_wrong_jvp_sin", jvp_factor=1.1, vjp_factor=1.0)
    x = rng.normal(size=3)
    with pytest.raises(AssertionError):
        check_grads(lambda x: prim.bind(x), (x,), order=1, modes=("fwd",))
    check_grads(lambda x: prim.bind(x), (x,), order=1, modes=("rev",))


def test_check_grads_rejects_a_wrong_vjp(wrong_prims):
    prim = wrong_prims("test_wrong_vjp_sin", jvp_factor=1.0, vjp_factor=-1.0)
    x = rng.normal(size=3)
    with pytest.raises(AssertionError):
        check_grads(lambda x: prim.bind(x), (x,), order=1, modes=("rev",))
    check_grads(lambda x: prim.bind(x), (x,), order=1, modes=("fwd",))


def test_check_grads_rejects_a_wrong_second_derivative(wrong_prims):
    # the first derivative is right; its own derivative (through cnp.cos's
    # replacement) is not: d/dx [cos(x) * stop_gradient-like constant] is wrong
    prim = Primitive("test_wrong_second_order")
    try:
        prim.impl = np.sin
        prim.abstract_eval = lambda x: ShapedArray(tuple(x.shape), np.dtype(x.dtype))
        prim.jvp = lambda primals, tangents, out: tangents[0] * cnp.stop_gradient(
            cnp.cos(primals[0]))
        prim.vjp = lambda ct, out, x, *, wants: (ct * cnp.stop_gradient(cnp.cos(x)),)
        x = rng.normal(size=3)
        check_grads(lambda x: prim.bind(x), (x,), order=1)
        for mode in ("fwd", "rev"):
            with pytest.raises(AssertionError):
                check_grads(lambda x: prim.bind(x), (x,), order=2, modes=(mode,))
    finally:
        registry.pop("test_wrong_second_order", None)


# ------------------------------------------------- tracers act like arrays ---


def _uses_tracer_methods(x, y, var_method=True):
    """Python operators, attributes and methods, as NumPy code would use them."""
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float64
    assert x.T.shape == (3, 2)
    z = (x + y) * x - y / (1 + x ** 2) + (-x) @ y.T @ x + abs(x) + 2 ** x + 1.5 - x * 2
    assert x.astype(np.float32).dtype == np.float32 and (x > 0).astype(int).dtype == np.int64
    z = z.reshape(3, 2).T + x.astype(np.float64)
    z = z + (x > y) * 1.0 + (x <= y) * 0.5 + (x == x) * 0.25 + (x != y) + (x >= 0) + (x < 1)
    z = z + x.sum(axis=0) + x.mean() + x.max(axis=1, keepdims=True) + x.min() + x.prod()
    z = z + x[0] + x[:, 1:2] + x[..., ::-1] + x[1, 2] + x[[0, 1, 1]][1:]
    z = z + (x.var() if var_method else cnp.var(x)) + x.std(axis=0) + x.reshape(-1)[2]
    z = z + x.ravel()[::2].sum() + x.T.T
    return z.sum() + x.dot(y.T).sum() + x.cumsum(axis=1).sum()


def test_tracers_support_operators_attributes_and_methods():
    x = rng.uniform(0.5, 1.5, size=(2, 3))
    y = rng.uniform(0.5, 1.5, size=(2, 3))
    expected = _uses_tracer_methods(x, y)  # plain NumPy
    out, t = jvp(_uses_tracer_methods, (x, y), (np.ones_like(x), np.zeros_like(y)))
    allclose(out, np.asarray(expected))
    g = grad(_uses_tracer_methods)(x, y)
    allclose(np.sum(g), t, rtol=1e-9)
    check_grads(_uses_tracer_methods, (x, y), order=2, modes=("fwd", "rev"))


def test_tracer_methods_under_make_jaxpr():
    x = rng.uniform(0.5, 1.5, size=(2, 3))
    y = rng.uniform(0.5, 1.5, size=(2, 3))
    closed = make_jaxpr(_uses_tracer_methods)(x, y)
    allclose(closed(x, y)[0], np.asarray(_uses_tracer_methods(x, y)))


def test_tracer_methods_under_make_jaxpr_but_var():
    x = rng.uniform(0.5, 1.5, size=(2, 3))
    y = rng.uniform(0.5, 1.5, size=(2, 3))
    closed = make_jaxpr(lambda x, y: _uses_tracer_methods(x, y, var_method=False))(x, y)
    allclose(closed(x, y)[0], np.asarray(_uses_tracer_methods(x, y)))
