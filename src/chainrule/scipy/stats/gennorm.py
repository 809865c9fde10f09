"""The generalized normal distribution, ``scipy.stats.gennorm`` (beta, loc, scale):
density ``beta / (2 scale Γ(1/beta)) exp(-|z|^beta)``.

``cdf`` is differentiable in ``x``, ``loc``, ``scale``; its derivative in
``beta`` raises NotImplementedError (see gammainc).
"""

from ..special import gammainc, gammaln
from ._util import args, cnp, np


def logpdf(x, beta, loc=0, scale=1):
    x, beta, loc, scale = args("gennorm.logpdf", x, beta, loc, scale)
    z = (x - loc) / scale
    return (cnp.log(beta) - np.log(2) - cnp.log(scale) - gammaln(1 / beta)
            - cnp.abs(z) ** beta)


def pdf(x, beta, loc=0, scale=1):
    return cnp.exp(logpdf(x, beta, loc, scale))


def cdf(x, beta, loc=0, scale=1):
    x, beta, loc, scale = args("gennorm.cdf", x, beta, loc, scale)
    z = (x - loc) / scale
    return 0.5 + cnp.sign(z) * 0.5 * gammainc(1 / beta, cnp.abs(z) ** beta)
