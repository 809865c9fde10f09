"""The Dirichlet distribution, ``scipy.stats.dirichlet`` (alpha).

As SciPy, the K categories are the *first* axis of ``x`` (shape (K,) or
(K, N) for N points); ``alpha`` has shape (K,). Points off the simplex
(a negative entry, or entries not summing to 1 within 1e-6 relative to K)
have logpdf -inf.
"""

from ..special import gammaln
from ._util import args, cnp, ninf_unless, safe, xlogy


def logpdf(x, alpha):
    x, alpha = cnp.asarray(x), cnp.asarray(alpha)
    if alpha.ndim != 1:
        raise ValueError(f"dirichlet.logpdf: alpha must be one-dimensional, got shape "
                         f"{alpha.shape}")
    if x.ndim not in (1, 2) or x.shape[0] != alpha.shape[0]:
        raise ValueError(f"dirichlet.logpdf: x must have shape (K,) or (K, N) with "
                         f"K = {alpha.shape[0]}, got {x.shape}")
    alpha_b = alpha if x.ndim == 1 else alpha[:, None]
    x, alpha_b = args("dirichlet.logpdf", x, alpha_b)
    k = alpha.shape[0]
    ok = cnp.logical_and(cnp.all(cnp.greater_equal(x, 0), axis=0),
                         cnp.less_equal(cnp.abs(cnp.sum(x, axis=0) - 1), 1e-6 * k))
    xs = safe(ok, x, 1.0 / k)
    a = alpha_b
    norm = cnp.sum(gammaln(a), axis=0) - gammaln(cnp.sum(a, axis=0))
    return ninf_unless(ok, cnp.sum(xlogy(a - 1, xs), axis=0) - norm)


def pdf(x, alpha):
    return cnp.exp(logpdf(x, alpha))
