"""jit: compiled results equal eager ones; caching; composition; errors."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import jit
from chainrule.jit import stats

SRC = os.path.join(os.path.dirname(__file__), "..", "src")


pytestmark = pytest.mark.usefixtures("jit_cache_dir")  # tests/conftest.py


def close(a, b, dtype=np.float64):
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-10
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def w2(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + cnp.tanh(x) ** 2 + cnp.exp(-x ** 2))


def chain(x, y):
    return cnp.exp(-x) * y + cnp.tanh(x * 2.0) - y / (1.0 + x * x)


def rowsum(x, b):
    return cnp.sum(cnp.sin(x + b), axis=1) + cnp.max(x, axis=0).sum()


def mlp(params, x):
    (w1, b1), (w2_, b2) = params
    h = cnp.tanh(cnp.matmul(x, w1) + b1)
    logits = cnp.matmul(h, w2_) + b2
    logits = logits - cnp.max(logits, axis=1, keepdims=True)
    logp = logits - cnp.log(cnp.sum(cnp.exp(logits), axis=1, keepdims=True))
    return -cnp.mean(logp[:, 0])


def _mlp_params(rng, dtype):
    return [(rng.normal(size=(5, 7)).astype(dtype) * 0.5, rng.normal(size=7).astype(dtype)),
            (rng.normal(size=(7, 3)).astype(dtype) * 0.5, rng.normal(size=3).astype(dtype))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elementwise_and_reductions(dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6)).astype(dtype)
    y = rng.normal(size=(6,)).astype(dtype)
    close(jit(chain)(x, y), chain(x, y), dtype)
    close(jit(rowsum)(x, y), rowsum(x, y), dtype)
    close(jit(w2)(x), w2(x), dtype)
    close(jit(cr.grad(w2))(x), cr.grad(w2)(x), dtype)
    assert jit(w2)(x).dtype == dtype and isinstance(jit(w2)(x), np.ndarray)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_grad(dtype):
    rng = np.random.default_rng(1)
    params = _mlp_params(rng, dtype)
    x = rng.normal(size=(8, 5)).astype(dtype)
    close(jit(mlp)(params, x), mlp(params, x), dtype)
    g_jit = jit(cr.grad(mlp))(params, x)
    g = cr.grad(mlp)(params, x)
    for a, b in zip(cr.tree_util.tree_leaves(g_jit), cr.tree_util.tree_leaves(g)):
        close(a, b, dtype)


def test_indexing_and_shapes():
    def f(x, i):
        return cnp.sum(x[i] * 2.0) + x.T[1:3].sum() + cnp.reshape(x, (-1,))[::2].sum()

    x = np.arange(12.0).reshape(3, 4)
    i = np.array([0, 2, 2])
    close(jit(f)(x, i), f(x, i))
    close(jit(cr.grad(f))(x, i), cr.grad(f)(x, i))


def test_composition():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6,))
    close(cr.grad(jit(w2))(x), cr.grad(w2)(x))
    p, t = cr.jvp(jit(chain), (x, x), (np.ones(6), np.zeros(6)))
    p0, t0 = cr.jvp(chain, (x, x), (np.ones(6), np.zeros(6)))
    close(p, p0)
    close(t, t0)
    close(jit(cr.hessian(w2))(x), cr.hessian(w2)(x))
    inner = jit(lambda a: cnp.sin(a) * a)
    close(jit(lambda a: cnp.sum(inner(a) + inner(a * 2)))(x),
          np.sum(np.sin(x) * x + np.sin(2 * x) * 2 * x))
    close(cr.grad(cr.grad(lambda a: jit(w2)(a * 1.0)))(np.array(0.3)),
          cr.grad(cr.grad(w2))(np.array(0.3)))
    close(cr.vmap(jit(chain))(np.stack([x, x]), np.stack([x, -x])),
          np.stack([chain(x, x), chain(x, -x)]))


def test_make_jaxpr_shows_one_equation():
    f = jit(chain)
    text = str(cr.make_jaxpr(lambda a: f(a, a) * 2.0)(np.ones(3)))
    assert "jit[name=chain" in text
    assert "exp" not in text  # the inner equations stay inside the call


def test_closure_over_outer_tracer():
    def outer(y):
        return jit(lambda x: cnp.sum(x * y))(np.arange(3.0))

    close(cr.grad(outer)(np.ones(3)), np.arange(3.0))


def test_cache_hits_and_misses():
    f = jit(lambda x, n: cnp.sum(x ** n), static_argnums=1)
    x = np.ones(5)
    f(x, 2)
    f(x + 1, 2)
    assert f.traces == 1
    f(x, 3)
    assert f.traces == 2                    # new static value
    f(np.ones(6), 2)
    assert f.traces == 3                    # new shape
    f(np.ones(5, np.float32), 2)
    assert f.traces == 4                    # new dtype
    f(x, 2)
    assert f.traces == 4
    # the same chain from another function reuses the compiled kernel
    before = dict(stats)
    jit(lambda y, m: cnp.sum(y ** m), static_argnums=1)(np.full(7, 2.0), 3)
    assert stats["kernel_compiles"] == before["kernel_compiles"]
    assert stats["kernel_memory_hits"] > before["kernel_memory_hits"]


def test_static_argnames_and_pytrees():
    @jit
    def f(d, scale=1.0):
        return {"y": d["a"] * scale, "z": [d["b"].sum()]}

    out = f({"a": np.ones(2), "b": np.arange(3.0)})
    close(out["y"], np.ones(2))
    close(out["z"][0], np.array(3.0))
    g = jit(lambda x, mode: x * 2 if mode == "double" else x, static_argnames="mode")
    close(g(np.ones(2), mode="double"), np.full(2, 2.0))


def test_noncontiguous_zero_d_and_empty():
    x = np.arange(24.0).reshape(4, 6)
    f = jit(chain)
    close(f(x[:, ::2], x[0, ::2]), chain(x[:, ::2], x[0, ::2]))
    close(f(x.T, np.ones(4)), chain(x.T, np.ones(4)))
    s = jit(w2)(np.array(0.5))
    assert type(s) is np.ndarray and s.shape == ()
    close(s, w2(np.array(0.5)))
    close(jit(w2)(np.zeros(0)), np.array(0.0))
    e = jit(chain)(np.zeros((0, 3)), np.zeros(3))
    assert e.shape == (0, 3)


def test_outputs_are_fresh():
    x = np.ones(3)
    f = jit(lambda a, b: (a, b * 1.0, cnp.reshape(a, (3, 1))))
    a, b, c = f(x, x)
    a[0] = b[0] = c[0, 0] = 5.0
    assert x[0] == 1.0
    k = jit(lambda a: a + np.ones(3))  # a constant captured by the trace
    k(x)[0] = 7.0
    close(k(x), np.full(3, 2.0))


def test_control_flow_error_names_argument():
    def f(x, y):
        if cnp.sum(y) > 0:  # the offending line
            return x
        return -x

    with pytest.raises(cr.ConcretizationError) as info:
        jit(f)(np.ones(2), np.ones(2))
    msg = str(info.value)
    assert "'y'" in msg and "'x'" not in msg
    assert "the offending line" in msg
    assert "static_argnums" in msg and "lax.cond" in msg
    close(jit(f, static_argnums=1)(np.ones(2), (1.0, 2.0)), np.ones(2))


def test_numba_failure_falls_back(monkeypatch):
    from chainrule.jit import cache, plan

    def boom(*a, **k):
        raise RuntimeError("simulated Numba failure")

    monkeypatch.setattr(cache, "_compile", boom)
    monkeypatch.setattr(cache, "_memory", {})
    plan._warned.clear()
    x = np.linspace(-1, 1, 5)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = jit(lambda a: cnp.tanh(a) * 3.0 + 1.0)(x)
    np.testing.assert_array_equal(out, np.tanh(x) * 3.0 + 1.0)
    assert any("tanh" in str(m.message) for m in w)


def test_control_flow_bodies_are_compiled():
    """Under jit, scan/while/cond bodies are compiled executables (the plans
    counter counts them), and agree with eager mode: gradients of a scan RNN,
    a while loop with a literal and a float32 loop value, cond on both sides."""
    from chainrule import lax
    rng = np.random.default_rng(3)
    W, U = rng.normal(size=(6, 6)) * 0.4, rng.normal(size=(3, 6)) * 0.4
    xs = rng.normal(size=(12, 3))

    def rnn(W, U, xs):
        def step(h, x):
            h = cnp.tanh(h @ W + x @ U)
            return h, cnp.sum(h * h)
        h, ys = lax.scan(step, cnp.zeros(6), xs)
        return cnp.sum(ys) + cnp.sum(h)

    g = cr.grad(rnn, argnums=(0, 1))
    before, whole = stats["plans"], stats["loops_compiled_whole"]
    got = jit(g)(W, U, xs)
    # the function, and each scan: its body's plan, or the loop compiled whole
    assert stats["plans"] - before + stats["loops_compiled_whole"] - whole >= 3
    for a, b in zip(got, g(W, U, xs)):
        close(a, b)

    def loop(x):
        body = lambda c: (c[0] + 1, c[1] * np.float32(0.5) + cnp.sin(c[1]))  # noqa: E731
        return lax.while_loop(lambda c: c[0] < 7, body, (0, x))[1]

    x32 = np.linspace(0, 1, 5, dtype=np.float32)
    out = jit(loop)(x32)
    assert out.dtype == np.float32
    close(out, loop(x32), np.float32)
    sums = jit(lambda xs: lax.scan(lambda c, x: (c + x, c * x), 0.0, xs))(np.arange(4.0))
    close(sums[0], 6.0)
    close(sums[1], np.array([0.0, 1.0, 2.0, 3.0]) * np.array([0.0, 0.0, 1.0, 3.0]))
    jc = jit(lambda p, x: lax.cond(p, lambda x: cnp.exp(x), lambda x: -x, x))
    close(jc(True, x32.astype(np.float64)), np.exp(x32.astype(np.float64)))
    close(jc(False, x32.astype(np.float64)), -x32.astype(np.float64))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("length", [0, 1, 7])
def test_scan_loop_matches_eager(reverse, length):
    """jit writes the scan's loop around its compiled body (plan.scan_loop):
    several carries (one passed through unchanged, one only read by a
    library call), 1-D and 2-D xs, a literal init, reverse, zero steps; the
    results are fresh arrays, also with zero steps."""
    from chainrule import lax
    rng = np.random.default_rng(length)
    xs1, xs2 = rng.normal(size=length), rng.normal(size=(length, 3))
    w = rng.normal(size=(3, 3))

    def f(h0, xs1, xs2):
        def step(carry, x):
            h, keep, n, m = carry
            x1, x2 = x
            h = cnp.tanh(h @ w + x2 * x1)
            m = cnp.transpose(cnp.reshape(m, (2, 2))).reshape(4) + x1   # a library call
            return (h, keep, n + 1.0, m), (cnp.sum(h) * x1, h * 2.0)
        return lax.scan(step, (h0, h0 * 3.0, 0.0, cnp.arange(4.0)), (xs1, xs2),
                        reverse=reverse)

    h0 = rng.normal(size=3)
    got, want = jit(f)(h0, xs1, xs2), f(h0, xs1, xs2)
    for a, b in zip(cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(want)):
        close(a, b)
    (h, keep, n, m), _ = got
    assert h is not h0 and not np.shares_memory(h, h0)
    g = cr.grad(lambda h0: cnp.sum(f(h0, xs1, xs2)[1][1]) + cnp.sum(f(h0, xs1, xs2)[0][0]))
    close(jit(g)(h0), g(h0))


def test_lower_shows_kernels():
    text = str(jit(cr.grad(mlp)).lower(_mlp_params(np.random.default_rng(0), np.float64),
                                       np.ones((8, 5))))
    assert "optimised jaxpr" in text and "def kernel(" in text
    # this model's contractions are small: fused into kernels as sums of products
    assert "library call: dot_general" not in text and "mul reduce_sum" in text
    big = [(np.ones((64, 128)), np.ones(128)), (np.ones((128, 10)), np.ones(10))]
    text = str(jit(cr.grad(mlp)).lower(big, np.ones((32, 64))))
    assert "library call: dot_general" in text      # BLAS for the big ones


def test_small_contractions_are_fused():
    """Every layout of a small rank-1/2 contraction (transposed operands,
    vectors, the reverse pass's x.T @ g, outer products) fused as a kernel
    equals BLAS's."""
    from chainrule import lax
    rng = np.random.default_rng(5)
    a, b, v = rng.normal(size=(6, 4)), rng.normal(size=(4, 5)), rng.normal(size=4)
    cases = [(a, b, (((1,), (0,)), ((), ()))), (a.T.copy(), b, (((0,), (0,)), ((), ()))),
             (a, b.T.copy(), (((1,), (1,)), ((), ()))), (v, b, (((0,), (0,)), ((), ()))),
             (a, v, (((1,), (0,)), ((), ()))), (v, v, (((0,), (0,)), ((), ()))),
             (v, v[:3], (((), ()), ((), ()))), (a.T.copy(), b.T.copy(), (((0,), (1,)), ((), ())))]
    for x, y, dims in cases:
        f = jit(lambda x, y, dims=dims: lax.dot_general(x, y, dims) * 2.0)
        want = np.asarray(lax.dot_general(x, y, dims)) * 2.0
        close(f(x, y), want)
        fused = "library call: dot_general" not in str(f.lower(x, y))
        # (k, m) @ (n, k) keeps BLAS: no loop order keeps both operands' axes in order
        assert fused == (dims != (((0,), (1,)), ((), ()))), dims


def test_registry_emitters_match_impl():
    """Every primitive with a Numba emitter, on its samples, jit vs impl."""
    from chainrule.core import registry
    rng = np.random.default_rng(0)
    for prim in registry.values():
        if prim.lower is None or prim.samples is None or prim.name in ("jit",):
            continue
        for args, params in prim.samples(rng)[:2]:
            want = np.asarray(prim.impl(*args, **params))
            got = jit(lambda *a, prim=prim, params=params: prim.bind(*a, **params))(*args)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=prim.name)
            assert got.dtype == want.dtype, prim.name


_CHILD = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {src!r})
    import chainrule as cr, chainrule.numpy as cnp
    from chainrule.jit import stats
    f = cr.jit(lambda x: cnp.sum(cnp.exp(-x * x) * 1.5 + cnp.cos(x)))
    out = f(np.linspace(0, 1, 11))
    assert abs(out - np.sum(np.exp(-np.linspace(0, 1, 11) ** 2) * 1.5
                            + np.cos(np.linspace(0, 1, 11)))) < 1e-12
    print(stats["kernel_compiles"], stats["kernel_disk_loads"], stats["kernel_disk_corrupt"])
""")


def test_disk_cache_across_processes(tmp_path):
    env = dict(os.environ, CHAINRULE_CACHE_DIR=str(tmp_path / "c"))
    env.pop("CHAINRULE_DISABLE_JIT_CACHE", None)
    code = _CHILD.format(src=os.path.abspath(SRC))

    def run():
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        return tuple(map(int, out.stdout.split()))

    assert run() == (1, 0, 0)                  # cold: compiled
    assert run() == (0, 1, 0)                  # warm: loaded from disk
    kdir = tmp_path / "c" / "kernels"
    assert oct(kdir.stat().st_mode & 0o777) == "0o700"
    (entry,) = kdir.glob("k*.kernel")
    data = entry.read_bytes()
    entry.write_bytes(data[:-64] + bytes(b ^ 0xFF for b in data[-64:]))   # corrupt it
    assert run() == (1, 0, 1)                  # detected, recompiled, result still right
    assert run() == (0, 1, 0)
