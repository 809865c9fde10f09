"""Linear-algebra primitives: solve, triangular_solve, inv, det, slogdet,
cholesky, eigh, svd, qr and pinv.

Every operand is a stack of matrices ``(..., m, n)`` and is batched over its
leading axes as NumPy's ``linalg`` is; the two operands of ``solve`` and
``triangular_solve`` share one leading shape (``chainrule.numpy.linalg``
broadcasts them first). Operands are real floating point (float32/float64);
``solve``, ``triangular_solve``, ``inv``, ``det``, ``slogdet``, ``eigh`` (of the
Hermitian part) and ``svd`` also take complex ones, with JAX's convention
(the holomorphic ones use the transpose, not the conjugate transpose; the
VJP is the transpose under Re Σ a·b; docs/complex.md). ``cholesky``, ``qr``
and ``pinv`` compute values of complex matrices but have no complex
derivative rules yet: they raise NotImplementedError naming the primitive.
Complex eigenvectors and singular vectors carry a free phase each: it is
fixed so that the largest-magnitude entry of each eigenvector (column of U)
is real and positive, and the derivatives are those of that choice.

Derivatives reuse the factorisation and never form a Jacobian: ``solve``'s
VJP is one more solve with the transpose, ``cholesky``'s rules are two
triangular solves, and the spectral ones use the eigen/singular vectors::

    solve     x = A⁻¹b         dx = A⁻¹(db - dA x)        b̄ = A⁻ᵀx̄, Ā = -b̄ xᵀ
    inv       X = A⁻¹          dX = -X dA X               Ā = -Xᵀ X̄ Xᵀ
    det       d = det A        dd = d tr(A⁻¹dA)           Ā = d̄ d A⁻ᵀ
    cholesky  A = LLᵀ          dL = L Φ(L⁻¹ dA L⁻ᵀ)       (Φ: lower triangle, half diagonal)
    eigh      A = V diag(w) Vᵀ dw = diag(Vᵀ dA V),  dV = V (F ∘ Vᵀ dA V),  F_ij = 1/(w_j - w_i)
    svd       A = U diag(s) Vᵀ ds = diag(Uᵀ dA V),  dU, dV with F_ij = 1/(s_j² - s_i²)
    qr        A = QR           dQ = Q(Ω - C) + dA R⁻¹, dR = (C - Ω)R, C = Qᵀ dA R⁻¹
    pinv      P = A⁺           dP = -P dA P + PPᵀdAᵀ(I - AP) + (I - PA)dAᵀPᵀP

Conventions at degenerate inputs (see docs for the reasoning):

- ``cholesky`` and ``eigh`` read the symmetric part ``(A + Aᵀ)/2`` of their
  input, as JAX, autograd and PyTorch do, so their gradients are symmetric.
  For a symmetric input the values are NumPy's exactly.
- Repeated eigenvalues (``eigh``) and repeated singular values (``svd``): the
  eigen/singular vectors are not unique there, and ``1/(λ_j - λ_i)`` is
  infinite. F_ij is set to 0 wherever ``|λ_j - λ_i| <= 8 n eps max|λ|``
  (rounding level), so results are finite (no inf/NaN): the eigenvalue
  derivatives, and the derivatives of any function that is symmetric in the
  degenerate eigenvalues and invariant to the basis of their eigenspace
  (``sum(f(w))``, ``trace``, ``logdet``), are exact; derivatives of the
  individual eigenvectors in a degenerate eigenspace are not defined and
  are not meaningful. Gradients through U and V need distinct singular values
  (and, for non-square ``A``, non-zero ones; ``1/s`` is masked the same way).
- Signs: LAPACK leaves the sign of each eigenvector / singular-vector pair
  free. ``eigh`` and ``svd`` fix it so that the largest-magnitude entry of
  each eigenvector (of each column of U) is positive, which makes them
  continuous functions and lets finite differences check them.
- Singular matrices: ``solve``, ``inv`` and the derivatives of ``det`` and
  ``slogdet`` (which need ``A⁻¹``) raise ``numpy.linalg.LinAlgError`` naming
  the op; ``det``'s value at a singular matrix is 0 as in NumPy.
- ``svd(full_matrices=True)`` of a non-square matrix and ``qr(full_matrices=
  True)`` of a tall one have values but no derivatives (the extra columns are
  not unique): use the reduced forms for gradients.
"""

from __future__ import annotations

import numpy as np

from ..batching import bdim_to_front
from ..core import Primitive, ShapedArray
from . import complex as cx
from ._helpers import same_dtype
from .dot import dot_general
from .elementwise import abs_, add, div, gt, mul, neg, select, sub
from .reductions import reduce_max, reduce_sum
from .shape import concatenate, expand_dims, slice_, transpose

# ----------------------------------------------------------- shape checks ---


def _check_float(name, *avals, complex_ok=False):
    kinds = "fc" if complex_ok else "f"
    for a in avals:
        d = np.dtype(a.dtype)
        if d.kind not in kinds or d.itemsize < 4:
            what = "float32/float64" + ("/complex" if complex_ok else "")
            raise TypeError(f"{name}: needs {what} operands, got {d.name} "
                            "(chainrule.numpy.linalg promotes integers to float64)")


def _check_matrix(name, a, square=False):
    shape = tuple(a.shape)
    if len(shape) < 2:
        raise ValueError(f"{name}: expected a matrix (or a stack of them) in the last two "
                         f"axes, got an array of shape {shape}")
    if square and shape[-1] != shape[-2]:
        raise ValueError(f"{name}: expected square matrices in the last two axes, got "
                         f"shape {shape} ({shape[-2]} x {shape[-1]})")


def _check_rhs(name, a, b):
    sa, sb = tuple(a.shape), tuple(b.shape)
    if len(sb) != len(sa) or sb[:-2] != sa[:-2] or sb[-2] != sa[-1]:
        raise ValueError(f"{name}: a of shape {sa} and b of shape {sb} do not match: b must "
                         f"have shape {sa[:-2] + (sa[-1], 'k')} (the leading axes of a, "
                         f"then {sa[-1]} rows)")


# --------------------------------------------- helpers that bind primitives ---
# Rules speak chainrule: these build matrix expressions out of primitives, so
# derivatives of derivatives work.


def _mT(x):
    nd = np.ndim(x)
    return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _mm(a, b):
    """Batched matrix product of two stacks with one leading shape."""
    nb = np.ndim(a) - 2
    batch = tuple(range(nb))
    return dot_general(a, b, (((nb + 1,), (nb,)), (batch, batch)))


def _const(x, value):
    return np.asarray(value, dtype=np.dtype(x.dtype))


def _eye(x):
    return np.eye(np.shape(x)[-1], dtype=np.dtype(x.dtype))


def _diag(x):
    """``(..., n, n) -> (..., n)``: the diagonals."""
    return reduce_sum(mul(x, _eye(x)), (np.ndim(x) - 1,))


def _trace(x):
    return reduce_sum(_diag(x), (np.ndim(x) - 2,))


def _diag_embed(d):
    """``(..., n) -> (..., n, n)``: diagonal matrices."""
    return mul(expand_dims(d, (np.ndim(d),)), _eye(d))


def _row(s):
    """``(..., k) -> (..., 1, k)``: ``M * _row(s)`` is ``M @ diag(s)``."""
    return expand_dims(s, (np.ndim(s) - 1,))


def _col(s):
    """``(..., k) -> (..., k, 1)``: ``_col(s) * M`` is ``diag(s) @ M``."""
    return expand_dims(s, (np.ndim(s),))


def _masked(x, shape_like, k, lower=True, diag_value=1.0):
    """``x`` times the triangle mask (``np.tril(.., k)`` or ``np.triu``)."""
    n, m = np.shape(shape_like)[-2:]
    mask = np.tril(np.ones((n, m)), k) if lower else np.triu(np.ones((n, m)), k)
    if diag_value != 1.0:
        mask = mask - (1.0 - diag_value) * np.eye(n, m)
    return mul(x, mask.astype(np.dtype(x.dtype)))


def _sym(x):
    return mul(add(x, _mT(x)), _const(x, 0.5))


def _tol(w, n):
    """Rounding level of values of magnitude ``max|w|`` (one per matrix)."""
    eps = np.finfo(np.dtype(w.dtype)).eps
    top = reduce_max(abs_(w), (np.ndim(w) - 1,))     # real also for complex w
    return mul(top, _const(top, 8 * n * eps))


def _inv_gaps(w):
    """``F[..., i, j] = 1 / (w_j - w_i)``, and 0 where the gap is within
    rounding of zero (the diagonal included). Both ``select``s keep the
    unused branch finite, so no NaN reaches any derivative either."""
    nd, n = np.ndim(w), np.shape(w)[-1]
    gap = sub(_row(w), _col(w))
    ok = gt(abs_(gap), expand_dims(_tol(w, n), (nd - 1, nd)))
    one, zero = _const(w, 1.0), _const(w, 0.0)
    return select(ok, div(one, select(ok, gap, one)), zero)


def _safe_inv(s):
    """``1/s``, with 0 where ``s`` is within rounding of zero."""
    ok = gt(s, expand_dims(_tol(s, np.shape(s)[-1]), (np.ndim(s) - 1,)))
    one, zero = _const(s, 1.0), _const(s, 0.0)
    return select(ok, div(one, select(ok, s, one)), zero)


def _fix_signs(vecs, k, *others):
    """Flip columns ``[..., :, :k]`` of ``vecs`` so that the largest-magnitude
    entry of each is positive; the same flip goes to each of ``others``
    (as rows ``[..., :k, :]``). Complex vectors are multiplied by the
    conjugate phase of that entry (and ``others`` by the phase), which makes
    it real and positive. NumPy only, for impl."""
    lead = vecs[..., :, :k]
    idx = np.argmax(np.abs(lead), axis=-2)[..., None, :]
    sign = np.sign(np.take_along_axis(lead, idx, axis=-2))
    sign[sign == 0] = 1
    vecs = vecs.copy()
    vecs[..., :, :k] *= np.conj(sign) if vecs.dtype.kind == "c" else sign
    out = [vecs]
    for o in others:
        o = o.copy()
        o[..., :k, :] *= np.swapaxes(sign, -1, -2)
        out.append(o)
    return out


def _hermitian_part(a):
    """``(a + aᴴ)/2`` (``(a + aᵀ)/2`` for real ``a``). NumPy only, for impl."""
    at = np.swapaxes(a, -1, -2)
    return (a + (at.conj() if a.dtype.kind == "c" else at)) / np.asarray(2, a.dtype)


def _real_rules_only(prim):
    """Derivatives of ``prim`` raise NotImplementedError for a complex
    operand (values are computed); real operands keep their rules."""
    jvp, vjp = prim.jvp, prim.vjp

    def check(a):
        if np.dtype(a.dtype).kind == "c":
            raise NotImplementedError(
                f"{prim.name}: derivatives for complex matrices are not implemented (its "
                f"values are); solve, triangular_solve, inv, det, slogdet, eigh, svd and "
                "eig have complex derivatives")

    def jvp_rule(primals, tangents, out, **params):
        check(primals[0])
        return jvp(primals, tangents, out, **params)

    def vjp_rule(ct, out, a, *, wants, **params):
        check(a)
        return vjp(ct, out, a, wants=wants, **params)

    prim.jvp, prim.vjp = jvp_rule, vjp_rule


def _lapack(name, fn, *args):
    try:
        return fn(*args)
    except np.linalg.LinAlgError as err:
        shapes = " and ".join(str(np.shape(a)) for a in args)
        raise np.linalg.LinAlgError(f"{name}: {err} (operand shape {shapes})") from None


def _batch_leading(prim):
    """Batch rule: the batch axis goes first (unbatched operands are
    broadcast), where the primitive already batches."""

    def rule(axis_size, args, dims, **params):
        args = [bdim_to_front(x, d, axis_size) for x, d in zip(args, dims, strict=True)]
        out = prim.bind(*args, **params)
        return out, ([0] * len(out) if prim.multiple_results else 0)

    return rule


# ------------------------------------------------------------------ solve ---

solve_p = Primitive("solve")


def _solve_aval(a, b):
    _check_matrix("solve", a, square=True)
    _check_matrix("solve", b)
    _check_float("solve", a, b, complex_ok=True)
    _check_rhs("solve", a, b)
    return ShapedArray(tuple(b.shape), same_dtype("solve", a, b))


def _solve_jvp(primals, tangents, out):
    (a, _), (ta, tb) = primals, tangents
    rhs = tb
    if ta is not None:
        corr = _mm(ta, out)
        rhs = neg(corr) if rhs is None else sub(rhs, corr)
    return solve_p.bind(a, rhs)


def _solve_vjp(ct, out, a, b, *, wants):
    ct_b = solve_p.bind(_mT(a), ct)
    return (neg(_mm(ct_b, _mT(out))) if wants[0] else None, ct_b if wants[1] else None)


solve_p.impl = lambda a, b: _lapack("solve", np.linalg.solve, a, b)
solve_p.abstract_eval = _solve_aval
solve_p.jvp = _solve_jvp
solve_p.vjp = _solve_vjp
solve_p.batch = _batch_leading(solve_p)

# ------------------------------------------------------- triangular_solve ---
# op(A) x = b with op(A) = A or Aᵀ; only the ``lower`` (or upper) triangle of
# A is read, so only that triangle gets a cotangent.

triangular_solve_p = Primitive("triangular_solve")


def _triangular_solve_impl(a, b, *, lower, transpose_a):
    t = np.tril(a) if lower else np.triu(a)
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    return _lapack("triangular_solve", np.linalg.solve, t, b)


def _triangular_solve_aval(a, b, *, lower, transpose_a):
    _check_matrix("triangular_solve", a, square=True)
    _check_matrix("triangular_solve", b)
    _check_float("triangular_solve", a, b, complex_ok=True)
    _check_rhs("triangular_solve", a, b)
    return ShapedArray(tuple(b.shape), same_dtype("triangular_solve", a, b))


def _triangular_solve_jvp(primals, tangents, out, *, lower, transpose_a):
    (a, _), (ta, tb) = primals, tangents
    rhs = tb
    if ta is not None:
        ta = _masked(ta, a, 0, lower)
        corr = _mm(_mT(ta) if transpose_a else ta, out)
        rhs = neg(corr) if rhs is None else sub(rhs, corr)
    return triangular_solve(a, rhs, lower, transpose_a)


def _triangular_solve_vjp(ct, out, a, b, *, wants, lower, transpose_a):
    ct_b = triangular_solve(a, ct, lower, not transpose_a)
    ct_a = None
    if wants[0]:
        g = _mm(out, _mT(ct_b)) if transpose_a else _mm(ct_b, _mT(out))
        ct_a = neg(_masked(g, a, 0, lower))
    return ct_a, ct_b if wants[1] else None


triangular_solve_p.impl = _triangular_solve_impl
triangular_solve_p.abstract_eval = _triangular_solve_aval
triangular_solve_p.jvp = _triangular_solve_jvp
triangular_solve_p.vjp = _triangular_solve_vjp
triangular_solve_p.batch = _batch_leading(triangular_solve_p)

# -------------------------------------------------------------------- inv ---

inv_p = Primitive("inv")


def _square_aval(name, complex_ok=False):
    def aval(a):
        _check_matrix(name, a, square=True)
        _check_float(name, a, complex_ok=complex_ok)
        return ShapedArray(tuple(a.shape), np.dtype(a.dtype))
    return aval


inv_p.impl = lambda a: _lapack("inv", np.linalg.inv, a)
inv_p.abstract_eval = _square_aval("inv", complex_ok=True)
inv_p.jvp = lambda primals, tangents, out: neg(_mm(out, _mm(tangents[0], out)))
inv_p.vjp = lambda ct, out, a, *, wants: (neg(_mm(_mT(out), _mm(ct, _mT(out)))),)
inv_p.batch = _batch_leading(inv_p)

# ---------------------------------------------------------- det & slogdet ---
# Both come from an LU factorisation (LAPACK getrf, through NumPy). Their
# derivatives need A⁻¹: tr(A⁻¹ dA) is one solve; the cotangent is A⁻ᵀ.

det_p = Primitive("det")
slogdet_p = Primitive("slogdet", multiple_results=True)


def _det_aval(a):
    _check_matrix("det", a, square=True)
    _check_float("det", a, complex_ok=True)
    return ShapedArray(tuple(a.shape[:-2]), np.dtype(a.dtype))


def _slogdet_aval(a):
    _check_matrix("slogdet", a, square=True)
    _check_float("slogdet", a, complex_ok=True)
    lead = tuple(a.shape[:-2])
    return [ShapedArray(lead, np.dtype(a.dtype)), ShapedArray(lead, cx.real_dtype(a.dtype))]


def _scaled_inv_t(g, a):
    """``g[..., None, None] * A⁻ᵀ``."""
    nd = np.ndim(a)
    return mul(expand_dims(g, (nd - 2, nd - 1)), _mT(inv_p.bind(a)))


det_p.impl = lambda a: np.asarray(np.linalg.det(a))
det_p.abstract_eval = _det_aval
det_p.jvp = lambda primals, tangents, out: mul(out, _trace(solve_p.bind(primals[0],
                                                                       tangents[0])))
det_p.vjp = lambda ct, out, a, *, wants: (_scaled_inv_t(mul(ct, out), a),)
det_p.batch = _batch_leading(det_p)

def _slogdet_jvp(primals, tangents, out):
    tau = _trace(solve_p.bind(primals[0], tangents[0]))     # tr(A⁻¹ dA)
    if np.dtype(tau.dtype).kind != "c":
        # the sign is piecewise constant: no tangent
        return [None, tau]
    # complex: sign = det/|det| turns by i Im(tau), log|det| moves by Re(tau)
    sign = out[0]
    turn = cx.complex_(np.zeros((), cx.real_dtype(tau.dtype)), cx.imag(tau))
    return [mul(sign, turn), cx.real(tau)]


def _slogdet_vjp(ct, out, a, *, wants):
    if np.dtype(a.dtype).kind != "c":
        return (_scaled_inv_t(ct[1], a),)  # the sign's cotangent is ignored
    # Re(c_s i Im(tau) s) + c_l Re(tau) = Re((c_l + i Im(c_s s)) tau)
    g = cx.complex_(ct[1], cx.imag(mul(ct[0], out[0])))
    return (_scaled_inv_t(g, a),)


slogdet_p.impl = lambda a: [np.asarray(o) for o in np.linalg.slogdet(a)]
slogdet_p.abstract_eval = _slogdet_aval
slogdet_p.jvp = _slogdet_jvp
slogdet_p.vjp = _slogdet_vjp
slogdet_p.batch = _batch_leading(slogdet_p)

# --------------------------------------------------------------- cholesky ---

cholesky_p = Primitive("cholesky")


def _cholesky_impl(a):
    return _lapack("cholesky", np.linalg.cholesky, _hermitian_part(a))


def _phi(x):
    """The lower triangle of ``x`` with its diagonal halved."""
    return _masked(x, x, 0, lower=True, diag_value=0.5)


def _cholesky_jvp(primals, tangents, out):
    L, da = out, _sym(tangents[0])
    tmp = triangular_solve(L, da, True, False)               # L⁻¹ dA
    x = triangular_solve(L, _mT(tmp), True, False)           # L⁻¹ dA L⁻ᵀ
    return _mm(L, _phi(x))


def _cholesky_vjp(ct, out, a, *, wants):
    L = out
    p = _phi(_mm(_mT(L), ct))
    y = triangular_solve(L, p, True, True)                   # L⁻ᵀ P
    s = _mT(triangular_solve(L, _mT(y), True, True))         # L⁻ᵀ P L⁻¹
    return (_sym(s),)


cholesky_p.impl = _cholesky_impl
cholesky_p.abstract_eval = _square_aval("cholesky", complex_ok=True)
cholesky_p.jvp = _cholesky_jvp
cholesky_p.vjp = _cholesky_vjp
_real_rules_only(cholesky_p)
cholesky_p.batch = _batch_leading(cholesky_p)

# ------------------------------------------------------------------- eigh ---

eigh_p = Primitive("eigh", multiple_results=True)


def _eigh_impl(a):
    w, v = _lapack("eigh", np.linalg.eigh, _hermitian_part(a))
    return [w, _fix_signs(v, v.shape[-1])[0]]


def _eigh_aval(a):
    _check_matrix("eigh", a, square=True)
    _check_float("eigh", a, complex_ok=True)
    return [ShapedArray(tuple(a.shape[:-1]), cx.real_dtype(a.dtype)),
            ShapedArray(tuple(a.shape), np.dtype(a.dtype))]


def _eigh_jvp(primals, tangents, out):
    w, v = out
    x = _mm(_mT(v), _mm(_sym(tangents[0]), v))               # Vᵀ dA V
    return [_diag(x), _mm(v, mul(_inv_gaps(w), x))]


def _eigh_vjp(ct, out, a, *, wants):
    (cw, cv), (w, v) = ct, out
    inner = add(_diag_embed(cw), mul(_inv_gaps(w), _mm(_mT(v), cv)))
    return (_sym(_mm(v, _mm(inner, _mT(v)))),)


# Complex Hermitian A: X = Vᴴ dA_h V (dA_h the Hermitian part), dw = Re diag(X),
# dV = V (F ∘ X) + V diag(c), c_i = -i Im(dV0[p_i, i]) / V[p_i, i]: the phase
# correction that keeps each eigenvector's pivot entry p_i (its largest) real.
# The VJP is the transpose under the pairing Re Σ a·b (docs/complex.md).


def _pivot_onehot(v):
    """Real one-hot ``(..., n, n)``: 1 at the largest-magnitude entry of each column."""
    from .elementwise import convert_element_type, eq
    from .reductions import argmax
    rows = np.shape(v)[-2]
    idx = argmax(abs_(v), np.ndim(v) - 2, np.int32)
    hit = eq(expand_dims(idx, (np.ndim(idx) - 1,)), np.arange(rows, dtype=np.int32)[:, None])
    return convert_element_type(hit, cx.real_dtype(v.dtype))


def _to(x, like):
    from .elementwise import convert_element_type
    d = np.dtype(like.dtype)
    return x if np.dtype(x.dtype) == d else convert_element_type(x, d)


def _herm(x):
    return mul(add(x, cx.conj(_mT(x))), _const(x, 0.5))


def _col_sum(x):
    return reduce_sum(x, (np.ndim(x) - 2,))


def _eigh_complex_jvp(primals, tangents, out):
    w, v = out
    x = _mm(cx.conj(_mT(v)), _mm(_herm(tangents[0]), v))        # Vᴴ dA V
    dv0 = _mm(v, mul(_to(_inv_gaps(w), v), x))
    piv = _pivot_onehot(v)
    q = div(_col_sum(mul(piv, cx.imag(dv0))), _col_sum(mul(piv, cx.real(v))))
    c = cx.complex_(mul(q, _const(q, 0.0)), neg(q))
    return [cx.real(_diag(x)), add(dv0, mul(v, _row(c)))]


def _eigh_complex_vjp(ct, out, a, *, wants):
    (cw, cv), (w, v) = ct, out
    cv = _to(cv, v)
    piv = _pivot_onehot(v)
    h = _col_sum(mul(v, cv))                                     # diag(Vᵀ G)
    t = div(neg(cx.imag(h)), _col_sum(mul(piv, cx.real(v))))
    g0 = add(cv, mul(_to(piv, v), _row(cx.complex_(mul(t, _const(t, 0.0)), t))))
    inner = add(_diag_embed(_to(cw, v)), mul(_to(_inv_gaps(w), v), _mm(_mT(v), g0)))
    return (_herm(_mm(cx.conj(v), _mm(inner, _mT(v)))),)


def _eigh_jvp_any(primals, tangents, out):
    if np.dtype(primals[0].dtype).kind == "c":
        return _eigh_complex_jvp(primals, tangents, out)
    return _eigh_jvp(primals, tangents, out)


def _eigh_vjp_any(ct, out, a, *, wants):
    if np.dtype(a.dtype).kind == "c":
        return _eigh_complex_vjp(ct, out, a, wants=wants)
    return _eigh_vjp(ct, out, a, wants=wants)


eigh_p.impl = _eigh_impl
eigh_p.abstract_eval = _eigh_aval
eigh_p.jvp = _eigh_jvp_any
eigh_p.vjp = _eigh_vjp_any
eigh_p.batch = _batch_leading(eigh_p)

# -------------------------------------------------------------------- svd ---
# Results: [u, s, vt] (NumPy's order), or [s] with compute_uv=False.

svd_p = Primitive("svd", multiple_results=True)


def _svd_impl(a, *, full_matrices, compute_uv):
    if not compute_uv:
        return [_lapack("svd", lambda x: np.linalg.svd(x, compute_uv=False), a)]
    u, s, vt = _lapack("svd", lambda x: np.linalg.svd(x, full_matrices=full_matrices), a)
    u, vt = _fix_signs(u, s.shape[-1], vt)
    return [u, s, vt]


def _svd_aval(a, *, full_matrices, compute_uv):
    _check_matrix("svd", a)
    _check_float("svd", a, complex_ok=True)
    *lead, m, n = a.shape
    lead, k, d = tuple(lead), min(m, n), np.dtype(a.dtype)
    s = ShapedArray(lead + (k,), cx.real_dtype(d))
    if not compute_uv:
        return [s]
    mu, nv = (m, n) if full_matrices else (k, k)
    return [ShapedArray(lead + (m, mu), d), s, ShapedArray(lead + (nv, n), d)]


def _svd_reduced(a, full_matrices, compute_uv, out, what):
    m, n = np.shape(a)[-2:]
    if not compute_uv:
        return svd_p.bind(a, full_matrices=False, compute_uv=True)
    if full_matrices and m != n:
        raise NotImplementedError(
            f"svd: {what} of svd(full_matrices=True) of a {m}x{n} matrix are not "
            "defined (the extra singular vectors are not unique); use "
            "full_matrices=False")
    return out


def _svd_jvp(primals, tangents, out, *, full_matrices, compute_uv):
    (a,), (ta,) = primals, tangents
    u, s, vt = _svd_reduced(a, full_matrices, compute_uv, out, "derivatives")
    v = _mT(vt)
    dp = _mm(_mT(u), _mm(ta, v))                             # Uᵀ dA V
    ds = _diag(dp)
    if not compute_uv:
        return [ds]
    f = _inv_gaps(mul(s, s))
    dps, sdp = mul(dp, _row(s)), mul(_col(s), dp)            # dP S, S dP
    du = _mm(u, mul(f, add(dps, _mT(dps))))
    dv = _mm(v, mul(f, add(sdp, _mT(sdp))))
    m, n = np.shape(a)[-2:]
    if m > n:   # the part of dA V outside the span of U
        dav = _mm(ta, v)
        du = add(du, mul(sub(dav, _mm(u, _mm(_mT(u), dav))), _row(_safe_inv(s))))
    if n > m:
        datu = _mm(_mT(ta), u)
        dv = add(dv, mul(sub(datu, _mm(v, _mm(vt, datu))), _row(_safe_inv(s))))
    return [du, ds, _mT(dv)]


def _svd_vjp(ct, out, a, *, wants, full_matrices, compute_uv):
    u, s, vt = _svd_reduced(a, full_matrices, compute_uv, out, "gradients")
    if not compute_uv:
        return (_mm(mul(u, _row(ct[0])), vt),)              # U diag(s̄) Vᵀ
    cu, cs, cvt = ct
    v, cv = _mT(vt), _mT(cvt)
    f = _inv_gaps(mul(s, s))
    j = mul(f, _mm(_mT(u), cu))
    k = mul(f, _mm(vt, cv))
    cp = add(_diag_embed(cs), add(mul(add(j, _mT(j)), _row(s)), mul(_col(s), add(k, _mT(k)))))
    ct_a = _mm(u, _mm(cp, vt))
    m, n = np.shape(a)[-2:]
    if m > n:   # (I - UUᵀ) Ū S⁻¹ Vᵀ
        rest = sub(cu, _mm(u, _mm(_mT(u), cu)))
        ct_a = add(ct_a, _mm(mul(rest, _row(_safe_inv(s))), vt))
    if n > m:   # U S⁻¹ V̄ᵀ (I - VVᵀ)
        rest = sub(cv, _mm(v, _mm(vt, cv)))
        ct_a = add(ct_a, _mm(u, _mT(mul(rest, _row(_safe_inv(s))))))
    return (ct_a,)


# Complex A = U S Vᴴ: dP = Uᴴ dA V, ds = Re diag(dP); U and V as in the real
# case with ᴴ for ᵀ, plus the free joint phase of each pair (u_i, v_i): the
# gauge keeps U's pivot entry real (as _fix_signs does), so
#     dU = dU0 + U diag(iα), α_i = -Im(dU0[p_i, i]) / U[p_i, i],
#     dV = dV0 + V diag(iβ), β = α - Im(diag dP) / s.


def _svd_complex_jvp(primals, tangents, out, *, full_matrices, compute_uv):
    (a,), (ta,) = primals, tangents
    u, s, vt = _svd_reduced(a, full_matrices, compute_uv, out, "derivatives")
    v = cx.conj(_mT(vt))
    dp = _mm(cx.conj(_mT(u)), _mm(ta, v))                     # Uᴴ dA V
    ds = cx.real(_diag(dp))
    if not compute_uv:
        return [ds]
    sc, f = _to(s, u), _to(_inv_gaps(mul(s, s)), u)
    dps, sdp = mul(dp, _row(sc)), mul(_col(sc), dp)            # dP S, S dP
    du = _mm(u, mul(f, add(dps, cx.conj(_mT(dps)))))
    dv = _mm(v, mul(f, add(sdp, cx.conj(_mT(sdp)))))
    m, n = np.shape(a)[-2:]
    sinv = _to(_safe_inv(s), u)
    if m > n:
        dav = _mm(ta, v)
        du = add(du, mul(sub(dav, _mm(u, _mm(cx.conj(_mT(u)), dav))), _row(sinv)))
    if n > m:
        datu = _mm(cx.conj(_mT(ta)), u)
        dv = add(dv, mul(sub(datu, _mm(v, _mm(vt, datu))), _row(sinv)))
    piv = _pivot_onehot(u)
    alpha = div(neg(_col_sum(mul(piv, cx.imag(du)))), _col_sum(mul(piv, cx.real(u))))
    beta = sub(alpha, mul(cx.imag(_diag(dp)), _safe_inv(s)))
    zero = mul(alpha, _const(alpha, 0.0))
    du = add(du, mul(u, _row(cx.complex_(zero, alpha))))
    dv = add(dv, mul(v, _row(cx.complex_(zero, beta))))
    return [du, ds, cx.conj(_mT(dv))]


def _svd_complex_vjp(ct, out, a, *, wants, full_matrices, compute_uv):
    u, s, vt = _svd_reduced(a, full_matrices, compute_uv, out, "gradients")
    v = cx.conj(_mT(vt))
    if not compute_uv:
        return (_mm(mul(cx.conj(u), _row(_to(ct[0], u))), _mT(v)),)   # conj(U) diag(s̄) Vᵀ
    cu, cs, cvt = _to(ct[0], u), ct[1], _to(ct[2], u)
    cv = cx.conj(_mT(cvt))
    piv = _pivot_onehot(u)
    up = _col_sum(mul(piv, cx.real(u)))
    c_beta = neg(cx.imag(_col_sum(mul(v, cv))))
    c_alpha = add(neg(cx.imag(_col_sum(mul(u, cu)))), c_beta)
    zero = mul(c_alpha, _const(c_alpha, 0.0))
    cdu = add(cu, mul(_to(piv, u), _row(cx.complex_(zero, div(c_alpha, up)))))
    sinv = _safe_inv(s)
    sc, f = _to(s, u), _to(_inv_gaps(mul(s, s)), u)
    cj = mul(f, _mm(_mT(u), cdu))
    ck = mul(f, _mm(_mT(v), cv))
    cdp = add(mul(cj, _row(sc)), mul(cx.conj(_mT(cj)), _row(sc)))
    cdp = add(cdp, add(mul(_col(sc), ck), mul(_col(sc), cx.conj(_mT(ck)))))
    cdp = add(cdp, _diag_embed(cx.complex_(cs, mul(c_beta, sinv))))
    ct_a = _mm(cx.conj(u), _mm(cdp, _mT(v)))
    m, n = np.shape(a)[-2:]
    if m > n:   # (I - conj(U) Uᵀ) Ū S⁻¹ Vᵀ
        rest = sub(cdu, _mm(cx.conj(u), _mm(_mT(u), cdu)))
        ct_a = add(ct_a, _mm(mul(rest, _row(_to(sinv, u))), _mT(v)))
    if n > m:   # ((I - conj(V) Vᵀ) V̄ S⁻¹ Uᵀ)ᴴ
        rest = sub(cv, _mm(cx.conj(v), _mm(_mT(v), cv)))
        ct_a = add(ct_a, cx.conj(_mT(_mm(mul(rest, _row(_to(sinv, u))), _mT(u)))))
    return (ct_a,)


def _svd_jvp_any(primals, tangents, out, **params):
    rule = _svd_complex_jvp if np.dtype(primals[0].dtype).kind == "c" else _svd_jvp
    return rule(primals, tangents, out, **params)


def _svd_vjp_any(ct, out, a, *, wants, **params):
    rule = _svd_complex_vjp if np.dtype(a.dtype).kind == "c" else _svd_vjp
    return rule(ct, out, a, wants=wants, **params)


svd_p.impl = _svd_impl
svd_p.abstract_eval = _svd_aval
svd_p.jvp = _svd_jvp_any
svd_p.vjp = _svd_vjp_any
svd_p.batch = _batch_leading(svd_p)

# --------------------------------------------------------------------- qr ---
# Results: [q, r]. Reduced: q (..., m, k), r (..., k, n) with k = min(m, n).
# A wide matrix A = [X | Y] (m < n) has Q, R_X from the square X and
# R_Y = Qᵀ Y, so its rules are the square ones plus that product.

qr_p = Primitive("qr", multiple_results=True)


def _qr_impl(a, *, full_matrices):
    q, r = _lapack("qr", lambda x: np.linalg.qr(
        x, mode="complete" if full_matrices else "reduced"), a)
    return [q, r]


def _qr_aval(a, *, full_matrices):
    _check_matrix("qr", a)
    _check_float("qr", a, complex_ok=True)
    *lead, m, n = a.shape
    lead, d = tuple(lead), np.dtype(a.dtype)
    k = m if full_matrices else min(m, n)
    return [ShapedArray(lead + (m, k), d), ShapedArray(lead + (k, n), d)]


def _qr_check(a, full_matrices, what):
    m, n = np.shape(a)[-2:]
    if full_matrices and m > n:
        raise NotImplementedError(
            f"qr: {what} of qr(mode='complete') of a tall {m}x{n} matrix are not "
            "defined (the extra columns of Q are not unique); use mode='reduced'")
    return m, n


def _split_cols(x, m):
    *lead, rows, n = np.shape(x)
    zeros = (0,) * (len(lead) + 1)
    full = tuple(lead) + (rows,)
    return slice_(x, zeros + (0,), full + (m,)), slice_(x, zeros + (m,), full + (n,))


def _qr_tall_jvp(q, r, da):
    b = _mT(triangular_solve(r, _mT(da), False, True))       # dA R⁻¹
    c = _mm(_mT(q), b)
    low = _masked(c, c, -1)
    omega = sub(low, _mT(low))
    return add(_mm(q, sub(omega, c)), b), _mm(sub(c, omega), r)


def _qr_jvp(primals, tangents, out, *, full_matrices):
    (a,), (ta,), (q, r) = primals, tangents, out
    m, n = _qr_check(a, full_matrices, "derivatives")
    if m >= n:
        return list(_qr_tall_jvp(q, r, ta))
    (rx, _), (dx, dy), (_, y) = _split_cols(r, m), _split_cols(ta, m), _split_cols(a, m)
    dq, drx = _qr_tall_jvp(q, rx, dx)
    dry = add(_mm(_mT(dq), y), _mm(_mT(q), dy))
    return [dq, concatenate([drx, dry], np.ndim(a) - 1)]


def _qr_tall_vjp(q, r, cq, cr):
    g = sub(_mm(cr, _mT(r)), _mm(_mT(q), cq))
    cc = sub(g, _masked(sub(g, _mT(g)), g, -1))
    cb = add(cq, _mm(q, cc))
    return _mT(triangular_solve(r, _mT(cb), False, False))   # B̄ R⁻ᵀ


def _qr_vjp(ct, out, a, *, wants, full_matrices):
    (cq, cr), (q, r) = ct, out
    m, n = _qr_check(a, full_matrices, "gradients")
    if m >= n:
        return (_qr_tall_vjp(q, r, cq, cr),)
    (rx, _), (crx, cry), (_, y) = _split_cols(r, m), _split_cols(cr, m), _split_cols(a, m)
    cx = _qr_tall_vjp(q, rx, add(cq, _mm(y, _mT(cry))), crx)
    return (concatenate([cx, _mm(q, cry)], np.ndim(a) - 1),)


qr_p.impl = _qr_impl
qr_p.abstract_eval = _qr_aval
qr_p.jvp = _qr_jvp
qr_p.vjp = _qr_vjp
_real_rules_only(qr_p)
qr_p.batch = _batch_leading(qr_p)

# ------------------------------------------------------------------- pinv ---
# The value comes from the SVD (singular values below rcond * max(s) count as
# zero). The derivative is Golub & Pereyra's, which holds wherever the rank
# is locally constant and, unlike one through svd, needs no distinct
# singular values (pinv of an orthogonal matrix is fine).

pinv_p = Primitive("pinv")


def _pinv_aval(a, *, rcond):
    _check_matrix("pinv", a)
    _check_float("pinv", a, complex_ok=True)
    return ShapedArray(tuple(a.shape[:-2]) + (a.shape[-1], a.shape[-2]), np.dtype(a.dtype))


def _pinv_jvp(primals, tangents, out, *, rcond):
    (a,), (da,), p = primals, tangents, out
    dat = _mT(da)
    ap, pa = _mm(a, p), _mm(p, a)
    g = _mm(p, _mm(_mT(p), dat))                             # P Pᵀ dAᵀ
    h = _mm(dat, _mm(_mT(p), p))                             # dAᵀ Pᵀ P
    terms = [neg(_mm(p, _mm(da, p))), sub(g, _mm(g, ap)), sub(h, _mm(pa, h))]
    return add(add(terms[0], terms[1]), terms[2])


def _pinv_vjp(ct, out, a, *, wants, rcond):
    p, ctt = out, _mT(ct)
    ap, pa = _mm(a, p), _mm(p, a)
    z = _mm(ctt, _mm(p, _mT(p)))                             # C̄ᵀ P Pᵀ
    w = _mm(_mm(_mT(p), p), ctt)                             # Pᵀ P C̄ᵀ
    terms = [neg(_mm(_mT(p), _mm(ct, _mT(p)))), sub(z, _mm(ap, z)), sub(w, _mm(w, pa))]
    return (add(add(terms[0], terms[1]), terms[2]),)


pinv_p.impl = lambda a, *, rcond: _lapack(
    "pinv", lambda x: np.linalg.pinv(x, rcond=rcond), a)
pinv_p.abstract_eval = _pinv_aval
pinv_p.jvp = _pinv_jvp
pinv_p.vjp = _pinv_vjp
_real_rules_only(pinv_p)
pinv_p.batch = _batch_leading(pinv_p)


# ------------------------------------------------------ functions to call ---


def solve(a, b):
    """``x`` with ``a @ x == b``; ``b`` is ``(..., n, k)`` with ``a``'s leading axes."""
    return solve_p.bind(a, b)


def triangular_solve(a, b, lower=True, transpose_a=False):
    """``x`` with ``op(tri(a)) @ x == b``, ``tri`` the lower or upper triangle."""
    return triangular_solve_p.bind(a, b, lower=bool(lower), transpose_a=bool(transpose_a))


def inv(a):
    return inv_p.bind(a)


def det(a):
    return det_p.bind(a)


def slogdet(a):
    return slogdet_p.bind(a)


def cholesky(a):
    return cholesky_p.bind(a)


def eigh(a):
    return eigh_p.bind(a)


def svd(a, full_matrices=False, compute_uv=True):
    return svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))


def qr(a, full_matrices=False):
    return qr_p.bind(a, full_matrices=bool(full_matrices))


def pinv(a, rcond):
    return pinv_p.bind(a, rcond=float(rcond))


# ---------------------------------------------------------------- samples ---
# Well-conditioned points: matrices near a multiple of the identity, SPD
# matrices M Mᵀ + n I, and symmetric matrices with well-separated eigenvalues.


def _general(rng, *shape):
    n = shape[-1]
    return rng.normal(size=shape) + 2.0 * np.sqrt(n) * np.eye(n)


def _spd(rng, *shape):
    m = rng.normal(size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def _separated_sym(rng, *shape):
    n = shape[-1]
    q, _ = np.linalg.qr(rng.normal(size=shape))
    w = np.linspace(-2.0, 2.0, n) + rng.uniform(-0.2, 0.2, size=shape[:-1])
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def _separated_herm(rng, *shape):
    n = shape[-1]
    q, _ = np.linalg.qr(rng.normal(size=shape) + 1j * rng.normal(size=shape))
    w = np.linspace(-2.0, 2.0, n)
    return (q * w) @ np.conj(np.swapaxes(q, -1, -2))


def _triangular_samples(rng):
    out = []
    for lower in (True, False):
        for transpose_a in (False, True):
            a = rng.normal(size=(3, 3)) + 3.0 * np.eye(3)
            out.append(((a, rng.normal(size=(3, 2))),
                        {"lower": lower, "transpose_a": transpose_a}))
    out.append(((rng.normal(size=(2, 3, 3)) + 3.0 * np.eye(3), rng.normal(size=(2, 3, 1))),
                {"lower": True, "transpose_a": False}))
    return out


solve_p.samples = lambda rng: [
    ((_general(rng, 3, 3), rng.normal(size=(3, 2))), {}),
    ((_general(rng, 2, 3, 3), rng.normal(size=(2, 3, 1))), {})]
triangular_solve_p.samples = _triangular_samples
inv_p.samples = lambda rng: [((_general(rng, 3, 3),), {}), ((_general(rng, 2, 2, 2),), {})]
det_p.samples = lambda rng: [((_general(rng, 3, 3),), {}),
                             ((_general(rng, 2, 2, 2) * np.array([1.0, -1.0])[:, None],), {})]
slogdet_p.samples = lambda rng: [((_general(rng, 3, 3),), {}),
                                 ((-_general(rng, 2, 3, 3),), {})]
cholesky_p.samples = lambda rng: [((_spd(rng, 3, 3),), {}), ((_spd(rng, 2, 2, 2),), {})]
eigh_p.samples = lambda rng: [((_separated_sym(rng, 3, 3),), {}),
                              ((_separated_sym(rng, 2, 4, 4),), {}),
                              ((_separated_herm(rng, 3, 3),), {})]
svd_p.samples = lambda rng: [
    ((rng.normal(size=(3, 3)),), {"full_matrices": False, "compute_uv": True}),
    ((rng.normal(size=(4, 2)),), {"full_matrices": False, "compute_uv": True}),
    ((rng.normal(size=(2, 2, 3)),), {"full_matrices": False, "compute_uv": True}),
    ((rng.normal(size=(3, 2)),), {"full_matrices": False, "compute_uv": False}),
    ((rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)),),
     {"full_matrices": False, "compute_uv": True}),
    ((rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2)),),
     {"full_matrices": False, "compute_uv": True}),
    ((rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3)),),
     {"full_matrices": False, "compute_uv": True}),
    ((rng.normal(size=(3, 2)) + 1j * rng.normal(size=(3, 2)),),
     {"full_matrices": False, "compute_uv": False})]
qr_p.samples = lambda rng: [((_general(rng, 3, 3),), {"full_matrices": False}),
                            ((rng.normal(size=(4, 2)),), {"full_matrices": False}),
                            ((rng.normal(size=(2, 2, 3)),), {"full_matrices": False})]
pinv_p.samples = lambda rng: [((rng.normal(size=(4, 2)),), {"rcond": 1e-15}),
                              ((rng.normal(size=(2, 2, 3)),), {"rcond": 1e-15})]
