"""Peak memory of reverse mode, with and without ``checkpoint``.

Reverse mode keeps the forward pass's intermediate values (the residuals)
alive until the backward pass reads them. ``checkpoint`` trades compute for
memory: a checkpointed function keeps only its inputs (and, by policy, some
results) and recomputes the rest just before its backward step.

Workloads (eager ``grad``, no ``jit``; float64):

- ``mlp``: a 32-layer tanh MLP, width 256, batch 128, ``sum(out**2)``,
  differentiated with respect to all parameters (and, separately, the input
  only), without checkpoint and with ``checkpoint`` around each layer under
  the ``nothing_saveable``, ``dots_saveable`` and ``everything_saveable``
  policies.
- ``scan``: an RNN ``h = tanh(h @ W + x_t)`` over 1000 steps (batch 16,
  width 64), differentiated with respect to ``W`` and ``h0``: a Python loop
  (every step on the tape), ``lax.scan`` (what the backward loop reads
  stacked per step), ``lax.scan`` of a checkpointed step (one carry per
  step kept, each step recomputed), and ``lax.scan`` over 40 checkpointed chunks
  of a 25-step inner scan (about sqrt(T) carries at any time).

Memory is measured with ``tracemalloc`` (NumPy reports its array buffers to
it): *residuals* is what the pullback holds between the forward and the
backward pass (``vjp``), *peak* the high-water mark of a whole ``grad`` call
above what existed before it. Gradients are checked equal across variants
before anything is reported, and the measured savings are asserted against
what each policy promises. Results go to ``benchmarks/results/memory.json``.

    python benchmarks/memory.py           # about half a minute
    python benchmarks/memory.py --quick   # one timing repeat
"""

import argparse
import datetime
import gc
import json
import os
import platform
import sys
import time
import tracemalloc

import numpy as np
from _shared import git_revision  # benchmarks/_shared.py

os.environ.setdefault("CHAINRULE_JIT_COMPILE", "sync")  # time compiled kernels from call one
import chainrule as cr
import chainrule.numpy as cnp
from chainrule import checkpoint, checkpoint_policies, lax

MB = 2.0 ** 20
# tracemalloc also counts Python objects: tracing a recomputation or a scan
# body to a Jaxpr allocates a few hundred KB, whatever the array sizes
PYTHON_OVERHEAD_MB = 0.75
LAYERS, WIDTH, BATCH = 32, 256, 128
STEPS, RNN_WIDTH, RNN_BATCH, CHUNK = 1000, 64, 16, 25


# ------------------------------------------------------------ measuring ---


def measure_peak(fn):
    """(result, bytes of the high-water mark above the memory before the call)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    out = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return out, peak


def measure_residuals(loss, *args, argnums):
    """Bytes held by ``vjp``'s pullback: the forward pass's residuals (the
    primal output and the inputs themselves excluded)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    out, pullback = cr.vjp(lambda *d: loss(*_fill(args, argnums, d)),
                           *[args[i] for i in argnums])
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base - np.asarray(out).nbytes
    tracemalloc.stop()
    del out, pullback
    return held


def _fill(args, argnums, dyn):
    full = list(args)
    for i, d in zip(argnums, dyn):
        full[i] = d
    return full


def timed(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def assert_same(grads, reference, what):
    for a, b in zip(cr.tree_util.tree_flatten(grads)[0],
                    cr.tree_util.tree_flatten(reference)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=what)


# ------------------------------------------------------------------ MLP ---


def layer(p, h):
    return cnp.tanh(h @ p["w"] + p["b"])


def mlp_loss(policy):
    """``sum(mlp(x)**2)`` with each layer checkpointed under ``policy``."""
    f = layer if policy is None else checkpoint(layer, policy=policy)

    def loss(params, x):
        h = x
        for p in params:
            h = f(p, h)
        return cnp.sum(h ** 2)

    return loss


MLP_VARIANTS = {
    "no checkpoint": None,
    "nothing_saveable": checkpoint_policies.nothing_saveable,
    "dots_saveable": checkpoint_policies.dots_saveable,
    "everything_saveable": checkpoint_policies.everything_saveable,
}
# Per layer the tape keeps three (batch, width) arrays: the matmul's output,
# the bias add's output and the tanh's output (the next layer's input). The
# arrays of each (batch, width) array a policy keeps, per layer:
KEPT_PER_LAYER = {"no checkpoint": 3, "nothing_saveable": 1, "dots_saveable": 2,
                  "everything_saveable": 3}


def run_mlp(repeats):
    rng = np.random.default_rng(0)
    params = [{"w": rng.normal(size=(WIDTH, WIDTH)) / np.sqrt(WIDTH), "b": np.zeros(WIDTH)}
              for _ in range(LAYERS)]
    x = rng.normal(size=(BATCH, WIDTH))
    unit = BATCH * WIDTH * 8  # one activation
    grad_bytes = sum(p["w"].nbytes + p["b"].nbytes for p in params)
    rows, reference = {}, None
    for name, policy in MLP_VARIANTS.items():
        loss = mlp_loss(policy)
        grad_p = cr.grad(loss)
        grad_x = cr.grad(loss, argnums=1)
        g, peak = measure_peak(lambda: grad_p(params, x))  # noqa: B023
        gx, peak_x = measure_peak(lambda: grad_x(params, x))  # noqa: B023
        if reference is None:
            reference = (g, gx)
        assert_same(g, reference[0], f"mlp {name}: gradient with respect to the parameters")
        assert_same(gx, reference[1], f"mlp {name}: gradient with respect to the input")
        resid = measure_residuals(loss, params, x, argnums=(0,))
        # compiled: the buffers the plan keeps for intermediates (jit's
        # optimiser must not merge the recomputation back into the forward pass)
        jit_p = cr.jit(grad_p)
        for a, b in zip(cr.tree_util.tree_leaves(jit_p(params, x)),
                        cr.tree_util.tree_leaves(reference[0])):   # to rounding (fused code)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"{name}: jit")
        _, jit_call = measure_peak(lambda: jit_p(params, x))  # noqa: B023
        jit_total = jit_p.lower(params, x).executable.arena_bytes + jit_call
        rows[name] = {"residuals_mb": resid / MB, "residual_activations": resid / unit,
                      "peak_grad_params_mb": peak / MB, "peak_grad_input_mb": peak_x / MB,
                      "jit_memory_mb": jit_total / MB,
                      "time_grad_params_s": timed(lambda: grad_p(params, x), repeats)}  # noqa
    return rows, {"unit_mb": unit / MB, "grad_output_mb": grad_bytes / MB}


# ----------------------------------------------------------------- scan ---


def rnn_step(w, h, x):
    return cnp.tanh(h @ w + x)


def rnn_loop(w, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = rnn_step(w, h, xs[t])
    return cnp.sum(h ** 2)


def rnn_scan(w, h0, xs):
    h, _ = lax.scan(lambda h, x: (rnn_step(w, h, x), None), h0, xs)
    return cnp.sum(h ** 2)


def rnn_scan_checkpointed(w, h0, xs):
    h, _ = lax.scan(checkpoint(lambda h, x: (rnn_step(w, h, x), None)), h0, xs)
    return cnp.sum(h ** 2)


def rnn_chunked(w, h0, xs):
    """sqrt(T) checkpointing: an outer scan over chunks whose body, a
    checkpointed inner scan, keeps nothing: the outer scan keeps one carry
    per chunk, and each chunk's carries exist only during its backward step."""
    chunks = cnp.reshape(xs, (xs.shape[0] // CHUNK, CHUNK) + xs.shape[1:])

    @checkpoint
    def chunk(h, xc):
        h, _ = lax.scan(lambda h, x: (rnn_step(w, h, x), None), h, xc)
        return h

    h, _ = lax.scan(lambda h, xc: (chunk(h, xc), None), h0, chunks)
    return cnp.sum(h ** 2)


SCAN_VARIANTS = {"Python loop": rnn_loop, "lax.scan": rnn_scan,
                 "lax.scan, checkpointed step": rnn_scan_checkpointed,
                 f"scan of checkpointed {CHUNK}-step chunks": rnn_chunked}


def run_scan(repeats):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(RNN_WIDTH, RNN_WIDTH)) / np.sqrt(RNN_WIDTH) * 0.9
    h0 = rng.normal(size=(RNN_BATCH, RNN_WIDTH)) * 0.1
    xs = rng.normal(size=(STEPS, RNN_BATCH, RNN_WIDTH)) * 0.1
    unit = RNN_BATCH * RNN_WIDTH * 8  # one carry
    rows, reference = {}, None
    for name, loss in SCAN_VARIANTS.items():
        grad = cr.grad(loss, argnums=(0, 1))
        g, peak = measure_peak(lambda: grad(w, h0, xs))  # noqa: B023
        reference = g if reference is None else reference
        assert_same(g, reference, f"scan {name}")
        resid = measure_residuals(loss, w, h0, xs, argnums=(0, 1))
        rows[name] = {"residuals_mb": resid / MB, "residual_carries": resid / unit,
                      "peak_grad_mb": peak / MB, "peak_carries": peak / unit,
                      "time_grad_s": timed(lambda: grad(w, h0, xs), repeats)}  # noqa: B023
    return rows, {"unit_mb": unit / MB}


# ------------------------------------------------------------- reporting ---


def check_mlp(rows, info):
    """The policies' promises, on the measured residuals and peaks."""
    unit, L = info["unit_mb"], LAYERS
    none, nothing, dots = (rows[k] for k in ("no checkpoint", "nothing_saveable",
                                             "dots_saveable"))
    every = rows["everything_saveable"]
    inputs = L * unit  # the layer inputs every variant keeps
    beyond_none = none["residuals_mb"] - inputs
    beyond_nothing = nothing["residuals_mb"] - inputs
    # no checkpoint: two more activations per layer, O(L) of them
    assert beyond_none >= 0.9 * 2 * L * unit, beyond_none
    # nothing_saveable: O(1 layer) beyond the inputs (at rest nothing at all)
    assert beyond_nothing <= 3 * unit, beyond_nothing
    # the totals: 3 activations per layer down to 1, and to 2 for dots
    assert none["residuals_mb"] / nothing["residuals_mb"] >= 0.9 * 3
    assert none["residuals_mb"] / dots["residuals_mb"] >= 0.9 * 1.5
    assert abs(dots["residuals_mb"] - 2 * L * unit) <= 3 * unit
    assert abs(every["residuals_mb"] - none["residuals_mb"]) <= 3 * unit
    # peaks: with only the input differentiated, the residuals are the peak,
    # and the backward pass of a checkpointed layer adds one layer's worth
    assert none["peak_grad_input_mb"] / nothing["peak_grad_input_mb"] >= 0.8 * 3
    assert nothing["peak_grad_input_mb"] <= inputs + 8 * unit
    # with the parameters differentiated, their gradients (the outputs, the
    # same in every variant) dominate the end of the backward pass
    assert nothing["peak_grad_params_mb"] < none["peak_grad_params_mb"]
    assert nothing["peak_grad_params_mb"] <= info["grad_output_mb"] + inputs + 8 * unit
    # under jit (the plan's buffers and what a call allocates): the plan keeps
    # only what the backward pass reads, here the layer inputs, as a checkpoint
    # does; checkpointing must not cost memory (its recomputation stays apart)
    assert none["jit_memory_mb"] <= inputs + 4 * unit
    assert nothing["jit_memory_mb"] <= none["jit_memory_mb"] + 2 * unit
    return {"nothing_saveable_beyond_inputs_activations": beyond_nothing / unit,
            "no_checkpoint_beyond_inputs_activations": beyond_none / unit}


def check_scan(rows, info):
    unit = info["unit_mb"]
    loop, scan, remat, chunked = rows.values()
    # lax.scan stacks two values per step (the carry entering it and tanh's
    # derivative), and during the backward loop each step's cotangent of
    # h @ w, for the one product that sums them into w's cotangent
    assert abs(scan["residuals_mb"] - 2 * STEPS * unit) <= 4 * unit, scan["residuals_mb"] / unit
    assert loop["residuals_mb"] / scan["residuals_mb"] >= 1.5  # 3+ arrays per step vs 2
    assert scan["peak_grad_mb"] <= (3 * STEPS + 16) * unit + PYTHON_OVERHEAD_MB
    # a checkpointed step keeps one carry per step, and recomputes the rest
    assert abs(remat["residuals_mb"] - STEPS * unit) <= 8 * unit, remat["residuals_mb"] / unit
    assert remat["peak_grad_mb"] <= (STEPS + 16) * unit + PYTHON_OVERHEAD_MB
    # chunks: T / CHUNK outer carries at rest; T / CHUNK + CHUNK at the peak
    assert chunked["residuals_mb"] <= (STEPS // CHUNK + 8) * unit
    assert chunked["peak_grad_mb"] <= (STEPS // CHUNK + CHUNK + 16) * unit + PYTHON_OVERHEAD_MB
    assert remat["residuals_mb"] / chunked["residuals_mb"] >= 0.8 * CHUNK
    assert remat["peak_grad_mb"] / chunked["peak_grad_mb"] >= 4


def print_tables(mlp, mlp_info, scan, scan_info):
    unit = mlp_info["unit_mb"]
    print(f"\n== grad of a {LAYERS}-layer tanh MLP, width {WIDTH}, batch {BATCH} "
          f"(one activation = {unit:.2f} MB; the weight gradients = "
          f"{mlp_info['grad_output_mb']:.1f} MB) ==")
    head = (f"{'checkpoint per layer':<22}{'residuals':>11}{'ratio':>7}{'act.':>7}"
            f"{'peak grad(params)':>19}{'ratio':>7}{'peak grad(x)':>14}{'ratio':>7}{'time':>9}"
            f"{'jit memory':>13}")
    print(head)
    base = mlp["no checkpoint"]
    ratio = {k: base["residuals_mb"] / r["residuals_mb"] for k, r in mlp.items()}
    for name, r in mlp.items():
        print(f"{name:<22}{r['residuals_mb']:>8.2f} MB{ratio[name]:>6.2f}x"
              f"{r['residual_activations']:>7.1f}"
              f"{r['peak_grad_params_mb']:>16.2f} MB"
              f"{base['peak_grad_params_mb'] / r['peak_grad_params_mb']:>6.2f}x"
              f"{r['peak_grad_input_mb']:>11.2f} MB"
              f"{base['peak_grad_input_mb'] / r['peak_grad_input_mb']:>6.2f}x"
              f"{r['time_grad_params_s'] * 1e3:>7.0f}ms"
              f"{r['jit_memory_mb']:>10.2f} MB")
    extra = mlp["nothing_saveable"]["residual_activations"] - LAYERS
    print(f"""
What the policies promise. Each layer puts three ({BATCH}, {WIDTH}) arrays on
the tape: x @ W, + b and tanh, whose output is the next layer's input. All
variants keep the {LAYERS} layer inputs ({LAYERS * unit:.1f} MB); beyond them
- no checkpoint keeps 2 arrays per layer: O({LAYERS} layers) = {2 * LAYERS} activations;
- nothing_saveable keeps nothing (measured: {extra:.1f} activations) and
  recomputes one layer at a time in the backward pass: O(1 layer). Residuals
  shrink 3x ({LAYERS * 3} -> {LAYERS} activations), measured {ratio['nothing_saveable']:.2f}x;
- dots_saveable keeps the matmul outputs and recomputes only + b and tanh:
  2 arrays per layer, 1.5x, measured {ratio['dots_saveable']:.2f}x;
- everything_saveable keeps what no checkpoint keeps (a control).
The peak of grad(params) also holds the weight gradients, which grow to
{mlp_info['grad_output_mb']:.1f} MB as the backward pass frees the tape, so its ratio is smaller;
grad(x) (no weight gradients) shows the residual saving in the peak itself.
jit memory is the compiled grad(params)'s buffers plus what one call
allocates: the plan already keeps only what the backward pass reads (here
the layer inputs, as a checkpoint would), so checkpointing buys nothing more
for this MLP; an optimization barrier keeps its recomputation from being
merged back (tests/test_checkpoint.py shows 3x less for wider blocks).""")

    cu = scan_info["unit_mb"]
    print(f"\n== grad through a {STEPS}-step RNN (batch {RNN_BATCH}, width {RNN_WIDTH}; "
          f"one carry = {cu * 1024:.0f} KB) ==")
    print(f"{'variant':<36}{'residuals':>11}{'carries':>9}{'peak':>12}{'carries':>9}"
          f"{'ratio':>8}{'time':>9}")
    base = scan["Python loop"]
    for name, r in scan.items():
        print(f"{name:<36}{r['residuals_mb']:>8.2f} MB{r['residual_carries']:>9.0f}"
              f"{r['peak_grad_mb']:>9.2f} MB{r['peak_carries']:>9.0f}"
              f"{base['peak_grad_mb'] / r['peak_grad_mb']:>7.1f}x{r['time_grad_s'] * 1e3:>7.0f}ms")
    print(f"""
The Python loop tapes every step (slice, matmul, add, tanh); lax.scan stacks
what its backward loop reads, two carries' worth per step (the carry entering
the step and tanh's derivative), and at the peak also each step's cotangent of
h @ w, which one product after the loop sums into w's cotangent; with the step
checkpointed it keeps one carry per step ({STEPS} carries) and recomputes the
step in its backward loop; a scan over {STEPS // CHUNK} checkpointed chunks of {CHUNK} steps keeps
{STEPS // CHUNK} carries and, during one chunk's backward step, that chunk's {CHUNK}:
O(sqrt(T)) instead of O(T), for one extra forward pass. (The peaks also hold
up to about {PYTHON_OVERHEAD_MB} MB of Python objects from tracing, which tracemalloc counts.)""")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one timing repeat")
    p.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "results", "memory.json"))
    args = p.parse_args()
    repeats = 1 if args.quick else 3
    start = time.perf_counter()
    mlp, mlp_info = run_mlp(repeats)
    scan, scan_info = run_scan(repeats)
    print_tables(mlp, mlp_info, scan, scan_info)
    mlp_info.update(check_mlp(mlp, mlp_info))
    check_scan(scan, scan_info)
    print("\ngradients equal across variants; every promised reduction measured: ok "
          f"({time.perf_counter() - start:.0f} s)")
    out = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "cpu_count": os.cpu_count()},
        "versions": {"chainrule": cr.__version__, "chainrule_git": git_revision()},
        "config": {"mlp": {"layers": LAYERS, "width": WIDTH, "batch": BATCH},
                   "scan": {"steps": STEPS, "width": RNN_WIDTH, "batch": RNN_BATCH,
                            "chunk": CHUNK},
                   "timing_repeats": repeats, "dtype": "float64",
                   "memory": "tracemalloc, bytes above the memory before the call"},
        "mlp": {"info": mlp_info, "results": mlp},
        "scan": {"info": scan_info, "results": scan},
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {os.path.relpath(args.output)}")


if __name__ == "__main__":
    sys.exit(main())
