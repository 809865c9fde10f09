"""The Cauchy distribution, ``scipy.stats.cauchy`` (loc, scale)."""

from ._util import args, cnp, const, log0, np, quantile, standardize


def logpdf(x, loc=0, scale=1):
    z, scale = standardize("cauchy.logpdf", x, loc, scale)
    return -const(np.log(np.pi), z) - cnp.log(scale) - cnp.log1p(z * z)


def pdf(x, loc=0, scale=1):
    return cnp.exp(logpdf(x, loc, scale))


def _cdf(z):
    return 0.5 + cnp.arctan(z) / np.pi


def cdf(x, loc=0, scale=1):
    return _cdf(standardize("cauchy.cdf", x, loc, scale)[0])


def logcdf(x, loc=0, scale=1):
    return log0(cdf(x, loc, scale))


def sf(x, loc=0, scale=1):
    return _cdf(-standardize("cauchy.sf", x, loc, scale)[0])


def logsf(x, loc=0, scale=1):
    return log0(sf(x, loc, scale))


def ppf(q, loc=0, scale=1):
    q, loc, scale = args("cauchy.ppf", q, loc, scale)
    return quantile(q, lambda q: loc + scale * cnp.tan(np.pi * (q - 0.5)), -np.inf, np.inf)


def isf(q, loc=0, scale=1):
    q, loc, scale = args("cauchy.isf", q, loc, scale)
    return quantile(q, lambda q: loc - scale * cnp.tan(np.pi * (q - 0.5)), np.inf, -np.inf)
