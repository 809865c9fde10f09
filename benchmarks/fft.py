"""Spectral losses of 10^6 points: chainrule.jit vs JAX's jit (x64) vs NumPy by hand.

- S1: ``jit(grad(f))``, ``f(x) = sum(w * |rfft(x)|^2)`` (a weighted spectral
  energy, e.g. a smoothness penalty with ``w = k^2``), x of 10^6 float64.
  The NumPy reference is the gradient written out:
  ``2 n irfft(h * w * rfft(x))``, ``h`` the half-spectrum weights.
- S2: ``jit(grad(f))``, ``f(x) = sum((irfft(H * rfft(x)) - y)^2)``: fitting
  a signal through a spectral filter ``H`` (rfft and irfft in both passes).
- Also the jitted forward pass (for the gradient/forward ratio) and eager
  ``grad`` (no jit) of chainrule.

Every result is checked against the NumPy reference first. Competitors are
timed interleaved (round-robin) and the table shows medians; the machine is
shared, so only ratios within one run are comparable.

    python benchmarks/fft.py                # all threads
    python benchmarks/fft.py --threads 1    # pinned to one core (before any import)
    python benchmarks/fft.py --quick

Writes ``benchmarks/results/fft.json`` (or ``fft_threads1.json``).
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings


def _args():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--n", type=int, default=10 ** 6)
    p.add_argument("--out", default=None)
    return p.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:
    if ARGS.threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
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


def interleaved(fns, repeats, warmup=2):
    """Median seconds per call of each function, timed round-robin."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in ts.items()}


def check(name, got, want, tol=1e-9):
    got, want = np.asarray(got), np.asarray(want)
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)
    if got.shape != want.shape or not err < tol:
        raise AssertionError(f"{name}: differs from the NumPy reference (rel. err {err:.2e})")


def half_weights(n):
    h = np.full(n // 2 + 1, 0.5)
    h[0] = 1.0
    if n % 2 == 0:
        h[-1] = 1.0
    return h


# ------------------------------------------------------------ workloads ---

def s1(m, w):
    return lambda x: m.sum(w * m.abs(m.fft.rfft(x)) ** 2)


def s1_numpy_grad(x, w):
    n = x.shape[0]
    return 2 * n * np.fft.irfft(half_weights(n) * w * np.fft.rfft(x), n)


def s2(m, h, y):
    n = y.shape[0]
    return lambda x: m.sum((m.fft.irfft(h * m.fft.rfft(x), n) - y) ** 2)


def s2_numpy_grad(x, h, y):
    n = x.shape[0]
    r = 2 * (np.fft.irfft(h * np.fft.rfft(x), n) - y)
    # transpose of irfft (conj(W rfft(r)) / n), times h, through rfft's transpose
    ct = np.conj(np.where(half_weights(n) == 1.0, 1.0, 2.0) * np.fft.rfft(r) / n) * h
    return n * np.fft.irfft(np.conj(ct) * half_weights(n), n)


def run(name, rows, repeats, loss, numpy_grad, x):
    g, f = cr.jit(cr.grad(loss(cnp))), cr.jit(loss(cnp))
    want = numpy_grad(x)
    check(f"{name} chainrule jit", g(x), want)
    check(f"{name} chainrule eager", cr.grad(loss(cnp))(x), want)
    fns = {"chainrule": lambda: g(x), "chainrule_forward": lambda: f(x),
           "chainrule_eager": lambda: cr.grad(loss(cnp))(x), "numpy_by_hand": lambda: numpy_grad(x)}
    if jax is not None:
        gj, fj = jax.jit(jax.grad(loss(jnp))), jax.jit(loss(jnp))
        check(f"{name} jax", np.asarray(gj(x)), want)
        fns["jax"] = lambda: gj(x).block_until_ready()
        fns["jax_forward"] = lambda: fj(x).block_until_ready()
    rows.append((name, interleaved(fns, repeats)))


def main():
    warnings.simplefilter("ignore", RuntimeWarning)   # complex values are not fused by jit
    repeats = 5 if ARGS.quick else 25
    n = ARGS.n
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    k = np.arange(n // 2 + 1, dtype=float)
    w = (k / k[-1]) ** 2
    h = np.exp(-(k / (0.05 * k[-1])) ** 2).astype(complex)
    y = rng.normal(size=n)
    rows = []
    run(f"S1 grad sum(w |rfft(x)|^2), n={n}", rows, repeats, lambda m: s1(m, w),
        lambda x: s1_numpy_grad(x, w), x)
    run(f"S2 grad sum((irfft(H rfft(x)) - y)^2), n={n}", rows, repeats,
        lambda m: s2(m, h, y), lambda x: s2_numpy_grad(x, h, y), x)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"\nFFT benchmark (threads={ARGS.threads or 'default'}, affinity {cores})")
    print(f"{'workload':48s} {'competitor':18s} {'median ms':>10s} {'chainrule/this':>15s}")
    for name, res in rows:
        for key, v in res.items():
            print(f"{name:48s} {key:18s} {v * 1e3:10.2f} {res['chainrule'] / v:14.2f}x")
    for name, res in rows:
        if "jax" in res:
            print(f"{name}: chainrule/jax = {res['chainrule'] / res['jax']:.2f}, "
                  f"gradient/forward = {res['chainrule'] / res['chainrule_forward']:.2f} "
                  f"(jax {res['jax'] / res['jax_forward']:.2f})")
    from importlib import metadata

    from _shared import git_revision
    vers = {d: metadata.version(d) for d in ("numpy", "numba", "jax", "jaxlib")
            if _installed(d)}
    vers["chainrule_git"] = git_revision()
    out = ARGS.out or os.path.join(
        _HERE, "results", f"fft{'_threads' + str(ARGS.threads) if ARGS.threads else ''}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "command": " ".join(["python", "benchmarks/fft.py"] + sys.argv[1:]),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "loadavg": os.getloadavg()[0]},
                   "versions": vers, "threads": ARGS.threads,
                   "seconds": {n: r for n, r in rows}}, fh, indent=1)
    print(f"wrote {out}")


def _installed(dist):
    from importlib import metadata
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


if __name__ == "__main__":
    main()
