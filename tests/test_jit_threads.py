"""Kernels split over threads (chainrule/jit/threads.py): the same values as
the serial kernel (elementwise, broadcasting, sums, maxima and minima over
every axis, odd sizes, float32 and integers), the thread setting and the
CPU affinity respected, small kernels left serial.

Most tests lower ``CHUNK_WORK`` and ``RELEASE_GIL_WORK`` so that small
arrays are split too (the values cannot depend on how fast it is); no test
measures time.
"""

import os
import threading

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import config, jit
from chainrule.jit import threads

pytestmark = pytest.mark.usefixtures("jit_cache_dir")  # tests/conftest.py


@pytest.fixture
def split_all(monkeypatch):
    """Split every kernel with at least two rows; the thread setting restored."""
    monkeypatch.setattr(threads, "CHUNK_WORK", 1)
    monkeypatch.setattr(threads, "RELEASE_GIL_WORK", 1)
    old = config.jit_threads
    yield
    config.jit_threads = old


def _splits(f, *args):
    ex = f.lower(*args).executable
    return [v for v in ex.run.__globals__.values() if isinstance(v, threads.Split)]


def _serial_and_threaded(f, args, n_threads):
    """``f(*args)`` with one thread and with ``n_threads``, from the same plan."""
    config.update("jit_threads", 1)
    serial = f(*args)
    assert _splits(f, *args), "the plan split no kernel"
    config.update("jit_threads", n_threads)
    return serial, f(*args)


def _eq(a, b, dtype):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12)
    else:
        np.testing.assert_array_equal(a, b)


def _data(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(-50, 50, size=shape).astype(dtype)


@pytest.mark.parametrize("n_threads", [2, 3, 4])
@pytest.mark.parametrize("rows", [2, 7, 101])
def test_elementwise_with_broadcasting_equals_serial(split_all, n_threads, rows):
    rng = np.random.default_rng(rows)
    x, b = rng.normal(size=(rows, 5)), rng.normal(size=5)
    c = rng.normal(size=(rows, 1))
    f = jit(lambda x, b, c: cnp.sin(x) * b + cnp.exp(c) - 2.0)
    serial, threaded = _serial_and_threaded(f, (x, b, c), n_threads)
    np.testing.assert_array_equal(serial, threaded)
    np.testing.assert_allclose(threaded, np.sin(x) * b + np.exp(c) - 2.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, (0, 2)])
def test_reductions_equal_serial_and_numpy(split_all, dtype, op, axis):
    rng = np.random.default_rng(3)
    x = _data(rng, (13, 6, 5), dtype)
    red = getattr(cnp, op)
    f = jit(lambda x: red(x * x + x, axis=axis))
    serial, threaded = _serial_and_threaded(f, (x,), 3)
    _eq(threaded, serial, dtype)
    want = getattr(np, op)(x * x + x, axis=axis)
    _eq(threaded, want.astype(np.asarray(serial).dtype), dtype)


@pytest.mark.parametrize("op", ["max", "min"])
def test_nan_wins_in_maxima_and_minima_of_any_chunk(split_all, op):
    x = np.arange(40.0).reshape(10, 4)
    x[8, 1] = np.nan          # in the last of three chunks
    f = jit(lambda x: getattr(cnp, op)(x + 1.0, axis=0))
    serial, threaded = _serial_and_threaded(f, (x,), 3)
    np.testing.assert_array_equal(serial, threaded)
    np.testing.assert_array_equal(threaded, getattr(np, op)(x + 1.0, axis=0))


def test_several_outputs_and_reductions_in_one_kernel(split_all):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(9, 7)).astype(np.float32)

    def f(x):
        y = cnp.tanh(x) * 3.0
        return y, cnp.sum(y, axis=0), cnp.max(y, axis=1), cnp.sum(y)
    f = jit(f)
    serial, threaded = _serial_and_threaded(f, (x,), 2)
    y = np.tanh(x) * np.float32(3.0)
    for got, s, want in zip(threaded, serial, (y, y.sum(0), y.max(1), y.sum())):
        _eq(got, s, np.float32)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gradient_equals_serial(split_all):
    x = np.random.default_rng(7).normal(size=1001)

    def loss(x):
        return cnp.sum(cnp.sin(x) * cnp.cos(x) + cnp.tanh(x) ** 2 + cnp.exp(-x ** 2))
    g = jit(cr.grad(loss))
    serial, threaded = _serial_and_threaded(g, (x,), 3)
    np.testing.assert_array_equal(serial, threaded)
    s, c, t = np.sin(x), np.cos(x), np.tanh(x)
    np.testing.assert_allclose(threaded, c * c - s * s + 2 * t * (1 - t * t)
                               - 2 * x * np.exp(-x * x), rtol=1e-10, atol=1e-12)


def test_a_flag_from_another_chunk_reruns_the_exact_form(split_all):
    # sin's fast form is accurate only for |x| < 1647099: the chunk holding the
    # large element (run by a worker) must make the plan re-run the libm form
    x = np.linspace(-3, 3, 30)
    x[-2] = 1e9
    f = jit(lambda x: cnp.sin(x) * 2.0)
    serial, threaded = _serial_and_threaded(f, (x,), 3)
    np.testing.assert_array_equal(serial, threaded)
    np.testing.assert_allclose(threaded, np.sin(x) * 2.0, rtol=1e-12, atol=1e-15)


def test_one_thread_is_the_serial_path(split_all, monkeypatch):
    calls = []
    real = threads.Split._split
    monkeypatch.setattr(threads.Split, "_split",
                        lambda self, args, n: calls.append(n) or real(self, args, n))
    f = jit(lambda x: cnp.exp(x) + 1.0)
    x = np.linspace(0, 1, 60).reshape(12, 5)
    config.update("jit_threads", 1)
    f(x)
    assert calls == []
    config.update("jit_threads", 3)
    f(x)
    assert calls == [3]
    (split,) = _splits(f, x)
    assert split.chunks() == 3 and split.chunks(threads=1) == 1


def test_chunks_never_outnumber_rows(split_all):
    # b broadcast along the rows keeps the loop two-dimensional: 2 x 50
    f = jit(lambda x, b: cnp.exp(x) + b)
    x, b = np.ones((2, 50)), np.arange(50.0)
    (split,) = _splits(f, x, b)
    assert split.extents == (2, 50) and split.chunks(threads=8) == 2
    config.update("jit_threads", 8)
    np.testing.assert_allclose(f(x, b), np.broadcast_to(np.e + b, (2, 50)))


def test_small_kernels_stay_serial():
    # the real threshold: 8 elements (dispatch-bound) are never split
    f = jit(lambda x: cnp.sin(x) * cnp.exp(x))
    x = np.linspace(0, 1, 8)
    np.testing.assert_allclose(f(x), np.sin(x) * np.exp(x), rtol=1e-12)
    ex = f.lower(x).executable
    assert ex.kernels and not ex.split and not _splits(f, x)


def test_work_threshold_decides(monkeypatch):
    monkeypatch.setattr(threads, "RELEASE_GIL_WORK", 1)
    monkeypatch.setattr(threads, "CHUNK_WORK", 10 ** 9)
    x = np.linspace(0, 1, 4096)
    assert not _splits(jit(lambda x: cnp.exp(x) + 1.0), x)
    monkeypatch.setattr(threads, "CHUNK_WORK", 1000)
    (split,) = _splits(jit(lambda x: cnp.exp(x) + 2.0), x)
    assert split.max_chunks == split.work // 1000
    assert split.work == 4096 * threads.cost(jit(lambda x: cnp.exp(x) + 2.0)
                                             .lower(x).executable.kernels[0].spec)


def test_thread_count_respects_affinity_and_numba_num_threads(monkeypatch):
    old = config.jit_threads
    try:
        config.update("jit_threads", None)
        monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
        assert threads.count() == 1
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
        assert threads.count() == 3
        monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
        assert threads.count() == 2
        config.update("jit_threads", 4)      # the explicit setting wins
        assert threads.count() == 4
    finally:
        config.jit_threads = old


def test_affinity_of_one_cpu_runs_serially(split_all, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1}, raising=False)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    config.update("jit_threads", None)
    f = jit(lambda x: cnp.exp(x) * 2.0)
    x = np.linspace(0, 1, 40).reshape(8, 5)
    (split,) = _splits(f, x)
    assert split.chunks() == 1
    np.testing.assert_allclose(f(x), np.exp(x) * 2.0, rtol=1e-12)


def test_setting_is_validated(monkeypatch):
    old = config.jit_threads
    try:
        for bad in (0, -1, 2.5, "two", True):
            with pytest.raises(ValueError, match="jit_threads"):
                config.update("jit_threads", bad)
        config.update("jit_threads", 2)
        assert config.jit_threads == 2
        config.update("jit_threads", None)
        assert config.jit_threads is None
    finally:
        config.jit_threads = old
    from chainrule.config import _Config
    monkeypatch.setenv("CHAINRULE_JIT_THREADS", "3")
    assert _Config().jit_threads == 3
    monkeypatch.setenv("CHAINRULE_JIT_THREADS", "zero")
    with pytest.raises(ValueError, match="CHAINRULE_JIT_THREADS"):
        _Config()


def test_plans_called_from_several_threads_at_once(split_all):
    config.update("jit_threads", 2)
    f = jit(lambda x: cnp.sum(cnp.sin(x) * x, axis=0))
    rng = np.random.default_rng(11)
    xs = [rng.normal(size=(31, 4)) for _ in range(6)]
    f(xs[0])
    results = [None] * len(xs)

    def run(i):
        for _ in range(20):
            results[i] = f(xs[i])
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(xs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for x, r in zip(xs, results):
        np.testing.assert_allclose(r, np.sum(np.sin(x) * x, axis=0), rtol=1e-12)
