"""The multivariate normal distribution, ``scipy.stats.multivariate_normal``.

``x`` has shape (..., d), ``mean`` (d,) (or broadcastable to x), ``cov`` is
a (d, d) positive-definite matrix (or a scalar / (d,) diagonal, as SciPy).
Uses the Cholesky factor: ``-½ |L⁻¹(x - mean)|² - Σ log diag L - d/2 log 2π``.
"""

from ._util import args, cnp, np


def logpdf(x, mean=None, cov=1, allow_singular=False):
    if allow_singular:
        raise NotImplementedError("multivariate_normal.logpdf: allow_singular=True is "
                                  "not supported (cov must be positive definite)")
    x = cnp.asarray(x)
    if x.ndim == 0:
        x = x[None]
    d = x.shape[-1]
    mean = cnp.zeros(d) if mean is None else mean
    x, mean = cnp.asarray(x), cnp.asarray(mean)
    cov = cnp.asarray(cov)
    if cov.ndim == 0:
        cov = cov * cnp.eye(d)
    elif cov.ndim == 1:
        cov = cnp.diag(cov)
    if cov.shape != (d, d):
        raise ValueError(f"multivariate_normal.logpdf: cov must have shape ({d}, {d}) for "
                         f"points of dimension {d}, got {cov.shape}")
    diff, _ = args("multivariate_normal.logpdf", x - mean, cov[0, 0])
    cov = cov.astype(diff.dtype)
    chol = cnp.linalg.cholesky(cov)
    flat = cnp.reshape(diff, (-1, d)).T                   # (d, n)
    sol = cnp.linalg.solve(chol, flat)
    maha = cnp.reshape(cnp.sum(sol * sol, axis=0), diff.shape[:-1])
    logdet = 2 * cnp.sum(cnp.log(cnp.diagonal(chol)))
    return -0.5 * maha - 0.5 * logdet - 0.5 * d * np.log(2 * np.pi)


def pdf(x, mean=None, cov=1, allow_singular=False):
    return cnp.exp(logpdf(x, mean, cov, allow_singular))
