"""The gamma distribution, ``scipy.stats.gamma`` (a, loc, scale).

The CDFs are differentiable in ``x``, ``loc`` and ``scale``; their derivative
with respect to the shape ``a`` raises NotImplementedError (see gammainc).
"""

from ..special import gammainc, gammaincc, gammaln
from ._util import args, cnp, log0, ninf_unless, safe, xlogy


def logpdf(x, a, loc=0, scale=1):
    x, a, loc, scale = args("gamma.logpdf", x, a, loc, scale)
    z = (x - loc) / scale
    ok = cnp.logical_and(cnp.greater_equal(z, 0), cnp.isfinite(z))   # -inf at +inf
    zs = safe(ok, z, 1.0)
    return ninf_unless(ok, xlogy(a - 1, zs) - zs - gammaln(a) - cnp.log(scale))


def pdf(x, a, loc=0, scale=1):
    return cnp.exp(logpdf(x, a, loc, scale))


def _z(fname, x, a, loc, scale):
    x, a, loc, scale = args(fname, x, a, loc, scale)
    return cnp.maximum((x - loc) / scale, 0), a


def cdf(x, a, loc=0, scale=1):
    z, a = _z("gamma.cdf", x, a, loc, scale)
    return gammainc(a, z)


def logcdf(x, a, loc=0, scale=1):
    return log0(cdf(x, a, loc, scale))


def sf(x, a, loc=0, scale=1):
    z, a = _z("gamma.sf", x, a, loc, scale)
    return gammaincc(a, z)


def logsf(x, a, loc=0, scale=1):
    return log0(sf(x, a, loc, scale))
