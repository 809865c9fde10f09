"""Threads: the jit caches and the trace stack are safe to share.

- 8 threads calling the same and different jitted functions, with different
  shapes, get the answers of serial calls;
- each function is traced once per signature and each kernel compiled once
  (``chainrule.jit.stats``: ``traces``, ``kernel_compiles``), however the
  threads interleave: the jit package traces under one lock and compiles
  kernels under another (chainrule/jit/__init__.py, chainrule/jit/cache.py);
- traces never mix: the current interpreter is a context variable, so each
  thread has its own. Threads are made to pause in the middle of their traces
  (a barrier inside the traced function) so that they interleave for sure.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import _eval, current_interpreter
from chainrule.jit import cache, stats

N_THREADS = 8


@pytest.fixture(autouse=True)
def _memory_only_cache(monkeypatch):
    """A cold in-memory kernel cache and no disk cache: every kernel a test
    needs is compiled (and counted) in the test."""
    monkeypatch.setenv("CHAINRULE_DISABLE_JIT_CACHE", "1")
    monkeypatch.setattr(cache, "_memory", {})


def _in_threads(fn, n=N_THREADS):
    """Run ``fn(i)`` for i < n in n threads that start together; results in order."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# Distinct chains of operations, so that each compiles its own kernels. The
# constants make them differ in their kernels' text.
def _make(k):
    def f(x, y):
        z = cnp.sin(x * (1.0 + k)) * y + cnp.exp(-x * x) * (0.5 + k)
        return cnp.sum(cnp.tanh(z) * z, axis=-1) + k

    f.__name__ = f"f{k}"
    return f


SHAPES = [(3, 4), (5, 4), (6,)]


def _args(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.normal(size=shape[-1:])


def _counts():
    return stats["traces"], stats["kernel_compiles"]


def _delta(before):
    now = _counts()
    return now[0] - before[0], now[1] - before[1]


def test_same_function_many_threads_many_shapes():
    f = _make(0)
    g = cr.grad(lambda x, y: cnp.sum(f(x, y)))
    work = [(SHAPES[i % len(SHAPES)], i) for i in range(N_THREADS)]
    want = [(f(*_args(s, seed)), g(*_args(s, seed))) for s, seed in work]

    # serially, with fresh jits and a cold cache: what it takes
    cache._memory.clear()
    before = _counts()
    jf, jg = cr.jit(f), cr.jit(g)
    for s, seed in work:
        jf(*_args(s, seed))
        jg(*_args(s, seed))
    serial = _delta(before)
    assert jf.traces == jg.traces == len(SHAPES)

    # the same in threads, everything starting at once
    cache._memory.clear()
    before = _counts()
    jf, jg = cr.jit(f), cr.jit(g)

    def work_in_thread(i):
        s, seed = work[i]
        outs = []
        for _ in range(3):   # the first call compiles, the others hit the cache
            outs.append((jf(*_args(s, seed)), jg(*_args(s, seed))))
        return outs

    results = _in_threads(work_in_thread)
    assert _delta(before) == serial           # each trace and each kernel once
    assert jf.traces == jg.traces == len(SHAPES)
    for outs, (v, gr) in zip(results, want):
        for jv, jgr in outs:
            np.testing.assert_allclose(jv, v, rtol=1e-12, atol=1e-12)
            for a, b in zip(jgr if isinstance(jgr, tuple) else (jgr,),
                            gr if isinstance(gr, tuple) else (gr,)):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_different_functions_in_threads():
    n_funs = 4   # each used by two threads at once
    fs = [_make(k) for k in range(n_funs)]
    args = [_args(SHAPES[k % len(SHAPES)], k) for k in range(n_funs)]
    want = [f(*a) for f, a in zip(fs, args)]
    want_grads = [cr.grad(lambda x, y, f=f: cnp.sum(f(x, y)))(*a) for f, a in zip(fs, args)]

    cache._memory.clear()
    before = _counts()
    for k in range(n_funs):
        cr.jit(fs[k])(*args[k])
        cr.jit(cr.grad(lambda x, y, f=fs[k]: cnp.sum(f(x, y))))(*args[k])
    serial = _delta(before)

    cache._memory.clear()
    before = _counts()
    jits = [cr.jit(f) for f in fs]
    jgrads = [cr.jit(cr.grad(lambda x, y, f=f: cnp.sum(f(x, y)))) for f in fs]
    results = _in_threads(lambda i: [(jits[i % n_funs](*args[i % n_funs]),
                                      jgrads[i % n_funs](*args[i % n_funs]))
                                     for _ in range(2)])
    assert _delta(before) == serial
    for i, outs in enumerate(results):
        for v, g in outs:
            np.testing.assert_allclose(v, want[i % n_funs], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(g, want_grads[i % n_funs], rtol=1e-12, atol=1e-12)


def test_one_kernel_wanted_by_all_threads_is_compiled_once():
    # eight different functions whose fused kernel is the same text: the
    # in-memory cache must hand all of them the one compiled kernel
    fns = [cr.jit(lambda x: cnp.sum(cnp.cos(x) * 3.0 + x * x)) for _ in range(N_THREADS)]
    x = np.linspace(0, 1, 11)
    before = _counts()
    outs = _in_threads(lambda k: fns[k](x))
    traces, compiles = _delta(before)
    assert traces == N_THREADS and compiles == 1
    for out in outs:
        np.testing.assert_allclose(out, np.sum(np.cos(x) * 3.0 + x * x), rtol=1e-12)


def test_a_new_signature_in_many_threads_is_traced_once():
    calls = []

    def f(x):
        calls.append(threading.get_ident())
        return cnp.sum(cnp.sqrt(x * x + 1.0))

    jf = cr.jit(f)
    x = np.arange(5.0)
    outs = _in_threads(lambda i: jf(x))
    assert len(calls) == 1 and jf.traces == 1
    for out in outs:
        np.testing.assert_allclose(out, np.sum(np.sqrt(x * x + 1.0)), rtol=1e-12)


# ------------------------------------------------------ traces don't mix ---

TRANSFORMS = {
    "grad": lambda f, x: cr.grad(f)(x),
    "jvp": lambda f, x: cr.jvp(f, (x,), (np.ones_like(x),))[1],
    "vjp": lambda f, x: cr.vjp(f, x)[1](np.ones(()))[0],
    "vmap(grad)": lambda f, x: cr.vmap(cr.grad(f))(np.stack([x, 2 * x])),
    "hessian": lambda f, x: cr.hessian(f)(x),
    "jacfwd": lambda f, x: cr.jacfwd(f)(x),
    "make_jaxpr": lambda f, x: str(cr.make_jaxpr(f)(x)),
    "jit(grad)": lambda f, x: cr.jit(cr.grad(f))(x),
}


def _pausing(k, barrier):
    """A function that stops at ``barrier`` in the middle of being traced, so
    that every thread is inside its own trace at the same time."""
    def f(x):
        y = cnp.sin(x) * (k + 1.0)
        if barrier is not None:
            barrier.wait(timeout=30)
        z = y * y + cnp.cos(x * (k + 2.0))
        return cnp.sum(z * (k + 3.0))

    return f


def test_concurrent_transforms_never_mix_their_traces():
    names = sorted(TRANSFORMS)
    xs = [np.linspace(-1, 1, 3 + k % 3) for k in range(len(names))]
    want = [TRANSFORMS[n](_pausing(k, None), x) for k, (n, x) in enumerate(zip(names, xs))]
    barrier = threading.Barrier(len(names))
    interps_seen = []

    def run(k):
        f = _pausing(k, barrier)
        out = TRANSFORMS[names[k]](f, xs[k])
        interps_seen.append(current_interpreter())
        return out

    with ThreadPoolExecutor(len(names)) as pool:
        got = list(pool.map(run, range(len(names))))
    assert all(i is _eval for i in interps_seen)   # each thread ended at the bottom
    for name, g, w in zip(names, got, want):
        if name == "make_jaxpr":
            assert g == w     # the same equations, no one else's
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=name)


def test_each_thread_starts_outside_every_transform():
    # a thread started from inside a transform is not inside it
    seen = []

    def f(x):
        with ThreadPoolExecutor(1) as pool:
            inner = pool.submit(lambda: (current_interpreter(),
                                         cr.grad(lambda y: cnp.sum(y ** 3))(np.ones(2))))
            interp, g = inner.result()
        seen.append(interp)
        np.testing.assert_allclose(g, [3.0, 3.0])
        return cnp.sum(x * 2.0)

    np.testing.assert_allclose(cr.grad(f)(np.ones(3)), 2.0)
    assert seen == [_eval]


def test_errors_in_some_threads_do_not_disturb_the_others():
    jf = cr.jit(lambda x: cnp.sum(x ** 2))

    def run(i):
        if i % 2:
            with pytest.raises(TypeError):
                cr.grad(lambda x: cnp.sum(x * "oops"))(np.ones(2))
            with pytest.raises(TypeError, match="hashable"):
                cr.jit(lambda x, s: x, static_argnums=1)(np.ones(2), [i])
        return jf(np.full(3, float(i))), cr.grad(lambda x: cnp.sum(x ** 3))(float(i))

    for i, (v, g) in enumerate(_in_threads(run)):
        np.testing.assert_allclose(v, 3.0 * i * i)
        np.testing.assert_allclose(g, 3.0 * i * i)
    assert jf.traces == 1


def test_big_kernels_release_the_gil_and_stay_right():
    """Kernels over at least native.RELEASE_GIL_WORK elements let other threads
    run meanwhile; threads sharing one executable (each with its own buffers)
    still get the serial answers."""
    from chainrule.jit import native
    f = _make(1)
    g = cr.jit(cr.grad(lambda x, y: cnp.sum(f(x, y))))
    shape = (256, 128)
    assert shape[0] * shape[1] >= native.RELEASE_GIL_WORK
    args = [_args(shape, seed) for seed in range(N_THREADS)]
    want = [g(*a) for a in args]

    def work_in_thread(i):
        return [g(*args[i]) for _ in range(5)]

    for outs, w in zip(_in_threads(work_in_thread), want):
        for out in outs:
            np.testing.assert_array_equal(out, w)
