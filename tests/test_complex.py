"""Complex numbers: values against NumPy, both derivative conventions, and JAX.

The convention under test (docs/complex.md, JAX's and autograd's):

- forward mode is the R-linear derivative, so a holomorphic ``f`` maps the
  tangent ``t`` to ``f'(z) t``;
- reverse mode is its transpose under ``Re(sum(a * b))``, so a holomorphic
  ``f``'s VJP is ``ct * f'(z)`` and ``grad(f, holomorphic=True)(z) == f'(z)``;
- for a real-valued ``f``, ``grad(f)(z) == ∂f/∂x - i ∂f/∂y == 2 ∂f/∂z``
  (PyTorch returns the conjugate, ``2 ∂f/∂z̄``).
"""

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.primitives import complex as cx
from chainrule.primitives import elementwise as ew
from chainrule.test_util import check_grads

RNG = np.random.default_rng(7)
F32_TOL = {"eps": 1e-3, "atol": 2e-2, "rtol": 2e-2}


def _points(re, im, shape=(5,), rng=RNG):
    return (rng.uniform(*re, size=shape) + 1j * rng.uniform(*im, size=shape))


# Points away from each function's branch cuts (NumPy's principal branches).
RIGHT = ((0.3, 1.5), (-1.0, 1.0))        # log, sqrt: cut on the negative reals
CENTRE = ((-0.8, 0.8), (-0.5, 0.5))      # asin, acos, atanh: cuts on |Re| > 1
STRIP = ((-1.0, 1.0), (-0.5, 0.5))       # atan, asinh: cuts on |Im| > 1
ANY = ((-1.5, 1.5), (-1.5, 1.5))


def _logistic(z):
    return 1 / (1 + np.exp(-z))


# name: (chainrule function, NumPy function, derivative, where)
HOLOMORPHIC = {
    "exp": (cnp.exp, np.exp, np.exp, ANY),
    "log": (cnp.log, np.log, lambda z: 1 / z, RIGHT),
    "log1p": (cnp.log1p, np.log1p, lambda z: 1 / (1 + z), RIGHT),
    "expm1": (cnp.expm1, np.expm1, np.exp, ANY),
    "sin": (cnp.sin, np.sin, np.cos, ANY),
    "cos": (cnp.cos, np.cos, lambda z: -np.sin(z), ANY),
    "tan": (cnp.tan, np.tan, lambda z: 1 / np.cos(z) ** 2, CENTRE),
    "arcsin": (cnp.arcsin, np.arcsin, lambda z: 1 / np.sqrt(1 - z * z), CENTRE),
    "arccos": (cnp.arccos, np.arccos, lambda z: -1 / np.sqrt(1 - z * z), CENTRE),
    "arctan": (cnp.arctan, np.arctan, lambda z: 1 / (1 + z * z), STRIP),
    "sinh": (cnp.sinh, np.sinh, np.cosh, ANY),
    "cosh": (cnp.cosh, np.cosh, np.sinh, ANY),
    "tanh": (cnp.tanh, np.tanh, lambda z: 1 / np.cosh(z) ** 2, CENTRE),
    "arcsinh": (cnp.arcsinh, np.arcsinh, lambda z: 1 / np.sqrt(1 + z * z), STRIP),
    "arccosh": (cnp.arccosh, np.arccosh,
                lambda z: 1 / (np.sqrt(z - 1) * np.sqrt(z + 1)), ((1.2, 2.0), (-0.5, 0.5))),
    "arccosh_left": (cnp.arccosh, np.arccosh,
                     lambda z: 1 / (np.sqrt(z - 1) * np.sqrt(z + 1)), ((-2.0, -0.2), (0.2, 1.0))),
    "arctanh": (cnp.arctanh, np.arctanh, lambda z: 1 / (1 - z * z), CENTRE),
    "logistic": (ew.logistic, _logistic, lambda z: _logistic(z) * (1 - _logistic(z)), ANY),
    "sqrt": (cnp.sqrt, np.sqrt, lambda z: 0.5 / np.sqrt(z), RIGHT),
    "square": (cnp.square, np.square, lambda z: 2 * z, ANY),
    "cube": (lambda z: z ** 3, lambda z: z ** 3, lambda z: 3 * z ** 2, ANY),
    "inverse_square": (lambda z: z ** -2, lambda z: z ** -2, lambda z: -2 * z ** -3, RIGHT),
    "reciprocal": (cnp.reciprocal, np.reciprocal, lambda z: -1 / z ** 2, RIGHT),
    "negative": (cnp.negative, np.negative, lambda z: -np.ones_like(z), ANY),
    "power_w": (lambda z: cnp.power(z, 0.7 - 0.4j), lambda z: np.power(z, 0.7 - 0.4j),
                lambda z: (0.7 - 0.4j) * z ** (-0.3 - 0.4j), RIGHT),
    "exp2": (cnp.exp2, np.exp2, lambda z: np.log(2) * np.exp2(z), ANY),
    "log10": (cnp.log10, np.log10, lambda z: 1 / (z * np.log(10)), RIGHT),
    "mul_const": (lambda z: z * (2 - 3j), lambda z: z * (2 - 3j),
                  lambda z: np.full_like(z, 2 - 3j), ANY),
    "div_by": (lambda z: (1 + 2j) / z, lambda z: (1 + 2j) / z, lambda z: -(1 + 2j) / z ** 2,
               RIGHT),
    "z_times_exp": (lambda z: z * cnp.exp(z), lambda z: z * np.exp(z),
                    lambda z: (1 + z) * np.exp(z), ANY),
    "z_pow_z": (lambda z: cnp.power(z, z), lambda z: np.power(z, z),
                lambda z: np.power(z, z) * (np.log(z) + 1), RIGHT),
}
HOLO = sorted(HOLOMORPHIC)


def _z(name, shape=(5,), dtype=np.complex128):
    re, im = HOLOMORPHIC[name][3]
    return _points(re, im, shape).astype(dtype)


# ---------------------------------------------------------------- values ---


@pytest.mark.parametrize("name", HOLO)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_values_match_numpy(name, dtype):
    f, ref, _, _ = HOLOMORPHIC[name]
    z = _z(name, (2, 3), dtype)
    out = f(z)
    assert out.dtype == dtype
    rtol = 1e-12 if dtype == np.complex128 else 2e-5
    np.testing.assert_allclose(out, ref(z.astype(np.complex128)), rtol=rtol, atol=rtol)


def test_non_holomorphic_values_match_numpy():
    z = _points(*ANY, (3, 4))
    for f, ref in [(cnp.real, np.real), (cnp.imag, np.imag), (cnp.conj, np.conj),
                   (cnp.conjugate, np.conjugate), (cnp.abs, np.abs), (cnp.sign, np.sign),
                   (cnp.angle, np.angle), (lambda z: cnp.angle(z, deg=True),
                                           lambda z: np.angle(z, deg=True))]:
        out, want = f(z), ref(z)
        assert out.dtype == want.dtype, f
        np.testing.assert_allclose(out, want, rtol=1e-13)
    z64 = z.astype(np.complex64)
    assert cnp.abs(z64).dtype == cnp.real(z64).dtype == cnp.imag(z64).dtype == np.float32
    np.testing.assert_array_equal(cx.complex_(z.real, z.imag), z)
    assert cx.complex_(z64.real, z64.imag).dtype == np.complex64
    # real input: NumPy's behaviour
    x = RNG.normal(size=(3,))
    assert cnp.real(x) is x and cnp.conj(x) is x
    np.testing.assert_array_equal(cnp.imag(x), np.zeros(3))
    np.testing.assert_array_equal(cnp.angle(x), np.angle(x))
    assert cnp.iscomplexobj(z) and not cnp.iscomplexobj(x)
    assert cnp.isrealobj(x) and not cnp.isrealobj(z)
    np.testing.assert_array_equal(cnp.iscomplex(np.array([1 + 0j, 1j])), [False, True])
    np.testing.assert_array_equal(cnp.isreal(np.array([1 + 0j, 1j])), [True, False])


def test_reductions_and_statistics_match_numpy():
    z = _points(*ANY, (3, 4))
    for name in ["sum", "mean", "prod", "cumsum", "cumprod", "var", "std", "nanvar"]:
        out, want = getattr(cnp, name)(z, axis=1), getattr(np, name)(z, axis=1)
        assert out.dtype == want.dtype, name
        np.testing.assert_allclose(out, want, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(cnp.cov(z), np.cov(z), rtol=1e-12)
    np.testing.assert_allclose(cnp.vdot(z, z[::-1]), np.vdot(z, z[::-1]), rtol=1e-12)
    np.testing.assert_allclose(cnp.linalg.vecdot(z, z), np.linalg.vecdot(z, z), rtol=1e-12)
    np.testing.assert_allclose(cnp.linalg.norm(z), np.linalg.norm(z), rtol=1e-12)
    w = z.astype(np.complex64)
    assert cnp.float_power(w, 2).dtype == np.float_power(w, 2).dtype == np.complex128
    np.testing.assert_allclose(cnp.float_power(w, 2), np.float_power(w, 2), rtol=1e-12)


# ----------------------------------------------------- holomorphic grads ---


@pytest.mark.parametrize("name", HOLO)
def test_holomorphic_grad_is_the_complex_derivative(name):
    f, _, df, _ = HOLOMORPHIC[name]
    z = _z(name)
    want = df(z)
    # grad(holomorphic=True) of the sum gives f'(z) elementwise
    g = cr.grad(lambda z: cnp.sum(f(z)), holomorphic=True)(z)
    np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12)
    # so do jvp with t = 1 and vjp with ct = 1 (no conjugation in either)
    _, t = cr.jvp(f, (z,), (np.ones_like(z),))
    np.testing.assert_allclose(t, want, rtol=1e-10, atol=1e-12)
    _, pullback = cr.vjp(f, z)
    np.testing.assert_allclose(pullback(np.ones_like(z))[0], want, rtol=1e-10, atol=1e-12)
    # and f'(z) is the finite difference along the real and the imaginary axis
    h = 1e-6
    fd_re = (f(z + h) - f(z - h)) / (2 * h)
    fd_im = (f(z + 1j * h) - f(z - 1j * h)) / (2j * h)
    np.testing.assert_allclose(g, fd_re, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g, fd_im, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", HOLO)
def test_holomorphic_grad_in_all_four_quadrants(name):
    # off both axes, every function here is away from its branch cuts and
    # poles, so derivative formulas with spurious cuts of their own show up
    f = HOLOMORPHIC[name][0]
    mag = RNG.uniform(0.3, 1.8, size=(2, 8))
    z = mag[0] * np.tile([1, -1, -1, 1], 2) + 1j * mag[1] * np.tile([1, 1, -1, -1], 2)
    g = cr.grad(lambda z: cnp.sum(f(z)), holomorphic=True)(z)
    h = 1e-6
    fd_re = (f(z + h) - f(z - h)) / (2 * h)
    fd_im = (f(z + 1j * h) - f(z - 1j * h)) / (2j * h)
    np.testing.assert_allclose(g, fd_re, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, fd_im, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", HOLO)
def test_holomorphic_check_grads_second_order(name):
    f = HOLOMORPHIC[name][0]
    check_grads(f, (_z(name, (2, 3)),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", HOLO)
def test_complex64_stays_complex64(name):
    f, _, df, _ = HOLOMORPHIC[name]
    z = _z(name, (4,), np.complex64)
    y, t = cr.jvp(f, (z,), (np.ones_like(z),))
    assert y.dtype == t.dtype == np.complex64
    g = cr.grad(lambda z: cnp.sum(f(z)), holomorphic=True)(z)
    assert g.dtype == np.complex64
    np.testing.assert_allclose(g, df(z.astype(np.complex128)), rtol=1e-4, atol=1e-4)
    check_grads(f, (z,), order=1, modes=("fwd", "rev"), **F32_TOL)


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "power"])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_binary_holomorphic(op, dtype):
    f = getattr(cnp, op)
    z, w = _points(*RIGHT, (2, 3)).astype(dtype), _points(*RIGHT, (3,)).astype(dtype)
    out = f(z, w)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, getattr(np, op)(z, w), rtol=1e-5 if dtype == np.complex64
                               else 1e-13)
    tol = F32_TOL if dtype == np.complex64 else {}
    check_grads(f, (z, w), order=2 if dtype == np.complex128 else 1, **tol)
    # partial derivatives: d(z*w)/dz = w, d(z/w)/dw = -z/w², d(z**w)/dw = log(z) z**w
    partials = {"add": (1, 1), "subtract": (1, -1), "multiply": (w, z),
                "divide": (1 / w, -z / w ** 2),
                "power": (w * z ** (w - 1), np.log(z) * z ** w)}[op]
    gz, gw = cr.grad(lambda z, w: cnp.sum(f(z, w)), argnums=(0, 1), holomorphic=True)(z, w)
    rtol = 1e-4 if dtype == np.complex64 else 1e-11
    np.testing.assert_allclose(gz, np.broadcast_to(partials[0], z.shape), rtol=rtol)
    np.testing.assert_allclose(gw, np.sum(np.broadcast_to(partials[1], z.shape), 0), rtol=rtol)


def test_mixed_real_and_complex_operands():
    x, z = RNG.normal(size=(3,)), _points(*ANY, (3,))
    # a real operand is promoted to complex; its gradient is the real part
    check_grads(lambda x, z: cnp.sin(x * z), (x, z), order=2)
    check_grads(lambda x: cnp.exp(1j * x), (x,), order=2)
    g = cr.grad(lambda x: cnp.sum(cnp.abs(cnp.exp(1j * x) + 2) ** 2))(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, -4 * np.sin(x), rtol=1e-12)


def test_jacobians_and_hessian_holomorphic():
    z = _points(*ANY, (3,))
    f = lambda z: z ** 3 + cnp.sin(z)  # noqa: E731
    want = np.diag(3 * z ** 2 + np.cos(z))
    np.testing.assert_allclose(cr.jacfwd(f, holomorphic=True)(z), want, rtol=1e-12)
    np.testing.assert_allclose(cr.jacrev(f, holomorphic=True)(z), want, rtol=1e-12)
    h = cr.hessian(lambda z: cnp.sum(z ** 3), holomorphic=True)(z)
    np.testing.assert_allclose(h, np.diag(6 * z), rtol=1e-12)
    # jacrev of a real function of complex inputs: rows are grad's convention
    j = cr.jacrev(lambda z: cnp.abs(z) ** 2)(z)
    np.testing.assert_allclose(j, np.diag(2 * np.conj(z)), rtol=1e-12)
    # jacfwd of a complex function of real inputs
    x = RNG.normal(size=(2,))
    np.testing.assert_allclose(cr.jacfwd(lambda x: cnp.exp(1j * x))(x),
                               np.diag(1j * np.exp(1j * x)), rtol=1e-12)


# ------------------------------------------- real-valued functions of z ---

REAL_VALUED = {
    "abs2": (lambda z: cnp.abs(z) ** 2, lambda z: 2 * np.conj(z)),
    "re_z2": (lambda z: cnp.real(z * z), lambda z: 2 * z),
    "im_z2": (lambda z: cnp.imag(z * z), lambda z: -2j * z),
    "abs": (cnp.abs, lambda z: np.conj(z) / np.abs(z)),
    "conj_z_times_z": (lambda z: cnp.real(cnp.conj(z) * z), lambda z: 2 * np.conj(z)),
    "re_z": (cnp.real, lambda z: np.ones_like(z)),
    "im_z": (cnp.imag, lambda z: -1j * np.ones_like(z)),
    "angle": (cnp.angle, lambda z: -1j / z),
    "abs_sin": (lambda z: cnp.abs(cnp.sin(z)), None),
    "abs_exp_z2": (lambda z: cnp.abs(cnp.exp(z * z)) ** 2, None),
    "re_sign_2i": (lambda z: cnp.real(cnp.sign(z) * 2j), None),
    "abs_log": (lambda z: cnp.abs(cnp.log(z)) ** 2, None),
    "tracer_methods": (lambda z: (z.conj() * z).real + z.imag, None),
}


def _wirtinger_grad(f, z, h=1e-6):
    """∂f/∂x - i ∂f/∂y by central differences, elementwise."""
    dx = (f(z + h) - f(z - h)) / (2 * h)
    dy = (f(z + 1j * h) - f(z - 1j * h)) / (2 * h)
    return dx - 1j * dy


@pytest.mark.parametrize("name", sorted(REAL_VALUED))
def test_real_valued_grad_convention(name):
    f, formula = REAL_VALUED[name]
    z = _points(*RIGHT, (4,))
    g = cr.grad(lambda z: cnp.sum(f(z)))(z)
    assert g.dtype == np.complex128
    np.testing.assert_allclose(g, _wirtinger_grad(lambda z: np.asarray(f(z)), z),
                               rtol=1e-6, atol=1e-7)
    if formula is not None:
        np.testing.assert_allclose(g, formula(z), rtol=1e-12, atol=1e-14)
    check_grads(f, (z,), order=2)


def test_the_documented_example():
    # the and docs/complex.md's example; PyTorch gives 2-2j here
    assert cr.grad(lambda z: (z * z).real)(1 + 1j) == 2 + 2j
    assert cr.grad(lambda z: cnp.abs(z) ** 2)(3 - 4j) == 6 + 8j
    assert cr.grad(lambda z: z * z, holomorphic=True)(1 + 1j) == 2 + 2j
    # the conjugate of grad is the steepest-ascent direction: a step along it
    # increases f, a step along grad itself does not in general
    f = lambda z: cnp.real(z * z) + cnp.imag(z)  # noqa: E731
    z = np.asarray(0.5 + 0.3j)
    step = 1e-3 * np.conj(cr.grad(f)(z))
    assert f(z + step) > f(z) > f(z - step)


def test_real_imag_conj_complex_rules():
    z = _points(*ANY, (2, 3))
    for f in (cnp.real, cnp.imag, cnp.conj, cnp.abs, cnp.sign, cnp.angle):
        check_grads(f, (z,), order=2)
    x, y = RNG.normal(size=(2, 3)), RNG.normal(size=(3,))
    check_grads(cx.complex_, (x, y), order=2)
    # VJPs at one point, spelled out
    ct = np.asarray(3 + 4j)
    assert cr.vjp(cnp.real, 1 + 1j)[1](np.asarray(1.0))[0] == 1
    assert cr.vjp(cnp.imag, 1 + 1j)[1](np.asarray(1.0))[0] == -1j
    assert cr.vjp(cnp.conj, 1 + 1j)[1](ct)[0] == 3 - 4j
    assert cr.vjp(cx.complex_, np.asarray(1.0), np.asarray(2.0))[1](ct) == (3, -4)


def test_abs_and_sign_at_zero_are_finite():
    assert cr.grad(cnp.abs)(0j) == 0
    assert cr.grad(lambda z: cnp.real(cnp.sign(z)))(0j) == 0
    _, t = cr.jvp(cnp.abs, (np.asarray(0j),), (np.asarray(1 + 1j),))
    assert t == 0


def test_convert_between_real_and_complex():
    x = RNG.normal(size=(3,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning from the rules
        check_grads(lambda x: x.astype(np.complex128) * (1 + 2j), (x,), order=2)
        g = cr.vjp(lambda x: x.astype(np.complex128) * (1 + 2j), x)[1](
            np.full(3, 1 + 1j))[0]
    np.testing.assert_allclose(g, np.full(3, -1.0))
    z = _points(*ANY, (3,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # complex -> float itself warns, as in NumPy
        out, t = cr.jvp(lambda z: z.astype(np.float64), (z,), (np.ones_like(z) * 1j,))
        np.testing.assert_array_equal(out, z.real)
        np.testing.assert_array_equal(t, np.zeros(3))
        g = cr.grad(lambda z: cnp.sum(z.astype(np.float64) ** 2))(z)
    np.testing.assert_allclose(g, 2 * z.real)


# ------------------------------------------------ contractions, linalg ---


def _cmat(*shape):
    return RNG.normal(size=shape) + 1j * RNG.normal(size=shape)


def test_matmul_and_reductions():
    a, b = _cmat(2, 3), _cmat(3, 4)
    np.testing.assert_allclose(cnp.matmul(a, b), a @ b, rtol=1e-13)
    check_grads(cnp.matmul, (a, b), order=2)
    check_grads(lambda a, b: cnp.einsum("ij,jk->ik", a, b), (a, b), order=1)
    # holomorphic: d/dA sum(A @ B) = 1 Bᵀ (no conjugation)
    ga = cr.grad(lambda a: cnp.sum(a @ b), holomorphic=True)(a)
    np.testing.assert_allclose(ga, np.ones((2, 4)) @ b.T, rtol=1e-13)
    # real-valued: |A B|_F² has gradient 2 conj(A B) Bᵀ
    g = cr.grad(lambda a: cnp.sum(cnp.abs(a @ b) ** 2))(a)
    np.testing.assert_allclose(g, 2 * np.conj(a @ b) @ b.T, rtol=1e-12)
    for f in (cnp.sum, cnp.mean, cnp.prod, lambda z: cnp.cumsum(z, axis=1),
              lambda z: cnp.cumprod(z, axis=1), lambda z: cnp.var(z, axis=0),
              lambda z: cnp.std(z), lambda z: cnp.vdot(z, z)):
        check_grads(f, (a,), order=2)
    g = cr.grad(lambda z: cnp.real(cnp.mean(z * z)))(a)
    np.testing.assert_allclose(g, 2 * a / a.size, rtol=1e-13)


def test_linalg_complex_derivatives():
    a = _cmat(3, 3) + 3 * np.eye(3)
    b = _cmat(3, 2)
    check_grads(cnp.linalg.solve, (a, b), order=2)
    check_grads(cnp.linalg.inv, (a,), order=2)
    check_grads(cnp.linalg.det, (a,), order=2)
    check_grads(lambda a: cnp.linalg.slogdet(a), (a,), order=2)
    check_grads(lambda a: cnp.linalg.matrix_power(a, 3), (a,), order=1)
    # holomorphic: d det / dA = det(A) A⁻ᵀ
    g = cr.grad(cnp.linalg.det, holomorphic=True)(a)
    np.testing.assert_allclose(g, np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-12)
    # real-valued: log|det A| has gradient A⁻ᵀ (its holomorphic log det's)
    g = cr.grad(lambda a: cnp.linalg.slogdet(a)[1])(a)
    np.testing.assert_allclose(g, np.linalg.inv(a).T, rtol=1e-12)


def test_linalg_values_and_clear_errors():
    m = _cmat(3, 3)
    h = m @ m.conj().T + 3 * np.eye(3)
    np.testing.assert_allclose(cnp.linalg.cholesky(h), np.linalg.cholesky(h), rtol=1e-12)
    np.testing.assert_allclose(cnp.linalg.cholesky(h, upper=True),
                               np.linalg.cholesky(h, upper=True), rtol=1e-12)
    w, v = cnp.linalg.eigh(h)
    assert w.dtype == np.float64
    np.testing.assert_allclose(w, np.linalg.eigvalsh(h), rtol=1e-12)
    np.testing.assert_allclose((v * w) @ v.conj().T, h, atol=1e-12)
    u, s, vh = cnp.linalg.svd(m, full_matrices=False)
    assert s.dtype == np.float64
    np.testing.assert_allclose((u * s) @ vh, m, atol=1e-12)
    q, r = cnp.linalg.qr(m)
    np.testing.assert_allclose(q @ r, m, atol=1e-12)
    np.testing.assert_allclose(cnp.linalg.pinv(m), np.linalg.pinv(m), rtol=1e-10)
    sign, logdet = cnp.linalg.slogdet(m)
    np.testing.assert_allclose(sign, np.linalg.slogdet(m)[0], rtol=1e-12)
    assert logdet.dtype == np.float64
    for name, f in [("cholesky", lambda a: cnp.real(cnp.linalg.cholesky(a))),
                    ("qr", lambda a: cnp.real(cnp.linalg.qr(a)[1])),
                    ("pinv", lambda a: cnp.real(cnp.linalg.pinv(a)))]:
        with pytest.raises(NotImplementedError, match=name):
            cr.grad(lambda a, f=f: cnp.sum(f(a)))(h)
        with pytest.raises(NotImplementedError, match=name):
            cr.jvp(f, (h,), (np.ones_like(h),))


# --------------------------------------------------- transforms, errors ---


def test_vmap_of_complex():
    zs = _points(*RIGHT, (4, 3))
    f = lambda z: cnp.abs(cnp.exp(z)) + cnp.real(z * cnp.conj(z[::-1]))  # noqa: E731
    np.testing.assert_allclose(cr.vmap(f)(zs), np.stack([f(z) for z in zs]), rtol=1e-13)
    loss = lambda z: cnp.sum(f(z))  # noqa: E731
    np.testing.assert_allclose(cr.vmap(cr.grad(loss))(zs),
                               np.stack([cr.grad(loss)(z) for z in zs]), rtol=1e-13)
    holo = cr.vmap(cr.grad(lambda z: cnp.sum(cnp.sin(z)), holomorphic=True))(zs)
    np.testing.assert_allclose(holo, np.cos(zs), rtol=1e-13)
    parts = cr.vmap(cx.complex_, in_axes=(0, None))(zs.real, zs[0].imag)
    np.testing.assert_array_equal(parts, zs.real + 1j * zs[0].imag)


def test_jit_of_complex_runs_and_says_so():
    import importlib
    partition = importlib.import_module("chainrule.jit.partition")  # the module

    z = _points(*RIGHT, (5,))
    f = lambda z: cnp.sum(cnp.abs(cnp.sin(z) * z + 1) ** 2)  # noqa: E731
    partition._complex_warned.clear()
    with pytest.warns(RuntimeWarning, match="complex"):
        value = cr.jit(f)(z)
    np.testing.assert_allclose(value, f(z), rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        np.testing.assert_allclose(cr.jit(cr.grad(f))(z), cr.grad(f)(z), rtol=1e-13)
        g = cr.jit(cr.grad(lambda z: cnp.sum(z ** 3), holomorphic=True))(z)
    np.testing.assert_allclose(g, 3 * z ** 2, rtol=1e-13)
    jaxpr = cr.make_jaxpr(f)(z)
    assert "c128" in str(jaxpr) and "abs" in str(jaxpr)


def test_errors_name_the_option_and_the_primitive():
    z = np.asarray(1 + 1j)
    with pytest.raises(TypeError, match="holomorphic=True"):
        cr.grad(lambda z: z * z)(z)
    with pytest.raises(TypeError, match="holomorphic=True"):
        cr.value_and_grad(lambda z: z * z)(z)
    with pytest.raises(TypeError, match="needs complex inputs"):
        cr.grad(lambda x: x * (1 + 1j), holomorphic=True)(1.0)
    with pytest.raises(TypeError, match="needs complex outputs"):
        cr.grad(lambda z: cnp.abs(z), holomorphic=True)(z)
    with pytest.raises(TypeError, match="holomorphic=True"):
        cr.jacrev(lambda z: z * z)(np.array([z]))
    with pytest.raises(TypeError, match="holomorphic=True"):
        cr.jacfwd(lambda z: cnp.abs(z))(np.array([z]))
    with pytest.raises(TypeError, match="needs complex inputs"):
        cr.jacfwd(lambda z: z * 1j, holomorphic=True)(np.ones(2))
    for f, name in [(lambda z: cnp.arctan2(z, z), "atan2"), (cnp.floor, "floor"),
                    (cnp.cbrt, "cbrt"), (lambda z: cnp.fmod(z, z), "rem")]:
        with pytest.raises(TypeError, match=name):
            f(np.array([z]))
        with pytest.raises(TypeError, match=name):
            cr.make_jaxpr(f)(np.array([z]))
    for name in ["hypot", "copysign", "heaviside"]:  # NumPy: real input only
        with pytest.raises(TypeError, match=name):
            getattr(cnp, name)(np.array([z]), np.array([z]))
    with pytest.raises(TypeError, match="signbit"):
        cnp.signbit(np.array([z]))
    from chainrule.scipy import special
    with pytest.raises(TypeError, match="erf"):
        special.erf(np.array([z]))
    with pytest.raises(TypeError, match="complex"):
        cx.real(np.ones(2))


def test_value_and_grad_holomorphic_and_vjp_casts_real_cotangents():
    v, g = cr.value_and_grad(lambda z: cnp.sin(z) * z, holomorphic=True)(0.5 + 0.5j)
    z = 0.5 + 0.5j
    assert np.isclose(v, np.sin(z) * z) and np.isclose(g, np.cos(z) * z + np.sin(z))
    _, pullback = cr.vjp(cnp.exp, np.array([1j, 2.0 + 0j]))
    np.testing.assert_allclose(pullback(np.ones(2))[0], np.exp([1j, 2.0]))


# -------------------------------------------------------------- vs JAX ---


REAL_LOSSES = {  # lib -> real-valued function of complex z (and a complex matrix a)
    "re_z2": lambda np_, z, a: np_.sum(np_.real(z * z)),
    "abs2": lambda np_, z, a: np_.sum(np_.abs(z) ** 2),
    "abs": lambda np_, z, a: np_.sum(np_.abs(np_.sin(z))),
    "angle": lambda np_, z, a: np_.sum(np_.angle(z) * np_.real(z)),
    "imag_exp": lambda np_, z, a: np_.sum(np_.imag(np_.exp(z) / z)),
    "conj": lambda np_, z, a: np_.real(np_.sum(np_.conj(z) * np_.log(z))),
    "matmul": lambda np_, z, a: np_.sum(np_.abs(a @ z) ** 2),
    "solve": lambda np_, z, a: np_.real(np_.sum(np_.linalg.solve(a, z) * np_.conj(z))),
    "inv": lambda np_, z, a: np_.imag(np_.trace(np_.linalg.inv(a))),
    "det": lambda np_, z, a: np_.abs(np_.linalg.det(a)),
    "slogdet": lambda np_, z, a: np_.linalg.slogdet(a)[1] + np_.real(np_.linalg.slogdet(a)[0]),
    "mean_var": lambda np_, z, a: np_.var(z) + np_.real(np_.mean(z * a[0])),
    "tanh_pow": lambda np_, z, a: np_.sum(np_.abs(np_.tanh(z) ** 3 + z ** (0.5 + 1j))),
}


@pytest.mark.parametrize("name", sorted(REAL_LOSSES))
def test_real_valued_grads_match_jax(name, jax_x64):
    jnp = jax_x64.numpy
    f = REAL_LOSSES[name]
    z = _points(*RIGHT, (3,))
    a = _cmat(3, 3) + 3 * np.eye(3)
    want = jax_x64.grad(lambda z, a: f(jnp, z, a), argnums=(0, 1))(z, a)
    got = cr.grad(lambda z, a: f(cnp, z, a), argnums=(0, 1))(z, a)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["sin", "log", "arctan", "sqrt", "z_pow_z", "logistic"])
def test_holomorphic_grads_and_vjps_match_jax(name, jax_x64):
    jnp = jax_x64.numpy
    f = HOLOMORPHIC[name][0]
    jf = {"z_pow_z": lambda z: jnp.power(z, z),
          "logistic": jax_x64.nn.sigmoid}.get(name) or getattr(jnp, name)
    z = _z(name)
    want = jax_x64.grad(lambda z: jnp.sum(jf(z)), holomorphic=True)(z)
    got = cr.grad(lambda z: cnp.sum(f(z)), holomorphic=True)(z)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-10)
    ct = _points(*ANY, z.shape)
    want = jax_x64.vjp(jf, z)[1](ct)[0]
    got = cr.vjp(f, z)[1](ct)[0]
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-10)
    jac = jax_x64.jacrev(jf, holomorphic=True)(z)
    np.testing.assert_allclose(cr.jacrev(f, holomorphic=True)(z), np.asarray(jac), rtol=1e-10,
                               atol=1e-14)


def test_nonholomorphic_vjps_match_jax(jax_x64):
    jnp = jax_x64.numpy
    z, ct = _points(*RIGHT, (4,)), _points(*ANY, (4,))
    for cf, jf in [(cnp.conj, jnp.conj),
                   (lambda z: cnp.conj(z) * z ** 2, lambda z: jnp.conj(z) * z ** 2),
                   (lambda z: cnp.abs(z) * z, lambda z: jnp.abs(z) * z)]:
        want = jax_x64.vjp(jf, z)[1](ct)[0]
        np.testing.assert_allclose(cr.vjp(cf, z)[1](ct)[0], np.asarray(want), rtol=1e-12)
    a, b = _cmat(2, 3), _cmat(3, 2)
    ct = _cmat(2, 2)
    want = jax_x64.vjp(jnp.matmul, a, b)[1](ct)
    got = cr.vjp(cnp.matmul, a, b)[1](ct)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-12)
    x = RNG.normal(size=(3,))
    want = jax_x64.vjp(lambda x: jnp.exp(1j * x), x)[1](ct[0, :1].repeat(3))[0]
    np.testing.assert_allclose(cr.vjp(lambda x: cnp.exp(1j * x), x)[1](ct[0, :1].repeat(3))[0],
                               np.asarray(want), rtol=1e-12)
