"""Complex numbers: ``real``, ``imag``, ``conj``, ``complex``, and the complex
cases of the elementwise primitives (``abs``, ``sign``, ``logistic``, dtype
conversion, and the operations that have no complex meaning).

The convention is JAX's (and autograd's). Forward mode is the ordinary
R-linear derivative: a tangent of ``z`` is a complex number ``dz`` and a
holomorphic ``f`` maps it to ``f'(z) dz``. Reverse mode is the transpose of
that map under the real pairing ``<a, b> = Re(sum(a * b))`` (no
conjugation), so a holomorphic primitive's VJP is ``ct * f'(z)``, the same
expression as for real numbers: ``defderiv``'s ``ct * partial`` is already
right and the real path pays nothing for complex support. Only the
primitives that are not holomorphic need rules of their own (and arccosh,
whose real derivative formula has a spurious branch cut), and they are
here:

==============  =====================  ==================================
primitive       JVP (tangent t)        VJP (cotangent c)
==============  =====================  ==================================
real            Re t                   c + 0i
imag            Im t                   -i c  (= complex(0, -c))
conj            conj t                 conj c
complex(x, y)   tx + i ty              (Re c, -Im c)
abs (complex)   Re(conj(z) t) / |z|    c conj(z) / |z|
sign (complex)  (t - s Re(conj(s) t))  (c - Re(c s) conj(s)) / |z|,
                / |z|, s = z / |z|     0 at z = 0
==============  =====================  ==================================

For a real-valued ``f`` of ``z = x + iy`` this gives
``grad(f)(z) = ∂f/∂x - i ∂f/∂y`` (the conjugate of the steepest-ascent
direction; PyTorch returns ``∂f/∂x + i ∂f/∂y``), and for a holomorphic ``f``
``grad(f, holomorphic=True)(z) = f'(z)``. See ``docs/complex.md``.
"""

from __future__ import annotations

import numpy as np

from ..batching import batch_elementwise
from ..core import Primitive, ShapedArray
from . import elementwise as ew
from ._helpers import broadcast_shapes, defderiv, instantiate, unbroadcast

# ----------------------------------------------------------------- dtypes ---


def real_dtype(dtype) -> np.dtype:
    """complex64 -> float32, complex128 -> float64; real dtypes unchanged."""
    dtype = np.dtype(dtype)
    return np.dtype(np.finfo(dtype).dtype) if dtype.kind == "c" else dtype


def complex_dtype(dtype) -> np.dtype:
    """float32 -> complex64, float64 -> complex128 (others via NumPy's promotion)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return dtype
    return np.dtype(np.complex64) if dtype.itemsize <= 4 else np.dtype(np.complex128)


def _is_complex(x) -> bool:
    return np.dtype(x.dtype).kind == "c"


def _need_complex(name, aval):
    if np.dtype(aval.dtype).kind != "c":
        raise TypeError(f"{name}: needs a complex operand (complex64/complex128), got "
                        f"{np.dtype(aval.dtype).name} (chainrule.numpy.{name} accepts "
                        "real arrays too)")


# ----------------------------------------------------- real, imag, conj ---

real_p = Primitive("real")
imag_p = Primitive("imag")
conj_p = Primitive("conj")



def _part_impl(name, fn):
    def impl(x):
        _need_complex(name, x)  # as under tracing (the shape rule), also eagerly
        return fn(x)
    return impl


# np.real/np.imag return views; a fresh array keeps every value we hand out
# independent of its operand (jit copies only the outputs of known views)
real_p.impl = _part_impl("real", lambda x: np.array(np.real(x)))
imag_p.impl = _part_impl("imag", lambda x: np.array(np.imag(x)))
conj_p.impl = _part_impl("conj", np.conj)


def _part_aval(name):
    def aval(x):
        _need_complex(name, x)
        return ShapedArray(tuple(x.shape), real_dtype(x.dtype))
    return aval


def _conj_aval(x):
    _need_complex("conj", x)
    return ShapedArray(tuple(x.shape), np.dtype(x.dtype))


real_p.abstract_eval = _part_aval("real")
imag_p.abstract_eval = _part_aval("imag")
conj_p.abstract_eval = _conj_aval

real_p.jvp = lambda primals, tangents, out: real(tangents[0])
imag_p.jvp = lambda primals, tangents, out: imag(tangents[0])
conj_p.jvp = lambda primals, tangents, out: conj(tangents[0])
# Re(c Re t) = Re(c t) for real c: the cotangent of z is c + 0i
real_p.vjp = lambda ct, out, x, *, wants: (
    ew.convert_element_type(ct, complex_dtype(x.dtype)),)
# Re(c Im t) = Re(-i c t): the cotangent of z is -i c = complex(0, -c)
imag_p.vjp = lambda ct, out, x, *, wants: (
    complex_(np.zeros((), ct.dtype), ew.neg(ct)),)
# Re(c conj t) = Re(conj(c) t)
conj_p.vjp = lambda ct, out, x, *, wants: (conj(ct),)

# ---------------------------------------------------------------- complex ---

complex_p = Primitive("complex")


def _complex_impl(x, y):
    x, y = np.asarray(x), np.asarray(y)
    out = np.empty(np.broadcast_shapes(x.shape, y.shape), complex_dtype(x.dtype))
    out.real = x  # not x + 1j * y, which turns y = inf into nan + inf i
    out.imag = y
    return out


def _complex_aval(x, y):
    for a in (x, y):
        if np.dtype(a.dtype) not in (np.float32, np.float64):
            raise TypeError(f"complex: needs float32/float64 operands (the real and "
                            f"imaginary parts), got {np.dtype(x.dtype).name} and "
                            f"{np.dtype(y.dtype).name}")
    if np.dtype(x.dtype) != np.dtype(y.dtype):
        raise TypeError(f"complex: operands must have one dtype, got "
                        f"{np.dtype(x.dtype).name} and {np.dtype(y.dtype).name}")
    shape = broadcast_shapes("complex", tuple(x.shape), tuple(y.shape))
    return ShapedArray(shape, complex_dtype(x.dtype))


def _complex_jvp(primals, tangents, out):
    (x, y), (tx, ty) = primals, tangents
    return complex_(instantiate(tx, x), instantiate(ty, y))


def _complex_vjp(ct, out, x, y, *, wants):
    # Re(c (tx + i ty)) = Re(c) tx - Im(c) ty
    return (unbroadcast(real(ct), np.shape(x)) if wants[0] else None,
            unbroadcast(ew.neg(imag(ct)), np.shape(y)) if wants[1] else None)


complex_p.impl = _complex_impl
complex_p.abstract_eval = _complex_aval
complex_p.jvp = _complex_jvp
complex_p.vjp = _complex_vjp

for _p in (real_p, imag_p, conj_p, complex_p):
    _p.batch = batch_elementwise(_p)


# ------------------------------------------------------ functions to call ---

def real(x):
    return real_p.bind(x)


def imag(x):
    return imag_p.bind(x)


def conj(x):
    return conj_p.bind(x)


def complex_(x, y):
    """``x + i y`` from two real arrays of one dtype (broadcast)."""
    return complex_p.bind(x, y)


# ------------------------------- complex cases of the elementwise family ---
# The rules below wrap the real ones and branch on the operand's dtype, so
# real operands take exactly the path they took before.

def _safe_abs(out):
    """``|z|`` with zeros replaced by ones (for dividing by it)."""
    return ew.select(ew.eq(out, np.zeros((), out.dtype)), np.ones((), out.dtype), out)


def _abs_aval(x):
    return ShapedArray(tuple(x.shape), real_dtype(x.dtype))


_abs_real_jvp, _abs_real_vjp = ew.abs_p.jvp, ew.abs_p.vjp


def _abs_jvp(primals, tangents, out):
    (x,), (t,) = primals, tangents
    if not _is_complex(x):
        return _abs_real_jvp(primals, tangents, out)
    # d|z| = Re(conj(z) dz) / |z|, and 0 at z = 0 (as JAX)
    return ew.div(real(ew.mul(conj(x), t)), _safe_abs(out))


def _abs_vjp(ct, out, x, *, wants):
    if not _is_complex(x):
        return _abs_real_vjp(ct, out, x, wants=wants)
    scale = ew.convert_element_type(ew.div(ct, _safe_abs(out)), x.dtype)
    return (ew.mul(scale, conj(x)),)


ew.abs_p.abstract_eval = _abs_aval
ew.abs_p.jvp, ew.abs_p.vjp = _abs_jvp, _abs_vjp


def _sign_jvp(primals, tangents, out):
    (x,), (t,) = primals, tangents
    if not _is_complex(x):
        return None  # piecewise constant on the reals
    # s = z/|z|: ds = (dz - s Re(conj(s) dz)) / |z|, and 0 at z = 0
    r = ew.abs_(x)
    radial = ew.convert_element_type(real(ew.mul(conj(out), t)), x.dtype)
    ds = ew.sub(t, ew.mul(out, radial))
    return _where_nonzero(r, ew.div(ds, ew.convert_element_type(_safe_abs(r), x.dtype)))


def _sign_vjp(ct, out, x, *, wants):
    if not _is_complex(x):
        return (None,)
    r = ew.abs_(x)
    radial = ew.convert_element_type(real(ew.mul(ct, out)), x.dtype)
    g = ew.sub(ct, ew.mul(radial, conj(out)))
    return (_where_nonzero(r, ew.div(g, ew.convert_element_type(_safe_abs(r), x.dtype))),)


def _where_nonzero(r, v):
    return ew.select(ew.eq(r, np.zeros((), r.dtype)), np.zeros((), v.dtype), v)


ew.sign_p.jvp, ew.sign_p.vjp = _sign_jvp, _sign_vjp

# logistic's real implementation branches on the sign of x, which has no
# complex meaning; 1 / (1 + exp(-z)) is the same function
_logistic_real_impl = ew.logistic_p.impl
ew.logistic_p.impl = lambda x: (1 / (1 + np.exp(-x)) if x.dtype.kind == "c"
                                else _logistic_real_impl(x))

# convert_element_type between real and complex: real -> complex embeds
# (its cotangent is the real part of the complex one); complex -> real takes
# the real part, as NumPy's astype does (its tangent is the real part of the
# tangent). Written with real() so that no ComplexWarning is raised.
_convert_jvp, _convert_vjp = ew.convert_element_type_p.jvp, ew.convert_element_type_p.vjp


def _convert_complex_jvp(primals, tangents, out, *, new_dtype):
    (x,), (t,) = primals, tangents
    if _is_complex(x) and np.dtype(new_dtype).kind == "f" and t is not None:
        return ew.convert_element_type(real(t), new_dtype)
    return _convert_jvp(primals, tangents, out, new_dtype=new_dtype)


def _convert_complex_vjp(ct, out, x, *, wants, new_dtype):
    if _is_complex(ct) and np.dtype(x.dtype).kind == "f":
        return (ew.convert_element_type(real(ct), x.dtype),)
    return _convert_vjp(ct, out, x, wants=wants, new_dtype=new_dtype)


ew.convert_element_type_p.jvp = _convert_complex_jvp
ew.convert_element_type_p.vjp = _convert_complex_vjp


# arccosh: 1/sqrt(z² - 1) is its derivative on the reals (z > 1) but has a
# branch cut on the imaginary axis, which arccosh has not; for complex z the
# derivative is 1/(sqrt(z - 1) sqrt(z + 1)), NumPy's principal branch
def _acosh_partial(out, x):
    if _is_complex(x):
        one = np.ones((), x.dtype)
        return ew.div(one, ew.mul(ew.sqrt(ew.sub(x, one)), ew.sqrt(ew.add(x, one))))
    return 1 / ew.sqrt(x * x - 1)


defderiv(ew.acosh_p, _acosh_partial, nan_safe=True)


def _real_only(prim, what="complex operands"):
    """Reject complex operands with an error naming the primitive: NumPy's
    implementation either raises a less clear error or (for functions
    computed in float64) would drop the imaginary part."""
    aval_rule = prim.abstract_eval

    def abstract_eval(*avals, **params):
        for a in avals:
            if np.dtype(a.dtype).kind == "c":
                raise TypeError(f"{prim.name}: not defined for {what} (got "
                                f"{np.dtype(a.dtype).name}); take the real part, imag or "
                                "abs first")
        return aval_rule(*avals, **params)

    prim.abstract_eval = abstract_eval


for _p in (ew.atan2_p, ew.rem_p, ew.floor_p, ew.ceil_p, ew.cbrt_p):
    _real_only(_p)


# ---------------------------------------------------------------- samples ---

def _c(rng, shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape) + 1j * rng.uniform(lo, hi, size=shape)


for _p in (real_p, imag_p, conj_p):
    _p.samples = lambda rng: [((_c(rng, s),), {}) for s in [(), (3,), (2, 3)]]
complex_p.samples = lambda rng: [
    ((rng.normal(size=sx), rng.normal(size=sy)), {})
    for sx, sy in [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3))]]
