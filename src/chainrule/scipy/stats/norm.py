"""The normal distribution, ``scipy.stats.norm`` (loc, scale)."""

from ..special import log_ndtr, ndtr, ndtri
from ._util import args, cnp, const, np, standardize

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def logpdf(x, loc=0, scale=1):
    z, scale = standardize("norm.logpdf", x, loc, scale)
    return -0.5 * z * z - cnp.log(scale) - const(_LOG_SQRT_2PI, z)


def pdf(x, loc=0, scale=1):
    return cnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    return ndtr(standardize("norm.cdf", x, loc, scale)[0])


def logcdf(x, loc=0, scale=1):
    return log_ndtr(standardize("norm.logcdf", x, loc, scale)[0])


def sf(x, loc=0, scale=1):
    return ndtr(-standardize("norm.sf", x, loc, scale)[0])


def logsf(x, loc=0, scale=1):
    return log_ndtr(-standardize("norm.logsf", x, loc, scale)[0])


def ppf(q, loc=0, scale=1):
    q, loc, scale = args("norm.ppf", q, loc, scale)
    return loc + scale * ndtri(q)


def isf(q, loc=0, scale=1):
    q, loc, scale = args("norm.isf", q, loc, scale)
    return loc - scale * ndtri(q)
