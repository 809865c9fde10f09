"""The chi-squared distribution, ``scipy.stats.chi2`` (df, loc, scale):
the gamma distribution with a = df/2 and scale 2·scale."""

from . import gamma as _gamma
from ._util import args


def _g(fname, x, df, loc, scale):
    x, df, loc, scale = args(fname, x, df, loc, scale)
    return x, 0.5 * df, loc, 2 * scale


def logpdf(x, df, loc=0, scale=1):
    return _gamma.logpdf(*_g("chi2.logpdf", x, df, loc, scale))


def pdf(x, df, loc=0, scale=1):
    return _gamma.pdf(*_g("chi2.pdf", x, df, loc, scale))


def cdf(x, df, loc=0, scale=1):
    return _gamma.cdf(*_g("chi2.cdf", x, df, loc, scale))


def logcdf(x, df, loc=0, scale=1):
    return _gamma.logcdf(*_g("chi2.logcdf", x, df, loc, scale))


def sf(x, df, loc=0, scale=1):
    return _gamma.sf(*_g("chi2.sf", x, df, loc, scale))


def logsf(x, df, loc=0, scale=1):
    return _gamma.logsf(*_g("chi2.logsf", x, df, loc, scale))
