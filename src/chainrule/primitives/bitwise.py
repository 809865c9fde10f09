"""Bitwise primitives on integer and boolean arrays (lax's ``bitwise_and``,
``shift_left``, ...): what counter-based random numbers are built from.

They are elementwise with NumPy broadcasting, have no derivative (integer
outputs carry no gradient), batch like every elementwise primitive, and
``jit`` emits them inside fused loops as the scalar operators. Operands must
have one dtype (the ``chainrule.numpy`` wrappers promote first). Shift
counts at or beyond the bit width give NumPy's (and XLA's) results: 0 for
left and logical right shifts, the sign for arithmetic right shifts.
"""

from __future__ import annotations

import numpy as np

from ..batching import batch_elementwise
from ..core import Primitive, ShapedArray
from ._helpers import defzero, elementwise_aval


def _int_or_bool(name, *avals, bools=True):
    for a in avals:
        k = np.dtype(a.dtype).kind
        if k not in ("iu" + ("b" if bools else "")):
            raise TypeError(f"{name}: needs integer{' or boolean' if bools else ''} "
                            f"operands, got {np.dtype(a.dtype)}")


def _binary(name, impl, bools=True):
    prim = Primitive(name)
    prim.impl = impl

    def abstract_eval(x, y, **params):
        _int_or_bool(name, x, y, bools=bools)
        return elementwise_aval(name, x, y)

    prim.abstract_eval = abstract_eval
    defzero(prim)
    prim.batch = batch_elementwise(prim)
    return prim


def _shift(np_fn, logical):
    def impl(x, y):
        x, y = np.asarray(x), np.asarray(y)
        bits = 8 * x.dtype.itemsize
        if logical and x.dtype.kind == "i":   # logical shift of a signed int
            u = np.dtype(f"uint{bits}")
            out = np_fn(x.view(u) if x.shape else x.astype(u), y.astype(u))
            out = out.astype(x.dtype)
        else:
            out = np_fn(x, y)
        # counts outside [0, bits): 0, or the sign for arithmetic right shifts
        big = (y < 0) | (y >= bits)
        if np.any(big):
            fill = np.where(x < 0, -1, 0) if (np_fn is np.right_shift and not logical
                                               and x.dtype.kind == "i") else 0
            out = np.where(big, np.asarray(fill).astype(x.dtype), out)
        return np.asarray(out, dtype=x.dtype)
    return impl


and_p = _binary("bitwise_and", np.bitwise_and)
or_p = _binary("bitwise_or", np.bitwise_or)
xor_p = _binary("bitwise_xor", np.bitwise_xor)
shift_left_p = _binary("shift_left", _shift(np.left_shift, False), bools=False)
shift_right_arithmetic_p = _binary("shift_right_arithmetic", _shift(np.right_shift, False),
                                   bools=False)
shift_right_logical_p = _binary("shift_right_logical", _shift(np.right_shift, True),
                                bools=False)

not_p = Primitive("bitwise_not")
not_p.impl = np.invert


def _not_aval(x, **params):
    _int_or_bool("bitwise_not", x)
    return ShapedArray(tuple(x.shape), np.dtype(x.dtype))


not_p.abstract_eval = _not_aval
defzero(not_p)
not_p.batch = batch_elementwise(not_p)


def _fn(prim):
    return lambda *args: prim.bind(*args)


bitwise_and, bitwise_or, bitwise_xor, bitwise_not = map(_fn, (and_p, or_p, xor_p, not_p))
shift_left, shift_right_arithmetic, shift_right_logical = map(
    _fn, (shift_left_p, shift_right_arithmetic_p, shift_right_logical_p))

# ----------------------------------------------------------- samples ---


def _int_samples(rng, dtypes=("uint32", "int64", "uint64", "int32")):
    out = []
    for d in dtypes:
        info = np.iinfo(d)
        x = rng.integers(info.min, info.max, size=(2, 3), dtype=d, endpoint=True)
        y = rng.integers(info.min, info.max, size=(3,), dtype=d, endpoint=True)
        out.append(((x, y), {}))
    return out


def _shift_samples(rng):
    out = []
    for d in ("uint32", "int32", "uint64", "int64"):
        info = np.iinfo(d)
        x = rng.integers(info.min, info.max, size=(2, 4), dtype=d, endpoint=True)
        y = np.array([0, 3, 8 * np.dtype(d).itemsize - 1, 13], dtype=d)
        out.append(((x, y), {}))
    return out


for _p in (and_p, or_p, xor_p):
    _p.samples = _int_samples
for _p in (shift_left_p, shift_right_arithmetic_p, shift_right_logical_p):
    _p.samples = _shift_samples
not_p.samples = lambda rng: [((x,), {}) for (x, _), _p in _int_samples(rng)]

# --- Numba lowering: the scalar operators, inside fused loops. Shifts run
# as library calls (NumPy's impl), which gives the out-of-range counts their
# defined results.
and_p.lower = lambda x, y: f"({x} & {y})"
or_p.lower = lambda x, y: f"({x} | {y})"
xor_p.lower = lambda x, y: f"({x} ^ {y})"
