"""Incomplete gamma and beta, Bessel i0e/i1e, Hurwitz zeta, Spence's function.

Vectorised NumPy in float64 (SciPy is not a runtime dependency), returning
the dtype of ``x``:

- ``igamma(a, x)`` = P(a, x), ``igammac(a, x)`` = Q(a, x) = 1 - P: the power
  series ``P = x^a e^-x / Γ(a+1) · Σ xⁿ / ((a+1)…(a+n))`` where x < a + 1,
  else Legendre's continued fraction for Q (modified Lentz), so that the
  smaller of P and Q is always the one computed directly.
- ``betainc(a, b, x)`` = I_x(a, b): the continued fraction of the
  incomplete beta function, on ``1 - I_{1-x}(b, a)`` when
  x > (a + 1)/(a + b + 2) where it converges fast.
- ``bessel_i0e``/``bessel_i1e``: e^-|x| I₀(x), e^-|x| I₁(x) by the power
  series (all terms positive, no cancellation) for |x| <= 30 and the
  Hankel asymptotic series beyond.
- ``zeta(s, q)``: Hurwitz ζ by Euler–Maclaurin summation (12 terms, then
  ten Bernoulli corrections); ``spence(z) = Li₂(1 - z)`` by the power series
  of the dilogarithm on |t| <= 1/2 with the reflection, Landen and
  inversion identities elsewhere.

Derivatives: with respect to ``x`` only (∂P/∂x = x^(a-1) e^-x / Γ(a),
∂I/∂x = x^(a-1)(1-x)^(b-1)/B(a, b), i0e' = i1e - sign(x) i0e,
i1e' = i0e - i1e (sign(x) + 1/x), ∂ζ/∂q = -s ζ(s + 1, q),
spence'(z) = log z / (1 - z)). Derivatives with respect to the shape
parameters ``a``, ``b`` (and ζ's ``s``) raise NotImplementedError naming the argument; the
shape parameters may be integer arrays (they are then not differentiated).
"""

from __future__ import annotations

import math

import numpy as np

from ..batching import batch_elementwise
from ..core import Primitive, ShapedArray, is_float
from ._helpers import broadcast_shapes, defderiv, float_only
from .special import _lgamma64, _real_only

_EPS = 1e-16
_TINY = 1e-300


def _igamma_both(a, x):
    """(P(a, x), Q(a, x)) in float64, elementwise over broadcast a, x."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    p, q = np.full(a.shape, np.nan), np.full(a.shape, np.nan)
    with np.errstate(all="ignore"):
        ok = (a > 0) & (x > 0) & np.isfinite(a)
        logfront = np.where(ok, a * np.log(np.where(ok, x, 1)) - x
                            - _lgamma64(np.where(ok, a, 1)), 0.0)
        ser = ok & (x < a + 1) & np.isfinite(x)
        aa, xx = a[ser], x[ser]
        term = 1.0 / aa
        total = term.copy()
        ap = aa.copy()
        active = np.ones(aa.shape, bool)
        for _ in range(10000):
            if not active.any():
                break
            ap = ap + 1.0
            term = np.where(active, term * xx / ap, 0.0)
            total = total + term
            active = np.abs(term) > np.abs(total) * _EPS
        p[ser] = total * np.exp(logfront[ser])
        q[ser] = 1.0 - p[ser]

        cf = ok & ~ser & np.isfinite(x)
        aa, xx = a[cf], x[cf]
        b = xx + 1.0 - aa
        c = np.full(aa.shape, 1.0 / _TINY)
        d = 1.0 / b
        h = d.copy()
        active = np.ones(aa.shape, bool)
        for i in range(1, 10000):
            if not active.any():
                break
            an = -i * (i - aa)
            b = b + 2.0
            d = an * d + b
            d = np.where(np.abs(d) < _TINY, _TINY, d)
            c = b + an / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            d = 1.0 / d
            delta = np.where(active, d * c, 1.0)
            h = h * delta
            active = np.abs(delta - 1.0) > _EPS
        q[cf] = np.exp(logfront[cf]) * h
        p[cf] = 1.0 - q[cf]

        zero = (x == 0) & (a > 0)
        p[zero], q[zero] = 0.0, 1.0
        azero = (a == 0) & (x > 0)                       # SciPy: P(0, x) = 1
        p[azero], q[azero] = 1.0, 0.0
        inf = (x == np.inf) & (a > 0) & np.isfinite(a)
        p[inf], q[inf] = 1.0, 0.0
    return p, q


def _betainc64(a, b, x):
    a, b, x = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (a, b, x)))
    out = np.full(a.shape, np.nan)
    with np.errstate(all="ignore"):
        ok = (a > 0) & (b > 0) & (x > 0) & (x < 1)
        flip = ok & (x > (a + 1.0) / (a + b + 2.0))
        aa = np.where(flip, b, a)[ok]
        bb = np.where(flip, a, b)[ok]
        xx = np.where(flip, 1.0 - x, x)[ok]
        lbeta = _lgamma64(aa) + _lgamma64(bb) - _lgamma64(aa + bb)
        front = np.exp(aa * np.log(xx) + bb * np.log1p(-xx) - lbeta) / aa
        # modified Lentz on 1/(1+ d1/(1+ d2/(1+ ...)))
        f = np.ones(aa.shape)
        c = np.ones(aa.shape)
        d = np.zeros(aa.shape)
        active = np.ones(aa.shape, bool)
        for i in range(0, 20000):
            if not active.any():
                break
            m = i // 2
            if i == 0:
                num = np.ones(aa.shape)
            elif i % 2 == 0:
                num = m * (bb - m) * xx / ((aa + 2 * m - 1) * (aa + 2 * m))
            else:
                num = -((aa + m) * (aa + bb + m) * xx) / ((aa + 2 * m) * (aa + 2 * m + 1))
            d = 1.0 + num * d
            d = np.where(np.abs(d) < _TINY, _TINY, d)
            d = 1.0 / d
            c = 1.0 + num / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            cd = np.where(active, c * d, 1.0)
            f = f * cd
            active = np.abs(cd - 1.0) > _EPS
        val = front * (f - 1.0)
        out[ok] = np.where(flip[ok], 1.0 - val, val)
        out[(x == 0) & (a > 0) & (b > 0)] = 0.0
        out[(x == 1) & (a > 0) & (b > 0)] = 1.0
    return out


def _i0e_i1e(x):
    ax = np.abs(np.asarray(x, np.float64))
    i0, i1 = np.full(ax.shape, np.nan), np.full(ax.shape, np.nan)
    with np.errstate(all="ignore"):
        small = ax <= 30
        z = ax[small]
        y = 0.25 * z * z
        t0 = np.ones(z.shape)
        s0 = t0.copy()
        t1 = 0.5 * z
        s1 = t1.copy()
        for k in range(1, 120):
            t0 = t0 * y / (k * k)
            t1 = t1 * y / (k * (k + 1))
            s0 = s0 + t0
            s1 = s1 + t1
        e = np.exp(-z)
        i0[small], i1[small] = s0 * e, s1 * e
        big = (ax > 30) & np.isfinite(ax)
        z = ax[big]
        # e^-x I_nu(x) ~ (2πx)^-1/2 Σ (-1)^k Π_{j<=k} (4ν² - (2j-1)²) / (k! (8x)^k)
        for nu, out in ((0, i0), (1, i1)):
            term = np.ones(z.shape)
            total = term.copy()
            for k in range(1, 40):
                term = -term * (4 * nu * nu - (2 * k - 1) ** 2) / (k * 8 * z)
                total = total + term
            out[big] = total / np.sqrt(2 * math.pi * z)
        i0[ax == np.inf], i1[ax == np.inf] = 0.0, 0.0
        i1 = np.where(np.signbit(x), -i1, i1)
    return i0, i1


def _zeta64(s, q):
    """Hurwitz ζ(s, q) = Σ (q + k)^-s for s > 1, q > 0 (Euler–Maclaurin, N = 12)."""
    from .special import _BERNOULLI
    s, q = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(q, np.float64))
    out = np.full(s.shape, np.nan)
    with np.errstate(all="ignore"):
        ok = (s > 1) & (q > 0)
        ss, qq = s[ok], q[ok]
        n = 12
        total = np.zeros(ss.shape)
        for k in range(n):
            total = total + (qq + k) ** -ss
        w = qq + n
        total = total + w ** (1 - ss) / (ss - 1) + 0.5 * w ** -ss
        fact = ss / w ** (ss + 1)                        # s(s+1)...(s+2j-2) w^(-s-2j+1)
        for j, b2j in enumerate(_BERNOULLI, start=1):
            total = total + b2j / math.factorial(2 * j) * fact
            fact = fact * (ss + 2 * j - 1) * (ss + 2 * j) / (w * w)
        out[ok] = total
        out[(s == 1) & (q > 0)] = np.inf
        out[(q <= 0) & (q == np.round(q)) & (s > 1)] = np.inf
        out[(s == np.inf) & (q > 0)] = np.where(q[(s == np.inf) & (q > 0)] == 1, 1.0,
                                                 np.where(q[(s == np.inf) & (q > 0)] < 1,
                                                          np.inf, 0.0))
    return out


def _li2_small(t):
    """Σ tᵏ/k² for |t| <= 1/2."""
    total = np.zeros(t.shape)
    power = np.ones(t.shape)
    for k in range(1, 64):
        power = power * t
        total = total + power / (k * k)
    return total


def _li2_le_half(t):
    """Li₂(t) for t <= 1/2 (Landen's identity below -1/2, inversion below -1)."""
    out = np.empty(t.shape)
    with np.errstate(all="ignore"):
        m = np.abs(t) <= 0.5
        out[m] = _li2_small(t[m])
        m = (t < -0.5) & (t >= -1)
        u = t[m]
        out[m] = -_li2_small(u / (u - 1)) - 0.5 * np.log1p(-u) ** 2
        m = t < -1
        v = 1.0 / t[m]                                   # in (-1, 0)
        inner = np.where(v >= -0.5, _li2_small(np.maximum(v, -0.5)),
                         -_li2_small(v / (v - 1)) - 0.5 * np.log1p(-v) ** 2)
        out[m] = -math.pi ** 2 / 6 - 0.5 * np.log(-t[m]) ** 2 - inner
    return out


def _spence64(z):
    """SciPy's spence(z) = ∫₁ᶻ log t / (1 - t) dt = Li₂(1 - z), z >= 0."""
    z = np.asarray(z, np.float64)
    out = np.full(z.shape, np.nan)
    with np.errstate(all="ignore"):
        m = z >= 0.5                                     # t = 1 - z <= 1/2 (exact)
        out[m] = _li2_le_half(1.0 - z[m])
        m = (z >= 0) & (z < 0.5)                         # Li₂(t) = π²/6 - log t log z - Li₂(z)
        zz = z[m]
        out[m] = (math.pi ** 2 / 6 - np.where(zz > 0, np.log1p(-zz) * np.log(zz), 0.0)
                  - _li2_small(zz))
        out[z == np.inf] = np.nan                        # as SciPy
    return out


# ------------------------------------------------------------ primitives ---

def _shape_aval(name, *avals):
    for v in avals:
        _real_only(name, v)
    x = avals[-1]
    float_only(name, x)
    for v in avals[:-1]:
        if np.dtype(v.dtype).kind not in "biuf":
            raise TypeError(f"{name}: shape parameters must be real, got {np.dtype(v.dtype)}")
    return ShapedArray(broadcast_shapes(name, *(v.shape for v in avals)), np.dtype(x.dtype))


def _no_shape_deriv(name, arg):
    def partial(out, *xs, **params):
        raise NotImplementedError(
            f"{name}: the derivative with respect to the shape parameter '{arg}' is not "
            f"implemented (only with respect to x)")
    return partial


def _prim(name, impl, nargs):
    prim = Primitive(name)
    prim.impl = lambda *xs: np.asarray(impl(*xs), np.asarray(xs[-1]).dtype)
    prim.abstract_eval = lambda *avals: _shape_aval(name, *avals)
    prim.batch = batch_elementwise(prim)
    return prim


def _igamma_da64(a, x):
    """dP(a, x)/da from the series P = sum_n exp((a + n) log x - x - lgamma(a + n + 1)),
    term by term: each term times (log x - digamma(a + n + 1)). Terms decay once
    n > x, so about x + 20 sqrt(x) of them are summed (x up to ~1e4)."""
    from .special import _digamma_impl
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    out = np.zeros(a.shape)
    with np.errstate(all="ignore"):
        lx = np.log(x)
        top = float(np.nanmax(np.where(np.isfinite(x), x, 0), initial=0))
        for n in range(int(min(20000, 50 + 2 * top + 20 * math.sqrt(top)))):
            term = np.exp((a + n) * lx - x - _lgamma64(a + n + 1))
            out += term * (lx - _digamma_impl(a + n + 1))
            if n > top and np.all(term <= 1e-18 * np.maximum(np.abs(out), 1e-300)):
                break
        out = np.where(x > 0, out, 0.0)
    return out


def _no_second_order(*args, **params):
    raise NotImplementedError(
        "gammainc/gammaincc: second derivatives with respect to the shape parameter 'a' "
        "are not implemented")


# the a-derivative of P(a, x), a primitive of its own (no derivative rules)
igamma_grad_a_p = Primitive("igamma_grad_a")
igamma_grad_a_p.impl = lambda a, x: np.asarray(_igamma_da64(a, x), np.asarray(x).dtype)
igamma_grad_a_p.abstract_eval = lambda a, x: _shape_aval("igamma_grad_a", a, x)
igamma_grad_a_p.batch = batch_elementwise(igamma_grad_a_p)
igamma_grad_a_p.jvp = igamma_grad_a_p.vjp = _no_second_order
igamma_grad_a_p.samples = lambda rng: [((rng.uniform(0.5, 4, size=3), rng.uniform(0.2, 5, size=3)),
                                        {})]

igamma_p = _prim("igamma", lambda a, x: _igamma_both(a, x)[0], 2)
igammac_p = _prim("igammac", lambda a, x: _igamma_both(a, x)[1], 2)
betainc_p = _prim("betainc", _betainc64, 3)
bessel_i0e_p = _prim("bessel_i0e", lambda x: _i0e_i1e(x)[0], 1)
bessel_i1e_p = _prim("bessel_i1e", lambda x: _i0e_i1e(x)[1], 1)
zeta_p = _prim("zeta", _zeta64, 2)
spence_p = _prim("spence", _spence64, 1)


def _cnp():
    from .. import numpy as cnp
    return cnp


def _gamma_density(a, x):
    cnp = _cnp()
    from .special import lgamma
    a = cnp.asarray(a).astype(x.dtype) if not is_float(np.dtype(a.dtype)) else a
    safe = cnp.where(cnp.greater(x, 0), x, cnp.ones_like(x))
    dens = cnp.exp((a - 1) * cnp.log(safe) - safe - lgamma(a))
    return cnp.where(cnp.greater(x, 0), dens, cnp.zeros_like(dens))


def _beta_density(a, b, x):
    cnp = _cnp()
    from .special import lgamma
    a = a.astype(x.dtype) if not is_float(np.dtype(a.dtype)) else a
    b = b.astype(x.dtype) if not is_float(np.dtype(b.dtype)) else b
    inside = cnp.logical_and(cnp.greater(x, 0), cnp.less(x, 1))
    safe = cnp.where(inside, x, cnp.full_like(x, 0.5))
    dens = cnp.exp((a - 1) * cnp.log(safe) + (b - 1) * cnp.log1p(-safe)
                   - lgamma(a) - lgamma(b) + lgamma(a + b))
    return cnp.where(inside, dens, cnp.zeros_like(dens))


def _igamma_da(out, a, x):
    if not is_float(np.dtype(a.dtype)):
        return _no_shape_deriv("gammainc", "a")(out, a, x)  # integer a: not differentiated
    return igamma_grad_a_p.bind(a, x)


defderiv(igamma_p, _igamma_da, lambda out, a, x: _gamma_density(a, x))
defderiv(igammac_p, lambda out, a, x: -_igamma_da(out, a, x),
         lambda out, a, x: -_gamma_density(a, x))
defderiv(betainc_p, _no_shape_deriv("betainc", "a"), _no_shape_deriv("betainc", "b"),
         lambda out, a, b, x: _beta_density(a, b, x))


def _i0e_deriv(out, x):
    cnp = _cnp()
    return bessel_i1e(x) - cnp.sign(x) * out


def _i1e_deriv(out, x):
    cnp = _cnp()
    nz = cnp.not_equal(x, 0)
    safe = cnp.where(nz, x, cnp.ones_like(x))
    over_x = cnp.where(nz, out / safe, cnp.full_like(x, 0.5))   # i1e(x)/x -> 1/2 at 0
    return bessel_i0e(x) - cnp.sign(x) * out - over_x


defderiv(bessel_i0e_p, _i0e_deriv)
defderiv(bessel_i1e_p, _i1e_deriv)


defderiv(zeta_p, _no_shape_deriv("zeta", "x"),
         lambda out, s, q: -s.astype(q.dtype) * zeta(s.astype(q.dtype) + 1, q)
         if not is_float(np.dtype(s.dtype)) else -s * zeta(s + 1, q))


def _spence_deriv(out, z):
    cnp = _cnp()
    near = cnp.less(cnp.abs(z - 1), 1e-6)
    safe = cnp.where(near, cnp.full_like(z, 2.0), z)
    # log z / (1 - z) -> -1 + (z - 1)/2 at z = 1
    return cnp.where(near, -1 + (z - 1) * 0.5, cnp.log(safe) / (1 - safe))


defderiv(spence_p, _spence_deriv)


def zeta(s, q):
    return zeta_p.bind(s, q)


def spence(z):
    return spence_p.bind(z)


def igamma(a, x):
    return igamma_p.bind(a, x)


def igammac(a, x):
    return igammac_p.bind(a, x)


def betainc(a, b, x):
    return betainc_p.bind(a, b, x)


def bessel_i0e(x):
    return bessel_i0e_p.bind(x)


def bessel_i1e(x):
    return bessel_i1e_p.bind(x)


# ---------------------------------------------------------------- samples ---
# Shape parameters as integer arrays: they are not differentiated.

igamma_p.samples = lambda rng: [((np.array(a), rng.uniform(0.3, 6, size=s)), {})
                                for a, s in [(3, ()), ([1, 2, 5], (3,)), ([[2], [7]], (2, 3))]]
igammac_p.samples = igamma_p.samples
betainc_p.samples = lambda rng: [((np.array(a), np.array(b), rng.uniform(0.1, 0.9, size=s)), {})
                                 for a, b, s in [(2, 3, ()), ([2, 3, 5], 4, (3,))]]
bessel_i0e_p.samples = lambda rng: [((rng.uniform(-5, 5, size=s),), {}) for s in [(), (3,), (2, 3)]]
bessel_i1e_p.samples = bessel_i0e_p.samples
zeta_p.samples = lambda rng: [((np.array(s), rng.uniform(0.5, 4, size=sh)), {})
                              for s, sh in [(2, ()), ([2, 3, 5], (3,))]]
spence_p.samples = lambda rng: [((rng.uniform(0.1, 3, size=s),), {}) for s in [(), (3,), (2, 3)]]
