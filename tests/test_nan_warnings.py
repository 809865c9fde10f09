"""NaN-safe rules emit no NumPy RuntimeWarnings into the user's program
(issue 13): masked branches of ``where``, ``sqrt`` at 0, division by masked
zeros, log at 0, log-sum-exp with -inf, under grad/jvp/hessian/jit."""
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as jnp


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _lse(x):
    m = jnp.max(x)
    return m + jnp.log(jnp.sum(jnp.exp(x - m)))


def _safe_log(x):
    return jnp.sum(jnp.where(x > 0, jnp.log(jnp.where(x > 0, x, 1.0)), 0.0))


def _where_log(x):
    return jnp.sum(jnp.where(x > 0, jnp.log(x), 0.0))


def _masked_div(x, y):
    return jnp.sum(jnp.where(y != 0, x / y, 0.0))


CASES = [
    ("sqrt0", lambda x: jnp.sum(jnp.sqrt(x)), (np.array([0.0, 4.0]),), [np.inf, 0.25]),
    ("norm0", lambda x: jnp.linalg.norm(x), (np.zeros(3),), [0.0, 0.0, 0.0]),
    ("where_log", _where_log, (np.array([0.0, 2.0, -1.0]),), [0.0, 0.5, 0.0]),
    ("safe_log", _safe_log, (np.array([0.0, 2.0, -1.0]),), [0.0, 0.5, 0.0]),
    ("lse_neg_inf", _lse, (np.array([-np.inf, 0.0, 0.0]),), [0.0, 0.5, 0.5]),
    ("masked_div", lambda y: _masked_div(np.ones(3), y), (np.array([0.0, 1.0, 2.0]),),
     [0.0, -1.0, -0.25]),
]


@pytest.mark.parametrize("name,f,args,expected", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("wrap", ["grad", "jit_grad"])
def test_grad_no_warnings(name, f, args, expected, wrap):
    g = cr.grad(f)
    if wrap == "jit_grad":
        g = cr.jit(g)
    np.testing.assert_allclose(g(*args), expected)


@pytest.mark.parametrize("name,f,args,expected", CASES, ids=[c[0] for c in CASES])
def test_jvp_no_warnings(name, f, args, expected):
    x, = args
    if name == "sqrt0":  # forward mode: 0 * inf = nan at 0, as in JAX
        _, t = cr.jvp(lambda x: jnp.sqrt(x), (x,), (np.ones_like(x),))
        np.testing.assert_allclose(t, expected)
        return
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = 1.0
        _, t = cr.jvp(f, (x,), (e,))
        np.testing.assert_allclose(t, expected[i])


def test_eager_ops_no_warnings():
    x = np.array([0.0, 1.0, -1.0])
    np.testing.assert_array_equal(jnp.log(x)[:2], [-np.inf, 0.0])
    assert np.isnan(jnp.log(x)[2]) and np.isnan(jnp.sqrt(x)[2])
    np.testing.assert_array_equal(jnp.divide(1.0, x), [np.inf, 1.0, -1.0])
    np.testing.assert_array_equal(cr.jit(lambda x: 1.0 / x)(x), [np.inf, 1.0, -1.0])
    np.testing.assert_array_equal(cr.jit(jnp.log)(x)[:2], [-np.inf, 0.0])


def test_hessian_no_warnings():
    np.testing.assert_allclose(cr.hessian(_where_log)(np.array([0.0, 2.0])),
                               [[0.0, 0.0], [0.0, -0.25]])
    np.testing.assert_allclose(
        cr.hessian(lambda y: jnp.sum(jnp.where(y != 0, 1 / y, 0.0)))(np.array([0.0, 1.0, 2.0])),
        np.diag([0.0, 2.0, 0.25]))
    np.testing.assert_allclose(cr.jit(cr.hessian(_where_log))(np.array([0.0, 2.0])),
                               [[0.0, 0.0], [0.0, -0.25]])
    h = cr.hessian(lambda x: jnp.sum(jnp.sqrt(x)))(np.array([0.0, 4.0]))
    assert h[1, 1] == pytest.approx(-1 / 32) and np.isinf(h[0, 0])


def test_vmap_no_warnings():
    x = np.array([[0.0, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(cr.vmap(cr.grad(_where_log))(x), [[0.0, 1.0], [0.5, 0.0]])


def test_quiet_fp_nests_and_restores_the_callers_state():
    """Eager grad sets NumPy's error state once per backward walk, not per
    rule (``core.quiet_fp``); the caller's state is back afterwards, also
    when the walk raises."""
    from chainrule.core import quiet_fp
    with np.errstate(all="raise"):
        with quiet_fp(), quiet_fp():
            assert np.geterr()["divide"] == "ignore"
            np.log(np.zeros(1))   # no FloatingPointError
        assert np.geterr()["divide"] == "raise"
        with pytest.raises(KeyError), quiet_fp():
            raise KeyError
        assert np.geterr()["divide"] == "raise"
        g = cr.grad(lambda x: jnp.sum(jnp.sqrt(x)))(np.array([0.0, 4.0]))
        np.testing.assert_array_equal(g, [np.inf, 0.25])   # 1 / 0 in the VJP, no raise
        assert np.geterr()["divide"] == "raise"
