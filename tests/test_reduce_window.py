"""lax.reduce_window (pooling): values against a direct loop, derivatives,
ties, vmap, jit, dtypes and errors."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import lax
from chainrule.test_util import check_grads

OPS = {"add": (lax.add, 0.0, np.add), "max": (lax.max, -np.inf, np.maximum),
       "min": (lax.min, np.inf, np.minimum), "mul": (lax.mul, 1.0, np.multiply)}


def reference(x, init, op, window, strides, pads, base, wdil):
    """The definition: dilate, pad with init, reduce each window from init."""
    dil_shape = [(n - 1) * b + 1 for n, b in zip(x.shape, base)]
    d = np.full(dil_shape, init, x.dtype)
    d[tuple(slice(None, None, b) for b in base)] = x
    full = np.full([n + max(lo, 0) + max(hi, 0) for n, (lo, hi) in zip(dil_shape, pads)],
                   init, x.dtype)
    full[tuple(slice(max(lo, 0), max(lo, 0) + n) for n, (lo, _) in zip(dil_shape, pads))] = d
    full = full[tuple(slice(max(-lo, 0), full.shape[i] - max(-hi, 0))
                      for i, (lo, hi) in enumerate(pads))]
    eff = [(w - 1) * dd + 1 for w, dd in zip(window, wdil)]
    out_shape = [max((p - e) // s + 1, 0) for p, e, s in zip(full.shape, eff, strides)]
    out = np.full(out_shape, init, x.dtype)
    for idx in itertools.product(*map(range, out_shape)):
        acc = np.asarray(init, x.dtype)
        for k in itertools.product(*map(range, window)):
            acc = op(acc, full[tuple(i * s + kk * dd for i, s, kk, dd in
                                     zip(idx, strides, k, wdil))])
        out[idx] = acc
    return out


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_matches_the_definition(data):
    nd = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.integers(1, 5)) for _ in range(nd))
    window = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    strides = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    base = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    wdil = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    pads = [tuple(data.draw(st.integers(-1, 2)) for _ in range(2)) for _ in range(nd)]
    name = data.draw(st.sampled_from(sorted(OPS)))
    comp, init, op = OPS[name]
    x = np.random.default_rng(len(shape)).uniform(0.5, 1.5, size=shape)
    dil = [(n - 1) * b + 1 for n, b in zip(shape, base)]
    if any(d + lo + hi < 0 or min(lo, 0) + d <= 0 or min(hi, 0) + d <= 0
           for d, (lo, hi) in zip(dil, pads)):
        return  # crops past the whole axis
    got = lax.reduce_window(x, init, comp, window, strides, pads, base, wdil)
    np.testing.assert_allclose(got, reference(x, init, op, window, strides, pads, base, wdil))


@pytest.mark.parametrize("padding", ["VALID", "SAME", "SAME_LOWER"])
def test_string_padding(padding):
    x = np.random.default_rng(1).normal(size=(2, 7, 5, 3))
    got = lax.reduce_window(x, -np.inf, lax.max, (1, 3, 2, 1), (1, 2, 2, 1), padding)
    total = [max((-(-n // s) - 1) * s + w - n, 0) for n, w, s in zip((7, 5), (3, 2), (2, 2))]
    lo = [t // 2 if padding == "SAME" else -(-t // 2) for t in total]
    pads = [(0, 0)] + ([(0, 0)] * 2 if padding == "VALID" else
                       [(l, t - l) for l, t in zip(lo, total)]) + [(0, 0)]
    want = reference(x, -np.inf, np.maximum, (1, 3, 2, 1), (1, 2, 2, 1), pads, (1,) * 4, (1,) * 4)
    np.testing.assert_allclose(got, want)
    if padding != "VALID":
        assert got.shape == (2, 4, 3, 3)


def _pool(name, window=(2, 2), strides=(2, 2)):
    comp, init, _ = OPS[name]
    return lambda x: lax.reduce_window(x, init, comp, window, strides, "SAME")


@pytest.mark.parametrize("name", sorted(OPS))
def test_grads_second_order(name):
    # distinct values, so max and min have no ties
    x = np.random.default_rng(2).permutation(np.linspace(0.5, 2.0, 20)).reshape(4, 5)
    check_grads(_pool(name, (2, 3), (1, 2)), (x,), order=2, modes=("fwd", "rev"))


def test_max_routes_the_cotangent_and_shares_ties():
    x = np.array([[1.0, 5.0, 2.0, 2.0],
                  [3.0, 0.0, 2.0, 2.0]])
    g = cr.grad(lambda x: lax.reduce_window(x, -np.inf, lax.max, (2, 2), (2, 2), "VALID").sum())(x)
    np.testing.assert_array_equal(g[:, :2], [[0, 1], [0, 0]])   # the lectures' max gate
    np.testing.assert_allclose(g[:, 2:].sum(), 1.0)               # four-way tie: shared
    assert (g[:, 2:] > 0).all()


def test_vmap_jit_and_dtypes():
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(3, 6, 6))
    f = _pool("max")
    loop = np.stack([f(x) for x in xs])
    np.testing.assert_array_equal(cr.vmap(f)(xs), loop)
    np.testing.assert_array_equal(cr.vmap(f, in_axes=2, out_axes=2)(np.moveaxis(xs, 0, 2)),
                                  np.moveaxis(loop, 0, 2))
    np.testing.assert_allclose(cr.jit(f)(xs[0]), loop[0])
    avg = lambda x: lax.reduce_window(x, 0.0, lax.add, (3, 3), (1, 1), "SAME") / 9.0  # noqa: E731
    np.testing.assert_allclose(cr.jit(cr.grad(lambda x: avg(x).sum()))(xs[0]),
                               cr.grad(lambda x: avg(x).sum())(xs[0]))
    x32 = xs[0].astype(np.float32)
    assert f(x32).dtype == np.float32 and cr.jit(f)(x32).dtype == np.float32
    xi = rng.integers(-5, 5, size=(4, 4))
    got = lax.reduce_window(xi, np.iinfo(np.int64).min, lax.max, (2, 2), (2, 2), "VALID")
    assert got.dtype == xi.dtype
    np.testing.assert_array_equal(got, xi.reshape(2, 2, 2, 2).max(axis=(1, 3)))


def test_errors():
    x = np.zeros((4, 4))
    with pytest.raises(TypeError, match="lax.add, lax.max, lax.min or lax.mul"):
        lax.reduce_window(x, 0.0, lambda a, b: a + b, (2, 2), (1, 1), "VALID")
    with pytest.raises(ValueError, match="window_dimensions must be 2"):
        lax.reduce_window(x, 0.0, lax.add, (2,), (1, 1), "VALID")
    with pytest.raises(ValueError, match="padding must be"):
        lax.reduce_window(x, 0.0, lax.add, (2, 2), (1, 1), "FULL")
    with pytest.raises(ValueError, match="init_value must be a scalar"):
        lax.reduce_window(x, np.zeros(2), lax.add, (2, 2), (1, 1), "VALID")
