"""chainrule.jit vs hand-written NumPy vs JAX's jit (float64, x64 enabled).

- W1: ``jit(grad(loss))`` of a 784-512-512-10 tanh MLP, softmax cross-entropy,
  batch 128 (gradient with respect to all six parameter arrays); also the
  jitted forward pass, for the gradient/forward ratio.
- W2: ``jit(grad(f))``, ``f(x) = sum(sin(x)cos(x) + tanh(x)^2 + exp(-x^2))``,
  x of 10^6 elements.
- W3: the same on 8 elements: per-call time (dispatch overhead).
- W4: first call of ``jit(grad(loss))`` in a fresh process, with a cold and a
  warm chainrule disk cache (and JAX's cold first call).

Every competitor's result is checked against the NumPy reference before
timing; times are medians over repeats after warmup.

    python benchmarks/jit.py                 # defaults (all threads)
    python benchmarks/jit.py --threads 1     # BLAS and Numba on one thread
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
    return p.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
    os.environ["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={ARGS.threads}")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

try:
    import jax  # noqa: E402
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp  # noqa: E402
except ImportError:  # pragma: no cover
    jax = None


def median_time(fn, repeats, warmup=2, inner=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        ts.append((time.perf_counter() - t) / inner)
    return float(np.median(ts))


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


def check(name, got, want, tol=1e-9):
    got = [np.asarray(g) for g in (got if isinstance(got, (list, tuple)) else [got])]
    want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
    for g, w in zip(got, want):
        if not np.allclose(g, w, rtol=tol, atol=tol):
            raise AssertionError(f"{name}: result differs from the NumPy reference "
                                 f"(max abs err {np.max(np.abs(g - w))})")


def flat(tree):
    return cr.tree_util.tree_leaves(tree)


def run_w1(rows, repeats):
    params, x, y = mlp_data()
    ref = flat(mlp_numpy_grad(params, x, y))
    g = cr.jit(cr.grad(mlp_loss))
    t0 = time.perf_counter()
    check("W1 chainrule", flat(g(params, x, y)), ref)
    first = time.perf_counter() - t0
    fwd = cr.jit(mlp_loss)
    fwd(params, x, y)
    res = {"numpy": median_time(lambda: mlp_numpy_grad(params, x, y), repeats),
           "chainrule": median_time(lambda: g(params, x, y), repeats),
           "chainrule_forward": median_time(lambda: fwd(params, x, y), repeats),
           "chainrule_first_call_in_process": first}
    if jax is not None:
        jg = jax.jit(jax.grad(jax_mlp_loss))
        jp = jax.tree_util.tree_map(jnp.asarray, params)
        jx, jy = jnp.asarray(x), jnp.asarray(y)
        check("W1 jax", flat(jax.tree_util.tree_map(np.asarray, jg(jp, jx, jy))), ref)
        res["jax"] = median_time(lambda: jax.block_until_ready(jg(jp, jx, jy)), repeats)
    rows.append(("W1 jit(grad(mlp)) 784-512-512-10 b128", res))


def run_w2_w3(rows, repeats):
    g = cr.jit(cr.grad(w2_f))
    for label, n, inner in (("W2 jit(grad(f)) n=1e6", 10 ** 6, 1), ("W3 jit(grad(f)) n=8", 8, 2000)):
        x = np.random.default_rng(1).normal(size=n)
        ref = w2_numpy_grad(x)
        check(label, g(x), ref)
        res = {"numpy": median_time(lambda: w2_numpy_grad(x), repeats, inner=inner),
               "chainrule": median_time(lambda: g(x), repeats, inner=inner)}
        if jax is not None:
            jg = jax.jit(jax.grad(jax_w2))
            jx = jnp.asarray(x)
            check(label + " jax", np.asarray(jg(jx)), ref)
            res["jax"] = median_time(lambda: jax.block_until_ready(jg(jx)), repeats, inner=inner)
        rows.append((label, res))


_W4 = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
import jit as B
import numpy as np
params, x, y = B.mlp_data()
t1 = time.perf_counter()
if {use_jax}:
    g = B.jax.jit(B.jax.grad(B.jax_mlp_loss))
    B.jax.block_until_ready(g(params, x, y))
else:
    B.cr.jit(B.cr.grad(B.mlp_loss))(params, x, y)
print(time.perf_counter() - t1)
"""


def run_w4(rows):
    bench = os.path.dirname(os.path.abspath(__file__))
    res = {}
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, CHAINRULE_CACHE_DIR=d)
        for label, use_jax in (("chainrule_cold", False), ("chainrule_warm", False),
                               ("jax", True)):
            if use_jax and jax is None:
                continue
            code = _W4.format(bench=bench, use_jax=use_jax)
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True)
            res[label] = float(out.stdout.split()[-1])
    rows.append(("W4 first call jit(grad(mlp)), fresh process", res))


def fmt(t):
    return f"{t * 1e6:9.1f} us" if t < 1e-3 else f"{t * 1e3:9.2f} ms" if t < 1 else f"{t:9.2f} s "


def main():
    repeats = 5 if ARGS.quick else 30
    rows = []
    run_w1(rows, repeats)
    run_w2_w3(rows, repeats)
    if not ARGS.skip_w4:
        run_w4(rows)
    print(f"\nchainrule.jit benchmark (threads={ARGS.threads or 'default'}, "
          f"numba {__import__('numba').__version__}, jax {jax.__version__ if jax else '-'})")
    print(f"{'workload':48s} {'competitor':32s} {'median':>12s} {'vs chainrule':>13s}")
    for name, res in rows:
        base = res.get("chainrule", res.get("chainrule_cold"))
        for k, v in res.items():
            ratio = f"{base / v:10.2f}x" if v else ""
            print(f"{name:48s} {k:32s} {fmt(v):>12s} {ratio:>13s}")
    for name, res in rows:
        if "jax" in res and "chainrule" in res:
            print(f"{name}: chainrule/jax = {res['chainrule'] / res['jax']:.2f}")
        if "chainrule_forward" in res:
            print(f"{name}: gradient/forward = {res['chainrule'] / res['chainrule_forward']:.2f}")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                       f"jit{'_threads' + str(ARGS.threads) if ARGS.threads else ''}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.platform(),
                   "processor": platform.processor(), "cpus": os.cpu_count(),
                   "threads": ARGS.threads, "seconds": {n: r for n, r in rows}}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
