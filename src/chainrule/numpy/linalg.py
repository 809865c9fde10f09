"""``chainrule.numpy.linalg``: NumPy's linear algebra on arrays and tracers.

Matrix functions batch over leading axes and broadcast them as NumPy does;
integer inputs are computed in float64 (float16 in float32). The
factorisations are primitives with their own derivative rules
(``chainrule/primitives/linalg.py``, where the formulas and the conventions
at degenerate inputs are written down); ``norm``, ``pinv``'s callers,
``matrix_power``, ``multi_dot``, ``cond`` and ``lstsq`` are compositions, so
their derivatives come for free.

Differences from NumPy, all about derivatives or degenerate inputs:

- ``cholesky`` and ``eigh`` use the symmetric part ``(a + aᵀ)/2`` (for
  complex ``a`` the Hermitian part ``(a + aᴴ)/2``) of their
  input (NumPy reads one triangle; equal for symmetric input), so gradients
  with respect to ``a`` are symmetric, as in JAX, autograd and PyTorch.
  ``UPLO`` is accepted and has no effect.
- ``eigh`` and ``svd`` fix the sign of each eigenvector / singular pair: the
  largest-magnitude entry of each eigenvector (column of U) is positive.
- Derivatives at repeated eigenvalues / singular values are finite: the
  ill-defined terms are set to zero (see the primitives' docstring).
- ``norm``'s 2-norm has gradient 0 at the zero vector (a subgradient), not NaN.
- Complex matrices: ``solve``, ``inv``, ``det``, ``slogdet``, ``eigh``,
  ``eigvalsh``, ``svd`` (so the nuclear and 2-norms), ``eig`` and ``eigvals``
  (and the compositions of them) are differentiable; ``cholesky``, ``qr``
  and ``pinv`` compute values, and their derivatives raise
  NotImplementedError (docs/complex.md).
- ``matrix_rank`` needs concrete values.
- ``eig``/``eigvals`` return complex arrays always (NumPy returns real ones
  when all eigenvalues are real). Eigenvectors of a non-symmetric matrix are
  defined only up to a complex scale each: chainrule fixes that gauge (unit
  norm, largest-magnitude entry real and positive), and the derivatives are
  those of that choice. Derivatives of gauge-invariant quantities
  (eigenvalues, ``|v|``, ``v vᴴ``) do not depend on it; at repeated
  eigenvalues only those of the eigenvalues are meaningful.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import numpy as np

from ..core import Tracer
from ..primitives import linalg as la
from ..primitives.shape import broadcast_to, reshape
from ._dot import diagonal as _diagonal
from ._dot import matmul, outer, tensordot  # noqa: F401  (NumPy 2 re-exports them here)
from ._dot import trace as _trace
from ._promote import asarray, cast, promote
from ._reductions import max as _max
from ._reductions import min as _min
from ._reductions import sum as _sum
from ._shape import expand_dims, moveaxis, squeeze, swapaxes
from ._ufuncs import absolute, greater, not_equal, power, sqrt, where

LinAlgError = np.linalg.LinAlgError


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


class QRResult(NamedTuple):
    Q: Any
    R: Any


class EigResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class LstsqResult(NamedTuple):
    x: Any
    residuals: Any
    rank: Any
    s: Any


# ---------------------------------------------------------------- operands ---


def _linalg_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _operands(fname, *xs, complex_ok=False):
    """Arrays of one float dtype (NumPy's promotion, then float)."""
    xs = promote(*xs, fname=fname) if len(xs) > 1 else [asarray(xs[0], fname)]
    dtype = _linalg_dtype(xs[0].dtype)
    if dtype.kind == "c" and not complex_ok:
        raise TypeError(f"{fname}: complex inputs are not supported yet (got {dtype.name})")
    return [cast(x, dtype) for x in xs]


def _matrix(fname, a, square=True):
    shape = tuple(np.shape(a))
    if len(shape) < 2:
        raise LinAlgError(f"{fname}: {len(shape)}-dimensional array given; the array must "
                          "be at least two-dimensional (a matrix or a stack of them)")
    if square and shape[-1] != shape[-2]:
        raise LinAlgError(f"{fname}: last 2 dimensions of the array must be square, got "
                          f"shape {shape}")
    return a


def _square(fname, a, complex_ok=False):
    (a,) = _operands(fname, a, complex_ok=complex_ok)
    return _matrix(fname, a)


# ----------------------------------------------------------- factorisations ---


def solve(a, b):
    """``x`` with ``a @ x == b``. ``b`` of shape ``(n,)`` is one vector (NumPy 2);
    otherwise ``(..., n, k)``, its leading axes broadcast against ``a``'s."""
    a, b = _operands("solve", a, b, complex_ok=True)
    _matrix("solve", a)
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    n = sa[-1]
    vector = len(sb) == 1
    if len(sb) == 0 or (sb[0] if vector else sb[-2]) != n:
        raise ValueError(f"solve: a of shape {sa} and b of shape {sb} do not match: a is "
                         f"{n}x{n}, so b must have shape ({n},) or (..., {n}, k)")
    if vector:
        b = broadcast_to(reshape(b, (n, 1)), sa[:-2] + (n, 1))
        return squeeze(la.solve(a, b), -1)
    try:
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    except ValueError:
        raise ValueError(f"solve: the leading (batch) axes of a of shape {sa} and b of "
                         f"shape {sb} cannot be broadcast together") from None
    return la.solve(broadcast_to(a, batch + sa[-2:]), broadcast_to(b, batch + sb[-2:]))


def inv(a):
    """The inverse of each matrix; LinAlgError if one is singular."""
    return la.inv(_square("inv", a, complex_ok=True))


def det(a):
    """Determinants, through an LU factorisation."""
    return la.det(_square("det", a, complex_ok=True))


def slogdet(a):
    """``(sign, log|det|)`` of each matrix; ``d log|det A| = tr(A⁻¹ dA)``."""
    return SlogdetResult(*la.slogdet(_square("slogdet", a, complex_ok=True)))


def cholesky(a, /, *, upper=False):
    """Lower ``L`` with ``a = L Lᴴ`` (``upper=True``: ``U = Lᴴ``); the input is
    symmetrised (made Hermitian) first. LinAlgError if a matrix is not
    positive definite. Complex matrices have values but no derivatives yet."""
    L = la.cholesky(_square("cholesky", a, complex_ok=True))
    if not upper:
        return L
    from ._complex import conj
    return conj(swapaxes(L, -1, -2))


def _uplo(fname, UPLO):
    if UPLO not in ("L", "U"):
        raise ValueError(f"{fname}: UPLO must be 'L' or 'U', got {UPLO!r}")


def eigh(a, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices."""
    _uplo("eigh", UPLO)
    return EighResult(*la.eigh(_square("eigh", a, complex_ok=True)))


def eigvalsh(a, UPLO="L"):
    _uplo("eigvalsh", UPLO)
    return la.eigh(_square("eigvalsh", a, complex_ok=True))[0]


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``U, S, Vh`` with ``a = U @ diag(S) @ Vh`` (S descending). Derivatives
    need ``full_matrices=False`` (or square matrices) and, through U and Vh,
    distinct singular values."""
    (a,) = _operands("svd", a, complex_ok=True)
    _matrix("svd", a, square=False)
    if not compute_uv:
        return la.svd(a, compute_uv=False)[0]
    return SVDResult(*la.svd(a, full_matrices=full_matrices))


def svdvals(x, /):
    return svd(x, compute_uv=False)


def qr(a, mode="reduced"):
    """``Q, R`` with ``a = Q @ R``; modes 'reduced', 'complete' and 'r'."""
    (a,) = _operands("qr", a, complex_ok=True)
    _matrix("qr", a, square=False)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r} "
                         "('raw' is LAPACK's internal form and is not supported)")
    q, r = la.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """The Moore-Penrose pseudo-inverse, through the SVD: singular values
    below ``rcond * max(s)`` count as zero (NumPy's default rcond is 1e-15;
    ``rtol=None`` means ``max(m, n) * eps``). Its derivative holds where the
    rank does not change."""
    (a,) = _operands("pinv", a, complex_ok=True)
    _matrix("pinv", a, square=False)
    if rcond is None:
        rcond = rtol if rtol is not None else 1e-15
    if np.ndim(rcond) != 0:
        raise ValueError("pinv: only a scalar rcond is supported")
    return la.pinv(a, float(rcond))


# ------------------------------------------------------------ compositions ---


def matrix_power(a, n):
    """``a`` to the integer power ``n`` by repeated squaring (``n < 0``: of
    ``inv(a)``); ``n == 0`` gives identity matrices."""
    a = asarray(a, "matrix_power")
    _matrix("matrix_power", a)
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"matrix_power: exponent must be an integer, got {n!r}") from None
    if n == 0:
        return np.broadcast_to(np.eye(np.shape(a)[-1], dtype=a.dtype), np.shape(a)).copy()
    if n < 0:
        a, n = inv(a), -n
    result, power_of_a = None, a
    while True:
        if n & 1:
            result = power_of_a if result is None else matmul(result, power_of_a)
        n >>= 1
        if not n:
            return result
        power_of_a = matmul(power_of_a, power_of_a)


def trace(x, /, *, offset=0, dtype=None):
    """Sum of the diagonal of each matrix (over the last two axes)."""
    return _trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)


def diagonal(x, /, *, offset=0):
    return _diagonal(x, offset, -2, -1)


def matrix_transpose(x, /):
    return swapaxes(x, -1, -2)


def vecdot(x1, x2, /, *, axis=-1):
    """``sum(conj(x1) * x2)`` along ``axis`` (NumPy conjugates the first)."""
    from ._complex import conj
    return _sum(conj(x1) * x2, axis=axis)


def _l2(x, axis, keepdims):
    """sqrt(sum(x²)) with gradient 0 (not NaN) where the norm is 0."""
    sq = _sum(absolute(x) ** 2 if np.dtype(x.dtype).kind == "c" else x * x,
              axis=axis, keepdims=keepdims)
    positive = greater(sq, 0)
    return where(positive, sqrt(where(positive, sq, 1)), 0)


def _vector_norm(x, ord, axis, keepdims):
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    if ord is None or ord == 2:
        return _l2(x, axis, keepdims)
    a = absolute(x)
    if ord == np.inf:
        return _max(a, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return _min(a, axis=axis, keepdims=keepdims)
    if ord == 0:  # the number of non-zeros: piecewise constant
        return cast(_sum(not_equal(x, 0), axis=axis, keepdims=keepdims), a.dtype)
    if ord == 1:
        return _sum(a, axis=axis, keepdims=keepdims)
    ord = float(ord)
    return power(_sum(power(a, ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    row, col = axes
    if ord in (None, "fro", "f"):
        return _l2(x, axes, keepdims)
    if ord in ("nuc", 2, -2):
        s = svd(moveaxis(x, (row, col), (-2, -1)), compute_uv=False)
        out = _sum(s, axis=-1) if ord == "nuc" else (
            _max(s, axis=-1) if ord == 2 else _min(s, axis=-1))
    elif ord in (1, -1, np.inf, -np.inf):
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        reduce = _max if ord in (1, np.inf) else _min
        out = reduce(_sum(absolute(x), axis=summed), axis=other - (other > summed))
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    return expand_dims(out, tuple(sorted(axes))) if keepdims else out


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norms (ord None/2, 1, inf, -inf, 0, any p) along one axis and
    matrix norms ('fro', 'nuc', 1, -1, inf, -inf, 2, -2) over two; with
    ``axis=None``, ``x`` is a vector or matrix by its dimension (or, with
    ``ord=None``, flattened)."""
    x = asarray(x, "norm")
    if np.dtype(x.dtype).kind not in "fc":
        x = cast(x, np.float64)
    nd = len(np.shape(x))
    if axis is None:
        if ord is None:
            return _l2(x, None, keepdims)
        if nd not in (1, 2):
            raise ValueError(f"norm: improper number of dimensions to norm ({nd}): with "
                             "ord given and axis=None, x must be 1-D or 2-D")
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(int(a) % nd if -nd <= int(a) < nd else _bad_axis(a, nd) for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2 and axes[0] != axes[1]:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: improper number of dimensions to norm: axis={axis!r}")


def _bad_axis(a, nd):
    raise ValueError(f"norm: axis {a} is out of bounds for an array of dimension {nd}")


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """A vector norm over ``axis`` (an int, a tuple of axes taken together,
    or None: all of them)."""
    x = asarray(x, "vector_norm")
    nd = len(np.shape(x))
    axes = tuple(range(nd)) if axis is None else (
        (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    axes = tuple(sorted(int(a) % nd for a in axes))
    moved = moveaxis(x, axes, tuple(range(nd - len(axes), nd)))
    lead = tuple(np.shape(moved))[:nd - len(axes)]
    out = norm(reshape(moved, lead + (int(np.prod([np.shape(x)[a] for a in axes])),)), ord, -1)
    return expand_dims(out, axes) if keepdims else out


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return norm(x, ord, (-2, -1), keepdims)


def cond(x, p=None):
    """Condition number: ``s_max / s_min`` for p None/2 (-2: the inverse),
    else ``norm(x, p) * norm(inv(x), p)``."""
    (x,) = _operands("cond", x)
    _matrix("cond", x, square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        s = svdvals(x)
        big, small = _max(s, axis=-1), _min(s, axis=-1)
        return big / small if p != -2 else small / big
    return norm(x, p, (-2, -1)) * norm(inv(x), p, (-2, -1))


def multi_dot(arrays, *, out=None):
    """``arrays[0] @ arrays[1] @ ...`` in the cheapest order (the matrix-chain
    dynamic programme); the first and last may be 1-D."""
    if out is not None:
        raise TypeError("multi_dot: out= is not supported (arrays are immutable here)")
    arrays = [asarray(a, "multi_dot") for a in arrays]
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    first_1d, last_1d = np.ndim(arrays[0]) == 1, np.ndim(arrays[-1]) == 1
    if first_1d:
        arrays[0] = reshape(arrays[0], (1, np.shape(arrays[0])[0]))
    if last_1d:
        arrays[-1] = reshape(arrays[-1], (np.shape(arrays[-1])[0], 1))
    for a in arrays:
        if np.ndim(a) != 2:
            raise ValueError(f"multi_dot: arrays must be 2-D (the first and last may be "
                             f"1-D), got shape {np.shape(a)}")
    dims = [np.shape(arrays[0])[0]] + [np.shape(a)[1] for a in arrays]
    split = _chain_order(dims)

    def product(i, j):
        if i == j:
            return arrays[i]
        k = split[i][j]
        return matmul(product(i, k), product(k + 1, j))

    result = product(0, len(arrays) - 1)
    if first_1d and last_1d:
        return reshape(result, ())
    if first_1d or last_1d:
        return reshape(result, (np.shape(result)[1 if first_1d else 0],))
    return result


def _chain_order(dims):
    """Split points of the cheapest parenthesisation of a matrix chain."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = float("inf")
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


# ------------------------------------------------------- values only / mixed ---


def _concrete(x, fname, why):
    while isinstance(x, Tracer):
        x = x._concrete(f"{fname} ({why})")
    return x


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """The rank, from concrete values only (an integer has no derivative)."""
    A = _concrete(A, "matrix_rank", "a rank is an integer and needs concrete values")
    return np.linalg.matrix_rank(A, tol=tol, hermitian=hermitian, rtol=rtol)


def lstsq(a, b, rcond=None):
    """Least squares ``x = pinv(a) @ b`` (differentiable in ``a`` and ``b``),
    with NumPy's residuals, rank (concrete) and singular values."""
    a, b = _operands("lstsq", a, b)
    if np.ndim(a) != 2 or np.ndim(b) not in (1, 2) or np.shape(b)[0] != np.shape(a)[0]:
        raise LinAlgError(f"lstsq: a of shape {np.shape(a)} and b of shape {np.shape(b)} "
                          "do not match: a must be (m, n) and b (m,) or (m, k)")
    m, n = np.shape(a)
    if rcond is None:
        rcond = np.finfo(np.dtype(a.dtype)).eps * max(m, n)
    x = matmul(pinv(a, rcond), b)
    s = svdvals(a)
    s_val = np.asarray(_concrete(s, "lstsq", "the rank is an integer"))
    rank = int(np.sum(s_val > rcond * s_val.max(initial=0)))
    if rank == n and m > n:
        residuals = _sum(absolute(b - matmul(a, x)) ** 2, axis=0)
        residuals = reshape(residuals, (1,)) if np.ndim(b) == 1 else residuals
    else:
        residuals = np.zeros((0,), np.dtype(a.dtype))
    return LstsqResult(x, residuals, rank, s)


def eig(a):
    """Eigenvalues and right eigenvectors (columns) of general square matrices,
    always complex. Each eigenvector has unit 2-norm (as NumPy's) and its
    largest-magnitude entry real and positive (NumPy leaves that phase to
    LAPACK), so ``v`` is a continuous, differentiable function of ``a``
    where the eigenvalues are distinct. Batched over leading axes."""
    from ..primitives import linalg_scipy as ls
    return EigResult(*ls.eig(_square("eig", a, complex_ok=True)))


def eigvals(a):
    """The (complex) eigenvalues of general square matrices, differentiable."""
    return eig(a)[0]
