"""Linear-algebra primitives behind ``chainrule.scipy.linalg``: ``lu`` (LU
with partial pivoting), ``lu_pivots_to_permutation`` and ``expm``; and
``eig`` (general, non-symmetric matrices) behind ``chainrule.numpy.linalg.eig``.

All are NumPy at run time (no SciPy) and batch over leading axes.

    lu      P A = L U, with P A = A[perm]     X = L⁻¹ P dA U⁻¹,
            dL = L tril₋₁(X), dU = triu(X) U;  the packed output is L - I + U
    expm    E = exp(A)                        dE = L(A, dA), the Fréchet
            derivative, read off exp([[A, dA], [0, A]]) (top-right block);
            Ā = L(Aᵀ, Ē) (the transpose, also for complex A: holomorphic)

``lu``'s rules reuse the factors: two triangular solves each way. Its
derivatives are defined for square matrices with a non-singular U; the
pivoting is piecewise constant (no tangent).
``expm`` uses scaling and squaring with a Padé approximant of degree 3, 5,
7, 9 or 13 chosen by the 1-norm (Higham 2005, "The scaling and squaring
method for the matrix exponential revisited"). Its rules bind ``expm`` on a
matrix twice the size, so they can be differentiated again.
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, ShapedArray
from . import complex as cx
from ._helpers import defzero
from .elementwise import abs_, add, convert_element_type, div, eq, mul, neg
from .linalg import (
    _batch_leading,
    _check_float,
    _check_matrix,
    _const,
    _diag,
    _diag_embed,
    _eye,
    _fix_signs,
    _inv_gaps,
    _lapack,
    _masked,
    _mm,
    _mT,
    _row,
    solve,
    triangular_solve,
)
from .reductions import argmax, reduce_sum
from .shape import concatenate, expand_dims, slice_

# --------------------------------------------------------------------- lu ---
# Results: [lu, pivots, perm]. lu (..., m, n) holds L (unit diagonal, below
# it) and U (on and above it); pivots (..., k) are LAPACK's (row i was
# swapped with row pivots[i], 0-based), perm (..., m) the permutation with
# a[perm] = L @ U.

lu_p = Primitive("lu", multiple_results=True)


def _lu_impl(a):
    *lead, m, n = a.shape
    k = min(m, n)
    lu = np.array(a, copy=True).reshape((-1, m, n))
    nb = lu.shape[0]
    perm = np.tile(np.arange(m, dtype=np.int32), (nb, 1))
    piv = np.zeros((nb, k), np.int32)
    rows = np.arange(nb)
    for j in range(k):
        p = j + np.argmax(np.abs(lu[:, j:, j]), axis=1)
        piv[:, j] = p
        lu[rows, j], lu[rows, p] = lu[rows, p].copy(), lu[rows, j].copy()
        perm[rows, j], perm[rows, p] = perm[rows, p].copy(), perm[rows, j].copy()
        d = lu[:, j, j]
        # a zero pivot means the whole column below is zero: leave it (as LAPACK)
        safe = np.where(d == 0, np.ones((), lu.dtype), d)
        lu[:, j + 1:, j] /= safe[:, None]
        lu[:, j + 1:, j + 1:] -= lu[:, j + 1:, j:j + 1] * lu[:, j:j + 1, j + 1:]
    lead = tuple(lead)
    return [lu.reshape(lead + (m, n)), piv.reshape(lead + (k,)), perm.reshape(lead + (m,))]


def _lu_aval(a):
    _check_matrix("lu", a)
    _check_float("lu", a, complex_ok=True)
    *lead, m, n = a.shape
    lead = tuple(lead)
    return [ShapedArray(tuple(a.shape), np.dtype(a.dtype)),
            ShapedArray(lead + (min(m, n),), np.dtype(np.int32)),
            ShapedArray(lead + (m,), np.dtype(np.int32))]


def _perm_matrix(perm, like):
    """``P`` with ``P @ x == x[perm]`` (rows), as a matrix of ``like``'s dtype."""
    n = np.shape(perm)[-1]
    hit = eq(expand_dims(perm, (np.ndim(perm),)), np.arange(n, dtype=np.int32))
    return convert_element_type(hit, np.dtype(like.dtype))


def _lu_factors(lu):
    low = add(_masked(lu, lu, -1), _eye(lu))
    return low, _masked(lu, lu, 0, lower=False)


def _lu_square(a, what):
    m, n = np.shape(a)[-2:]
    if m != n:
        raise NotImplementedError(
            f"lu: {what} of the LU factorisation of a non-square {m}x{n} matrix are not "
            "implemented (square matrices only)")


def _lu_jvp(primals, tangents, out):
    (a,), (da,) = primals, tangents
    _lu_square(a, "derivatives")
    lu, _, perm = out
    low, up = _lu_factors(lu)
    pda = _mm(_perm_matrix(perm, lu), da)
    y = triangular_solve(low, pda, True, False)                      # L⁻¹ P dA
    x = _mT(triangular_solve(up, _mT(y), False, True))               # ... U⁻¹
    dlu = add(_mm(low, _masked(x, x, -1)), _mm(_masked(x, x, 0, lower=False), up))
    return [dlu, None, None]


def _lu_vjp(ct, out, a, *, wants):
    _lu_square(a, "gradients")
    lu, _, perm = out
    c = ct[0]
    low, up = _lu_factors(lu)
    cl, cu = _masked(c, c, -1), _masked(c, c, 0, lower=False)
    lc = _mm(_mT(low), cl)
    uc = _mm(cu, _mT(up))
    cx = add(_masked(lc, lc, -1), _masked(uc, uc, 0, lower=False))
    y = triangular_solve(low, cx, True, True)                        # L⁻ᵀ X̄
    ca = _mT(triangular_solve(up, _mT(y), False, False))             # ... U⁻ᵀ
    return (_mm(_mT(_perm_matrix(perm, lu)), ca),)


lu_p.impl = _lu_impl
lu_p.abstract_eval = _lu_aval
lu_p.jvp = _lu_jvp
lu_p.vjp = _lu_vjp
lu_p.batch = _batch_leading(lu_p)

# ----------------------------------------------- lu_pivots_to_permutation ---

lu_pivots_to_permutation_p = Primitive("lu_pivots_to_permutation")


def _pivots_impl(piv, *, size):
    *lead, k = piv.shape
    p = np.asarray(piv).reshape((-1, k))
    nb = p.shape[0]
    perm = np.tile(np.arange(size, dtype=np.int32), (nb, 1))
    rows = np.arange(nb)
    for j in range(k):
        q = p[:, j]
        perm[rows, j], perm[rows, q] = perm[rows, q].copy(), perm[rows, j].copy()
    return perm.reshape(tuple(lead) + (size,))


def _pivots_aval(piv, *, size):
    if len(piv.shape) < 1 or np.dtype(piv.dtype).kind not in "iu":
        raise TypeError("lu_pivots_to_permutation: pivots must be an integer array of "
                        f"at least one axis, got {np.dtype(piv.dtype).name}{tuple(piv.shape)}")
    if piv.shape[-1] > size:
        raise ValueError(f"lu_pivots_to_permutation: {piv.shape[-1]} pivots for a "
                         f"permutation of size {size}")
    return ShapedArray(tuple(piv.shape[:-1]) + (size,), np.dtype(np.int32))


def _pivots_checked(piv, *, size):
    piv = np.asarray(piv)
    if piv.size and (piv.min() < 0 or piv.max() >= size):
        raise ValueError(f"lu_solve: pivot indices must lie in [0, {size}), got values "
                         f"from {piv.min()} to {piv.max()}")
    return _pivots_impl(piv, size=size)


lu_pivots_to_permutation_p.impl = _pivots_checked
lu_pivots_to_permutation_p.abstract_eval = _pivots_aval
defzero(lu_pivots_to_permutation_p)
lu_pivots_to_permutation_p.batch = _batch_leading(lu_pivots_to_permutation_p)

# ------------------------------------------------------------------- expm ---

expm_p = Primitive("expm")

_PADE = {
    3: (120.0, 60.0, 12.0, 1.0),
    5: (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0),
    7: (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0),
    9: (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0,
        110880.0, 3960.0, 90.0, 1.0),
    13: (64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
         1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
         33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0),
}
# the largest 1-norm for which each degree is accurate to double precision
_THETA = ((3, 1.495585217958292e-2), (5, 2.539398330063230e-1),
          (7, 9.504178996162932e-1), (9, 2.097847961257068e0))
_THETA13 = 5.371920351148152e0


def _expm_one(a):
    n = a.shape[-1]
    eye = np.eye(n, dtype=a.dtype)
    norm = np.abs(a).sum(axis=0).max() if n else 0.0
    if not np.isfinite(norm):
        return np.full_like(a, np.nan)
    s = 0
    deg = next((d for d, theta in _THETA if norm <= theta), 13)
    if deg == 13 and norm > _THETA13:
        s = int(np.ceil(np.log2(norm / _THETA13)))
        a = a / np.asarray(2.0 ** s, a.dtype)
    b = _PADE[deg]
    a2 = a @ a
    if deg < 13:
        powers = [eye, a2]
        for _ in range(deg // 2 - 1):
            powers.append(powers[-1] @ a2)
        u = a @ sum(b[2 * i + 1] * p for i, p in enumerate(powers))
        v = sum(b[2 * i] * p for i, p in enumerate(powers))
    else:
        a4 = a2 @ a2
        a6 = a4 @ a2
        u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
                 + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = (a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2)
             + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye)
    r = np.linalg.solve(v - u, v + u)
    for _ in range(s):
        r = r @ r
    return r.astype(a.dtype, copy=False)


def _expm_impl(a):
    flat = np.asarray(a).reshape((-1,) + a.shape[-2:])
    out = np.empty_like(flat)
    for i, x in enumerate(flat):
        # the Padé and squaring steps in float64 (complex128), then back
        wide = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
        out[i] = _expm_one(wide)
    return out.reshape(a.shape)


def _expm_aval(a):
    _check_matrix("expm", a, square=True)
    _check_float("expm", a, complex_ok=True)
    return ShapedArray(tuple(a.shape), np.dtype(a.dtype))


def frechet(a, e):
    """The Fréchet derivative ``L(a, e)`` of expm at ``a`` in direction ``e``:
    the top-right block of ``expm([[a, e], [0, a]])``."""
    nd, n = np.ndim(a), np.shape(a)[-1]
    zero = np.zeros(np.shape(a), np.dtype(a.dtype))
    top = concatenate([a, e], nd - 1)
    bottom = concatenate([zero, a], nd - 1)
    big = expm_p.bind(concatenate([top, bottom], nd - 2))
    lead = tuple(np.shape(a)[:-2])
    return slice_(big, (0,) * len(lead) + (0, n), lead + (n, 2 * n))


expm_p.impl = _expm_impl
expm_p.abstract_eval = _expm_aval
expm_p.jvp = lambda primals, tangents, out: frechet(primals[0], tangents[0])
expm_p.vjp = lambda ct, out, a, *, wants: (frechet(_mT(a), ct),)
expm_p.batch = _batch_leading(expm_p)


# -------------------------------------------------------------------- eig ---
# Results: [w, v], complex (complex64 for float32/complex64 input). The
# eigenvectors of a general matrix are fixed only up to a complex scale each;
# the gauge here: unit 2-norm (as NumPy) and the largest-magnitude entry of
# each eigenvector real and positive (as eigh's signs), which makes v a
# continuous function of A away from ties. With X = V⁻¹ dA V and
# F_ij = 1/(w_j - w_i) (0 at repeated eigenvalues):
#     dw = diag(X),  dv = V (F ∘ X) + V diag(c),
# c_i the correction back to the gauge: c_i = -Re(v_iᴴ dv0_i) - i Im(dv0_pi / v_pi),
# p = the pivot row of v_i. The VJP is the transpose under Re Σ a·b.

eig_p = Primitive("eig", multiple_results=True)


def _eig_impl(a):
    cd = cx.complex_dtype(a.dtype)
    w, v = _lapack("eig", np.linalg.eig, a)
    v = v.astype(cd, copy=False)
    v = v / np.linalg.norm(v, axis=-2, keepdims=True).astype(cd)
    return [w.astype(cd, copy=False), _fix_signs(v, v.shape[-1])[0]]


def _eig_aval(a):
    _check_matrix("eig", a, square=True)
    _check_float("eig", a, complex_ok=True)
    cd = cx.complex_dtype(a.dtype)
    return [ShapedArray(tuple(a.shape[:-1]), cd), ShapedArray(tuple(a.shape), cd)]


def _pivots(v):
    """One-hot ``(..., n, n)``: 1 at the largest-magnitude entry of each column."""
    n = np.shape(v)[-1]
    idx = argmax(abs_(v), np.ndim(v) - 2, np.int32)                 # (..., n)
    hit = eq(expand_dims(idx, (np.ndim(idx) - 1,)),
             np.arange(n, dtype=np.int32)[:, None])
    return convert_element_type(hit, cx.real_dtype(v.dtype))


def _as_complex(x, like):
    d = np.dtype(like.dtype)
    return x if np.dtype(x.dtype) == d else convert_element_type(x, d)


def _eig_jvp(primals, tangents, out):
    (da,), (w, v) = tangents, out
    x = solve(v, _mm(_as_complex(da, v), v))                         # V⁻¹ dA V
    dv0 = _mm(v, mul(_inv_gaps(w), x))
    r = reduce_sum(mul(cx.conj(v), dv0), (np.ndim(v) - 2,))          # v_iᴴ dv0_i
    vp = reduce_sum(mul(_pivots(v), cx.real(v)), (np.ndim(v) - 2,))  # v_pi (real, > 0)
    q = reduce_sum(mul(_pivots(v), cx.imag(dv0)), (np.ndim(v) - 2,))
    c = cx.complex_(neg(cx.real(r)), neg(div(q, vp)))
    return [_diag(x), add(dv0, mul(v, _row(c)))]


def _eig_vjp(ct, out, a, *, wants):
    (cw, cv), (w, v) = ct, out
    cw, cv = _as_complex(cw, v), _as_complex(cv, v)
    h = reduce_sum(mul(v, cv), (np.ndim(v) - 2,))                    # diag(Vᵀ G)
    vp = reduce_sum(mul(_pivots(v), cx.real(v)), (np.ndim(v) - 2,))
    zero = mul(cx.real(h), _const(vp, 0.0))
    g0 = add(cv, mul(cx.conj(v), _row(cx.complex_(neg(cx.real(h)), zero))))
    g0 = add(g0, mul(_as_complex(_pivots(v), v),
                     _row(cx.complex_(zero, neg(div(cx.imag(h), vp))))))
    cxx = add(_diag_embed(cw), mul(_inv_gaps(w), _mm(_mT(v), g0)))  # X̄
    ca = _mm(solve(_mT(v), cxx), _mT(v))                             # V⁻ᵀ X̄ Vᵀ
    return (ca if np.dtype(a.dtype).kind == "c" else cx.real(ca),)


eig_p.impl = _eig_impl
eig_p.abstract_eval = _eig_aval
eig_p.jvp = _eig_jvp
eig_p.vjp = _eig_vjp
eig_p.batch = _batch_leading(eig_p)


# ------------------------------------------------------------------- logm ---
# The principal logarithm, by inverse scaling and squaring: square roots
# (Denman-Beavers iteration) until ‖A^(1/2^s) - I‖₁ <= 1/2, then log(I + X)
# by its diagonal Padé approximant in partial fractions (8 Gauss-Legendre
# nodes: Σ w_j X (I + t_j X)⁻¹), times 2^s. Computed in complex128; a real
# input gives a real result, and a real matrix whose logarithm is not real
# (an eigenvalue on the negative real axis) raises ValueError.
# Derivatives as expm's: L_log(A, E) is the top-right block of
# logm([[A, E], [0, A]]), true of every primary matrix function.

logm_p = Primitive("logm")
_GL_T, _GL_W = np.polynomial.legendre.leggauss(8)
_GL_T, _GL_W = (_GL_T + 1.0) / 2.0, _GL_W / 2.0


def _sqrtm_db(a):
    y, z = a, np.eye(a.shape[-1], dtype=a.dtype)
    for _ in range(100):
        y, z = 0.5 * (y + np.linalg.inv(z)), 0.5 * (z + np.linalg.inv(y))
        if np.abs(y @ y - a).sum(axis=0).max() <= 1e-10 * max(1.0, np.abs(a).sum(axis=0).max()):
            # quadratic convergence: one more step reaches rounding level
            return 0.5 * (y + np.linalg.inv(z))
    raise np.linalg.LinAlgError("logm: the square-root iteration did not converge")


def _logm_one(a):
    n = a.shape[-1]
    eye = np.eye(n, dtype=a.dtype)
    if not np.all(np.isfinite(a)):
        raise np.linalg.LinAlgError("logm: the matrix has non-finite entries")
    w = np.linalg.eigvals(a)
    if np.any(w == 0):
        raise np.linalg.LinAlgError("logm: the matrix is singular: its logarithm does "
                                    "not exist")
    if np.any((w.real < 0) & (np.abs(w.imag) <= 1e-12 * np.abs(w))):
        raise ValueError(
            "logm: the matrix has an eigenvalue on the negative real axis, where the "
            "principal logarithm is not continuous; a real matrix's logarithm would be "
            "complex there (not supported)")
    s = 0
    while np.abs(a - eye).sum(axis=0).max() > 0.5 and s < 64:
        a = _sqrtm_db(a)
        s += 1
    x = a - eye
    out = sum(wj * np.linalg.solve(eye + tj * x, x) for tj, wj in zip(_GL_T, _GL_W))
    return out * 2.0 ** s


def _logm_impl(a):
    flat = np.asarray(a).reshape((-1,) + a.shape[-2:])
    out = np.empty(flat.shape, np.complex128)
    for i, x in enumerate(flat):
        out[i] = _logm_one(x.astype(np.complex128))
    if a.dtype.kind != "c":
        scale = max(1.0, np.abs(out).max()) if out.size else 1.0
        if out.size and np.abs(out.imag).max() > 1e3 * np.finfo(a.dtype).eps * scale:
            raise ValueError("logm: the logarithm of this real matrix is complex (it has "
                             "eigenvalues on the negative real axis); pass a complex "
                             "matrix to get it")
        out = out.real
    return out.astype(a.dtype).reshape(a.shape)


def _logm_aval(a):
    _check_matrix("logm", a, square=True)
    _check_float("logm", a, complex_ok=True)
    return ShapedArray(tuple(a.shape), np.dtype(a.dtype))


def _block_derivative(prim, a, e):
    """The top-right block of ``prim([[a, e], [0, a]])``: the Fréchet derivative
    of the primary matrix function ``prim`` at ``a`` in direction ``e``."""
    nd, n = np.ndim(a), np.shape(a)[-1]
    zero = np.zeros(np.shape(a), np.dtype(a.dtype))
    big = prim.bind(concatenate([concatenate([a, e], nd - 1),
                                 concatenate([zero, a], nd - 1)], nd - 2))
    lead = tuple(np.shape(a)[:-2])
    return slice_(big, (0,) * len(lead) + (0, n), lead + (n, 2 * n))


logm_p.impl = _logm_impl
logm_p.abstract_eval = _logm_aval
logm_p.jvp = lambda primals, tangents, out: _block_derivative(logm_p, primals[0], tangents[0])
logm_p.vjp = lambda ct, out, a, *, wants: (_block_derivative(logm_p, _mT(a), ct),)
logm_p.batch = _batch_leading(logm_p)


# ------------------------------------------------------------------ sqrtm ---
# The principal square root by the Denman-Beavers iteration (complex128
# inside; real in, real out); derivatives by the block-triangular trick.

sqrtm_p = Primitive("sqrtm")


def _sqrtm_impl(a):
    flat = np.asarray(a).reshape((-1,) + a.shape[-2:])
    out = np.empty(flat.shape, np.complex128)
    for i, x in enumerate(flat):
        x = x.astype(np.complex128)
        if not np.all(np.isfinite(x)):
            raise np.linalg.LinAlgError("sqrtm: the matrix has non-finite entries")
        w = np.linalg.eigvals(x) if x.size else np.zeros(0)
        if np.any((w.real <= 0) & (np.abs(w.imag) <= 1e-12 * np.abs(w))):
            raise ValueError("sqrtm: the matrix has an eigenvalue on the closed negative "
                             "real axis (or is singular), where the principal square root "
                             "is not differentiable; not supported")
        out[i] = _sqrtm_db(x) if x.size else x
    if a.dtype.kind != "c":
        out = out.real
    return out.astype(a.dtype).reshape(a.shape)


def _sqrtm_aval(a):
    _check_matrix("sqrtm", a, square=True)
    _check_float("sqrtm", a, complex_ok=True)
    return ShapedArray(tuple(a.shape), np.dtype(a.dtype))


sqrtm_p.impl = _sqrtm_impl
sqrtm_p.abstract_eval = _sqrtm_aval
sqrtm_p.jvp = lambda primals, tangents, out: _block_derivative(sqrtm_p, primals[0], tangents[0])
sqrtm_p.vjp = lambda ct, out, a, *, wants: (_block_derivative(sqrtm_p, _mT(a), ct),)
sqrtm_p.batch = _batch_leading(sqrtm_p)


# ------------------------------------------------------ functions to call ---


def lu(a):
    return lu_p.bind(a)


def lu_pivots_to_permutation(piv, size):
    return lu_pivots_to_permutation_p.bind(piv, size=int(size))


def expm(a):
    return expm_p.bind(a)


def eig(a):
    return eig_p.bind(a)


def logm(a):
    return logm_p.bind(a)


def sqrtm(a):
    return sqrtm_p.bind(a)


# ---------------------------------------------------------------- samples ---


def _lu_samples(rng):
    return [((rng.normal(size=(3, 3)),), {}),
            ((rng.normal(size=(2, 4, 4)),), {}),
            ((rng.normal(size=(4, 4)) + 4.0 * np.eye(4),), {})]


lu_p.samples = _lu_samples
lu_pivots_to_permutation_p.samples = lambda rng: [
    ((np.array([2, 2, 2], np.int32),), {"size": 3}),
    ((np.array([[1, 2], [0, 2]], np.int32),), {"size": 4})]
eig_p.samples = lambda rng: [
    ((np.array([[1.0, 2.0, 0.5], [-1.5, 0.3, 1.0], [0.2, 0.4, -2.0]]),), {}),
    ((rng.normal(size=(2, 3, 3)) + np.diag([0.0, 2.0, 4.0]),), {}),
    ((rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)),), {})]
logm_p.samples = lambda rng: [
    ((np.eye(3) + 0.3 * rng.normal(size=(3, 3)),), {}),
    ((np.diag([1.0, 4.0, 9.0]) + 0.3 * rng.normal(size=(3, 3)),), {}),
    ((np.eye(2) + 0.2 * rng.normal(size=(2, 2, 2)),), {})]
sqrtm_p.samples = lambda rng: [
    ((np.eye(3) + 0.3 * rng.normal(size=(3, 3)),), {}),
    ((np.diag([1.0, 4.0, 9.0]) + 0.3 * rng.normal(size=(3, 3)),), {}),
    ((np.eye(2) + 0.2 * rng.normal(size=(2, 2, 2)),), {})]
expm_p.samples = lambda rng: [((0.3 * rng.normal(size=(3, 3)),), {}),
                              ((2.0 * rng.normal(size=(3, 3)),), {}),
                              ((0.5 * rng.normal(size=(2, 2, 2)),), {})]
