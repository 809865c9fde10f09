"""Contractions: ``dot_general``, the one primitive behind matmul, dot,
tensordot, inner, outer and einsum.

``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))``
names the axes of each operand that are summed over in pairs and the axes
that are matched one to one. The output has the batch axes first, then the
remaining ("free") axes of ``lhs``, then those of ``rhs``, each in order::

    out[b, i, j] = sum_k lhs[b, i, k] * rhs[b, k, j]

It is bilinear, so forward mode is the product rule and reverse mode sends
the upstream cotangent through one more contraction with the other operand:
the lectures' ``dL/dx = dL/dy . w^T`` and ``dL/dw = x^T . dL/dy``.
"""

from __future__ import annotations

import math

import numpy as np

from ..batching import moveaxis
from ..core import Primitive, ShapedArray
from ._helpers import same_dtype
from .elementwise import add
from .shape import transpose

dot_general_p = Primitive("dot_general")


def _free_axes(ndim, contract, batch):
    used = set(contract) | set(batch)
    return [i for i in range(ndim) if i not in used]


# ----------------------------------------------------------------- shapes ---

def _dot_general_aval(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    ls, rs = tuple(lhs.shape), tuple(rhs.shape)
    name = "dot_general"
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ValueError(f"{name}: shapes {ls} and {rs}: contracting dimensions {lc} and "
                         f"{rc} (batch {lb} and {rb}) must come in pairs")
    for shape, axes, side in ((ls, tuple(lc) + tuple(lb), "lhs"),
                              (rs, tuple(rc) + tuple(rb), "rhs")):
        if any(not 0 <= a < len(shape) for a in axes):
            raise ValueError(f"{name}: axes {axes} are out of bounds for the {side} "
                             f"of shape {shape} (shapes {ls} and {rs})")
        if len(set(axes)) != len(axes):
            raise ValueError(f"{name}: repeated axis in the contracting and batch "
                             f"dimensions {axes} of the {side} (shape {shape})")
    for kind, la, ra in (("not aligned", lc, rc), ("batch dimensions differ", lb, rb)):
        for i, j in zip(la, ra, strict=True):
            if ls[i] != rs[j]:
                raise ValueError(f"{name}: shapes {ls} and {rs} are {kind}: "
                                 f"{ls[i]} (dim {i}) != {rs[j]} (dim {j})")
    dtype = same_dtype(name, lhs, rhs)
    shape = (tuple(ls[i] for i in lb) + tuple(ls[i] for i in _free_axes(len(ls), lc, lb))
             + tuple(rs[i] for i in _free_axes(len(rs), rc, rb)))
    return ShapedArray(shape, dtype)


# ------------------------------------------------------------------- impl ---

def _dot_general_impl(lhs, rhs, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if lhs.dtype != rhs.dtype:
        raise TypeError("dot_general: dtypes differ")  # EvalInterpreter re-asks the aval
    ln, rn = lhs.ndim, rhs.ndim
    if not lb:
        # The MLP hot path: x @ w, ct @ w.T and x.T @ ct, as one BLAS call on
        # (transposed) views.
        if (len(lc) == len(rc) == 1 and ln <= 2 and rn <= 2
                and 0 <= lc[0] < ln and 0 <= rc[0] < rn):
            a = lhs if lc[0] == ln - 1 else lhs.T
            b = rhs if rc[0] == 0 else rhs.T
            out = np.matmul(a, b)
            return out if type(out) is np.ndarray else np.asarray(out)
        if lc == (ln - 1,) and rc == (0,) and rn <= 2:
            return np.matmul(lhs, rhs)  # (..., m, k) @ (k, n): one GEMM
        if not lc and not rc:
            return np.multiply.outer(lhs, rhs)   # an outer product (a weight's gradient)
    else:
        nb = len(lb)
        batch = tuple(range(nb))
        if (lb == batch and rb == batch and ln == rn == nb + 2 and len(lc) == len(rc) == 1
                and nb <= lc[0] <= nb + 1 and nb <= rc[0] <= nb + 1
                and lhs.shape[:nb] == rhs.shape[:nb]):
            a = lhs if lc[0] == nb + 1 else np.swapaxes(lhs, -1, -2)
            b = rhs if rc[0] == nb else np.swapaxes(rhs, -1, -2)
            return np.matmul(a, b)
    return _general(lhs, rhs, lc, rc, lb, rb)


def _general(lhs, rhs, lc, rc, lb, rb):
    """Any contraction as one batched matmul of (B, M, K) by (B, K, N)."""
    lf = _free_axes(lhs.ndim, lc, lb)
    rf = _free_axes(rhs.ndim, rc, rb)
    ls, rs = lhs.shape, rhs.shape
    bshape = tuple(ls[i] for i in lb)
    kshape = tuple(ls[i] for i in lc)
    if bshape != tuple(rs[i] for i in rb) or kshape != tuple(rs[i] for i in rc):
        raise ValueError("dot_general: shapes differ")  # EvalInterpreter re-asks the aval
    lfshape = tuple(ls[i] for i in lf)
    rfshape = tuple(rs[i] for i in rf)
    size = math.prod
    nbat, m, n = size(bshape), size(lfshape), size(rfshape)
    k = size(kshape)
    # Operands already laid out as (batch, contract, free) for lhs or (batch,
    # free, contract) for rhs are reshaped without a copy and handed to BLAS
    # as transposed views (x.T @ ct with leading axes, for instance).
    if tuple(lb) + tuple(lc) + tuple(lf) == tuple(range(lhs.ndim)):
        a = lhs.reshape(nbat, k, m).swapaxes(1, 2)
    else:
        a = np.transpose(lhs, tuple(lb) + tuple(lf) + tuple(lc)).reshape(nbat, m, k)
    if tuple(rb) + tuple(rf) + tuple(rc) == tuple(range(rhs.ndim)):
        b = rhs.reshape(nbat, n, k).swapaxes(1, 2)
    else:
        b = np.transpose(rhs, tuple(rb) + tuple(rc) + tuple(rf)).reshape(nbat, k, n)
    return np.matmul(a, b).reshape(bshape + lfshape + rfshape)


# -------------------------------------------------------------------- jvp ---

def _dot_general_jvp(primals, tangents, out, *, dimension_numbers):
    (lhs, rhs), (tl, tr) = primals, tangents
    terms = []
    if tl is not None:
        terms.append(dot_general(tl, rhs, dimension_numbers))
    if tr is not None:
        terms.append(dot_general(lhs, tr, dimension_numbers))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else add(terms[0], terms[1])


# -------------------------------------------------------------------- vjp ---
# ct has the output's axes: batch (nb), lhs free (nlf), rhs free (nrf).
# Each cotangent is one more contraction of ct with the other operand over
# the axes that operand brought to the output, after which its axes are
# (batch, ..., ...) in some order; a transpose puts them back in place.

def _lhs_cotangent(ct, rhs, lhs_ndim, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    lf = _free_axes(lhs_ndim, lc, lb)
    rf = _free_axes(np.ndim(rhs), rc, rb)
    # dL/dx = dL/dy . w^T: sum ct's rhs-free axes against rhs's free axes
    ct_rf = tuple(range(nb + len(lf), nb + len(lf) + len(rf)))
    dims = ((ct_rf, tuple(rf)), (tuple(range(nb)), tuple(rb)))
    y = dot_general(ct, rhs, dims)
    # y's axes: lhs batch, lhs free, then rhs's contracting axes in rhs order,
    # each of which is the partner of one of lhs's contracting axes.
    partner = dict(zip(rc, lc, strict=True))
    order = list(lb) + lf + [partner[a] for a in sorted(rc)]
    return transpose(y, np.argsort(order))


def _rhs_cotangent(ct, lhs, rhs_ndim, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    lf = _free_axes(np.ndim(lhs), lc, lb)
    rf = _free_axes(rhs_ndim, rc, rb)
    # dL/dw = x^T . dL/dy: sum lhs's free axes against ct's lhs-free axes
    ct_lf = tuple(range(nb, nb + len(lf)))
    dims = ((tuple(lf), ct_lf), (tuple(lb), tuple(range(nb))))
    y = dot_general(lhs, ct, dims)
    # y's axes: rhs batch, lhs's contracting axes in lhs order (partners of
    # rhs's contracting axes), then rhs free.
    partner = dict(zip(lc, rc, strict=True))
    order = list(rb) + [partner[a] for a in sorted(lc)] + rf
    return transpose(y, np.argsort(order))


def _dot_general_vjp(ct, out, lhs, rhs, *, wants, dimension_numbers):
    ct_lhs = _lhs_cotangent(ct, rhs, np.ndim(lhs), dimension_numbers) if wants[0] else None
    ct_rhs = _rhs_cotangent(ct, lhs, np.ndim(rhs), dimension_numbers) if wants[1] else None
    return ct_lhs, ct_rhs



# --------------------------------------------------------------- batching ---
# The vmapped axis goes to the front of each batched operand. Batched on both
# sides it is one more batch dimension; on one side only it is a free axis of
# that side, which keeps x @ w over a batch of x one GEMM.

def _dot_general_batch(axis_size, args, dims, *, dimension_numbers):
    (lhs, rhs), (dl, dr) = args, dims
    (lc, rc), (lb, rb) = dimension_numbers
    shift = lambda axes, d: tuple(a + (d is not None) for a in axes)  # noqa: E731
    lc, lb, rc, rb = shift(lc, dl), shift(lb, dl), shift(rc, dr), shift(rb, dr)
    if dl is not None:
        lhs = moveaxis(lhs, dl, 0)
    if dr is not None:
        rhs = moveaxis(rhs, dr, 0)
    if dl is not None and dr is not None:
        lb, rb, out_dim = (0,) + lb, (0,) + rb, 0
    elif dl is not None:
        out_dim = len(lb)
    elif not lb and np.ndim(rhs) == len(rc) + 1:
        # the batch axis is rhs's only free axis: with the operands swapped
        # it comes first (per-example matrix-vector products become one
        # matrix product, with no transpose of its result)
        return dot_general_p.bind(rhs, lhs, dimension_numbers=((rc, lc), (rb, lb))), 0
    else:
        out_dim = len(lb) + np.ndim(lhs) - len(lc) - len(lb)
    return dot_general_p.bind(lhs, rhs, dimension_numbers=((lc, rc), (lb, rb))), out_dim


dot_general_p.impl = _dot_general_impl
dot_general_p.abstract_eval = _dot_general_aval
dot_general_p.jvp = _dot_general_jvp
dot_general_p.vjp = _dot_general_vjp
dot_general_p.batch = _dot_general_batch


# ------------------------------------------------------ functions to call ---

def _axes(axes):
    return tuple(int(a) for a in axes)


def dot_general(lhs, rhs, dimension_numbers):
    """Contract ``lhs`` with ``rhs``; see the module docstring.

    ``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))``;
    operands must have one dtype (``chainrule.numpy`` promotes).
    """
    (lc, rc), (lb, rb) = dimension_numbers
    dims = ((_axes(lc), _axes(rc)), (_axes(lb), _axes(rb)))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dims)


# ---------------------------------------------------------------- samples ---

def _samples(rng):
    def n(*shape):
        return rng.normal(size=shape)

    no_batch = ((), ())
    return [
        ((n(2, 3), n(3, 4)), {"dimension_numbers": (((1,), (0,)), no_batch)}),   # matmul
        ((n(2, 3), n(3)), {"dimension_numbers": (((1,), (0,)), no_batch)}),      # mat-vec
        ((n(3), n(3)), {"dimension_numbers": (((0,), (0,)), no_batch)}),         # vec-vec
        ((n(5, 2, 3), n(5, 3, 4)),                                               # batched
         {"dimension_numbers": (((2,), (1,)), ((0,), (0,)))}),
        ((n(2, 3, 4, 5), n(4, 6, 3)),                                            # tensordot
         {"dimension_numbers": (((1, 2), (2, 0)), no_batch)}),
        ((n(2, 3), n(4)), {"dimension_numbers": (((), ()), no_batch)}),          # outer
        ((n(3, 2), n(3, 4)), {"dimension_numbers": (((0,), (0,)), no_batch)}),   # x^T @ y
        ((n(2, 4, 3), n(3, 5, 2)),                                               # batch axes
         {"dimension_numbers": (((2,), (0,)), ((0,), (2,)))}),                   # not leading
    ]


dot_general_p.samples = _samples
