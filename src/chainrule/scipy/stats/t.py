"""Student's t distribution, ``scipy.stats.t`` (df, loc, scale)."""

from ..special import gammaln
from ._util import args, cnp, np


def logpdf(x, df, loc=0, scale=1):
    x, df, loc, scale = args("t.logpdf", x, df, loc, scale)
    z = (x - loc) / scale
    return (gammaln(0.5 * (df + 1)) - gammaln(0.5 * df) - 0.5 * cnp.log(df * np.pi)
            - 0.5 * (df + 1) * cnp.log1p(z * z / df) - cnp.log(scale))


def pdf(x, df, loc=0, scale=1):
    return cnp.exp(logpdf(x, df, loc, scale))
