"""Forward vs reverse mode: measured jacfwd/jacrev against chainrule.cost.advise.

For f(x) = tanh(A @ tanh(B @ x)) with x in R^n, a hidden layer of 64 and an
output in R^m, the Jacobian is m x n: jacfwd pushes n tangents forward,
jacrev pulls m cotangents back (each as one vmapped pass). The lectures
predict the crossover at n = m. This script measures both over a grid of
(n, m) from (4, 512) to (512, 4), time and peak memory (tracemalloc), asks
the advisor at every point, and reports how often the advisor picks the
faster mode.

    python benchmarks/forward_vs_reverse.py [--quick] [--no-plot]

Writes benchmarks/results/forward_vs_reverse.json and, with matplotlib,
docs/img/forward_vs_reverse.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

# One BLAS thread: these matrices are small, and a second thread waiting on a
# busy core makes single calls 10-100x slower at random, which would measure
# the scheduler rather than the modes.
if hasattr(os, "sched_setaffinity"):  # and one core, by affinity, for every library
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

os.environ.setdefault("CHAINRULE_JIT_COMPILE", "sync")  # time compiled kernels from call one
import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule.cost import advise, calibrate  # noqa: E402

HIDDEN = 64
SIZES = [4, 8, 16, 32, 64, 128, 256, 512]


def make_f(n, m, rng):
    B = rng.normal(size=(HIDDEN, n)) / np.sqrt(n)
    A = rng.normal(size=(m, HIDDEN)) / np.sqrt(HIDDEN)

    def f(x):
        return cnp.tanh(A @ cnp.tanh(B @ x))

    return f, rng.normal(size=n)


def best_time(fn, budget=0.15, max_repeat=15):
    """Best of several runs, within about ``budget`` seconds."""
    fn()  # warm up
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (len(times) < max_repeat and time.perf_counter() - start < budget):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak_memory(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(sizes, machine):
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        for m in sizes:
            f, x = make_f(n, m, rng)
            fwd, rev = cr.jacfwd(f), cr.jacrev(f)
            np.testing.assert_allclose(fwd(x), rev(x), rtol=1e-10, atol=1e-12)
            t_fwd, t_rev = best_time(lambda: fwd(x)), best_time(lambda: rev(x))  # noqa: B023
            advice = advise(f, x, machine=machine)
            rows.append(dict(
                n=n, m=m, t_jacfwd=t_fwd, t_jacrev=t_rev,
                mem_jacfwd=peak_memory(lambda: fwd(x)),  # noqa: B023 (called right here)
                mem_jacrev=peak_memory(lambda: rev(x)),  # noqa: B023
                pred_jacfwd=advice.jacfwd.seconds, pred_jacrev=advice.jacrev.seconds,
                pred_mem_jacfwd=advice.jacfwd.memory, pred_mem_jacrev=advice.jacrev.memory,
                choice=advice.choice, confidence=advice.confidence,
                faster="jacfwd" if t_fwd <= t_rev else "jacrev"))
            r = rows[-1]
            print(f"  n={n:>3} m={m:>3}  jacfwd {t_fwd * 1e3:7.2f} ms  jacrev "
                  f"{t_rev * 1e3:7.2f} ms  advisor: {r['choice']:<6} "
                  f"({r['confidence']:.2f})  {'ok' if r['choice'] == r['faster'] else 'MISS'}",
                  flush=True)
    return rows


def run_hessians(machine):
    """Forward-over-reverse vs reverse-over-reverse Hessians of a scalar loss."""
    rng = np.random.default_rng(1)
    rows = []
    for n, m in [(4, 512), (16, 256), (64, 64), (256, 16)]:
        B = rng.normal(size=(HIDDEN, n)) / np.sqrt(n)
        A = rng.normal(size=(m, HIDDEN)) / np.sqrt(HIDDEN)

        def loss(x, A=A, B=B):
            return cnp.sum(cnp.tanh(A @ cnp.tanh(B @ x)) ** 2)

        x = rng.normal(size=n)
        fr, rr = cr.jacfwd(cr.jacrev(loss)), cr.jacrev(cr.jacrev(loss))
        np.testing.assert_allclose(fr(x), rr(x), rtol=1e-8, atol=1e-10)
        t_fr, t_rr = best_time(lambda: fr(x)), best_time(lambda: rr(x))  # noqa: B023
        h = advise(loss, x, machine=machine).hessian
        rows.append(dict(n=n, m=m, t_fwd_over_rev=t_fr, t_rev_over_rev=t_rr,
                         pred_fwd_over_rev=h.jacfwd.seconds, pred_rev_over_rev=h.jacrev.seconds,
                         choice=h.choice, confidence=h.confidence,
                         faster="jacfwd(jacrev(f))" if t_fr <= t_rr else "jacrev(jacrev(f))"))
        r = rows[-1]
        print(f"  Hessian n={n:>3} (loss over m={m:>3}): fwd-over-rev {t_fr * 1e3:6.2f} ms, "
              f"rev-over-rev {t_rr * 1e3:6.2f} ms; advisor: {r['choice']} "
              f"{'ok' if r['choice'] == r['faster'] else 'MISS'}", flush=True)
    return rows


def summarize(rows):
    right = [r["choice"] == r["faster"] for r in rows]
    clear = [r for r in rows
             if max(r["t_jacfwd"], r["t_jacrev"]) / min(r["t_jacfwd"], r["t_jacrev"]) > 1.1]
    right_clear = [r["choice"] == r["faster"] for r in clear]
    return dict(points=len(rows), accuracy=float(np.mean(right)),
                clear_points=len(clear),
                accuracy_clear=float(np.mean(right_clear)) if clear else float("nan"),
                misses=[(r["n"], r["m"]) for r in rows if r["choice"] != r["faster"]])


def table(rows):
    head = ("| n | m | jacfwd (ms) | jacrev (ms) | predicted fwd/rev (ms) | peak mem fwd/rev (kB)"
            " | faster | advisor |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['m']} | {r['t_jacfwd'] * 1e3:.2f} | {r['t_jacrev'] * 1e3:.2f} | "
            f"{r['pred_jacfwd'] * 1e3:.2f} / {r['pred_jacrev'] * 1e3:.2f} | "
            f"{r['mem_jacfwd'] / 1e3:.0f} / {r['mem_jacrev'] / 1e3:.0f} | {r['faster']} | "
            f"{r['choice']}{'' if r['choice'] == r['faster'] else ' ✗'} |")
    return "\n".join(lines)


def plot(rows, sizes, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(sizes)
    ratio = np.zeros((k, k))
    pred = np.zeros((k, k))
    for r in rows:
        i, j = sizes.index(r["m"]), sizes.index(r["n"])
        ratio[i, j] = np.log2(r["t_jacrev"] / r["t_jacfwd"])
        pred[i, j] = np.log2(r["pred_jacrev"] / r["pred_jacfwd"])
    lim = max(np.abs(ratio).max(), np.abs(pred).max(), 1)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, data, title in ((axes[0], ratio, "measured log2(t_jacrev / t_jacfwd)"),
                            (axes[1], pred, "predicted log2(t_jacrev / t_jacfwd)")):
        im = ax.imshow(data, origin="lower", cmap="coolwarm", vmin=-lim, vmax=lim)
        ax.set_xticks(range(k), sizes)
        ax.set_yticks(range(k), sizes)
        ax.set_xlabel("n (inputs)")
        ax.set_ylabel("m (outputs)")
        ax.set_title(title, fontsize=10)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{data[i, j]:+.1f}", ha="center", va="center", fontsize=6)
        fig.colorbar(im, ax=ax, shrink=0.8, label="> 0: jacfwd faster")
    for r in rows:
        if r["choice"] != r["faster"]:
            axes[0].add_patch(plt.Rectangle((sizes.index(r["n"]) - 0.5, sizes.index(r["m"]) - 0.5),
                                            1, 1, fill=False, lw=2, ec="k"))
    # the anti-diagonal n * m = 2048: the crossover at n = m
    diag = [r for r in rows if r["n"] * r["m"] == 2048]
    diag.sort(key=lambda r: r["n"])
    ax = axes[2]
    xs = [r["n"] for r in diag]
    ax.loglog(xs, [r["t_jacfwd"] * 1e3 for r in diag], "o-", label="jacfwd measured")
    ax.loglog(xs, [r["t_jacrev"] * 1e3 for r in diag], "s-", label="jacrev measured")
    ax.loglog(xs, [r["pred_jacfwd"] * 1e3 for r in diag], "o--", alpha=0.5,
              label="jacfwd predicted")
    ax.loglog(xs, [r["pred_jacrev"] * 1e3 for r in diag], "s--", alpha=0.5,
              label="jacrev predicted")
    ax.set_xticks(xs, [f"{r['n']}\n{r['m']}" for r in diag])
    ax.minorticks_off()
    shown = [r[k] * 1e3 for r in diag for k in ("t_jacfwd", "t_jacrev", "pred_jacfwd",
                                                 "pred_jacrev")]
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
             if min(shown) / 1.5 <= t <= max(shown) * 1.5]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("n (top) and m (bottom), n·m = 2048")
    ax.set_ylabel("time (ms)")
    ax.set_title("crossover at n = m", fontsize=10)
    ax.legend(fontsize=8, loc="upper center")
    fig.suptitle("Jacobian of tanh(A @ tanh(B @ x)), hidden 64: forward vs reverse mode "
                 "(boxed: advisor wrong)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 4 x 4 grid")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    sizes = [4, 32, 128, 512] if args.quick else SIZES
    machine = calibrate()
    print(f"calibrated machine model: {machine}")
    rows = run(sizes, machine)
    hessians = run_hessians(machine)
    summary = summarize(rows)
    summary["hessian_accuracy"] = float(np.mean([r["choice"] == r["faster"] for r in hessians]))
    print()
    print(table(rows))
    print()
    print(f"advisor picks the faster mode at {summary['accuracy']:.0%} of {summary['points']} "
          f"grid points ({summary['accuracy_clear']:.0%} of the {summary['clear_points']} where "
          f"the two differ by more than 10%); misses: {summary['misses']}")
    print(f"Hessians: the advisor picks the faster of forward-over-reverse and "
          f"reverse-over-reverse at {summary['hessian_accuracy']:.0%} of {len(hessians)} points")
    out = dict(date=datetime.date.today().isoformat(), python=platform.python_version(),
               numpy=np.__version__, machine=platform.machine(), hidden=HIDDEN,
               model=machine.__dict__, summary=summary, rows=rows, hessians=hessians)
    results = ROOT / "benchmarks" / "results" / "forward_vs_reverse.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        results.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {results.relative_to(ROOT)}")
    if not args.no_plot and not args.quick:
        try:
            plot(rows, sizes, ROOT / "docs" / "img" / "forward_vs_reverse.png")
            print("wrote docs/img/forward_vs_reverse.png")
        except ImportError:
            print("matplotlib is not installed: no plot (pip install matplotlib)")
    # Fail (for `nox -s bench`) only if the advisor is wrong where the modes
    # clearly differ: near-ties flip with machine noise.
    return 0 if summary["accuracy_clear"] >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
