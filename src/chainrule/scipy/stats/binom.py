"""The binomial distribution, ``scipy.stats.binom`` (n, p, loc)."""

from ..special import gammaln
from ._util import args, cnp, is_integer, ninf_unless, safe, xlog1py, xlogy


def logpmf(k, n, p, loc=0):
    k, n, p, loc = args("binom.logpmf", k, n, p, loc)
    k = k - loc
    ok = cnp.logical_and(is_integer(k), cnp.logical_and(cnp.greater_equal(k, 0),
                                                        cnp.less_equal(k, n)))
    ks = safe(ok, k, 0.0)
    comb = gammaln(n + 1) - gammaln(ks + 1) - gammaln(n - ks + 1)
    return ninf_unless(ok, comb + xlogy(ks, p) + xlog1py(n - ks, -p))


def pmf(k, n, p, loc=0):
    return cnp.exp(logpmf(k, n, p, loc))
