"""The geometric distribution on k = 1, 2, ..., ``scipy.stats.geom`` (p, loc)."""

from ._util import args, cnp, is_integer, ninf_unless, safe, xlog1py


def logpmf(k, p, loc=0):
    k, p, loc = args("geom.logpmf", k, p, loc)
    k = k - loc
    ok = cnp.logical_and(is_integer(k), cnp.greater_equal(k, 1))
    ks = safe(ok, k, 1.0)
    return ninf_unless(ok, xlog1py(ks - 1, -p) + cnp.log(p))


def pmf(k, p, loc=0):
    return cnp.exp(logpmf(k, p, loc))
