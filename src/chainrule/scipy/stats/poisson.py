"""The Poisson distribution, ``scipy.stats.poisson`` (mu, loc)."""

from ..special import gammaincc, gammaln
from ._util import args, cnp, is_integer, ninf_unless, safe, xlogy, zero_unless


def logpmf(k, mu, loc=0):
    k, mu, loc = args("poisson.logpmf", k, mu, loc)
    k = k - loc
    ok = cnp.logical_and(is_integer(k), cnp.greater_equal(k, 0))
    ks = safe(ok, k, 0.0)
    return ninf_unless(ok, xlogy(ks, mu) - gammaln(ks + 1) - mu)


def pmf(k, mu, loc=0):
    return cnp.exp(logpmf(k, mu, loc))


def cdf(k, mu, loc=0):
    """``Q(floor(k) + 1, mu)``, differentiable in ``mu``."""
    k, mu, loc = args("poisson.cdf", k, mu, loc)
    k = cnp.stop_gradient(cnp.floor(k - loc))
    ok = cnp.greater_equal(k, 0)
    return zero_unless(ok, gammaincc(safe(ok, k, 0.0) + 1, mu))
