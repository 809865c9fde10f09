"""fftconvolve against scipy.signal.fftconvolve: values (modes, axes,
broadcasting, the operand swap of 'valid', dtypes), errors, derivatives in
both operands, vmap and jit."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.scipy._fftconvolve import _next_fast_len, fftconvolve
from chainrule.test_util import check_grads

signal = pytest.importorskip("scipy.signal", reason="scipy is the reference")
RNG = np.random.default_rng(0)
MODES = ["full", "same", "valid"]


def _same(got, want, rtol=1e-10, atol=1e-10):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                 got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_next_fast_len_is_scipys():
    from scipy.fft import next_fast_len
    assert [_next_fast_len(n) for n in range(1, 700)] == [next_fast_len(n, True)
                                                          for n in range(1, 700)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("s1,s2,axes", [
    ((7,), (3,), None), ((3,), (7,), None), ((1,), (4,), None), ((6,), (6,), None),
    ((5, 7), (3, 4), None), ((5, 4), (3, 6), None), ((4, 5), (2, 3), 1), ((4, 5), (4, 3), [-1]),
    ((1, 5), (3, 4), [1]), ((3, 5), (1, 2), (1,)), ((2, 3, 6), (2, 2, 3), (1, 2)),
    ((4, 1, 6), (1, 3, 2), (0, 2))], ids=str)
def test_matches_scipy(mode, s1, s2, axes):
    a, b = RNG.normal(size=s1), RNG.normal(size=s2)
    try:
        want = signal.fftconvolve(a, b, mode, axes)
    except ValueError as err:
        with pytest.raises(ValueError, match=str(err)[:20]):
            fftconvolve(a, b, mode, axes)
        return
    _same(fftconvolve(a, b, mode, axes), want)


@pytest.mark.parametrize("d1,d2", [(np.float32, np.float32), (np.float32, np.float64),
                                   (np.int64, np.int64), (np.complex64, np.float32),
                                   (np.complex128, np.float64), (np.int32, np.float32)])
def test_dtypes_as_scipy(d1, d2):
    a, b = (RNG.normal(size=(5, 6)) * 3).astype(d1), (RNG.normal(size=(3, 2)) * 3).astype(d2)
    for mode in MODES:
        _same(fftconvolve(a, b, mode), signal.fftconvolve(a, b, mode), rtol=1e-4, atol=1e-4)


def test_edge_cases_as_scipy():
    _same(fftconvolve(np.float64(2.0), np.float64(3.0)),
          np.asarray(signal.fftconvolve(np.float64(2.0), np.float64(3.0))))
    _same(fftconvolve(np.ones(0), np.ones(3)), signal.fftconvolve(np.ones(0), np.ones(3)))
    _same(fftconvolve([1.0, 2.0], [1.0, 1.0, 1.0]), signal.fftconvolve([1, 2.0], [1, 1, 1.0]))


@pytest.mark.parametrize("call", [
    lambda f: f(np.ones(3), np.ones((3, 1))),
    lambda f: f(np.ones(3), np.ones(3), "bad"),
    lambda f: f(np.ones((3, 4)), np.ones((4, 3)), "valid"),
    lambda f: f(np.ones((3, 4)), np.ones((2, 3)), axes=[]),
    lambda f: f(np.ones((3, 4)), np.ones((2, 3)), axes=[2]),
    lambda f: f(np.ones((3, 4)), np.ones((2, 3)), axes=[1, -1]),
    lambda f: f(np.ones((3, 4)), np.ones((2, 3)), axes=[1]),
])
def test_errors_as_scipy(call):
    with pytest.raises(ValueError) as want:
        call(signal.fftconvolve)
    with pytest.raises(ValueError, match=str(want.value)[:25].replace("(", r"\(")):
        call(fftconvolve)


@settings(max_examples=30, deadline=None)
@given(n1=st.integers(1, 9), n2=st.integers(1, 9), m=st.integers(1, 3),
       mode=st.sampled_from(MODES), seed=st.integers(0, 2 ** 16))
def test_property_matches_scipy(n1, n2, m, mode, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(m, n1)), rng.normal(size=(m, n2))
    _same(fftconvolve(a, b, mode, axes=1), signal.fftconvolve(a, b, mode, axes=1))
    _same(fftconvolve(a[0], b[0], mode), np.convolve(a[0], b[0], mode)
          if mode != "same" or n1 >= n2 else signal.fftconvolve(a[0], b[0], mode))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("complex_", [False, True])
def test_grads_in_both_operands(mode, complex_):
    a, b = RNG.normal(size=(4, 5)), RNG.normal(size=(2, 3))
    if complex_:
        a = a + 1j * RNG.normal(size=a.shape)
    check_grads(lambda a, b: fftconvolve(a, b, mode), (a, b), order=2, modes=("fwd", "rev"))
    # the gradient of <c, a * b> in b is the correlation of a with c (a dense check)
    c = RNG.normal(size=np.shape(signal.fftconvolve(a, b, mode)))
    loss = lambda a, b: cnp.sum(cnp.real(fftconvolve(a, b, mode)) * c)
    ga, gb = cr.grad(loss, argnums=(0, 1))(a.real, b)
    eye = np.eye(b.size).reshape((b.size,) + b.shape)
    dense = np.stack([np.sum(signal.fftconvolve(a.real, e, mode) * c) for e in eye])
    np.testing.assert_allclose(gb.ravel(), dense, rtol=1e-9, atol=1e-9)
    eye = np.eye(a.size).reshape((a.size,) + a.shape)
    dense = np.stack([np.sum(signal.fftconvolve(e, b, mode) * c) for e in eye])
    np.testing.assert_allclose(ga.ravel(), dense, rtol=1e-9, atol=1e-9)


def test_vmap_jit_float32():
    a, b = RNG.normal(size=(3, 8)), RNG.normal(size=(3, 3))
    want = np.stack([signal.fftconvolve(x, y, "same") for x, y in zip(a, b)])
    _same(cr.vmap(lambda x, y: fftconvolve(x, y, "same"))(a, b), want)
    _same(cr.vmap(lambda y: fftconvolve(a[0], y), in_axes=1)(b.T),
          np.stack([signal.fftconvolve(a[0], y) for y in b]))
    loss = lambda x, y: cnp.sum(fftconvolve(x, y, "valid") ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _same(cr.jit(lambda x, y: fftconvolve(x, y))(a, b), signal.fftconvolve(a, b))
        for gj, ge in zip(cr.jit(cr.grad(loss, argnums=(0, 1)))(a, b),
                          cr.grad(loss, argnums=(0, 1))(a, b)):
            _same(gj, ge)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = fftconvolve(a32, b32)
    _same(out, signal.fftconvolve(a32, b32), rtol=1e-5, atol=1e-5)
    ga, gb = cr.grad(loss, argnums=(0, 1))(a32, b32)
    assert ga.dtype == gb.dtype == np.float32
