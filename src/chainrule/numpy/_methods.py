"""Python operators and ndarray methods on tracers.

They forward to ``chainrule.numpy`` so that ``x * y``, ``x.sum()`` and
``x[i]`` inside a transformed function mean exactly what they mean in NumPy.
"""

from __future__ import annotations

from ..core import Tracer
from . import _complex as _cx
from . import _reductions as r
from . import _shape as s
from . import _ufuncs as u
from ._promote import cast


def _swap(f):
    return lambda self, other: f(other, self)


def _getitem(self, idx):
    from ._indexing import getitem
    return getitem(self, idx)


def _matmul(a, b):
    from ._dot import matmul
    return matmul(a, b)


def _setitem(self, idx, value):
    raise TypeError(
        "traced arrays are immutable: `x[idx] = v` cannot be recorded. Use the "
        "functional form `x = x.at[idx].set(v)` (or .add/.multiply), or build a new "
        "array with chainrule.numpy.where / concatenate.")


def _sort(self, axis=-1, kind=None, order=None):
    raise TypeError("x.sort() sorts in place, and traced arrays are immutable: use "
                    "chainrule.numpy.sort(x, axis), which returns the sorted array")


def _argsort(self, axis=-1, kind=None, order=None):
    from ._sorting import argsort
    return argsort(self, axis=axis)


def _reshape(self, *shape, order="C"):
    return s.reshape(self, shape[0] if len(shape) == 1 else shape, order)


def _transpose(self, *axes):
    return s.transpose(self, axes[0] if len(axes) == 1 else (axes or None))


def _astype(self, dtype, copy=True):
    return cast(self, dtype)


def _dot(self, other):
    from ._dot import dot
    return dot(self, other)


_METHODS = {
    "__add__": u.add, "__radd__": _swap(u.add),
    "__sub__": u.subtract, "__rsub__": _swap(u.subtract),
    "__mul__": u.multiply, "__rmul__": _swap(u.multiply),
    "__truediv__": u.divide, "__rtruediv__": _swap(u.divide),
    "__floordiv__": u.floor_divide, "__rfloordiv__": _swap(u.floor_divide),
    "__mod__": u.remainder, "__rmod__": _swap(u.remainder),
    "__pow__": u.power, "__rpow__": _swap(u.power),
    "__matmul__": _matmul, "__rmatmul__": _swap(_matmul),
    "__neg__": u.negative, "__pos__": u.positive, "__abs__": u.absolute,
    "__eq__": u.equal, "__ne__": u.not_equal, "__lt__": u.less, "__le__": u.less_equal,
    "__gt__": u.greater, "__ge__": u.greater_equal,
    "__and__": u.bitwise_and, "__or__": u.bitwise_or, "__xor__": u.bitwise_xor,
    "__rand__": _swap(u.bitwise_and), "__ror__": _swap(u.bitwise_or),
    "__rxor__": _swap(u.bitwise_xor), "__invert__": u.bitwise_not,
    "__lshift__": u.left_shift, "__rlshift__": _swap(u.left_shift),
    "__rshift__": u.right_shift, "__rrshift__": _swap(u.right_shift),
    "__getitem__": _getitem, "__setitem__": _setitem,
}

# NumPy's own functions call these methods with ``out=None`` (np.sum(x) is
# x.sum(axis=None, dtype=None, out=None)), so accepting it makes np.sum,
# np.mean, ... work on tracers too; a real ``out`` cannot: tracers are immutable.


def _no_out(f):
    def method(self, *args, out=None, **kwargs):
        if out is not None:
            raise TypeError(f"{f.__name__}(out=...) cannot write into a traced array; "
                            "use the returned value")
        return f(self, *args, **kwargs)
    method.__name__ = f.__name__
    return method


_METHODS |= {name: _no_out(fn) for name, fn in {
    "sum": r.sum, "prod": r.prod, "mean": r.mean, "var": r.var, "std": r.std,
    "max": r.max, "min": r.min, "argmax": r.argmax, "argmin": r.argmin,
    "cumsum": r.cumsum, "all": r.all, "any": r.any, "ptp": r.ptp, "clip": u.clip,
    "round": u.round}.items()}
_METHODS |= {
    "reshape": _reshape, "transpose": _transpose, "ravel": s.ravel, "flatten": s.ravel,
    "squeeze": s.squeeze, "swapaxes": s.swapaxes, "repeat": s.repeat,
    "astype": _astype, "dot": _dot, "sort": _sort, "argsort": _argsort,
}

for _name, _fn in _METHODS.items():
    setattr(Tracer, _name, _fn)
Tracer.T = property(lambda self: s.transpose(self))
Tracer.mT = property(lambda self: s.swapaxes(self, -1, -2))
Tracer.real = property(lambda self: _cx.real(self))
Tracer.imag = property(lambda self: _cx.imag(self))
Tracer.conj = Tracer.conjugate = lambda self: _cx.conjugate(self)
Tracer.__hash__ = lambda self: id(self)  # __eq__ is elementwise, identity hashes
from ._at import at as _at  # noqa: E402  (x.at[idx].set(v): see _at.py)

Tracer.at = property(_at)
