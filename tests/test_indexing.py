"""Indexing: x[idx], take, take_along_axis, and the gather / scatter_add
primitives, against NumPy, under jvp / grad / make_jaxpr and at second order."""

import numpy as np
import pytest

import chainrule
import chainrule.numpy as cnp
from chainrule.core import ConcretizationError, ShapedArray
from chainrule.numpy._indexing import getitem, take, take_along_axis
from chainrule.primitives.indexing import (
    gather,
    gather_p,
    gather_shape,
    index_tuple,
    scatter_add,
    scatter_add_p,
)
from chainrule.test_util import check_grads

rng = np.random.default_rng(0)
I = np.array([0, 2, 2, -1])           # duplicates and a negative index
J = np.array([[1, 0], [2, -3]])
M3 = np.array([True, False, True])

# (shape of x, index expression)
CASES = [
    ((5,), 2), ((5,), -1), ((5,), slice(1, 4)), ((5,), slice(None, None, 2)),
    ((5,), slice(None, None, -1)), ((5,), slice(-2, 0, -2)), ((5,), slice(4, 1, -1)),
    ((5,), slice(3, 1)), ((5,), slice(-100, 100)), ((5,), ()), ((5,), Ellipsis),
    ((5,), None), ((5,), (None, slice(1, 3), None)), ((3, 4), (1, -1)),
    ((3, 4), (slice(None), 2)), ((3, 4), (Ellipsis, 1)), ((3, 4), (1, Ellipsis)),
    ((3, 4), (slice(None, None, -1), slice(1, None, 2))), ((2, 3, 4), (Ellipsis, None, 0)),
    ((2, 3, 4), (0, None, slice(None), None, -2)), ((), ()), ((), None), ((), Ellipsis),
    ((3, 0), (slice(None), slice(None, None, -1))), ((3, 4), True), ((3, 4), (0, False)),
    # advanced
    ((5,), I), ((5,), [4, 4, 0]), ((5,), []), ((5,), J), ((4, 3), (J, slice(None, None, -1))),
    ((3, 4), (slice(1, None), J)), ((3, 4), (I[:3], [1, 0, 3])), ((3, 4), (I[:3, None], J[0])),
    ((3, 4, 5), (I[:3, None], slice(None), J[0])),       # separated: index shape first
    ((3, 4, 5), (slice(None), I[:3, None], J[0])),       # adjacent: stays in place
    ((3, 4, 5), (1, slice(None), J)),                    # int counts as advanced
    ((3, 4, 5), (Ellipsis, J)), ((3, 4, 5), (J, Ellipsis, 0)), ((3, 4, 5), (None, J, None)),
    ((3, 4, 5), (I[:3, None], None, J[0])), ((3, 4), (slice(None), [[0, 1]], None)),
    ((3,), M3), ((3, 4), M3), ((3, 4), (slice(None), [True, False, False, True])),
    ((3, 2), np.array([[True, False], [True, True], [False, False]])),
    ((2, 3, 4), (slice(None), np.ones((3, 4), bool))), ((3, 4), (M3, 1)),
    ((3, 4), (M3, [0, 3])), ((2, 3), (Ellipsis, np.array([[0], [2]]))),
]


def _ids(case):
    return f"{case[0]}-{case[1]!r}".replace("\n", "")


def _x(shape):
    return rng.normal(size=shape)


def reference_grad(x, idx, w):
    """Jᵀw for the linear map x -> x[idx], built column by column."""
    eye = np.eye(x.size).reshape((x.size,) + x.shape)
    return np.array([np.sum(e[idx] * w) for e in eye]).reshape(x.shape)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_getitem_matches_numpy(case):
    shape, idx = case
    x = _x(shape)
    out = getitem(x, idx)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, x[idx])
    assert out.shape == x[idx].shape


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_getitem_traced_shapes(case):
    shape, idx = case
    x = _x(shape)
    closed = chainrule.make_jaxpr(lambda x: x[idx])(x)
    chainrule.core.check_jaxpr(closed.jaxpr)
    assert closed.out_avals[0].shape == x[idx].shape
    np.testing.assert_array_equal(closed(x)[0], x[idx])


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_getitem_grad_and_jvp(case):
    shape, idx = case
    x = _x(shape)
    w = rng.normal(size=x[idx].shape)
    g = chainrule.grad(lambda x: cnp.sum(x[idx] * w))(x)
    np.testing.assert_allclose(g, reference_grad(x, idx, w), atol=1e-12)
    t = rng.normal(size=shape)
    out, t_out = chainrule.jvp(lambda x: x[idx], (x,), (t,))
    np.testing.assert_array_equal(out, x[idx])
    np.testing.assert_array_equal(t_out, t[idx])


@pytest.mark.parametrize("case", [c for c in CASES if np.size(_x(c[0])[c[1]]) > 0], ids=_ids)
def test_getitem_second_order(case):
    # f(x) = sum(w x[idx]^2): Hv = Jᵀ(2 w (J v)), exactly
    shape, idx = case
    x, v = _x(shape), _x(shape)
    w = rng.normal(size=x[idx].shape)

    def f(x):
        return cnp.sum(w * x[idx] ** 2)

    hv = chainrule.grad(lambda x: cnp.sum(chainrule.grad(f)(x) * v))(x)
    np.testing.assert_allclose(hv, reference_grad(x, idx, 2 * w * v[idx]), atol=1e-10)


def test_duplicates_accumulate():
    g = chainrule.grad(lambda x: cnp.sum(x[[0, 0, 0, 2, -1]]))(np.ones(3))
    np.testing.assert_array_equal(g, [3.0, 0.0, 2.0])
    g = chainrule.grad(lambda x: cnp.sum(x[np.array([[1, 1], [1, 0]]), ::2] * 2.0))(
        np.ones((2, 3)))
    np.testing.assert_array_equal(g, [[2, 0, 2], [6, 0, 6]])


def test_basic_indexing_is_cheap():
    x = _x((4, 5))
    for idx in [(1, slice(None, None, -2)), (None, Ellipsis, 3), slice(1, -1)]:
        fwd = str(chainrule.make_jaxpr(lambda x, idx=idx: x[idx])(x))
        assert "gather" not in fwd, fwd
        bwd = str(chainrule.make_jaxpr(chainrule.grad(lambda x, idx=idx: cnp.sum(x[idx] ** 2)))(x))
        assert "scatter" not in bwd and "gather" not in bwd and "pad" in bwd, bwd
    fwd = str(chainrule.make_jaxpr(lambda x: x[:, [0, 0]])(x))
    assert "gather" in fwd
    bwd = str(chainrule.make_jaxpr(chainrule.grad(lambda x: cnp.sum(x[:, [0, 0]] ** 2)))(x))
    assert "scatter_add" in bwd


def test_traced_integer_index():
    x = _x((4, 3))
    for i in [2, np.array([3, 0, 0])]:
        closed = chainrule.make_jaxpr(lambda x, i: x[i, 1:])(x, i)
        assert "gather" in str(closed)
        np.testing.assert_array_equal(closed(x, i)[0], x[i, 1:])
    i = np.array([1, 1, 2])
    check_grads(lambda x: chainrule.make_jaxpr(lambda x, i: x[i])(x, i)(x, i)[0], (x,), 1)


def test_errors():
    x = _x((3, 4))
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for axis 0 .*\(3, 4\)"):
        getitem(x, 3)
    with pytest.raises(IndexError, match=r"index -5 is out of bounds for axis 1"):
        getitem(x, (0, -5))
    with pytest.raises(IndexError, match=r"too many indices .*\(3, 4\)"):
        getitem(x, (0, 0, 0))
    with pytest.raises(IndexError, match="single ellipsis"):
        getitem(x, (Ellipsis, Ellipsis))
    with pytest.raises(IndexError, match="out of bounds"):
        getitem(x, [0, 5])
    with pytest.raises(IndexError, match="valid indices"):
        getitem(x, 1.0)
    with pytest.raises(IndexError, match="boolean index did not match"):
        getitem(x, np.array([True, False]))
    with pytest.raises(ConcretizationError, match="where"):
        chainrule.make_jaxpr(lambda x: x[x > 0])(x)
    with pytest.raises(TypeError, match="integer dtype"):
        gather(x, [np.array([0.0])], (("array", 0),))
    with pytest.raises(IndexError, match="cannot be broadcast"):
        gather(x, [np.array([0, 1]), np.array([0, 1, 2])], (("array", 0), ("array", 1)))
    with pytest.raises(ValueError, match="bad index spec"):
        gather(x, [], (("slice", 0, 1, 0),))
    with pytest.raises(IndexError):  # traced past our check: NumPy's run-time error
        gather(x, [np.array([7])], (("array", 0),))


def test_concrete_mask_under_grad():
    # in eager grad the mask is concrete, so boolean indexing is allowed
    x = np.array([-1.0, 2.0, -3.0, 4.0])
    g = chainrule.grad(lambda x: cnp.sum(x[x > 0] ** 2))(x)
    np.testing.assert_allclose(g, [0, 4, 0, 8])


# ------------------------------------------------------ take & friends ---

@pytest.mark.parametrize("shape,indices,axis", [
    ((5,), [0, 4, 4, -1], None), ((3, 4), [[0, 11], [5, 5]], None), ((3, 4), [2, 0, 2], 0),
    ((3, 4), np.array([[1], [3]]), 1), ((2, 3, 4), [0, -1], -1), ((3, 4), [], 1)])
def test_take(shape, indices, axis):
    x = _x(shape)
    expected = np.take(x, indices, axis=axis)
    np.testing.assert_array_equal(take(x, indices, axis=axis), expected)
    w = rng.normal(size=expected.shape)
    g = chainrule.grad(lambda x: cnp.sum(take(x, indices, axis=axis) * w))(x)
    flat = np.zeros(x.size if axis is None else 0)
    if axis is None:
        np.add.at(flat, np.asarray(indices, int), w)
        np.testing.assert_allclose(g, flat.reshape(shape))
    else:
        idx = (slice(None),) * (axis % len(shape)) + (np.asarray(indices, int),)
        np.testing.assert_allclose(g, reference_grad(x, idx, w))


def test_take_modes():
    x, ind = _x((5,)), np.array([-7, 0, 6, 12])
    for mode in ("wrap", "clip"):
        np.testing.assert_array_equal(take(x, ind, mode=mode), np.take(x, ind, mode=mode))
        traced = chainrule.make_jaxpr(lambda x, i, mode=mode: take(x, i, mode=mode))(x, ind)
        np.testing.assert_array_equal(traced(x, ind)[0], np.take(x, ind, mode=mode))
    with pytest.raises(IndexError):
        take(x, ind)


@pytest.mark.parametrize("shape,ishape,axis", [
    ((4,), (6,), 0), ((3, 4), (3, 2), 1), ((3, 4), (5, 4), 0), ((3, 4), (1, 4), 0),
    ((2, 3, 4), (2, 3, 1), -1), ((3, 4), (3, 1), 1), ((3, 4), (12,), None)])
def test_take_along_axis(shape, ishape, axis):
    x = _x(shape)
    n = x.size if axis is None else shape[axis]
    ind = rng.integers(-n, n, size=ishape)
    expected = np.take_along_axis(x, ind, axis=axis)
    np.testing.assert_array_equal(take_along_axis(x, ind, axis), expected)
    w = rng.normal(size=expected.shape)
    g = chainrule.grad(lambda x: cnp.sum(take_along_axis(x, ind, axis) * w))(x)
    eye = np.eye(x.size).reshape((x.size,) + x.shape)
    ref = np.array([np.sum(np.take_along_axis(e, ind, axis=axis) * w) for e in eye])
    np.testing.assert_allclose(g, ref.reshape(shape))
    check_grads(lambda x: take_along_axis(x, ind, axis) ** 2, (x,), 2)


def test_take_along_axis_argsort():
    x = _x((3, 5))
    order = np.argsort(x, axis=1)
    np.testing.assert_array_equal(take_along_axis(x, order, 1), np.sort(x, axis=1))


# ------------------------------------------------------------- primitives ---

@pytest.mark.parametrize("prim", [gather_p, scatter_add_p], ids=lambda p: p.name)
def test_primitive_samples(prim):
    samples = prim.samples(np.random.default_rng(1))
    assert len(samples) >= 3
    for args, params in samples:
        spec = params["spec"]
        out = prim.impl(*args, **params)
        aval = prim.abstract_eval(*[ShapedArray(np.shape(a), np.asarray(a).dtype)
                                    for a in args], **params)
        assert aval.shape == out.shape and aval.dtype == out.dtype
        if prim is gather_p:
            x, *arrays = args
            np.testing.assert_array_equal(out, x[index_tuple(spec, arrays)])
            check_grads(lambda x, a=arrays, s=spec: gather(x, a, s), (x,), 2)
        else:
            operand, updates, *arrays = args
            expected = operand.copy()
            np.add.at(expected, index_tuple(spec, arrays), updates)
            np.testing.assert_allclose(out, expected)
            check_grads(lambda o, u, a=arrays, s=spec: scatter_add(o, u, a, s),
                        (operand, updates), 2)
            check_grads(lambda o, u, a=arrays, s=spec: scatter_add(o * u.sum(), u ** 2, a, s),
                        (operand, updates), 2)


def test_scatter_add_accumulates():
    out = scatter_add(np.zeros(4), np.ones(5), [np.array([0, 0, 3, 0, -1])], (("array", 0),))
    np.testing.assert_array_equal(out, [3, 0, 0, 2])
    ct = np.arange(4.0)
    _, back = chainrule.vjp(lambda u: scatter_add(np.zeros(4), u, [np.array([0, 0, 3, 0, -1])],
                                                  (("array", 0),)), np.ones(5))
    np.testing.assert_array_equal(back(ct)[0], [0, 0, 3, 0, 3])


def test_gather_shape_rules():
    # shapes by NumPy's rules, including size-0 axes and separated indices
    r = np.random.default_rng(2)
    kinds = [("slice", None, None, None), ("slice", 1, None, 2), ("slice", None, None, -1),
             ("slice", -1, 0, -2), ("newaxis",), "array"]
    for _ in range(300):
        ndim = int(r.integers(0, 4))
        shape = tuple(int(n) for n in r.integers(0, 4, size=ndim))
        spec, arrays, consumed = [], [], 0
        for _ in range(int(r.integers(0, ndim + 2))):
            k = kinds[int(r.integers(len(kinds)))]
            if k != ("newaxis",) and consumed == ndim:
                continue
            if k == "array":
                if shape[consumed] == 0:
                    continue
                arrays.append(r.integers(0, shape[consumed], size=(2, 1)[:len(arrays) + 1]))
                k = ("array", len(arrays) - 1)
            consumed += k != ("newaxis",)
            spec.append(k)
        x = np.zeros(shape)
        avals = [ShapedArray(a.shape, a.dtype) for a in arrays]
        assert gather_shape("gather", shape, tuple(spec), avals) == \
            x[index_tuple(spec, arrays)].shape, (shape, spec)
