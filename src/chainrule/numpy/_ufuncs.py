"""NumPy's elementwise functions, on arrays and tracers alike.

Each promotes its arguments the way NumPy does and binds one primitive (or a
short, numerically careful composition of them).
"""

from __future__ import annotations

import numpy as np

from ..primitives import elementwise as ew
from ._promote import asarray, cast, float_dtype, promote, promote_float


def _unary_float(prim_fn, name):
    def f(x, /):
        x = asarray(x, name)
        return prim_fn(cast(x, float_dtype(x.dtype)))
    f.__name__ = name
    f.__doc__ = f"NumPy's ``{name}``, differentiable (integers compute in floating point)."
    return f


def _binary(prim_fn, name, floating=False):
    def f(x1, x2, /):
        a, b = (promote_float if floating else promote)(x1, x2, fname=name)
        return prim_fn(a, b)
    f.__name__ = name
    f.__doc__ = f"NumPy's ``{name}`` with broadcasting and dtype promotion."
    return f


add = _binary(ew.add, "add")
subtract = _binary(ew.sub, "subtract")
multiply = _binary(ew.mul, "multiply")


def divide(x1, x2, /):
    """NumPy's ``true_divide``: integers and booleans divide in float64
    (whatever their width, unlike ``exp`` which computes int8 in float16)."""
    a, b = promote(x1, x2, fname="divide")
    if a.dtype.kind in "biu":
        a, b = cast(a, np.float64), cast(b, np.float64)
    return ew.div(a, b)


true_divide = divide
maximum = _binary(ew.max_, "maximum")
minimum = _binary(ew.min_, "minimum")
arctan2 = _binary(ew.atan2, "arctan2", floating=True)
fmod = _binary(ew.rem, "fmod")
equal = _binary(ew.eq, "equal")
not_equal = _binary(ew.ne, "not_equal")
less = _binary(ew.lt, "less")
less_equal = _binary(ew.le, "less_equal")
greater = _binary(ew.gt, "greater")
greater_equal = _binary(ew.ge, "greater_equal")

exp = _unary_float(ew.exp, "exp")
log = _unary_float(ew.log, "log")
log1p = _unary_float(ew.log1p, "log1p")
expm1 = _unary_float(ew.expm1, "expm1")
sin = _unary_float(ew.sin, "sin")
cos = _unary_float(ew.cos, "cos")
tan = _unary_float(ew.tan, "tan")
arcsin = _unary_float(ew.asin, "arcsin")
arccos = _unary_float(ew.acos, "arccos")
arctan = _unary_float(ew.atan, "arctan")
sinh = _unary_float(ew.sinh, "sinh")
cosh = _unary_float(ew.cosh, "cosh")
tanh = _unary_float(ew.tanh, "tanh")
arcsinh = _unary_float(ew.asinh, "arcsinh")
arccosh = _unary_float(ew.acosh, "arccosh")
arctanh = _unary_float(ew.atanh, "arctanh")
sqrt = _unary_float(ew.sqrt, "sqrt")
cbrt = _unary_float(ew.cbrt, "cbrt")


def negative(x, /):
    return ew.neg(asarray(x, "negative"))


def positive(x, /):
    return asarray(x, "positive")


def absolute(x, /):
    x = asarray(x, "absolute")
    return x if x.dtype.kind in "bu" else ew.abs_(x)


abs = absolute  # noqa: A001  (NumPy's name)


def sign(x, /):
    return ew.sign(asarray(x, "sign"))


def _rounding(prim_fn, name):
    def f(x, /):
        x = asarray(x, name)
        return x if x.dtype.kind in "biu" else prim_fn(x)
    f.__name__ = name
    return f


floor = _rounding(ew.floor, "floor")
ceil = _rounding(ew.ceil, "ceil")
rint = _rounding(ew.round_, "rint")


def trunc(x, /):
    x = asarray(x, "trunc")
    return x if x.dtype.kind in "biu" else where(less(x, 0), ceil(x), floor(x))


def round(a, decimals=0):  # noqa: A001
    a = asarray(a, "round")
    if decimals == 0:
        return rint(a)
    scale = 10.0 ** decimals
    return divide(rint(a * scale), scale)


around = round


def square(x, /):
    return power(x, 2)


def reciprocal(x, /):
    x = asarray(x, "reciprocal")
    return divide(np.ones((), x.dtype), x)


def power(x1, x2, /):
    """``x1 ** x2``; an integer exponent known at trace time uses integer_pow,
    whose derivative is exact for negative bases."""
    if isinstance(x2, (int, np.integer)) and not isinstance(x2, bool):
        x1 = asarray(x1, "power")
        if x1.dtype.kind in "fc" or x2 >= 0:
            return ew.integer_pow(x1, int(x2))
    a, b = promote(x1, x2, fname="power")
    return ew.pow(a, b)


def _float_power(a, b):
    wide = np.complex128 if a.dtype.kind == "c" else np.float64  # as NumPy
    return ew.pow(cast(a, wide), cast(b, wide))


float_power = _binary(_float_power, "float_power")


def _real_only(fname, *xs):
    """NumPy defines these for real numbers only; so do we (no silent answer)."""
    for x in xs:
        if np.dtype(x.dtype).kind == "c":
            raise TypeError(f"{fname}: not supported for complex input (got "
                            f"{np.dtype(x.dtype).name}), as in NumPy")


def exp2(x, /):
    x = asarray(x, "exp2")
    return exp(multiply(x, np.asarray(np.log(2), float_dtype(x.dtype))))


def log2(x, /):
    x = asarray(x, "log2")
    return divide(log(x), np.asarray(np.log(2), float_dtype(x.dtype)))


def log10(x, /):
    x = asarray(x, "log10")
    return divide(log(x), np.asarray(np.log(10), float_dtype(x.dtype)))


def logaddexp(x1, x2, /):
    """log(exp(x1) + exp(x2)) without overflow."""
    a, b = promote_float(x1, x2, fname="logaddexp")
    m = ew.stop_gradient(maximum(a, b))
    m = where(isfinite(m), m, np.zeros((), m.dtype))
    return add(m, log(exp(a - m) + exp(b - m)))


def logaddexp2(x1, x2, /):
    a, b = promote_float(x1, x2, fname="logaddexp2")
    ln2 = np.asarray(np.log(2), a.dtype)
    return divide(logaddexp(a * ln2, b * ln2), ln2)


def hypot(x1, x2, /):
    a, b = promote_float(x1, x2, fname="hypot")
    _real_only("hypot", a)
    return sqrt(a * a + b * b)


def remainder(x1, x2, /):
    """Python's ``%``: the result has the sign of the divisor."""
    a, b = promote(x1, x2, fname="remainder")
    return subtract(a, multiply(floor_divide(a, b), b))


mod = remainder


def floor_divide(x1, x2, /):
    a, b = promote(x1, x2, fname="floor_divide")
    if a.dtype.kind == "b":
        a, b = cast(a, np.int8), cast(b, np.int8)
    if a.dtype.kind in "iu":
        return ew.floor_div_p.bind(a, b)
    return ew.stop_gradient(floor(ew.div(a, b)))


def fmax(x1, x2, /):
    a, b = promote(x1, x2, fname="fmax")
    return where(isnan(b), a, where(isnan(a), b, maximum(a, b)))


def fmin(x1, x2, /):
    a, b = promote(x1, x2, fname="fmin")
    return where(isnan(b), a, where(isnan(a), b, minimum(a, b)))


def clip(a, a_min=None, a_max=None):
    a = asarray(a, "clip")
    if a_min is None and a_max is None:
        raise ValueError("clip: one of a_min and a_max must be given")
    dtype = np.result_type(*(v if isinstance(v, (int, float)) else asarray(v).dtype
                             for v in (a, a_min, a_max) if v is not None))
    a = cast(a, dtype)
    lo = cast(-np.inf if a_min is None else a_min, dtype) if dtype.kind == "f" else cast(
        np.iinfo(dtype).min if a_min is None else a_min, dtype)
    hi = cast(np.inf if a_max is None else a_max, dtype) if dtype.kind == "f" else cast(
        np.iinfo(dtype).max if a_max is None else a_max, dtype)
    return ew.clamp(a, lo, hi)


def where(condition, x=None, y=None, /):
    """Select from ``x`` where ``condition`` holds, else from ``y``.

    Only the chosen branch receives gradient, so ``where(x > 0, sqrt(x), 0)``
    has a finite gradient at ``x <= 0`` as long as the unchosen branch is
    finite; guard the input too (``sqrt(where(x > 0, x, 1))``) when it is not.
    """
    if x is None or y is None:
        raise NotImplementedError("where(condition) with one argument: use nonzero on "
                                  "a concrete array")
    cond = asarray(condition, "where")
    if cond.dtype != np.bool_:
        cond = not_equal(cond, 0)
    a, b = promote(x, y, fname="where")
    return ew.select(cond, a, b)


def logical_and(x1, x2, /):
    return ew.and_(cast(asarray(x1), bool), cast(asarray(x2), bool))


def logical_or(x1, x2, /):
    return ew.or_(cast(asarray(x1), bool), cast(asarray(x2), bool))


def logical_xor(x1, x2, /):
    return ew.xor(cast(asarray(x1), bool), cast(asarray(x2), bool))


def logical_not(x, /):
    return ew.not_(cast(asarray(x), bool))


def isnan(x, /):
    x = asarray(x, "isnan")
    return not_equal(x, x) if x.dtype.kind in "fc" else cast(np.zeros(np.shape(x)), bool)


def isinf(x, /):
    x = asarray(x, "isinf")
    if x.dtype.kind not in "fc":
        return cast(np.zeros(np.shape(x)), bool)
    return equal(ew.abs_(ew.stop_gradient(x)), np.asarray(np.inf, x.dtype))


def isfinite(x, /):
    x = asarray(x, "isfinite")
    return logical_not(logical_or(isnan(x), isinf(x)))


def deg2rad(x, /):
    x = asarray(x, "deg2rad")
    return multiply(x, np.asarray(np.pi / 180, float_dtype(x.dtype)))


def rad2deg(x, /):
    x = asarray(x, "rad2deg")
    return multiply(x, np.asarray(180 / np.pi, float_dtype(x.dtype)))


radians, degrees = deg2rad, rad2deg


def sinc(x, /):
    x = asarray(x, "sinc")
    x = cast(x, float_dtype(x.dtype))
    px = x * np.asarray(np.pi, x.dtype)
    zero = equal(x, 0)
    safe = where(zero, np.ones((), x.dtype), px)
    return where(zero, np.ones((), x.dtype), sin(safe) / safe)


def heaviside(x1, x2, /):
    a, b = promote(x1, x2, fname="heaviside")
    _real_only("heaviside", a)
    zero = np.zeros((), a.dtype)
    return ew.stop_gradient(where(less(a, 0), zero, where(greater(a, 0), np.ones((), a.dtype), b)))


def signbit(x, /):
    x = asarray(x)
    _real_only("signbit", x)
    return less(x, 0)


def copysign(x1, x2, /):
    a, b = promote_float(x1, x2, fname="copysign")
    _real_only("copysign", a)
    return where(signbit(b), -absolute(a), absolute(a))


def stop_gradient(x):
    """The value of ``x``, treated as a constant by every derivative."""
    return ew.stop_gradient(asarray(x, "stop_gradient"))


def fix(x, /):
    """Round towards zero (``trunc``); zero derivative."""
    return trunc(x)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN and infinities replaced by finite numbers; the gradient passes
    through where ``x`` was finite and is zero where it was replaced."""
    x = asarray(x, "nan_to_num")
    if x.dtype.kind not in "fc":
        return x
    info = np.finfo(x.dtype)
    big = np.asarray(info.max if posinf is None else posinf, x.dtype)
    small = np.asarray(info.min if neginf is None else neginf, x.dtype)
    inf = np.asarray(np.inf, x.dtype)
    out = where(equal(x, inf), big, where(equal(x, -inf), small, x))
    return where(isnan(x), np.asarray(nan, x.dtype), out)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|a - b| <= atol + rtol * |b|`` elementwise, as NumPy (infinities are
    close only to themselves). Works on traced values; no derivative."""
    a, b = promote(ew.stop_gradient(asarray(a, "isclose")),
                   ew.stop_gradient(asarray(b, "isclose")), fname="isclose")
    if a.dtype.kind not in "fc":
        a, b = cast(a, np.float64), cast(b, np.float64)
    finite = logical_and(isfinite(a), isfinite(b))
    tol = np.asarray(atol, a.dtype) + np.asarray(rtol, a.dtype) * absolute(b)
    zero = np.zeros((), a.dtype)
    diff = absolute(where(finite, a, zero) - where(finite, b, zero))  # no inf - inf
    out = where(finite, less_equal(diff, tol), equal(a, b))
    return logical_or(out, logical_and(isnan(a), isnan(b))) if equal_nan else out


def _concrete_bool(x, fname):
    from ..core import Tracer
    while isinstance(x, Tracer):
        x = x._concrete(f"{fname} (it returns a Python bool)")
    return bool(np.all(x))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Python ``bool``: whether every element is ``isclose``. Needs concrete
    values (it works under grad/jvp, not under make_jaxpr/jit)."""
    return _concrete_bool(isclose(a, b, rtol, atol, equal_nan), "allclose")


def array_equal(a1, a2, equal_nan=False):
    """Python ``bool``: same shape and equal elements (needs concrete values)."""
    a1, a2 = asarray(a1, "array_equal"), asarray(a2, "array_equal")
    if np.shape(a1) != np.shape(a2):
        return False
    eq = equal(a1, a2)
    if equal_nan:
        eq = logical_or(eq, logical_and(isnan(a1), isnan(a2)))
    return _concrete_bool(eq, "array_equal")


def array_equiv(a1, a2):
    """Python ``bool``: equal after broadcasting (needs concrete values)."""
    a1, a2 = asarray(a1, "array_equiv"), asarray(a2, "array_equiv")
    try:
        np.broadcast_shapes(np.shape(a1), np.shape(a2))
    except ValueError:
        return False
    return _concrete_bool(equal(a1, a2), "array_equiv")


# ----------------------------------------------------------- bitwise ---
# Integer and boolean operands only (as in NumPy); Python ints are weakly
# typed, so ``x << 3`` keeps ``x``'s dtype. On booleans and/or/xor/not are
# the logical operations.

def _bitwise(prim_fn, name):
    def f(x1, x2, /):
        a, b = promote(x1, x2, fname=name)
        if a.dtype.kind not in "biu":
            raise TypeError(f"{name}: needs integer or boolean arrays, got {a.dtype}")
        return prim_fn(a, b)
    f.__name__ = name
    f.__doc__ = f"NumPy's ``{name}`` on integer and boolean arrays."
    return f


def _shift(name, left):
    def f(x1, x2, /):
        from ..primitives import bitwise as bw
        a, b = promote(x1, x2, fname=name)
        if a.dtype.kind not in "iu":
            raise TypeError(f"{name}: needs integer arrays, got {a.dtype}")
        return (bw.shift_left if left else bw.shift_right_arithmetic)(a, b)
    f.__name__ = name
    f.__doc__ = (f"NumPy's ``{name}``" + ("" if left else " (arithmetic for signed "
                                           "integers, logical for unsigned)") + ".")
    return f


def _bw(name):
    from ..primitives import bitwise as bw
    return getattr(bw, name)


bitwise_and = _bitwise(lambda a, b: _bw("bitwise_and")(a, b), "bitwise_and")
bitwise_or = _bitwise(lambda a, b: _bw("bitwise_or")(a, b), "bitwise_or")
bitwise_xor = _bitwise(lambda a, b: _bw("bitwise_xor")(a, b), "bitwise_xor")
left_shift = _shift("left_shift", True)
right_shift = _shift("right_shift", False)
bitwise_left_shift = left_shift
bitwise_right_shift = right_shift


def bitwise_not(x, /):
    """NumPy's ``invert`` (``~``) on integer and boolean arrays."""
    x = asarray(x, "bitwise_not")
    if x.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not: needs integer or boolean arrays, got {x.dtype}")
    return _bw("bitwise_not")(x)


invert = bitwise_invert = bitwise_not
