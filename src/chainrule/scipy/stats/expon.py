"""The exponential distribution, ``scipy.stats.expon`` (loc, scale)."""

from ._util import args, cnp, const, ninf_unless, np, quantile, safe, standardize, zero_unless


def logpdf(x, loc=0, scale=1):
    z, scale = standardize("expon.logpdf", x, loc, scale)
    return ninf_unless(cnp.greater_equal(z, 0), -z - cnp.log(scale))


def pdf(x, loc=0, scale=1):
    return cnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    z, _ = standardize("expon.cdf", x, loc, scale)
    pos = cnp.greater(z, 0)
    return zero_unless(pos, -cnp.expm1(-safe(pos, z, 1.0)))


def logcdf(x, loc=0, scale=1):
    z, _ = standardize("expon.logcdf", x, loc, scale)
    pos = cnp.greater(z, 0)
    return ninf_unless(pos, cnp.log(-cnp.expm1(-safe(pos, z, 1.0))))


def sf(x, loc=0, scale=1):
    return cnp.exp(logsf(x, loc, scale))


def logsf(x, loc=0, scale=1):
    z, _ = standardize("expon.logsf", x, loc, scale)
    return cnp.where(cnp.greater(z, 0), -z, const(0, z))


def ppf(q, loc=0, scale=1):
    q, loc, scale = args("expon.ppf", q, loc, scale)
    return quantile(q, lambda q: loc - scale * cnp.log1p(-q), 0.0, np.inf) + \
        cnp.where(cnp.equal(q, 0), loc, const(0, loc))
