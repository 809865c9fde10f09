"""Functional indexed updates: ``x.at[idx].set(v)``, ``.add``, ``.subtract``,
``.multiply``, ``.divide``, ``.min``, ``.max`` and ``.get()``.

Traced arrays are immutable, so ``x[idx] = v`` cannot be recorded. Instead
each method returns a *new* array equal to ``x`` updated at ``x[idx]``, and
is differentiable in both ``x`` and ``v``::

    y = x.at[idx].set(v)        # y = x.copy(); y[idx] = v
    y = x.at[idx].add(v)        # np.add.at(y, idx, v): repeated indices accumulate

Tracers have the ``.at`` property; NumPy arrays cannot be given one, so for
them (or for code that sees both) write ``chainrule.numpy.at(x)[idx].set(v)``.

``idx`` is any NumPy index (ints, slices, ``None``, ``...``, integer arrays,
boolean masks with concrete values), parsed by the same code as ``x[idx]``.
``v`` broadcasts to ``x[idx].shape`` and is cast to ``x``'s dtype, as NumPy's
``x[idx] = v`` does. Repeated positions follow NumPy: ``set`` keeps the last
write (and only that write gets a gradient), ``add``/``multiply``/``min``/
``max`` apply every update as ``np.<ufunc>.at`` does.
"""

from __future__ import annotations

import numpy as np

from ..primitives.indexing import gather_shape, normalize_spec, scatter_add_p
from ..primitives.scatter import scatter_max_p, scatter_min_p, scatter_mul_p, scatter_p
from ._indexing import _parse, gather_spec, getitem
from ._promote import asarray, cast
from ._ufuncs import negative, reciprocal


def _spec(x, idx):
    """Index arrays and the scatter ``spec`` for ``x[idx]``, parsed exactly as
    ``x[idx]`` is (see chainrule.numpy._indexing)."""
    arrays, spec = gather_spec(_parse(idx, tuple(np.shape(x))), tuple(np.shape(x)), "x.at[...]")
    return arrays, normalize_spec(spec)


class _IndexedRef:
    """``x.at[idx]``: what to update, waiting for the method that says how."""

    __slots__ = ("_x", "_idx")

    def __init__(self, x, idx):
        self._x, self._idx = x, idx

    def __repr__(self):
        return f"_IndexedRef({self._x!r}, {self._idx!r})"

    def _update(self, prim, method, values):
        x = asarray(self._x, f"x.at[...].{method}")
        arrays, spec = _spec(x, self._idx)
        v = cast(asarray(values, f"x.at[...].{method}"), x.dtype)
        target = gather_shape(f"x.at[...].{method}", np.shape(x), spec, arrays)
        try:
            ok = tuple(np.broadcast_shapes(tuple(np.shape(v)), target)) == target
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"x.at[...].{method}: values of shape {tuple(np.shape(v))} do "
                             f"not broadcast to the indexed shape {target} (x has shape "
                             f"{tuple(np.shape(x))})")
        return prim.bind(x, v, *arrays, spec=spec)

    def get(self):
        """``x[idx]``."""
        return getitem(self._x, self._idx)

    def set(self, values):
        """``x`` with ``x[idx] = values`` (repeated positions: the last wins)."""
        return self._update(scatter_p, "set", values)

    def add(self, values):
        """``x`` with ``values`` added at ``idx``; repeated positions accumulate."""
        return self._update(scatter_add_p, "add", values)

    def subtract(self, values):
        return self._update(scatter_add_p, "subtract", negative(asarray(values, "subtract")))

    def multiply(self, values):
        """``x`` with ``x[idx]`` multiplied by ``values`` (``np.multiply.at``)."""
        return self._update(scatter_mul_p, "multiply", values)

    def divide(self, values):
        """``x`` with ``x[idx]`` multiplied by ``1 / values``."""
        return self._update(scatter_mul_p, "divide", reciprocal(asarray(values, "divide")))

    def min(self, values):  # noqa: A003
        """``x`` with ``x[idx] = minimum(x[idx], values)`` (``np.minimum.at``)."""
        return self._update(scatter_min_p, "min", values)

    def max(self, values):  # noqa: A003
        """``x`` with ``x[idx] = maximum(x[idx], values)`` (``np.maximum.at``)."""
        return self._update(scatter_max_p, "max", values)


class at:  # noqa: N801  (spelled like the property it stands in for)
    """``at(x)[idx].set(v)``: indexed updates of an array or a tracer (tracers
    also have ``x.at``). See the module docstring."""

    __slots__ = ("_x",)

    def __init__(self, x):
        self._x = x

    def __getitem__(self, idx):
        return _IndexedRef(self._x, idx)

    def __repr__(self):
        return f"at({self._x!r})"
