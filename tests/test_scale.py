"""Recursion and scale: long programs trace and differentiate in loops, not
recursions, and their memory grows linearly with their length.

A chain of 100,000 primitives is far deeper than Python's recursion limit
(1000 frames), so tracing it (``make_jaxpr``), evaluating its Jaxpr, and
differentiating it (``grad``: the backward pass walks the tape in a loop;
``jvp``) only work if none of them recurses per primitive.
"""

import gc
import sys
import tracemalloc

import numpy as np
import pytest

import chainrule as cr

N = 100_000


def chain(n_prims):
    """``n_prims`` primitives in a row: x <- x * a + b, n_prims / 2 times."""
    def f(x):
        for _ in range(n_prims // 2):
            x = x * 1.0001 + 0.0001
        return x

    return f


def _exact(n_prims, x):
    k = n_prims // 2
    value = 1.0001 ** k * (x + 1.0) - 1.0      # the fixed point of x * a + b is -1
    return value, 1.0001 ** k


def test_100k_primitives_trace_evaluate_and_differentiate():
    assert N > 50 * sys.getrecursionlimit()
    f = chain(N)
    closed = cr.make_jaxpr(f)(1.0)
    assert len(closed.eqns) == N
    value, slope = _exact(N, 1.0)
    np.testing.assert_allclose(closed(1.0)[0], value, rtol=1e-9)
    np.testing.assert_allclose(cr.grad(f)(1.0), slope, rtol=1e-9)
    y, t = cr.jvp(f, (1.0,), (1.0,))
    np.testing.assert_allclose(y, value, rtol=1e-9)
    np.testing.assert_allclose(t, slope, rtol=1e-9)


def test_long_programs_of_arrays_under_vmap_and_vjp():
    f = chain(20_000)
    xs = np.linspace(0.0, 1.0, 4)
    value, slope = _exact(20_000, xs)
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(xs), slope, rtol=1e-9)
    out, pullback = cr.vjp(f, xs)
    np.testing.assert_allclose(out, value, rtol=1e-9)
    np.testing.assert_allclose(pullback(np.ones(4))[0], slope, rtol=1e-9)
    # the pullback can be used again (the tape is kept) and gives the same
    np.testing.assert_allclose(pullback(np.ones(4))[0], slope, rtol=1e-9)


def _peak(run):
    gc.collect()
    tracemalloc.start()
    try:
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    gc.collect()
    return peak


def _assert_linear(sizes, peaks, what):
    per_prim = [p / n for p, n in zip(peaks, sizes)]
    # twice the primitives, twice the memory (give or take a fixed overhead)
    for a, b in zip(per_prim, per_prim[1:]):
        assert 0.7 < b / a < 1.3, (what, sizes, peaks)


@pytest.mark.parametrize("what", ["make_jaxpr", "grad"])
def test_memory_is_linear_in_program_length_small(what):
    sizes = [2_000, 4_000, 8_000]
    run = {"make_jaxpr": lambda n: lambda: cr.make_jaxpr(chain(n))(1.0),
           "grad": lambda n: lambda: cr.grad(chain(n))(1.0)}[what]
    _assert_linear(sizes, [_peak(run(n)) for n in sizes], what)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["make_jaxpr", "grad"])
def test_memory_is_linear_in_program_length(what):
    sizes = [25_000, 50_000, 100_000]
    run = {"make_jaxpr": lambda n: lambda: cr.make_jaxpr(chain(n))(1.0),
           "grad": lambda n: lambda: cr.grad(chain(n))(1.0)}[what]
    _assert_linear(sizes, [_peak(run(n)) for n in sizes], what)
