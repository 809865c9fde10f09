"""chainrule.jit vs hand-written NumPy vs JAX's jit (float64, x64 enabled).

- W1: ``jit(grad(loss))`` of a 784-512-512-10 tanh MLP, softmax cross-entropy,
  batch 128 (gradient with respect to all six parameter arrays); also the
  jitted forward pass, for the gradient/forward ratio.
- W2: ``jit(grad(f))``, ``f(x) = sum(sin(x)cos(x) + tanh(x)^2 + exp(-x^2))``,
  x of 10^6 elements.
- W3: the same on 8 elements: per-call time (dispatch overhead).
- W4: first call of ``jit(grad(loss))`` in a fresh process: with nothing
  cached (chainrule's kernel cache and Numba's cache of chainrule's math
  helpers both empty: ``NUMBA_CACHE_DIR`` points into the fresh directory
  too), with both warm, with the kernel cache cold but the helpers cached
  (what a new program sees after any earlier use of chainrule), and JAX's
  first call; import times are reported separately.
- W5: the full Jacobian of ``tanh(A @ tanh(B @ x))`` (hidden size 64) with
  respect to x, for (n, m) = (4, 256), (256, 4), (64, 64), by ``jit(jacfwd)``
  and ``jit(jacrev)``.
- W7: ``jit(grad(f))`` of a 200-term scalar Python loop, per call.
- W8 (not one of the issue's): ``jit(grad)`` of a 200-step tanh RNN
  through ``lax.scan``: a loop chainrule runs over a compiled body.
- W9 (loops compiled whole, issue #15): ``jit(grad)`` of a 200-step tanh RNN
  through ``lax.scan`` (per-step outputs in the loss), hidden 16 and 64.
- W10: ``jit(grad)`` with respect to (A, c) of 1000 RK4 steps of the 10-dim
  ODE ``dx/dt = tanh(A x) + c`` in ``lax.fori_loop``.
- W11: ``jit(jvp)`` of a ``lax.while_loop`` Newton iteration for the cube
  roots of 1000 numbers (to 1e-12).

Every competitor's result is checked against a NumPy reference before
timing, and chainrule's compiled plan is checked to have no NumPy fallback
(a kernel Numba could not compile would otherwise be timed as NumPy).
Competitors are timed interleaved (round-robin, so that load from other
processes hits them alike) and the tables show medians; only ratios within
one run are comparable on a shared machine.

    python benchmarks/jit.py                 # defaults (all threads)
    python benchmarks/jit.py --threads 1     # BLAS, Numba and XLA on one thread
    python benchmarks/jit.py --quick

Writes ``benchmarks/results/jit.json`` (or ``jit_threads1.json``).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time


def _args():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--skip-w4", action="store_true")
    p.add_argument("--w4-repeats", type=int, default=3)
    p.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W5")
    p.add_argument("--out", default=None, help="JSON path (default: results/jit*.json)")
    return p.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:
    # n threads means n cores, by affinity: XLA keeps a second compute
    # thread whatever its flags say, so flags alone compare one core with two
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:ARGS.threads]))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS", "CHAINRULE_JIT_THREADS"):
        os.environ[var] = str(ARGS.threads)
    os.environ["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={ARGS.threads}")

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "src"))
os.environ.setdefault("CHAINRULE_JIT_COMPILE", "sync")  # time compiled kernels from call one
import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

try:
    import jax  # noqa: E402
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp  # noqa: E402
except ImportError:  # pragma: no cover
    jax = None


def interleaved(fns, repeats, warmup=2, inner=1):
    """Median seconds per call of each function, timed round-robin."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            ts[k].append((time.perf_counter() - t) / inner)
    return {k: float(np.median(v)) for k, v in ts.items()}


def check(name, got, want, tol=1e-9):
    got = [np.asarray(g) for g in (got if isinstance(got, (list, tuple)) else [got])]
    want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
    assert len(got) == len(want), name
    for g, w in zip(got, want):
        if g.shape != w.shape or not np.allclose(g, w, rtol=tol, atol=tol):
            raise AssertionError(f"{name}: result differs from the NumPy reference "
                                 f"(max abs err {np.max(np.abs(g - w))})")


def compiled(name, jf, *args):
    """Fail if any fused kernel of ``jf``'s plan fell back to NumPy."""
    ex = jf.lower(*args).executable
    if ex.fallbacks:
        raise AssertionError(f"{name}: {len(ex.fallbacks)} kernel(s) fell back to NumPy: "
                             f"{ex.fallbacks}")


def flat(tree):
    return cr.tree_util.tree_leaves(tree)


def jax_flat(tree):
    return [np.asarray(t) for t in jax.tree_util.tree_leaves(tree)]


# ----------------------------------------------------------------- W1 ---

def mlp_loss(params, x, y):
    h = x
    for i, (w, b) in enumerate(params):
        z = cnp.matmul(h, w) + b
        h = cnp.tanh(z) if i < len(params) - 1 else z
    z = h - cnp.max(h, axis=1, keepdims=True)
    logp = z - cnp.log(cnp.sum(cnp.exp(z), axis=1, keepdims=True))
    return -cnp.mean(cnp.sum(logp * y, axis=1))


def mlp_numpy_grad(params, x, y):
    hs, h = [x], x
    for i, (w, b) in enumerate(params):
        z = h @ w + b
        h = np.tanh(z) if i < len(params) - 1 else z
        hs.append(h)
    z = h - h.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    d = (p * y.sum(axis=1, keepdims=True) - y) / n
    grads = []
    for i in reversed(range(len(params))):
        w, _ = params[i]
        grads.append((hs[i].T @ d, d.sum(axis=0)))
        if i:
            d = (d @ w.T) * (1 - hs[i] ** 2)
    return grads[::-1]


def mlp_numpy_loss(params, x, y):
    h = x
    for i, (w, b) in enumerate(params):
        z = h @ w + b
        h = np.tanh(z) if i < len(params) - 1 else z
    z = h - h.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.mean(np.sum(logp * y, axis=1))


def jax_mlp_loss(params, x, y):
    h = x
    for i, (w, b) in enumerate(params):
        z = h @ w + b
        h = jnp.tanh(z) if i < len(params) - 1 else z
    z = h - jnp.max(h, axis=1, keepdims=True)
    logp = z - jnp.log(jnp.sum(jnp.exp(z), axis=1, keepdims=True))
    return -jnp.mean(jnp.sum(logp * y, axis=1))


def mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [784, 512, 512, 10]
    params = [(rng.normal(size=(a, b)) / np.sqrt(a), rng.normal(size=b) * 0.1)
              for a, b in zip(sizes[:-1], sizes[1:])]
    x = rng.normal(size=(128, 784))
    y = np.eye(10)[rng.integers(0, 10, size=128)]
    return params, x, y


# ------------------------------------------------------------- W2/W3 ---

def w2_f(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + cnp.tanh(x) ** 2 + cnp.exp(-x ** 2))


def w2_numpy_grad(x):
    s, c, t = np.sin(x), np.cos(x), np.tanh(x)
    return c * c - s * s + 2 * t * (1 - t * t) - 2 * x * np.exp(-x * x)


def jax_w2(x):
    return jnp.sum(jnp.sin(x) * jnp.cos(x) + jnp.tanh(x) ** 2 + jnp.exp(-x ** 2))


# ----------------------------------------------------------------- W5 ---

def w5_f(x, a, b):
    return cnp.tanh(cnp.matmul(a, cnp.tanh(cnp.matmul(b, x))))


def jax_w5(x, a, b):
    return jnp.tanh(a @ jnp.tanh(b @ x))


def w5_numpy_jac(x, a, b):
    u = np.tanh(b @ x)
    y = np.tanh(a @ u)
    return ((1 - y * y)[:, None] * a) @ ((1 - u * u)[:, None] * b)


def w5_data(n, m, h=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=n), rng.normal(size=(m, h)) / np.sqrt(h),
            rng.normal(size=(h, n)) / np.sqrt(n))


# ----------------------------------------------------------------- W7 ---

W7_TERMS = 200


def w7_f(x):
    s = 0.0
    for i in range(W7_TERMS):
        s = s + cnp.sin(x * (1.0 + 0.01 * i)) / (1.0 + i)
    return s


def jax_w7(x):
    s = 0.0
    for i in range(W7_TERMS):
        s = s + jnp.sin(x * (1.0 + 0.01 * i)) / (1.0 + i)
    return s


def w7_numpy_grad(x):
    c = 1.0 + 0.01 * np.arange(W7_TERMS)
    return np.asarray(np.sum(np.cos(x * c) * c / (1.0 + np.arange(W7_TERMS))))


# ----------------------------------------------------------------- W8 ---
# Not one of the targets: a loop under jit, which chainrule runs as a
# Python loop over a compiled body and XLA compiles whole.

W8_STEPS, W8_HIDDEN, W8_INPUT = 200, 16, 8


def w8_data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(W8_HIDDEN, W8_HIDDEN)) * 0.3,
            rng.normal(size=(W8_INPUT, W8_HIDDEN)) * 0.3,
            rng.normal(size=(W8_STEPS, W8_INPUT)))


def w8_loss(w, u, xs):
    def step(h, x):
        h = cnp.tanh(h @ w + x @ u)
        return h, cnp.sum(h * h)
    h, ys = cr.lax.scan(step, cnp.zeros(W8_HIDDEN), xs)
    return cnp.sum(ys) + cnp.sum(h)


def jax_w8(w, u, xs):
    def step(h, x):
        h = jnp.tanh(h @ w + x @ u)
        return h, jnp.sum(h * h)
    h, ys = jax.lax.scan(step, jnp.zeros(W8_HIDDEN), xs)
    return jnp.sum(ys) + jnp.sum(h)


def w8_numpy_grad(w, u, xs):
    hs = [np.zeros(W8_HIDDEN)]
    for x in xs:
        hs.append(np.tanh(hs[-1] @ w + x @ u))
    gw, gu = np.zeros_like(w), np.zeros_like(u)
    gh = np.ones(W8_HIDDEN)            # d sum(h_T) / d h_T; each step adds 2 h_t
    for t in range(len(xs), 0, -1):
        h = hs[t]
        g = (gh + 2 * h) * (1 - h * h)
        gw += np.outer(hs[t - 1], g)
        gu += np.outer(xs[t - 1], g)
        gh = g @ w.T
    return gw, gu


# ------------------------------------------------------- W9, W10, W11 ---
W9_STEPS, W9_INPUT = 200, 8
W10_DIM, W10_STEPS, W10_DT = 10, 1000, 0.01
W11_N = 1000


def w9_data(hidden, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(hidden, hidden)) / np.sqrt(hidden),
            rng.normal(size=(hidden, W9_INPUT)) * 0.3, rng.normal(size=hidden) * 0.1,
            rng.normal(size=(W9_STEPS, W9_INPUT)))


def _w9_loss(np_, scan):
    def loss(w, u, b, xs):
        def step(h, x):
            h = np_.tanh(w @ h + u @ x + b)
            return h, np_.sum(h * h)
        h, ys = scan(step, np_.zeros(w.shape[0]), xs)
        return np_.sum(ys) + np_.sum(h)
    return loss


def w9_numpy_grad(w, u, b, xs):
    hs = [np.zeros(w.shape[0])]
    for x in xs:
        hs.append(np.tanh(w @ hs[-1] + u @ x + b))
    gw, gu, gb = np.zeros_like(w), np.zeros_like(u), np.zeros_like(b)
    gh = np.ones(w.shape[0])
    for t in range(len(xs), 0, -1):
        g = (gh + 2 * hs[t]) * (1 - hs[t] ** 2)
        gw += np.outer(g, hs[t - 1])
        gu += np.outer(g, xs[t - 1])
        gb += g
        gh = w.T @ g
    return gw, gu, gb


def w10_data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(W10_DIM, W10_DIM)) / np.sqrt(W10_DIM),
            rng.normal(size=W10_DIM) * 0.1, rng.normal(size=W10_DIM))


def _w10_loss(np_, fori_loop):
    def loss(a, c, x0):
        def f(x):
            return np_.tanh(a @ x) + c

        def body(i, x):
            k1 = f(x)
            k2 = f(x + W10_DT / 2 * k1)
            k3 = f(x + W10_DT / 2 * k2)
            k4 = f(x + W10_DT * k3)
            return x + W10_DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return np_.sum(fori_loop(0, W10_STEPS, body, x0) ** 2)
    return loss


def _w11_cbrt(np_, while_loop):
    def cbrt(a):
        def cond(c):
            return np_.max(np_.abs(c[0] - c[1])) > 1e-12

        def body(c):
            x = c[0]
            return x - (x ** 3 - a) / (3 * x ** 2), x
        return while_loop(cond, body, (a + 1.0, a))[0]
    return cbrt


def w11_data(seed=0):
    return np.random.default_rng(seed).uniform(0.5, 20.0, size=W11_N)


# ------------------------------------------------------------ running ---

def run_w1(rows, repeats):
    params, x, y = mlp_data()
    ref = flat(mlp_numpy_grad(params, x, y))
    g = cr.jit(cr.grad(mlp_loss))
    t0 = time.perf_counter()
    check("W1 chainrule", flat(g(params, x, y)), ref)
    first = time.perf_counter() - t0
    compiled("W1", g, params, x, y)
    fwd = cr.jit(mlp_loss)
    check("W1 chainrule forward", fwd(params, x, y), mlp_numpy_loss(params, x, y))
    fns = {"numpy": lambda: mlp_numpy_grad(params, x, y),
           "chainrule": lambda: g(params, x, y),
           "chainrule_forward": lambda: fwd(params, x, y)}
    if jax is not None:
        jg = jax.jit(jax.grad(jax_mlp_loss))
        jf = jax.jit(jax_mlp_loss)
        jp = jax.tree_util.tree_map(jnp.asarray, params)
        jx, jy = jnp.asarray(x), jnp.asarray(y)
        check("W1 jax", jax_flat(jg(jp, jx, jy)), ref)
        fns["jax"] = lambda: jax.block_until_ready(jg(jp, jx, jy))
        fns["jax_forward"] = lambda: jax.block_until_ready(jf(jp, jx, jy))
    res = interleaved(fns, repeats)
    res["chainrule_first_call_in_process"] = first
    rows.append(("W1 jit(grad(mlp)) 784-512-512-10 b128", res))


def run_w2_w3(rows, repeats, which):
    g = cr.jit(cr.grad(w2_f))
    for label, n, inner in (("W2 jit(grad(f)) n=1e6", 10 ** 6, 1),
                            ("W3 jit(grad(f)) n=8", 8, 2000)):
        if label[:2] not in which:
            continue
        x = np.random.default_rng(1).normal(size=n)
        ref = w2_numpy_grad(x)
        check(label, g(x), ref)
        compiled(label, g, x)
        fns = {"numpy": lambda x=x: w2_numpy_grad(x), "chainrule": lambda x=x: g(x)}
        if jax is not None:
            jg = jax.jit(jax.grad(jax_w2))
            jx = jnp.asarray(x)
            check(label + " jax", np.asarray(jg(jx)), ref)
            fns["jax"] = lambda jg=jg, jx=jx: jax.block_until_ready(jg(jx))
        rows.append((label, interleaved(fns, repeats, inner=inner)))


def run_w5(rows, repeats):
    for n, m in ((4, 256), (256, 4), (64, 64)):
        x, a, b = w5_data(n, m)
        ref = w5_numpy_jac(x, a, b)
        fns = {"numpy": lambda args=(x, a, b): w5_numpy_jac(*args)}
        for mode in ("jacfwd", "jacrev"):
            jf = cr.jit(getattr(cr, mode)(w5_f))
            check(f"W5 {mode} {n}x{m}", jf(x, a, b), ref)
            compiled(f"W5 {mode}", jf, x, a, b)
            fns[f"chainrule_{mode}"] = lambda jf=jf, args=(x, a, b): jf(*args)
            if jax is not None:
                jj = jax.jit(getattr(jax, mode)(jax_w5))
                jargs = tuple(jnp.asarray(t) for t in (x, a, b))
                check(f"W5 jax {mode} {n}x{m}", np.asarray(jj(*jargs)), ref)
                fns[f"jax_{mode}"] = lambda jj=jj, jargs=jargs: jax.block_until_ready(jj(*jargs))
        rows.append((f"W5 jacobian n={n} m={m}", interleaved(fns, repeats, inner=20)))


def run_w7(rows, repeats):
    x = np.array(0.3)
    ref = w7_numpy_grad(x)
    g = cr.jit(cr.grad(w7_f))
    t0 = time.perf_counter()
    check("W7 chainrule", g(x), ref)
    first = time.perf_counter() - t0
    compiled("W7", g, x)
    fns = {"numpy": lambda: w7_numpy_grad(x), "chainrule": lambda: g(x)}
    if jax is not None:
        jg = jax.jit(jax.grad(jax_w7))
        jx = jnp.asarray(x)
        t0 = time.perf_counter()
        check("W7 jax", np.asarray(jg(jx)), ref)
        jfirst = time.perf_counter() - t0
        fns["jax"] = lambda: jax.block_until_ready(jg(jx))
    res = interleaved(fns, repeats, inner=2000)
    res["chainrule_first_call_in_process"] = first
    if jax is not None:
        res["jax_first_call_in_process"] = jfirst
    rows.append((f"W7 jit(grad(f)) {W7_TERMS}-term scalar loop", res))


def run_w8(rows, repeats):
    w, u, xs = w8_data()
    ref = flat(w8_numpy_grad(w, u, xs))
    g = cr.jit(cr.grad(w8_loss, argnums=(0, 1)))
    check("W8 chainrule", flat(g(w, u, xs)), ref)
    compiled("W8", g, w, u, xs)
    fns = {"numpy": lambda: w8_numpy_grad(w, u, xs), "chainrule": lambda: g(w, u, xs)}
    if jax is not None:
        jg = jax.jit(jax.grad(jax_w8, argnums=(0, 1)))
        jargs = tuple(jnp.asarray(t) for t in (w, u, xs))
        check("W8 jax", jax_flat(jg(*jargs)), ref)
        fns["jax"] = lambda: jax.block_until_ready(jg(*jargs))
    rows.append((f"W8 jit(grad(scan RNN)) {W8_STEPS} steps, hidden {W8_HIDDEN}",
                 interleaved(fns, repeats)))


def _loops_whole():
    from chainrule.jit import cache
    return cache.stats["loops_compiled_whole"]


def _whole(name, before):
    """Fail unless the first call compiled its loops whole (issue #15's subject)."""
    if _loops_whole() == before:
        raise AssertionError(f"{name}: no loop was compiled whole")


def run_w9(rows, repeats):
    for hidden in (16, 64):
        _run_w9(rows, repeats, hidden)


def _run_w9(rows, repeats, hidden):
    w, u, b, xs = w9_data(hidden)
    ref = flat(w9_numpy_grad(w, u, b, xs))
    g = cr.jit(cr.grad(_w9_loss(cnp, cr.lax.scan), argnums=(0, 1, 2)))
    before = _loops_whole()
    check("W9 chainrule", flat(g(w, u, b, xs)), ref)
    compiled("W9", g, w, u, b, xs)
    _whole("W9", before)
    fns = {"numpy": lambda: w9_numpy_grad(w, u, b, xs),
           "chainrule": lambda: g(w, u, b, xs)}
    if jax is not None:
        jg = jax.jit(jax.grad(_w9_loss(jnp, jax.lax.scan), argnums=(0, 1, 2)))
        jargs = tuple(jnp.asarray(t) for t in (w, u, b, xs))
        check("W9 jax", jax_flat(jg(*jargs)), ref)
        fns["jax"] = lambda: jax.block_until_ready(jg(*jargs))
    rows.append((f"W9 jit(grad(scan RNN)) {W9_STEPS} steps, hidden {hidden}",
                 interleaved(fns, repeats, inner=20)))


def run_w10(rows, repeats):
    a, c, x0 = w10_data()
    g = cr.jit(cr.grad(_w10_loss(cnp, cr.lax.fori_loop), argnums=(0, 1)))
    ref = flat(cr.grad(_w10_loss(cnp, cr.lax.fori_loop), argnums=(0, 1))(a, c, x0))
    before = _loops_whole()
    check("W10 chainrule", flat(g(a, c, x0)), ref)
    compiled("W10", g, a, c, x0)
    _whole("W10", before)
    fns = {"chainrule": lambda: g(a, c, x0)}
    if jax is not None:
        jg = jax.jit(jax.grad(_w10_loss(jnp, jax.lax.fori_loop), argnums=(0, 1)))
        jargs = tuple(jnp.asarray(t) for t in (a, c, x0))
        check("W10 jax", jax_flat(jg(*jargs)), ref)
        fns["jax"] = lambda: jax.block_until_ready(jg(*jargs))
    rows.append((f"W10 jit(grad(fori_loop RK4)) {W10_STEPS} steps, dim {W10_DIM}",
                 interleaved(fns, repeats, inner=5)))


def run_w11(rows, repeats):
    a = w11_data()
    t = np.ones_like(a)
    ref = [np.cbrt(a), 1 / (3 * np.cbrt(a) ** 2)]
    cb = _w11_cbrt(cnp, cr.lax.while_loop)
    g = cr.jit(lambda a, t: cr.jvp(cb, (a,), (t,)))
    before = _loops_whole()
    check("W11 chainrule", list(g(a, t)), ref)
    compiled("W11", g, a, t)
    _whole("W11", before)
    fns = {"numpy": lambda: np.cbrt(a), "chainrule": lambda: g(a, t)}
    if jax is not None:
        jcb = _w11_cbrt(jnp, jax.lax.while_loop)
        jg = jax.jit(lambda a, t: jax.jvp(jcb, (a,), (t,)))
        ja, jt = jnp.asarray(a), jnp.asarray(t)
        check("W11 jax", [np.asarray(v) for v in jg(ja, jt)], ref)
        fns["jax"] = lambda: jax.block_until_ready(jg(ja, jt))
    rows.append((f"W11 jit(jvp(while_loop Newton cbrt)) {W11_N} numbers",
                 interleaved(fns, repeats, inner=5)))


_W4 = """
import importlib.util, sys, time
t0 = time.perf_counter()
if {use_jax}:
    import jax
    jax.config.update("jax_enable_x64", True)
else:
    sys.path.insert(0, {src!r})
    import chainrule
    from chainrule.jit import cache
    compile_s = [0.0]
    _compile = cache.compile_kernel
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return _compile(*a, **k)
        finally:
            compile_s[0] += time.perf_counter() - t
    cache.compile_kernel = timed
t_import = time.perf_counter() - t0
spec = importlib.util.spec_from_file_location("jitbench", {bench!r})
B = importlib.util.module_from_spec(spec)
spec.loader.exec_module(B)
params, x, y = B.mlp_data()
t1 = time.perf_counter()
if {use_jax}:
    g = B.jax.jit(B.jax.grad(B.jax_mlp_loss))
    B.jax.block_until_ready(g(params, x, y))
    print(time.perf_counter() - t1, t_import, 0.0, 0)
else:
    B.cr.jit(B.cr.grad(B.mlp_loss))(params, x, y)
    print(time.perf_counter() - t1, t_import, compile_s[0], cache.stats["kernel_compiles"])
"""


def run_w4(rows, repeats):
    bench = os.path.abspath(__file__)
    src = os.path.join(_HERE, "..", "src")
    samples = {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            for label, use_jax, kernels in (("chainrule_cold", False, "chainrule"),
                                            ("chainrule_warm", False, "chainrule"),
                                            ("chainrule_cold_kernels", False, "chainrule2"),
                                            ("jax", True, "")):
                if use_jax and jax is None:
                    continue
                # cold: nothing cached; warm: the same directories again;
                # cold_kernels: no kernel cached, chainrule's vmath helpers
                # cached by Numba (as after any earlier use of chainrule)
                env = dict(os.environ, CHAINRULE_CACHE_DIR=os.path.join(d, kernels),
                           NUMBA_CACHE_DIR=os.path.join(d, "numba"))
                code = _W4.format(bench=bench, src=src, use_jax=use_jax)
                out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                     text=True, check=True)
                first, imp, comp, ncomp = map(float, out.stdout.split()[-4:])
                samples.setdefault(label, []).append(first)
                samples.setdefault(label + "_import", []).append(imp)
                if not use_jax:
                    samples.setdefault(label + "_kernel_compile_or_load", []).append(comp)
                    samples.setdefault(label + "_kernels_compiled", []).append(ncomp)
    res = {k: float(np.median(v)) for k, v in samples.items()}
    rows.append(("W4 first call jit(grad(mlp)), fresh process", res))


def fmt(t):
    return (f"{t * 1e6:9.1f} us" if t < 1e-3 else f"{t * 1e3:9.2f} ms" if t < 1
            else f"{t:9.2f} s ")


def machine_info():
    try:
        import threadpoolctl
        blas = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                for d in threadpoolctl.threadpool_info()]
    except ImportError:
        blas = None
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "blas": blas, "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "loadavg": load}


def versions():
    from importlib import metadata
    out = {}
    for dist in ("numpy", "numba", "llvmlite", "jax", "jaxlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    # imported here: W4's child processes load this file without its folder on sys.path
    from _shared import git_revision
    out["chainrule_git"] = git_revision()
    return out


def main():
    repeats = 5 if ARGS.quick else 30
    which = {w.strip().upper() for w in ARGS.only.split(",") if w.strip()} or {
        "W1", "W2", "W3", "W4", "W5", "W7", "W8", "W9", "W10", "W11"}
    if ARGS.skip_w4:
        which.discard("W4")
    info = machine_info()
    rows = []
    if "W1" in which:
        run_w1(rows, repeats)
    if which & {"W2", "W3"}:
        run_w2_w3(rows, repeats, which)
    for name, run in (("W5", run_w5), ("W7", run_w7), ("W8", run_w8), ("W9", run_w9),
                      ("W10", run_w10), ("W11", run_w11)):
        if name in which:
            run(rows, repeats)
    if "W4" in which:
        run_w4(rows, 1 if ARGS.quick else ARGS.w4_repeats)
    vers = versions()
    print(f"\nchainrule.jit benchmark (threads={ARGS.threads or 'default'}, "
          f"numba {vers['numba']}, jax {vers['jax']}, BLAS "
          f"{(info['blas'] or [{}])[0].get('architecture')})")
    print(f"{'workload':44s} {'competitor':40s} {'median':>12s} {'chainrule/this':>15s}")
    for name, res in rows:
        base = res.get("chainrule", res.get("chainrule_cold"))
        for k, v in res.items():
            ratio = f"{base / v:12.2f}x" if v and base and not k.endswith("compiled") else ""
            val = f"{v:9.0f}   " if k.endswith("compiled") else fmt(v)
            print(f"{name:44s} {k:40s} {val:>12s} {ratio:>15s}")
    print()
    for name, res in rows:
        if "jax" in res and "chainrule" in res:
            print(f"{name}: chainrule/jax = {res['chainrule'] / res['jax']:.2f}")
        if "chainrule_forward" in res:
            print(f"{name}: gradient/forward = {res['chainrule'] / res['chainrule_forward']:.2f}")
        for mode in ("jacfwd", "jacrev"):
            if f"jax_{mode}" in res:
                print(f"{name}: {mode} chainrule/jax = "
                      f"{res[f'chainrule_{mode}'] / res[f'jax_{mode}']:.2f}")
        if "chainrule_cold" in res and "jax" in res:
            print(f"{name}: cold/jax = {res['chainrule_cold'] / res['jax']:.2f}, "
                  f"warm/jax = {res['chainrule_warm'] / res['jax']:.2f}")
    out = ARGS.out or os.path.join(
        _HERE, "results", f"jit{'_threads' + str(ARGS.threads) if ARGS.threads else ''}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    info["loadavg_at_end"] = machine_info()["loadavg"]
    with open(out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "command": " ".join([os.path.basename(sys.executable), "benchmarks/jit.py"]
                                       + sys.argv[1:]),
                   "machine": info, "versions": vers, "threads": ARGS.threads,
                   "seconds": {n: r for n, r in rows}}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
