"""The logistic distribution, ``scipy.stats.logistic`` (loc, scale)."""

from ..special import expit, logit
from ._util import args, cnp, np, quantile, standardize


def logpdf(x, loc=0, scale=1):
    z, scale = standardize("logistic.logpdf", x, loc, scale)
    a = cnp.abs(z)                              # symmetric; stable for large |z|
    return -a - 2 * cnp.log1p(cnp.exp(-a)) - cnp.log(scale)


def pdf(x, loc=0, scale=1):
    return cnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    return expit(standardize("logistic.cdf", x, loc, scale)[0])


def sf(x, loc=0, scale=1):
    return expit(-standardize("logistic.sf", x, loc, scale)[0])


def ppf(q, loc=0, scale=1):
    q, loc, scale = args("logistic.ppf", q, loc, scale)
    return quantile(q, lambda q: loc + scale * logit(q), -np.inf, np.inf)


def isf(q, loc=0, scale=1):
    q, loc, scale = args("logistic.isf", q, loc, scale)
    return quantile(q, lambda q: loc - scale * logit(q), np.inf, -np.inf)
