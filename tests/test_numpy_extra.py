"""chainrule.numpy additions: scans, sorting and order statistics, matrices,
differences and convolutions, comparisons. Values against NumPy, derivatives
by check_grads (order 2, fwd and rev)."""

import numpy as np
import pytest

import chainrule
import chainrule.numpy as cnp
from chainrule.core import ConcretizationError
from chainrule.primitives.scans import linear_recurrence
from chainrule.test_util import check_grads

rng = np.random.default_rng(1)
A = rng.normal(size=(3, 4))
V = rng.normal(size=(5,))


def grads(f, *args, order=2, **tol):
    check_grads(f, args, order=order, modes=("fwd", "rev"), **tol)


# ------------------------------------------------------------------ scans ---

def test_linear_recurrence_matches_a_loop():
    a, b = rng.normal(size=(2, 3, 7))
    for reverse in (False, True):
        h, expected = 0.0, np.zeros_like(b)
        order = range(6, -1, -1) if reverse else range(7)
        h = np.zeros(3)
        for i in order:
            h = a[:, i] * h + b[:, i]
            expected[:, i] = h
        np.testing.assert_allclose(linear_recurrence(a, b, 1, reverse), expected)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumulative_values(axis):
    np.testing.assert_allclose(cnp.cumprod(A, axis=axis), np.cumprod(A, axis=axis))
    ref_axis = 0 if axis is None else axis
    flat = A.ravel() if axis is None else A
    np.testing.assert_allclose(cnp.cummax(A, axis=axis), np.maximum.accumulate(flat, ref_axis))
    np.testing.assert_allclose(cnp.cummin(A, axis=axis), np.minimum.accumulate(flat, ref_axis))
    assert cnp.cumprod(np.array([1, 2, 3], np.int32)).dtype == np.cumprod(
        np.array([1, 2, 3], np.int32)).dtype


@pytest.mark.parametrize("f", [cnp.cumprod, cnp.cummax, cnp.cummin])
@pytest.mark.parametrize("axis", [0, 1])
def test_cumulative_grads(f, axis):
    grads(lambda x: f(x, axis=axis), A)


def test_cumprod_gradient_is_exact_with_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0, -1.5])
    grads(cnp.cumprod, x)
    # J[i, j] = prod(x[:j]) * prod(x[j+1:i+1]) for j <= i, computed directly
    n = len(x)
    J = np.array([[np.prod(np.delete(x[:i + 1], j)) if j <= i else 0.0 for j in range(n)]
                  for i in range(n)])
    np.testing.assert_array_equal(chainrule.jacrev(cnp.cumprod)(x), J)
    np.testing.assert_array_equal(chainrule.jacfwd(cnp.cumprod)(x), J)
    assert np.all(np.isfinite(chainrule.hessian(lambda v: cnp.sum(cnp.cumprod(v)))(x)))


def test_cummax_gradient_goes_to_the_first_running_argmax():
    x = np.array([1.0, 3.0, 2.0, 3.0, 5.0, 4.0])
    J = chainrule.jacrev(cnp.cummax)(x)
    expected = np.zeros((6, 6))
    for i, j in enumerate([0, 1, 1, 1, 4, 4]):
        expected[i, j] = 1.0
    np.testing.assert_array_equal(J, expected)
    np.testing.assert_array_equal(chainrule.jacfwd(cnp.cummax)(x), expected)


def test_nan_reductions():
    x = A.copy()
    x[0, 1] = x[2, 3] = np.nan
    for ours, theirs in [(cnp.nanmax, np.nanmax), (cnp.nanmin, np.nanmin),
                         (cnp.nanprod, np.nanprod), (cnp.nanvar, np.nanvar),
                         (cnp.nanstd, np.nanstd)]:
        for axis in (None, 0, 1):
            np.testing.assert_allclose(ours(x, axis=axis), theirs(x, axis=axis))
    np.testing.assert_allclose(cnp.nancumsum(x, axis=1), np.nancumsum(x, axis=1))
    np.testing.assert_allclose(cnp.nancumprod(x, axis=0), np.nancumprod(x, axis=0))
    assert np.isnan(cnp.nanmax(np.array([np.nan, np.nan])))
    grads(lambda v: cnp.nanvar(cnp.where(np.isnan(x), np.nan, v), axis=1), A)


# ----------------------------------------------------- sorting & order stats ---

def test_sort_and_argsort():
    x = np.array([[3.0, 1.0, 2.0, 1.0], [0.5, -1.0, 9.0, np.nan]])
    for axis in (0, 1, -1, None):
        np.testing.assert_array_equal(cnp.sort(x, axis=axis), np.sort(x, axis=axis))
        np.testing.assert_array_equal(cnp.argsort(x, axis=axis),
                                      np.argsort(x, axis=axis, kind="stable"))
    ties = np.array([2.0, 1.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(cnp.argsort(ties, descending=True), [3, 0, 2, 1, 4])
    np.testing.assert_array_equal(cnp.sort(ties, descending=True), [3, 2, 2, 1, 1])
    grads(lambda v: cnp.sort(v, axis=1), A)
    g = chainrule.grad(lambda v: cnp.sort(v)[0] + 10 * cnp.sort(v)[-1])(V)
    expected = np.zeros(5)
    expected[np.argmin(V)], expected[np.argmax(V)] = 1.0, 10.0
    np.testing.assert_array_equal(g, expected)
    assert "argsort" in str(chainrule.make_jaxpr(cnp.sort)(V))


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_quantile_values(method, axis):
    for q in (0.3, [0.0, 0.25, 0.5, 1.0], [[0.1, 0.9]]):
        for keepdims in (False, True):
            np.testing.assert_allclose(
                cnp.quantile(A, q, axis=axis, method=method, keepdims=keepdims),
                np.quantile(A, q, axis=axis, method=method, keepdims=keepdims))
    np.testing.assert_allclose(cnp.percentile(A, [10, 50], axis=axis, method=method),
                               np.percentile(A, [10, 50], axis=axis, method=method))


def test_median_values_and_grads():
    for axis in (None, 0, 1):
        np.testing.assert_allclose(cnp.median(A, axis=axis), np.median(A, axis=axis))
    np.testing.assert_allclose(cnp.median(V), np.median(V))
    grads(lambda v: cnp.median(v, axis=1), A)
    grads(lambda v: cnp.quantile(v, [0.3, 0.8], axis=0), A)
    grads(lambda v: cnp.percentile(v, 35), A)
    with pytest.raises(ValueError, match="range"):
        cnp.quantile(A, 1.5)


def test_searchsorted():
    a = np.sort(rng.normal(size=7))
    v = np.concatenate([rng.normal(size=5), a[2:4]])
    for side in ("left", "right"):
        expected = np.searchsorted(a, v, side=side)
        np.testing.assert_array_equal(cnp.searchsorted(a, v, side=side), expected)
        traced = chainrule.make_jaxpr(lambda a, v, s=side: cnp.searchsorted(a, v, side=s))(a, v)
        np.testing.assert_array_equal(traced(a, v)[0], expected)
    perm = rng.permutation(7)
    np.testing.assert_array_equal(
        chainrule.make_jaxpr(lambda s: cnp.searchsorted(s, v, sorter=cnp.argsort(s)))(
            a[perm])(a[perm])[0], np.searchsorted(a, v))


def test_value_dependent_shapes_need_concrete_values():
    x = np.array([[0.0, 1.5], [2.0, 0.0]])
    for ours, theirs in [(cnp.nonzero, np.nonzero), (cnp.argwhere, np.argwhere),
                         (cnp.flatnonzero, np.flatnonzero)]:
        np.testing.assert_array_equal(ours(x), theirs(x))
        with pytest.raises(ConcretizationError, match="depends on the values"):
            chainrule.make_jaxpr(ours)(x)
    # under grad the values are concrete, so they work
    g = chainrule.grad(lambda v: cnp.sum(v[cnp.nonzero(v)] ** 2))(x)
    np.testing.assert_allclose(g, 2 * x)


def test_unique():
    x = np.array([3.0, 1.0, 3.0, 2.0, 1.0])
    for flags in [{}, {"return_index": True}, {"return_inverse": True, "return_counts": True},
                  {"return_index": True, "return_inverse": True, "return_counts": True}]:
        ours, theirs = cnp.unique(x, **flags), np.unique(x, **flags)
        for o, t in zip(ours if flags else [ours], theirs if flags else [theirs], strict=True):
            np.testing.assert_array_equal(o, t)
    g = chainrule.grad(lambda v: cnp.sum(cnp.unique(v) * np.array([1.0, 2.0, 3.0])))(x)
    np.testing.assert_array_equal(g, [3.0, 1.0, 0.0, 2.0, 0.0])  # first occurrences
    with pytest.raises(ConcretizationError):
        chainrule.make_jaxpr(cnp.unique)(x)


# ----------------------------------------------------------- matrices ---

@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_diag_tri_values(k):
    np.testing.assert_array_equal(cnp.diag(V, k), np.diag(V, k))
    np.testing.assert_array_equal(cnp.diag(A, k), np.diag(A, k))
    np.testing.assert_array_equal(cnp.diagflat(A[:2, :2], k), np.diagflat(A[:2, :2], k))
    B = rng.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(cnp.triu(B, k), np.triu(B, k))
    np.testing.assert_array_equal(cnp.tril(B, k), np.tril(B, k))
    np.testing.assert_array_equal(cnp.tri(3, 4, k), np.tri(3, 4, k))
    for ours, theirs in [(cnp.triu_indices, np.triu_indices), (cnp.tril_indices, np.tril_indices)]:
        np.testing.assert_array_equal(ours(4, k), theirs(4, k))
    np.testing.assert_array_equal(cnp.triu_indices_from(A, k), np.triu_indices_from(A, k))
    np.testing.assert_array_equal(cnp.tril_indices_from(A, k), np.tril_indices_from(A, k))


def test_matrix_grads():
    grads(lambda v: cnp.diag(v, 1), V)
    grads(lambda v: cnp.diag(v, -2), V)
    grads(lambda m: cnp.diag(m, 1), A)
    grads(lambda m: cnp.triu(m, 1), A)
    grads(lambda m: cnp.tril(m), A)
    grads(lambda v: cnp.vander(v, 4), V[:3])


def test_meshgrid_and_indices():
    x, y, z = np.arange(3.0), np.arange(4.0) * 2, np.arange(2.0) - 1
    for indexing in ("xy", "ij"):
        for sparse in (False, True):
            for ours, theirs in zip(cnp.meshgrid(x, y, z, indexing=indexing, sparse=sparse),
                                    np.meshgrid(x, y, z, indexing=indexing, sparse=sparse),
                                    strict=True):
                np.testing.assert_array_equal(ours, theirs)
    grads(lambda a, b: cnp.meshgrid(a, b)[0] * cnp.meshgrid(a, b)[1], x + 0.5, y + 0.5)
    np.testing.assert_array_equal(cnp.indices((2, 3)), np.indices((2, 3)))
    np.testing.assert_array_equal(cnp.vander(V[:3]), np.vander(V[:3]))
    np.testing.assert_array_equal(cnp.vander(V[:3], 5, increasing=True),
                                  np.vander(V[:3], 5, increasing=True))


def test_cross():
    a, b = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(cnp.cross(a, b), np.cross(a, b))
    np.testing.assert_allclose(cnp.cross(a.T, b.T, axis=0), np.cross(a.T, b.T, axis=0))
    np.testing.assert_allclose(cnp.cross(a[0], b), np.cross(a[0], b))
    np.testing.assert_allclose(cnp.cross(a.T, b, axisa=0, axisc=0),
                               np.cross(a.T, b, axisa=0, axisc=0))
    np.testing.assert_allclose(cnp.cross(a, b[:, :2]), np.cross(a, np.pad(b[:, :2],
                                                                          ((0, 0), (0, 1)))))
    np.testing.assert_allclose(cnp.cross(a[:, :2], b[:, :2]),
                               a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    grads(cnp.cross, a, b)


# ------------------------------------------------ differences & integrals ---

def test_diff_and_ediff1d():
    for n in (0, 1, 2, 3):
        for axis in (0, 1, -1):
            np.testing.assert_allclose(cnp.diff(A, n, axis), np.diff(A, n, axis))
    np.testing.assert_allclose(cnp.diff(A, prepend=0.0, append=A[:, :1]),
                               np.diff(A, prepend=0.0, append=A[:, :1]))
    np.testing.assert_array_equal(cnp.diff(np.array([True, False, False])),
                                  np.diff(np.array([True, False, False])))
    np.testing.assert_allclose(cnp.ediff1d(A, to_end=[9.0], to_begin=-1.0),
                               np.ediff1d(A, to_end=[9.0], to_begin=-1.0))
    grads(lambda x: cnp.diff(x, 2, axis=1), A)
    grads(lambda x: cnp.ediff1d(x, to_begin=x[:1]), V)


def test_trapezoid():
    x = np.sort(rng.uniform(0, 3, size=4))
    np.testing.assert_allclose(cnp.trapezoid(A), np.trapezoid(A))
    np.testing.assert_allclose(cnp.trapezoid(A, x=x), np.trapezoid(A, x=x))
    np.testing.assert_allclose(cnp.trapezoid(A, dx=0.3, axis=0), np.trapezoid(A, dx=0.3, axis=0))
    X2 = np.sort(rng.uniform(size=(3, 4)), axis=0)
    np.testing.assert_allclose(cnp.trapezoid(A, x=X2, axis=0), np.trapezoid(A, x=X2, axis=0))
    grads(lambda y, x: cnp.trapezoid(y, x=x), A, x)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n,m", [(5, 3), (3, 5), (4, 4), (6, 1), (1, 1), (7, 2)])
def test_convolve_and_correlate(mode, n, m):
    a, v = rng.normal(size=n), rng.normal(size=m)
    np.testing.assert_allclose(cnp.convolve(a, v, mode), np.convolve(a, v, mode), atol=1e-14)
    np.testing.assert_allclose(cnp.correlate(a, v, mode), np.correlate(a, v, mode),
                               atol=1e-14)
    grads(lambda a, v: cnp.convolve(a, v, mode), a, v)


def test_cov_and_corrcoef():
    y = rng.normal(size=(2, 4))
    for rowvar in (True, False):
        for kw in ({}, {"bias": True}, {"ddof": 2}):
            np.testing.assert_allclose(cnp.cov(A, rowvar=rowvar, **kw),
                                       np.cov(A, rowvar=rowvar, **kw))
        yy = y if rowvar else y.reshape(4, 2)[:3]     # same number of observations as A
        np.testing.assert_allclose(cnp.cov(A, yy, rowvar=rowvar), np.cov(A, yy, rowvar=rowvar))
        np.testing.assert_allclose(cnp.corrcoef(A, rowvar=rowvar), np.corrcoef(A, rowvar=rowvar))
    np.testing.assert_allclose(cnp.cov(V), np.cov(V))
    np.testing.assert_allclose(cnp.corrcoef(V), np.corrcoef(V))
    grads(cnp.cov, A)
    grads(lambda x: cnp.corrcoef(x, rowvar=False), A.T)


# ------------------------------------------------------ elementwise extras ---

def test_isclose_allclose_array_equal():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9, 1.0, np.inf])
    b = np.array([1.0 + 1e-9, np.nan, np.inf, np.inf, 0.0, 1.1, 1e308])
    for equal_nan in (False, True):
        np.testing.assert_array_equal(cnp.isclose(a, b, equal_nan=equal_nan),
                                      np.isclose(a, b, equal_nan=equal_nan))
    np.testing.assert_array_equal(cnp.isclose(np.array([1, 2]), 1), np.isclose([1, 2], 1))
    assert cnp.allclose(A, A + 1e-10) is True and cnp.allclose(A, A + 1) is False
    assert cnp.array_equal(A, A.copy()) is True and cnp.array_equal(A, A[:2]) is False
    assert cnp.array_equal(a, a, equal_nan=True) and not cnp.array_equal(a, a)
    assert cnp.array_equiv(A[0], A[:1].repeat(3, 0)) and not cnp.array_equiv(A, A[:, :2])
    jaxpr = chainrule.make_jaxpr(lambda x, y: cnp.isclose(x, y))(a, b)
    np.testing.assert_array_equal(jaxpr(a, b)[0], np.isclose(a, b))
    with pytest.raises(ConcretizationError):
        chainrule.make_jaxpr(lambda x: cnp.allclose(x, 1.0))(a)
    # under grad the values are concrete: Python control flow works
    f = lambda x: cnp.sum(x * x) if cnp.allclose(x, A) else cnp.sum(x)
    np.testing.assert_allclose(chainrule.grad(f)(A), 2 * A)


def test_nan_to_num_and_fix():
    x = np.array([np.nan, np.inf, -np.inf, -1.5, 2.5])
    np.testing.assert_array_equal(cnp.nan_to_num(x), np.nan_to_num(x))
    np.testing.assert_array_equal(cnp.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0),
                                  np.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0))
    np.testing.assert_array_equal(cnp.nan_to_num(x.astype(np.float32)),
                                  np.nan_to_num(x.astype(np.float32)))
    g = chainrule.grad(lambda v: cnp.sum(cnp.nan_to_num(v)))(x)
    np.testing.assert_array_equal(g, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(cnp.fix(x), np.fix(x))
    grads(lambda v: cnp.nan_to_num(v) * v, V)


def test_logspace_geomspace():
    np.testing.assert_allclose(cnp.logspace(0, 2, 5), np.logspace(0, 2, 5))
    np.testing.assert_allclose(cnp.geomspace(1, 1000, 4), np.geomspace(1, 1000, 4))
    f = lambda s, e: cnp.logspace(s, e, 5, base=2.0)
    np.testing.assert_allclose(f(np.array(0.5), np.array(3.0)), np.logspace(0.5, 3, 5, base=2))
    _, t = chainrule.jvp(f, (np.array(0.5), np.array(3.0)), (np.array(1.0), np.array(0.0)))
    w = 1 - np.linspace(0, 1, 5)
    np.testing.assert_allclose(t, np.log(2) * np.logspace(0.5, 3, 5, base=2) * w)
    grads(lambda s, e: cnp.geomspace(s, e, 4), np.array(2.0), np.array(50.0))
    grads(lambda s, e: cnp.geomspace(s, e, 4, endpoint=False), np.array(-2.0), np.array(-5.0))
    np.testing.assert_allclose(
        chainrule.make_jaxpr(lambda s: cnp.geomspace(s, -8.0, 4))(np.array(-1.0))(
            np.array(-1.0))[0], np.geomspace(-1, -8, 4))


def test_namespace_is_large():
    names = [n for n in dir(cnp) if not n.startswith("_") and hasattr(np, n)
             and callable(getattr(cnp, n))]
    assert len(names) > 150


def test_scans_and_sort_under_vmap_and_jit():
    x = rng.normal(size=(4, 6))
    for f, ref in [(cnp.cumprod, np.cumprod), (cnp.cummax, np.maximum.accumulate),
                   (cnp.cummin, np.minimum.accumulate), (cnp.sort, np.sort),
                   (cnp.argsort, lambda v: np.argsort(v, kind="stable"))]:
        expected = np.stack([ref(row) for row in x])
        np.testing.assert_allclose(chainrule.vmap(f)(x), expected)
        np.testing.assert_allclose(chainrule.vmap(f, in_axes=1, out_axes=1)(x.T), expected.T)
    J = np.stack([chainrule.jacrev(cnp.cumprod)(row) for row in x])
    np.testing.assert_allclose(chainrule.vmap(chainrule.jacfwd(cnp.cumprod))(x), J)


def test_empty_scans():
    e = np.zeros((0,))
    for f in (cnp.cumprod, cnp.cummax, cnp.cummin, cnp.sort):
        assert f(e).shape == (0,)
        assert chainrule.grad(lambda v, f=f: cnp.sum(f(v)))(e).shape == (0,)


def test_asarray_takes_numpy_arguments():
    """``asarray(x, dtype)`` converts, as NumPy's does (it once ignored a
    positional dtype), eagerly, under jit and under grad."""
    assert cnp.asarray(0, np.int32).dtype == np.int32
    assert (cnp.asarray(0, np.int32) + 1).dtype == (np.asarray(0, np.int32) + 1).dtype
    assert cnp.asarray([1, 2], dtype=np.float32).dtype == np.float32
    a = np.ones(3)
    assert cnp.asarray(a) is a and cnp.asarray(a, copy=True) is not a
    assert chainrule.jit(lambda x: cnp.asarray(x, np.float32) * 2)(a).dtype == np.float32
    g = chainrule.grad(lambda x: cnp.sum(cnp.asarray(x, np.float32) ** 2))(np.arange(3.0))
    np.testing.assert_allclose(g, 2 * np.arange(3.0))
    with pytest.raises(ValueError, match="copy=False"):
        cnp.asarray(a, np.float32, copy=False)
    with pytest.raises(ValueError, match="order='F'"):
        cnp.asarray(a, order="F")
