"""lax.map (with batch_size) and lax.associative_scan (issue 13)."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as jnp
from chainrule import lax
from chainrule.test_util import check_grads


def _f(x):
    return jnp.sin(x) * jnp.sum(x)


@pytest.mark.parametrize("batch_size", [None, 1, 2, 3, 7, 10])
def test_map_matches_loop(batch_size):
    xs = np.random.default_rng(0).normal(size=(7, 3))
    want = np.stack([np.sin(x) * x.sum() for x in xs])
    np.testing.assert_allclose(lax.map(_f, xs, batch_size=batch_size), want)
    np.testing.assert_allclose(cr.jit(lambda xs: lax.map(_f, xs, batch_size=batch_size))(xs),
                               want)


def test_map_pytrees_grad_vmap():
    xs = {"a": np.arange(5.0), "b": np.ones((5, 2))}
    out = lax.map(lambda d: (d["a"] * d["b"], jnp.sum(d["b"])), xs, batch_size=2)
    np.testing.assert_allclose(out[0], xs["a"][:, None] * xs["b"])
    np.testing.assert_allclose(out[1], np.full(5, 2.0))
    x = np.random.default_rng(1).normal(size=(5, 2))
    check_grads(lambda x: lax.map(_f, x, batch_size=2), (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda x: lax.map(_f, x), (x,), order=1, modes=("fwd", "rev"))
    b = np.random.default_rng(2).normal(size=(3, 5, 2))
    np.testing.assert_allclose(cr.vmap(lambda x: lax.map(_f, x, batch_size=2))(b),
                               np.stack([lax.map(_f, x) for x in b]))


def test_map_errors():
    with pytest.raises(ValueError, match="batch_size"):
        lax.map(_f, np.ones((3, 2)), batch_size=0)
    with pytest.raises(ValueError, match="leading axes differ"):
        lax.map(lambda t: t[0], (np.ones(3), np.ones(4)))


@pytest.mark.parametrize("n", [1, 2, 5, 8, 9])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("reverse", [False, True])
def test_associative_scan_cumsum(n, axis, reverse):
    x = np.random.default_rng(n).normal(size=(n, n + 1) if axis == 0 else (3, n))
    ax = axis % 2
    want = np.flip(np.cumsum(np.flip(x, ax), ax), ax) if reverse else np.cumsum(x, ax)
    np.testing.assert_allclose(lax.associative_scan(jnp.add, x, reverse=reverse, axis=axis),
                               want)


def test_associative_scan_noncommutative_and_pytree():
    m = np.random.default_rng(3).normal(size=(6, 2, 2))
    want = [m[0]]
    for k in range(1, 6):
        want.append(want[-1] @ m[k])
    np.testing.assert_allclose(lax.associative_scan(jnp.matmul, m), np.stack(want))
    # JAX's reverse=True scans the flipped sequence: out[k] = fn-fold of m[n-1], ..., m[k]
    flipped = [m[-1]]
    for k in range(4, -1, -1):
        flipped.append(flipped[-1] @ m[k])
    np.testing.assert_allclose(lax.associative_scan(jnp.matmul, m, reverse=True),
                               np.stack(flipped[::-1]))

    def op(a, b):  # h_t = a_t h_{t-1} + b_t as an associative scan
        return (a[0] * b[0], b[0] * a[1] + b[1])
    rng = np.random.default_rng(4)
    a, b = rng.uniform(size=7), rng.normal(size=7)
    h, hs = 0.0, []
    for t in range(7):
        h = a[t] * h + b[t]
        hs.append(h)
    np.testing.assert_allclose(lax.associative_scan(op, (a, b))[1], hs)
    np.testing.assert_allclose(cr.jit(lambda a, b: lax.associative_scan(op, (a, b))[1])(a, b),
                               hs)


def test_associative_scan_grads_vmap():
    x = np.random.default_rng(5).uniform(0.5, 2, size=(5,))
    check_grads(lambda x: lax.associative_scan(jnp.multiply, x), (x,), order=2,
                modes=("fwd", "rev"))
    np.testing.assert_allclose(cr.grad(lambda x: jnp.sum(lax.associative_scan(
        jnp.multiply, x)))(np.array([1.0, 2.0, 3.0])), [9.0, 4.0, 2.0])
    b = np.random.default_rng(6).normal(size=(4, 6))
    np.testing.assert_allclose(cr.vmap(lambda x: lax.associative_scan(jnp.add, x))(b),
                               np.cumsum(b, 1))
    with pytest.raises(ValueError, match="axis"):
        lax.associative_scan(jnp.add, np.ones(3), axis=1)
