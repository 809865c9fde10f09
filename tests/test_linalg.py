"""chainrule.numpy.linalg: values against NumPy, derivatives to second order
in both modes, batched inputs, vmap of each primitive against a loop, and
the documented behaviour at degenerate inputs."""

import numpy as np
import pytest

import chainrule
import chainrule.numpy as cnp
from chainrule.core import registry
from chainrule.primitives import linalg as plinalg
from chainrule.test_util import check_grads

L = cnp.linalg
rng = np.random.default_rng(0)


def general(*shape):
    n = shape[-1]
    return rng.normal(size=shape) + 2.0 * np.sqrt(n) * np.eye(n)


def spd(*shape):
    m = rng.normal(size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def sym_separated(*shape):
    n = shape[-1]
    q, _ = np.linalg.qr(rng.normal(size=shape))
    w = np.linspace(-2.0, 2.0, n) + rng.uniform(-0.2, 0.2, size=shape[:-1])
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def same_up_to_column_signs(a, b):
    signs = np.sign(np.sum(a * b, axis=-2, keepdims=True))
    np.testing.assert_allclose(a, b * signs, atol=1e-10)


# ------------------------------------------------------------------ values ---


@pytest.mark.parametrize("sa,sb", [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)),
                                   ((2, 3, 3), (3,)), ((2, 1, 3, 3), (4, 3, 2)),
                                   ((3, 3), (5, 3, 2))])
def test_solve_matches_numpy(sa, sb):
    a, b = general(*sa), rng.normal(size=sb)
    np.testing.assert_allclose(L.solve(a, b), np.linalg.solve(a, b), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (2, 1, 2, 2)])
def test_square_functions_match_numpy(shape):
    a = general(*shape)
    np.testing.assert_allclose(L.inv(a), np.linalg.inv(a), rtol=1e-12)
    np.testing.assert_allclose(L.det(a), np.linalg.det(a), rtol=1e-12)
    np.testing.assert_allclose(L.det(-a), np.linalg.det(-a), rtol=1e-12)
    for got, want in zip(L.slogdet(-a), np.linalg.slogdet(-a), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    s = spd(*shape)
    np.testing.assert_allclose(L.cholesky(s), np.linalg.cholesky(s), rtol=1e-12)
    np.testing.assert_allclose(L.cholesky(s, upper=True), np.linalg.cholesky(s, upper=True),
                               rtol=1e-12)
    w, v = L.eigh(s)
    w0, v0 = np.linalg.eigh(s)
    np.testing.assert_allclose(w, w0, rtol=1e-12)
    same_up_to_column_signs(v, v0)
    np.testing.assert_allclose(L.eigvalsh(s), w0, rtol=1e-12)
    for p in (0, 1, 2, 3, 5, -1, -2):
        np.testing.assert_allclose(L.matrix_power(a, p), np.linalg.matrix_power(a, p),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(L.trace(a), np.linalg.trace(a), rtol=1e-12)
    np.testing.assert_allclose(L.trace(a, offset=1), np.linalg.trace(a, offset=1))
    for p in (None, 2, -2, 1, -1, np.inf, -np.inf, "fro"):
        np.testing.assert_allclose(L.cond(a, p), np.linalg.cond(a, p), rtol=1e-10)


def test_eigenvector_sign_convention():
    _, v = L.eigh(sym_separated(2, 4, 4))
    big = np.take_along_axis(v, np.argmax(np.abs(v), axis=-2)[..., None, :], axis=-2)
    assert np.all(big > 0)
    u, _, vt = L.svd(rng.normal(size=(3, 5)), full_matrices=False)
    assert np.all(u[np.argmax(np.abs(u), axis=0), range(3)] > 0)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 5), (2, 3, 2), (2, 2, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_svd_matches_numpy(shape, full):
    a = rng.normal(size=shape)
    u, s, vt = L.svd(a, full_matrices=full)
    u0, s0, vt0 = np.linalg.svd(a, full_matrices=full)
    assert u.shape == u0.shape and vt.shape == vt0.shape
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    k = s.shape[-1]
    np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vt[..., :k, :], a, atol=1e-12)
    same_up_to_column_signs(u[..., :k], u0[..., :k])
    np.testing.assert_allclose(L.svd(a, compute_uv=False), s0, rtol=1e-12)
    np.testing.assert_allclose(L.svdvals(a), s0, rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_matches_numpy(shape, mode):
    a = rng.normal(size=shape)
    got, want = L.qr(a, mode), np.linalg.qr(a, mode)
    for g, w in zip(*(([got], [want]) if mode == "r" else (got, want)), strict=True):
        np.testing.assert_allclose(g, w, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 2), (2, 4), (3, 3), (2, 3, 2)])
def test_pinv_lstsq_matrix_rank(shape):
    a = rng.normal(size=shape)
    np.testing.assert_allclose(L.pinv(a), np.linalg.pinv(a), atol=1e-12)
    if len(shape) == 2:
        b = rng.normal(size=shape[:1])
        for got, want in zip(L.lstsq(a, b), np.linalg.lstsq(a, b), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-10)
        b2 = rng.normal(size=shape[:1] + (2,))
        for got, want in zip(L.lstsq(a, b2), np.linalg.lstsq(a, b2), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-10)
    np.testing.assert_array_equal(L.matrix_rank(a), np.linalg.matrix_rank(a))
    low_rank = rng.normal(size=(4, 1)) @ rng.normal(size=(1, 3))
    assert L.matrix_rank(low_rank) == 1
    np.testing.assert_allclose(L.pinv(low_rank), np.linalg.pinv(low_rank), atol=1e-12)


NORM_CASES = [
    ((5,), dict()), ((5,), dict(ord=1)), ((5,), dict(ord=np.inf)), ((5,), dict(ord=-np.inf)),
    ((5,), dict(ord=0)), ((5,), dict(ord=3)), ((5,), dict(ord=0.5)), ((5,), dict(ord=2)),
    ((3, 4), dict()), ((3, 4), dict(ord="fro")), ((3, 4), dict(ord="nuc")),
    ((3, 4), dict(ord=1)), ((3, 4), dict(ord=-1)), ((3, 4), dict(ord=np.inf)),
    ((3, 4), dict(ord=-np.inf)), ((3, 4), dict(ord=2)), ((3, 4), dict(ord=-2)),
    ((2, 3, 4), dict()), ((2, 3, 4), dict(axis=1)), ((2, 3, 4), dict(axis=-1, ord=1)),
    ((2, 3, 4), dict(axis=(2, 0), ord="nuc")), ((2, 3, 4), dict(axis=(0, 2), ord=1)),
    ((2, 3, 4), dict(axis=(2, 1), ord=np.inf, keepdims=True)),
    ((2, 3, 4), dict(axis=(1, 2), ord=2, keepdims=True)), ((2, 3, 4), dict(keepdims=True)),
    ((2, 3, 4), dict(axis=0, ord=3, keepdims=True)),
]


@pytest.mark.parametrize("shape,kw", NORM_CASES)
def test_norm_matches_numpy(shape, kw):
    x = rng.normal(size=shape)
    np.testing.assert_allclose(L.norm(x, **kw), np.linalg.norm(x, **kw), rtol=1e-12)


def test_array_api_norms_and_helpers():
    x = rng.normal(size=(2, 3, 4))
    for kw in (dict(), dict(axis=1), dict(axis=(0, 2), keepdims=True), dict(ord=1, axis=-1)):
        np.testing.assert_allclose(L.vector_norm(x, **kw), np.linalg.vector_norm(x, **kw))
    for kw in (dict(), dict(ord="nuc"), dict(ord=np.inf, keepdims=True)):
        np.testing.assert_allclose(L.matrix_norm(x, **kw), np.linalg.matrix_norm(x, **kw))
    np.testing.assert_allclose(L.matrix_transpose(x), np.linalg.matrix_transpose(x))
    np.testing.assert_allclose(L.diagonal(x, offset=1), np.linalg.diagonal(x, offset=1))
    np.testing.assert_allclose(L.vecdot(x, x), np.linalg.vecdot(x, x))


@pytest.mark.parametrize("shapes", [[(2, 3), (3, 4)], [(3,), (3, 4), (4, 5), (5,)],
                                    [(10, 2), (2, 8), (8, 3), (3, 1)], [(3,), (3, 2), (2, 4)],
                                    [(4, 3), (3,)]])
def test_multi_dot(shapes):
    arrays = [rng.normal(size=s) for s in shapes]
    np.testing.assert_allclose(L.multi_dot(arrays), np.linalg.multi_dot(arrays), rtol=1e-12)
    check_grads(lambda *xs: L.multi_dot(list(xs)), arrays, order=2)


def test_integer_and_float32_inputs():
    a = np.array([[2, 1], [1, 3]])
    assert L.det(a).dtype == np.float64 and L.inv(a).dtype == np.float64
    np.testing.assert_allclose(L.solve(a, [1, 2]), np.linalg.solve(a, [1, 2]))
    a32 = spd(3, 3).astype(np.float32)
    for f in (L.inv, L.det, L.cholesky, lambda a: L.eigh(a)[1], lambda a: L.svd(a)[0],
              lambda a: L.qr(a)[1], L.pinv, L.norm):
        assert f(a32).dtype == np.float32
        g = chainrule.grad(lambda a, f=f: cnp.sum(f(a)))(a32)
        assert g.dtype == np.float32


def test_eig_values_and_gauge():
    a = rng.normal(size=(3, 3))
    w, v = L.eig(a)
    assert w.dtype == v.dtype == np.complex128
    np.testing.assert_allclose(a @ v, v * w, atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(L.eigvals(a)), np.sort_complex(np.linalg.eigvals(a)),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v, axis=0), 1.0, rtol=1e-12)
    pivot = np.take_along_axis(v, np.argmax(np.abs(v), axis=0)[None], axis=0)
    np.testing.assert_allclose(pivot.imag, 0.0, atol=1e-15)
    assert np.all(pivot.real > 0)
    # batched, and complex input
    ab = rng.normal(size=(2, 4, 4)) + 1j * rng.normal(size=(2, 4, 4))
    w, v = L.eig(ab)
    np.testing.assert_allclose(ab @ v, v * w[..., None, :], atol=1e-12)
    w32 = L.eig(a.astype(np.float32))[0]
    assert w32.dtype == np.complex64


EIG_A = np.array([[1.0, 2.0, 0.5], [-1.5, 0.3, 1.0], [0.2, 0.4, -2.0]])   # a complex pair


@pytest.mark.parametrize("f", [
    lambda a: L.eigvals(a),
    lambda a: L.eig(a),
    lambda a: cnp.sum(cnp.abs(L.eig(a)[1]) ** 2 * cnp.arange(3.0)[:, None]),
    lambda a: cnp.real(cnp.prod(L.eigvals(a))),                    # det
])
def test_eig_grads(f):
    check_grads(f, (EIG_A,), order=2, modes=("fwd", "rev"))


def test_eig_grads_complex_input_and_closed_form():
    a = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    check_grads(lambda a: L.eig(a), (a,), order=1, modes=("fwd", "rev"))
    # d(sum w) = tr(dA): the gradient of Re(sum w) w.r.t. a real matrix is I
    np.testing.assert_allclose(chainrule.grad(lambda a: cnp.real(cnp.sum(L.eigvals(a))))(EIG_A),
                               np.eye(3), atol=1e-12)
    # dw_i = u_iᵀ dA v_i / (u_iᵀ v_i), u the left eigenvectors
    w, v = np.linalg.eig(EIG_A)
    u = np.linalg.inv(v).T
    i = int(np.argmax(w.imag))
    got = chainrule.grad(lambda a: cnp.imag(L.eigvals(a)[i]))(EIG_A)
    k = int(np.argmin(np.abs(L.eigvals(EIG_A)[i] - w)))
    want = np.imag(np.outer(u[:, k], v[:, k]) / (u[:, k] @ v[:, k]))
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.filterwarnings("ignore:chainrule.jit. complex")
def test_eig_vmap_jit():
    stack = rng.normal(size=(3, 3, 3)) + np.diag([0.0, 2.0, 4.0])
    out = chainrule.vmap(L.eig)(stack)
    for k in range(3):
        for o, lo in zip(out, L.eig(stack[k]), strict=True):
            np.testing.assert_allclose(o[k], lo, atol=1e-12)
    g = chainrule.grad(lambda a: cnp.sum(cnp.abs(L.eig(a)[1][0])))
    np.testing.assert_allclose(chainrule.jit(g)(EIG_A), g(EIG_A), rtol=1e-12)


# ------------------------------------------------------------- derivatives ---

GRAD_CASES = [
    ("solve", lambda a, b: L.solve(a, b), lambda: (general(3, 3), rng.normal(size=(3, 2)))),
    ("solve_vector", lambda a, b: L.solve(a, b), lambda: (general(3, 3), rng.normal(size=3))),
    ("solve_broadcast", lambda a, b: L.solve(a, b),
     lambda: (general(3, 3), rng.normal(size=(2, 3, 1)))),
    ("inv", L.inv, lambda: (general(2, 3, 3),)),
    ("det", L.det, lambda: (general(2, 3, 3),)),
    ("slogdet", lambda a: L.slogdet(a)[1], lambda: (-general(3, 3),)),
    ("cholesky", L.cholesky, lambda: (spd(2, 3, 3),)),
    ("cholesky_upper", lambda a: L.cholesky(a, upper=True), lambda: (spd(3, 3),)),
    ("eigh", lambda a: tuple(L.eigh(a)), lambda: (sym_separated(2, 3, 3),)),
    ("eigvalsh", L.eigvalsh, lambda: (sym_separated(4, 4),)),
    ("svd_square", lambda a: tuple(L.svd(a)), lambda: (rng.normal(size=(3, 3)),)),
    ("svd_tall", lambda a: tuple(L.svd(a, full_matrices=False)),
     lambda: (rng.normal(size=(2, 4, 3)),)),
    ("svd_wide", lambda a: tuple(L.svd(a, full_matrices=False)),
     lambda: (rng.normal(size=(2, 4)),)),
    ("svdvals", L.svdvals, lambda: (rng.normal(size=(3, 4)),)),
    ("qr_tall", lambda a: tuple(L.qr(a)), lambda: (rng.normal(size=(2, 4, 3)),)),
    ("qr_wide", lambda a: tuple(L.qr(a)), lambda: (rng.normal(size=(3, 5)),)),
    ("qr_r", lambda a: L.qr(a, "r"), lambda: (rng.normal(size=(4, 4)),)),
    ("pinv", L.pinv, lambda: (rng.normal(size=(2, 4, 3)),)),
    ("matrix_power", lambda a: L.matrix_power(a, 3), lambda: (rng.normal(size=(3, 3)),)),
    ("matrix_power_neg", lambda a: L.matrix_power(a, -2), lambda: (general(3, 3),)),
    ("trace", L.trace, lambda: (rng.normal(size=(2, 3, 3)),)),
    ("lstsq", lambda a, b: L.lstsq(a, b)[0],
     lambda: (rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))),
    ("cond", L.cond, lambda: (general(3, 3),)),
    ("norm_fro", lambda x: L.norm(x, axis=(0, 2)), lambda: (rng.normal(size=(3, 2, 4)),)),
    ("norm_nuc", lambda x: L.norm(x, "nuc"), lambda: (rng.normal(size=(3, 4)),)),
    ("norm_2", lambda x: L.norm(x, 2), lambda: (rng.normal(size=(3, 4)),)),
    ("norm_-2", lambda x: L.norm(x, -2), lambda: (rng.normal(size=(4, 3)),)),
    ("norm_p3", lambda x: L.norm(x, 3, axis=1), lambda: (rng.normal(size=(2, 4)),)),
    ("norm_vec", L.norm, lambda: (rng.normal(size=(6,)),)),
]


@pytest.mark.parametrize("name,f,make", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_grads_second_order(name, f, make):
    check_grads(f, make(), order=2, modes=("fwd", "rev"))


# Piecewise-linear norms: their second derivative is 0 almost everywhere and
# finite differences of the first derivative only see the kinks, so order 1.
@pytest.mark.parametrize("kw", [dict(ord=1), dict(ord=np.inf), dict(ord=-np.inf)])
@pytest.mark.parametrize("shape", [(5,), (3, 4)])
def test_grads_piecewise_linear_norms(kw, shape):
    check_grads(lambda x: L.norm(x, **kw), (rng.normal(size=shape),), order=1)


def test_logdet_three_ways():
    a = spd(4, 4)
    want = np.linalg.inv(a)
    via_slogdet = chainrule.grad(lambda a: L.slogdet(a)[1])(a)
    via_cholesky = chainrule.grad(lambda a: 2 * cnp.sum(cnp.log(cnp.diagonal(L.cholesky(a)))))(a)
    via_eigh = chainrule.grad(lambda a: cnp.sum(cnp.log(L.eigvalsh(a))))(a)
    for g in (via_slogdet, via_cholesky, via_eigh):
        np.testing.assert_allclose(g, want, rtol=1e-10)


def test_grad_under_make_jaxpr_and_jit_shapes():
    a = spd(3, 3)
    closed = chainrule.make_jaxpr(chainrule.grad(lambda a: cnp.sum(L.cholesky(a))))(a)
    assert "cholesky" in str(closed) and "triangular_solve" in str(closed)
    np.testing.assert_allclose(closed(a)[0],
                               chainrule.grad(lambda a: cnp.sum(L.cholesky(a)))(a))


# -------------------------------------------------------------------- vmap ---

LINALG_PRIMS = ["solve", "triangular_solve", "inv", "det", "slogdet", "cholesky", "eigh",
                "svd", "qr", "pinv",
                "lu", "expm", "logm", "sqrtm", "eig"]  # the last five: primitives/linalg_scipy.py


def _vmap_cases():
    out = []
    for name in LINALG_PRIMS:
        for i, (args, params) in enumerate(registry[name].samples(np.random.default_rng(1))):
            for unbatched in [None] + list(range(len(args)))[:len(args) if len(args) > 1 else 0]:
                out.append(pytest.param(name, args, params, unbatched,
                                        id=f"{name}-{i}-unbatched{unbatched}"))
    return out


@pytest.mark.parametrize("name,args,params,unbatched", _vmap_cases())
def test_vmap_matches_loop(name, args, params, unbatched):
    prim = registry[name]
    r = np.random.default_rng(2)
    batch = 3
    batched, axes = [], []
    for i, a in enumerate(args):
        if i == unbatched:
            batched.append(a), axes.append(None)
            continue
        axis = 1 if np.ndim(a) > 2 else 0  # also a batch axis that is not in front
        stack = np.stack([a + 0.01 * r.normal(size=np.shape(a)) for _ in range(batch)], axis)
        batched.append(stack), axes.append(axis)

    def f(*xs):
        return prim.bind(*xs, **params)

    out = chainrule.vmap(f, in_axes=tuple(axes))(*batched)
    def element(k):
        return [a if ax is None else np.take(a, k, axis=ax)
                for a, ax in zip(batched, axes, strict=True)]

    loop = [f(*element(k)) for k in range(batch)]
    outs = out if prim.multiple_results else [out]
    loops = list(zip(*loop, strict=True)) if prim.multiple_results else [loop]
    for o, lo in zip(outs, loops, strict=True):
        np.testing.assert_allclose(o, np.stack(lo), atol=1e-12)


def test_vmap_of_grad_of_gp_like_loss():
    a = spd(4, 4)
    ys = rng.normal(size=(5, 4))

    def loss(a, y):
        chol = L.cholesky(a)
        z = plinalg.triangular_solve(chol, y[:, None])
        return cnp.sum(z * z) + 2 * cnp.sum(cnp.log(cnp.diagonal(chol)))

    per_example = chainrule.vmap(chainrule.grad(loss), in_axes=(None, 0))(a, ys)
    for k in range(5):
        np.testing.assert_allclose(per_example[k], chainrule.grad(loss)(a, ys[k]), rtol=1e-10)


# -------------------------------------------------------- degenerate inputs ---


def test_eigh_repeated_eigenvalues_give_finite_exact_spectral_gradients():
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a = (q * np.array([1.0, 1.0, 1.0, 3.0])) @ q.T         # a triple eigenvalue
    w, v = L.eigh(a)
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, a, atol=1e-12)
    # functions symmetric in the eigenvalues: exact gradients f'(A)
    g = chainrule.grad(lambda a: cnp.sum(cnp.exp(L.eigvalsh(a))))(a)
    np.testing.assert_allclose(g, (q * np.exp([1.0, 1.0, 1.0, 3.0])) @ q.T, atol=1e-10)
    # eigenvectors in the degenerate eigenspace: finite (no inf/NaN)
    for mode in (chainrule.jacfwd, chainrule.jacrev):
        jac = mode(lambda a: L.eigh(a)[1])(a)
        assert np.all(np.isfinite(jac))
    np.testing.assert_allclose(chainrule.grad(lambda a: cnp.sum(L.eigvalsh(a)))(np.eye(3)),
                               np.eye(3))


def test_svd_repeated_singular_values_are_finite():
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    for jac in (chainrule.jacfwd, chainrule.jacrev):
        assert all(np.all(np.isfinite(j)) for j in jac(lambda a: tuple(L.svd(a)))(q))
    # the nuclear norm of an orthogonal matrix: gradient U Vᵀ = q
    np.testing.assert_allclose(chainrule.grad(lambda a: L.norm(a, "nuc"))(q), q, atol=1e-12)


def test_pinv_gradient_at_repeated_singular_values():
    q, _ = np.linalg.qr(rng.normal(size=(4, 3)))             # all singular values 1
    check_grads(L.pinv, (q,), order=2)


def test_norm_gradient_at_zero_is_zero():
    for x in (np.zeros(3), np.zeros((2, 3))):
        g = chainrule.grad(L.norm)(x)
        np.testing.assert_array_equal(g, np.zeros_like(x))
    g = chainrule.grad(lambda x: cnp.sum(L.norm(x, axis=1)))(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(g, [[0, 0], [0.6, 0.8]])


def test_singular_matrices():
    s = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert L.det(s) == 0.0
    with pytest.raises(np.linalg.LinAlgError, match="inv"):
        L.inv(s)
    with pytest.raises(np.linalg.LinAlgError, match="solve"):
        L.solve(s, [1.0, 2.0])
    with pytest.raises(np.linalg.LinAlgError, match="inv"):
        chainrule.grad(L.det)(s)
    with pytest.raises(np.linalg.LinAlgError, match="cholesky"):
        L.cholesky(-np.eye(2))


def test_full_matrices_derivatives_are_refused():
    a = rng.normal(size=(4, 2))
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        chainrule.grad(lambda a: cnp.sum(L.svd(a)[0]))(a)
    with pytest.raises(NotImplementedError, match="mode='reduced'"):
        chainrule.grad(lambda a: cnp.sum(L.qr(a, "complete")[0]))(a)
    # as in JAX, the whole primitive is refused (its JVP computes every result);
    # the singular values alone come from svdvals / compute_uv=False
    check_grads(L.svdvals, (a,), order=2)


# ------------------------------------------------------------------ errors ---


def test_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"solve: a of shape \(3, 3\) and b of shape \(4,\)"):
        L.solve(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\(2, 3, 3\).*\(3, 3, 1\)"):
        L.solve(np.ones((2, 3, 3)), np.ones((3, 3, 1)))
    with pytest.raises(np.linalg.LinAlgError, match=r"square.*\(2, 3\)"):
        L.inv(np.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="at least two-dimensional"):
        L.det(np.ones(3))
    with pytest.raises(ValueError, match=r"triangular_solve: a of shape \(3, 3\) and b of "
                                         r"shape \(2, 1\)"):
        plinalg.triangular_solve(np.eye(3), np.ones((2, 1)))
    # complex matrices: cholesky has values but no derivatives (tests/test_complex.py)
    np.testing.assert_array_equal(L.cholesky(2 * np.eye(2, dtype=complex)),
                                  np.sqrt(2) * np.eye(2))
    with pytest.raises(NotImplementedError, match="cholesky: derivatives for complex"):
        chainrule.grad(lambda a: cnp.sum(cnp.real(L.cholesky(a))))(2 * np.eye(2, dtype=complex))
    with pytest.raises(ValueError, match="invalid norm order 'fro' for vectors"):
        L.norm(np.ones(3), "fro")
    with pytest.raises(ValueError, match="mode"):
        L.qr(np.eye(2), "raw")
    with pytest.raises(chainrule.ConcretizationError):
        chainrule.make_jaxpr(L.matrix_rank)(np.eye(2))


def test_matrix_rank_under_grad_uses_the_primal():
    def f(a):
        return cnp.sum(a) * L.matrix_rank(a)
    np.testing.assert_allclose(chainrule.grad(f)(np.eye(3)), 3 * np.ones((3, 3)))


# ------------------------------------------- complex eigh, svd, nuclear norm ---


def _herm_separated(n):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    return (q * np.linspace(-2.0, 2.0, n)) @ q.conj().T


@pytest.mark.parametrize("f", [
    lambda a: L.eigvalsh(a),
    lambda a: L.eigh(a),
    lambda a: cnp.sum(cnp.abs(L.eigh(a)[1][:2]) ** 2),
])
def test_complex_eigh_grads(f):
    check_grads(f, (_herm_separated(3),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)])
def test_complex_svd_grads(shape):
    a = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    check_grads(lambda a: L.svd(a, full_matrices=False), (a,), order=2, modes=("fwd", "rev"))
    check_grads(lambda a: L.svd(a, compute_uv=False), (a,), order=2, modes=("fwd", "rev"))


def test_complex_nuclear_norm_gradient_closed_form():
    """d‖A‖_* = Re tr(Vᴴ... ): in chainrule's convention the gradient of the
    nuclear norm is conj(U Vᴴ) (docs/complex.md: ∂/∂x − i ∂/∂y)."""
    a = rng.normal(size=(4, 3)) + 1j * rng.normal(size=(4, 3))
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    g = chainrule.grad(lambda a: L.norm(a, "nuc"))(a)
    np.testing.assert_allclose(g, np.conj(u @ vh), atol=1e-12)
    check_grads(lambda a: L.norm(a, "nuc"), (a,), order=2)
    check_grads(lambda a: L.norm(a, 2), (a,), order=2)
    # the gradient of the largest eigenvalue of a Hermitian matrix: conj(v v^H)
    h = _herm_separated(3)
    w, v = np.linalg.eigh(h)
    g = chainrule.grad(lambda a: L.eigvalsh(a)[-1])(h)
    np.testing.assert_allclose(g, np.conj(np.outer(v[:, -1], v[:, -1].conj())), atol=1e-12)


def test_complex_eigh_svd_vmap_and_jit():
    hs = np.stack([_herm_separated(3) for _ in range(3)])
    out = chainrule.vmap(chainrule.grad(lambda a: cnp.sum(cnp.abs(L.eigh(a)[1][0]))))(hs)
    for k in range(3):
        np.testing.assert_allclose(
            out[k], chainrule.grad(lambda a: cnp.sum(cnp.abs(L.eigh(a)[1][0])))(hs[k]),
            atol=1e-12)
    a = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    g = chainrule.grad(lambda a: L.norm(a, "nuc"))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(chainrule.jit(g)(a), g(a), rtol=1e-12)
