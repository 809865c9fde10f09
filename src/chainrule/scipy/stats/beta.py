"""The beta distribution, ``scipy.stats.beta`` (a, b, loc, scale).

The CDFs are differentiable in ``x``, ``loc``, ``scale``; derivatives with
respect to ``a``, ``b`` raise NotImplementedError (see betainc).
"""

from ..special import betainc, betaln
from ._util import args, cnp, log0, ninf_unless, safe, xlog1py, xlogy


def logpdf(x, a, b, loc=0, scale=1):
    x, a, b, loc, scale = args("beta.logpdf", x, a, b, loc, scale)
    z = (x - loc) / scale
    ok = cnp.logical_and(cnp.greater_equal(z, 0), cnp.less_equal(z, 1))
    zs = safe(ok, z, 0.5)
    return ninf_unless(ok, xlogy(a - 1, zs) + xlog1py(b - 1, -zs) - betaln(a, b)
                       - cnp.log(scale))


def pdf(x, a, b, loc=0, scale=1):
    return cnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0, scale=1):
    x, a, b, loc, scale = args("beta.cdf", x, a, b, loc, scale)
    return betainc(a, b, cnp.clip((x - loc) / scale, 0, 1))


def logcdf(x, a, b, loc=0, scale=1):
    return log0(cdf(x, a, b, loc, scale))


def sf(x, a, b, loc=0, scale=1):
    x, a, b, loc, scale = args("beta.sf", x, a, b, loc, scale)
    return betainc(b, a, 1 - cnp.clip((x - loc) / scale, 0, 1))


def logsf(x, a, b, loc=0, scale=1):
    return log0(sf(x, a, b, loc, scale))
