"""Indexed updates: scatter (set), scatter_mul, scatter_min, scatter_max.

They complete ``scatter_add`` (in ``indexing.py``) and share its operands
and ``spec``: ``(operand, updates, *index_arrays)``, with ``updates``
broadcastable to the indexed shape ``operand[idx].shape``. Each returns a new
array; with NumPy's semantics for repeated positions::

    scatter      out = x.copy(); out[idx] = u        the last write wins
    scatter_mul  np.multiply.at(out, idx, u)         repeated updates multiply
    scatter_min  np.minimum.at(out, idx, u)          (and scatter_max)

Derivatives, to both the operand and the updates:

- scatter: overwritten positions of the operand get no cotangent; each
  update gets the cotangent of the position it wrote, and only the winning
  (last) write of a repeated position gets it (the others were overwritten).
- scatter_mul: ``d out_p = dx_p Π_k u_k + x_p Σ_k du_k Π_{j≠k} u_j`` over the
  updates k that land on p, computed without dividing by a zero update.
- scatter_min / scatter_max: the derivative goes to whichever of the operand
  value and the updates attains the extremum; ties share it equally (as
  ``reduce_max`` does).
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, ShapedArray
from ._helpers import unbroadcast
from .elementwise import add, as_dtype, div, eq, mul, ne, not_, select
from .indexing import (
    _arrays,
    _index_samples,
    batch_scatter,
    gather_p,
    gather_shape,
    index_tuple,
    normalize_spec,
    scatter_add_p,
    scatter_aval,
)
from .shape import broadcast_to

# ---------------------------------------------------------------- shared ---


def _target(name, operand, arrays, spec):
    """The indexed shape ``operand[idx].shape``."""
    avals = [a if isinstance(a, ShapedArray) else ShapedArray(np.shape(a), np.dtype(a.dtype))
             for a in arrays]
    return gather_shape(name, np.shape(operand), spec, avals)


def _ufunc_at(ufunc):
    def impl(operand, updates, *arrays, spec):
        out = np.array(operand, copy=True)
        ufunc.at(out, index_tuple(spec, arrays), updates)
        return out
    return impl


def _gather(x, arrays, spec):
    return gather_p.bind(x, *arrays, spec=spec)


def _add_at(x_like, u, arrays, spec):
    """``zeros_like(x_like)`` with ``u`` added at the indexed positions."""
    zeros = np.zeros(np.shape(x_like), np.dtype(u.dtype))
    return scatter_add_p.bind(zeros, u, *arrays, spec=spec)


def _full(updates, operand, arrays, spec, name):
    return broadcast_to(updates, _target(name, operand, arrays, spec))


# ------------------------------------------------------------ scatter (set) ---

scatter_p = Primitive("scatter")


def _scatter_impl(operand, updates, *arrays, spec):
    out = np.array(operand, copy=True)
    out[index_tuple(spec, arrays)] = updates
    return out


def _winners(operand, arrays, spec):
    """For each element of the indexed shape, whether its write is the one
    that remains (the last one to a repeated position, as in NumPy)."""
    shape = _target("scatter", operand, arrays, spec)
    ids = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    owner = scatter_p.bind(np.full(np.shape(operand), -1, np.int64), ids, *arrays, spec=spec)
    return eq(_gather(owner, arrays, spec), ids)


def _scatter_jvp(primals, tangents, out, *, spec):
    (operand, _, *arrays), (t_op, t_up) = primals, tangents[:2]
    if t_op is None and t_up is None:
        return None
    dtype = np.dtype((t_op if t_op is not None else t_up).dtype)
    t_op = t_op if t_op is not None else np.zeros(np.shape(operand), dtype)
    t_up = t_up if t_up is not None else np.zeros((), dtype)
    return scatter_p.bind(t_op, t_up, *arrays, spec=spec)


def _scatter_vjp(ct, out, operand, updates, *arrays, wants, spec):
    zero = np.zeros((), np.dtype(ct.dtype))
    ct_op = scatter_p.bind(ct, zero, *arrays, spec=spec) if wants[0] else None
    ct_up = None
    if wants[1]:
        won = _winners(operand, arrays, spec)
        ct_up = unbroadcast(select(won, _gather(ct, arrays, spec), zero), np.shape(updates))
    return (ct_op, ct_up) + (None,) * len(arrays)


scatter_p.impl = _scatter_impl
scatter_p.abstract_eval = scatter_aval("scatter")
scatter_p.jvp = _scatter_jvp
scatter_p.vjp = _scatter_vjp

# ------------------------------------------------------------ scatter_mul ---

scatter_mul_p = Primitive("scatter_mul")


def _mul_parts(operand, updates, arrays, spec):
    """``(P, others)``: per position, the product of its updates (d out / d x);
    per update, the operand times the product of the *other* updates at its
    position (d out / d u). Zero updates are counted, not divided by."""
    u = _full(updates, operand, arrays, spec, "scatter_mul")
    dtype = np.dtype(u.dtype)
    one, zero = np.ones((), dtype), np.zeros((), dtype)
    nonzero = ne(u, zero)
    safe = select(nonzero, u, one)
    prod_nonzero = scatter_mul_p.bind(np.ones(np.shape(operand), dtype), safe, *arrays,
                                      spec=spec)
    num_zeros = _add_at(operand, as_dtype(not_(nonzero), dtype), arrays, spec)
    p = select(eq(num_zeros, zero), prod_nonzero, zero)
    x_prod = _gather(mul(operand, prod_nonzero), arrays, spec)
    zeros_here = _gather(num_zeros, arrays, spec)
    others = select(nonzero, select(eq(zeros_here, zero), div(x_prod, safe), zero),
                    select(eq(zeros_here, one), x_prod, zero))
    return p, others


def _scatter_mul_jvp(primals, tangents, out, *, spec):
    (operand, updates, *arrays), (t_op, t_up) = primals, tangents[:2]
    if t_op is None and t_up is None:
        return None
    p, others = _mul_parts(operand, updates, arrays, spec)
    terms = []
    if t_op is not None:
        terms.append(mul(t_op, p))
    if t_up is not None:
        t_up = _full(t_up, operand, arrays, spec, "scatter_mul")
        terms.append(_add_at(operand, mul(t_up, others), arrays, spec))
    return terms[0] if len(terms) == 1 else add(*terms)


def _scatter_mul_vjp(ct, out, operand, updates, *arrays, wants, spec):
    p, others = _mul_parts(operand, updates, arrays, spec)
    ct_op = mul(ct, p) if wants[0] else None
    ct_up = None
    if wants[1]:
        ct_up = unbroadcast(mul(_gather(ct, arrays, spec), others), np.shape(updates))
    return (ct_op, ct_up) + (None,) * len(arrays)


scatter_mul_p.impl = _ufunc_at(np.multiply)
scatter_mul_p.abstract_eval = scatter_aval("scatter_mul")
scatter_mul_p.jvp = _scatter_mul_jvp
scatter_mul_p.vjp = _scatter_mul_vjp

# ---------------------------------------------------- scatter_min / _max ---


def _extremum_weights(name, operand, updates, out, arrays, spec):
    """Shares of the derivative: the operand's and each update's, 1/(number
    of ties) for each that attains the result, 0 for the others."""
    u = _full(updates, operand, arrays, spec, name)
    dtype = np.dtype(u.dtype)
    at_x = as_dtype(eq(operand, out), dtype)
    at_u = as_dtype(eq(u, _gather(out, arrays, spec)), dtype)
    share = div(np.ones((), dtype), add(at_x, _add_at(operand, at_u, arrays, spec)))
    return mul(at_x, share), mul(at_u, _gather(share, arrays, spec))


def _extremum(name, ufunc):
    prim = Primitive(name)
    prim.impl = _ufunc_at(ufunc)
    prim.abstract_eval = scatter_aval(name)

    def jvp(primals, tangents, out, *, spec):
        (operand, updates, *arrays), (t_op, t_up) = primals, tangents[:2]
        if t_op is None and t_up is None:
            return None
        w_op, w_up = _extremum_weights(name, operand, updates, out, arrays, spec)
        terms = []
        if t_op is not None:
            terms.append(mul(t_op, w_op))
        if t_up is not None:
            t_up = _full(t_up, operand, arrays, spec, name)
            terms.append(_add_at(operand, mul(t_up, w_up), arrays, spec))
        return terms[0] if len(terms) == 1 else add(*terms)

    def vjp(ct, out, operand, updates, *arrays, wants, spec):
        w_op, w_up = _extremum_weights(name, operand, updates, out, arrays, spec)
        ct_op = mul(ct, w_op) if wants[0] else None
        ct_up = None
        if wants[1]:
            ct_up = unbroadcast(mul(_gather(ct, arrays, spec), w_up), np.shape(updates))
        return (ct_op, ct_up) + (None,) * len(arrays)

    prim.jvp, prim.vjp = jvp, vjp
    return prim


scatter_min_p = _extremum("scatter_min", np.minimum)
scatter_max_p = _extremum("scatter_max", np.maximum)

# ------------------------------------------------------------ batching ---

for _p in (scatter_p, scatter_mul_p, scatter_min_p, scatter_max_p):
    _p.batch = batch_scatter(_p)


# ------------------------------------------------------ functions to call ---


def _bind(prim, operand, updates, index_arrays, spec):
    return prim.bind(operand, updates, *_arrays(index_arrays), spec=normalize_spec(spec))


def scatter(operand, updates, index_arrays, spec):
    """A copy of ``operand`` with ``operand[idx] = updates`` (last write wins)."""
    return _bind(scatter_p, operand, updates, index_arrays, spec)


def scatter_mul(operand, updates, index_arrays, spec):
    """A copy of ``operand`` with ``np.multiply.at(out, idx, updates)``."""
    return _bind(scatter_mul_p, operand, updates, index_arrays, spec)


def scatter_min(operand, updates, index_arrays, spec):
    """A copy of ``operand`` with ``np.minimum.at(out, idx, updates)``."""
    return _bind(scatter_min_p, operand, updates, index_arrays, spec)


def scatter_max(operand, updates, index_arrays, spec):
    """A copy of ``operand`` with ``np.maximum.at(out, idx, updates)``."""
    return _bind(scatter_max_p, operand, updates, index_arrays, spec)


# ---------------------------------------------------------------- samples ---
# The index samples of gather/scatter_add (duplicates, negative indices,
# separated index arrays). Updates are drawn away from the operand values so
# that min/max have no ties, and away from zero for mul.


def _samples(rng, updates_like):
    out = []
    for x, arrays, spec in _index_samples(rng):
        shape = gather_shape("scatter", x.shape, spec,
                             [ShapedArray(a.shape, a.dtype) for a in arrays])
        out.append(((x, updates_like(rng, shape)) + arrays, {"spec": spec}))
    out.append(((rng.normal(size=(4, 3)), updates_like(rng, (3,)), np.array([1, 1, 0])),
                {"spec": (("array", 0),)}))
    return out


def _away_from_zero(rng, shape):
    return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)


scatter_p.samples = lambda rng: _samples(rng, lambda r, s: r.normal(size=s))
scatter_mul_p.samples = lambda rng: _samples(rng, _away_from_zero)
scatter_min_p.samples = lambda rng: _samples(rng, lambda r, s: r.normal(size=s) * 3.0 + 0.1)
scatter_max_p.samples = lambda rng: _samples(rng, lambda r, s: r.normal(size=s) * 3.0 + 0.1)
