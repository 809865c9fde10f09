"""The negative binomial distribution, ``scipy.stats.nbinom`` (n, p, loc):
the number of failures before the n-th success."""

from ..special import gammaln
from ._util import args, cnp, is_integer, ninf_unless, safe, xlog1py, xlogy


def logpmf(k, n, p, loc=0):
    k, n, p, loc = args("nbinom.logpmf", k, n, p, loc)
    k = k - loc
    ok = cnp.logical_and(is_integer(k), cnp.greater_equal(k, 0))
    ks = safe(ok, k, 0.0)
    comb = gammaln(n + ks) - gammaln(ks + 1) - gammaln(n)
    return ninf_unless(ok, comb + xlogy(n, p) + xlog1py(ks, -p))


def pmf(k, n, p, loc=0):
    return cnp.exp(logpmf(k, n, p, loc))
