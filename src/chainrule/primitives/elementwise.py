"""Elementwise primitives: arithmetic, transcendental functions, comparisons.

Binary primitives broadcast like NumPy but require one dtype (promotion is
``chainrule.numpy``'s job). Each primitive is one table row: its NumPy
implementation and its local derivatives, from which ``defderiv`` builds the
JVP (tangent times local derivative) and the VJP (upstream times local
derivative, summed over broadcast axes).
"""

from __future__ import annotations

import numpy as np

from ..batching import batch_elementwise
from ..core import Primitive, ShapedArray
from ._helpers import (
    broadcast_shapes,
    defderiv,
    defzero,
    elementwise_aval,
    float_only,
    instantiate,
    same_dtype,
    unbroadcast,
)
from .samples import binary_samples, unary_samples

# ------------------------------------------------------------ builders ---


def _unary(name, impl, *, floats=True, dtype=None):
    prim = Primitive(name)
    prim.impl = impl

    def abstract_eval(x, **params):
        if floats:
            float_only(name, x)
        return ShapedArray(tuple(x.shape), np.dtype(dtype) if dtype else np.dtype(x.dtype))

    prim.abstract_eval = abstract_eval
    return prim


def _binary(name, impl, *, dtype=None):
    prim = Primitive(name)
    prim.impl = impl
    prim.abstract_eval = lambda x, y, **p: elementwise_aval(name, x, y, dtype=dtype)
    return prim


def as_dtype(mask, dtype):
    """A boolean mask as 0/1 of ``dtype`` (keeps float32 rules float32)."""
    return convert_element_type(mask, new_dtype=np.dtype(dtype))


def _logistic_impl(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


# ---------------------------------------------------- linear arithmetic ---

add_p = _binary("add", np.add)
sub_p = _binary("sub", np.subtract)
neg_p = _unary("neg", np.negative, floats=False)


def _add_jvp(primals, tangents, out, **_):
    tx, ty = tangents
    if ty is None:
        t = tx
    elif tx is None:
        t = ty
    else:
        return tx + ty
    from .shape import broadcast_to
    return t if np.shape(t) == np.shape(out) else broadcast_to(t, np.shape(out))


def _sub_jvp(primals, tangents, out, **_):
    tx, ty = tangents
    return _add_jvp(primals, (tx, None if ty is None else neg(ty)), out)


add_p.jvp = _add_jvp
add_p.vjp = lambda ct, out, x, y, *, wants: (
    unbroadcast(ct, np.shape(x)) if wants[0] else None,
    unbroadcast(ct, np.shape(y)) if wants[1] else None)
sub_p.jvp = _sub_jvp
sub_p.vjp = lambda ct, out, x, y, *, wants: (
    unbroadcast(ct, np.shape(x)) if wants[0] else None,
    unbroadcast(neg(ct), np.shape(y)) if wants[1] else None)
neg_p.jvp = lambda primals, tangents, out: neg(tangents[0])
neg_p.vjp = lambda ct, out, x, *, wants: (neg(ct),)

# ----------------------------------------------------------- products ---

mul_p = _binary("mul", np.multiply)
div_p = _binary("div", np.true_divide)
defderiv(mul_p, lambda out, x, y: y, lambda out, x, y: x)   # mul swaps
defderiv(div_p, lambda out, x, y: 1 / y, lambda out, x, y: neg(out) / y, nan_safe=True)


def _pow_dx(out, x, y):
    # y * x**(y-1), with 0**0's derivative taken as 0 (as JAX does)
    safe = y * pow(x, y - 1)
    # compare with a zero of y's own dtype: under tracing a Python 0 would be an
    # int64 literal, and eq (like every primitive) wants one dtype
    return select(eq(y, np.zeros((), y.dtype)), np.zeros((), out.dtype), safe)


def _pow_dy(out, x, y):
    # log(x) * out, with the x == 0 term taken as 0 instead of 0 * -inf
    is_zero = eq(x, np.zeros((), x.dtype))
    safe_log = log(select(is_zero, np.ones((), x.dtype), x))
    return select(is_zero, np.zeros((), out.dtype), safe_log * out)


pow_p = _binary("pow", np.power)
defderiv(pow_p, _pow_dx, _pow_dy, nan_safe=True)

integer_pow_p = Primitive("integer_pow")
integer_pow_p.impl = lambda x, *, y: np.power(x, y) if y >= 0 else 1 / np.power(x, -y)
integer_pow_p.abstract_eval = lambda x, *, y: ShapedArray(tuple(x.shape), np.dtype(x.dtype))


def _integer_pow_dx(out, x, *, y):
    if y == 0:
        return np.zeros((), x.dtype)
    if y == 1:
        return np.ones((), x.dtype)
    return y * (x if y == 2 else integer_pow(x, y - 1))


defderiv(integer_pow_p, _integer_pow_dx, nan_safe=lambda y: y < 0)


def _ext_dx(out, x, y):
    # max and min route the gradient to the winner; ties split it evenly
    return as_dtype(eq(out, x), out.dtype) * (1 - 0.5 * as_dtype(eq(x, y), out.dtype))


def _ext_dy(out, x, y):
    return as_dtype(eq(out, y), out.dtype) * (1 - 0.5 * as_dtype(eq(x, y), out.dtype))


max_p = _binary("max", np.maximum)
min_p = _binary("min", np.minimum)
defderiv(max_p, _ext_dx, _ext_dy)
defderiv(min_p, _ext_dx, _ext_dy)

atan2_p = _binary("atan2", np.arctan2)
defderiv(atan2_p, lambda out, y, x: x / (x * x + y * y), lambda out, y, x: neg(y) / (x * x + y * y))

rem_p = _binary("rem", np.fmod)
defderiv(rem_p, lambda out, x, y: np.ones((), out.dtype),
         lambda out, x, y: neg(round_(div(sub(x, out), y))))

# ------------------------------------------------------ transcendental ---

exp_p = _unary("exp", np.exp)
log_p = _unary("log", np.log)
log1p_p = _unary("log1p", np.log1p)
expm1_p = _unary("expm1", np.expm1)
sin_p = _unary("sin", np.sin)
cos_p = _unary("cos", np.cos)
tan_p = _unary("tan", np.tan)
asin_p = _unary("asin", np.arcsin)
acos_p = _unary("acos", np.arccos)
atan_p = _unary("atan", np.arctan)
sinh_p = _unary("sinh", np.sinh)
cosh_p = _unary("cosh", np.cosh)
tanh_p = _unary("tanh", np.tanh)
asinh_p = _unary("asinh", np.arcsinh)
acosh_p = _unary("acosh", np.arccosh)
atanh_p = _unary("atanh", np.arctanh)
logistic_p = _unary("logistic", _logistic_impl)
sqrt_p = _unary("sqrt", np.sqrt)
cbrt_p = _unary("cbrt", np.cbrt)
abs_p = _unary("abs", np.abs, floats=False)

defderiv(exp_p, lambda out, x: out)
defderiv(log_p, lambda out, x: 1 / x, nan_safe=True)
defderiv(log1p_p, lambda out, x: 1 / (1 + x), nan_safe=True)
defderiv(expm1_p, lambda out, x: out + 1)
defderiv(sin_p, lambda out, x: cos(x))
defderiv(cos_p, lambda out, x: neg(sin(x)))
defderiv(tan_p, lambda out, x: 1 + out * out)
defderiv(asin_p, lambda out, x: 1 / sqrt(1 - x * x), nan_safe=True)
defderiv(acos_p, lambda out, x: -1 / sqrt(1 - x * x), nan_safe=True)
defderiv(atan_p, lambda out, x: 1 / (1 + x * x))
defderiv(sinh_p, lambda out, x: cosh(x))
defderiv(cosh_p, lambda out, x: sinh(x))
defderiv(tanh_p, lambda out, x: 1 - out * out)
defderiv(asinh_p, lambda out, x: 1 / sqrt(x * x + 1))
defderiv(acosh_p, lambda out, x: 1 / sqrt(x * x - 1), nan_safe=True)
defderiv(atanh_p, lambda out, x: 1 / (1 - x * x), nan_safe=True)
defderiv(logistic_p, lambda out, x: out * (1 - out))
defderiv(sqrt_p, lambda out, x: 0.5 / out, nan_safe=True)
defderiv(cbrt_p, lambda out, x: 1 / (3 * out * out), nan_safe=True)
defderiv(abs_p, lambda out, x: sign(x))

# ------------------------------------------------ piecewise constant ---

sign_p = _unary("sign", np.sign, floats=False)
floor_p = _unary("floor", np.floor, floats=False)
ceil_p = _unary("ceil", np.ceil, floats=False)
round_p = _unary("round", np.round, floats=False)
for _p in (sign_p, floor_p, ceil_p, round_p):
    defzero(_p)


def _compare(name, impl):
    prim = _binary(name, impl, dtype=np.bool_)
    defzero(prim)
    return prim


eq_p = _compare("eq", np.equal)
ne_p = _compare("ne", np.not_equal)
lt_p = _compare("lt", np.less)
le_p = _compare("le", np.less_equal)
gt_p = _compare("gt", np.greater)
ge_p = _compare("ge", np.greater_equal)
and_p = _binary("and", np.logical_and, dtype=np.bool_)
or_p = _binary("or", np.logical_or, dtype=np.bool_)
xor_p = _binary("xor", np.logical_xor, dtype=np.bool_)
not_p = _unary("not", np.logical_not, floats=False, dtype=np.bool_)
for _p in (and_p, or_p, xor_p, not_p):
    defzero(_p)


def _int_only(name, x, y):
    for v in (x, y):
        if np.dtype(v.dtype).kind not in "iu":
            raise TypeError(f"{name} needs integer operands, got {v.dtype}")
    return elementwise_aval(name, x, y)


def _floor_div_impl(x, y):
    with np.errstate(divide="ignore"):  # x // 0 is 0, as NumPy's result
        return np.floor_divide(x, y)


# Exact integer floor division (floats divide and round down instead: going
# through float64 would round integers above 2**53).
floor_div_p = _binary("floor_div", _floor_div_impl)
floor_div_p.abstract_eval = lambda x, y: _int_only("floor_divide", x, y)
defzero(floor_div_p)

# ------------------------------------------------------------- select ---

select_p = Primitive("select")
select_p.impl = lambda pred, x, y: np.where(pred, x, y)


def _select_aval(pred, x, y):
    if np.dtype(pred.dtype) != np.bool_:
        raise TypeError(f"select: the condition must be boolean, got {pred.dtype}")
    shape = broadcast_shapes("select", pred.shape, x.shape, y.shape)
    return ShapedArray(shape, same_dtype("select", x, y))


def _select_jvp(primals, tangents, out, **_):
    pred, x, y = primals
    _, tx, ty = tangents
    return select(pred, instantiate(tx, x), instantiate(ty, y))


def _select_vjp(ct, out, pred, x, y, *, wants):
    # the gradient goes to the branch that was chosen; the other gets zeros,
    # so a NaN in the unchosen branch's value never reaches the gradient
    zero = np.zeros((), ct.dtype)
    return (None,
            unbroadcast(select(pred, ct, zero), np.shape(x)) if wants[1] else None,
            unbroadcast(select(pred, zero, ct), np.shape(y)) if wants[2] else None)


select_p.abstract_eval = _select_aval
select_p.jvp = _select_jvp
select_p.vjp = _select_vjp

# ------------------------------------------------ dtype and gradients ---

convert_element_type_p = Primitive("convert_element_type")
convert_element_type_p.impl = lambda x, *, new_dtype: np.asarray(x).astype(new_dtype)
convert_element_type_p.abstract_eval = lambda x, *, new_dtype: ShapedArray(
    tuple(x.shape), np.dtype(new_dtype))


def _convert_jvp(primals, tangents, out, *, new_dtype):
    (x,), (t,) = primals, tangents
    if np.dtype(new_dtype).kind not in "fc" or np.dtype(x.dtype).kind not in "fc":
        return None
    return convert_element_type(t, new_dtype=new_dtype)


def _convert_vjp(ct, out, x, *, wants, new_dtype):
    if np.dtype(x.dtype).kind not in "fc":
        return (None,)
    return (convert_element_type(ct, new_dtype=np.dtype(x.dtype)),)


convert_element_type_p.jvp = _convert_jvp
convert_element_type_p.vjp = _convert_vjp

stop_gradient_p = Primitive("stop_gradient")
stop_gradient_p.impl = lambda x: x
stop_gradient_p.abstract_eval = lambda x: ShapedArray(tuple(x.shape), np.dtype(x.dtype))
defzero(stop_gradient_p)

# -------------------------------------------------------------- clamp ---

clamp_p = Primitive("clamp")
clamp_p.impl = lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)
clamp_p.abstract_eval = lambda x, lo, hi: elementwise_aval("clip", x, lo, hi)


def _clamp_parts(out, x, lo, hi):
    below, above = lt(x, lo), gt(x, hi)
    inside = as_dtype(not_(or_(below, above)), out.dtype)
    return inside, as_dtype(and_(below, not_(above)), out.dtype), as_dtype(above, out.dtype)


defderiv(clamp_p, lambda out, x, lo, hi: _clamp_parts(out, x, lo, hi)[0],
         lambda out, x, lo, hi: _clamp_parts(out, x, lo, hi)[1],
         lambda out, x, lo, hi: _clamp_parts(out, x, lo, hi)[2])

# ------------------------------------------------------------ batching ---
# Every primitive in this file is elementwise with NumPy broadcasting, so one
# rule batches them all (see batching.batch_elementwise).

for _p in (add_p, sub_p, neg_p, mul_p, div_p, pow_p, integer_pow_p, max_p, min_p, atan2_p,
           rem_p, exp_p, log_p, log1p_p, expm1_p, sin_p, cos_p, tan_p, asin_p, acos_p, atan_p,
           sinh_p, cosh_p, tanh_p, asinh_p, acosh_p, atanh_p, logistic_p, sqrt_p, cbrt_p, abs_p,
           sign_p, floor_p, ceil_p, round_p, eq_p, ne_p, lt_p, le_p, gt_p, ge_p, and_p, or_p,
           xor_p, not_p, select_p, convert_element_type_p, stop_gradient_p, clamp_p,
           floor_div_p):
    _p.batch = batch_elementwise(_p)

# -------------------------------------------------- functions to call ---


def _fn(prim):
    return lambda *args, **params: prim.bind(*args, **params)


add, sub, mul, div, neg = map(_fn, (add_p, sub_p, mul_p, div_p, neg_p))
pow, max_, min_, atan2, rem = map(_fn, (pow_p, max_p, min_p, atan2_p, rem_p))
exp, log, log1p, expm1 = map(_fn, (exp_p, log_p, log1p_p, expm1_p))
sin, cos, tan, asin, acos, atan = map(_fn, (sin_p, cos_p, tan_p, asin_p, acos_p, atan_p))
sinh, cosh, tanh, asinh, acosh, atanh = map(_fn, (sinh_p, cosh_p, tanh_p, asinh_p, acosh_p,
                                                  atanh_p))
logistic, sqrt, cbrt, abs_, sign = map(_fn, (logistic_p, sqrt_p, cbrt_p, abs_p, sign_p))
floor, ceil, round_ = map(_fn, (floor_p, ceil_p, round_p))
eq, ne, lt, le, gt, ge = map(_fn, (eq_p, ne_p, lt_p, le_p, gt_p, ge_p))
and_, or_, xor, not_ = map(_fn, (and_p, or_p, xor_p, not_p))
select, clamp, stop_gradient = map(_fn, (select_p, clamp_p, stop_gradient_p))


def integer_pow(x, y: int):
    return integer_pow_p.bind(x, y=int(y))


def convert_element_type(x, new_dtype):
    if np.dtype(new_dtype) == np.dtype(getattr(x, "dtype", None) or np.asarray(x).dtype):
        return x
    return convert_element_type_p.bind(x, new_dtype=np.dtype(new_dtype))


# ----------------------------------------------------------- samples ---
# Points inside each primitive's domain, for the registry-driven tests.

for _p, _lo, _hi in [(exp_p, -2, 2), (log_p, 0.2, 3), (log1p_p, -0.5, 2), (expm1_p, -2, 2),
                     (sin_p, -3, 3), (cos_p, -3, 3), (tan_p, -1.2, 1.2), (asin_p, -0.9, 0.9),
                     (acos_p, -0.9, 0.9), (atan_p, -3, 3), (sinh_p, -2, 2), (cosh_p, -2, 2),
                     (tanh_p, -2, 2), (asinh_p, -3, 3), (acosh_p, 1.2, 3), (atanh_p, -0.9, 0.9),
                     (logistic_p, -4, 4), (sqrt_p, 0.2, 3), (cbrt_p, 0.2, 3), (abs_p, 0.2, 3),
                     (neg_p, -3, 3), (sign_p, -3, 3), (floor_p, -3, 3), (ceil_p, -3, 3),
                     (round_p, -3, 3), (stop_gradient_p, -3, 3)]:
    _p.samples = unary_samples(_lo, _hi)
for _p in (add_p, sub_p, mul_p, max_p, min_p, atan2_p, eq_p, ne_p, lt_p, le_p, gt_p, ge_p):
    _p.samples = binary_samples(-3, 3)
div_p.samples = binary_samples(0.5, 3)
pow_p.samples = binary_samples(0.5, 2)
rem_p.samples = binary_samples(0.5, 3)
integer_pow_p.samples = lambda rng: unary_samples(-2, 2, params=[{"y": 2}, {"y": 3}, {"y": 0}])(
    rng) + [((x * rng.choice([-1.0, 1.0], size=x.shape),), p)  # negative powers: |x| >= 0.5
            for (x,), p in unary_samples(0.5, 2, params=[{"y": -2}, {"y": -3}])(rng)]
select_p.samples = lambda rng: [
    ((rng.uniform(size=(2, 3)) > 0.5, rng.normal(size=(2, 3)), rng.normal(size=(3,))), {})]
clamp_p.samples = lambda rng: [
    ((rng.normal(size=(2, 3)) * 2, np.asarray(-1.0), np.asarray(1.0)), {}),
    ((rng.normal(size=(4,)), rng.normal(size=(4,)) - 1.5, rng.normal(size=(4,)) + 1.5), {})]
convert_element_type_p.samples = lambda rng: [
    ((rng.normal(size=(3,)),), {"new_dtype": np.dtype("float32")}),
    ((rng.normal(size=(2, 2)),), {"new_dtype": np.dtype("int64")}),
    ((rng.normal(size=(3,)).astype(np.float32),), {"new_dtype": np.dtype("float64")})]
for _p in (and_p, or_p, xor_p):
    _p.samples = lambda rng: [((rng.uniform(size=(3,)) > 0.5, rng.uniform(size=(2, 3)) > 0.5), {})]
not_p.samples = lambda rng: [((rng.uniform(size=(3,)) > 0.5,), {})]
floor_div_p.samples = lambda rng: [
    ((rng.integers(-50, 50, size=(2, 3)), rng.integers(1, 7, size=(3,))), {}),
    ((np.array([2**64 - 1, 2**63 + 4095, 12], np.uint64), np.array([4096, 4096, 5], np.uint64)),
     {})]


# --- Numba lowering ---
# How chainrule.jit emits each primitive inside a fused loop:
# ``lower(*operands, **params) -> str``, a scalar expression over operand
# expressions (names of loop-local scalars or numeric literals). The code
# generator casts the result to the dtype the IR says, so emitters need not.

def _lower_call(fn):
    return lambda *xs, **_: f"{fn}({', '.join(xs)})"


def _lower_op(op):
    return lambda x, y: f"({x} {op} {y})"


def _lower_integer_pow(x, *, y):
    y = int(y)
    if y == 0:
        return "1"
    body = " * ".join([f"{x}"] * abs(y)) if abs(y) <= 4 else f"{x} ** {abs(y)}"
    return f"({body})" if y > 0 else f"(1.0 / ({body}))"


for _p, _fn in [(exp_p, "vm.exp"), (log_p, "np.log"), (log1p_p, "np.log1p"),
                (expm1_p, "math.expm1"), (sin_p, "vm.sin"), (cos_p, "vm.cos"),
                (tan_p, "math.tan"), (asin_p, "np.arcsin"), (acos_p, "np.arccos"),
                (atan_p, "math.atan"), (sinh_p, "math.sinh"), (cosh_p, "math.cosh"),
                (asinh_p, "math.asinh"), (acosh_p, "np.arccosh"),
                (atanh_p, "np.arctanh"), (sqrt_p, "np.sqrt"), (cbrt_p, "np.cbrt"),
                (abs_p, "abs"), (sign_p, "np.sign"), (floor_p, "np.floor"),
                (ceil_p, "np.ceil"), (round_p, "np.rint"), (pow_p, "np.power"),
                (max_p, "np.maximum"), (min_p, "np.minimum"), (atan2_p, "np.arctan2"),
                (rem_p, "np.fmod")]:
    _p.lower = _lower_call(_fn)
for _p, _op in [(add_p, "+"), (sub_p, "-"), (mul_p, "*"), (div_p, "/"), (eq_p, "=="),
                (ne_p, "!="), (lt_p, "<"), (le_p, "<="), (gt_p, ">"), (ge_p, ">="),
                (xor_p, "!=")]:
    _p.lower = _lower_op(_op)
and_p.lower = lambda x, y: f"({x} and {y})"
or_p.lower = lambda x, y: f"({x} or {y})"
not_p.lower = lambda x: f"(not {x})"
neg_p.lower = lambda x: f"(-{x})"
integer_pow_p.lower = _lower_integer_pow
# Numba's // on integers has Python's (floor) semantics; x // 0 gives 0
floor_div_p.lower = lambda x, y: f"(({x}) // ({y}) if ({y}) != ({y}) - ({y}) else ({x}) - ({x}))"
select_p.lower = lambda pred, x, y: f"({x} if {pred} else {y})"
clamp_p.lower = lambda x, lo, hi: f"np.minimum(np.maximum({x}, {lo}), {hi})"
# exp, sin, cos, tanh and logistic come from chainrule.jit.vmath, which LLVM
# vectorises; lower_libm is the scalar libm form, for kernels without a loop.
# sin and cos are fast only for |x| < ~1.6e6: lower_check flags other
# operands, and the kernel is then re-run in its libm form (see
# chainrule.jit.codegen).
for _p, _fn in [(exp_p, "math.exp"), (sin_p, "math.sin"), (cos_p, "math.cos"),
                (tanh_p, "math.tanh")]:
    _p.lower_libm = _lower_call(_fn)
for _p in (sin_p, cos_p):   # 1647099.0 is vmath.TRIG_LIMIT
    _p.lower_check = lambda x: f"np.int64((abs({x}) >= 1647099.0) & (abs({x}) != np.inf))"
tanh_p.lower = lambda x: (f"vm.tanh_finish({x}, vm.exp(80.0 if abs({x}) > 40.0 "
                          f"else 2.0 * abs({x})))")
logistic_p.lower = lambda x: f"vm.logistic_finish({x}, vm.exp(-abs({x})))"
logistic_p.lower_libm = lambda x: (f"(1.0 / (1.0 + math.exp(-{x})) if {x} >= 0 "
                                   f"else math.exp({x}) / (1.0 + math.exp({x})))")
stop_gradient_p.lower = lambda x: x
# the cast itself is what the code generator adds after every expression
convert_element_type_p.lower = lambda x, *, new_dtype: x
