"""Indexed updates x.at[idx].set/add/subtract/multiply/divide/min/max/get:
values against NumPy (repeated indices included), gradients to both the
array and the values, vmap against a loop, and the in-place error."""

import numpy as np
import pytest

import chainrule
import chainrule.numpy as cnp
from chainrule.primitives.scatter import scatter
from chainrule.test_util import check_grads

rng = np.random.default_rng(0)

# (shape of x, index) — ints, slices, new axes, ellipsis, repeated and
# negative integer arrays, masks, and index arrays separated by a slice
INDICES = [
    ((5,), 2), ((5,), -1), ((5,), slice(1, 4)), ((5,), slice(None, None, -2)),
    ((5,), np.array([0, 2, 2, 4, -1])), ((5,), [3, 3, 3]), ((3, 4), (1, slice(None))),
    ((3, 4), (slice(None), 2)), ((3, 4), (Ellipsis, np.array([0, 0, 3]))),
    ((3, 4), (np.array([[0], [2]]), np.array([1, 3, 1]))), ((3, 4), np.array([True, False, True])),
    ((3, 4, 5), (slice(None), np.array([[0], [2]]), np.array([1, 3, 3]))),
    ((3, 4, 2), (np.array([[0], [2], [2]]), slice(None), np.array([1, 0]))),
    ((3, 4), (None, 1)), ((2, 3), ()),
]
IDS = [f"{s}-{i!r}".replace("\n", "") for s, i in INDICES]


def ufunc_at(method, x, idx, v):
    out = np.array(x, copy=True)
    if method == "set":
        out[idx] = v
    else:
        {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
         "divide": np.divide, "min": np.minimum, "max": np.maximum}[method].at(out, idx, v)
    return out


def values_for(x, idx, method):
    shape = np.shape(x[idx])
    v = rng.normal(size=shape) * 2
    if method in ("multiply", "divide"):
        v = rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return v


METHODS = ["set", "add", "subtract", "multiply", "divide", "min", "max"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape,idx", INDICES, ids=IDS)
def test_values_match_numpy(method, shape, idx):
    x = rng.normal(size=shape)
    x0 = x.copy()
    v = values_for(x, idx, method)
    got = getattr(cnp.at(x)[idx], method)(v)
    np.testing.assert_allclose(got, ufunc_at(method, x, idx, v), rtol=1e-14)
    np.testing.assert_array_equal(x, x0)  # functional: x itself is unchanged
    # broadcast values: a scalar, and the last axis only
    got = getattr(cnp.at(x)[idx], method)(1.5)
    np.testing.assert_allclose(got, ufunc_at(method, x, idx, 1.5), rtol=1e-14)
    np.testing.assert_array_equal(cnp.at(x)[idx].get(), x[idx])


@pytest.mark.parametrize("method", ["set", "add", "multiply", "min", "max"])
@pytest.mark.parametrize("shape,idx", INDICES, ids=IDS)
def test_grads_to_array_and_values(method, shape, idx):
    x = rng.normal(size=shape)
    v = values_for(x, idx, method)

    def f(x, v):
        return getattr(cnp.at(x)[idx], method)(v)

    check_grads(f, (x, v), order=2, modes=("fwd", "rev"))


def test_tracers_have_at_and_transforms_see_it():
    x = np.arange(5.0)
    closed = chainrule.make_jaxpr(lambda x: x.at[1:3].set(x[0]))(x)
    assert "scatter" in str(closed)
    y, t = chainrule.jvp(lambda x: x.at[2].multiply(x[1]), (x,), (np.ones(5),))
    np.testing.assert_allclose(y, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(t, [1, 1, 1 * 1 + 2 * 1, 1, 1])


def test_set_with_repeated_indices_last_write_wins_and_gets_the_gradient():
    x = np.zeros(3)
    v = np.array([1.0, 2.0, 3.0, 4.0])
    idx = np.array([0, 2, 0, 2])
    np.testing.assert_allclose(cnp.at(x)[idx].set(v), [3.0, 0.0, 4.0])
    gx, gv = chainrule.grad(lambda x, v: cnp.sum(x.at[idx].set(v) * np.array([1., 2., 3.])),
                            argnums=(0, 1))(x, v)
    np.testing.assert_allclose(gx, [0.0, 2.0, 0.0])        # overwritten: no gradient
    np.testing.assert_allclose(gv, [0.0, 0.0, 1.0, 3.0])   # only the winning writes


def test_add_with_repeated_indices_accumulates():
    x = np.zeros(3)
    idx = [1, 1, 1, 2]
    np.testing.assert_allclose(cnp.at(x)[idx].add(1.0), [0.0, 3.0, 1.0])
    g = chainrule.grad(lambda v: cnp.sum(cnp.at(x)[idx].add(v) ** 2))(np.ones(4))
    np.testing.assert_allclose(g, [6.0, 6.0, 6.0, 2.0])


def test_multiply_with_zero_updates_at_a_repeated_position():
    x = np.array([2.0, 3.0])
    idx = np.array([0, 0, 0, 1])
    for v in ([0.0, 5.0, 7.0, 1.0], [0.0, 0.0, 7.0, 1.0], [4.0, 5.0, 7.0, 0.0]):
        v = np.array(v)
        gx, gv = chainrule.grad(lambda x, v: cnp.sum(x.at[idx].multiply(v)),
                                argnums=(0, 1))(x, v)
        np.testing.assert_allclose(gx, [np.prod(v[:3]), v[3]])
        want = [x[0] * np.prod(np.delete(v[:3], k)) for k in range(3)] + [x[1]]
        np.testing.assert_allclose(gv, want)
        assert np.all(np.isfinite(chainrule.hessian(
            lambda v: cnp.sum(cnp.at(x)[idx].multiply(v)))(v)))


def test_min_max_ties_share_the_gradient():
    x = np.array([1.0, 5.0])
    v = np.array([1.0, 0.0, 1.0])
    idx = np.array([0, 1, 0])
    gx, gv = chainrule.grad(lambda x, v: cnp.sum(x.at[idx].min(v)), argnums=(0, 1))(x, v)
    np.testing.assert_allclose(gx, [1 / 3, 0.0])
    np.testing.assert_allclose(gv, [1 / 3, 1.0, 1 / 3])


def test_dtype_follows_x():
    x = np.arange(4)
    out = cnp.at(x)[1].set(2.7)
    assert out.dtype == x.dtype and out[1] == 2
    x32 = np.ones(3, np.float32)
    assert cnp.at(x32)[0].add(1.0).dtype == np.float32
    g = chainrule.grad(lambda x: cnp.sum(x.at[0].multiply(2.0)))(x32)
    assert g.dtype == np.float32


def test_traced_indices():
    x = rng.normal(size=(4, 3))
    idx = np.array([3, 0, 3])

    def f(x, i):
        return cnp.at(x)[i].add(1.0)

    closed = chainrule.make_jaxpr(f)(x, idx)
    np.testing.assert_allclose(closed(x, idx)[0], cnp.at(x)[idx].add(1.0))


# -------------------------------------------------------------------- vmap ---

VMAP_CASES = [
    ((5,), np.array([0, 2, 2])), ((3, 4), (slice(None), np.array([1, 1, 3]))),
    ((3, 4, 5), (slice(None), np.array([[0], [2]]), np.array([1, 3, 3]))),
    ((3, 4, 2), (np.array([[0], [2], [2]]), slice(None), np.array([1, 0]))),
    ((4, 3), (slice(1, 3), 0)),
]


VMAP_METHOD_CASES = [
    pytest.param(method, shape, idx, id=f"{method}-{k}")
    for method in ["set", "add", "multiply", "min", "max"]
    for k, (shape, idx) in enumerate(VMAP_CASES)]


@pytest.mark.parametrize("method,shape,idx", VMAP_METHOD_CASES)
@pytest.mark.parametrize("axes", [(0, 0), (None, 0), (0, None), (1, 0)])
def test_vmap_matches_loop(method, shape, idx, axes):
    batch = 3
    x = rng.normal(size=(batch,) + shape)
    v = np.stack([values_for(x[0], idx, method) for _ in range(batch)])
    xs = x[0] if axes[0] is None else np.moveaxis(x, 0, min(axes[0], len(shape)))
    vs = v[0] if axes[1] is None else v
    in_axes = (None if axes[0] is None else min(axes[0], len(shape)), axes[1])

    def f(x, v):
        return getattr(cnp.at(x)[idx], method)(v)

    out = chainrule.vmap(f, in_axes=in_axes)(xs, vs)
    loop = [f(xs if in_axes[0] is None else np.take(xs, k, in_axes[0]),
              vs if in_axes[1] is None else vs[k]) for k in range(batch)]
    np.testing.assert_allclose(out, np.stack(loop), rtol=1e-14)


@pytest.mark.parametrize("shape,idx", VMAP_CASES[:4])
def test_vmap_with_batched_indices(shape, idx):
    """Each batch element with its own (here: shifted) integer indices."""
    x = rng.normal(size=(2,) + shape)
    idx = idx if isinstance(idx, tuple) else (idx,)
    where = [k for k, i in enumerate(idx) if isinstance(i, np.ndarray)][0]
    n = shape[where]
    batch_idx = np.stack([idx[where], (idx[where] + 1) % n])

    def f(x, i):
        full = idx[:where] + (i,) + idx[where + 1:]
        return cnp.at(x)[full].set(-1.0)

    out = chainrule.vmap(f)(x, batch_idx)
    np.testing.assert_allclose(out, np.stack([f(x[k], batch_idx[k]) for k in range(2)]))


def test_vmap_of_grad_through_set():
    xs = rng.normal(size=(4, 5))

    def loss(x):
        return cnp.sum(cnp.at(x)[np.array([0, 0, 3])].set(x[1:4] ** 2) ** 2)

    per_example = chainrule.vmap(chainrule.grad(loss))(xs)
    for k in range(4):
        np.testing.assert_allclose(per_example[k], chainrule.grad(loss)(xs[k]))


# ---------------------------------------------------------------- errors ---


def test_in_place_assignment_on_a_tracer_points_to_at():
    def f(x):
        x[0] = 1.0
        return x

    with pytest.raises(TypeError, match=r"\.at\[idx\]\.set\(v\)"):
        chainrule.grad(lambda x: cnp.sum(f(x)))(np.ones(3))
    with pytest.raises(TypeError, match="immutable"):
        chainrule.make_jaxpr(f)(np.ones(3))


def test_shape_errors_name_the_method_and_shapes():
    with pytest.raises(ValueError, match=r"x\.at\[\.\.\.\]\.add: values of shape \(2,\) do "
                                         r"not broadcast to the indexed shape \(3,\)"):
        cnp.at(np.zeros(5))[[0, 1, 2]].add(np.ones(2))
    with pytest.raises(IndexError, match="out of bounds"):
        cnp.at(np.zeros(5))[7].set(1.0)
    with pytest.raises(ValueError, match=r"scatter: updates of shape \(4,\)"):
        scatter(np.zeros(5), np.ones(4), [np.array([0, 1])], (("array", 0),))
