"""chainrule.random: JAX's streams, distributions, transforms and errors.

The literal values below were recorded from JAX 0.10.2 with
``jax_enable_x64`` (its default Threefry, partitionable counters).
"""

import numpy as np
import pytest
import scipy.special as ss
import scipy.stats as st

import chainrule as cr
import chainrule.numpy as jnp
from chainrule import random
from chainrule.test_util import check_grads

KEY = random.PRNGKey(1701)


def test_keys_match_jax():
    assert KEY.tolist() == [0, 1701] and KEY.dtype == np.uint32
    assert random.PRNGKey(-3).tolist() == [4294967295, 4294967293]
    assert random.PRNGKey(2 ** 40 + 5).tolist() == [256, 5]
    assert random.key(1701).tolist() == [0, 1701]


def test_split_fold_in_bits_match_jax():
    assert random.split(KEY, 3).tolist() == [[741045208, 1847055613], [85238482, 2594297577],
                                             [56197195, 961309823]]
    assert random.fold_in(KEY, 2 ** 31 + 7).tolist() == [738894095, 2866290764]
    assert random.bits(KEY, (2, 3)).tolist() == [[1111271205, 2679469115, 974515252],
                                                 [521976754, 2127438447, 4120601916]]
    assert random.bits(KEY, (3,), np.uint64).tolist() == [
        3182764935064573181, 366096495144982249, 241365115613244543]
    assert random.bits(KEY, (4,), np.uint8).tolist() == [37, 59, 52, 178]


def test_uniform_matches_jax_bit_for_bit():
    u64 = random.uniform(KEY, (4,))
    assert [float(v).hex() for v in u64] == ['0x1.615b9ec370be8p-3', '0x1.4528b4a6a8740p-6',
                                            '0x1.acc0259ca6300p-7', '0x1.ba209cf142c50p-3']
    u32 = random.uniform(KEY, (4,), np.float32)
    assert u32.dtype == np.float32
    assert [float(v).hex() for v in u32] == ['0x1.08f2980000000p-2', '0x1.3f6ae80000000p-1',
                                            '0x1.d0af600000000p-3', '0x1.f1cba00000000p-4']


def test_normal_matches_jax_to_rounding():
    jax64 = [-0.9441831471449981, -2.0569372575624807, -2.2236966872817883, -0.7861748912248969]
    np.testing.assert_allclose(random.normal(KEY, (4,)), jax64, rtol=1e-14)
    jax32 = [-0.6472411155700684, 0.3156411051750183, -0.7491047382354736, -1.167362093925476]
    n32 = random.normal(KEY, (4,), np.float32)
    assert n32.dtype == np.float32
    np.testing.assert_allclose(n32, jax32, rtol=1e-6)
    np.testing.assert_allclose(random.normal(random.split(KEY)[1], (3,)),
                               [1.2334597257787587, 0.6674434783588908, -0.20474418006049497],
                               rtol=1e-14)


def test_erf_inv_against_scipy():
    from chainrule.primitives.special import erf_inv
    x = np.concatenate([np.linspace(-1, 1, 20001), 1 - np.logspace(-300, -1, 300),
                        np.logspace(-300, -1, 100)])
    want = ss.erfinv(x)
    got = erf_inv(x)
    finite = np.isfinite(want) & (want != 0)
    rel = np.abs(got[finite] - want[finite]) / np.abs(want[finite])
    assert rel.max() < 5 * np.finfo(float).eps
    assert got[0] == -np.inf and got[10000] == 0
    assert np.isnan(erf_inv(np.array([1.5, np.nan]))).all()


# ----------------------------------------------- the same numbers everywhere ---

SAMPLERS = {
    "uniform": lambda k: random.uniform(k, (5,), minval=-1.0, maxval=2.0),
    "normal": lambda k: random.normal(k, (2, 3)),
    "bernoulli": lambda k: random.bernoulli(k, 0.3, (6,)),
    "exponential": lambda k: random.exponential(k, (4,)),
    "gumbel": lambda k: random.gumbel(k, (4,)),
    "laplace": lambda k: random.laplace(k, (4,)),
    "logistic": lambda k: random.logistic(k, (4,)),
    "cauchy": lambda k: random.cauchy(k, (4,)),
    "randint": lambda k: random.randint(k, (6,), -3, 9),
    "categorical": lambda k: random.categorical(k, jnp.log(jnp.array([0.2, 0.5, 0.3])), shape=(5,)),
    "permutation": lambda k: random.permutation(k, 7),
    "choice": lambda k: random.choice(k, 10, (3,), replace=False),
    "choice_p": lambda k: random.choice(k, 4, (5,), p=jnp.array([0.1, 0.2, 0.3, 0.4])),
    "truncated_normal": lambda k: random.truncated_normal(k, -1.0, 2.0, (4,)),
    "multivariate_normal": lambda k: random.multivariate_normal(
        k, jnp.zeros(2), jnp.array([[2.0, 0.5], [0.5, 1.0]]), (3,)),
    "gamma": lambda k: random.gamma(k, jnp.array([0.5, 2.0, 7.0])),
    "beta": lambda k: random.beta(k, 2.0, 3.0, (3,)),
    "dirichlet": lambda k: random.dirichlet(k, jnp.array([1.0, 2.0, 3.0])),
    "t": lambda k: random.t(k, 3.0, (3,)),
    "poisson": lambda k: random.poisson(k, jnp.array([0.5, 4.0, 30.0])),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_eager_jit_and_vmap_agree(name):
    f = SAMPLERS[name]
    keys = random.split(KEY, 3)
    eager = np.stack([f(k) for k in keys])
    np.testing.assert_array_equal(cr.vmap(f)(keys), eager)
    # jit's vectorised log/exp/tan agree with NumPy's to a few ulp (sharp_bits.md)
    same = np.testing.assert_array_equal if eager.dtype.kind in "biu" else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300))
    same(np.stack([cr.jit(f)(k) for k in keys]), eager)
    same(cr.jit(cr.vmap(f))(keys), eager)
    again = np.stack([f(k) for k in random.split(random.PRNGKey(1701), 3)])
    np.testing.assert_array_equal(again, eager)
    assert not np.array_equal(eager[0], eager[1])


# ------------------------------------------------------- distributions ---

N = 20000


def _ks(sample, cdf):
    assert st.kstest(np.ravel(sample), cdf).pvalue > 1e-4


@pytest.mark.parametrize("name,sample,cdf", [
    ("uniform", lambda k: random.uniform(k, (N,), minval=-2.0, maxval=3.0), st.uniform(-2, 5).cdf),
    ("normal", lambda k: random.normal(k, (N,)), st.norm.cdf),
    ("normal32", lambda k: random.normal(k, (N,), np.float32), st.norm.cdf),
    ("exponential", lambda k: random.exponential(k, (N,)), st.expon.cdf),
    ("gumbel", lambda k: random.gumbel(k, (N,)), st.gumbel_r.cdf),
    ("laplace", lambda k: random.laplace(k, (N,)), st.laplace.cdf),
    ("logistic", lambda k: random.logistic(k, (N,)), st.logistic.cdf),
    ("cauchy", lambda k: random.cauchy(k, (N,)), st.cauchy.cdf),
    ("truncated_normal", lambda k: random.truncated_normal(k, -0.5, 1.5, (N,)),
     st.truncnorm(-0.5, 1.5).cdf),
    ("gamma_small", lambda k: random.gamma(k, 0.2, (N,)), st.gamma(0.2).cdf),
    ("gamma", lambda k: random.gamma(k, 3.5, (N,)), st.gamma(3.5).cdf),
    ("beta", lambda k: random.beta(k, 0.7, 2.0, (N,)), st.beta(0.7, 2.0).cdf),
    ("t", lambda k: random.t(k, 2.5, (N,)), st.t(2.5).cdf),
    ("chisquare", lambda k: random.chisquare(k, 5.0, (N,)), st.chi2(5).cdf),
])
def test_distribution(name, sample, cdf):
    _ks(sample(random.PRNGKey(3)), cdf)


def test_discrete_distributions():
    k = random.PRNGKey(4)
    b = random.bernoulli(k, 0.3, (N,))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.3) < 0.015
    r = random.randint(k, (N,), -3, 9)
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 8
    counts = np.bincount(r + 3, minlength=12)
    assert st.chisquare(counts).pvalue > 1e-4
    big = random.randint(k, (N,), 0, 2 ** 62 + 1)
    assert big.min() >= 0 and big.max() <= 2 ** 62
    assert big.mean() / 2 ** 61 == pytest.approx(1, abs=0.03)
    for lam in (0.7, 6.0, 25.0, 400.0):
        p = random.poisson(k, lam, (N,))
        assert p.dtype == np.int64
        assert abs(p.mean() - lam) < 5 * np.sqrt(lam / N)
        assert p.var() == pytest.approx(lam, rel=0.05)
    logits = np.log(np.array([0.1, 0.6, 0.3]))
    c = random.categorical(k, logits, shape=(N,))
    assert st.chisquare(np.bincount(c, minlength=3), N * np.exp(logits)).pvalue > 1e-4
    c2 = random.categorical(k, np.log(np.array([[0.9, 0.1], [0.1, 0.9]])), shape=(N, 2))
    assert c2[:, 0].mean() == pytest.approx(0.1, abs=0.015)
    assert c2[:, 1].mean() == pytest.approx(0.9, abs=0.015)


def test_permutation_and_choice():
    k = random.PRNGKey(5)
    perm = random.permutation(k, 50)
    assert sorted(perm.tolist()) == list(range(50)) and perm.tolist() != list(range(50))
    x = np.arange(12.0).reshape(3, 4)
    px = random.permutation(k, x, axis=1)
    assert sorted(px[0].tolist()) == x[0].tolist() and (px[1:] - px[:-1] == 4).all()
    ind = random.permutation(k, x, axis=1, independent=True)
    assert all(sorted(row.tolist()) == xr.tolist() for row, xr in zip(ind, x))
    no_rep = random.choice(k, 20, (10,), replace=False)
    assert len(set(no_rep.tolist())) == 10
    p = np.array([0.0, 0.5, 0.5, 0.0])
    assert set(random.choice(k, 4, (200,), p=p).tolist()) <= {1, 2}
    assert set(random.choice(k, 4, (2,), replace=False, p=p).tolist()) == {1, 2}
    rows = random.choice(k, x, (5,), axis=1)
    assert rows.shape == (3, 5)
    draws = random.choice(k, 3, (N,), p=np.array([0.2, 0.3, 0.5]))
    want = N * np.array([0.2, 0.3, 0.5])
    assert st.chisquare(np.bincount(draws, minlength=3), want).pvalue > 1e-4


def test_multivariate_normal_and_dirichlet_moments():
    k = random.PRNGKey(6)
    mean, cov = np.array([1.0, -2.0, 0.5]), np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2],
                                                      [0.1, -0.2, 0.5]])
    for method in ("cholesky", "eigh", "svd"):
        x = random.multivariate_normal(k, mean, cov, (N,), method=method)
        assert x.shape == (N, 3)
        np.testing.assert_allclose(x.mean(0), mean, atol=0.05)
        np.testing.assert_allclose(np.cov(x.T), cov, atol=0.06)
    alpha = np.array([0.5, 2.0, 3.5])
    d = random.dirichlet(k, alpha, (N,))
    np.testing.assert_allclose(d.sum(-1), 1.0)
    np.testing.assert_allclose(d.mean(0), alpha / alpha.sum(), atol=0.01)


# ---------------------------------------------------------- gradients ---

def test_reparameterised_gradients():
    k = random.PRNGKey(7)
    z = random.normal(k, (5,))
    g = cr.grad(lambda mu, s: jnp.sum(mu + s * random.normal(k, (5,))), argnums=(0, 1))(0.3, 2.0)
    np.testing.assert_allclose(g, (5.0, z.sum()))
    check_grads(lambda lo, hi: random.uniform(k, (4,), minval=lo, maxval=hi), (-1.0, 2.0), order=2)
    check_grads(lambda lo, hi: random.truncated_normal(k, lo, hi, (4,)), (-1.0, 0.5), order=2)
    check_grads(lambda m, c: random.multivariate_normal(k, m, c @ c.T + jnp.eye(2)),
                (np.array([0.1, 0.2]), np.array([[1.0, 0.2], [0.3, 0.8]])), order=2)


def test_gamma_gradient_is_the_implicit_one():
    """dx/da with the CDF held fixed, against SciPy's inverse CDF."""
    k = random.PRNGKey(8)
    a = np.array([0.3, 1.0, 2.5, 40.0])
    x = random.gamma(k, a)
    got = cr.jacfwd(lambda a: random.gamma(k, a))(a).diagonal()
    np.testing.assert_allclose(cr.jacrev(lambda a: random.gamma(k, a))(a).diagonal(), got)
    u, h = ss.gammainc(a, x), 1e-6
    want = (ss.gammaincinv(a + h, u) - ss.gammaincinv(a - h, u)) / (2 * h)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # beta and dirichlet differentiate through it
    gb = cr.grad(lambda a: random.beta(k, a, 2.0))(1.5)
    assert np.isfinite(gb)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        cr.grad(cr.grad(lambda a: random.gamma(k, a)))(2.0)


def test_keys_are_not_differentiable_and_checked():
    with pytest.raises(TypeError):
        cr.grad(lambda k: random.normal(k).sum())(KEY)
    with pytest.raises(TypeError, match="uint32 array of shape"):
        random.normal(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="vmap over the keys"):
        random.normal(random.split(KEY, 3), (2,))
    with pytest.raises(ValueError, match="not a broadcast"):
        random.uniform(KEY, (3,), minval=np.zeros(4))
    with pytest.raises(TypeError, match="float32 or float64"):
        random.uniform(KEY, (3,), np.int32)
    with pytest.raises(TypeError, match="seed must be an integer"):
        random.PRNGKey(1.5)
    with pytest.raises(ValueError, match="without replacement"):
        random.choice(KEY, 3, (4,), replace=False)


def test_traced_seed_and_attribute_access():
    keys = cr.jit(random.PRNGKey)(np.int64(-3))
    assert keys.tolist() == [4294967295, 4294967293]
    assert cr.random is random
