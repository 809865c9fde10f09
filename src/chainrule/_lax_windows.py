"""``lax.reduce_window``: pooling, built from primitives that already have every rule.

A window reduction is the elementwise reduction of ``prod(window)`` strided
slices of the padded (and base-dilated) operand, one slice per window offset:
``max_pool(x)[i] = max_k x[i * stride + k * dilation]``. So it is not a
primitive of its own: its JVP, VJP, batching and ``jit`` fusion are those of
``pad``, ``slice``, ``select`` and ``add``/``max``/``min``/``mul``, and every
derivative order works. For pooling windows (2x2, 3x3) the slices fuse into
one loop under ``jit``.

Padding holds ``init_value`` (as XLA's reduce-window does) and the window's
reduction starts from it, so ``init_value`` should be the identity of the
computation (0, -inf, +inf, 1) unless you want it folded in.

Ties in max/min pooling: ``max`` splits the cotangent evenly between equal
operands, and the window is reduced pairwise in row-major window order, so
the cotangent of a window always sums to the upstream one; between two tied
elements it is halved (the lectures' max gate, with ties shared).
"""

from __future__ import annotations

import builtins
import itertools

import numpy as np

from .core import Tracer, get_aval
from .primitives import elementwise as ew
from .primitives.shape import pad as _pad
from .primitives.shape import slice_


def add(x, y):
    """``x + y`` elementwise (JAX's ``lax.add``)."""
    return ew.add(x, y)


def mul(x, y):
    """``x * y`` elementwise (JAX's ``lax.mul``)."""
    return ew.mul(x, y)


def max(x, y):  # noqa: A001
    """The elementwise maximum (JAX's ``lax.max``)."""
    return ew.max_(x, y)


def min(x, y):  # noqa: A001
    """The elementwise minimum (JAX's ``lax.min``)."""
    return ew.min_(x, y)


_COMPUTATIONS = {add: "add", mul: "mul", max: "max", min: "min"}
_COMBINE = {"add": ew.add, "mul": ew.mul, "max": ew.max_, "min": ew.min_}


def _computation_name(computation):
    name = _COMPUTATIONS.get(computation)
    if name is None:
        import numpy  # the NumPy spellings are accepted too
        name = {numpy.add: "add", numpy.multiply: "mul", numpy.maximum: "max",
                numpy.minimum: "min"}.get(computation)
    if name is None:
        from . import numpy as jnp
        name = {jnp.add: "add", jnp.multiply: "mul", jnp.maximum: "max",
                jnp.minimum: "min"}.get(computation)
    if name is None:
        raise TypeError(f"lax.reduce_window: computation must be one of lax.add, lax.max, "
                        f"lax.min or lax.mul, got {computation!r}; other reductions are not "
                        f"supported")
    return name


def _identity(name, dtype):
    dtype = np.dtype(dtype)
    if name in ("add", "mul"):
        return np.asarray(0 if name == "add" else 1, dtype)
    if dtype.kind == "f":
        return np.asarray(-np.inf if name == "max" else np.inf, dtype)
    if dtype.kind == "b":
        return np.asarray(name == "min", dtype)
    info = np.iinfo(dtype)
    return np.asarray(info.min if name == "max" else info.max, dtype)


def _window_pads(padding, shape, window, strides, name="reduce_window"):
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return [(0, 0)] * len(shape)
        if mode not in ("SAME", "SAME_LOWER"):
            raise ValueError(f"lax.{name}: padding must be 'SAME', 'SAME_LOWER', 'VALID' or "
                             f"(lo, hi) pairs, got {padding!r}")
        pads = []
        for n, w, s in zip(shape, window, strides):
            out = -(-n // s)
            total = np.maximum((out - 1) * s + w - n, 0)
            lo = total // 2 if mode == "SAME" else -(-total // 2)
            pads.append((int(lo), int(total - lo)))
        return pads
    pads = [tuple(int(v) for v in p) for p in padding]
    if len(pads) != len(shape) or any(len(p) != 2 for p in pads):
        raise ValueError(f"lax.{name}: padding needs one (lo, hi) pair per axis of the operand "
                         f"(shape {tuple(shape)}), got {padding!r}")
    return pads


def reduce_window(operand, init_value, computation, window_dimensions, window_strides,
                  padding, base_dilation=None, window_dilation=None):
    """JAX's ``lax.reduce_window`` for ``computation`` in ``lax.add``,
    ``lax.max``, ``lax.min``, ``lax.mul`` (one operand, not a pytree)."""
    name = _computation_name(computation)
    x = operand if isinstance(operand, Tracer) else np.asarray(operand)
    aval = get_aval(x)
    shape, dtype, nd = tuple(aval.shape), np.dtype(aval.dtype), len(aval.shape)

    def _tuple(v, what, default):
        v = (default,) * nd if v is None else tuple(int(d) for d in v)
        if len(v) != nd or any(d < 1 for d in v):
            raise ValueError(f"lax.reduce_window: {what} must be {nd} positive integers (one per "
                             f"axis of the operand of shape {shape}), got {v}")
        return v

    window = _tuple(window_dimensions, "window_dimensions", 1)
    strides = _tuple(window_strides, "window_strides", 1)
    base = _tuple(base_dilation, "base_dilation", 1)
    wdil = _tuple(window_dilation, "window_dilation", 1)
    init = init_value if isinstance(init_value, Tracer) else np.asarray(init_value, dtype)
    if tuple(get_aval(init).shape) != ():
        raise ValueError(f"lax.reduce_window: init_value must be a scalar, got shape "
                         f"{tuple(get_aval(init).shape)}")

    dilated = tuple((n - 1) * b + 1 if n else 0 for n, b in zip(shape, base))
    eff = tuple((w - 1) * d + 1 for w, d in zip(window, wdil))
    pads = _window_pads(padding, dilated, eff, strides)

    # pad (positive parts, plus interior for base dilation) and crop (negative parts);
    # padded positions hold init_value, through a constant mask
    config = [(builtins.max(lo, 0), builtins.max(hi, 0), b - 1)
              for (lo, hi), b in zip(pads, base)]
    needs_fill = any(c != (0, 0, 0) for c in config)
    if needs_fill:
        x = _pad(x, config)
        mask = _pad(np.ones(shape, bool), config)
        x = ew.select(mask, x, ew.convert_element_type(init, new_dtype=dtype)
                      if isinstance(init, Tracer) else np.asarray(init, dtype))
    crop_lo = [builtins.max(-lo, 0) for lo, _ in pads]
    crop_hi = [builtins.max(-hi, 0) for _, hi in pads]
    padded = tuple(int(v) for v in get_aval(x).shape)
    if any(crop_lo) or any(crop_hi):
        x = slice_(x, crop_lo, [n - h for n, h in zip(padded, crop_hi)])
        padded = tuple(int(v) for v in get_aval(x).shape)

    out_shape = tuple((p - e) // s + 1 if p >= e else 0
                      for p, e, s in zip(padded, eff, strides))
    combine = _COMBINE[name]
    if 0 in out_shape:
        from . import numpy as jnp
        return jnp.zeros(out_shape, dtype)
    parts = []
    for offset in itertools.product(*[range(w) for w in window]):
        start = [k * d for k, d in zip(offset, wdil)]
        limit = [st + (o - 1) * s + 1 for st, o, s in zip(start, out_shape, strides)]
        parts.append(slice_(x, start, limit, strides))
    while len(parts) > 1:  # pairwise, in row-major window order
        parts = [combine(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    out = parts[0]
    if isinstance(init, Tracer) or not np.array_equal(init, _identity(name, dtype)):
        out = combine(out, init)
    return ew.convert_element_type(out, new_dtype=dtype) if get_aval(out).dtype != dtype else out
