"""chainrule.scipy.linalg: values against scipy.linalg, derivatives to second
order in both modes, batching (leading axes and vmap vs a loop), jit vs
eager, float32, and clear errors."""

import numpy as np
import pytest

import chainrule
import chainrule.scipy
from chainrule.test_util import check_grads

sl = pytest.importorskip("scipy.linalg")
L = chainrule.scipy.linalg
rng = np.random.default_rng(0)


def general(*shape):
    n = shape[-1]
    return rng.normal(size=shape) + 2.0 * np.sqrt(n) * np.eye(n)


def spd(*shape):
    m = rng.normal(size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


A, B, V = general(4, 4), rng.normal(size=(4, 2)), rng.normal(size=4)
S = spd(4, 4)
CA = A + 1j * rng.normal(size=(4, 4))
CB = B + 1j * rng.normal(size=(4, 2))


def test_reachable_after_import_chainrule_scipy():
    assert "solve_triangular" in dir(chainrule.scipy.linalg)
    for name in L.__all__:
        assert callable(getattr(L, name)), name


# ------------------------------------------------------------------ values ---


@pytest.mark.parametrize("trans", [0, 1, 2, "N", "T", "C"])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("unit", [True, False])
def test_solve_triangular_values(trans, lower, unit):
    for a, b in [(A, B), (A, V), (CA, CB)]:
        want = sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
        got = L.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_solve_triangular_batched_broadcasts():
    a, b = general(3, 4, 4), rng.normal(size=(4, 2))
    got = L.solve_triangular(a, b, lower=True)
    want = np.stack([sl.solve_triangular(x, b, lower=True) for x in a])
    np.testing.assert_allclose(got, want, rtol=1e-10)
    vecs = rng.normal(size=(3, 4))                      # (..., n): one vector per matrix
    got = L.solve_triangular(a, vecs, trans="T")
    want = np.stack([sl.solve_triangular(x, y, trans="T") for x, y in zip(a, vecs)])
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_and_cho_solve(lower):
    np.testing.assert_allclose(L.cholesky(S, lower=lower), sl.cholesky(S, lower=lower),
                               rtol=1e-12)
    c, low = L.cho_factor(S, lower=lower)
    assert low is lower
    np.testing.assert_allclose(L.cho_solve((c, low), B), sl.cho_solve(sl.cho_factor(S), B),
                               rtol=1e-10)
    np.testing.assert_allclose(L.cho_solve((c, low), V), np.linalg.solve(S, V), rtol=1e-10)
    h = CA @ CA.conj().T + 4 * np.eye(4)
    np.testing.assert_allclose(L.cho_solve(L.cho_factor(h, lower=lower), CB),
                               np.linalg.solve(h, CB), rtol=1e-10)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 4)])
def test_lu_values(shape):
    a = rng.normal(size=shape)
    p, lo, u = L.lu(a)
    for got, want in zip((p, lo, u), sl.lu(a), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    pl, u2 = L.lu(a, permute_l=True)
    np.testing.assert_allclose(pl, sl.lu(a, permute_l=True)[0], atol=1e-12)
    idx, lo2, _ = L.lu(a, p_indices=True)
    np.testing.assert_array_equal(idx, sl.lu(a, p_indices=True)[0])
    np.testing.assert_allclose(np.take_along_axis(lo2, idx[..., None], -2) @ u2, a,
                               atol=1e-12)


@pytest.mark.parametrize("trans", [0, 1, 2])
def test_lu_factor_and_solve(trans):
    lu, piv = L.lu_factor(A)
    want_lu, want_piv = sl.lu_factor(A)
    np.testing.assert_allclose(lu, want_lu, rtol=1e-12)
    np.testing.assert_array_equal(piv, want_piv)
    for b in (B, V):
        np.testing.assert_allclose(L.lu_solve((lu, piv), b, trans=trans),
                                   sl.lu_solve((want_lu, want_piv), b, trans=trans), rtol=1e-10)
    got = L.lu_solve(L.lu_factor(CA), CB, trans=trans)
    np.testing.assert_allclose(got, sl.lu_solve(sl.lu_factor(CA), CB, trans=trans), rtol=1e-10)


def test_lu_of_singular_matrix_is_finite():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    p, lo, u = L.lu(a)
    np.testing.assert_allclose(p @ lo @ u, a)
    np.testing.assert_allclose(u, sl.lu(a)[2])


@pytest.mark.parametrize("mode", ["full", "economic", "r"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5)])
def test_qr_values(mode, shape):
    a = rng.normal(size=shape)
    got, want = L.qr(a, mode=mode), sl.qr(a, mode=mode)
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(np.abs(g), np.abs(w), atol=1e-12)
    if mode != "r":
        np.testing.assert_allclose(got[0] @ got[1], a, atol=1e-12)


def test_eigh_standard_and_generalised():
    h = (A + A.T) / 2
    w, v = L.eigh(h)
    np.testing.assert_allclose(w, sl.eigh(h, eigvals_only=True), rtol=1e-12)
    np.testing.assert_allclose(h @ v, v * w, atol=1e-12)
    w, v = L.eigh(h, S)
    w2, v2 = sl.eigh(h, S)
    np.testing.assert_allclose(w, w2, rtol=1e-10)
    np.testing.assert_allclose(np.abs(v), np.abs(v2), atol=1e-10)
    np.testing.assert_allclose(v.T @ S @ v, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(L.eigh(h, S, eigvals_only=True), w2, rtol=1e-10)


@pytest.mark.parametrize("assume_a", ["gen", "sym", "her", "pos"])
@pytest.mark.parametrize("lower", [True, False])
def test_solve_assume_a(assume_a, lower):
    a = S + (np.triu(A, 1) if lower else np.tril(A, -1))   # garbage in the unread triangle
    if assume_a == "gen":
        a = A
    for b in (B, V):
        np.testing.assert_allclose(L.solve(a, b, assume_a=assume_a, lower=lower),
                                   sl.solve(a, b, assume_a=assume_a, lower=lower), rtol=1e-10)
    np.testing.assert_allclose(L.solve(a, B, assume_a=assume_a, lower=lower, transposed=True),
                               sl.solve(a, B, assume_a=assume_a, lower=lower, transposed=True),
                               rtol=1e-10)


def test_solve_complex_hermitian():
    h = CA @ CA.conj().T + 4 * np.eye(4)
    for kind in ("her", "pos", "gen"):
        np.testing.assert_allclose(L.solve(h, CB, assume_a=kind),
                                   sl.solve(h, CB, assume_a=kind), rtol=1e-10)


@pytest.mark.parametrize("scale", [1e-3, 0.1, 0.5, 1.5, 4.0, 30.0])
def test_expm_values(scale):
    a = scale * rng.normal(size=(5, 5))
    want = sl.expm(a)
    np.testing.assert_allclose(L.expm(a), want, rtol=1e-12 * max(1, scale), atol=1e-13
                               * np.abs(want).max())
    ca = a + 1j * scale * rng.normal(size=(5, 5))
    np.testing.assert_allclose(L.expm(ca), sl.expm(ca), rtol=1e-10, atol=1e-12 *
                               np.abs(sl.expm(ca)).max())


def test_expm_batched_and_frechet():
    a = 0.7 * rng.normal(size=(3, 4, 4))
    np.testing.assert_allclose(L.expm(a), sl.expm(a), rtol=1e-12)
    e = rng.normal(size=(4, 4))
    got = L.expm_frechet(a[0], e)
    for g, w in zip(got, sl.expm_frechet(a[0], e), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10)
    np.testing.assert_allclose(L.expm_frechet(a[0], e, compute_expm=False), got[1])
    np.testing.assert_allclose(L.expm(np.zeros((3, 3))), np.eye(3))


@pytest.mark.parametrize("case", ["near_identity", "spread", "rotation", "nonnormal",
                                  "complex", "batched"])
def test_logm_values(case):
    import warnings
    a = {"near_identity": np.eye(4) + 0.3 * rng.normal(size=(4, 4)),
         "spread": np.diag([1.0, 10.0, 100.0]) + 0.5 * rng.normal(size=(3, 3)),
         "rotation": 3.0 * np.array([[0.0, -1.0], [1.0, 0.0]]),
         "nonnormal": np.array([[1.0, 1e3], [0.0, 2.0]]),
         "complex": CA,
         "batched": np.stack([S, spd(4, 4)])}[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SciPy's own accuracy warnings
        want = np.stack([sl.logm(x) for x in a]) if a.ndim == 3 else sl.logm(a)
    got = L.logm(a)
    assert got.dtype == a.dtype
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * np.abs(want).max())
    np.testing.assert_allclose(L.expm(got), a, rtol=1e-10, atol=1e-10 * np.abs(a).max())
    _, err = L.logm(a, disp=False)
    assert np.all(err < 1e-12)


def test_sqrtm_polar_and_special_matrices():
    import warnings
    rot = 3.0 * np.array([[0.0, -1.0], [1.0, 0.0]])
    for a in (np.eye(4) + 0.3 * rng.normal(size=(4, 4)), S, rot, CA @ CA.conj().T + np.eye(4)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = sl.sqrtm(a)
        got = L.sqrtm(a)
        assert got.dtype == a.dtype
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
        assert L.sqrtm(a, disp=False)[1] < 1e-12
    x = rng.normal(size=(4, 3))
    for side in ("right", "left"):
        for g, w in zip(L.polar(x, side), sl.polar(x, side), strict=True):
            np.testing.assert_allclose(g, w, atol=1e-12)
    c, r = rng.normal(size=4), rng.normal(size=3)
    np.testing.assert_allclose(L.toeplitz(c, r), sl.toeplitz(c, r))
    np.testing.assert_allclose(L.toeplitz(c + 1j * c), sl.toeplitz(c + 1j * c))
    np.testing.assert_allclose(L.hankel(c, r), sl.hankel(c, r))
    np.testing.assert_allclose(L.hankel(c), sl.hankel(c))
    np.testing.assert_allclose(L.circulant(c), sl.circulant(c))
    np.testing.assert_allclose(L.companion(c), sl.companion(c))
    np.testing.assert_allclose(L.hilbert(5), sl.hilbert(5))
    for scale in (None, "n", "sqrtn"):
        np.testing.assert_allclose(L.dft(4, scale), sl.dft(4, scale), atol=1e-15)
    batch = rng.normal(size=(2, 3))
    np.testing.assert_allclose(L.toeplitz(batch), np.stack([sl.toeplitz(b) for b in batch]))
    with pytest.raises(ValueError, match="companion"):
        L.companion([0.0, 1.0])
    with pytest.raises(ValueError, match="sqrtm"):
        L.sqrtm(-np.eye(2))


def test_block_diag_det_inv_svd():
    parts = (np.ones((2, 3)), 5, [1.0, 2.0], np.zeros((0, 2)), np.arange(4).reshape(2, 2))
    np.testing.assert_array_equal(L.block_diag(*parts), sl.block_diag(*parts))
    assert L.block_diag(np.ones((1, 1), np.float32)).dtype == np.float32
    np.testing.assert_allclose(L.det(A), sl.det(A), rtol=1e-12)
    np.testing.assert_allclose(L.inv(A), sl.inv(A), rtol=1e-12)
    np.testing.assert_allclose(L.svd(A, compute_uv=False), sl.svd(A, compute_uv=False))


# ------------------------------------------------------------- derivatives ---

GRAD_CASES = {
    "solve_triangular": (lambda a, b: L.solve_triangular(a, b, trans=1, lower=True), (A, B)),
    "solve_triangular_unit": (lambda a, b: L.solve_triangular(a, b, unit_diagonal=True),
                              (A, V)),
    "cholesky_upper": (lambda a: L.cholesky(a), (S,)),
    "cho_solve": (lambda a, b: L.cho_solve(L.cho_factor(a, lower=True), b), (S, B)),
    "lu": (lambda a: L.lu(a)[1:], (A,)),
    "lu_permute_l": (lambda a: L.lu(a, permute_l=True), (rng.normal(size=(3, 3)),)),
    "lu_solve": (lambda a, b: L.lu_solve(L.lu_factor(a), b), (A, B)),
    "lu_solve_T": (lambda a, b: L.lu_solve(L.lu_factor(a), b, trans=1), (A, V)),
    "solve_pos": (lambda a, b: L.solve(a, b, assume_a="pos"), (S, B)),
    "solve_sym": (lambda a, b: L.solve(a, b, assume_a="sym", lower=True), (S, B)),
    "solve_gen_T": (lambda a, b: L.solve(a, b, transposed=True), (A, V)),
    "expm": (L.expm, (0.4 * rng.normal(size=(3, 3)),)),
    "expm_scaled": (L.expm, (3.0 * rng.normal(size=(3, 3)),)),
    "expm_frechet": (lambda a, e: L.expm_frechet(a, e, compute_expm=False),
                     (0.3 * rng.normal(size=(3, 3)), rng.normal(size=(3, 3)))),
    "eigh_generalised": (lambda a, b: L.eigh(a, b, eigvals_only=True),
                         (np.diag([1.0, 2.0, 3.5]) + 0.1 * (A[:3, :3] + A[:3, :3].T), spd(3, 3))),
    "block_diag": (lambda x, y: L.block_diag(x, y, 2.0), (A[:2], V)),
    "qr_economic": (lambda a: L.qr(a, mode="economic"), (rng.normal(size=(4, 3)),)),
    "det": (L.det, (A,)),
    "logm": (L.logm, (np.eye(3) + 0.3 * rng.normal(size=(3, 3)),)),
    "logm_spd": (L.logm, (spd(3, 3),)),
    "sqrtm": (L.sqrtm, (spd(3, 3),)),
    "polar": (lambda a: L.polar(a, "left"), (rng.normal(size=(3, 4)),)),
    "toeplitz": (L.toeplitz, (rng.normal(size=3), rng.normal(size=4))),
    "hankel": (L.hankel, (rng.normal(size=3), rng.normal(size=4))),
    "circulant": (L.circulant, (rng.normal(size=4),)),
    "companion": (L.companion, (np.array([2.0, 0.5, -1.0, 0.3]),)),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_grads_second_order(name):
    f, args = GRAD_CASES[name]
    check_grads(f, args, order=2, modes=("fwd", "rev"))


def test_expm_complex_grads_holomorphic():
    a = 0.3 * (rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))
    check_grads(L.expm, (a,), order=1, modes=("fwd", "rev"))


def test_gp_log_likelihood_gradient():
    """The use case of the issue: a Gaussian-process negative log likelihood
    through cho_factor/cho_solve and solve_triangular, against finite
    differences and against the closed form ½ tr((K⁻¹ - ααᵀ) dK)."""
    import chainrule.numpy as cnp
    x = np.linspace(0, 1, 6)
    y = np.sin(3 * x)

    def nll(log_ell):
        k = cnp.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / cnp.exp(2 * log_ell))
        k = k + 1e-2 * np.eye(6)
        c, low = L.cho_factor(k, lower=True)
        alpha = L.cho_solve((c, low), y)
        z = L.solve_triangular(c, y, lower=True)
        return 0.5 * cnp.dot(z, z) + cnp.sum(cnp.log(cnp.diagonal(c))) + 0 * cnp.dot(alpha, y)

    check_grads(nll, (np.array(-1.0),), order=2)
    ell = np.exp(-1.0)
    d2 = (x[:, None] - x[None, :]) ** 2
    k = np.exp(-0.5 * d2 / ell ** 2) + 1e-2 * np.eye(6)
    dk = np.exp(-0.5 * d2 / ell ** 2) * d2 / ell ** 2
    alpha = np.linalg.solve(k, y)
    want = 0.5 * np.trace((np.linalg.inv(k) - np.outer(alpha, alpha)) @ dk)
    np.testing.assert_allclose(chainrule.grad(nll)(np.array(-1.0)), want, rtol=1e-8)


# ------------------------------------------------------ vmap, jit, float32 ---

BATCH_CASES = {
    "solve_triangular": (lambda a, b: L.solve_triangular(a, b, lower=True), (A, B)),
    "cho_solve": (lambda a, b: L.cho_solve(L.cho_factor(a), b), (S, B)),
    "lu": (lambda a: L.lu(a), (A,)),
    "lu_solve": (lambda a, b: L.lu_solve(L.lu_factor(a), b, trans=2), (A, V)),
    "solve_pos": (lambda a, b: L.solve(a, b, assume_a="pos"), (S, B)),
    "expm": (L.expm, (0.5 * A,)),
    "logm": (L.logm, (S,)),
    "sqrtm": (L.sqrtm, (S,)),
    "grad_expm": (chainrule.grad(lambda a: L.expm(a)[0, 1]), (0.3 * A,)),
    "eigh_gen": (lambda a, b: L.eigh(a, b)[0], (S, spd(4, 4))),
}


@pytest.mark.parametrize("name", sorted(BATCH_CASES))
def test_vmap_matches_loop(name):
    f, args = BATCH_CASES[name]
    r = np.random.default_rng(3)
    stacks = [np.stack([a + 0.01 * r.normal(size=np.shape(a)) for _ in range(3)])
              for a in args]
    for in_axes in [0, (0,) + (None,) * (len(args) - 1)]:
        xs = stacks if in_axes == 0 else [stacks[0]] + list(args[1:])
        out = chainrule.vmap(f, in_axes=in_axes)(*xs)
        loop = [f(*[x[k] if (in_axes == 0 or i == 0) else x for i, x in enumerate(xs)])
                for k in range(3)]
        outs = chainrule.tree_util.tree_leaves(out)
        loops = [chainrule.tree_util.tree_leaves(lo) for lo in loop]
        for j, o in enumerate(outs):
            np.testing.assert_allclose(o, np.stack([lo[j] for lo in loops]), atol=1e-10)


@pytest.mark.parametrize("name", sorted(BATCH_CASES))
def test_jit_matches_eager(name):
    f, args = BATCH_CASES[name]
    eager = chainrule.tree_util.tree_leaves(f(*args))
    jitted = chainrule.tree_util.tree_leaves(chainrule.jit(f)(*args))
    for e, j in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(j, e, rtol=1e-12, atol=1e-12)


def test_jit_of_grad_through_lu_solve():
    def loss(a):
        return chainrule.numpy.sum(L.lu_solve(L.lu_factor(a), B) ** 2)
    g = chainrule.grad(loss)
    np.testing.assert_allclose(chainrule.jit(g)(A), g(A), rtol=1e-12)


def test_float32_stays_float32():
    a, b, s = A.astype(np.float32), B.astype(np.float32), S.astype(np.float32)
    outs = [L.solve_triangular(a, b), L.cho_solve(L.cho_factor(s), b), *L.lu(a),
            L.lu_solve(L.lu_factor(a), b), L.expm(0.3 * a), L.logm(s),
            L.solve(s, b, assume_a="pos"),
            L.block_diag(a, b), chainrule.grad(lambda x: L.expm(x)[0, 0])(0.3 * a)]
    for o in outs:
        assert o.dtype == np.float32
    np.testing.assert_allclose(L.expm(0.3 * a), sl.expm(0.3 * A), rtol=1e-5)
    np.testing.assert_allclose(L.lu_solve(L.lu_factor(a), b), np.linalg.solve(A, B),
                               rtol=1e-4)
    assert L.lu_factor(a)[1].dtype == np.int32


# ------------------------------------------------------------------ errors ---


def test_errors():
    with pytest.raises(ValueError, match="solve_triangular: trans must be"):
        L.solve_triangular(A, B, trans=3)
    with pytest.raises(ValueError, match="solve_triangular: a of shape"):
        L.solve_triangular(A, np.ones((3, 2)))
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        L.solve_triangular(np.ones((3, 4)), np.ones(3))
    with pytest.raises(np.linalg.LinAlgError, match="cholesky"):
        L.cholesky(-S)
    with pytest.raises(np.linalg.LinAlgError, match="triangular_solve"):
        L.solve_triangular(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(TypeError, match="cho_solve: the first argument"):
        L.cho_solve(S, B)
    with pytest.raises(TypeError, match="lu_solve: the first argument"):
        L.lu_solve(A, B)
    with pytest.raises(ValueError, match="lu_solve: piv must be"):
        L.lu_solve((A, np.zeros(3, np.int32)), B)
    with pytest.raises(ValueError, match="pivot indices"):
        L.lu_solve((A, np.full(4, 7, np.int32)), B)
    with pytest.raises(ValueError, match="solve: assume_a"):
        L.solve(A, B, assume_a="banded")
    with pytest.raises(np.linalg.LinAlgError, match="solve"):
        L.solve(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="qr: mode"):
        L.qr(A, mode="raw")
    with pytest.raises(np.linalg.LinAlgError, match="expm"):
        L.expm(np.ones((2, 3)))
    with pytest.raises(ValueError, match="block_diag"):
        L.block_diag(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="logm: .*negative real axis"):
        L.logm(-np.eye(2))
    with pytest.raises(np.linalg.LinAlgError, match="logm: .*singular"):
        L.logm(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expm_frechet"):
        L.expm_frechet(A, np.ones((3, 3)))
    with pytest.raises(NotImplementedError, match="non-square"):
        chainrule.grad(lambda a: L.lu(a)[2].sum())(np.ones((3, 2)) + np.eye(3, 2))
    with pytest.raises(np.linalg.LinAlgError):
        chainrule.grad(lambda a: L.lu(a)[2].sum())(np.ones((3, 3)))


# -------------------------------------------------------------- hypothesis ---

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), k=st.integers(1, 3), batch=st.sampled_from([(), (2,), (2, 1)]),
       trans=st.sampled_from([0, 1, 2]), lower=st.booleans(), unit=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_solve_triangular_and_lu_solve_over_shapes(n, k, batch, trans, lower, unit, seed):
    r = np.random.default_rng(seed)
    a = r.normal(size=batch + (n, n)) + 3.0 * np.eye(n)
    b = r.normal(size=batch + (n, k))    # (a (2, n, n) with b (n, k) and k == n would be
    flat, bs = a.reshape((-1, n, n)), b.reshape((-1, n, k))   # read as vectors, as in JAX)
    got = L.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
    want = np.stack([sl.solve_triangular(x, y, trans=trans, lower=lower, unit_diagonal=unit)
                     for x, y in zip(flat, bs)]).reshape(batch + (n, k))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)
    got = L.lu_solve(L.lu_factor(a), b, trans=trans)
    want = np.stack([sl.lu_solve(sl.lu_factor(x), y, trans=trans) for x, y in zip(flat, bs)])
    np.testing.assert_allclose(got, want.reshape(batch + (n, k)), rtol=1e-9, atol=1e-11)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 5), n=st.integers(1, 5), seed=st.integers(0, 2 ** 16))
def test_lu_over_shapes(m, n, seed):
    a = np.random.default_rng(seed).normal(size=(m, n))
    for g, w in zip(L.lu(a), sl.lu(a), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
