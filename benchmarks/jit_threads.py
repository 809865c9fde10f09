"""Where splitting a fused kernel over two threads starts to pay.

For three kernels of different cost per element (``threads.cost``: an add
of two arrays, a sum of squares, and the W2 gradient of benchmarks/jit.py
with four transcendental calls per element), each jitted plan is timed with
one thread and with two at sizes 2^13..2^22, the split forced at every size
(``threads.CHUNK_WORK`` lowered). The crossover, in work units (elements x
cost), is what ``CHUNK_WORK`` is set from. Also: the memory bandwidth one
thread gets from a NumPy copy of a large array, and the add kernel's at the
largest size with one and two threads.

    taskset -c 0,1 python benchmarks/jit_threads.py [--quick]

Writes ``benchmarks/results/jit_threads.json``.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "src"))
os.environ.setdefault("CHAINRULE_JIT_COMPILE", "sync")
import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule import config  # noqa: E402
from chainrule.jit import threads  # noqa: E402


def w2_f(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + cnp.tanh(x) ** 2 + cnp.exp(-x ** 2))


KERNELS = {
    "add x+y": (lambda x, y: x + y, 2),
    "sum(x*x)": (lambda x: cnp.sum(x * x), 1),
    "W2 grad": (cr.grad(w2_f), 1),
}


def _busy_jiffies():
    """CPU time (clock ticks) used by the whole machine, and by this process."""
    with open("/proc/stat") as f:
        v = [int(t) for t in f.readline().split()[1:]]
    machine = sum(v) - v[3] - v[4]          # all but idle and iowait
    with open("/proc/self/stat") as f:
        own = f.read().rsplit(")", 1)[1].split()
    return machine, int(own[11]) + int(own[12])


def others_load(start, t0):
    """Cores' worth of CPU other processes used since ``start = _busy_jiffies()``
    taken at ``t0``: near 0 on a quiet machine, 1 when another program keeps a
    core busy (and a second thread cannot pay)."""
    machine, own = _busy_jiffies()
    ticks = os.sysconf("SC_CLK_TCK") * (time.perf_counter() - t0)
    return max(0.0, ((machine - start[0]) - (own - start[1])) / ticks)


def median_pair(fn, args, repeats, inner):
    """Median seconds per call with one thread and with two, interleaved."""
    ts = {1: [], 2: []}
    start, t0 = _busy_jiffies(), time.perf_counter()
    for n in (1, 2):
        config.update("jit_threads", n)
        fn(*args)
    for _ in range(repeats):
        for n in (1, 2):
            config.update("jit_threads", n)
            t = time.perf_counter()
            for _ in range(inner):
                fn(*args)
            ts[n].append((time.perf_counter() - t) / inner)
    config.update("jit_threads", None)
    out = {n: float(np.median(v)) for n, v in ts.items()}
    out["others"] = others_load(start, t0)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    repeats = 7 if args.quick else 25
    threads.CHUNK_WORK = 1          # split at every size (each chunk still releases the GIL)
    rng = np.random.default_rng(0)
    out = {"cpus": sorted(os.sched_getaffinity(0)), "kernels": {}}
    for name, (f, arity) in KERNELS.items():
        g = cr.jit(f)
        rows = []
        for e in range(13, 23):
            n = 2 ** e
            xs = [rng.normal(size=n) for _ in range(arity)]
            ex = g.lower(*xs).executable
            (k,) = ex.kernels
            c = threads.cost(k.spec)
            split = bool(ex.split)
            inner = max(1, (1 << 20) // (n * max(1, c // 4)))
            t = median_pair(g, xs, repeats, inner)
            rows.append({"n": n, "cost": c, "work": n * c, "split": split,
                         "one": t[1], "two": t[2], "two/one": t[2] / t[1],
                         "others_load": t["others"]})
            print(f"{name:10s} n=2^{e:<2d} work={n * c:>10d} split={split!s:5s} "
                  f"one={t[1] * 1e6:9.1f} us two={t[2] * 1e6:9.1f} us "
                  f"two/one={t[2] / t[1]:.2f} others={t['others']:.2f}", flush=True)
        out["kernels"][name] = rows
    # memory bandwidth: one thread copying 10^8 bytes (read + write)
    a = np.ones(10 ** 8 // 8)
    b = np.empty_like(a)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        ts.append(time.perf_counter() - t)
    copy = 2 * a.nbytes / float(np.median(ts))
    last = out["kernels"]["add x+y"][-1]
    add_bytes = 3 * last["n"] * 8
    out["bandwidth_GBps"] = {"numpy_copy_one_thread": copy / 1e9,
                             "add_kernel_one_thread": add_bytes / last["one"] / 1e9,
                             "add_kernel_two_threads": add_bytes / last["two"] / 1e9}
    print({k: round(v, 1) for k, v in out["bandwidth_GBps"].items()}, "GB/s")
    path = os.path.join(_HERE, "results", "jit_threads.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
