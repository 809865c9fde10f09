"""chainrule.scipy.stats against scipy.stats: values on grids with points
outside the support, derivatives with respect to every float argument
(check_grads, order 2, both modes), jit vs eager, vmap vs a loop."""

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.scipy import stats as C
from chainrule.test_util import check_grads

S = pytest.importorskip("scipy.stats")

X = np.array([-3.0, -0.5, 0.0, 0.3, 1.0, 2.5, 7.0, -np.inf, np.inf])
Q = np.array([0.0, 0.01, 0.3, 0.5, 0.9, 1.0, 1.2, -0.1])
FNS = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"]

# name -> (grid, extra shape args for the call)
CONTINUOUS = {
    "norm": (X, (1.0, 2.0)),
    "cauchy": (X, (0.5, 2.0)),
    "laplace": (X, (0.3, 1.5)),
    "logistic": (X, (0.2, 1.3)),
    "expon": (X, (0.1, 2.0)),
    "uniform": (X, (-1.0, 3.0)),
    "t": (X, (3.5, 0.1, 1.7)),
    "gamma": (X, (2.5, 0.1, 1.7)),
    "chi2": (X, (3.0, 0.1, 1.7)),
    "gennorm": (X, (1.5, 0.1, 1.7)),
    "beta": (np.array([-0.1, 0.0, 0.2, 0.5, 0.9, 1.0, 1.3]), (2.0, 3.0)),
}


def _ref(name, fn, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return getattr(getattr(S, name), fn)(*args)


def _cases():
    out = []
    for name, (grid, shape) in CONTINUOUS.items():
        for fn in FNS:
            if hasattr(getattr(C, name), fn):
                out.append(pytest.param(name, fn, Q if fn in ("ppf", "isf") else grid, shape,
                                        id=f"{name}.{fn}"))
    for a, b in [(-1.0, 2.0), (1.5, 3.0), (-8.0, -6.0), (5.0, 9.0)]:
        for fn in ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"]:
            out.append(pytest.param("truncnorm", fn, np.linspace(a - 1, b + 1, 13) * 0.5 + 0.2,
                                    (a, b, 0.2, 0.5), id=f"truncnorm.{fn}[{a},{b}]"))
    return out


@pytest.mark.parametrize("name,fn,x,shape", _cases())
def test_continuous_values(name, fn, x, shape):
    ref = _ref(name, fn, x, *shape)
    if name in ("gamma", "chi2") and fn in ("logpdf", "pdf"):
        ref = np.where(np.isposinf(x), -np.inf if fn == "logpdf" else 0.0, ref)  # SciPy: nan
    with np.errstate(invalid="raise"):
        got = np.asarray(getattr(getattr(C, name), fn)(x, *shape))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-300)


K = np.array([-1.0, 0, 1, 2, 3, 5, 2.5, 10])
DISCRETE = [("poisson", "logpmf", (2.3,)), ("poisson", "pmf", (2.3,)), ("poisson", "cdf", (2.3,)),
            ("bernoulli", "logpmf", (0.3,)), ("bernoulli", "pmf", (0.3,)),
            ("bernoulli", "cdf", (0.3,)), ("binom", "logpmf", (5.0, 0.3)),
            ("binom", "pmf", (5.0, 0.3)), ("geom", "logpmf", (0.3,)), ("geom", "pmf", (0.3,)),
            ("nbinom", "logpmf", (3.5, 0.3)), ("nbinom", "pmf", (3.5, 0.3))]


@pytest.mark.parametrize("name,fn,shape", DISCRETE, ids=[f"{n}.{f}" for n, f, _ in DISCRETE])
def test_discrete_values(name, fn, shape):
    np.testing.assert_allclose(getattr(getattr(C, name), fn)(K, *shape),
                               _ref(name, fn, K, *shape), rtol=1e-12, atol=1e-300)


def test_bernoulli_ppf_and_loc():
    q = np.array([0.0, 0.5, 0.7, 0.71, 1.0])
    np.testing.assert_array_equal(C.bernoulli.ppf(q, 0.3), S.bernoulli.ppf(q, 0.3))
    np.testing.assert_allclose(C.poisson.logpmf(K, 2.3, 1.0), S.poisson.logpmf(K, 2.3, 1.0))


def test_multivariate():
    x = np.array([[1.0, 2, 3], [0, 0, 6], [1, 1, 3], [2, 2, 2]])
    p = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(C.multinomial.logpmf(x, 6, p), S.multinomial.logpmf(x, 6, p))
    xd = np.array([[0.2, 0.5, 0.0], [0.3, 0.1, 0.5], [0.5, 0.4, 0.5]])
    alpha = np.array([1.5, 2.0, 3.0])
    np.testing.assert_allclose(C.dirichlet.logpdf(xd[:, :2], alpha),
                               S.dirichlet.logpdf(xd[:, :2], alpha))
    assert C.dirichlet.logpdf(xd, alpha)[2] == -np.inf           # off the simplex
    np.testing.assert_allclose(C.dirichlet.pdf(xd[:, 0], alpha), S.dirichlet.pdf(xd[:, 0], alpha))
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    mean = np.array([0.1, -0.2, 0.3])
    xm = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(C.multivariate_normal.logpdf(xm, mean, cov),
                               S.multivariate_normal.logpdf(xm, mean, cov), rtol=1e-12)
    np.testing.assert_allclose(C.multivariate_normal.pdf(xm[0, 0], mean, cov),
                               S.multivariate_normal.pdf(xm[0, 0], mean, cov), rtol=1e-12)
    np.testing.assert_allclose(C.multivariate_normal.logpdf(xm[0], mean, 1.5),
                               S.multivariate_normal.logpdf(xm[0], mean, 1.5), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.floats(-30, 30), st.floats(-5, 5), st.floats(0.1, 10))
@example(-4.375, -0.125, 0.111328125)   # logsf about -3.6e-319 (SciPy: -0.0)
def test_norm_hypothesis(x, loc, scale):
    for fn in ("logpdf", "logcdf", "logsf"):
        # atol: far in the tail log(1 - tiny) is about -1e-319, which SciPy
        # rounds to -0.0 (both are right to far below an ulp of 1)
        np.testing.assert_allclose(getattr(C.norm, fn)(x, loc, scale),
                                   getattr(S.norm, fn)(x, loc, scale), rtol=1e-10, atol=1e-300)


def test_broadcasting():
    x = np.linspace(-2, 2, 5)[:, None]
    loc = np.array([0.0, 1.0, -1.0])
    got = C.norm.logpdf(x, loc, np.array([[1.0], [2.0], [3.0], [1.0], [0.5]]))
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, S.norm.logpdf(x, loc, [[1.0], [2.0], [3.0], [1.0], [0.5]]))
    assert np.asarray(C.gamma.logpdf(np.float32(1.0), np.float32(2.0))).dtype == np.float32


MODES = ("fwd", "rev")
GRADS = [
    (C.norm.logpdf, (0.3, 0.5, 1.5)), (C.norm.logcdf, (-4.0, 0.5, 1.5)),
    (C.norm.ppf, (0.2, 0.5, 1.5)), (C.norm.sf, (0.7, 0.5, 1.5)),
    (C.cauchy.logpdf, (0.3, 0.5, 1.5)), (C.cauchy.cdf, (0.3, 0.5, 1.5)),
    (C.laplace.logpdf, (0.3, 0.5, 1.5)), (C.laplace.cdf, (1.3, 0.5, 1.5)),
    (C.logistic.logpdf, (0.3, 0.5, 1.5)), (C.logistic.ppf, (0.3, 0.5, 1.5)),
    (C.expon.logpdf, (1.3, 0.5, 1.5)), (C.expon.logcdf, (1.3, 0.5, 1.5)),
    (C.t.logpdf, (0.3, 3.5, 0.5, 1.5)), (C.gamma.logpdf, (1.3, 2.5, 0.1, 1.5)),
    (C.beta.logpdf, (0.3, 2.5, 1.5)), (C.chi2.logpdf, (1.3, 2.5)),
    (C.gennorm.logpdf, (0.3, 1.5, 0.1, 1.2)), (C.uniform.logpdf, (0.3, -1.0, 2.0)),
    (C.truncnorm.logpdf, (0.3, -1.0, 2.0, 0.1, 1.2)),
    (C.truncnorm.logcdf, (0.3, -1.0, 2.0, 0.1, 1.2)),
]
@pytest.mark.parametrize("f,args", GRADS, ids=[f"{f.__module__.split('.')[-1]}.{f.__name__}"
                                               for f, _ in GRADS])
def test_grads(f, args):
    check_grads(f, tuple(np.float64(a) for a in args), order=2, modes=MODES)


# the counts k are held fixed (finite differences would leave the integers)
DISCRETE_GRADS = [
    (lambda mu: C.poisson.logpmf(3.0, mu), (2.5,)),
    (lambda n, p: C.binom.logpmf(2.0, n, p), (5.0, 0.3)),
    (lambda n, p: C.nbinom.logpmf(2.0, n, p), (3.5, 0.3)),
    (lambda p: C.geom.logpmf(2.0, p), (0.3,)),
    (lambda p: C.bernoulli.logpmf(1.0, p) + C.bernoulli.logpmf(0.0, p), (0.3,)),
]


@pytest.mark.parametrize("f,args", DISCRETE_GRADS, ids=["poisson", "binom", "nbinom", "geom",
                                                        "bernoulli"])
def test_discrete_grads(f, args):
    check_grads(f, tuple(np.float64(a) for a in args), order=2, modes=MODES)


def test_grads_x_only_cdfs_and_multivariate():
    check_grads(lambda x, s: C.gamma.cdf(x, 2.5, 0.1, s), (1.3, 1.5), order=2, modes=MODES)
    check_grads(lambda x: C.beta.cdf(x, 2.5, 1.5), (0.3,), order=2, modes=MODES)
    check_grads(lambda mu: C.poisson.cdf(3.0, mu), (2.5,), order=2, modes=MODES)
    check_grads(lambda x: C.gennorm.cdf(x, 1.5), (0.7,), order=2, modes=MODES)
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    check_grads(C.multivariate_normal.logpdf, (np.array([0.3, -0.2]), np.array([0.1, 0.2]), cov),
                order=2, modes=MODES)
    # x stays on the simplex: its last entry is 1 - the others
    check_grads(lambda u, a: C.dirichlet.logpdf(cr.numpy.concatenate([u, 1 - cr.numpy.sum(
        u, keepdims=True)]), a), (np.array([0.2, 0.3]), np.array([1.5, 2.0, 3.0])), order=2,
        modes=MODES)
    check_grads(lambda p: C.multinomial.logpmf(np.array([1.0, 2, 3]), 6, p),
                (np.array([0.2, 0.3, 0.5]),), order=2, modes=MODES)
    check_grads(lambda s: C.truncnorm.logsf(0.3, -1.0, 2.0, 0.1, s), (1.2,), order=2,
                modes=MODES)
    # the shape parameter of the gamma CDF: once, as JAX (gammainc's d/da)
    fd = (S.gamma.cdf(1.0, 2.0 + 1e-6) - S.gamma.cdf(1.0, 2.0 - 1e-6)) / 2e-6
    np.testing.assert_allclose(cr.grad(lambda a: C.gamma.cdf(1.0, a))(2.0), fd, rtol=1e-6)


def test_out_of_support_gradients_are_finite():
    for f, x in [(C.expon.logpdf, -1.0), (C.gamma.logpdf, -1.0), (C.beta.logpdf, 1.5),
                 (C.poisson.logpmf, 2.5), (C.uniform.logpdf, 3.0)]:
        g = cr.grad(f, argnums=1)(x, 0.5) if f is not C.beta.logpdf else cr.grad(
            f, argnums=1)(x, 2.0, 3.0)
        assert np.isfinite(g)


def test_jit_and_vmap():
    x = np.linspace(-1, 3, 6)
    for f in (lambda x: C.norm.logpdf(x, 0.5, 1.2), lambda x: C.gamma.logcdf(x, 2.0),
              lambda x: C.truncnorm.logpdf(x, -1.0, 2.0), lambda x: C.t.logpdf(x, 4.0),
              lambda x: C.poisson.logpmf(np.round(x), 2.0)):
        eager = np.asarray(f(x))
        np.testing.assert_allclose(cr.jit(f)(x), eager, rtol=1e-13)
        np.testing.assert_allclose(cr.vmap(f)(x), eager, rtol=1e-13)
    locs = np.array([0.0, 1.0, 2.0])
    per = cr.vmap(cr.grad(lambda m: C.norm.logpdf(0.5, m, 2.0)))(locs)
    np.testing.assert_allclose(per, [(0.5 - m) / 4.0 for m in locs])
    xm = np.random.default_rng(1).normal(size=(5, 2))
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    f = cr.jit(cr.vmap(lambda v: C.multivariate_normal.logpdf(v, np.zeros(2), cov)))
    np.testing.assert_allclose(f(xm), S.multivariate_normal.logpdf(xm, np.zeros(2), cov))


def test_import_path():
    import chainrule.scipy
    assert chainrule.scipy.stats.norm.logpdf is C.norm.logpdf
    assert cr.scipy.special.erfinv
