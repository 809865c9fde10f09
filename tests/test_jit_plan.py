"""jit plans: buffers reused between calls (the arena), recycled outputs,
matmuls into provided memory, re-runs for non-contiguous arguments, the
contraction-with-identity rewrite, reductions in every codegen form.

Results must never depend on which memory a value landed in: outputs the
caller keeps (or views of them) are never written again, and every
result equals eager evaluation.
"""

import gc
import threading
import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import jit

pytestmark = pytest.mark.usefixtures("jit_cache_dir")  # tests/conftest.py


def mlp(params, x):
    (w1, b1), (w2, b2) = params
    h = cnp.tanh(cnp.matmul(x, w1) + b1)
    z = cnp.matmul(h, w2) + b2
    z = z - cnp.max(z, axis=1, keepdims=True)
    return -cnp.mean(z[:, 0] - cnp.log(cnp.sum(cnp.exp(z), axis=1)))


def _params(rng, n_in=200, n_h=160, n_out=10):
    return [(rng.normal(size=(n_in, n_h)) / 15, rng.normal(size=n_h)),
            (rng.normal(size=(n_h, n_out)) / 13, rng.normal(size=n_out))]


def _flat(t):
    return cr.tree_util.tree_leaves(t)


def test_results_kept_by_the_caller_are_never_overwritten():
    rng = np.random.default_rng(0)
    params, x1, x2 = _params(rng), rng.normal(size=(64, 200)), rng.normal(size=(64, 200))
    g = jit(cr.grad(mlp))
    eager = cr.grad(mlp)
    kept = g(params, x1)
    copies = [a.copy() for a in _flat(kept)]
    view = _flat(kept)[0][:5]            # a view keeps its base alive too
    view_copy = view.copy()
    for _ in range(3):
        for a, b in zip(_flat(g(params, x2)), _flat(eager(params, x2))):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for a, c in zip(_flat(kept), copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(view, view_copy)


def test_dropped_outputs_are_recycled_and_changed_ones_are_not():
    f = jit(lambda x: cnp.tanh(x) * 2.0)
    x = np.linspace(-1, 1, 20000)            # 160 kB: big enough to recycle
    a = f(x)
    addr = a.ctypes.data
    del a
    b = f(x * 0.5)
    assert b.ctypes.data == addr             # same memory, new values
    np.testing.assert_allclose(b, np.tanh(x * 0.5) * 2.0, rtol=1e-15)
    b.shape = (100, 200)                     # the caller reshaped it in place
    del b
    c = f(x)
    assert c.shape == x.shape
    np.testing.assert_allclose(c, np.tanh(x) * 2.0, rtol=1e-15)
    c.flags.writeable = False                # or made it read-only
    del c
    d = f(x)
    assert d.flags.writeable
    r = weakref.ref(d)                       # or holds a weak reference
    addr = d.ctypes.data
    del d
    gc.collect()
    e = f(x * 2)                             # not written: dropped instead
    np.testing.assert_allclose(e, np.tanh(x * 2) * 2.0, rtol=1e-15)
    assert r() is None or (r().ctypes.data != addr
                           or np.allclose(r(), np.tanh(x) * 2.0, rtol=1e-15))


def test_arena_is_shared_by_values_with_disjoint_lifetimes():
    def chain(x, w):
        for _ in range(6):
            x = cnp.tanh(cnp.matmul(x, w)) + 1.0
        return cnp.sum(x)

    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(64, 64)), rng.normal(size=(64, 64)) / 8
    f = jit(chain)
    ex = f.lower(x, w).executable
    per_value = 64 * 64 * 8
    assert 0 < ex.arena_bytes <= 4 * per_value     # not one buffer per value
    assert "_matmul(" in ex.source and "A[" in ex.source
    np.testing.assert_allclose(f(x, w), chain(x, w), rtol=1e-12)
    np.testing.assert_allclose(f(x * 2, w), chain(x * 2, w), rtol=1e-12)


def test_dead_values_are_deleted():
    f = jit(lambda x: cnp.sum(cnp.reshape(cnp.cumsum(x), (4, 5)), axis=0) * 2.0)
    x = np.arange(20.0)
    np.testing.assert_allclose(f(x), np.cumsum(x).reshape(4, 5).sum(0) * 2)
    assert "del v" in f.lower(x).executable.source


def test_noncontiguous_and_readonly_arguments():
    f = jit(lambda x, b: cnp.exp(x) * b + cnp.sin(x))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 40))
    b = rng.normal(size=40)
    want = np.exp(x) * b + np.sin(x)
    np.testing.assert_allclose(f(x, b), want, rtol=1e-13, atol=1e-14)
    xt = np.asfortranarray(x)
    np.testing.assert_allclose(f(xt, b), want, rtol=1e-13, atol=1e-14)
    strided = np.zeros(80)
    strided[::2] = b
    np.testing.assert_allclose(f(x, strided[::2]), want, rtol=1e-13, atol=1e-14)
    ro = x.copy()
    ro.flags.writeable = False
    np.testing.assert_allclose(f(ro, b), want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(f(x, b), want, rtol=1e-13, atol=1e-14)   # the fast form again


def test_threads_get_their_own_buffers():
    rng = np.random.default_rng(3)
    params = _params(rng)
    xs = [rng.normal(size=(64, 200)) for _ in range(4)]
    g = jit(cr.grad(mlp))
    want = [_flat(cr.grad(mlp)(params, x)) for x in xs]
    g(params, xs[0])
    errors = []

    def work(i):
        try:
            for _ in range(20):
                for a, b in zip(_flat(g(params, xs[i])), want[i]):
                    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        except Exception as err:  # pragma: no cover
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


@pytest.mark.parametrize("shape", [(4, 256), (256, 4), (32, 32)])
def test_jacobians_skip_contractions_with_the_identity(shape):
    n, m = shape

    def f(x, a, b):
        return cnp.tanh(cnp.matmul(a, cnp.tanh(cnp.matmul(b, x))))

    rng = np.random.default_rng(4)
    x, a, b = rng.normal(size=n), rng.normal(size=(m, 16)) / 4, rng.normal(size=(16, n)) / 4
    u = np.tanh(b @ x)
    y = np.tanh(a @ u)
    want = ((1 - y * y)[:, None] * a) @ ((1 - u * u)[:, None] * b)
    for transform in (cr.jacfwd, cr.jacrev):
        jf = jit(transform(f))
        np.testing.assert_allclose(jf(x, a, b), want, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(jf(x, a, b), transform(f)(x, a, b), rtol=1e-12, atol=1e-13)
        jaxpr = jf.lower(x, a, b).executable.closed
        eyes = [c for c in jaxpr.consts if np.ndim(c) == 2 and c.shape[0] == c.shape[1]
                and np.array_equal(c, np.eye(c.shape[0]))]
        assert not eyes                               # folded away
        dots = [e for e in jaxpr.jaxpr.eqns if e.prim.name == "dot_general"]
        assert len(dots) <= 4                         # the two primal and two tangent ones


def test_contraction_with_a_scaled_identity_and_a_vector():
    def f(x):
        return cnp.matmul(cnp.eye(5) * x, cnp.arange(10.0).reshape(5, 2))

    x = np.linspace(1, 2, 5)
    np.testing.assert_allclose(jit(f)(x), (np.eye(5) * x) @ np.arange(10.0).reshape(5, 2))
    g = jit(lambda v: cnp.matmul(v, cnp.eye(5) * 3.0))
    np.testing.assert_allclose(g(x), x * 3.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_reductions_in_every_codegen_form(dtype):
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(13, 7, 5)) * 10).astype(dtype)

    def f(x):
        y = x * 2 + 1
        return (cnp.sum(y, axis=(1, 2)), cnp.sum(y, axis=0), cnp.sum(y, axis=(0, 2)),
                cnp.sum(y), cnp.sum(y, axis=2), cnp.max(y, axis=(1, 2)), cnp.max(y, axis=0),
                cnp.min(y, axis=(0, 2)), cnp.min(y), cnp.max(y, axis=2))

    got = jit(f)(x)
    want = f(x)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    def sums(x):
        y = x * 2 + 1
        return (cnp.sum(y, axis=(1, 2)), cnp.sum(y, axis=0), cnp.sum(y, axis=(0, 2)),
                cnp.sum(y), cnp.sum(y, axis=2))

    e = jit(sums)(np.zeros((0, 7, 5), dtype))
    for g, w in zip(e, sums(np.zeros((0, 7, 5), dtype))):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
    with pytest.raises(ValueError):          # as NumPy: max of nothing
        jit(lambda x: cnp.max(x * 2, axis=0))(np.zeros((0, 3), dtype))


def test_max_min_reductions_propagate_nan_and_fuse():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -np.inf]])
    f = jit(lambda x: (cnp.max(x * 2, axis=1), cnp.min(x * 2, axis=0), cnp.max(x + 1)))
    for g, w in zip(f(x), (np.max(x * 2, axis=1), np.min(x * 2, axis=0), np.max(x + 1))):
        np.testing.assert_array_equal(g, w)
    assert not [s for s in f.lower(x).executable.steps if not hasattr(s, "spec")]


def test_unit_reshapes_are_read_through():
    def f(x, b):
        r = cnp.sum(x * b, axis=1)                  # (n,)
        z = x - cnp.expand_dims(r, 1)               # read through expand_dims
        return cnp.reshape(cnp.max(z, axis=1, keepdims=True), (-1,)) * 2.0 + r

    rng = np.random.default_rng(6)
    x, b = rng.normal(size=(9, 4)), rng.normal(size=4)
    r = np.sum(x * b, axis=1)
    want = np.max(x - r[:, None], axis=1) * 2.0 + r
    jf = jit(f)
    np.testing.assert_allclose(jf(x, b), want, rtol=1e-14)
    names = [s.eqn.prim.name for s in jf.lower(x, b).executable.steps if hasattr(s, "eqn")]
    assert "expand_dims" not in names and "reshape" not in names, names


def test_single_use_elementwise_values_are_computed_where_they_are_used():
    def f(x, w, v, u):
        t = cnp.tanh(cnp.matmul(x, w))
        d = cnp.matmul(t, w.T)                       # t is needed in memory for this
        g = (1.0 - t * t) * d                       # 1 - t*t: computed here, not stored
        row = cnp.sum(d, axis=1, keepdims=True)     # (n, 1)
        s = cnp.exp(-row) / (1.0 + row * row)      # row ops sunk into the (n, m) loop
        col = v * 2.0 + 1.0                         # (m,) trailing-aligned: sunk
        r = u * 3.0                                 # (n,) broadcast along axis 0: not aligned
        return cnp.sum(g * s + col) + cnp.sum(cnp.expand_dims(r, 1) * g)

    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(12, 9)), rng.normal(size=(9, 9)) / 3
    v, u = rng.normal(size=9), rng.normal(size=12)
    jf = jit(f)
    np.testing.assert_allclose(jf(x, w, v, u), f(x, w, v, u), rtol=1e-12)
    gf = jit(cr.grad(f, argnums=(0, 1, 2, 3)))
    for a, b in zip(gf(x, w, v, u), cr.grad(f, argnums=(0, 1, 2, 3))(x, w, v, u)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
    ex = jf.lower(x, w, v, u).executable
    (first,) = [s for s in ex.kernels if "tanh" in s.prim_names]
    assert len(first.outputs) == 1                 # t only, not 1 - t*t


def test_mlp_grad_plan_shape():
    """The softmax cross-entropy pullback of an MLP: no library calls besides
    the contractions, and the tanh layers' kernels shared between layers."""
    rng = np.random.default_rng(8)
    params = _params(rng, 30, 20, 5)
    params.insert(1, (rng.normal(size=(20, 20)) / 5, rng.normal(size=20)))

    def loss(params, x):
        h = x
        for w, b in params[:-1]:
            h = cnp.tanh(cnp.matmul(h, w) + b)
        z = cnp.matmul(h, params[-1][0]) + params[-1][1]
        z = z - cnp.max(z, axis=1, keepdims=True)
        return -cnp.mean(z[:, 0] - cnp.log(cnp.sum(cnp.exp(z), axis=1)))

    x = rng.normal(size=(16, 30))
    g = jit(cr.grad(loss))
    for a, b in zip(_flat(g(params, x)), _flat(cr.grad(loss)(params, x))):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    ex = g.lower(params, x).executable
    calls = {s.eqn.prim.name for s in ex.steps if hasattr(s, "eqn")}
    assert calls <= {"dot_general", "gather", "dynamic_slice", "slice", "scatter_add",
                     "squeeze", "reshape", "pad"}, calls
    sources = [k.source for k in ex.kernels if "tanh" in k.prim_names]
    assert len(sources) == 2 and sources[0] == sources[1]
