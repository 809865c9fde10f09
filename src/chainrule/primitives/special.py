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


# ------------------------------------------------------------------ erfinv ---
# Initial guess: M. Giles' single-precision approximation ("Approximating the
# erfinv function", GPU Computing Gems, 2011); then Halley steps on
# erf(y) = x (|x| <= 1/2) or erfc(y) = 1 - |x| (|x| > 1/2, where 1 - |x| is
# exact), so the result inherits Cody's erf/erfc accuracy (~1 ulp in float64).

_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727,
                  1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _erfcinv_abs(q, a=None):
    """y >= 0 with erfc(y) = q (and erf(y) = a = 1 - q), for q in (0, 1].

    ``q`` must be exact where q < 1/2 and ``a`` where q >= 1/2."""
    if a is None:
        a = 1.0 - q                                      # exact for q >= 1/2
    w = -np.log(q * (2.0 - q))
    central = w < 5.0
    wc = np.where(central, w - 2.5, np.sqrt(w) - 3.0)
    p = np.where(central, _GILES_CENTRAL[0], _GILES_TAIL[0])
    for c, t in zip(_GILES_CENTRAL[1:], _GILES_TAIL[1:], strict=True):
        p = np.where(central, c, t) + p * wc
    y = p * a
    # far tail (beyond float32's range): erfc(y) ~ exp(-y²)/(y√π)
    lq = -np.log(q)
    y = np.where(q < 1e-7, np.sqrt(lq - 0.5 * np.log(lq) - 0.5 * math.log(math.pi)), y)
    tail = q < 0.5
    # In the tail first Newton on log erfc(y) = log q, which converges from
    # the guess even where erfc(y) is tiny.
    for _ in range(4):
        erfc_y = _cody(y)[1]
        step = (np.log(erfc_y) - np.log(q)) * erfc_y / (-2 * _1_SQRT_PI * np.exp(-y * y))
        y = np.where(tail, y - step, y)
    for _ in range(2):
        erf_y, erfc_y = _cody(y)
        # f = erf(y) - a  or  -(erfc(y) - q); f' = 2/√π exp(-y²) either way
        f = np.where(tail, q - erfc_y, erf_y - a)
        step = f / (2 * _1_SQRT_PI * np.exp(-y * y))
        y = y - step / (1.0 + y * step)                  # Halley: f'' = -2y f'
    return y


def _erfinv64(x):
    ax = np.abs(x)
    out = np.full(x.shape, np.nan)
    with np.errstate(all="ignore"):
        ok = ax < 1
        a = ax[ok]
        y = _erfcinv_abs(1.0 - a, a)                     # 1 - a exact for a > 1/2
        # tiny |x|: erfinv(x) = √π/2 x (1 + π x²/12 + ...), exact to rounding
        out[ok] = np.where(a < 1e-8, a * (0.5 / _1_SQRT_PI), y)
        out[ax == 1] = np.inf
        out = np.where(np.signbit(x), -out, out)
        out[np.isnan(x)] = np.nan
    return out


def _ndtri64(p):
    """Φ⁻¹(p) = -√2 erfcinv(2p); 2p and 2(1 - p) are exact."""
    out = np.full(p.shape, np.nan)
    with np.errstate(all="ignore"):
        lo = (p > 0) & (p < 0.5)
        out[lo] = -math.sqrt(2) * _erfcinv_abs(2.0 * p[lo])
        hi = (p >= 0.5) & (p < 1)
        out[hi] = math.sqrt(2) * _erfcinv_abs(2.0 * (1.0 - p[hi]))
        out[p == 0] = -np.inf
        out[p == 1] = np.inf
    return out


def _ndtri_impl(p):
    p = np.asarray(p)
    return np.asarray(_ndtri64(p.astype(np.float64)), dtype=p.dtype)


def _erfinv_impl(x):
    x = np.asarray(x)
    return np.asarray(_erfinv64(x.astype(np.float64)), dtype=x.dtype)


erf_inv_p = _unary("erf_inv", _erfinv_impl)
# d/dx erfinv(x) = √π/2 exp(erfinv(x)²)
defderiv(erf_inv_p, lambda out, x: mul(exp(mul(out, out)),
                                       np.asarray(0.5 / _1_SQRT_PI, np.dtype(x.dtype))))


def erf_inv(x):
    return erf_inv_p.bind(x)


ndtri_p = _unary("ndtri", _ndtri_impl)
# d/dp Φ⁻¹(p) = √(2π) exp(Φ⁻¹(p)²/2)
defderiv(ndtri_p, lambda out, p: mul(exp(mul(mul(out, out), np.asarray(0.5, np.dtype(p.dtype)))),
                                     np.asarray(math.sqrt(2 * math.pi), np.dtype(p.dtype))))


def ndtri(p):
    return ndtri_p.bind(p)


erf_inv_p.samples = unary_samples(-0.9, 0.9)
ndtri_p.samples = unary_samples(0.05, 0.95)
