"""The truncated normal distribution, ``scipy.stats.truncnorm`` (a, b, loc, scale):
the normal restricted to standardized bounds a <= (x - loc)/scale <= b.

The normaliser ``Φ(b) - Φ(a)`` is formed in log space from ``log_ndtr`` (on
the mirrored bounds when a > 0), so it stays accurate far in either tail.
"""

from ..special import log_ndtr
from ._util import args, cnp, const, log_diff_exp, ninf_unless, np, safe

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _log_mass(a, b):
    """log(Φ(b) - Φ(a)) for a <= b."""
    right = cnp.greater(a, 0)                           # use Φ(-a) - Φ(-b) there
    return cnp.where(right, log_diff_exp(log_ndtr(-a), log_ndtr(-b)),
                     log_diff_exp(log_ndtr(b), log_ndtr(a)))


def _prep(fname, x, a, b, loc, scale):
    x, a, b, loc, scale = args(fname, x, a, b, loc, scale)
    return (x - loc) / scale, a, b, scale


def logpdf(x, a, b, loc=0, scale=1):
    z, a, b, scale = _prep("truncnorm.logpdf", x, a, b, loc, scale)
    ok = cnp.logical_and(cnp.greater_equal(z, a), cnp.less_equal(z, b))
    zs = safe(ok, z, 0.0)
    val = -0.5 * zs * zs - const(_LOG_SQRT_2PI, z) - cnp.log(scale) - _log_mass(a, b)
    return ninf_unless(ok, val)


def pdf(x, a, b, loc=0, scale=1):
    return cnp.exp(logpdf(x, a, b, loc, scale))


def _log_cdf_sf(fname, x, a, b, loc, scale):
    """(log cdf, log sf), each from the other by log1p where it is near 0."""
    z, a, b, _ = _prep(fname, x, a, b, loc, scale)
    zc = cnp.clip(z, a, b)
    above, below = cnp.greater(zc, a), cnp.less(zc, b)
    total = _log_mass(a, b)
    lc = ninf_unless(above, _log_mass(a, cnp.where(above, zc, b)) - total)
    ls = ninf_unless(below, _log_mass(cnp.where(below, zc, a), b) - total)
    half = const(np.log(0.5), z)
    lc_from_s = cnp.log1p(-cnp.exp(cnp.minimum(ls, half)))
    ls_from_c = cnp.log1p(-cnp.exp(cnp.minimum(lc, half)))
    return (cnp.where(cnp.less(ls, half), lc_from_s, lc),
            cnp.where(cnp.less(lc, half), ls_from_c, ls))


def logcdf(x, a, b, loc=0, scale=1):
    return _log_cdf_sf("truncnorm.logcdf", x, a, b, loc, scale)[0]


def cdf(x, a, b, loc=0, scale=1):
    return cnp.exp(logcdf(x, a, b, loc, scale))


def logsf(x, a, b, loc=0, scale=1):
    return _log_cdf_sf("truncnorm.logsf", x, a, b, loc, scale)[1]


def sf(x, a, b, loc=0, scale=1):
    return cnp.exp(logsf(x, a, b, loc, scale))
