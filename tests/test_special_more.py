"""chainrule.scipy.special, the functions added for issue 13: values against
SciPy on grids with edge values, derivatives (check_grads, order 2, both
modes), errors for derivatives that are not defined, jit and vmap."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.scipy import special as csp
from chainrule.test_util import check_grads

ss = pytest.importorskip("scipy.special")


def _ulp_err(got, ref):
    fin = np.isfinite(ref) & (ref != 0)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    return np.max(np.abs(got[fin] - ref[fin]) / np.spacing(np.abs(ref[fin])))


def test_erfinv_few_ulp_over_the_domain():
    x = np.concatenate([np.linspace(-1, 1, 20001), 1 - np.logspace(-16, -0.3, 500),
                        -1 + np.logspace(-16, -0.3, 500), np.logspace(-310, -1, 300),
                        [0.0, -0.0, 1.0, -1.0, 1.5, -2.0, np.nan, np.nextafter(1, 0)]])
    with np.errstate(all="ignore"):
        ref = ss.erfinv(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = np.asarray(csp.erfinv(x))
    assert _ulp_err(got, ref) <= 5
    x32 = x.astype(np.float32)
    got32 = np.asarray(csp.erfinv(x32))
    assert got32.dtype == np.float32
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(got32, ss.erfinv(x32), rtol=3e-7, atol=1e-37)


def test_ndtri_both_tails():
    p = np.concatenate([np.logspace(-300, -0.31, 800), 1 - np.logspace(-16, -0.31, 300),
                        np.linspace(0, 1, 1001), [-0.1, 1.1, np.nan]])
    with np.errstate(all="ignore"):
        ref = ss.ndtri(p)
    assert _ulp_err(np.asarray(csp.ndtri(p)), ref) <= 5


def test_erfinv_ndtri_derivatives():
    x = np.array([-0.9, -0.3, 0.0, 0.4, 0.95])
    check_grads(csp.erfinv, (x,), order=2, modes=("fwd", "rev"))
    check_grads(csp.ndtri, (np.array([0.01, 0.3, 0.5, 0.97]),), order=2, modes=("fwd", "rev"))
    g = cr.vmap(cr.grad(csp.erfinv))(x)
    np.testing.assert_allclose(g, np.sqrt(np.pi) / 2 * np.exp(ss.erfinv(x) ** 2), rtol=1e-14)


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e", "spence", "log_ndtr"])
def test_unary_values(name):
    x = np.concatenate([np.linspace(-40, 40, 801), [0.0, -0.0, 1.0, 0.5, 1e-300, 30.0, 30.1,
                                                   700.0, -1e3, np.inf, -np.inf, np.nan]])
    if name == "spence":
        x = np.concatenate([np.abs(x), np.exp(np.linspace(-30, 30, 200)), [-1.0]])
    if name in ("i0", "i1"):
        x = x[np.abs(x) < 700]
    with np.errstate(all="ignore"):
        ref = getattr(ss, name)(x)
        got = np.asarray(getattr(csp, name)(x))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-13, atol=1e-300)


def test_incomplete_gamma_and_beta_values():
    rng = np.random.default_rng(0)
    a = np.exp(rng.uniform(-3, 5, 3000))
    x = a * np.exp(rng.uniform(-3, 3, 3000))
    np.testing.assert_allclose(csp.gammainc(a, x), ss.gammainc(a, x), rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(csp.gammaincc(a, x), ss.gammaincc(a, x), rtol=1e-11,
                               atol=1e-300)
    edge_a = np.array([1.0, 2.0, 0.0, -1.0, 1.0, 1.0, 3.0])
    edge_x = np.array([0.0, np.inf, 1.0, 1.0, -1.0, np.nan, 1e-300])
    for f in ("gammainc", "gammaincc"):
        np.testing.assert_allclose(getattr(csp, f)(edge_a, edge_x),
                                   getattr(ss, f)(edge_a, edge_x), rtol=1e-14, atol=1e-300)
    b = np.exp(rng.uniform(-3, 4, 3000))
    xb = rng.uniform(0, 1, 3000)
    aa = np.minimum(a, 50)
    np.testing.assert_allclose(csp.betainc(aa, b, xb), ss.betainc(aa, b, xb), rtol=1e-11,
                               atol=1e-300)
    np.testing.assert_allclose(csp.betainc(2.0, 3.0, np.array([0.0, 1.0, -0.5, 1.5])),
                               ss.betainc(2.0, 3.0, [0.0, 1.0, -0.5, 1.5]), rtol=1e-14)


def test_zeta_multigammaln_entropies():
    rng = np.random.default_rng(1)
    s = 1 + np.exp(rng.uniform(-5, 4, 1000))
    q = np.exp(rng.uniform(-4, 5, 1000))
    np.testing.assert_allclose(csp.zeta(s, q), ss.zeta(s, q), rtol=1e-13)
    np.testing.assert_allclose(csp.zeta(np.array([2.0, 3.5, 1.0])), ss.zeta([2.0, 3.5, 1.0]))
    for d in (1, 2, 4):
        np.testing.assert_allclose(csp.multigammaln(np.array([2.5, 7.0]), d),
                                   ss.multigammaln(np.array([2.5, 7.0]), d), rtol=1e-13)
    x = np.array([0.0, 0, 1, 2, -1, 1, np.nan, 3, 0])
    y = np.array([0.0, 1, 0, 3, 1, -1, 1, np.nan, -1])
    np.testing.assert_allclose(csp.rel_entr(x, y), ss.rel_entr(x, y), rtol=1e-14)
    np.testing.assert_allclose(csp.kl_div(x, y), ss.kl_div(x, y), rtol=1e-14)
    np.testing.assert_allclose(csp.entr(x), ss.entr(x), rtol=1e-14)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 30), st.floats(0.0, 60))
def test_gammainc_hypothesis(a, x):
    np.testing.assert_allclose(csp.gammainc(a, x), ss.gammainc(a, x), rtol=1e-11, atol=1e-300)


def test_derivatives_second_order():
    modes = ("fwd", "rev")
    x = np.array([-3.0, -0.4, 0.3, 2.0])
    for f in (csp.i0, csp.i0e, csp.i1, csp.i1e, csp.log_ndtr):
        check_grads(f, (x,), order=2, modes=modes)
    check_grads(csp.log_ndtr, (np.array([-30.0, -19.0, 5.0, 8.0]),), order=2, modes=modes)
    check_grads(csp.spence, (np.array([0.2, 0.9, 1.5, 4.0]),), order=2, modes=modes)
    check_grads(lambda x: csp.gammainc(2.5, x), (np.array([0.5, 2.0, 6.0]),), order=2,
                modes=modes)
    check_grads(lambda x: csp.gammaincc(0.7, x), (np.array([0.5, 2.0, 6.0]),), order=2,
                modes=modes)
    check_grads(lambda x: csp.betainc(2.0, 3.5, x), (np.array([0.1, 0.5, 0.8]),), order=2,
                modes=modes)
    check_grads(lambda q: csp.zeta(3.0, q), (np.array([0.5, 2.0]),), order=2, modes=modes)
    check_grads(lambda x, y: csp.kl_div(x, y), (np.array([0.5, 2.0]), np.array([1.5, 0.3])),
                order=2, modes=modes)
    check_grads(lambda a: csp.multigammaln(a, 3), (np.array([2.5, 4.0]),), order=2,
                modes=modes)
    # the analytic partial of P(a, x) in x
    g = cr.grad(lambda x: csp.gammainc(2.5, x))(1.3)
    np.testing.assert_allclose(g, 1.3 ** 1.5 * np.exp(-1.3) / ss.gamma(2.5), rtol=1e-13)


@pytest.mark.parametrize("f,arg", [(lambda a: csp.betainc(a, 2.0, 0.3), "'a'"),
                                   (lambda b: csp.betainc(2.0, b, 0.3), "'b'"),
                                   (lambda s: csp.zeta(s, 2.0), "'x'")])
def test_shape_parameter_derivatives_raise(f, arg):
    with pytest.raises(NotImplementedError, match=arg):
        cr.grad(f)(2.0)
    with pytest.raises(NotImplementedError, match=arg):
        cr.jvp(f, (2.0,), (1.0,))


def test_polygamma_order_not_differentiable():
    with pytest.raises(NotImplementedError, match="order n"):
        cr.grad(lambda n: csp.polygamma(n, 1.5))(2.0)


def test_logsumexp_edge_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ninf = np.full(3, -np.inf)
        assert csp.logsumexp(ninf) == -np.inf
        np.testing.assert_array_equal(cr.grad(csp.logsumexp)(ninf), np.zeros(3))
        a = np.array([[1.0, -np.inf], [-np.inf, -np.inf]])
        np.testing.assert_array_equal(csp.logsumexp(a, axis=1), [1.0, -np.inf])
        a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0, 0.5])
        for bb in (b, -b, np.array([-1.0, -1.0, 0.0])):
            got = csp.logsumexp(a, b=bb, return_sign=True)
            ref = ss.logsumexp(a, b=bb, return_sign=True)
            np.testing.assert_allclose(got[0], ref[0], rtol=1e-14)
            assert got[1] == ref[1]
        got = csp.logsumexp(a, b=np.zeros(3), return_sign=True)
        assert got[0] == -np.inf


def test_jit_and_vmap_match_eager():
    x = np.array([0.1, 0.5, 0.9])
    for f in (csp.erfinv, csp.ndtri, csp.log_ndtr, csp.i0e, csp.i1, csp.spence,
              lambda x: csp.gammainc(2.0, 3 * x), lambda x: csp.betainc(2.0, 1.5, x),
              lambda x: csp.zeta(2.5, x + 1)):
        eager = np.asarray(f(x))
        np.testing.assert_allclose(cr.jit(f)(x), eager, rtol=1e-14)
        np.testing.assert_allclose(cr.vmap(f)(x), eager, rtol=1e-14)
        np.testing.assert_allclose(cr.jit(cr.vmap(cr.grad(f)))(x),
                                   [cr.grad(f)(v) for v in x], rtol=1e-12)


def test_gammainc_derivative_in_a():
    """d/da of P(a, x) and Q(a, x) against SciPy by central differences, in
    both modes and under jit; the second derivative in a raises."""
    import scipy.special as ss

    import chainrule as cr
    from chainrule.scipy import special as crs
    a = np.array([0.3, 1.5, 4.0, 30.0, 200.0])
    x = np.array([0.2, 2.0, 3.0, 35.0, 190.0])
    h = 1e-6 * a
    want = (ss.gammainc(a + h, x) - ss.gammainc(a - h, x)) / (2 * h)
    rev = cr.vmap(cr.grad(crs.gammainc))(a, x)
    fwd = cr.vmap(lambda a, x: cr.jvp(lambda a: crs.gammainc(a, x), (a,), (1.0,))[1])(a, x)
    np.testing.assert_allclose(rev, want, rtol=1e-6)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12)
    np.testing.assert_allclose(cr.jit(cr.vmap(cr.grad(crs.gammaincc)))(a, x), -want, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        cr.grad(cr.grad(crs.gammainc))(1.5, 2.0)
