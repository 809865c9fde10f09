"""A CNN's gradient: chainrule.jit vs JAX's jit (x64) vs PyTorch (eager, float64).

The workload of issue 11: a batch of 64 images of 32x32x3 (NHWC, float64);
conv 3x3 -> 32 channels (SAME) + bias + ReLU + 2x2 max pool; conv 3x3 -> 64
(SAME) + bias + ReLU + 2x2 max pool; dense to 10; softmax cross-entropy.
Timed: ``jit(grad(loss))`` with respect to all parameters, and the jitted
forward pass (for the gradient/forward ratio). Each competitor's gradient is
checked against chainrule's first. Competitors are timed round-robin; the
table shows medians.

    python benchmarks/cnn.py                # all threads
    python benchmarks/cnn.py --threads 1    # pinned to one core (before any import)

Writes ``benchmarks/results/cnn.json`` (or ``cnn_threads1.json``).
"""

import argparse
import json
import os
import platform
import sys
import time


def _args():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    return p.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None:
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # see the machine notes
        os.environ.pop(var, None)
    if ARGS.threads:
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
import chainrule.nn as crnn  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule import lax as crlax  # noqa: E402

try:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:  # pragma: no cover
    jax = None
try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

LAYOUT = ("NHWC", "HWIO", "NHWC")


def interleaved(fns, repeats, warmup=2):
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


def make_loss(lax, nn, m):
    def block(x, w, b):
        y = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=LAYOUT)
        y = nn.relu(y + b)
        return lax.reduce_window(y, -np.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def loss(params, x, onehot):
        w1, b1, w2, b2, w3, b3 = params
        h = block(block(x, w1, b1), w2, b2)
        logits = h.reshape(h.shape[0], -1) @ w3 + b3
        return -m.mean(m.sum(onehot * nn.log_softmax(logits, axis=-1), axis=-1))
    return loss


def torch_grad(params, x, onehot):
    F = torch.nn.functional
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    w1, b1, w2, b2, w3, b3 = ps
    xt = torch.tensor(x).permute(0, 3, 1, 2)

    def block(h, w, b):
        h = F.conv2d(h, w.permute(3, 2, 0, 1), b, padding="same")
        return F.max_pool2d(F.relu(h), 2)

    h = block(block(xt, w1, b1), w2, b2)
    logits = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1) @ w3 + b3
    loss = -(torch.tensor(onehot) * F.log_softmax(logits, -1)).sum(-1).mean()
    loss.backward()
    return [p.grad.numpy() for p in ps]


def main():
    repeats = 5 if ARGS.quick else 20
    if torch is not None and ARGS.threads:
        torch.set_num_threads(ARGS.threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 32, 32, 3))
    onehot = np.eye(10)[rng.integers(0, 10, 64)]
    params = [rng.normal(0, 0.2, (3, 3, 3, 32)), np.zeros(32), rng.normal(0, 0.06, (3, 3, 32, 64)),
              np.zeros(64), rng.normal(0, 0.02, (8 * 8 * 64, 10)), np.zeros(10)]
    loss = make_loss(crlax, crnn, cnp)
    g, f = cr.jit(cr.grad(loss)), cr.jit(loss)
    want = g(params, x, onehot)
    fns = {"chainrule": lambda: g(params, x, onehot),
           "chainrule_forward": lambda: f(params, x, onehot)}
    if jax is not None:
        jloss = make_loss(jax.lax, jax.nn, jnp)
        gj, fj = jax.jit(jax.grad(jloss)), jax.jit(jloss)
        jp, jx, jo = [jnp.asarray(p) for p in params], jnp.asarray(x), jnp.asarray(onehot)
        for a, b in zip(gj(jp, jx, jo), want):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-12)
        fns["jax"] = lambda: jax.block_until_ready(gj(jp, jx, jo))
        fns["jax_forward"] = lambda: fj(jp, jx, jo).block_until_ready()
    if torch is not None:
        for a, b in zip(torch_grad(params, x, onehot), want):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        fns["torch_eager"] = lambda: torch_grad(params, x, onehot)
    res = interleaved(fns, repeats)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    try:
        from threadpoolctl import threadpool_info
        blas = [(i.get("internal_api"), i.get("architecture")) for i in threadpool_info()]
    except ImportError:
        blas = None
    print(f"\nCNN jit(grad) benchmark (threads={ARGS.threads or 'default'}, affinity {cores}, "
          f"BLAS {blas})")
    print(f"{'competitor':18s} {'median ms':>10s} {'chainrule/this':>15s}")
    for key, v in res.items():
        print(f"{key:18s} {v * 1e3:10.2f} {res['chainrule'] / v:14.2f}x")
    print(f"gradient/forward: chainrule {res['chainrule'] / res['chainrule_forward']:.2f}"
          + (f", jax {res['jax'] / res['jax_forward']:.2f}" if "jax" in res else ""))
    sys.path.insert(0, _HERE)
    from _shared import git_revision
    out = os.path.join(_HERE, "results",
                       f"cnn{'_threads' + str(ARGS.threads) if ARGS.threads else ''}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "command": " ".join(["python", "benchmarks/cnn.py"] + sys.argv[1:]),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "loadavg": os.getloadavg()[0]},
                   "chainrule_git": git_revision(), "blas": blas, "threads": ARGS.threads,
                   "seconds": res}, fh, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
