"""``scipy.stats`` distributions on arrays and tracers, differentiable.

One module per distribution, with SciPy's argument conventions (``loc``,
``scale``, shape parameters), broadcasting, and SciPy's values outside the
support (-inf logpdf, 0 pdf). The functions each module offers follow
``jax.scipy.stats``.
"""

from . import (  # noqa: F401
    bernoulli,
    beta,
    binom,
    cauchy,
    chi2,
    dirichlet,
    expon,
    gamma,
    gennorm,
    geom,
    laplace,
    logistic,
    multinomial,
    multivariate_normal,
    nbinom,
    norm,
    poisson,
    t,
    truncnorm,
    uniform,
)
