"""Eager (un-jitted) reverse mode: chainrule vs autograd vs JAX vs hand-written NumPy.

Workloads, each a scalar loss differentiated with ``grad`` outside ``jit``:

- ``mlp``: softmax cross-entropy of a 784-512-512-10 tanh MLP, batch 128,
  random data; gradient with respect to all six parameter arrays.
- ``elementwise``: ``sum(sin(x)*cos(x) + tanh(x)**2 + exp(-x**2))`` on 10^6
  elements; gradient with respect to ``x``.
- ``chain``: a chain of 200 scalar primitives (``sin`` and ``* 1.01``
  alternating); its time / 200 is the Python overhead per primitive
  (forward record + backward rule).

Before timing, every competitor's gradient is checked against chainrule's.
Each measurement is a median over repeats after warmup (time.perf_counter).
Results are printed as a table and written to ``benchmarks/results/eager.json``
(``eager_threadsN.json`` with ``--threads N``).

    python benchmarks/eager.py               # full run
    python benchmarks/eager.py --quick       # fewer repeats
    python benchmarks/eager.py --threads 1   # single-threaded BLAS

Competitors that are not installed (``autograd``, ``jax``) are skipped with a
note; ``pip install -e '.[bench]'`` installs them.
"""

import argparse
import os
import sys


def _parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="few repeats, for a smoke run")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/OpenMP threads (sets OMP/OPENBLAS/MKL_NUM_THREADS)")
    p.add_argument("--repeats", type=int, default=None, help="override the repeat count")
    p.add_argument("--skip", default="", help="comma-separated frameworks to skip")
    p.add_argument("--output", default=None,
                   help="JSON file (default results/eager.json, or eager_threadsN.json)")
    args = p.parse_args()
    if args.output is None:
        name = f"eager_threads{args.threads}.json" if args.threads else "eager.json"
        args.output = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", name)
    return args


ARGS = _parse_args() if __name__ == "__main__" else None
# Thread limits only take effect if set before NumPy (and its BLAS) is loaded.
if ARGS is not None and ARGS.threads:
    # n threads means n cores, by affinity: XLA keeps a second compute
    # thread whatever its flags say, so flags alone compare one core with two
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:ARGS.threads]))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS", "CHAINRULE_JIT_THREADS"):
        os.environ[var] = str(ARGS.threads)

import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
from _shared import git_revision  # noqa: E402  # benchmarks/_shared.py

os.environ.setdefault("CHAINRULE_JIT_COMPILE", "sync")  # time compiled kernels from call one
import chainrule as cr  # noqa: E402
import chainrule.nn as cnn  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

MLP_SIZES = [784, 512, 512, 10]
MLP_BATCH = 128
N_ELEMENTWISE = 10 ** 6
CHAIN_OPS = 200


# --------------------------------------------------------------- data ---

def make_mlp_data(seed=0):
    rng = np.random.default_rng(seed)
    params = [{"w": rng.normal(0, 1 / np.sqrt(m), (m, n)), "b": rng.normal(0, 0.1, n)}
              for m, n in zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True)]
    x = rng.normal(size=(MLP_BATCH, MLP_SIZES[0]))
    onehot = np.eye(MLP_SIZES[-1])[rng.integers(0, MLP_SIZES[-1], MLP_BATCH)]
    return params, x, onehot


def make_elementwise_data(seed=1):
    return np.random.default_rng(seed).normal(size=N_ELEMENTWISE)


CHAIN_X = 0.5


# ---------------------------------------------------- the competitors ---
# Each returns {workload: (grad_fn, args)}; grad_fn(*args) returns the
# gradient as NumPy-compatible arrays (a list of dicts for the MLP).

def chainrule_fns(mlp, xs):
    def mlp_loss(params, x, onehot):
        *hidden, last = params
        for layer in hidden:
            x = cnp.tanh(x @ layer["w"] + layer["b"])
        logp = cnn.log_softmax(x @ last["w"] + last["b"], axis=-1)
        return -cnp.mean(cnp.sum(onehot * logp, axis=-1))

    def elementwise(x):
        return cnp.sum(cnp.sin(x) * cnp.cos(x) + cnp.tanh(x) ** 2 + cnp.exp(-x ** 2))

    return {"mlp": (cr.grad(mlp_loss), mlp),
            "elementwise": (cr.grad(elementwise), (xs,)),
            "chain": (cr.grad(chainrule_chain), (np.float64(CHAIN_X),))}


def chainrule_chain(x):
    for _ in range(CHAIN_OPS // 2):
        x = cnp.sin(x) * 1.01
    return x


def autograd_fns(mlp, xs):
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def mlp_loss(params, x, onehot):
        *hidden, last = params
        for layer in hidden:
            x = anp.tanh(anp.dot(x, layer["w"]) + layer["b"])
        z = anp.dot(x, last["w"]) + last["b"]
        logp = z - logsumexp(z, axis=-1, keepdims=True)
        return -anp.mean(anp.sum(onehot * logp, axis=-1))

    def elementwise(x):
        return anp.sum(anp.sin(x) * anp.cos(x) + anp.tanh(x) ** 2 + anp.exp(-x ** 2))

    def chain(x):
        for _ in range(CHAIN_OPS // 2):
            x = anp.sin(x) * 1.01
        return x

    return {"mlp": (autograd.grad(mlp_loss), mlp),
            "elementwise": (autograd.grad(elementwise), (xs,)),
            "chain": (autograd.grad(chain), (CHAIN_X,))}


def jax_fns(mlp, xs):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")

    def mlp_loss(params, x, onehot):
        *hidden, last = params
        for layer in hidden:
            x = jnp.tanh(x @ layer["w"] + layer["b"])
        logp = jax.nn.log_softmax(x @ last["w"] + last["b"], axis=-1)
        return -jnp.mean(jnp.sum(onehot * logp, axis=-1))

    def elementwise(x):
        return jnp.sum(jnp.sin(x) * jnp.cos(x) + jnp.tanh(x) ** 2 + jnp.exp(-x ** 2))

    def chain(x):
        for _ in range(CHAIN_OPS // 2):
            x = jnp.sin(x) * 1.01
        return x

    def blocking(g):
        return lambda *a: jax.block_until_ready(g(*a))

    to_dev = lambda tree: jax.tree_util.tree_map(jnp.asarray, tree)  # noqa: E731
    return {"mlp": (blocking(jax.grad(mlp_loss)), to_dev(mlp)),
            "elementwise": (blocking(jax.grad(elementwise)), (jnp.asarray(xs),)),
            "chain": (blocking(jax.grad(chain)), (jnp.asarray(CHAIN_X),))}


def numpy_fns(mlp, xs):
    """Hand-written forward + backward passes: the floor for eager NumPy."""

    def mlp_grad(params, x, onehot):
        acts = [x]
        for layer in params[:-1]:
            acts.append(np.tanh(acts[-1] @ layer["w"] + layer["b"]))
        z = acts[-1] @ params[-1]["w"] + params[-1]["b"]
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=-1, keepdims=True)
        dz = (p - onehot) / len(x)
        grads = [None] * len(params)
        for i in range(len(params) - 1, -1, -1):
            grads[i] = {"w": acts[i].T @ dz, "b": dz.sum(axis=0)}
            if i:
                dz = (dz @ params[i]["w"].T) * (1 - acts[i] ** 2)
        return grads

    def elementwise_grad(x):
        s, c, t = np.sin(x), np.cos(x), np.tanh(x)
        return c * c - s * s + 2 * t * (1 - t * t) - 2 * x * np.exp(-x * x)

    def chain_grad(x):
        xs = []
        for _ in range(CHAIN_OPS // 2):
            xs.append(x)
            x = np.sin(x) * 1.01
        g = np.float64(1.0)
        for x in reversed(xs):
            g = g * 1.01 * np.cos(x)
        return g

    return {"mlp": (mlp_grad, mlp),
            "elementwise": (elementwise_grad, (xs,)),
            "chain": (chain_grad, (np.float64(CHAIN_X),))}


COMPETITORS = [("chainrule", chainrule_fns), ("autograd", autograd_fns), ("jax", jax_fns),
               ("numpy (by hand)", numpy_fns)]
WORKLOADS = [
    ("mlp", "MLP 784-512-512-10 tanh, batch 128"),
    ("elementwise", "elementwise, 10^6 elements"),
    ("chain", f"scalar chain of {CHAIN_OPS} ops"),
]


# ------------------------------------------------------------ helpers ---

def leaves(tree):
    if isinstance(tree, dict):
        return [x for k in sorted(tree) for x in leaves(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [x for t in tree for x in leaves(t)]
    return [np.asarray(tree)]


def check_agree(name, workload, got, want):
    got, want = leaves(got), leaves(want)
    assert len(got) == len(want), f"{name}/{workload}: {len(got)} leaves vs {len(want)}"
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-10,
                                   err_msg=f"{name} disagrees with chainrule on {workload}")


def time_interleaved(cases, repeats, warmup):
    """Median and min time of each ``name -> (fn, args)`` in ``cases``.

    The frameworks take turns (one call each per round, in rotating order), so
    that load from other processes on the machine affects them alike and the
    ratios stay meaningful even when the absolute times drift.
    """
    names = list(cases)
    for name in names:
        fn, args = cases[name]
        for _ in range(warmup):
            fn(*args)
    gc.collect()
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, args = cases[name]
            t0 = time.perf_counter()
            fn(*args)
            times[name].append(time.perf_counter() - t0)
    return {name: {"median_ms": 1e3 * statistics.median(ts), "min_ms": 1e3 * min(ts),
                   "repeats": repeats} for name, ts in times.items()}


def peak_mb(name, fn, args):
    """Peak NumPy memory of one call, above what was live before it (tracemalloc
    sees NumPy's allocations, not XLA's: None for JAX)."""
    if name == "jax":
        return None
    gc.collect()
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def count_primitives(fn, *args):
    """Equations in the forward Jaxpr (what the tape records)."""
    return len(cr.make_jaxpr(fn)(*args).eqns)


def machine_info(threads):
    try:
        import threadpoolctl
        blas = [{k: d.get(k) for k in ("internal_api", "version", "num_threads")}
                for d in threadpoolctl.threadpool_info()]
    except ImportError:
        blas = None
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__,
            "cpu_count": os.cpu_count(), "threads_option": threads, "blas": blas,
            "loadavg_at_start": _loadavg()}


def _loadavg():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def warn_if_busy(when):
    load = _loadavg()
    if load is not None and load > 0.5:
        print(f"warning: load average {load:.2f} {when} on {os.cpu_count()} CPUs: other "
              "processes compete for the CPU, so absolute times are noisy (the frameworks "
              "take turns, so the ratios are less affected). Median vs min shows how much.")


# --------------------------------------------------------------- main ---

def package_version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def limit_threads(threads):
    """Environment variables set above cover a fresh process; threadpoolctl (when
    installed) also catches BLAS libraries that were loaded before us."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl.threadpool_limits(threads)


def main(args):
    if args.threads:
        _limits = limit_threads(args.threads)  # noqa: F841  (kept alive for the run)
    repeats = {"mlp": 30, "elementwise": 20, "chain": 200}
    warmup = 3
    if args.quick:
        repeats = {"mlp": 5, "elementwise": 5, "chain": 30}
        warmup = 1
    if args.repeats:
        repeats = dict.fromkeys(repeats, args.repeats)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    warn_if_busy("at the start")
    info = machine_info(args.threads)
    mlp, xs = make_mlp_data(), make_elementwise_data()
    fns, versions = {}, {"chainrule": cr.__version__, "chainrule_git": git_revision()}
    for name, make in COMPETITORS:
        if name in skip:
            print(f"note: {name} skipped (--skip)")
            continue
        try:
            fns[name] = make(mlp, xs)
        except ImportError as err:
            print(f"note: {name} not installed ({err.name}); skipped. "
                  "pip install -e '.[bench]' to include it.")
            continue
        if name in ("autograd", "jax"):
            versions[name] = package_version(name)
            if name == "jax":
                versions["jaxlib"] = package_version("jaxlib")

    # 1. correctness: every gradient equals chainrule's
    reference = {w: fns["chainrule"][w][0](*fns["chainrule"][w][1]) for w, _ in WORKLOADS}
    for name, table in fns.items():
        for w, _ in WORKLOADS:
            fn, a = table[w]
            check_agree(name, w, fn(*a), reference[w])
    print("gradients agree: " + ", ".join(fns) + "\n")

    # 2. timing
    results = {w: time_interleaved({name: table[w] for name, table in fns.items()},
                                   repeats[w], warmup) for w, _ in WORKLOADS}
    for w, _ in WORKLOADS:
        for name, table in fns.items():
            results[w][name]["peak_mb"] = peak_mb(name, *table[w])

    # 3. report
    warn_if_busy("at the end")
    print(f"{'workload':38s} {'framework':16s} {'median ms':>10s} {'min ms':>9s} "
          f"{'x chainrule':>12s} {'(by min)':>9s} {'peak MB':>8s}")
    ratios, ratios_min = {}, {}
    for w, title in WORKLOADS:
        base = results[w]["chainrule"]
        ratios[w], ratios_min[w] = {}, {}
        for name, r in results[w].items():
            ratios[w][name] = r["median_ms"] / base["median_ms"]
            ratios_min[w][name] = r["min_ms"] / base["min_ms"]
            peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.1f}"
            print(f"{title:38s} {name:16s} {r['median_ms']:10.3f} {r['min_ms']:9.3f} "
                  f"{ratios[w][name]:11.2f}x {ratios_min[w][name]:8.2f}x {peak:>8s}")
        print()
    print("'x chainrule' = the framework's median time / chainrule's median time, '(by min)'\n"
          "the same for minimum times; above 1 means chainrule is faster. 'peak MB' = NumPy\n"
          "memory allocated during one gradient call (tracemalloc).")

    n_prims = count_primitives(chainrule_chain, np.float64(CHAIN_X))
    per_prim = {name: {k: 1e3 * results["chain"][name][f"{k}_ms"] / CHAIN_OPS
                       for k in ("median", "min")} for name in fns}
    print(f"\nPython overhead per primitive (grad of the {CHAIN_OPS}-op chain / {CHAIN_OPS}, "
          f"forward + backward; chainrule records {n_prims} primitives), median / min:")
    for name, us in per_prim.items():
        print(f"  {name:16s} {us['median']:7.2f} us / {us['min']:6.2f} us")

    out = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": dict(info, loadavg_at_end=_loadavg()), "versions": versions,
           "config": {"quick": args.quick, "repeats": repeats, "warmup": warmup,
                      "mlp_sizes": MLP_SIZES, "mlp_batch": MLP_BATCH,
                      "elementwise_size": N_ELEMENTWISE, "chain_ops": CHAIN_OPS,
                      "chainrule_chain_primitives": n_prims},
           "workloads": dict(WORKLOADS), "results": results, "ratio_vs_chainrule": ratios,
           "ratio_vs_chainrule_by_min": ratios_min,
           "overhead_per_primitive_us": per_prim}
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main(ARGS)
