"""chainrule.numpy.fft against numpy.fft: values, errors, derivatives in both
modes (with the half-spectrum weights of rfft/irfft checked three ways),
vmap, jit and float32. The primitive's registry samples are swept by
test_primitives.py and test_vmap.py as well."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import lax
from chainrule.test_util import check_grads

RNG = np.random.default_rng(0)
NORMS = [None, "backward", "ortho", "forward"]
ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn"]
REAL_IN = {"rfft", "ihfft", "rfft2", "rfftn"}


def _input(name, shape, dtype=np.float64, rng=RNG):
    x = rng.normal(size=shape)
    if name not in REAL_IN:
        x = x + 1j * rng.normal(size=shape)
    return x.astype(np.result_type(dtype, 1j) if name not in REAL_IN else dtype)


def _same(got, want, rtol=1e-10, atol=1e-10):
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ------------------------------------------------------------- values ---


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n,axis", [(None, -1), (None, 0), (3, 1), (8, -2), (11, 0), (1, -1)])
def test_one_d_matches_numpy(name, norm, n, axis):
    x = _input(name, (6, 5))
    _same(getattr(cnp.fft, name)(x, n=n, axis=axis, norm=norm),
          getattr(np.fft, name)(x, n=n, axis=axis, norm=norm))


ND_ARGS = [dict(), dict(axes=(0,)), dict(axes=(-1, 0)), dict(s=(3, 8), axes=(0, 2)),
           dict(s=(-1, 4), axes=(1, 2)), dict(s=(5, 2, 3), axes=(2, 0, 1)),
           dict(axes=(1, 1)), dict(s=(4, 3), axes=(0, 0))]


@pytest.mark.parametrize("name", N_D)
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("kw", ND_ARGS, ids=str)
def test_n_d_matches_numpy(name, norm, kw):
    if name.endswith("2") and "axes" in kw and len(kw["axes"]) != 2:
        kw = dict(kw, axes=kw["axes"][:1] * 2)
        kw.pop("s", None)
    x = _input(name, (4, 3, 6))
    _same(getattr(cnp.fft, name)(x, norm=norm, **kw), getattr(np.fft, name)(x, norm=norm, **kw))


def test_s_without_axes_and_none_in_s_as_numpy():
    x = _input("fftn", (4, 3, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for kw in [dict(s=(2, 7)), dict(s=(None, 4), axes=(0, 2))]:
            _same(cnp.fft.fftn(x, **kw), np.fft.fftn(x, **kw))
            _same(cnp.fft.irfftn(x, **kw), np.fft.irfftn(x, **kw))
        _same(cnp.fft.rfftn(x.real, s=(2, 7)), np.fft.rfftn(x.real, s=(2, 7)))


@pytest.mark.parametrize("dtype,want", [(np.float32, np.complex64), (np.float64, np.complex128),
                                        (np.int64, np.complex128), (np.bool_, np.complex128),
                                        (np.float16, np.complex64),
                                        (np.complex64, np.complex64)])
def test_dtypes_as_numpy(dtype, want):
    x = (RNG.normal(size=8) * 3).astype(dtype)
    assert cnp.fft.fft(x).dtype == np.fft.fft(x).dtype == want
    assert cnp.fft.ifft2(x.reshape(2, 4)).dtype == want
    assert cnp.fft.irfft(x).dtype == np.fft.irfft(x).dtype
    assert cnp.fft.hfft(x).dtype == np.fft.hfft(x).dtype
    if np.dtype(dtype).kind != "c":
        assert cnp.fft.rfft(x).dtype == np.fft.rfft(x).dtype == want
        assert cnp.fft.ihfft(x).dtype == np.fft.ihfft(x).dtype == want
        _same(cnp.fft.rfftn(x.reshape(2, 4)), np.fft.rfftn(x.reshape(2, 4)),
              rtol=1e-5, atol=1e-5)


def test_edge_cases_as_numpy():
    x = RNG.normal(size=(2, 3))
    _same(cnp.fft.fftn(x, axes=()), np.fft.fftn(x, axes=()))
    _same(cnp.fft.fftn(np.float64(2.0)), np.asarray(np.fft.fftn(np.float64(2.0))))
    _same(cnp.fft.hfft(x, n=1), np.fft.hfft(x, n=1))
    _same(cnp.fft.fft([1.0, 2.0, 3.0]), np.fft.fft([1.0, 2.0, 3.0]))


def _raises_like_numpy(call):
    with pytest.raises(Exception) as want:
        call(np)
    with pytest.raises(want.type) as got:
        call(cnp)
    return got


@pytest.mark.parametrize("call", [
    lambda m: m.fft.fft(np.ones(3), norm="bad"),
    lambda m: m.fft.fft(np.ones(3), n=0),
    lambda m: m.fft.rfft(np.ones(3), n=-2),
    lambda m: m.fft.fft(np.ones(3), n=2.0),
    lambda m: m.fft.fft(np.ones(3), axis=1),
    lambda m: m.fft.rfft(np.ones((2, 3)), axis=-3),
    lambda m: m.fft.fftn(np.ones((2, 3)), axes=(0, 5)),
    lambda m: m.fft.fftn(np.ones((2, 3)), s=(2, 3, 4), axes=(0, 1)),
    lambda m: m.fft.fft2(np.ones(3)),
    lambda m: m.fft.irfft(np.ones(1)),
    lambda m: m.fft.irfftn(np.ones((3, 1))),
    lambda m: m.fft.rfft(np.ones(4) + 1j),
    lambda m: m.fft.fft(np.ones((0,))),
    lambda m: m.fft.ifftn(np.ones((2, 3)), s=(0, 2), axes=(0, 1)),
])
def test_errors_as_numpy(call):
    got = _raises_like_numpy(call)
    assert str(got.value)


def test_errors_name_the_problem():
    with pytest.raises(IndexError, match="axis 1 is out of bounds for an array of dimension 1"):
        cnp.fft.fft(np.ones(3), axis=1)
    with pytest.raises(TypeError, match="rfft: needs a real operand, got complex128"):
        cnp.fft.rfft(np.ones(4) + 1j)
    with pytest.raises(TypeError, match="n must be an integer"):
        cnp.fft.fft(np.ones(3), n=2.0)
    with pytest.raises(ValueError, match="Invalid norm value"):
        cr.grad(lambda x: cnp.sum(cnp.fft.rfft(x, norm="Ortho").real))(np.ones(4))


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_freqs_and_shifts(n):
    _same(cnp.fft.fftfreq(n), np.fft.fftfreq(n))
    _same(cnp.fft.rfftfreq(n, 0.1), np.fft.rfftfreq(n, 0.1))
    assert cnp.fft.fftfreq(n, dtype=np.float32).dtype == np.float32
    x = RNG.normal(size=(n, 3))
    for axes in [None, 0, -1, (1, 0)]:
        _same(cnp.fft.fftshift(x, axes), np.fft.fftshift(x, axes))
        _same(cnp.fft.ifftshift(x, axes), np.fft.ifftshift(x, axes))
    _same(cnp.fft.ifftshift(cnp.fft.fftshift(x)), x)


def test_fftfreq_differentiable_in_d():
    g = cr.grad(lambda d: cnp.sum(cnp.fft.fftfreq(6, d) ** 2))(0.5)
    d = 0.5
    want = -2 * np.sum(np.fft.fftfreq(6, 1.0) ** 2) / d ** 3
    np.testing.assert_allclose(g, want)
    _same(cr.jit(lambda d: cnp.fft.rfftfreq(7, d))(np.float64(0.3)), np.fft.rfftfreq(7, 0.3))
    check_grads(lambda x: cnp.fft.fftshift(x * x), (RNG.normal(size=(3, 4)),), order=2)


def test_lax_fft():
    x = _input("fft", (2, 3, 4))
    _same(lax.fft(x, "fft", (3, 4)), np.fft.fftn(x, axes=(1, 2)))
    _same(lax.fft(x, lax.FftType.IFFT, (4,)), np.fft.ifft(x))
    _same(lax.fft(x.real, lax.FftType.RFFT, [4]), np.fft.rfft(x.real))
    _same(lax.fft(x, "IRFFT", (3, 6)), np.fft.irfftn(x, s=(3, 6), axes=(1, 2)))
    with pytest.raises(ValueError, match="trailing axes"):
        lax.fft(x, "irfft", (3, 4))
    with pytest.raises(TypeError, match="RFFT needs a float32/float64 operand"):
        lax.fft(x, "rfft", (4,))
    with pytest.raises(ValueError, match="fft_type"):
        lax.fft(x, "dct", (4,))


def test_round_trips():
    x = RNG.normal(size=(3, 7))
    for norm in NORMS:
        _same(cnp.fft.irfft(cnp.fft.rfft(x, norm=norm), 7, norm=norm), x)
        _same(cnp.fft.irfftn(cnp.fft.rfftn(x, norm=norm), x.shape, norm=norm), x)
        _same(cnp.fft.ifft(cnp.fft.fft(x, norm=norm), norm=norm), x.astype(complex))
        _same(cnp.fft.hfft(cnp.fft.ihfft(x, norm=norm), 7, norm=norm), x)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(ONE_D), n=st.one_of(st.none(), st.integers(1, 9)),
       m=st.integers(1, 7), axis=st.sampled_from([0, 1, -1, -2]),
       norm=st.sampled_from(NORMS), seed=st.integers(0, 2 ** 16))
def test_property_one_d_matches_numpy(name, n, m, axis, norm, seed):
    x = _input(name, (m, 3), rng=np.random.default_rng(seed))
    if name in ("irfft", "hfft") and n is None and x.shape[axis] == 1:
        return   # default n = 0: an error in both (tested above)
    _same(getattr(cnp.fft, name)(x, n=n, axis=axis, norm=norm),
          getattr(np.fft, name)(x, n=n, axis=axis, norm=norm))


# -------------------------------------------------------- derivatives ---


def _spectral_loss(x):
    return cnp.sum(cnp.abs(cnp.fft.rfft(x)) ** 2 * cnp.arange(x.shape[-1] // 2 + 1))


def _spectral_loss_via_fft(x):
    n = x.shape[-1]
    half = cnp.fft.fft(x.astype(complex))[..., : n // 2 + 1]
    return cnp.sum(cnp.abs(half) ** 2 * cnp.arange(n // 2 + 1))


def _fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_rfft_half_spectrum_weights_three_ways(n):
    """grad of a real loss of rfft: vs finite differences and vs the route
    through the complex fft; the VJP vs the transpose of a dense DFT."""
    x = RNG.normal(size=n)
    g = cr.grad(_spectral_loss)(x)
    np.testing.assert_allclose(g, _fd_grad(lambda v: float(_spectral_loss(v)), x), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(g, cr.grad(_spectral_loss_via_fft)(x), rtol=1e-12, atol=1e-12)
    dft = np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n)[: n // 2 + 1]
    c = RNG.normal(size=n // 2 + 1) + 1j * RNG.normal(size=n // 2 + 1)
    (ct,) = cr.vjp(cnp.fft.rfft, x)[1](c)
    np.testing.assert_allclose(ct, np.real(dft.T @ c), rtol=1e-12, atol=1e-12)
    # irfft: the transpose of its (real-linear) map on (Re y, Im y)
    y = c
    r = RNG.normal(size=n)
    (cy,) = cr.vjp(lambda y: cnp.fft.irfft(y, n), y)[1](r)
    basis = [np.eye(n // 2 + 1)[k] * s for k in range(n // 2 + 1) for s in (1, 1j)]
    dense = np.stack([np.fft.irfft(b, n) for b in basis], 1)   # n x 2m (real map)
    want = dense.T @ r   # gradient w.r.t. (Re y_k, Im y_k), interleaved
    np.testing.assert_allclose(cy, want[0::2] - 1j * want[1::2], rtol=1e-12, atol=1e-12)


def test_rfftn_weights_route_through_fftn():
    x = RNG.normal(size=(3, 4, 5))
    w = RNG.normal(size=(3, 4, 3))

    def f(x):
        return cnp.sum(cnp.abs(cnp.fft.rfftn(x, axes=(0, 2))) ** 2 * w)

    def g(x):
        full = cnp.fft.fftn(x.astype(complex), axes=(0, 2))[:, :, :3]
        return cnp.sum(cnp.abs(full) ** 2 * w)

    np.testing.assert_allclose(cr.grad(f)(x), cr.grad(g)(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cr.grad(f)(x), _fd_grad(lambda v: float(f(v)), x), rtol=1e-6,
                               atol=1e-6)


GRAD_CALLS = {
    "fft": lambda x: cnp.fft.fft(x, n=6, axis=0, norm="ortho"),
    "ifft": lambda x: cnp.fft.ifft(x, n=3),
    "rfft": lambda x: cnp.fft.rfft(x, n=7, axis=0),
    "irfft": lambda x: cnp.fft.irfft(x, n=5, norm="forward"),
    "hfft": lambda x: cnp.fft.hfft(x, axis=0),
    "ihfft": lambda x: cnp.fft.ihfft(x, norm="ortho"),
    "fft2": lambda x: cnp.fft.fft2(x, s=(3, 3)),
    "ifft2": lambda x: cnp.fft.ifft2(x, norm="forward"),
    "rfft2": lambda x: cnp.fft.rfft2(x, axes=(1, 0)),
    "irfft2": lambda x: cnp.fft.irfft2(x, s=(4, 5)),
    "fftn": lambda x: cnp.fft.fftn(x, axes=(0, 0)),
    "ifftn": lambda x: cnp.fft.ifftn(x),
    "rfftn": lambda x: cnp.fft.rfftn(x, s=(5, 2)),
    "irfftn": lambda x: cnp.fft.irfftn(x, norm="ortho"),
}


@pytest.mark.parametrize("name", sorted(GRAD_CALLS))
def test_check_grads_second_order(name):
    x = _input(name, (4, 3))
    f = GRAD_CALLS[name]
    check_grads(f, (x,), order=2, modes=("fwd", "rev"))
    # a real-valued loss of the (possibly complex) output, through grad
    loss = lambda x: cnp.sum(cnp.abs(f(x)) ** 2 + cnp.real(f(x)) * 0.5)
    check_grads(loss, (x,), order=2, modes=("fwd", "rev"))
    if name in REAL_IN:   # hessian-vector product against finite differences of grad
        v = RNG.normal(size=x.shape)
        _, hvp = cr.jvp(cr.grad(loss), (x,), (v,))
        eps = 1e-5
        fd = (cr.grad(loss)(x + eps * v) - cr.grad(loss)(x - eps * v)) / (2 * eps)
        np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-5)


def test_grad_of_complex_parameter_follows_jax_convention():
    """grad of a real f(z) is df/dx - i df/dy (docs/complex.md)."""
    z = RNG.normal(size=5) + 1j * RNG.normal(size=5)
    f = lambda z: cnp.sum(cnp.abs(cnp.fft.fft(z)) ** 2)   # = 5 sum |z|^2 (Parseval)
    np.testing.assert_allclose(cr.grad(f)(z), 10 * np.conj(z), rtol=1e-12)


# ----------------------------------------------------- vmap, jit, float32 ---


@pytest.mark.parametrize("name", sorted(GRAD_CALLS))
def test_vmap_matches_loop(name):
    xs = _input(name, (3, 4, 3))
    f = GRAD_CALLS[name]
    for ax in (0, 2):
        want = np.stack([f(np.take(xs, i, axis=ax)) for i in range(3)])
        _same(cr.vmap(f, in_axes=ax)(xs), want)
    loss = lambda x: cnp.sum(cnp.abs(f(x)) ** 2)
    _same(cr.vmap(cr.grad(loss))(xs), np.stack([cr.grad(loss)(x) for x in xs]))


@pytest.mark.parametrize("name", sorted(GRAD_CALLS))
def test_jit_matches_eager(name):
    x = _input(name, (4, 3))
    f = GRAD_CALLS[name]
    loss = lambda x: cnp.sum(cnp.abs(f(x)) ** 2 * 0.5 + cnp.real(f(x)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # complex ops are not fused
        _same(cr.jit(f)(x), f(x))
        _same(cr.jit(cr.grad(loss))(x), cr.grad(loss)(x))
        _same(cr.jit(cr.vmap(f))(x[None]), f(x)[None])


@pytest.mark.parametrize("name", ["fft", "rfft", "irfft", "rfft2", "irfftn", "ihfft"])
def test_float32_stays_single_precision(name):
    x = _input(name, (4, 6), np.float32)
    f = GRAD_CALLS[name]
    out = f(x)
    want = np.complex64 if name in ("fft", "rfft", "rfft2", "ihfft") else np.float32
    assert out.dtype == want
    loss = lambda x: cnp.sum(cnp.abs(f(x)) ** 2)
    g = cr.grad(loss)(x)
    assert g.dtype == x.dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gj = cr.jit(cr.grad(loss))(x)
    assert gj.dtype == x.dtype
    np.testing.assert_allclose(gj, g, rtol=1e-4, atol=1e-4)
    g64 = cr.grad(loss)(x.astype(np.result_type(x.dtype, np.float64)))
    np.testing.assert_allclose(g, g64, rtol=1e-3, atol=1e-3 * np.abs(g64).max())
    check_grads(f, (x,), order=1, modes=("fwd", "rev"), eps=1e-2, atol=5e-2, rtol=5e-2)


def test_cost_counts_n_log_n():
    from chainrule.cost import cost_analysis
    x = np.ones((3, 8, 8)) + 0j
    report = cost_analysis(lambda x: cnp.fft.fft2(x), x)
    assert report.f.flops == 3 * 5 * 64 * 6   # 3 transforms of 5 N log2 N, N = 64
    report = cost_analysis(lambda x: cnp.fft.rfft(x), np.ones(64))
    assert report.f.flops == 0.5 * 5 * 64 * 6
