"""Loops compiled whole (chainrule.jit.loops): a scan or while_loop whose body
is arithmetic runs as one kernel. Every result is checked against the eager
(un-jitted) program, and each test checks which path was taken, so that it
cannot pass on the step-by-step path by accident."""

import importlib
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as jnp
from chainrule import lax
from chainrule.jit import cache

pytestmark = pytest.mark.usefixtures("jit_cache_dir")
RTOL = 1e-12


def close(got, want, rtol=RTOL):
    got, want = cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        finite = np.abs(w[np.isfinite(w)]) if w.dtype.kind in "fc" else np.abs(w)
        scale = np.max(finite) if finite.size else 0.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale)


def whole(fn, *args, expect=None):
    """``fn``'s first jitted call with the number of loops compiled whole and
    the log of the compiles."""
    handler = _Capture()
    log = logging.getLogger("chainrule.jit")
    old = log.level
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    before = cache.stats["loops_compiled_whole"]
    try:
        out = cr.jit(fn)(*args)
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
    n = cache.stats["loops_compiled_whole"] - before
    if expect is not None:
        assert n >= expect, handler.lines
    return out, n, handler.lines


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def rnn_loss(w, u, b, xs, h0):
    def step(h, x):
        h = jnp.tanh(w @ h + u @ x + b)
        return h, jnp.sum(h * h)
    h, ys = lax.scan(step, h0, xs)
    return jnp.sum(ys) + jnp.sum(h)


def rnn_data(hidden=24, steps=30, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(hidden, hidden)) / np.sqrt(hidden),
            rng.normal(size=(hidden, 5)) * 0.3, rng.normal(size=hidden) * 0.1,
            rng.normal(size=(steps, 5)), rng.normal(size=hidden) * 0.1)


@pytest.mark.parametrize("hidden", [3, 24])
def test_rnn_forward_and_grad(hidden):
    args = rnn_data(hidden)
    out, n, _ = whole(rnn_loss, *args, expect=1)
    close(out, rnn_loss(*args))
    g = cr.grad(rnn_loss, argnums=(0, 1, 2, 4))
    out, n, lines = whole(g, *args, expect=2)   # the forward scan and the backward one
    close(out, g(*args))
    assert any("compiled whole" in line for line in lines)


def test_scan_stacked_outputs_pytrees_and_int_carry():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4)) * 0.5
    xs = {"p": rng.normal(size=(7, 4)), "q": rng.normal(size=(7, 2, 4))}

    def f(init, xs):
        def step(c, x):
            h, k = c["h"], c["k"]
            h2 = jnp.sin(a @ h) * x["p"] + jnp.sum(x["q"], axis=0)
            return {"h": h2, "k": k + 2}, (h2.T, jnp.max(x["q"]), k * 3, jnp.outer(h2, h))
        return lax.scan(step, init, xs)
    init = {"h": rng.normal(size=4), "k": np.asarray(3, np.int64)}
    out, _, _ = whole(f, init, xs, expect=1)
    close(out, f(init, xs))
    assert np.asarray(out[0]["k"]).dtype == np.int64


def test_reverse_length_without_xs_and_zero_length():
    def f(c0, n):
        def step(c, _):
            return c * 0.9 + jnp.cos(c), c[::2] * 2.0
        return lax.scan(step, c0, None, length=n)
    c0 = np.linspace(-1, 1, 6)
    for n in (5, 0):
        out, _, _ = whole(lambda c, n=n: f(c, n), c0, expect=1)
        close(out, f(c0, n))

    def g(c0, xs):
        def step(c, x):
            return c + x * c, jnp.exp(-c) + x
        return lax.scan(step, c0, xs, reverse=True)
    xs = np.random.default_rng(2).normal(size=(9, 6)) * 0.1
    out, _, _ = whole(g, c0, xs, expect=1)
    close(out, g(c0, xs))
    gg = cr.grad(lambda c, x: jnp.sum(g(c, x)[1] ** 2) + jnp.sum(g(c, x)[0]), argnums=(0, 1))
    out, _, _ = whole(gg, c0, xs, expect=1)
    close(out, gg(c0, xs))


def test_carries_that_swap_and_read_each_other():
    # each new carry reads the old values of the others: all are computed
    # before any is overwritten
    def f(a, b):
        def step(c, _):
            x, y, s = c
            return (y, x + y, s + x[0]), x * 1.0
        return lax.scan(step, (a, b, np.asarray(0.0)), None, length=6)
    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    out, _, _ = whole(f, a, b, expect=1)
    close(out, f(a, b))

    def g(m):   # a carry that is a transposed view of itself
        def step(c, _):
            return c.T * 0.5 + c, jnp.sum(c, axis=1)
        return lax.scan(step, m, None, length=4)
    m = np.arange(9.0).reshape(3, 3)
    out, _, _ = whole(g, m, expect=1)
    close(out, g(m))


def test_structural_ops_in_the_body():
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(5, 3, 4))
    w = rng.normal(size=(12, 2))

    def f(c, xs):
        def step(c, x):
            flat = jnp.reshape(x, (12,)) @ w           # reshape + small dot
            t = jnp.transpose(x)[1:3, :]               # transpose + slice
            bmat = jnp.broadcast_to(c[:, None], (2, 4))
            c2 = jnp.tanh(flat + jnp.sum(t * bmat[:, :3].T[:2].T.sum() + jnp.mean(x), axis=1))
            return c2, (jnp.expand_dims(c2, 0), jnp.squeeze(x[:1, :1]), jnp.min(x, axis=0))
        return lax.scan(step, c, xs)
    c = rng.normal(size=2)
    out, _, _ = whole(f, c, xs, expect=1)
    close(out, f(c, xs))


def rk4_loss(a, c, x0, n=200, dt=0.01):
    def f(x):
        return jnp.tanh(a @ x) + c

    def body(i, x):
        k1 = f(x)
        k2 = f(x + dt / 2 * k1)
        k3 = f(x + dt / 2 * k2)
        k4 = f(x + dt * k3)
        return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return jnp.sum(lax.fori_loop(0, n, body, x0) ** 2)


def test_fori_loop_rk4_forward_and_grad():
    rng = np.random.default_rng(4)
    a, c, x0 = rng.normal(size=(10, 10)) / 3, rng.normal(size=10) * 0.1, rng.normal(size=10)
    out, _, _ = whole(rk4_loss, a, c, x0, expect=1)
    close(out, rk4_loss(a, c, x0))
    g = cr.grad(rk4_loss, argnums=(0, 1))
    out, _, _ = whole(g, a, c, x0, expect=2)
    close(out, g(a, c, x0))

    def uses_i(x):   # the loop counter in the body, an int carry
        return lax.fori_loop(2, 9, lambda i, v: v * 0.5 + i * v ** 2 / 10.0, x)
    out, _, _ = whole(uses_i, np.linspace(0, 1, 5), expect=1)
    close(out, uses_i(np.linspace(0, 1, 5)))


def newton_cbrt(a):
    def cond(c):
        return jnp.max(jnp.abs(c[0] - c[1])) > 1e-12

    def body(c):
        x = c[0]
        return x - (x ** 3 - a) / (3 * x ** 2), x
    return lax.while_loop(cond, body, (a + 1.0, a))[0]


def test_while_loop_newton_and_jvp():
    a = np.random.default_rng(5).uniform(0.5, 20.0, size=1000)
    out, _, _ = whole(newton_cbrt, a, expect=1)
    close(out, newton_cbrt(a))
    np.testing.assert_allclose(out, np.cbrt(a), rtol=1e-12)

    def f(a, t):
        return cr.jvp(newton_cbrt, (a,), (t,))
    t = np.ones_like(a)
    out, _, _ = whole(f, a, t, expect=1)
    close(out, f(a, t))
    np.testing.assert_allclose(out[1], 1 / (3 * np.cbrt(a) ** 2), rtol=1e-10)


def test_while_loop_int_and_bool_carries():
    def collatz_steps(n):
        def cond(c):
            return c[0] != 1

        def body(c):
            n, k, odd = c
            odd = n % 2 == 1
            return jnp.where(odd, 3 * n + 1, n // 2), k + 1, odd
        return lax.while_loop(cond, body, (n, np.asarray(0), np.asarray(False)))
    for n in (27, 1, 6):
        out, _, _ = whole(collatz_steps, np.asarray(n), expect=1)
        close(out, collatz_steps(np.asarray(n)))

    def zero_trips(x):   # the condition is false at once: the input comes back
        return lax.while_loop(lambda v: jnp.sum(v) < 0, lambda v: v * 2, x)
    x = np.array([1.0, 2.0])
    out, _, _ = whole(zero_trips, x, expect=1)
    close(out, zero_trips(x))
    assert out is not x


def test_nested_loops_and_cond_stay_correct():
    def nested(x):
        def outer(c, _):
            inner, _ = lax.scan(lambda d, _: (d * 0.5 + 1.0, None), c, None, length=3)
            return inner + c, jnp.sum(inner)
        return lax.scan(outer, x, None, length=4)
    x = np.array([1.0, -2.0, 3.0])
    out, n, lines = whole(nested, x, expect=1)
    close(out, nested(x))
    # the outer loop holds a scan: both are one kernel
    assert any("scan of 4 step(s) compiled whole, with 1 scan inside" in line
               for line in lines), lines
    assert not any("step-by-step" in line for line in lines), lines

    def with_cond(x):
        def step(c, _):
            c = lax.cond(jnp.sum(c) > 0, lambda v: v - 1.0, lambda v: v + 2.0, c)
            return c, c
        return lax.scan(step, x, None, length=5)
    out, n, lines = whole(with_cond, x, expect=1)
    close(out, with_cond(x))
    assert any("scan of 5 step(s) compiled whole, with 1 cond inside" in line
               for line in lines), lines
    assert not any("step-by-step" in line for line in lines), lines

    g = cr.grad(lambda x: jnp.sum(nested(x)[1] * nested(x)[0][0]))
    out, _, _ = whole(g, x, expect=1)
    close(out, g(x))


def test_float32_and_unsupported_primitive_logged():
    def f(c, xs):
        return lax.scan(lambda c, x: (c * x + jnp.float32(1), jnp.exp(c)), c, xs)
    c = np.ones(3, np.float32)
    xs = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    out, _, _ = whole(f, c, xs, expect=1)
    close(out, f(c, xs), rtol=1e-6)

    def sorted_body(c, xs):
        return lax.scan(lambda c, x: (jnp.sort(c + x), c), c, xs)
    out, n, lines = whole(sorted_body, c, xs)
    close(out, sorted_body(c, xs))
    assert any("kept on the step-by-step path" in line and "sort" in line for line in lines)


def test_compiled_loop_is_cached_on_disk(tmp_path, monkeypatch):
    # a second process (here: a cold in-memory cache) loads the loop's kernel
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_memory", {})
    args = rnn_data(4, 6)
    whole(rnn_loss, *args, expect=1)
    compiles = cache.stats["kernel_compiles"]
    monkeypatch.setattr(cache, "_memory", {})
    loads = cache.stats["kernel_disk_loads"]
    out, _, _ = whole(lambda *a: rnn_loss(*a) * 1.0, *args, expect=1)
    assert cache.stats["kernel_compiles"] == compiles
    assert cache.stats["kernel_disk_loads"] > loads
    close(out, rnn_loss(*args))


def test_tiered_path_swaps_in_the_whole_loop(tmp_path):
    """On the async tier the loop runs step by step until the compile process
    delivers its kernel; then the plan is rebuilt with the whole loop."""
    import os
    import subprocess
    import sys
    script = """
import numpy as np, chainrule as cr, chainrule.numpy as jnp
from chainrule import lax
from chainrule.jit import cache
def f(c, xs):
    return lax.scan(lambda c, x: (jnp.tanh(c * x + 1.0), jnp.sum(c)), c, xs)
c, xs = np.linspace(0, 1, 4), np.linspace(-1, 1, 24).reshape(6, 4)
g = cr.jit(f)
first = g(c, xs)
assert cache.stats["loops_compiled_whole"] == 0
g.lower(c, xs).executable.upgrade(wait=True)
second = g(c, xs)
for a, b, e in zip(first, second, f(c, xs)):
    np.testing.assert_allclose(a, e, rtol=1e-12)
    np.testing.assert_allclose(b, e, rtol=1e-12)
print("whole", cache.stats["loops_compiled_whole"])
"""
    env = dict(os.environ, CHAINRULE_JIT_COMPILE="async", CHAINRULE_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "whole 1" in out.stdout, out.stdout


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("n, k", [(4, 13), (9, 8), (16, 5), (3, 2)])
def test_products_with_loop_constants(n, k, dtype):
    """``W @ h``, ``h @ W`` and a batched product of constants inside a body,
    reduced extents that are and are not multiples of the unrolling: the
    relaid constants (read along their contiguous axis) give eager's values."""
    rng = np.random.default_rng(n * k)
    cast = (lambda a: np.round(a * 4).astype(dtype)) if dtype == "int64" else (
        lambda a: a.astype(dtype))
    w, v = cast(rng.normal(size=(n, k))), cast(rng.normal(size=(k, n)))
    t = cast(rng.normal(size=(2, n, k)))
    xs = cast(rng.normal(size=(6, k)))

    def f(w, v, t, xs):
        def step(h, x):
            a = w @ x + v.T @ x          # row-dot form, relaid
            b = x @ v                    # already axpy form
            c = jnp.einsum("bnk,k->bn", t, x)
            h = h + a * 2 + b + jnp.sum(c, axis=0)
            if dtype != "int64":
                h = jnp.tanh(h * 0.1)
            else:
                h = h % 7
            return h, jnp.max(h)
        return lax.scan(step, jnp.zeros(n, dtype), xs)

    out, _, _ = whole(f, w, v, t, xs, expect=1)
    close(out, f(w, v, t, xs), rtol=1e-5 if dtype == "float32" else RTOL)
    if dtype == "float64":
        g = cr.grad(lambda *a: jnp.sum(f(*a)[1]), argnums=(0, 1, 2))
        out, _, _ = whole(g, w, v, t, xs, expect=2)
        close(out, g(w, v, t, xs))


@pytest.mark.parametrize("n", [16, 37, 200])
@pytest.mark.parametrize("with_nan", [False, True])
def test_reductions_of_computed_values_in_a_body(n, with_nan):
    """max / min / sum of elementwise values computed inside the reduction
    (eight accumulators over the contiguous axis): eager's values, NaN
    propagating as in np.max / np.min."""
    rng = np.random.default_rng(n)
    xs = rng.normal(size=(5, n))
    if with_nan:
        xs[2, n // 2] = np.nan
    c0 = rng.normal(size=n)

    def f(c0, xs):
        def step(c, x):
            ys = (jnp.max(jnp.abs(c - x)), jnp.min(c * x), jnp.sum(jnp.sin(c) * x))
            return c * 0.5 + x, ys
        return lax.scan(step, c0, xs)

    out, _, _ = whole(f, c0, xs, expect=1)
    close(out, f(c0, xs))
    if with_nan:
        assert np.isnan(out[1][0][2]) and np.isnan(out[1][1][2])


def test_an_unrolled_scan_compiles_whole():
    def f(c, xs):
        return lax.scan(lambda c, x: (jnp.tanh(c * x), c * 2.0), c, xs, unroll=4)
    c, xs = np.linspace(-1, 1, 3), np.linspace(0, 2, 30).reshape(10, 3)
    out, _, _ = whole(f, c, xs, expect=2)   # 2 chunks of 4 steps, then 2 steps
    ref, ys = c, []
    for x in xs:
        ys.append(ref * 2.0)
        ref = np.tanh(ref * x)
    close(out, (ref, np.stack(ys)))


# -- cond inside a loop body --------------------------------------------------

def switch_loop(w, b, xs, h0, k0):
    """Three branches of different work chosen by an int carry (the index
    runs from -1 to 3: lax.switch clamps it), a float carry of rank 0, a
    cond on it, and branches that read loop constants and the step's x."""
    def step(c, x):
        h, k, s = c
        i = k % 5 - 1
        h, s = lax.switch(i, [lambda h, s: (jnp.tanh(w @ h + x), s + 1.0),
                              lambda h, s: (h * x[0] + b, s * 0.5),
                              lambda h, s: (h - jnp.max(h), s - jnp.sum(h))], h, s)
        k = lax.cond(s > 0, lambda k: k + 2, lambda k: k + 1, k)
        return (h, k, s), (h[0], k, s)
    return lax.scan(step, (h0, k0, jnp.asarray(0.0)), xs)


def switch_loop_np(w, b, xs, h0, k0):
    h, k, s = h0.copy(), int(k0), 0.0
    ys = []
    for x in xs:
        i = min(max(k % 5 - 1, 0), 2)
        if i == 0:
            h, s = np.tanh(w @ h + x), s + 1.0
        elif i == 1:
            h, s = h * x[0] + b, s * 0.5
        else:
            h, s = h - np.max(h), s - np.sum(h)
        k = k + 2 if s > 0 else k + 1
        ys.append((h[0], k, s))
    return (h, np.asarray(k), np.asarray(s)), tuple(np.array(y) for y in zip(*ys))


@pytest.mark.parametrize("k0", [0, 3, 7])
def test_switch_in_a_scan_int_and_float_carries(k0):
    rng = np.random.default_rng(10 + k0)
    w, b = rng.normal(size=(5, 5)) / 2, rng.normal(size=5)
    xs, h0 = rng.normal(size=(17, 5)), rng.normal(size=5)
    k0 = np.asarray(k0, np.int64)
    out, n, lines = whole(switch_loop, w, b, xs, h0, k0, expect=1)
    assert any("compiled whole, with 2 cond inside" in line for line in lines), lines
    close(out, switch_loop(w, b, xs, h0, k0))
    close(out, switch_loop_np(w, b, xs, h0, k0))
    assert np.asarray(out[0][1]).dtype == np.int64


def test_cond_index_out_of_range_is_clipped():
    """cond's own index, bound without lax.switch's clamp (as a VJP's stacked
    index is): at most 0 runs the first branch, past the end the last."""
    from chainrule.control_flow import cond_p
    branches = tuple(cr.make_jaxpr(f)(np.ones(3)).jaxpr
                     for f in (lambda v: v * 2.0, lambda v: v + 10.0, lambda v: -v))

    def f(c0, idx):
        def step(c, i):
            (c,) = cond_p.bind(i, c, branches=branches)
            return c, jnp.sum(c)
        return lax.scan(step, c0, idx)
    idx = np.array([-5, 0, 1, 2, 3, 99, -1, 1], np.int32)
    c0 = np.array([1.0, -2.0, 0.5])
    out, _, lines = whole(f, c0, idx, expect=1)
    close(out, f(c0, idx))
    c, ys = c0.copy(), []
    for i in idx:
        i = min(max(int(i), 0), 2)
        c = c * 2.0 if i == 0 else c + 10.0 if i == 1 else -c
        ys.append(c.sum())
    close(out, (c, np.array(ys)))


def test_cond_branches_of_different_work_and_passthrough():
    """One branch returns its operand and a literal unchanged, one reduces
    and contracts with a constant; a rank-0 and a matrix output."""
    rng = np.random.default_rng(11)
    a = rng.normal(size=(4, 3))
    xs = rng.normal(size=(9, 3))

    def f(m0, xs):
        def step(c, x):
            m, t = c
            m, u = lax.cond(jnp.sum(x) > 0,
                            lambda m: (jnp.outer(a @ x, x) * 0.1 + m * 0.9, jnp.max(a @ x)),
                            lambda m: (m, jnp.asarray(-1.0)), m)
            return (m, t + u), u * 2.0
        return lax.scan(step, (m0, jnp.asarray(0.0)), xs)
    m0 = rng.normal(size=(4, 3))
    out, _, _ = whole(f, m0, xs, expect=1)
    close(out, f(m0, xs))
    m, t, ys = m0.copy(), 0.0, []
    for x in xs:
        if x.sum() > 0:
            m, u = np.outer(a @ x, x) * 0.1 + m * 0.9, np.max(a @ x)
        else:
            u = -1.0
        t += u
        ys.append(u * 2.0)
    close(out, ((m, np.asarray(t)), np.array(ys)))


def test_cond_in_a_while_loop_and_a_function_called_twice():
    """A cond in a while_loop's body, and the same jitted function (one inner
    Jaxpr) called twice in a step: each call writes its own outputs."""
    halve_or_bump = cr.jit(lambda v: lax.cond(v[0] > 1.0, lambda u: u * 0.5,
                                              lambda u: u + 0.75, v))

    def f(v0, n0):
        def body(c):
            v, n = c
            return halve_or_bump(halve_or_bump(v)) - 0.01, n + 1
        return lax.while_loop(lambda c: c[1] < 12, body, (v0, n0))
    v0, n0 = np.array([3.0, 0.2, -1.0]), np.asarray(0)
    out, _, lines = whole(f, v0, n0, expect=1)
    assert any("while_loop compiled whole, with 2 cond inside" in line
               for line in lines), lines
    close(out, f(v0, n0))
    v = v0.copy()
    for _ in range(12):
        for _ in range(2):
            v = v * 0.5 if v[0] > 1.0 else v + 0.75
        v = v - 0.01
    close(out[0], v)


def cond_rnn_loss(w, h0, xs):
    def step(h, x):
        h = lax.cond(jnp.sum(h * x) > 0, lambda h: jnp.tanh(w @ h) + x,
                     lambda h: h * x - 0.1 * h ** 2, h)
        return h, jnp.sum(h ** 2)
    h, ys = lax.scan(step, h0, xs)
    return jnp.sum(ys) + jnp.sum(h)


def cond_rnn_loss_np(w, h0, xs):
    h, total = h0.copy(), 0.0
    for x in xs:
        h = np.tanh(w @ h) + x if np.sum(h * x) > 0 else h * x - 0.1 * h ** 2
        total += np.sum(h ** 2)
    return total + np.sum(h)


def _fd(f, args, k, direction, eps=1e-6):
    """Central difference of the NumPy reference along ``direction`` in argument ``k``."""
    up = list(args)
    dn = list(args)
    up[k] = args[k] + eps * direction
    dn[k] = args[k] - eps * direction
    return (f(*up) - f(*dn)) / (2 * eps)


def test_grad_and_jvp_of_a_scan_with_a_cond():
    rng = np.random.default_rng(12)
    w, h0, xs = rng.normal(size=(4, 4)) / 2, rng.normal(size=4) * 0.5, rng.normal(size=(10, 4))
    args = (w, h0, xs)
    out, _, _ = whole(cond_rnn_loss, *args, expect=1)
    np.testing.assert_allclose(out, cond_rnn_loss_np(*args), rtol=1e-12)

    g = cr.grad(cond_rnn_loss, argnums=(0, 1, 2))
    out, n, lines = whole(g, *args, expect=2)   # the forward scan and the backward one
    assert sum("compiled whole, with 1 cond inside" in line for line in lines) >= 2, lines
    close(out, g(*args))
    for k in range(3):
        d = rng.normal(size=args[k].shape)
        np.testing.assert_allclose(np.sum(out[k] * d), _fd(cond_rnn_loss_np, args, k, d),
                                   rtol=1e-6)

    tw, th = rng.normal(size=w.shape), rng.normal(size=h0.shape)

    def f(w, h0, tw, th):
        return cr.jvp(lambda w, h0: cond_rnn_loss(w, h0, xs), (w, h0), (tw, th))
    out, _, lines = whole(f, w, h0, tw, th, expect=1)
    assert any("compiled whole, with" in line and "cond" in line for line in lines), lines
    close(out, f(w, h0, tw, th))
    want = (_fd(cond_rnn_loss_np, args, 0, tw) + _fd(cond_rnn_loss_np, args, 1, th))
    np.testing.assert_allclose(out[1], want, rtol=1e-6)


def test_unsupported_primitive_in_a_cond_branch_logged():
    def f(c, xs):
        def step(c, x):
            c = lax.cond(x[0] > 0, lambda v: jnp.sort(v + x), lambda v: v - x, c)
            return c, c[0]
        return lax.scan(step, c, xs)
    c, xs = np.array([0.3, -0.1, 0.2]), np.random.default_rng(13).normal(size=(6, 3))
    out, n, lines = whole(f, c, xs)
    close(out, f(c, xs))
    assert any("kept on the step-by-step path: primitive" in line
               and "sort' in a cond branch" in line
               for line in lines), lines


# -- loops inside a loop body -------------------------------------------------

def nested_loops(a, c0, xs):
    """A fori_loop, a reverse scan over the step's rows, a scan with
    ``length=`` and an int carry, a while_loop, a cond holding a scan and a
    zero-length scan, all inside one scan."""
    def outer(c, x):
        c = lax.fori_loop(0, 3, lambda i, v: jnp.tanh(a @ v) * 0.5 + x[0] * i, c)
        c2, ys = lax.scan(lambda d, xr: (d + xr * d[0] * 0.1, jnp.sum(d * xr)), c, x,
                          reverse=True)
        (k, p), _ = lax.scan(lambda kv, _: ((kv[0] + 1, kv[1] * 1.5), None),
                             (jnp.asarray(0), c2[0]), None, length=4)
        v = lax.while_loop(lambda v: jnp.max(jnp.abs(v)) > 0.1, lambda v: v * 0.5, c2)
        v = lax.cond(p > 0, lambda v: lax.scan(lambda e, _: (e * 0.9, e[0]), v, None,
                                               length=2)[0],
                     lambda v: v + lax.scan(lambda e, _: (e, e), v, None, length=0)[0], v)
        return v + k, (ys, jnp.sum(v) + p)
    return lax.scan(outer, c0, xs)


def nested_loops_np(a, c0, xs):
    c, ys_all, ss = c0.copy(), [], []
    for x in xs:
        for i in range(3):
            c = np.tanh(a @ c) * 0.5 + x[0] * i
        d, ys = c.copy(), [None] * len(x)
        for r in range(len(x) - 1, -1, -1):
            ys[r] = np.sum(d * x[r])
            d = d + x[r] * d[0] * 0.1
        k, p = 0, d[0]
        for _ in range(4):
            k, p = k + 1, p * 1.5
        v = d.copy()
        while np.max(np.abs(v)) > 0.1:
            v = v * 0.5
        if p > 0:
            for _ in range(2):
                v = v * 0.9
        else:
            v = v + v
        c = v + k
        ys_all.append(ys)
        ss.append(np.sum(v) + p)
    return c, (np.array(ys_all), np.array(ss))


def test_loops_inside_a_scan():
    rng = np.random.default_rng(14)
    a, c0, xs = rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=(7, 5, 3))
    out, n, lines = whole(nested_loops, a, c0, xs, expect=1)
    assert any("scan of 7 step(s) compiled whole, with 1 cond and 5 scan and 1 while inside"
               in line for line in lines), lines
    assert not any("step-by-step" in line for line in lines), lines
    close(out, nested_loops(a, c0, xs))
    close(out, nested_loops_np(a, c0, xs))


def test_grad_and_jvp_of_a_fori_loop_in_a_scan():
    def loss(a, c0, xs):
        def outer(c, x):
            c = lax.fori_loop(0, 4, lambda i, v: jnp.tanh(a @ v + x) * 0.9 + 0.01 * i, c)
            h, ys = lax.scan(lambda d, _: (jnp.sin(d) + x, jnp.sum(d ** 2)), c, None, length=3)
            return h, jnp.sum(ys)
        c, ys = lax.scan(outer, c0, xs)
        return jnp.sum(ys) + jnp.sum(c ** 2)

    def loss_np(a, c0, xs):
        c, total = c0.copy(), 0.0
        for x in xs:
            for i in range(4):
                c = np.tanh(a @ c + x) * 0.9 + 0.01 * i
            for _ in range(3):
                total += np.sum(c ** 2)
                c = np.sin(c) + x
        return total + np.sum(c ** 2)

    rng = np.random.default_rng(15)
    a, c0, xs = rng.normal(size=(3, 3)) / 2, rng.normal(size=3), rng.normal(size=(6, 3))
    args = (a, c0, xs)
    out, _, _ = whole(loss, *args, expect=1)
    np.testing.assert_allclose(out, loss_np(*args), rtol=1e-12)
    g = cr.grad(loss, argnums=(0, 1, 2))
    out, _, lines = whole(g, *args, expect=2)
    assert not any("step-by-step" in line for line in lines), lines
    close(out, g(*args))
    for k in range(3):
        d = rng.normal(size=args[k].shape)
        np.testing.assert_allclose(np.sum(out[k] * d), _fd(loss_np, args, k, d), rtol=1e-6)
    ta = rng.normal(size=a.shape)

    def f(a, ta):
        return cr.jvp(lambda a: loss(a, c0, xs), (a,), (ta,))
    out, _, _ = whole(f, a, ta, expect=1)
    close(out, f(a, ta))
    np.testing.assert_allclose(out[1], _fd(loss_np, args, 0, ta), rtol=1e-6)


def test_scan_inside_a_while_loop_and_deep_nesting():
    """A while_loop holding a scan that holds a fori_loop holding a cond; the
    inner scan reads the outer loop's constant and its own xs."""
    m = np.array([[0.9, 0.1], [-0.2, 0.8]])
    xs = np.linspace(-1, 1, 8).reshape(4, 2)

    def f(v0):
        def body(c):
            v, n = c

            def inner(d, x):
                d = lax.fori_loop(0, 2, lambda i, u: lax.cond(
                    u[0] > 0, lambda u: m @ u, lambda u: u + x * i, u), d)
                return d, d[1]
            v, ys = lax.scan(inner, v, xs)
            return v + 0.1 * jnp.sum(ys), n + 1
        return lax.while_loop(lambda c: (c[1] < 5) & (jnp.max(jnp.abs(c[0])) < 50.0),
                              body, (v0, jnp.asarray(0)))
    v0 = np.array([0.4, -0.7])
    out, _, lines = whole(f, v0, expect=1)
    assert any("while_loop compiled whole, with 1 cond and 2 scan inside" in line
               for line in lines), lines
    close(out, f(v0))
    v, n = v0.copy(), 0
    while n < 5 and np.max(np.abs(v)) < 50.0:
        ys = []
        for x in xs:
            for i in range(2):
                v = m @ v if v[0] > 0 else v + x * i
            ys.append(v[1])
        v, n = v + 0.1 * np.sum(ys), n + 1
    close(out, (v, np.asarray(n)))


# -- pad, checkpoint and barriers in a body (what gradients of bodies hold) ---

def _pad_np(x, config):
    shape = tuple(lo + hi + n + max(n - 1, 0) * i for (lo, hi, i), n in zip(config, x.shape))
    out = np.zeros(shape, x.dtype)
    out[tuple(slice(lo, lo + n + max(n - 1, 0) * i, i + 1)
              for (lo, hi, i), n in zip(config, x.shape))] = x
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_pad_in_a_body(dtype):
    """Low, high and interior padding (the transposes of slices and strided
    slices): the operand read at a clamped index, zeros elsewhere; and
    concatenate and rev, also index arithmetic."""
    rng = np.random.default_rng(16)
    m0 = np.round(rng.normal(size=(3, 4)) * 4).astype(dtype)
    xs = np.round(rng.normal(size=(5, 4)) * 4).astype(dtype)
    c1, c2 = ((1, 2, 1),), ((0, 1, 0), (2, 0, 2))

    def f(m0, xs):
        def step(m, x):
            p = lax.pad(x, c1)                      # (10,)
            q = lax.pad(m, c2)                      # (4, 12)
            m = m + x - (q[1:, 2::3] + p[1:8:2]) % 5
            r = jnp.concatenate([lax.rev(x, (0,)), m[0], x[:1] * 2])
            s = jnp.concatenate([m, m[:1] + 1], axis=0)
            return m, (p, jnp.sum(q, axis=0), r, lax.rev(s, (0, 1)))
        return lax.scan(step, m0, xs)
    out, _, lines = whole(f, m0, xs, expect=1)
    close(out, f(m0, xs))
    m, ps, qs, rs, ss = m0.copy(), [], [], [], []
    for x in xs:
        p, q = _pad_np(x, c1), _pad_np(m, c2)
        m = m + x - (q[1:, 2::3] + p[1:8:2]) % 5
        ps.append(p)
        qs.append(q.sum(axis=0))
        rs.append(np.concatenate([x[::-1], m[0], x[:1] * 2]))
        ss.append(np.concatenate([m, m[:1] + 1], axis=0)[::-1, ::-1])
    close(out, (m, (np.array(ps), np.array(qs), np.array(rs), np.array(ss))))


def test_grad_of_indexing_and_checkpoint_in_a_body():
    """Gradients of slices and indexing are pads; a checkpointed step is a
    ``checkpoint`` in the forward body and barriers in the backward one: all
    compiled whole, forward and backward."""
    rng = np.random.default_rng(17)
    a, c0, xs = rng.normal(size=(4, 4)) / 2, rng.normal(size=4), rng.normal(size=(8, 2))

    def loss(a, c0, xs, ckpt):
        def step(c, x):
            c = jnp.tanh(a @ c) + jnp.concatenate([c[::2] * x, c[1:3] * 0.5])
            return c, c[0] * c[3]
        c, ys = lax.scan(cr.checkpoint(step) if ckpt else step, c0, xs)
        return jnp.sum(ys) + jnp.sum(c[1:] ** 2)

    def loss_np(a, c0, xs):
        c, total = c0.copy(), 0.0
        for x in xs:
            c = np.tanh(a @ c) + np.concatenate([c[::2] * x, c[1:3] * 0.5])
            total += c[0] * c[3]
        return total + np.sum(c[1:] ** 2)

    args = (a, c0, xs)
    for ckpt in (False, True):
        g = cr.grad(lambda a, c0, xs, ckpt=ckpt: loss(a, c0, xs, ckpt), argnums=(0, 1, 2))
        out, n, lines = whole(g, *args, expect=2)
        assert not any("step-by-step" in line for line in lines), lines
        close(out, g(*args))
        for k in range(3):
            d = rng.normal(size=args[k].shape)
            np.testing.assert_allclose(np.sum(out[k] * d), _fd(loss_np, args, k, d),
                                       rtol=1e-6)


def test_large_products_keep_blas_and_the_step_by_step_loop():
    """A product above ``loops.LOOP_DOT`` multiply-adds stays a BLAS call
    (written as loops it would be slower); a smaller one compiles whole."""
    rng = np.random.default_rng(3)

    def f(w, h):
        return lax.scan(lambda h, _: (jnp.tanh(h @ w), jnp.sum(h)), h, None, length=3)

    def ref(w, h):
        ys = []
        for _ in range(3):
            ys.append(h.sum())
            h = np.tanh(h @ w)
        return h, np.array(ys)

    big = (rng.normal(size=(256, 256)) / 16, rng.normal(size=(4, 256)))   # 262144 > 2**17
    out, n, lines = whole(f, *big)
    close(out, ref(*big))
    assert n == 0 and any("a 'dot_general' of 262144 multiply-adds" in line
                          and "BLAS is faster" in line for line in lines), lines
    small = (big[0][:64, :64], big[1][:, :64])
    out, n, _ = whole(f, *small, expect=1)
    close(out, ref(*small))


# ---------------------------------------- products hoisted out of scans ---

def _rnn(reverse=False, unroll=1):
    def loss(w, u, b, xs):
        def step(h, x):
            h = jnp.tanh(w @ h + u @ x + b)
            return h, jnp.sum(h * h) + x[0]
        h, ys = lax.scan(step, jnp.zeros(w.shape[0]), xs, reverse=reverse, unroll=unroll)
        return jnp.sum(ys * jnp.arange(1.0, xs.shape[0] + 1.0)) + jnp.sum(h)
    return loss


def _rnn_args(hidden=6, width=3, length=7, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(hidden, hidden)) * 0.4, rng.normal(size=(hidden, width)),
            rng.normal(size=hidden), rng.normal(size=(length, width)))


def _scans(fn, *args):
    """The top-level equations of ``fn``'s optimised Jaxpr, and its scans."""
    from chainrule.jit.optimize import optimize
    closed = optimize(cr.make_jaxpr(fn)(*args))
    return closed.jaxpr.eqns, [e for e in closed.jaxpr.eqns if e.prim.name == "scan"]


def _body_dots(e):
    return sum(b.prim.name == "dot_general" for b in e.params["jaxpr"].eqns)


@pytest.mark.parametrize("reverse", [False, True])
def test_input_projection_hoisted_out_of_the_loop(monkeypatch, reverse):
    """With the body's constants overflowing L1 (forced here), ``u @ x`` is one
    product before the loop, whose rows the loop reads; the recurrent
    ``w @ h`` stays in the body. Values, grad and jvp match eager."""
    optimize = importlib.import_module("chainrule.jit.optimize")
    monkeypatch.setattr(optimize, "L1_BYTES", 0)
    f = _rnn(reverse)
    args = _rnn_args()
    _, scans = _scans(f, *args)
    # one more per-step input (u @ x, for all steps), one product left in the body
    assert [(len(e.inputs), _body_dots(e)) for e in scans] == [(6, 1)]
    g = cr.grad(f, argnums=(0, 1, 2, 3))
    close(cr.jit(f)(*args), f(*args))
    close(whole(cr.jit(g), *args, expect=2)[0], g(*args))
    t = tuple(np.random.default_rng(1).normal(size=np.shape(a)) for a in args)
    jf = cr.jit(lambda *a: cr.jvp(f, a, t))
    close(jf(*args), cr.jvp(f, args, t))
    # the gradient's forward loop is hoisted too (its backward loop's products
    # read the cotangent, which depends on the carry: w.T @ g and u.T @ g stay)
    _, scans = _scans(g, *args)
    assert [_body_dots(e) for e in scans] == [1, 2]


def test_input_projection_kept_when_constants_fit_in_l1(monkeypatch):
    optimize = importlib.import_module("chainrule.jit.optimize")
    monkeypatch.setattr(optimize, "L1_BYTES", 1 << 30)
    f = _rnn()
    args = _rnn_args()
    _, scans = _scans(f, *args)
    assert [(len(e.inputs), _body_dots(e)) for e in scans] == [(5, 2)]
    close(cr.jit(f)(*args), f(*args))


def test_hoisting_skips_checkpointed_bodies_effects_and_empty_scans(monkeypatch):
    optimize = importlib.import_module("chainrule.jit.optimize")
    monkeypatch.setattr(optimize, "L1_BYTES", 0)
    w, u, b, xs = _rnn_args()
    seen = []

    def step(h, x):
        cr.debug.callback(lambda v: seen.append(np.asarray(v).copy()), u @ x)
        return jnp.tanh(w @ h + u @ x + b), x[0]

    def f(xs):
        return lax.scan(step, jnp.zeros(w.shape[0]), xs)

    def f_ckpt(xs):
        return lax.scan(cr.checkpoint(lambda h, x: (jnp.tanh(w @ h + u @ x), x[0])),
                        jnp.zeros(w.shape[0]), xs)

    # the callback's operand is moved out, the callback itself stays in the body
    _, scans = _scans(f, xs)
    assert [_body_dots(e) for e in scans] == [1]
    assert any(b.prim.name == "debug_callback" for b in scans[0].params["jaxpr"].eqns)
    close(cr.jit(f)(xs), f(xs))
    assert len(seen) == 2 * len(xs)
    close(seen[len(xs):], [u @ x for x in xs])
    # checkpoint promises one carry per step of memory: nothing is stacked
    g = cr.grad(lambda xs: jnp.sum(f_ckpt(xs)[0]))

    def checkpointed(scans):
        return [(len(e.inputs), _body_dots(e)) for e in scans if any(
            b.prim.name == "optimization_barrier" for b in e.params["jaxpr"].eqns)]
    forced = checkpointed(_scans(g, xs)[1])
    monkeypatch.setattr(optimize, "L1_BYTES", 1 << 30)
    assert forced and forced == checkpointed(_scans(g, xs)[1])
    monkeypatch.setattr(optimize, "L1_BYTES", 0)
    close(cr.jit(g)(xs), g(xs))
    # no steps: nothing to hoist (the body's two products of u and the one of w)
    _, scans = _scans(f, xs[:0])
    assert [_body_dots(e) for e in scans] == [3]


def test_hoisted_product_returned_as_a_per_step_output(monkeypatch):
    """``u @ x`` both read by the step and stacked as its ``y``: the body's new
    per-step input is also its output."""
    optimize = importlib.import_module("chainrule.jit.optimize")
    monkeypatch.setattr(optimize, "L1_BYTES", 0)
    w, u, _, xs = _rnn_args(5, 3, 4)

    def f(u, xs):
        def step(h, x):
            p = u @ x
            return jnp.tanh(w @ h + p), p
        return lax.scan(step, jnp.zeros(5), xs)

    _, scans = _scans(f, u, xs)
    assert [_body_dots(e) for e in scans] == [1]
    close(whole(cr.jit(f), u, xs, expect=1)[0], f(u, xs))
    g = cr.grad(lambda u, xs: jnp.sum(f(u, xs)[1] ** 2) + jnp.sum(f(u, xs)[0]), (0, 1))
    close(cr.jit(g)(u, xs), g(u, xs))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.booleans(), st.integers(1, 3), st.integers(1, 4),
       st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_random_hoisted_scans_match_eager(length, reverse, width, hidden, unroll, seed):
    """Forced hoisting (every product of per-step inputs moved out) against
    eager, for random sizes, directions and unrolls: the optimised Jaxprs of
    the value, the grad and the jvp, run by the evaluator (the compiled runs
    are the tests above; a Numba compile per example would take minutes)."""
    from chainrule.core import eval_jaxpr
    from chainrule.jit.optimize import optimize
    mod = importlib.import_module("chainrule.jit.optimize")
    f = _rnn(reverse, unroll)
    args = _rnn_args(hidden, width, length, seed)
    t = tuple(np.random.default_rng(seed + 1).normal(size=np.shape(a)) for a in args)
    fns = [f, cr.grad(f, argnums=(0, 1, 2, 3)), lambda *a: cr.jvp(f, a, t)]
    old = mod.L1_BYTES
    mod.L1_BYTES = 0
    try:
        for fn in fns:
            closed = optimize(cr.make_jaxpr(fn)(*args))
            assert any(len(e.inputs) > 5 for e in closed.jaxpr.eqns if e.prim.name == "scan")
            got = eval_jaxpr(closed.jaxpr, closed.consts, *args)
            close(got, cr.tree_util.tree_leaves(fn(*args)))
    finally:
        mod.L1_BYTES = old


# ------------------------------------------------ cache-line alignment ---

def _at_offset(a, off):
    """A copy of ``a`` whose data starts ``off`` elements after a cache line."""
    buf = np.empty(a.size + 16, a.dtype)
    start = (-buf.ctypes.data // a.itemsize) % (64 // a.itemsize)
    out = buf[start + off:start + off + a.size].reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("shape,dtype", [((64, 64), np.float64), ((3, 5), np.float32),
                                         ((0,), np.float64), ((7,), np.int8)])
def test_aligned_empty_starts_on_a_cache_line(shape, dtype):
    from chainrule.jit.loops import aligned_empty
    a = aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
    assert a.ctypes.data % 64 == 0 or a.size == 0


@pytest.mark.parametrize("off", [0, 1, 2, 4])
def test_constants_read_from_aligned_memory_give_the_same_numbers(off):
    """A matrix the loop reads every step is copied to a cache line when it
    does not start on one (``rt.misaligned``); results do not depend on where
    the caller's array lies."""
    rng = np.random.default_rng(3)
    w = _at_offset(rng.normal(size=(24, 24)) * 0.3, off)
    xs = rng.normal(size=(9, 24))

    def f(w, xs):
        # h @ w reads w itself every step (w @ h, a copy transposed before the loop)
        h, ys = lax.scan(lambda h, x: (jnp.tanh(h @ w + x), jnp.sum(h)), jnp.ones(24), xs)
        return jnp.sum(h) + jnp.sum(ys)

    assert (w.ctypes.data % 64 == 0) == (off == 0)
    g = cr.grad(f)
    out = whole(cr.jit(g), w, xs, expect=2)[0]
    close(out, g(np.ascontiguousarray(w), xs))
    close(cr.jit(f)(w, xs), f(w, xs))


def _loop_source(step, w):
    """The whole-loop kernel source of a 3-step scan of ``step(w, h, x)``."""
    from chainrule.jit import loops
    jaxpr = cr.make_jaxpr(lambda w, h, xs: lax.scan(
        lambda h, x: step(w, h, x), h, xs))(w, np.ones(16), np.ones((3, 16)))
    (e,) = [e for e in jaxpr.jaxpr.eqns if e.prim.name == "scan"]
    p = e.params
    return loops.scan(p["jaxpr"], p["num_consts"], p["num_carry"], p["length"],
                      p["reverse"]).source


def test_only_constants_read_in_the_loop_are_aligned():
    w = np.ones((16, 16))
    # w @ h reads w's transposed copy (made before the loop), not w itself
    src = _loop_source(lambda w, h, x: (jnp.tanh(w @ h + x), h[0]), w)
    assert "rt.misaligned" not in src
    # h @ w reads w's rows as they are
    src = _loop_source(lambda w, h, x: (jnp.tanh(h @ w + x), h[0]), w)
    assert src.count("rt.misaligned") == 1
