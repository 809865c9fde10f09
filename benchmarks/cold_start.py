"""Cold start of ``jit(grad(mlp_loss))``: chainrule's tiers vs JAX's first call.

The MLP of ``jit.py``'s W1 (784-512-512-10 tanh, softmax cross-entropy, batch
128, float64). Every sample is a fresh process pinned to one core (BLAS and
XLA on one thread), with empty caches: chainrule's kernel cache and Numba's
cache of chainrule's vectorised-math helpers (``NUMBA_CACHE_DIR``) in a new
directory. Per repeat, round-robin:

- ``cr_async``: the default ``jit_compile="async"``: the first call runs the
  NumPy tier while the compile process (which inherits the pinning, so it
  shares the one core) compiles; then the time until a call runs on the
  compiled tier, (a) with the program calling ``g`` back to back (a training
  loop: it competes with the compiler for the core) and (b) checking every
  10 ms and calling only when a kernel arrived (an idle program).
- ``cr_warm``: the same directories again (all kernels on disk).
- ``cr_sync``: ``jit_compile="sync"``, empty caches: Numba compiles in the
  user's process (what chainrule did before the tiers).
- ``jax``: JAX's import and first call (x64).

Each process checks its result against NumPy before printing. Medians of
``--repeats`` (3); ratios are within this run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cold_start.py

Writes ``benchmarks/results/cold_start.json``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(_HERE, "..", "src")

_CHILD = r"""
import os, sys, time
os.sched_setaffinity(0, {{sorted(os.sched_getaffinity(0))[0]}})
t0 = time.perf_counter()
if {jax}:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as xnp
else:
    sys.path.insert(0, {src!r})
    import chainrule as cr
    import chainrule.numpy as xnp
t_import = time.perf_counter() - t0
import numpy as np


def mlp_loss(params, x, y):
    h = x
    for i, (w, b) in enumerate(params):
        z = xnp.matmul(h, w) + b
        h = xnp.tanh(z) if i < len(params) - 1 else z
    z = h - xnp.max(h, axis=1, keepdims=True)
    logp = z - xnp.log(xnp.sum(xnp.exp(z), axis=1, keepdims=True))
    return -xnp.mean(xnp.sum(logp * y, axis=1))


def reference(params, x, y):
    hs, h = [x], x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = np.tanh(h)
        hs.append(h)
    z = h - h.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    d = (p - y) / len(x)
    grads = []
    for i in range(len(params) - 1, -1, -1):
        w, _ = params[i]
        grads.append((hs[i].T @ d, d.sum(0)))
        if i:
            d = (d @ w.T) * (1 - hs[i] ** 2)
    return grads[::-1]


rng = np.random.default_rng(0)
sizes = [784, 512, 512, 10]
params = [(rng.standard_normal((a, b)) / np.sqrt(a), np.zeros(b))
          for a, b in zip(sizes[:-1], sizes[1:])]
x = rng.standard_normal((128, 784))
y = np.eye(10)[rng.integers(0, 10, 128)]
t1 = time.perf_counter()
if {jax}:
    g = jax.jit(jax.grad(mlp_loss))
    out = jax.block_until_ready(g(params, x, y))
else:
    g = cr.jit(cr.grad(mlp_loss))
    out = g(params, x, y)
first = time.perf_counter() - t1


def check(out):
    for (gw, gb), (rw, rb) in zip(out, reference(params, x, y)):
        np.testing.assert_allclose(np.asarray(gw), rw, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(gb), rb, rtol=1e-9, atol=1e-12)


check(out)
compiled_after = 0.0
tier = "compiled"
if not {jax}:
    (entry,) = g._entries.values()
    ex = entry.executable
    tier = ex.tier
    from chainrule.jit import cache
    seen = cache.generation
    while ex.tier != "compiled" and time.perf_counter() - t1 < 120:
        if {busy}:
            g(params, x, y)
        else:
            time.sleep(0.01)
            if cache.generation != seen:
                seen = cache.generation
                g(params, x, y)
    compiled_after = time.perf_counter() - t1
    check(g(params, x, y))
    assert ex.tier == "compiled", ex.tier
print(t_import, first, compiled_after, tier)
"""


def sample(kind, cache_dir, busy=False):
    jax = kind == "jax"
    env = dict(os.environ, CHAINRULE_CACHE_DIR=os.path.join(cache_dir, "cr"),
               NUMBA_CACHE_DIR=os.path.join(cache_dir, "numba"),
               CHAINRULE_JIT_COMPILE="sync" if kind == "cr_sync" else "async",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false")
    code = _CHILD.format(src=SRC, jax=jax, busy=busy)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{kind}: {out.stderr[-2000:]}")
    imp, first, compiled, tier = out.stdout.split()[-4:]
    return {"import": float(imp), "first": float(first), "compiled_after": float(compiled),
            "first_tier": tier}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    samples: dict[str, list] = {}
    for _ in range(args.repeats):
        for busy in (True, False):
            with tempfile.TemporaryDirectory() as d:
                name = "cr_async_busy" if busy else "cr_async_idle"
                samples.setdefault(name, []).append(sample("cr_async", d, busy))
                if busy:
                    samples.setdefault("cr_warm", []).append(sample("cr_warm", d))
        with tempfile.TemporaryDirectory() as d:
            samples.setdefault("cr_sync", []).append(sample("cr_sync", d))
        with tempfile.TemporaryDirectory() as d:
            samples.setdefault("jax", []).append(sample("jax", d))
    med = {k: {m: float(np.median([s[m] for s in v])) for m in ("import", "first",
                                                                "compiled_after")}
           for k, v in samples.items()}
    for k, v in samples.items():
        med[k]["first_tier"] = v[0]["first_tier"]
    jax = med["jax"]
    print(f"cold start, jit(grad(mlp_loss)), one core, median of {args.repeats}")
    print(f"{'':16s} {'import':>9s} {'first call':>11s} {'import+first':>13s} "
          f"{'x JAX first':>12s} {'x JAX imp+1st':>14s} {'compiled tier at':>17s}")
    for k, v in med.items():
        total = v["import"] + v["first"]
        comp = f"{v['compiled_after']:.2f} s" if k.startswith("cr") else ""
        print(f"{k:16s} {v['import']:8.3f}s {v['first']:10.3f}s {total:12.3f}s "
              f"{v['first'] / jax['first']:12.2f} {total / (jax['import'] + jax['first']):14.2f}"
              f" {comp:>17s}")
    try:
        import threadpoolctl
        blas = [{k: d.get(k) for k in ("internal_api", "version", "num_threads")}
                for d in threadpoolctl.threadpool_info()]
    except ImportError:
        blas = None
    sys.path.insert(0, _HERE)
    from _shared import git_revision
    os.makedirs(os.path.join(_HERE, "results"), exist_ok=True)
    with open(os.path.join(_HERE, "results", "cold_start.json"), "w") as f:
        json.dump({"medians": med, "samples": samples, "blas": blas,
                   "revision": git_revision(), "loadavg": os.getloadavg()[0]}, f, indent=1)


if __name__ == "__main__":
    main()
