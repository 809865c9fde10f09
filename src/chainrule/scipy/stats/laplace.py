"""The Laplace distribution, ``scipy.stats.laplace`` (loc, scale)."""

from ._util import cnp, const, np, standardize


def logpdf(x, loc=0, scale=1):
    z, scale = standardize("laplace.logpdf", x, loc, scale)
    return -const(np.log(2), z) - cnp.log(scale) - cnp.abs(z)


def pdf(x, loc=0, scale=1):
    return cnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    z, _ = standardize("laplace.cdf", x, loc, scale)
    lo = 0.5 * cnp.exp(cnp.minimum(z, const(0, z)))
    hi = 1 - 0.5 * cnp.exp(-cnp.maximum(z, const(0, z)))
    return cnp.where(cnp.less(z, 0), lo, hi)
