"""The multinomial distribution, ``scipy.stats.multinomial`` (n, p); the
categories are the last axis of ``x`` and ``p``."""

from ..special import gammaln
from ._util import args, cnp, is_integer, ninf_unless, safe, xlogy


def logpmf(x, n, p):
    x, p = args("multinomial.logpmf", x, p)
    n = cnp.asarray(n).astype(x.dtype)
    ok = cnp.all(cnp.logical_and(is_integer(x), cnp.greater_equal(x, 0)), axis=-1)
    ok = cnp.logical_and(ok, cnp.equal(cnp.sum(x, axis=-1), n))
    xs = safe(ok[..., None], x, 0.0)
    val = gammaln(n + 1) + cnp.sum(xlogy(xs, p) - gammaln(xs + 1), axis=-1)
    return ninf_unless(ok, val)


def pmf(x, n, p):
    return cnp.exp(logpmf(x, n, p))
