"""Every error names the problem (and, where there is one, the op, the
transform and the shapes)."""

import numpy as np
import pytest

import chainrule
import chainrule.numpy as cnp
from chainrule import grad, jacfwd, jacrev, jvp, make_jaxpr, value_and_grad, vjp
from chainrule.core import Primitive, ShapedArray, registry


def test_grad_of_non_scalar_output():
    with pytest.raises(TypeError, match="jacrev") as info:
        grad(lambda x: x * 2)(np.ones(3))
    assert "vjp" in str(info.value) and "scalar" in str(info.value)
    with pytest.raises(TypeError, match="jacrev"):
        grad(lambda x: (x, x))(1.0)
    with pytest.raises(TypeError, match="scalar"):
        grad(lambda x: x > 0)(1.0)  # a boolean output has no gradient


@pytest.mark.parametrize("arg", [1, True, np.arange(3), np.array([True, False]),
                                 np.int32(2)], ids=["int", "bool", "int-array",
                                                    "bool-array", "np.int32"])
def test_grad_of_integer_or_bool_input(arg):
    with pytest.raises(TypeError, match="float") as info:
        grad(lambda x: cnp.sum(x * 1.0))(arg)
    assert "dtype" in str(info.value)
    with pytest.raises(TypeError):
        value_and_grad(lambda x: cnp.sum(x * 1.0))(arg)
    with pytest.raises(TypeError):
        jacrev(lambda x: x * 1.0)(arg)
    with pytest.raises(TypeError):
        jacfwd(lambda x: x * 1.0)(arg)


def test_grad_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums"):
        grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)


def test_vjp_with_integer_input_gives_float0_zeros():
    out, pullback = vjp(lambda x, n: x * n, 2.0, np.array([1, 2, 3]))
    np.testing.assert_array_equal(out, [2.0, 4.0, 6.0])
    gx, gn = pullback(np.ones(3))
    np.testing.assert_array_equal(gx, 6.0)
    assert gn.dtype == chainrule.float0 and gn.shape == (3,)
    _, pullback = vjp(lambda b: cnp.where(b, 1.0, 2.0), np.array([True, False]))
    (gb,) = pullback(np.ones(2))
    assert gb.dtype == chainrule.float0 and gb.shape == (2,)


def test_jvp_with_integer_input_and_output():
    y, t = jvp(lambda n: n * 2, (np.array([1, 2]),), (np.zeros(2, chainrule.float0),))
    np.testing.assert_array_equal(y, [2, 4])
    assert t.dtype == chainrule.float0 and t.shape == (2,)


def test_wrong_tangent_shape():
    with pytest.raises(ValueError) as info:
        jvp(cnp.sin, (np.ones(3),), (np.ones(4),))
    assert "(4,)" in str(info.value) and "(3,)" in str(info.value)
    assert "tangent" in str(info.value)


def test_wrong_tangent_dtype_and_structure():
    with pytest.raises(TypeError, match="dtype"):
        jvp(cnp.sin, (np.ones(3),), (np.ones(3, np.float32),))
    with pytest.raises(TypeError, match="structure"):
        jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_wrong_cotangent_shape():
    _, pullback = vjp(cnp.sin, np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        pullback(np.ones((3, 2)))
    assert "(3, 2)" in str(info.value) and "(2, 3)" in str(info.value)
    assert "cotangent" in str(info.value)


def test_wrong_cotangent_structure():
    _, pullback = vjp(lambda x: (x, x), 1.0)
    with pytest.raises(TypeError, match="structure"):
        pullback(1.0)


def test_mismatched_shapes_in_an_op_under_grad():
    with pytest.raises(ValueError) as info:
        grad(lambda x: cnp.sum(cnp.add(x, np.ones(4))))(np.ones(3))
    msg = str(info.value)
    assert "add" in msg and "(3,)" in msg and "(4,)" in msg


@pytest.mark.parametrize("transform", ["eager", "grad", "jvp", "make_jaxpr"])
def test_mismatched_shapes_in_an_op_under_any_transform(transform):
    def f(x):
        return cnp.sum(cnp.multiply(x, np.ones((2, 4))))

    x = np.ones((2, 3))
    with pytest.raises(ValueError) as info:
        if transform == "eager":
            f(x)
        elif transform == "grad":
            grad(f)(x)
        elif transform == "jvp":
            jvp(f, (x,), (x,))
        else:
            make_jaxpr(f)(x)
    msg = str(info.value)
    assert "mul" in msg and "(2, 3)" in msg and "(2, 4)" in msg


@pytest.mark.parametrize("transform", ["grad", "jvp", "make_jaxpr"])
def test_escaped_tracer(transform):
    leaked = []

    def f(x):
        leaked.append(x)
        return cnp.sum(x * 2)

    x = np.ones(2)
    if transform == "grad":
        grad(f)(x)
    elif transform == "jvp":
        jvp(f, (x,), (x,))
    else:
        make_jaxpr(f)(x)
    (tracer,) = leaked
    with pytest.raises(chainrule.EscapedTracerError, match="outside"):
        cnp.sin(tracer)
    with pytest.raises(chainrule.EscapedTracerError):
        tracer + 1.0
    with pytest.raises(chainrule.EscapedTracerError):
        grad(lambda y: cnp.sum(y * tracer))(x)


def test_bool_of_tracer_under_make_jaxpr():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(chainrule.ConcretizationError) as info:
        make_jaxpr(f)(1.0)
    msg = str(info.value)
    assert "static_argnums" in msg and "cond" in msg
    with pytest.raises(chainrule.ConcretizationError):
        make_jaxpr(lambda x: float(x))(1.0)
    with pytest.raises(chainrule.ConcretizationError):
        make_jaxpr(lambda x: np.ones(3)[x])(1)


def test_numpy_on_a_tracer():
    def with_asarray(x):
        return np.asarray(x)

    def with_ufunc(x):
        return np.sin(x)

    for f in (with_asarray, with_ufunc):
        for transform in (make_jaxpr(f), grad(f), lambda x, f=f: jvp(f, (x,), (x,))):
            with pytest.raises(chainrule.ConcretizationError, match="chainrule.numpy"):
                transform(1.0)


def test_numpy_arrays_still_combine_with_tracers():
    # the fix for np.sin(tracer) must keep ndarray <op> tracer working
    def f(x):
        a = np.arange(3.0)
        return cnp.sum(a + x) + cnp.sum(a * x) + cnp.sum(np.float64(2.0) * x) + cnp.sum(
            np.ones((3, 3)) @ x) + cnp.sum(a - x) + cnp.sum(a / (x + 1))

    x = np.array([1.0, 2.0, 3.0])
    g = grad(f)(x)
    np.testing.assert_allclose(g, 1 + np.arange(3.0) + 2 + 3 - 1 - np.arange(3.0) / (x + 1) ** 2)
    closed = make_jaxpr(lambda x: np.ones(2) > x)(np.zeros(2))
    assert [e.prim.name for e in closed.eqns] == ["lt"]  # reflected: x < ones
    np.testing.assert_array_equal(closed(np.array([0.0, 2.0]))[0], [True, False])


@pytest.mark.parametrize("bad", ["abc", object(), np.array([1, "a"], dtype=object),
                                 np.array(["x", "y"]), {1, 2}],
                         ids=["str", "object", "object-array", "str-array", "set"])
def test_non_array_arguments(bad):
    f = lambda x: x  # noqa: E731
    for call in (lambda: grad(f)(bad), lambda: vjp(f, bad), lambda: jvp(f, (bad,), (bad,)),
                 lambda: make_jaxpr(f)(bad), lambda: jacrev(f)(bad), lambda: jacfwd(f)(bad)):
        with pytest.raises(TypeError) as info:
            call()
        assert type(bad).__name__ in str(info.value) or "dtype" in str(info.value)


def test_none_argument_and_ragged_lists():
    with pytest.raises(TypeError):
        grad(lambda x: cnp.sin(x))(None)
    with pytest.raises(TypeError, match="NoneType"):
        cnp.sin(None)
    with pytest.raises(TypeError):
        cnp.sum([1.0, [2.0, 3.0]])
    with pytest.raises(TypeError):
        grad(lambda x: cnp.sum(cnp.asarray(x)))([1.0, [2.0, 3.0]])
    with pytest.raises(TypeError):
        cnp.sin("abc")
    # a ragged list is a valid pytree of floats: its gradient has its structure
    g = grad(lambda xs: xs[0] * xs[1][0] + xs[1][1])([1.0, [2.0, 3.0]])
    assert isinstance(g, list) and isinstance(g[1], list)


def test_has_aux_needs_a_pair():
    with pytest.raises(TypeError, match="pair"):
        grad(lambda x: x * 2, has_aux=True)(1.0)


@pytest.fixture
def half_made_prim():
    prim = Primitive("test_no_rules")
    prim.impl = np.sin
    prim.abstract_eval = lambda x: ShapedArray(tuple(x.shape), np.dtype(x.dtype))
    yield prim
    registry.pop("test_no_rules", None)


def test_primitive_without_vjp_rule(half_made_prim):
    half_made_prim.jvp = lambda primals, tangents, out: tangents[0] * cnp.cos(primals[0])
    np.testing.assert_allclose(jvp(half_made_prim.bind, (1.0,), (1.0,))[1], np.cos(1.0))
    with pytest.raises(NotImplementedError) as info:
        grad(lambda x: half_made_prim.bind(x))(1.0)
    assert "test_no_rules" in str(info.value) and "vjp" in str(info.value)


def test_primitive_without_jvp_rule(half_made_prim):
    half_made_prim.vjp = lambda ct, out, x, *, wants: (ct * cnp.cos(x),)
    np.testing.assert_allclose(grad(lambda x: half_made_prim.bind(x))(1.0), np.cos(1.0))
    with pytest.raises(NotImplementedError) as info:
        jvp(half_made_prim.bind, (1.0,), (1.0,))
    assert "test_no_rules" in str(info.value) and "jvp" in str(info.value)


def test_reduction_errors_name_the_op():
    with pytest.raises(ValueError, match="axis"):
        cnp.sum(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="max"):
        grad(lambda x: cnp.max(x))(np.ones(0))
    with pytest.raises(ValueError, match="reshape"):
        grad(lambda x: cnp.sum(cnp.reshape(x, (4,))))(np.ones(3))
