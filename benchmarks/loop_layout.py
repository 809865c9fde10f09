"""Two choices jit makes for loops compiled whole, each measured on and off
in one process, on the W9 RNN's ``jit(grad)`` (issue #15; quoted in
``docs/performance.md``, "Loops compiled whole"):

- alignment: a constant the loop reads every step is read from a copy on a
  cache line when it does not start on one (``jit.loops.ALIGN_MIN``), and
  scratch buffers start on lines. Here ``W`` is placed 0, 8, 16 and 32 bytes
  after a line, with the copy and without it (the code before it).
- hoisting: a body's products of per-step inputs with constants (the RNN's
  ``u @ x``) computed for all steps before the loop
  (``jit.optimize.hoist_from_scans``), which jit does only when the body's
  constants overflow L1. Here it is forced off and forced on at several
  hidden sizes.

Pinned to one core, as ``jit.py --threads 1`` is:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/loop_layout.py``
"""

import os

os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jit import _w9_loss, check, flat, interleaved, w9_data, w9_numpy_grad  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import lax  # noqa: E402
from chainrule import numpy as cnp  # noqa: E402

loops = importlib.import_module("chainrule.jit.loops")
optimize = importlib.import_module("chainrule.jit.optimize")
cr.config.update("jit_compile", "sync")
REPEATS = 200


def placed(a, offset_bytes):
    """A copy of ``a`` starting ``offset_bytes`` after a 64-byte line."""
    buf = np.empty(a.nbytes + 128, np.uint8)
    start = -buf.ctypes.data % 64 + offset_bytes
    out = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def grad_fn(w, u, b, xs, **patch):
    """A fresh ``jit(grad)`` of the RNN, traced and first called (its scratch
    allocated) with the module settings in ``patch``."""
    mods = {"aligned_empty": loops, "ALIGN_MIN": loops, "L1_BYTES": optimize}
    old = {k: getattr(mods[k], k) for k in patch}
    loss = _w9_loss(cnp, lax.scan)
    g = cr.jit(cr.grad(lambda *a: loss(*a), argnums=(0, 1, 2)))
    try:
        for k, v in patch.items():
            setattr(mods[k], k, v)
        check("loop_layout", flat(g(w, u, b, xs)), flat(w9_numpy_grad(w, u, b, xs)))
    finally:
        for k, v in old.items():
            setattr(mods[k], k, v)
    return g


def alignment():
    w, u, b, xs = w9_data(64)
    unaligned = {"aligned_empty": lambda shape, dtype: np.empty(shape, dtype),
                 "ALIGN_MIN": 1 << 62}
    gs = {"copy to a line": grad_fn(w, u, b, xs), "no copy (before)": grad_fn(w, u, b, xs,
                                                                              **unaligned)}
    res = {}
    for off in (0, 8, 16, 32):   # one placement at a time: the same W stays in cache
        wp = placed(w, off)
        fns = {name: (lambda g=g, wp=wp: g(wp, u, b, xs)) for name, g in gs.items()}
        res.update({(off, name): t for name, t in interleaved(fns, REPEATS).items()})
    print("\nW9 jit(grad), hidden 64, W placed off a cache line (median us)")
    print(f"{'offset':>8s} {'no copy (before)':>18s} {'copy to a line':>16s}")
    for off in (0, 8, 16, 32):
        print(f"{off:>6d} B {res[(off, 'no copy (before)')] * 1e6:18.1f} "
              f"{res[(off, 'copy to a line')] * 1e6:16.1f}")
    return {f"{off} B, {name}": t for (off, name), t in res.items()}


def hoisting():
    print("\nW9 jit(grad), u @ x hoisted out of the loop or not (median us)")
    print(f"{'hidden':>8s} {'in the loop':>12s} {'hoisted':>10s} {'jit picks':>10s}")
    out = {}
    for hidden in (16, 32, 48, 64, 96, 128):
        w, u, b, xs = w9_data(hidden)
        gs = {"in the loop": grad_fn(w, u, b, xs, L1_BYTES=1 << 62),
              "hoisted": grad_fn(w, u, b, xs, L1_BYTES=0)}
        args = (w, u, b, xs)
        res = interleaved({k: (lambda g=g, a=args: g(*a)) for k, g in gs.items()}, REPEATS)
        consts = w.nbytes + u.nbytes + b.nbytes
        pick = "hoisted" if consts > optimize.L1_BYTES else "in the loop"
        print(f"{hidden:>8d} {res['in the loop'] * 1e6:12.1f} {res['hoisted'] * 1e6:10.1f} "
              f"{pick:>10s}")
        out[str(hidden)] = {**res, "jit picks": pick}
    return out


def main():
    import datetime
    import platform
    from importlib import metadata

    from _shared import git_revision
    results = {"alignment": alignment(), "hoisting": hoisting(),
               "L1_BYTES": optimize.L1_BYTES, "cpus": sorted(os.sched_getaffinity(0)),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
               "machine": platform.processor() or platform.machine(),
               "versions": {d: metadata.version(d) for d in ("numpy", "numba")},
               "chainrule_git": git_revision()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                        "loop_layout.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
