"""``scipy.special`` functions on arrays and tracers, differentiable.

Signatures and edge values follow SciPy. Integer inputs compute in float64.
The numerically delicate ones:

- ``logsumexp``, ``softmax``, ``log_softmax`` subtract the (stop-gradient)
  maximum first, so they never overflow; the shift cancels mathematically,
  so their derivatives are exact.
- ``xlogy``/``xlog1py`` are 0 where ``x == 0`` (unless ``y`` is NaN), with
  finite derivatives there: the logarithm only ever sees a safe input.
  Where ``x == 0`` and the logarithm is finite, d/dx is ``log(y)`` (as JAX).
"""

from __future__ import annotations

import numpy as np

from .. import numpy as cnp
from ..numpy._promote import as_float as _float
from ..numpy._promote import canonical_axes, promote_float
from ..numpy._promote import scalar_like as _const
from ..primitives import elementwise as ew
from ..primitives import special as sp
from ..primitives import special_more as sm

__all__ = ["betaln", "digamma", "entr", "erf", "erfc", "erfinv", "ndtri", "expit", "gamma",
           "gammaln", "log_softmax", "logit", "logsumexp", "ndtr", "polygamma", "psi", "softmax",
           "xlog1py", "xlogy", "gammainc", "gammaincc", "betainc", "multigammaln", "log_ndtr",
           "i0", "i0e", "i1", "i1e", "zeta", "spence", "rel_entr", "kl_div"]


# ----------------------------------------------------- special functions ---

def erf(z):
    """``2/√π ∫₀ᶻ exp(-t²) dt``."""
    return sp.erf(_float(z, "erf"))


def erfc(x):
    """``1 - erf(x)``, accurate where erf(x) is close to 1."""
    return sp.erfc(_float(x, "erfc"))


def erfinv(y):
    """The inverse of ``erf`` on [-1, 1] (±inf at ±1, NaN outside); within a
    few ulp in float64 (Halley steps on Cody's erf/erfc)."""
    return sp.erf_inv(_float(y, "erfinv"))


def ndtri(y):
    """The inverse of ``ndtr``, ``-√2 erfcinv(2y)``; accurate in both tails."""
    return sp.ndtri(_float(y, "ndtri"))


def ndtr(x):
    """The standard normal CDF, ``erfc(-x/√2) / 2``."""
    x = _float(x, "ndtr")
    return sp.erfc(x * _const(-np.sqrt(0.5), x)) * _const(0.5, x)


def gammaln(x):
    """``log|Γ(x)|``; +inf at the poles 0, -1, -2, ..."""
    return sp.lgamma(_float(x, "gammaln"))


def gamma(z):
    """``Γ(z) = sign · exp(gammaln(z))``; the sign is negative on (-1, 0),
    (-3, -2), ..."""
    z = _float(z, "gamma")
    odd = cnp.not_equal(cnp.remainder(cnp.floor(z), 2), 0)
    sign = cnp.where(cnp.logical_and(cnp.less(z, 0), odd), _const(-1, z), _const(1, z))
    return sign * cnp.exp(sp.lgamma(z))


def betaln(a, b):
    """``log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)``."""
    a, b = promote_float(a, b, fname="betaln")
    return sp.lgamma(a) + sp.lgamma(b) - sp.lgamma(a + b)


def digamma(x):
    """ψ(x) = d/dx log Γ(x)."""
    return sp.digamma(_float(x, "digamma"))


psi = digamma


def polygamma(n, x):
    """ψ⁽ⁿ⁾(x), the n-th derivative of digamma; ``n`` a concrete integer >= 0."""
    from ..core import Tracer
    if isinstance(n, Tracer):
        raise NotImplementedError("polygamma: the order n must be a concrete integer; "
                                  "derivatives with respect to n are not defined")
    n = np.asarray(n)
    if n.ndim or n.dtype.kind not in "iu" and not float(n).is_integer():
        raise NotImplementedError("polygamma: n must be one concrete integer")
    return sp.polygamma(int(n), _float(x, "polygamma"))


# ------------------------------------------------------------ logistic ---

def expit(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))``, stable for large |x|."""
    return ew.logistic(_float(x, "expit"))


def logit(x):
    """``log(p / (1 - p))``, the inverse of ``expit``."""
    x = _float(x, "logit")
    return cnp.log(x) - cnp.log1p(-x)


# ------------------------------------------------------------ x log y ---

def _x_log(x, y, log_fn, domain_ok, safe, fname):
    x, y = promote_float(x, y, fname=fname)
    zero = cnp.logical_and(cnp.equal(x, 0), cnp.logical_not(cnp.isnan(y)))
    special = cnp.logical_and(zero, cnp.logical_not(domain_ok(y)))
    safe_y = cnp.where(special, _const(safe, y), y)   # log_fn(safe) == 0
    return cnp.where(special, _const(0, x), x * log_fn(safe_y))


def xlogy(x, y):
    """``x * log(y)``, and 0 where ``x == 0`` (for any non-NaN ``y``)."""
    return _x_log(x, y, cnp.log,
                  lambda y: cnp.logical_and(cnp.greater(y, 0), cnp.isfinite(y)), 1, "xlogy")


def xlog1py(x, y):
    """``x * log1p(y)``, and 0 where ``x == 0`` (for any non-NaN ``y``)."""
    return _x_log(x, y, cnp.log1p,
                  lambda y: cnp.logical_and(cnp.greater(y, -1), cnp.isfinite(y)), 0,
                  "xlog1py")


def entr(x):
    """Elementwise entropy: ``-x log x`` for x > 0, 0 at 0, -inf for x < 0."""
    x = _float(x, "entr")
    neg = cnp.less(x, 0)
    safe = cnp.where(neg, _const(1, x), x)
    return cnp.where(neg, _const(-np.inf, x), -xlogy(safe, safe))


# ------------------------------------------------------------ logsumexp ---

def _shift(a, axes, mask=None):
    """The stop-gradient maximum over ``axes`` (keepdims), 0 where not finite."""
    m = a if mask is None else cnp.where(mask, a, _const(-np.inf, a))
    if np.size(a) == 0:
        shape = tuple(1 if i in axes else n for i, n in enumerate(np.shape(a)))
        return np.zeros(shape, a.dtype)
    m = cnp.stop_gradient(cnp.max(m, axis=axes, keepdims=True))
    return cnp.where(cnp.isfinite(m), m, _const(0, m))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a)))`` over ``axis`` without overflow.

    With weights ``b`` the sum may be negative: ``return_sign=True`` returns
    ``(log|sum|, sign(sum))``; otherwise a negative sum gives NaN, as SciPy.
    Entries with ``b == 0`` are ignored, also when ``a`` is huge there.
    """
    if b is None:
        a = _float(a, "logsumexp")
        mask = None
    else:
        a, b = cnp.broadcast_arrays(*promote_float(a, b, fname="logsumexp"))
        mask = cnp.not_equal(b, 0)
    axes = canonical_axes(axis, a.ndim, "logsumexp")
    m = _shift(a, axes, mask)
    if mask is None:
        terms = cnp.exp(a - m)
    else:
        terms = b * cnp.exp(cnp.where(mask, a, m) - m)
    total = cnp.sum(terms, axis=axes, keepdims=True)
    sign = None
    if return_sign:
        sign = cnp.sign(cnp.stop_gradient(total))
        total = cnp.abs(total)
    # all terms zero (every a = -inf, or every b = 0): -inf; a negative sum
    # (without return_sign): NaN as SciPy; neither through log's warnings
    positive = cnp.greater(total, 0)
    safe_total = cnp.where(positive, total, _const(1, total))
    edge = cnp.where(cnp.equal(total, 0), _const(-np.inf, total), _const(np.nan, total))
    out = cnp.where(positive, cnp.log(safe_total), edge) + m
    if not keepdims:
        out = cnp.squeeze(out, axis=axes) if axes else out
        sign = cnp.squeeze(sign, axis=axes) if axes and sign is not None else sign
    return (out, sign) if return_sign else out


def softmax(x, axis=None):
    """``exp(x) / sum(exp(x))`` over ``axis`` (all elements when None, as SciPy)."""
    x = _float(x, "softmax")
    axes = canonical_axes(axis, x.ndim, "softmax")
    unnormalized = cnp.exp(x - _shift(x, axes))
    return unnormalized / cnp.sum(unnormalized, axis=axes, keepdims=True)


def log_softmax(x, axis=None):
    """``x - logsumexp(x)`` over ``axis``, without overflow or cancellation."""
    x = _float(x, "log_softmax")
    axes = canonical_axes(axis, x.ndim, "log_softmax")
    shifted = x - _shift(x, axes)
    return shifted - cnp.log(cnp.sum(cnp.exp(shifted), axis=axes, keepdims=True))


# ------------------------------------------- incomplete gamma and beta ---

def gammainc(a, x):
    """The regularised lower incomplete gamma function P(a, x).

    Differentiable in ``x``; the derivative in ``a`` raises NotImplementedError.
    """
    a, x = promote_float(a, x, fname="gammainc")
    return sm.igamma(a, x)


def gammaincc(a, x):
    """The regularised upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    a, x = promote_float(a, x, fname="gammaincc")
    return sm.igammac(a, x)


def betainc(a, b, x):
    """The regularised incomplete beta function I_x(a, b).

    Differentiable in ``x``; derivatives in ``a``, ``b`` raise NotImplementedError.
    """
    a, b, x = promote_float(a, b, x, fname="betainc")
    return sm.betainc(a, b, x)


def multigammaln(a, d):
    """The log of the multivariate gamma function,
    ``d(d-1)/4 log π + Σ_{j=1..d} gammaln(a + (1 - j)/2)``; ``d`` a concrete int."""
    d_ = np.asarray(d)
    if d_.ndim or not float(d_).is_integer() or int(d_) < 1:
        raise ValueError(f"multigammaln: d must be one concrete integer >= 1, got {d!r}")
    d = int(d_)
    a = _float(a, "multigammaln")
    out = _const(d * (d - 1) / 4 * np.log(np.pi), a)
    for j in range(1, d + 1):
        out = out + sp.lgamma(a + _const((1 - j) / 2, a))
    return out


# ----------------------------------------------------- normal distribution ---

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def log_ndtr(x):
    """``log(ndtr(x))``, accurate in both tails: an asymptotic series for
    x < -20, ``log(erfc(-x/√2)/2)`` on [-20, 0] and ``log1p(-ndtr(-x))``
    above (each branch sees only inputs that are safe for it, so the
    derivative is finite everywhere)."""
    x = _float(x, "log_ndtr")
    lo = cnp.less(x, -20)
    hi = cnp.greater(x, 0)
    mid = cnp.logical_not(cnp.logical_or(lo, hi))
    xm = cnp.where(mid, x, _const(0, x))
    v_mid = cnp.log(sp.erfc(xm * _const(-np.sqrt(0.5), x)) * _const(0.5, x))
    xh = cnp.where(hi, x, _const(1, x))
    v_hi = cnp.log1p(-sp.erfc(xh * _const(np.sqrt(0.5), x)) * _const(0.5, x))
    xl = cnp.where(lo, x, _const(-21, x))
    # log Φ(x) = -x²/2 - log(-x) - log√(2π) + log(1 - 1/x² + 3/x⁴ - 15/x⁶ + ...)
    z = _const(1, x) / (xl * xl)
    series = _const(0, x)
    for k in range(9, 0, -1):                      # Horner in 1/x², (2k-1)!! (-1)^k
        coef = (-1) ** k * float(np.prod(np.arange(1, 2 * k, 2)))
        series = (series + _const(coef, x)) * z
    v_lo = (-0.5 * xl * xl - cnp.log(-xl) - _const(_LOG_SQRT_2PI, x)
            + cnp.log1p(series))
    return cnp.where(lo, v_lo, cnp.where(hi, v_hi, v_mid))


# ------------------------------------------------------- Bessel functions ---

def i0e(x):
    """The exponentially scaled modified Bessel function ``e^-|x| I₀(x)``."""
    return sm.bessel_i0e(_float(x, "i0e"))


def i1e(x):
    """``e^-|x| I₁(x)``."""
    return sm.bessel_i1e(_float(x, "i1e"))


def i0(x):
    """The modified Bessel function of the first kind of order 0."""
    x = _float(x, "i0")
    return cnp.exp(cnp.abs(x)) * sm.bessel_i0e(x)


def i1(x):
    """The modified Bessel function of the first kind of order 1."""
    x = _float(x, "i1")
    return cnp.exp(cnp.abs(x)) * sm.bessel_i1e(x)


# --------------------------------------------------------- zeta, spence ---

def zeta(x, q=None):
    """The Hurwitz zeta function ``Σ_k (k + q)^-x`` (Riemann's when q is None).

    Differentiable in ``q``; the derivative in ``x`` raises NotImplementedError.
    """
    if q is None:
        x = _float(x, "zeta")
        return sm.zeta(x, cnp.ones_like(x))
    x, q = promote_float(x, q, fname="zeta")
    return sm.zeta(x, q)


def spence(z):
    """Spence's function ``∫₁ᶻ log t / (1 - t) dt`` (SciPy's convention) for z >= 0."""
    return sm.spence(_float(z, "spence"))


# ------------------------------------------------ relative entropies ---

def rel_entr(x, y):
    """``x log(x/y)`` for x, y > 0; 0 at x = 0, y >= 0; inf otherwise."""
    x, y = promote_float(x, y, fname="rel_entr")
    both = cnp.logical_and(cnp.greater(x, 0), cnp.greater(y, 0))
    zero = cnp.logical_and(cnp.equal(x, 0), cnp.greater_equal(y, 0))
    sx = cnp.where(both, x, _const(1, x))
    sy = cnp.where(both, y, _const(1, y))
    val = sx * (cnp.log(sx) - cnp.log(sy))
    nan = cnp.logical_or(cnp.isnan(x), cnp.isnan(y))
    return cnp.where(both, val, cnp.where(zero, _const(0, x),
                                          cnp.where(nan, _const(np.nan, x), _const(np.inf, x))))


def kl_div(x, y):
    """``x log(x/y) - x + y`` for x, y > 0; ``y`` at x = 0, y >= 0; inf otherwise."""
    x, y = promote_float(x, y, fname="kl_div")
    both = cnp.logical_and(cnp.greater(x, 0), cnp.greater(y, 0))
    return cnp.where(both, rel_entr(x, y) - x + y,
                     cnp.where(cnp.logical_and(cnp.equal(x, 0), cnp.greater_equal(y, 0)),
                               y, rel_entr(x, y)))
