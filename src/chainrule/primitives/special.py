"""Special functions: erf, erfc, lgamma, digamma and polygamma.

The implementations are vectorised NumPy (SciPy is not a runtime
dependency) and compute in float64, returning the input's dtype:

- ``erf``/``erfc``: W. J. Cody's rational Chebyshev approximations (Math.
  Comp. 23, 1969) on |x| <= 0.46875, <= 4 and > 4; ``exp(-x²)`` is split
  as ``exp(-s²) exp(-(x-s)(x+s))`` with ``s`` = x rounded down to 1/16, so
  that erfc keeps its relative accuracy in the tail.
- ``lgamma``: ``log|Γ(x)|`` by the Lanczos approximation (g = 7, n = 9) for
  x >= 1/2, ``lgamma(x + 1) - log(x)`` on (0, 1/2) and the reflection
  formula for x <= 0.
- ``digamma``/``polygamma``: the recurrence ``ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x+1) -
  (-1)ⁿ n!/x^(n+1)`` up to x >= 10 + n, then the asymptotic (Bernoulli)
  series; reflection ``ψ⁽ⁿ⁾(x) = (-1)ⁿ ψ⁽ⁿ⁾(1-x) - π dⁿ/dxⁿ cot(πx)`` for x < 0.

Derivatives: erf' = 2/√π exp(-x²), erfc' = -erf', lgamma' = digamma,
digamma' = polygamma(1, ·), polygamma(n, ·)' = polygamma(n + 1, ·), so every
order exists. Poles follow SciPy: lgamma → +inf, digamma(±0) → ∓inf and nan
at negative integers, polygamma(n) → (-1)^(n+1) inf.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..batching import batch_elementwise
from ..core import Primitive, ShapedArray
from ._helpers import defderiv, float_only
from .elementwise import exp, mul, neg
from .samples import unary_samples

# ------------------------------------------------------------- erf, erfc ---

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_1_SQRT_PI = 5.6418958354775628695e-1


def _exp_minus_square(y):
    """exp(-y²) without the error of rounding y² first (Cody's split)."""
    s = np.floor(16.0 * y) / 16.0
    return np.exp(-s * s) * np.exp(-(y - s) * (y + s))


def _cody(x):
    """(erf(|x|), erfc(|x|)) in float64, elementwise."""
    y = np.abs(np.asarray(x, np.float64))
    erf, erfc = np.full(y.shape, np.nan), np.full(y.shape, np.nan)
    with np.errstate(all="ignore"):
        m = y <= 0.46875
        z = y[m] * y[m]
        num, den = _A[4] * z, z
        for a, b in zip(_A[:3], _B[:3], strict=True):
            num, den = (num + a) * z, (den + b) * z
        erf[m] = y[m] * (num + _A[3]) / (den + _B[3])
        erfc[m] = 1.0 - erf[m]

        m = (y > 0.46875) & (y <= 4.0)
        v = y[m]
        num, den = _C[8] * v, v
        for c, d in zip(_C[:7], _D[:7], strict=True):
            num, den = (num + c) * v, (den + d) * v
        erfc[m] = _exp_minus_square(v) * (num + _C[7]) / (den + _D[7])
        erf[m] = 1.0 - erfc[m]

        m = y > 4.0
        v = y[m]
        z = 1.0 / (v * v)
        num, den = _P[5] * z, z
        for p, q in zip(_P[:4], _Q[:4], strict=True):
            num, den = (num + p) * z, (den + q) * z
        tail = (_1_SQRT_PI - z * (num + _P[4]) / (den + _Q[4])) / v
        erfc[m] = np.where(np.isinf(v), 0.0, _exp_minus_square(v) * tail)
        erf[m] = 1.0 - erfc[m]
    return erf, erfc


def _erf_impl(x):
    erf, _ = _cody(x)
    return np.asarray(np.where(np.signbit(x), -erf, erf), dtype=np.asarray(x).dtype)


def _erfc_impl(x):
    _, erfc = _cody(x)
    return np.asarray(np.where(np.signbit(x) & (x != 0), 2.0 - erfc, erfc),
                      dtype=np.asarray(x).dtype)


# ------------------------------------------------------------------ lgamma ---

_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028,
            771.32342877765313, -176.61502916214059, 12.507343278686905,
            -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _lanczos_lgamma(x):
    """log Γ(x) for x >= 1/2."""
    z = x - 1.0
    series = np.full_like(z, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        series = series + c / (z + i)
    t = z + _LANCZOS_G + 0.5
    return _HALF_LOG_2PI + (z + 0.5) * np.log(t) - t + np.log(series)


def _sinpi(x):
    """sin(πx) with x reduced to [-1/2, 1/2] first (exact in floating point)."""
    n = np.round(x)
    return np.where(np.fmod(n, 2) == 0, 1.0, -1.0) * np.sin(np.pi * (x - n))


def _cotpi(x):
    return 1.0 / np.tan(np.pi * (x - np.round(x)))


def _lgamma64(x):
    out = np.full(x.shape, np.inf)
    with np.errstate(all="ignore"):
        big = x >= 0.5
        out[big] = _lanczos_lgamma(x[big])
        m = (x > 0) & (x < 0.5)
        out[m] = _lanczos_lgamma(x[m] + 1.0) - np.log(x[m])
        m = (x <= 0) & (x != np.round(x))            # poles (and -inf) stay +inf
        out[m] = (math.log(math.pi) - np.log(np.abs(_sinpi(x[m])))
                  - _lanczos_lgamma(1.0 - x[m]))
        out[np.isnan(x)] = np.nan
        out[x == np.inf] = np.inf
    return out


def _lgamma_impl(x):
    x = np.asarray(x)
    return _lgamma64(x.astype(np.float64)).astype(x.dtype)


# -------------------------------------------------------- digamma, polygamma ---

# Bernoulli numbers B2, B4, ..., B20
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
              43867 / 798, -174611 / 330)


def _psi_positive(x, n):
    """ψ⁽ⁿ⁾(x) for x > 0: shift up by the recurrence, then the asymptotic series."""
    x = x.copy()
    acc = np.zeros_like(x)
    sign = 1.0 if n % 2 else -1.0                     # (-1)^(n+1)
    nfact = math.factorial(n)
    lim = 10.0 + n
    while True:
        m = x < lim
        if not m.any():
            break
        # ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x+1) + (-1)^(n+1) n! / x^(n+1)
        acc[m] += sign * nfact / x[m] ** (n + 1)
        x[m] += 1.0
    z = 1.0 / (x * x)
    if n == 0:
        series = np.zeros_like(x)
        for k in range(len(_BERNOULLI), 0, -1):
            series = (series + _BERNOULLI[k - 1] / (2 * k)) * z
        return acc + np.log(x) - 0.5 / x - series
    series = np.zeros_like(x)
    for k in range(len(_BERNOULLI), 0, -1):
        coef = _BERNOULLI[k - 1] * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
        series = (series + coef) * z
    lead = math.factorial(n - 1) / x ** n + nfact / (2 * x ** (n + 1)) + series / x ** n
    return acc + sign * lead


@functools.lru_cache(maxsize=None)
def _cot_derivative(n):
    """Coefficients (ascending) of P with dⁿ/duⁿ cot(u) = P(cot u)."""
    p = np.polynomial.polynomial
    coef = np.array([0.0, 1.0])
    for _ in range(n):
        coef = -p.polymul([1.0, 0.0, 1.0], p.polyder(coef))
    return coef


def _psi64(x, n):
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        pos = x > 0
        out[pos] = _psi_positive(x[pos], n)
        neg_ = (x < 0) & (x != np.round(x)) & np.isfinite(x)
        xn = x[neg_]
        cot_term = np.pi ** (n + 1) * np.polynomial.polynomial.polyval(_cotpi(xn),
                                                                       _cot_derivative(n))
        out[neg_] = (-1) ** n * _psi_positive(1.0 - xn, n) - cot_term
        pole = (x <= 0) & (x == np.round(x))
        if n == 0:
            out[pole & (x == 0)] = np.where(np.signbit(x[pole & (x == 0)]), np.inf, -np.inf)
        else:
            out[pole] = np.inf if n % 2 else -np.inf
        out[x == np.inf] = np.inf if n == 0 else 0.0
    return out


def _digamma_impl(x):
    x = np.asarray(x)
    return _psi64(x.astype(np.float64), 0).astype(x.dtype)


def _polygamma_impl(x, *, n):
    x = np.asarray(x)
    return _psi64(x.astype(np.float64), n).astype(x.dtype)


# ------------------------------------------------------------ primitives ---


def _real_only(name, x):
    if np.dtype(x.dtype).kind == "c":
        raise TypeError(f"{name}: complex arguments are not supported (got "
                        f"{np.dtype(x.dtype).name}); the implementation is real-valued")


def _unary(name, impl):
    prim = Primitive(name)

    def checked_impl(x, **params):
        _real_only(name, x)  # computing in float64 would drop the imaginary part
        return impl(x, **params)

    prim.impl = checked_impl

    def abstract_eval(x, **params):
        float_only(name, x)
        _real_only(name, x)
        return ShapedArray(tuple(x.shape), np.dtype(x.dtype))

    prim.abstract_eval = abstract_eval
    prim.batch = batch_elementwise(prim)
    return prim


erf_p = _unary("erf", _erf_impl)
erfc_p = _unary("erfc", _erfc_impl)
lgamma_p = _unary("lgamma", _lgamma_impl)
digamma_p = _unary("digamma", _digamma_impl)
polygamma_p = _unary("polygamma", _polygamma_impl)


def _erf_deriv(out, x):
    # 2/√π exp(-x²)
    return mul(exp(neg(mul(x, x))), np.asarray(2 * _1_SQRT_PI, np.dtype(x.dtype)))


defderiv(erf_p, _erf_deriv)
defderiv(erfc_p, lambda out, x: neg(_erf_deriv(out, x)))
defderiv(lgamma_p, lambda out, x: digamma(x))
defderiv(digamma_p, lambda out, x: polygamma(1, x))
defderiv(polygamma_p, lambda out, x, *, n: polygamma(n + 1, x))


# ------------------------------------------------------ functions to call ---

def erf(x):
    return erf_p.bind(x)


def erfc(x):
    return erfc_p.bind(x)


def lgamma(x):
    return lgamma_p.bind(x)


def digamma(x):
    return digamma_p.bind(x)


def polygamma(n: int, x):
    """ψ⁽ⁿ⁾(x), the n-th derivative of digamma; ``n`` is a static integer."""
    n = int(n)
    if n < 0:
        raise ValueError(f"polygamma: the order n must be >= 0, got {n}")
    return digamma_p.bind(x) if n == 0 else polygamma_p.bind(x, n=n)


# ---------------------------------------------------------------- samples ---

erf_p.samples = unary_samples(-3, 3)
erfc_p.samples = unary_samples(-3, 3)
lgamma_p.samples = lambda rng: (unary_samples(0.2, 6)(rng)
                                + [((np.array([-2.5, -0.7, 3.3]),), {})])
digamma_p.samples = lambda rng: (unary_samples(0.3, 6)(rng)
                                 + [((np.array([-1.5, -0.3, 2.2]),), {})])
polygamma_p.samples = lambda rng: [((rng.uniform(0.5, 5, size=s),), {"n": n})
                                   for s in [(), (3,), (2, 3)] for n in (1, 2)] + [
                                  ((np.array([-1.5, -0.3, 2.2]),), {"n": 1})]


# ---------------------------------------------------------------- erf_inv ---
# M. Giles' single-precision approximation ("Approximating the erfinv
# function", GPU Computing Gems, 2011) as a first guess, refined to float64:
# for |x| < 7/8 by Halley steps on erf(y) = x (erf'' = -2y erf', so the step
# is d / (1 + y d) with d = (erf(y) - x) / erf'(y)); in the tails by Newton
# steps on log erfc(y) = log(1 - |x|) (|x| >= 7/8: 1 - |x| is exact) where
# log erfc is close to a parabola, so a guess far out in the tail converges.

_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  2.1858087e-04, -1.25372503e-03, -4.17768164e-03, 2.46640727e-01,
                  1.50140941e00)
_GILES_TAIL = (-2.00214257e-04, 1.00950558e-04, 1.34934322e-03, -3.67342844e-03,
               5.73950773e-03, -7.6224613e-03, 9.43887047e-03, 1.00167406e00,
               2.83297682e00)


def _erf_inv64(x):
    a = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = -np.log1p(-a * a)
        central = w < 5.0
        t = np.where(central, w - 2.5, np.sqrt(w) - 3.0)
        p = np.where(central, _GILES_CENTRAL[0], _GILES_TAIL[0])
        for c, d in zip(_GILES_CENTRAL[1:], _GILES_TAIL[1:]):
            p = p * t + np.where(central, c, d)
        y = p * a
        finite = (a < 1.0) & (a > 0.0)
        y = np.where(finite, y, 0.0)
        centre = a < 0.875
        for _ in range(2):
            d = (_erf_impl(y) - a) / (2 * _1_SQRT_PI * _exp_minus_square(y))
            y = np.where(finite & centre, y - d / (1.0 + y * d), y)
        log_tail = np.log1p(-a)
        for _ in range(5):
            erfc = _erfc_impl(y)
            step = (np.log(erfc) - log_tail) * erfc / (2 * _1_SQRT_PI * _exp_minus_square(y))
            y = np.where(finite & ~centre, y + step, y)
        y = np.where(a == 1.0, np.inf, np.where(a > 1.0, np.nan, y))
    return np.where(np.isnan(x), np.nan, np.copysign(y, x))


def _erf_inv_impl(x):
    return _erf_inv64(x.astype(np.float64)).astype(x.dtype)


erf_inv_p = _unary("erf_inv", _erf_inv_impl)
# d/dx erf⁻¹(x) = √π/2 exp(erf⁻¹(x)²), in terms of the output
defderiv(erf_inv_p, lambda out, x: mul(exp(mul(out, out)),
                                       np.asarray(0.5 / _1_SQRT_PI, np.dtype(x.dtype))),
         nan_safe=True)
erf_inv_p.samples = lambda rng: [((rng.uniform(-0.95, 0.95, size=(5,)),), {}),
                                 ((rng.uniform(-0.9, 0.9, size=(2, 3)),), {})]


def erf_inv(x):
    """The inverse of erf on (-1, 1); ±inf at ±1, NaN outside."""
    return erf_inv_p.bind(x)
