"""numpy.convolve/correlate and scipy.signal's direct convolutions against
NumPy and SciPy: every mode, both operand orders (NumPy's swap, SciPy's
'valid' swap), complex conjugation in correlate, dtypes, errors, and
derivatives to second order in both modes, vmap and jit."""

import numpy as np
import pytest
import scipy.signal as ss

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy.signal as cs
from chainrule.test_util import check_grads

RNG = np.random.default_rng(0)
MODES = ["full", "same", "valid"]


def _r(shape, complex_=False):
    x = RNG.normal(size=shape)
    return x + 1j * RNG.normal(size=shape) if complex_ else x


@pytest.mark.parametrize("name", ["convolve", "correlate"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("complex_", [False, True])
def test_numpy_matches_numpy(name, mode, complex_):
    for n in range(1, 6):
        for m in range(1, 6):
            a, v = _r(n, complex_), _r(m, complex_)
            want = getattr(np, name)(a, v, mode)
            got = np.asarray(getattr(cnp, name)(a, v, mode))
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got, want, atol=1e-12)


def test_numpy_integer_and_float32():
    a, v = np.arange(5, dtype=np.int64), np.array([1, -2, 3], dtype=np.int64)
    got = cnp.convolve(a, v)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.convolve(a, v))
    a32, v32 = a.astype(np.float32), v.astype(np.float32)
    assert cnp.correlate(a32, v32, "full").dtype == np.float32
    np.testing.assert_allclose(cnp.correlate(a32, v32, "same"), np.correlate(a32, v32, "same"))


def test_numpy_errors():
    with pytest.raises(ValueError, match="1-D"):
        cnp.convolve(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="empty"):
        cnp.correlate(np.ones(0), np.ones(2))
    with pytest.raises(ValueError, match="mode"):
        cnp.convolve(np.ones(3), np.ones(2), "wide")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["convolve", "correlate"])
def test_numpy_grads(name, mode):
    f = getattr(cnp, name)
    check_grads(lambda a, v: cnp.sin(f(a, v, mode)), (_r(6), _r(3)), order=2)
    check_grads(lambda a, v: cnp.sin(f(a, v, mode)), (_r(3), _r(4)), order=2)


SHAPES = [((5,), (3,)), ((3,), (5,)), ((4, 5), (2, 3)), ((2, 3), (4, 5)), ((4, 4), (4, 4)),
          ((3, 4, 5), (2, 2, 3)), ((2,), (2,)), ((5, 2), (2, 2))]


@pytest.mark.parametrize("s1,s2", SHAPES, ids=str)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("complex_", [False, True])
def test_scipy_matches_scipy(s1, s2, mode, complex_):
    a, b = _r(s1, complex_), _r(s2, complex_)
    names = ["convolve", "correlate"] + (["convolve2d", "correlate2d"] if len(s1) == 2 else [])
    for name in names:
        want = getattr(ss, name)(a, b, mode)
        got = np.asarray(getattr(cs, name)(a, b, mode))
        assert got.shape == want.shape and got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("method", ["auto", "direct", "fft"])
def test_scipy_method_and_fftconvolve(method):
    a, b = _r((6, 5)), _r((3, 2))
    np.testing.assert_allclose(cs.convolve(a, b, "same", method=method),
                               ss.convolve(a, b, "same"), atol=1e-12)
    np.testing.assert_allclose(cs.fftconvolve(a, b, "valid"), ss.fftconvolve(a, b, "valid"),
                               atol=1e-12)


def test_scipy_integer_and_float32():
    a = RNG.integers(-4, 5, size=(4, 5))
    b = RNG.integers(-4, 5, size=(2, 2))
    got = cs.convolve2d(a, b)
    assert got.dtype == ss.convolve2d(a, b).dtype
    np.testing.assert_array_equal(got, ss.convolve2d(a, b))
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    assert cs.correlate(a32, b32).dtype == np.float32


def test_scipy_errors():
    with pytest.raises(ValueError, match="dimensionality"):
        cs.convolve(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="at least as large"):
        cs.correlate(np.ones((3, 2)), np.ones((2, 3)), "valid")
    with pytest.raises(ValueError, match="mode"):
        cs.convolve(np.ones(3), np.ones(2), "wide")
    with pytest.raises(ValueError, match="method"):
        cs.convolve(np.ones(3), np.ones(2), method="fast")
    with pytest.raises(NotImplementedError, match="boundary='fill'"):
        cs.convolve2d(np.ones((3, 3)), np.ones((2, 2)), boundary="wrap")
    with pytest.raises(NotImplementedError, match="fillvalue"):
        cs.correlate2d(np.ones((3, 3)), np.ones((2, 2)), fillvalue=1.0)
    with pytest.raises(ValueError, match="2-D"):
        cs.convolve2d(np.ones(3), np.ones(2))


@pytest.mark.parametrize("name", ["convolve", "correlate", "convolve2d", "correlate2d"])
@pytest.mark.parametrize("mode", MODES)
def test_scipy_grads(name, mode):
    f = getattr(cs, name)
    check_grads(lambda a, b: cnp.tanh(f(a, b, mode)), (_r((4, 3)), _r((2, 2))), order=2)


def test_scipy_vmap_and_jit():
    a, bs = _r((5, 4)), _r((3, 2, 3))
    f = lambda a, b: cs.correlate2d(a, b, "same")  # noqa: E731
    got = cr.vmap(f, in_axes=(None, 0))(a, bs)
    want = np.stack([ss.correlate2d(a, b, "same") for b in bs])
    np.testing.assert_allclose(got, want, atol=1e-12)
    g = cr.grad(lambda a, b: cnp.sum(cs.convolve(a, b) ** 2), argnums=(0, 1))
    for x, y in zip(cr.jit(g)(a, bs[0]), g(a, bs[0])):
        np.testing.assert_allclose(x, y, atol=1e-12)
    xs = _r((3, 7))
    got = cr.vmap(lambda x: cnp.convolve(x, np.ones(3), "same"))(xs)
    np.testing.assert_allclose(got, [np.convolve(x, np.ones(3), "same") for x in xs], atol=1e-12)
