"""``scipy.linalg`` on arrays and tracers: ``import chainrule.scipy.linalg``.

Names, arguments and results follow SciPy (and ``jax.scipy.linalg``); every
function batches over leading axes as JAX's do, and is differentiable to
any order in both modes. NumPy only at run time: the factorisations are
chainrule primitives (``primitives/linalg.py`` and ``primitives/linalg_scipy.py``,
where the derivative formulas are written down), whose rules reuse the
factors (a solve's gradient is a solve with the transposed factors).

Differences from SciPy:

- ``cholesky``, ``cho_factor`` and ``eigh`` read the symmetric (Hermitian)
  part of ``a``, as ``chainrule.numpy.linalg`` does, not one triangle; for a
  symmetric input the results agree. ``cho_factor``'s other triangle is
  zero (SciPy leaves arbitrary entries there). ``solve(assume_a='sym' |
  'her' | 'pos')`` does read only the ``lower`` (or upper) triangle, as SciPy.
- ``overwrite_*``, ``check_finite`` and LAPACK driver arguments are accepted
  and ignored; ``lu_factor``/``lu_solve`` pivots are 0-based as SciPy's.
- ``lu`` and ``lu_factor`` have derivatives for square matrices; ``qr``'s
  follow ``chainrule.numpy.linalg.qr`` (mode 'economic', or square 'full').
"""

from __future__ import annotations

import numpy as np

from .. import numpy as cnp
from ..core import Tracer
from ..numpy._promote import cast as _cast
from ..numpy.linalg import _matrix, _operands
from ..primitives import linalg as la
from ..primitives import linalg_scipy as ls

__all__ = ["block_diag", "cho_factor", "cho_solve", "cholesky", "det", "eigh", "expm",
           "expm_frechet", "inv", "logm", "lu", "lu_factor", "lu_solve", "qr", "sqrtm", "polar",
           "toeplitz", "hankel", "circulant", "companion", "hilbert", "dft", "solve",
           "solve_triangular", "svd"]


def _mT(x):
    return cnp.swapaxes(x, -1, -2)


def _mH(x):
    return cnp.conj(_mT(x)) if np.dtype(x.dtype).kind == "c" else _mT(x)


def _trans(fname, trans):
    codes = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}
    if isinstance(trans, str):
        trans = trans.upper()
    if trans not in codes or isinstance(trans, bool):
        raise ValueError(f"{fname}: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return codes[trans]


def _rhs(fname, a, b):
    """``b`` as a stack of columns with ``a``'s (broadcast) leading axes, and
    whether it was a vector. ``b`` is a vector (stack) when it has one axis
    (``(n,)``), or one axis fewer than ``a`` and ``n`` entries in the last,
    as in JAX; otherwise it is ``(..., n, k)``."""
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    n = sa[-1]
    vector = len(sb) == 1 or (len(sb) == len(sa) - 1 and sb[-1] == n)
    if len(sb) == 0 or (sb[-1] if vector else (sb[-2] if len(sb) >= 2 else -1)) != n:
        raise ValueError(f"{fname}: a of shape {sa} and b of shape {sb} do not match: a is "
                         f"{n}x{n}, so b must have shape (..., {n}) or (..., {n}, k)")
    if vector:
        b = cnp.expand_dims(b, -1)
        sb = sb + (1,)
    try:
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    except ValueError:
        raise ValueError(f"{fname}: the leading (batch) axes of a of shape {sa} and b of "
                         f"shape {sb} cannot be broadcast together") from None
    return (cnp.broadcast_to(a, batch + sa[-2:]), cnp.broadcast_to(b, batch + sb[-2:]),
            vector)


def _finish(x, vector):
    return cnp.squeeze(x, -1) if vector else x


# ------------------------------------------------------------- triangular ---


def _tri_solve(a, b, trans, lower, unit_diagonal):
    """The core of solve_triangular on matched operands."""
    if unit_diagonal:
        n = np.shape(a)[-1]
        a = cnp.where(np.eye(n, dtype=bool), np.ones((), np.dtype(a.dtype)), a)
    if trans == 2 and np.dtype(a.dtype).kind == "c":
        a = cnp.conj(a)
    return la.triangular_solve(a, b, lower, trans != 0)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     debug=None, check_finite=True):
    """``x`` with ``op(T) x = b``, ``T`` the lower (``lower=True``) or upper
    triangle of ``a`` (the other triangle is not read), ``op`` = identity
    (``trans`` 0/'N'), transpose (1/'T') or conjugate transpose (2/'C');
    ``unit_diagonal`` takes the diagonal as ones. ``b`` is ``(..., n)`` or
    ``(..., n, k)``. LinAlgError for a zero on the diagonal."""
    trans = _trans("solve_triangular", trans)
    a, b = _operands("solve_triangular", a, b, complex_ok=True)
    _matrix("solve_triangular", a)
    a, b, vector = _rhs("solve_triangular", a, b)
    return _finish(_tri_solve(a, b, trans, bool(lower), bool(unit_diagonal)), vector)


# --------------------------------------------------------------- cholesky ---


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """Upper ``U`` with ``a = Uᴴ U`` (``lower=True``: lower ``L``, ``a = L Lᴴ``).
    LinAlgError if a matrix is not positive definite."""
    (a,) = _operands("cholesky", a, complex_ok=True)
    L = la.cholesky(_matrix("cholesky", a))
    return L if lower else _mH(L)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``(c, lower)`` for ``cho_solve``: ``c`` is ``cholesky(a, lower)``."""
    return cholesky(a, lower=lower), bool(lower)


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """``x`` with ``A x = b`` from ``cho_factor(A)``: two triangular solves."""
    try:
        c, lower = c_and_lower
    except (TypeError, ValueError):
        raise TypeError("cho_solve: the first argument must be the pair (c, lower) that "
                        "cho_factor returns") from None
    c, b = _operands("cho_solve", c, b, complex_ok=True)
    _matrix("cho_solve", c)
    c, b, vector = _rhs("cho_solve", c, b)
    lower = bool(lower)
    if lower:   # A = L Lᴴ
        x = _tri_solve(c, _tri_solve(c, b, 0, True, False), 2, True, False)
    else:       # A = Uᴴ U
        x = _tri_solve(c, _tri_solve(c, b, 2, False, False), 0, False, False)
    return _finish(x, vector)


# --------------------------------------------------------------------- lu ---


def _lu_parts(packed):
    m, n = np.shape(packed)[-2:]
    k = min(m, n)
    dt = np.dtype(packed.dtype)
    L = cnp.tril(packed[..., :, :k], -1) + np.eye(m, k, dtype=dt)
    U = cnp.triu(packed[..., :k, :])
    return L, U


def _perm_matrix_t(perm, dtype):
    """``P`` with ``a = P @ L @ U`` from ``a[perm] = L @ U``: ``P[j, i] = perm[i] == j``."""
    m = np.shape(perm)[-1]
    hit = cnp.equal(cnp.expand_dims(perm, -2), np.arange(m, dtype=np.int32)[:, None])
    return _cast(hit, dtype)


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """LU with partial pivoting: ``P, L, U`` with ``a = P @ L @ U`` (``L`` unit
    lower ``(m, k)``, ``U`` upper ``(k, n)``, ``k = min(m, n)``);
    ``permute_l=True`` gives ``(P @ L, U)``; ``p_indices=True`` gives ``P`` as
    row indices ``p`` with ``a = L[p] @ U``."""
    (a,) = _operands("lu", a, complex_ok=True)
    _matrix("lu", a, square=False)
    packed, _, perm = ls.lu(a)
    L, U = _lu_parts(packed)
    dt = np.dtype(packed.dtype)
    if permute_l:
        return cnp.matmul(_perm_matrix_t(perm, dt), L), U
    if p_indices:
        return _cast(cnp.argsort(perm, axis=-1), np.int32), L, U
    return _perm_matrix_t(perm, dt), L, U


def lu_factor(a, overwrite_a=False, check_finite=True):
    """``(lu, piv)``: L (unit diagonal, not stored) and U packed in one matrix,
    and LAPACK's 0-based pivots (row ``i`` was swapped with row ``piv[i]``)."""
    (a,) = _operands("lu_factor", a, complex_ok=True)
    _matrix("lu_factor", a, square=False)
    packed, piv, _ = ls.lu(a)
    return packed, piv


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """``x`` with ``op(A) x = b`` from ``lu_factor(A)`` (``trans`` as in
    ``solve_triangular``)."""
    try:
        packed, piv = lu_and_piv
    except (TypeError, ValueError):
        raise TypeError("lu_solve: the first argument must be the pair (lu, piv) that "
                        "lu_factor returns") from None
    trans = _trans("lu_solve", trans)
    packed, b = _operands("lu_solve", packed, b, complex_ok=True)
    _matrix("lu_solve", packed)
    n = np.shape(packed)[-1]
    piv = cnp.asarray(piv)
    if np.dtype(piv.dtype).kind not in "iu" or tuple(np.shape(piv)) != tuple(
            np.shape(packed)[:-1]):
        raise ValueError(f"lu_solve: piv must be integers of shape {np.shape(packed)[:-1]} "
                         f"(as lu_factor returns), got {np.dtype(piv.dtype).name}"
                         f"{tuple(np.shape(piv))}")
    perm = ls.lu_pivots_to_permutation(_cast(piv, np.int32), n)
    packed, b, vector = _rhs("lu_solve", packed, b)
    perm = cnp.broadcast_to(perm, tuple(np.shape(packed)[:-1]))
    idx = cnp.expand_dims(perm, -1)
    if trans == 0:      # L U x = b[perm]
        y = _tri_solve(packed, cnp.take_along_axis(b, idx, axis=-2), 0, True, True)
        x = _tri_solve(packed, y, 0, False, False)
    else:               # op(U) op(L) z = b, x[perm] = z
        z = _tri_solve(packed, b, trans, False, False)
        z = _tri_solve(packed, z, trans, True, True)
        inv_perm = cnp.expand_dims(cnp.argsort(perm, axis=-1), -1)
        x = cnp.take_along_axis(z, inv_perm, axis=-2)
    return _finish(x, vector)


# ------------------------------------------------------- other factorisations ---


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """``Q, R`` with ``a = Q @ R``: mode 'full' (Q square), 'economic' (Q of
    shape (m, k)) or 'r' (returns the 1-tuple ``(R,)``, as SciPy)."""
    if pivoting:
        raise NotImplementedError("qr: pivoting=True is not implemented")
    modes = {"full": "complete", "economic": "reduced", "r": "r"}
    if mode not in modes:
        raise ValueError(f"qr: mode must be 'full', 'economic' or 'r', got {mode!r} "
                         "('raw' is LAPACK's internal form and is not supported)")
    if mode == "r":
        (a,) = _operands("qr", a, complex_ok=True)
        _matrix("qr", a, square=False)
        m, n = np.shape(a)[-2:]
        r = la.qr(a, full_matrices=False)[1]
        if m > n:   # SciPy's full R: zero rows below
            pad = [(0, 0)] * (np.ndim(a) - 2) + [(0, m - n), (0, 0)]
            r = cnp.pad(r, pad)
        return (r,)
    return tuple(cnp.linalg.qr(a, mode=modes[mode]))


def eigh(a, b=None, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         turbo=False, eigvals=None, type=1, check_finite=True, subset_by_index=None,
         subset_by_value=None, driver=None):
    """Eigenvalues (ascending) and eigenvectors (columns) of a Hermitian ``a``,
    or of the generalised problem ``a v = w b v`` with ``b`` positive definite
    (then ``vᴴ b v = 1``, as SciPy). ``type`` 1 only; no subsets."""
    if type != 1 or eigvals is not None or subset_by_index is not None or \
            subset_by_value is not None:
        raise NotImplementedError("eigh: only type=1 and the full spectrum are supported")
    if b is None:
        w, v = cnp.linalg.eigh(a)
    else:
        a, b = _operands("eigh", a, b, complex_ok=True)
        _matrix("eigh", a)
        _matrix("eigh", b)
        if np.shape(a)[-2:] != np.shape(b)[-2:]:
            raise ValueError(f"eigh: a of shape {np.shape(a)} and b of shape {np.shape(b)} "
                             "must be matrices of one size")
        L = cholesky(b, lower=True)
        L = cnp.broadcast_to(L, tuple(np.broadcast_shapes(np.shape(a), np.shape(L))))
        a = cnp.broadcast_to(a, np.shape(L))
        c = _tri_solve(L, _mH(_tri_solve(L, a, 0, True, False)), 0, True, False)
        w, y = cnp.linalg.eigh(c)                      # L⁻¹ A L⁻ᴴ = Y W Yᴴ
        v = _tri_solve(L, y, 2, True, False)           # V = L⁻ᴴ Y
    return w if eigvals_only else (w, v)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    """``U, s, Vh`` as ``chainrule.numpy.linalg.svd``."""
    out = cnp.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return out if not compute_uv else tuple(out)


def det(a, overwrite_a=False, check_finite=True):
    return cnp.linalg.det(a)


def inv(a, overwrite_a=False, check_finite=True):
    return cnp.linalg.inv(a)


def _from_triangle(a, lower, hermitian):
    """The symmetric (Hermitian) matrix whose ``lower`` (or upper) triangle is ``a``'s."""
    tri = cnp.tril(a) if lower else cnp.triu(a)
    strict = cnp.tril(a, -1) if lower else cnp.triu(a, 1)
    other = _mH(strict) if hermitian else _mT(strict)
    if hermitian and np.dtype(a.dtype).kind == "c":
        n = np.shape(a)[-1]
        tri = cnp.where(np.eye(n, dtype=bool), _cast(cnp.real(tri), a.dtype), tri)
    return tri + other


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a="gen", transposed=False):
    """``x`` with ``a @ x == b`` (``transposed=True``: ``aᵀ @ x == b``).
    ``assume_a``: 'gen' (LU), 'sym'/'her' (only the ``lower`` or upper triangle
    is read) or 'pos' (Cholesky of that triangle). ``b`` is ``(..., n)`` or
    ``(..., n, k)``."""
    kinds = {"gen": "gen", "general": "gen", "sym": "sym", "symmetric": "sym",
             "her": "her", "hermitian": "her", "pos": "pos", "positive definite": "pos"}
    if assume_a not in kinds:
        raise ValueError(f"solve: assume_a must be 'gen', 'sym', 'her' or 'pos', got "
                         f"{assume_a!r}")
    kind = kinds[assume_a]
    a, b = _operands("solve", a, b, complex_ok=True)
    _matrix("solve", a)
    a, b, vector = _rhs("solve", a, b)
    if kind != "gen":
        a = _from_triangle(a, bool(lower), kind in ("her", "pos"))
    if transposed:
        a = _mT(a)
    if kind == "pos":
        L = la.cholesky(a)
        x = _tri_solve(L, _tri_solve(L, b, 0, True, False), 2, True, False)
    else:
        x = la.solve(a, b)
    return _finish(x, vector)


# ------------------------------------------------------------------- expm ---


def expm(A, *, upper_triangular=False, max_squarings=16):
    """The matrix exponential (scaling and squaring, Padé degree up to 13),
    batched over leading axes. Its derivative is the Fréchet derivative."""
    (A,) = _operands("expm", A, complex_ok=True)
    return ls.expm(_matrix("expm", A))


def expm_frechet(A, E, method=None, compute_expm=True, check_finite=True):
    """``(expm(A), L(A, E))``, ``L`` the Fréchet derivative of expm at ``A`` in
    direction ``E`` (or only ``L`` with ``compute_expm=False``)."""
    A, E = _operands("expm_frechet", A, E, complex_ok=True)
    _matrix("expm_frechet", A)
    if np.shape(A) != np.shape(E):
        raise ValueError(f"expm_frechet: A of shape {np.shape(A)} and E of shape "
                         f"{np.shape(E)} must have one shape")
    L = ls.frechet(A, E)
    return (ls.expm(A), L) if compute_expm else L


def logm(A, disp=True):
    """The principal matrix logarithm (inverse scaling and squaring), batched.
    A real matrix gives a real logarithm; one with an eigenvalue on the
    negative real axis raises ValueError (its real logarithm does not exist;
    SciPy returns a complex one). ``disp=False`` returns ``(logm, errest)``
    with SciPy's error estimate ‖exp(logm) - A‖_F / ‖A‖_F."""
    (A,) = _operands("logm", A, complex_ok=True)
    out = ls.logm(_matrix("logm", A))
    if disp:
        return out
    err = cnp.linalg.norm(ls.expm(out) - A, axis=(-2, -1)) / cnp.linalg.norm(A, axis=(-2, -1))
    return out, err


# ------------------------------------------------------------- block_diag ---


def block_diag(*arrs):
    """The block-diagonal matrix of the given blocks (0-d and 1-d arrays are
    1x1 and 1xn blocks), in their promoted dtype."""
    if not arrs:
        return np.zeros((1, 0))
    blocks = []
    for i, x in enumerate(arrs):
        x = cnp.asarray(x)
        if np.ndim(x) > 2:
            raise ValueError(f"block_diag: arguments must have at most 2 dimensions, "
                             f"argument {i} has shape {np.shape(x)}")
        blocks.append(cnp.atleast_2d(x))
    dtype = np.result_type(*[np.dtype(b.dtype) for b in blocks])
    blocks = [_cast(b, dtype) for b in blocks]
    total = sum(np.shape(b)[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = np.shape(b)
        rows.append(cnp.pad(b, [(0, 0), (left, total - left - c)]))
        left += c
    return cnp.concatenate(rows, axis=0)


# ------------------------------------------------- sqrtm, polar, special matrices ---


def sqrtm(A, disp=True, blocksize=64):
    """The principal square root (Denman-Beavers iteration), batched; real in,
    real out. An eigenvalue on the closed negative real axis (a singular
    matrix too) raises ValueError. ``disp=False`` returns ``(sqrtm, errest)``
    with ``errest = ‖X² - A‖_F / ‖A‖_F``."""
    (A,) = _operands("sqrtm", A, complex_ok=True)
    out = ls.sqrtm(_matrix("sqrtm", A))
    if disp:
        return out
    err = cnp.linalg.norm(cnp.matmul(out, out) - A, axis=(-2, -1)) / cnp.linalg.norm(
        A, axis=(-2, -1))
    return out, err


def polar(a, side="right"):
    """``(u, p)`` with ``a = u p`` (``side='right'``) or ``a = p u`` ('left'),
    ``u`` with orthonormal columns (rows) and ``p`` Hermitian positive
    semidefinite, through the SVD (derivatives need distinct singular values)."""
    if side not in ("right", "left"):
        raise ValueError(f"polar: side must be 'right' or 'left', got {side!r}")
    (a,) = _operands("polar", a, complex_ok=True)
    _matrix("polar", a, square=False)
    w, s, vh = cnp.linalg.svd(a, full_matrices=False)
    u = cnp.matmul(w, vh)
    if side == "right":
        p = cnp.matmul(_mH(vh) * cnp.expand_dims(_cast(s, a.dtype), -2), vh)
    else:
        p = cnp.matmul(w * cnp.expand_dims(_cast(s, a.dtype), -2), _mH(w))
    return u, p


def _vector(fname, x):
    x = cnp.asarray(x)
    if np.ndim(x) == 0:
        x = cnp.reshape(x, (1,))
    return x


def toeplitz(c, r=None):
    """``T[..., i, j] = c[..., i - j]`` on and below the diagonal, ``r[..., j - i]``
    above it (``r`` defaults to ``conj(c)``; ``r[0]`` is ignored), batched over
    leading axes as JAX's."""
    c = _vector("toeplitz", c)
    r = cnp.conj(c) if r is None else _vector("toeplitz", r)
    m, n = np.shape(c)[-1], np.shape(r)[-1]
    dt = np.result_type(np.dtype(c.dtype), np.dtype(r.dtype))
    c, r = _cast(c, dt), _cast(r, dt)
    lead = tuple(np.broadcast_shapes(np.shape(c)[:-1], np.shape(r)[:-1]))
    c = cnp.broadcast_to(c, lead + (m,))
    r = cnp.broadcast_to(r, lead + (n,))
    full = cnp.concatenate([cnp.flip(r[..., 1:], -1), c], axis=-1)   # index n-1 is c[0]
    idx = (n - 1) + np.arange(m)[:, None] - np.arange(n)[None, :]
    return cnp.take(full, idx, axis=-1)


def hankel(c, r=None):
    """``H[..., i, j] = c[..., i + j]`` for ``i + j < m``, else ``r[..., i + j - m + 1]``
    (``r`` defaults to zeros; ``r[0]`` is ignored)."""
    c = _vector("hankel", c)
    r = cnp.zeros_like(c) if r is None else _vector("hankel", r)
    m, n = np.shape(c)[-1], np.shape(r)[-1]
    dt = np.result_type(np.dtype(c.dtype), np.dtype(r.dtype))
    c, r = _cast(c, dt), _cast(r, dt)
    lead = tuple(np.broadcast_shapes(np.shape(c)[:-1], np.shape(r)[:-1]))
    full = cnp.concatenate([cnp.broadcast_to(c, lead + (m,)),
                            cnp.broadcast_to(r, lead + (n,))[..., 1:]], axis=-1)
    idx = np.arange(m)[:, None] + np.arange(n)[None, :]
    return cnp.take(full, idx, axis=-1)


def circulant(c):
    """``C[..., i, j] = c[..., (i - j) mod n]``, batched over leading axes."""
    c = _vector("circulant", c)
    n = np.shape(c)[-1]
    idx = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n
    return cnp.take(c, idx, axis=-1)


def companion(a):
    """The companion matrix of the polynomial with coefficients ``a`` (highest
    power first): first row ``-a[1:] / a[0]``, ones below the diagonal."""
    a = cnp.asarray(a)
    if np.ndim(a) != 1 or np.shape(a)[0] < 2:
        raise ValueError(f"companion: a must be one-dimensional with at least two "
                         f"coefficients, got shape {np.shape(a)}")
    if not isinstance(a, Tracer) and np.asarray(a)[0] == 0:
        raise ValueError("companion: the leading coefficient a[0] must not be zero")
    n = np.shape(a)[0] - 1
    (a,) = _operands("companion", a)
    first = cnp.expand_dims(-a[1:] / a[0], 0)
    return cnp.concatenate([first, np.eye(n - 1, n, dtype=np.dtype(a.dtype))], axis=0)


def hilbert(n):
    """``H[i, j] = 1 / (i + j + 1)`` (a constant)."""
    i = np.arange(int(n))
    return 1.0 / (i[:, None] + i[None, :] + 1.0)


def dft(n, scale=None):
    """The DFT matrix ``exp(-2πi jk / n)``, scaled by ``1/n`` ('n'), ``1/√n``
    ('sqrtn') or not (None), as SciPy (a constant)."""
    if scale not in (None, "n", "sqrtn"):
        raise ValueError(f"dft: scale must be None, 'n' or 'sqrtn', got {scale!r}")
    k = np.arange(int(n))
    m = np.exp(-2j * np.pi * np.outer(k, k) / n)
    return m / n if scale == "n" else (m / np.sqrt(n) if scale == "sqrtn" else m)
