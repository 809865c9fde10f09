"""The Bernoulli distribution, ``scipy.stats.bernoulli`` (p, loc)."""

from ._util import args, cnp, const, ninf_unless, np, safe, xlog1py, xlogy


def logpmf(k, p, loc=0):
    k, p, loc = args("bernoulli.logpmf", k, p, loc)
    k = k - loc
    ok = cnp.logical_or(cnp.equal(k, 0), cnp.equal(k, 1))
    ks = safe(ok, k, 0.0)
    return ninf_unless(ok, xlogy(ks, p) + xlog1py(1 - ks, -p))


def pmf(k, p, loc=0):
    return cnp.exp(logpmf(k, p, loc))


def cdf(k, p, loc=0):
    k, p, loc = args("bernoulli.cdf", k, p, loc)
    k = k - loc
    return cnp.where(cnp.less(k, 0), const(0, p),
                     cnp.where(cnp.less(k, 1), 1 - p, const(1, p)))


def ppf(q, p):
    """The smallest k in {0, 1} with cdf(k) >= q (-1 at q = 0, as SciPy)."""
    q, p = args("bernoulli.ppf", q, p)
    inside = cnp.logical_and(cnp.greater_equal(q, 0), cnp.less_equal(q, 1))
    val = cnp.where(cnp.greater(q, 1 - p), const(1, q), const(0, q))
    val = cnp.where(cnp.equal(q, 0), const(-1, q), val)
    return cnp.where(inside, val, const(np.nan, q))
