"""``chainrule.lax``'s convolutions, with JAX's names and argument spellings.

Everything here parses arguments into the normalised params of the one
primitive in ``primitives/conv.py``: padding strings become ``(lo, hi)``
pairs, layout strings become axis permutations (``ConvDimensionNumbers``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .numpy._promote import asarray, cast, promote
from .primitives.conv import _dilate
from .primitives.conv import conv_general_dilated as _bind
from .primitives.shape import reshape, rev, transpose


class ConvDimensionNumbers(NamedTuple):
    """Axis permutations: ``lhs_spec = (batch, feature, spatial...)``,
    ``rhs_spec = (out feature, in feature, spatial...)``, ``out_spec =
    (batch, feature, spatial...)``, as JAX's."""

    lhs_spec: tuple
    rhs_spec: tuple
    out_spec: tuple


def _perms_from_strings(specs, ndim):
    lhs, rhs, out = specs
    for s, name in ((lhs, "lhs"), (rhs, "rhs"), (out, "out")):
        if len(s) != ndim:
            raise ValueError(f"conv_dimension_numbers: {name} spec {s!r} needs {ndim} letters "
                             f"for operands with {ndim} axes")
        if len(set(s)) != len(s):
            raise ValueError(f"conv_dimension_numbers: repeated letter in {name} spec {s!r}")
    for s, pair, name in ((lhs, "NC", "lhs"), (rhs, "OI", "rhs"), (out, "NC", "out")):
        if pair[0] not in s or pair[1] not in s:
            raise ValueError(f"conv_dimension_numbers: {name} spec {s!r} must contain "
                             f"{pair[0]!r} and {pair[1]!r}")
    rhs_sp = [c for c in rhs if c not in "OI"]
    for s, pair, name in ((lhs, "NC", "lhs"), (out, "NC", "out")):
        if sorted(c for c in s if c not in pair) != sorted(rhs_sp):
            raise ValueError(f"conv_dimension_numbers: spatial letters of {name} spec "
                             f"{s!r} differ from those of rhs spec {rhs!r}")

    def perm(s, pair):
        # spatial axes in the order the kernel spec names them
        return (s.index(pair[0]), s.index(pair[1])) + tuple(s.index(c) for c in rhs_sp)

    return ConvDimensionNumbers(perm(lhs, "NC"), perm(rhs, "OI"), perm(out, "NC"))


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers):
    """``dimension_numbers`` (None, a ``ConvDimensionNumbers`` or three layout
    strings such as ``('NHWC', 'HWIO', 'NHWC')``) as a ``ConvDimensionNumbers``."""
    ndim = len(lhs_shape)
    if len(rhs_shape) != ndim:
        raise ValueError(f"conv_dimension_numbers: lhs of shape {tuple(lhs_shape)} and rhs "
                         f"of shape {tuple(rhs_shape)} need the same number of axes")
    if dimension_numbers is None:
        ident = tuple(range(ndim))
        return ConvDimensionNumbers(ident, ident, ident)
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return ConvDimensionNumbers(*(tuple(int(d) for d in s) for s in dimension_numbers))
    if len(dimension_numbers) == 3 and all(isinstance(s, str) for s in dimension_numbers):
        return _perms_from_strings(dimension_numbers, ndim)
    if len(dimension_numbers) == 3:
        return ConvDimensionNumbers(*(tuple(int(d) for d in s) for s in dimension_numbers))
    raise TypeError("conv_dimension_numbers: dimension_numbers must be None, a "
                    "ConvDimensionNumbers or three layout strings, got "
                    f"{dimension_numbers!r}")


def padtype_to_pads(in_shape, window_shape, window_strides, padding):
    """'SAME', 'SAME_LOWER' or 'VALID' as ``(lo, hi)`` pairs per spatial axis."""
    kind = padding.upper()
    if kind == "VALID":
        return tuple((0, 0) for _ in in_shape)
    if kind not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"conv_general_dilated: padding must be 'SAME', 'SAME_LOWER', "
                         f"'VALID' or (lo, hi) pairs, got {padding!r}")
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides, strict=True):
        out = math.ceil(n / s)
        total = max(0, (out - 1) * s + k - n)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if kind == "SAME" else (big, small))
    return tuple(pads)


def _operands(lhs, rhs, preferred_element_type, fname):
    lhs, rhs = asarray(lhs, fname), asarray(rhs, fname)
    if np.dtype(lhs.dtype) != np.dtype(rhs.dtype):
        lhs, rhs = promote(lhs, rhs, fname=fname)
    if preferred_element_type is not None:
        lhs = cast(lhs, np.dtype(preferred_element_type))
        rhs = cast(rhs, np.dtype(preferred_element_type))
    return lhs, rhs


def _ints(v, n, name, default=1):
    if v is None:
        return (default,) * n
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    v = tuple(int(x) for x in v)
    if len(v) != n:
        raise ValueError(f"conv_general_dilated: {name} {v} needs {n} entries, one per "
                         "spatial dimension")
    return v


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """JAX's ``lax.conv_general_dilated``: an n-D cross-correlation (no kernel
    flip) with strides, padding, input (``lhs``) and kernel (``rhs``) dilation,
    feature and batch groups, in any layout. ``precision`` is ignored."""
    fname = "conv_general_dilated"
    lhs, rhs = _operands(lhs, rhs, preferred_element_type, fname)
    if lhs.ndim != rhs.ndim or lhs.ndim < 2:
        raise ValueError(f"{fname}: lhs of shape {tuple(lhs.shape)} and rhs of shape "
                         f"{tuple(rhs.shape)} need the same number of axes (at least 2)")
    nsp = lhs.ndim - 2
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    strides = _ints(window_strides, nsp, "window_strides")
    lhs_dil = _ints(lhs_dilation, nsp, "lhs_dilation")
    rhs_dil = _ints(rhs_dilation, nsp, "rhs_dilation")
    if isinstance(padding, str):
        if any(a > 1 for a in lhs_dil):
            raise ValueError(f"{fname}: string padding {padding!r} is not defined with "
                             f"lhs_dilation {lhs_dil}; give (lo, hi) pairs or use "
                             "conv_transpose")
        k = [_dilate(rhs.shape[d], r) for d, r in zip(dn.rhs_spec[2:], rhs_dil, strict=True)]
        pads = padtype_to_pads([lhs.shape[d] for d in dn.lhs_spec[2:]], k, strides, padding)
    else:
        pads = tuple(tuple(int(v) for v in p) for p in padding)
        if len(pads) != nsp or any(len(p) != 2 for p in pads):
            raise ValueError(f"{fname}: padding {padding!r} needs {nsp} (lo, hi) pairs")
    return _bind(lhs, rhs, strides, pads, lhs_dil, rhs_dil, tuple(dn),
                 feature_group_count, batch_group_count)


def conv(lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    """``conv_general_dilated`` in the NCHW/OIHW layout without dilation."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    """``conv_general_dilated`` in the NCHW/OIHW layout."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)


def _transpose_padding(k, s, padding):
    if padding == "SAME":
        total = k + s - 2
        lo = k - 1 if s > k - 1 else math.ceil(total / 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        lo = k - 1
    else:
        raise ValueError(f"conv_transpose: padding must be 'SAME', 'VALID' or (lo, hi) "
                         f"pairs, got {padding!r}")
    return lo, total - lo


_TRANSPOSE_LAYOUTS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                      4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel=False, precision=None, preferred_element_type=None):
    """JAX's ``lax.conv_transpose``: the input dilated by ``strides`` (a
    fractionally strided convolution); with ``transpose_kernel`` the kernel
    is flipped and its in/out features swapped, giving the gradient of
    ``conv_general_dilated``. Default layouts are NHWC/HWIO."""
    fname = "conv_transpose"
    lhs, rhs = _operands(lhs, rhs, preferred_element_type, fname)
    ndim = lhs.ndim
    if rhs.ndim != ndim or ndim < 2:
        raise ValueError(f"{fname}: lhs of shape {tuple(lhs.shape)} and rhs of shape "
                         f"{tuple(rhs.shape)} need the same number of axes (at least 2)")
    if dimension_numbers is None:
        if ndim not in _TRANSPOSE_LAYOUTS:
            raise ValueError(f"{fname}: no default dimension_numbers for {ndim} axes")
        dimension_numbers = _TRANSPOSE_LAYOUTS[ndim]
    dn = conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    nsp = ndim - 2
    strides = _ints(strides, nsp, "strides")
    rhs_dil = _ints(rhs_dilation, nsp, "rhs_dilation")
    if isinstance(padding, str):
        ks = [_dilate(rhs.shape[d], r) for d, r in zip(dn.rhs_spec[2:], rhs_dil, strict=True)]
        pads = [_transpose_padding(k, s, padding.upper()) for k, s in zip(ks, strides,
                                                                          strict=True)]
    else:
        pads = padding
    if transpose_kernel:
        rhs = rev(rhs, tuple(dn.rhs_spec[2:]))
        perm = list(range(ndim))
        o, i = dn.rhs_spec[0], dn.rhs_spec[1]
        perm[o], perm[i] = i, o
        rhs = transpose(rhs, perm)
    return conv_general_dilated(lhs, rhs, (1,) * nsp, pads, strides, rhs_dil, dn,
                                precision=precision)


def correlate_window(x, k, starts, lengths):
    """``z[p] = sum_j x[p + starts - (m - 1) + j] * k[j]`` for ``0 <= p <
    lengths`` (``m = k.shape``; ``x`` zero outside its bounds): the slice
    ``starts : starts + lengths`` of the full n-D cross-correlation of ``x``
    and ``k`` (no conjugation), as one convolution with (possibly negative)
    padding. ``x`` and ``k`` have one dtype and the same number of axes."""
    nd = x.ndim
    pads = [(m - 1 - s, s + L - n) for n, m, s, L in zip(x.shape, k.shape, starts, lengths,
                                                          strict=True)]
    x2 = reshape(x, (1, 1) + tuple(x.shape))
    k2 = reshape(k, (1, 1) + tuple(k.shape))
    ident = tuple(range(nd + 2))
    out = _bind(x2, k2, (1,) * nd, pads, (1,) * nd, (1,) * nd, (ident, ident, ident))
    return reshape(out, tuple(lengths))
