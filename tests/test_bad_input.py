"""Bad and unusual input: a clear error and nothing left behind, or the right answer.

Every transform gets the same treatment. Inputs it cannot take (strings,
None, objects that are not arrays, ragged lists, object arrays, unhashable
static arguments, a cotangent shaped unlike the output, writing into a traced
array) raise an error that names the problem, and the next normal call works:
no transform is left running, no half-made cache entry stays. Inputs that are
merely unusual (integer and boolean arrays, read-only and non-contiguous
arrays, 0-d and empty arrays, float32 and float64 leaves in one pytree) give
the right answer.
"""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import _eval, current_interpreter
from chainrule.tree_util import tree_leaves, tree_map, tree_structure


def f(x):
    return cnp.sum(cnp.sin(x) * x)


def df(x):
    return np.sin(x) + x * np.cos(x)


# one entry per transform: (name, call(fun, x)); fun is scalar-valued
TRANSFORMS = {
    "eager": lambda fun, x: fun(x),
    "grad": lambda fun, x: cr.grad(fun)(x),
    "value_and_grad": lambda fun, x: cr.value_and_grad(fun)(x),
    "vjp": lambda fun, x: cr.vjp(fun, x)[1](np.ones(())),
    "jvp": lambda fun, x: cr.jvp(fun, (x,), (x,)),
    "linearize": lambda fun, x: cr.linearize(fun, x)[1](x),
    "jacfwd": lambda fun, x: cr.jacfwd(fun)(x),
    "jacrev": lambda fun, x: cr.jacrev(fun)(x),
    "hessian": lambda fun, x: cr.hessian(fun)(x),
    "vmap": lambda fun, x: cr.vmap(fun)(x),
    "jit": lambda fun, x: cr.jit(fun)(x),
    "jit(grad)": lambda fun, x: cr.jit(cr.grad(fun))(x),
    "make_jaxpr": lambda fun, x: cr.make_jaxpr(fun)(x),
}


def _still_works(name):
    """The transform works on good input after an error: nothing was left behind."""
    assert current_interpreter() is _eval
    x = np.array([0.5, 1.5])
    out = TRANSFORMS[name](f, np.stack([x, x]) if name == "vmap" else x)
    if name == "grad":
        np.testing.assert_allclose(out, df(x))


class NotAnArray:
    """No __array__, no numbers inside."""


BAD = [
    ("str", "abc", "str"),
    ("None", None, None),
    ("object", NotAnArray(), "NotAnArray"),
    # (vmap sees a pytree whose first leaf, 1.0, has no axis 0)
    ("ragged list", [1.0, [2.0, 3.0]], ("ragged", "inhomogeneous", "out of range")),
    ("object array", np.array([1.0, "a"], dtype=object), "object"),
    ("string array", np.array(["x", "y"]), "<U"),
    ("bytes", b"\x00\x01", "bytes"),
    ("dict of str", {"a": "b"}, ("str", "dict")),
]


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@pytest.mark.parametrize("what,bad,word", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_raise_a_clear_error_and_leave_nothing_behind(what, bad, word, name):
    with pytest.raises((TypeError, ValueError)) as info:
        TRANSFORMS[name](f, bad)
    msg = str(info.value)
    if word is not None:
        assert any(w in msg for w in ((word,) if isinstance(word, str) else word)), msg
    else:  # None is an empty pytree: either the op or vmap says what is missing
        assert "NoneType" in msg or "no argument is batched" in msg, msg
    # never a bare internal error: the message names what went wrong
    assert not isinstance(info.value, (AttributeError, KeyError, IndexError))
    _still_works(name)


def test_bad_arguments_inside_pytrees_name_the_type():
    for bad in ({"w": np.ones(2), "name": "layer1"}, [np.ones(2), None, object()]):
        with pytest.raises(TypeError) as info:
            cr.grad(lambda p: cnp.sum(tree_leaves(p)[0]))(bad)
        assert "str" in str(info.value) or "object" in str(info.value)
        _still_works("grad")


def test_a_failed_jit_trace_is_not_cached():
    calls = []

    def g(x, mode):
        calls.append(mode)
        if mode == "bad":
            return cnp.sin("not an array")
        return cnp.sum(x * 2.0)

    jg = cr.jit(g, static_argnums=1)
    x = np.ones(3)
    with pytest.raises(TypeError, match="str"):
        jg(x, "bad")
    assert jg(x, "good") == 6.0
    with pytest.raises(TypeError, match="str"):   # traced again, fails again
        jg(x, "bad")
    assert calls == ["bad", "good", "bad"]
    assert jg(x, "good") == 6.0 and calls == ["bad", "good", "bad"]  # cached
    assert current_interpreter() is _eval


def test_an_exception_inside_the_function_leaves_no_transform_running():
    def boom(x):
        y = cnp.sin(x)
        raise RuntimeError(f"user error at {y.shape}")

    for name in sorted(TRANSFORMS):
        with pytest.raises(RuntimeError, match="user error"):
            TRANSFORMS[name](boom, np.ones(2))
        _still_works(name)


# --------------------------------------------------------- complex input ---

def test_complex_inputs_where_unsupported_raise_clearly():
    # operations that have no meaning for complex numbers refuse them (with
    # any transform), and nothing is left behind
    z = np.array([2.0 + 1j, 0.5 - 3j])
    for call in (lambda: cnp.floor(z), lambda: cnp.arctan2(z, z),
                 lambda: cr.grad(lambda z: cnp.sum(cnp.abs(cnp.floor(z))))(z),
                 lambda: cr.jit(lambda z: cnp.arctan2(z, 1.0))(z)):
        with pytest.raises(TypeError, match="complex|not supported"):
            call()
        _still_works("grad")
        _still_works("jit")


def test_complex_values_run_under_jit_and_vmap():
    # no derivatives involved: complex arrays go through like NumPy's
    z = np.array([1.0 + 2.0j, -0.5j, 3.0])
    g = lambda z: z * z + 1.0  # noqa: E731
    np.testing.assert_allclose(cr.jit(g)(z), g(z))
    np.testing.assert_allclose(cr.vmap(g)(z), g(z))


# ---------------------------------------------- integer and boolean input ---


def h(x, n, mask):
    return cnp.sum(cnp.where(mask, x ** 2, x) * n)


def dh(x, n, mask):
    return np.where(mask, 2 * x, 1.0) * n


@pytest.mark.parametrize("name", ["grad", "jit(grad)", "vmap(grad)", "jacrev", "jacfwd",
                                  "vjp", "jvp"])
def test_integer_and_boolean_arguments_that_are_not_differentiated(name):
    x = np.array([0.5, -1.0, 2.0])
    n = np.array([1, 2, 3], dtype=np.int32)
    mask = np.array([True, False, True])
    want = dh(x, n, mask)
    if name == "grad":
        got = cr.grad(h)(x, n, mask)
    elif name == "jit(grad)":
        got = cr.jit(cr.grad(h))(x, n, mask)
    elif name == "vmap(grad)":
        got = cr.vmap(cr.grad(h), in_axes=(0, None, 0))(np.stack([x, x]), n,
                                                        np.stack([mask, mask]))
        want = np.stack([want, want])
    elif name == "jacrev":
        got = cr.jacrev(h)(x, n, mask)
    elif name == "jacfwd":
        got = cr.jacfwd(h)(x, n, mask)
    elif name == "vjp":
        gx, gn, gm = cr.vjp(h, x, n, mask)[1](np.ones(()))
        assert gn.dtype == cr.float0 and gm.dtype == cr.float0
        assert gn.shape == n.shape and gm.shape == mask.shape
        got = gx
    else:
        t0 = np.zeros(3, cr.float0)
        got = np.array([cr.jvp(h, (x, n, mask), (np.eye(3)[i], t0, t0))[1] for i in range(3)])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_integer_and_boolean_arrays_through_jit_and_vmap():
    n = np.arange(6, dtype=np.int64).reshape(2, 3)
    b = n % 2 == 0
    g = lambda n, b: (n * 3 - 1, cnp.logical_not(b), cnp.where(b, n, -n))  # noqa: E731
    for got, want in zip(cr.jit(g)(n, b), g(n, b)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for got, want in zip(cr.vmap(g)(n, b), g(n, b)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_differentiating_integer_or_boolean_input_is_refused():
    total = lambda v: cnp.sum(v * 1.0)  # noqa: E731
    for x in (np.arange(3), np.array([True, False])):
        for transform in (cr.grad(total), cr.jacrev(lambda v: v * 1.0), cr.hessian(total),
                          cr.jit(cr.grad(total))):
            with pytest.raises(TypeError, match="float"):
                transform(x)
            _still_works("grad")


# -------------------------------------------- read-only, non-contiguous ---


def _views():
    base = np.linspace(-2.0, 2.0, 24).reshape(4, 6)
    ro = base.copy()
    ro.flags.writeable = False
    return {
        "read-only": ro,
        "read-only view": ro[1:3],
        "broadcast_to (read-only, strides 0)": np.broadcast_to(base[0], (3, 6)),
        "strided": base[:, ::2],
        "transposed": base.T,
        "reversed": base[::-1, ::-1],
        "fortran": np.asfortranarray(base),
        "column": base[:, 1],
    }


def _all_ways(x):
    """(name, result, expected) for every transform on this input."""
    g = lambda x: cnp.sum(cnp.tanh(x) * x + x ** 3)  # noqa: E731
    dg = np.tanh(x) + x / np.cosh(x) ** 2 + 3 * x ** 2
    jx = np.asarray(x)
    return [
        ("eager", g(x), np.sum(np.tanh(jx) * jx + jx ** 3)),
        ("jit", cr.jit(g)(x), np.sum(np.tanh(jx) * jx + jx ** 3)),
        ("grad", cr.grad(g)(x), dg),
        ("jit(grad)", cr.jit(cr.grad(g))(x), dg),
        ("vjp", cr.vjp(lambda x: cnp.tanh(x) * 2.0, x)[1](np.ones(x.shape))[0],
         2 / np.cosh(jx) ** 2),
        ("jvp", cr.jvp(g, (x,), (np.ones(x.shape),))[1], np.sum(dg)),
        ("vmap(grad)", cr.vmap(cr.grad(g))(x), dg),
        ("jit(vmap(grad))", cr.jit(cr.vmap(cr.grad(g)))(x), dg),
        ("hessian diag", np.diag(cr.hessian(g)(x.reshape(-1)).reshape(x.size, x.size))
         if x.size <= 24 else None, None),
    ]


@pytest.mark.parametrize("kind", sorted(_views()))
def test_read_only_and_non_contiguous_arrays_work(kind):
    x = _views()[kind]
    before = x.copy()
    flags = (x.flags.writeable, x.flags.c_contiguous)
    for name, got, want in _all_ways(x):
        if want is None:
            continue
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)
        assert np.shape(got) == np.shape(want), name
    np.testing.assert_array_equal(x, before)                 # never written to
    assert (x.flags.writeable, x.flags.c_contiguous) == flags
    # the Hessian of the same function on the same values, copied
    h_view = cr.hessian(lambda v: cnp.sum(cnp.tanh(v) * v))(x)
    h_copy = cr.hessian(lambda v: cnp.sum(cnp.tanh(v) * v))(np.array(x))
    np.testing.assert_allclose(h_view, h_copy, rtol=1e-12, atol=1e-12)


def test_read_only_constants_and_pytrees_under_jit():
    w = np.arange(6.0).reshape(2, 3)
    w.flags.writeable = False
    b = np.broadcast_to(np.float64(0.5), (2,))
    g = cr.jit(lambda p, x: cnp.sum(cnp.tanh(x @ p["w"] + p["b"]) * w[:, 0]))
    p = {"w": w.T.copy(), "b": b}
    p["w"].flags.writeable = False
    x = np.ones((4, 3))
    want = np.sum(np.tanh(x @ p["w"] + p["b"]) * w[:, 0])
    np.testing.assert_allclose(g(p, x), want, rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.grad(lambda p: g(p, x)))(p)["b"],
                               cr.grad(lambda p: g(p, x))(p)["b"], rtol=1e-12)


# ------------------------------------------------------ 0-d and empty ---


@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (0, 3, 1)])
def test_zero_d_and_empty_arrays(shape):
    x = np.full(shape, 0.25)
    g = lambda x: cnp.sum(cnp.sin(x) * x)  # noqa: E731
    v = lambda x: cnp.sin(x) * 2.0  # noqa: E731
    np.testing.assert_allclose(g(x), np.sum(np.sin(x) * x))
    for got in (cr.grad(g)(x), cr.jit(cr.grad(g))(x), cr.vjp(v, x)[1](np.ones(shape))[0],
                cr.jvp(v, (x,), (np.ones(shape),))[1]):
        assert isinstance(got, np.ndarray) and got.shape == shape and got.dtype == np.float64
    np.testing.assert_allclose(cr.grad(g)(x), np.sin(x) + x * np.cos(x))
    for jac in (cr.jacfwd(v)(x), cr.jacrev(v)(x)):
        assert jac.shape == shape + shape
        np.testing.assert_allclose(jac.reshape(x.size, x.size),
                                   np.diag(2 * np.cos(x).reshape(-1)))
    assert cr.hessian(g)(x).shape == shape + shape
    jx = cr.jit(v)(x)
    assert jx.shape == shape and isinstance(jx, np.ndarray)


def test_vmap_over_an_empty_batch_and_of_empty_arrays():
    g = cr.grad(lambda x: cnp.sum(x ** 2))
    assert cr.vmap(g)(np.zeros((0, 3))).shape == (0, 3)
    assert cr.vmap(g)(np.zeros((2, 0))).shape == (2, 0)
    assert cr.jit(cr.vmap(g))(np.zeros((0, 3))).shape == (0, 3)


def test_python_scalars_and_numpy_scalars():
    for x in (0.5, np.float64(0.5), np.array(0.5), np.float32(0.5)):
        g = cr.grad(lambda x: cnp.sin(x) * x)(x)
        assert isinstance(g, np.ndarray) and g.shape == ()
        assert g.dtype == np.asarray(x).dtype
        np.testing.assert_allclose(g, df(np.float64(0.5)), rtol=1e-6)


# ----------------------------------------------- mixed dtypes in a pytree ---


def loss(p):
    return cnp.sum(p["a"] ** 2 * 0.5) + cnp.sum(cnp.sin(p["b"])) + cnp.sum(p["c"][0] * 3)


def _params():
    return {"a": np.array([1.0, -2.0], np.float32), "b": np.linspace(0, 1, 3),
            "c": [np.array([0.5, 1.5], np.float32)]}


def _check_grads_tree(g, p):
    assert tree_structure(g) == tree_structure(p)
    for gl, pl in zip(tree_leaves(g), tree_leaves(p)):
        assert gl.dtype == pl.dtype and gl.shape == pl.shape
    np.testing.assert_allclose(g["a"], p["a"], rtol=1e-6)
    np.testing.assert_allclose(g["b"], np.cos(p["b"]), rtol=1e-12)
    np.testing.assert_allclose(g["c"][0], [3.0, 3.0], rtol=1e-6)


@pytest.mark.parametrize("name", ["grad", "jit(grad)", "vjp", "jacrev", "value_and_grad"])
def test_float32_and_float64_leaves_in_one_pytree(name):
    p = _params()
    if name == "grad":
        g = cr.grad(loss)(p)
    elif name == "jit(grad)":
        g = cr.jit(cr.grad(loss))(p)
    elif name == "vjp":
        out, pullback = cr.vjp(loss, p)
        assert out.dtype == np.float64
        (g,) = pullback(np.ones(()))
    elif name == "jacrev":
        g = cr.jacrev(loss)(p)
    else:
        value, g = cr.value_and_grad(loss)(p)
        np.testing.assert_allclose(value, 2.5 + np.sum(np.sin(p["b"])) + 6.0, rtol=1e-6)
    _check_grads_tree(g, p)


def test_float32_and_float64_leaves_under_vmap_and_jvp():
    p = _params()
    batch = tree_map(lambda x: np.stack([x, x * 2]), p)
    g = cr.vmap(cr.grad(loss))(batch)
    for gl, pl in zip(tree_leaves(g), tree_leaves(batch)):
        assert gl.dtype == pl.dtype and gl.shape == pl.shape
    t = tree_map(np.ones_like, p)
    y, ty = cr.jvp(loss, (p,), (t,))
    assert y.dtype == ty.dtype == np.float64
    np.testing.assert_allclose(ty, -1.0 + np.sum(np.cos(p["b"])) + 6.0, rtol=1e-6)


# -------------------------------------------------- cotangent structure ---


@pytest.mark.parametrize("ct", [
    [np.ones(2), np.ones(3)],                       # list for a tuple
    (np.ones(2),),                                  # a leaf missing
    (np.ones(2), np.ones(3), np.ones(1)),           # a leaf too many
    {"a": np.ones(2), "b": np.ones(3)},             # dict for a tuple
    (np.ones(2), None),                             # None for a leaf
    (np.ones(2), {"x": np.ones(3)}),                # a subtree for a leaf
], ids=["list-for-tuple", "missing", "extra", "dict", "None", "subtree"])
def test_cotangent_structure_must_match_the_output(ct):
    out, pullback = cr.vjp(lambda x: (x * 2.0, cnp.sin(x[0]) * cnp.ones(3)), np.ones(2))
    with pytest.raises(TypeError, match="structure") as info:
        pullback(ct)
    assert "cotangent" in str(info.value)
    # the pullback is still good
    (g,) = pullback((np.ones(2), np.ones(3)))
    np.testing.assert_allclose(g, [2.0 + 3 * np.cos(1.0), 2.0])
    (g,) = pullback((np.ones(2), np.ones(3)))
    np.testing.assert_allclose(g, [2.0 + 3 * np.cos(1.0), 2.0])


def test_cotangent_shape_and_dtype_must_match_the_output():
    out, pullback = cr.vjp(lambda x: {"y": x * 2.0}, np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        pullback({"y": np.ones(4)})
    with pytest.raises(TypeError, match="dtype"):
        pullback({"y": np.ones(3, complex)})
    with pytest.raises(TypeError, match="str"):
        pullback({"y": "abc"})
    np.testing.assert_allclose(pullback({"y": np.ones(3)})[0], 2.0)


# ---------------------------------------------------- static arguments ---


@pytest.mark.parametrize("static", [[1, 2], {"k": 1}, {1, 2}, np.arange(3)],
                         ids=["list", "dict", "set", "ndarray"])
def test_unhashable_static_arguments(static):
    calls = []

    def g(x, s):
        calls.append(1)
        return x * len(s)

    jg = cr.jit(g, static_argnums=1)
    with pytest.raises(TypeError, match="hashable") as info:
        jg(np.ones(2), static)
    assert type(static).__name__ in str(info.value)
    assert calls == []   # refused before tracing
    np.testing.assert_allclose(jg(np.ones(2), (1, 2)), [2.0, 2.0])
    kg = cr.jit(g, static_argnames="s")
    with pytest.raises(TypeError, match="hashable"):
        kg(np.ones(2), s=static)
    np.testing.assert_allclose(kg(np.ones(2), s=(1, 2, 3)), [3.0, 3.0])


# ------------------------------------------------------- mutation ---


def mutates(x):
    x[0] = 1.0                 # the argument: a plain ndarray outside, a tracer inside
    return cnp.sum(x * x)


def mutates_a_traced_value(x):
    y = cnp.sin(x)
    y[0] = 1.0                 # a value computed from the input
    return cnp.sum(y * x)


@pytest.mark.parametrize("fun", [mutates, mutates_a_traced_value],
                         ids=["argument", "intermediate"])
@pytest.mark.parametrize("name", ["grad", "jit", "jvp", "vmap", "make_jaxpr", "jacfwd",
                                  "jacrev", "jit(grad)", "vjp"])
def test_writing_into_a_traced_array_raises_and_points_to_at(name, fun):
    x = np.array([3.0, 2.0])   # a plain ndarray: under a transform f sees a tracer
    with pytest.raises(TypeError) as info:
        TRANSFORMS[name](fun, np.stack([x, x]) if name == "vmap" else x)
    msg = str(info.value)
    assert ".at[" in msg and "immutable" in msg, msg
    np.testing.assert_array_equal(x, [3.0, 2.0])     # the caller's array is untouched
    _still_works(name)


def test_the_functional_update_gives_the_right_gradient():
    def updated(x):
        x = x.at[0].set(1.0)
        return cnp.sum(x * x)

    x = np.array([3.0, 2.0])
    np.testing.assert_allclose(cr.grad(updated)(x), [0.0, 4.0])
    np.testing.assert_allclose(cr.jit(cr.grad(updated))(x), [0.0, 4.0])
    assert x[0] == 3.0


def test_other_in_place_operations_on_tracers_never_give_a_wrong_gradient():
    def sorts(x):
        x.sort()
        return cnp.sum(x * np.arange(3.0))

    def copies(x):
        np.copyto(x, 1.0)
        return cnp.sum(x)

    for g in (sorts, copies):
        with pytest.raises((TypeError, AttributeError)):
            cr.grad(g)(np.array([3.0, 1.0, 2.0]))
        _still_works("grad")

    def augmented(x):      # rebinds x to a new value: fine, x's caller is unaffected
        x += 1.0
        return cnp.sum(x * x)

    x = np.zeros(2)
    np.testing.assert_allclose(cr.grad(augmented)(x), [2.0, 2.0])
    np.testing.assert_allclose(cr.jit(cr.grad(augmented))(x), [2.0, 2.0])
    np.testing.assert_array_equal(x, [0.0, 0.0])
