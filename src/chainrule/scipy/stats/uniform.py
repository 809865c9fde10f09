"""The uniform distribution on [loc, loc + scale], ``scipy.stats.uniform``."""

from ._util import args, cnp, const, ninf_unless, np, safe


def logpdf(x, loc=0, scale=1):
    x, loc, scale = args("uniform.logpdf", x, loc, scale)
    inside = cnp.logical_and(cnp.greater_equal(x, loc), cnp.less_equal(x, loc + scale))
    return ninf_unless(inside, -cnp.log(safe(inside, scale, 1.0)))


def pdf(x, loc=0, scale=1):
    return cnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    x, loc, scale = args("uniform.cdf", x, loc, scale)
    return cnp.clip((x - loc) / scale, 0, 1)


def ppf(q, loc=0, scale=1):
    q, loc, scale = args("uniform.ppf", q, loc, scale)
    inside = cnp.logical_and(cnp.greater_equal(q, 0), cnp.less_equal(q, 1))
    val = loc + q * scale
    return cnp.where(inside, val, const(np.nan, val))
