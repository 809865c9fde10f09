"""Shared pieces of the distributions: argument promotion and safe masks."""

from __future__ import annotations

import numpy as np

from ... import numpy as cnp
from ...numpy._promote import promote_float
from ...numpy._promote import scalar_like as const


def args(fname, *xs):
    """Promote to one float dtype and broadcast, naming the user's call."""
    return cnp.broadcast_arrays(*promote_float(*xs, fname=fname))


def safe(cond, x, value):
    """``x`` where ``cond``, else ``value``: a branch ``where`` discards sees a
    harmless input, so neither its value nor its derivative is NaN or warns."""
    return cnp.where(cond, x, const(value, x))


def ninf_unless(cond, val):
    return cnp.where(cond, val, const(-np.inf, val))


def zero_unless(cond, val):
    return cnp.where(cond, val, const(0, val))


def standardize(fname, x, loc, scale):
    """(z, scale) with z = (x - loc)/scale and the rest broadcast."""
    x, loc, scale = args(fname, x, loc, scale)
    return (x - loc) / scale, scale


def _pole(x, val, at_pole):
    """``val``, but ±inf where the logarithm's argument is 0 and x != 0."""
    inf = cnp.where(cnp.greater(x, 0), const(-np.inf, val), const(np.inf, val))
    return cnp.where(cnp.logical_and(at_pole, cnp.not_equal(x, 0)), inf, val)


def xlogy(x, y):
    """scipy.special.xlogy without log(0)'s divide warning."""
    from ..special import xlogy as _xlogy
    x, y = args("xlogy", x, y)
    at = cnp.equal(y, 0)
    return _pole(x, _xlogy(x, safe(cnp.logical_not(at), y, 1.0)), at)


def xlog1py(x, y):
    """scipy.special.xlog1py without log1p(-1)'s divide warning."""
    from ..special import xlog1py as _xlog1py
    x, y = args("xlog1py", x, y)
    at = cnp.equal(y, -1)
    return _pole(x, _xlog1py(x, safe(cnp.logical_not(at), y, 0.0)), at)


def log0(p):
    """``log(p)`` that is -inf at p == 0 without a divide warning."""
    pos = cnp.greater(p, 0)
    return ninf_unless(pos, cnp.log(safe(pos, p, 1.0)))


def quantile(q, fn, at0, at1):
    """``fn(q)`` on (0, 1), the limits ``at0``/``at1`` at the ends, NaN outside;
    ``fn`` only sees q in (0, 1)."""
    inside = cnp.logical_and(cnp.greater(q, 0), cnp.less(q, 1))
    val = fn(safe(inside, q, 0.5))
    val = cnp.where(cnp.equal(q, 0), const(at0, val), val)
    val = cnp.where(cnp.equal(q, 1), const(at1, val), val)
    ok = cnp.logical_and(cnp.greater_equal(q, 0), cnp.less_equal(q, 1))
    return cnp.where(ok, val, const(np.nan, val))


def is_integer(k):
    return cnp.logical_and(cnp.equal(k, cnp.floor(k)), cnp.isfinite(k))


def log_diff_exp(a, b):
    """``log(exp(a) - exp(b))`` for a >= b, stably (-inf where a == b)."""
    d = b - a
    lt = cnp.less(d, 0)
    return ninf_unless(lt, a + cnp.log(-cnp.expm1(safe(lt, d, -1.0))))


__all__ = ["args", "const", "safe", "ninf_unless", "zero_unless", "standardize",
           "is_integer", "log_diff_exp", "log0", "quantile", "xlogy", "xlog1py", "np", "cnp"]
