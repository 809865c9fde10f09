"""``scipy.signal``'s convolutions on arrays and tracers: ``convolve``,
``correlate``, ``convolve2d``, ``correlate2d`` and ``fftconvolve``.

The direct ones are one ``lax.conv_general_dilated`` each (the operands as
a single-feature, single-batch image and kernel), so they are differentiable
in both operands to any order and batch under ``vmap``. ``method`` is
accepted for SciPy's signature; every method computes the direct sum
(``fftconvolve`` is the FFT route). Modes, shapes, the swap of operands in
``'valid'`` mode and dtypes follow SciPy.
"""

from __future__ import annotations

import numpy as np

from .._lax_conv import correlate_window
from ..numpy._complex import conj
from ..numpy._promote import promote
from ..primitives import shape as _sh
from ._fftconvolve import fftconvolve

__all__ = ["convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve"]

_METHODS = ("auto", "direct", "fft")


def _window(fname, in1, in2, mode):
    in1, in2 = promote(in1, in2, fname=fname)
    if in1.ndim != in2.ndim:
        raise ValueError(f"{fname}: in1 and in2 should have the same dimensionality, got "
                         f"shapes {tuple(in1.shape)} and {tuple(in2.shape)}")
    if in1.size == 0 or in2.size == 0:
        raise ValueError(f"{fname}: inputs cannot be empty")
    s1, s2 = tuple(in1.shape), tuple(in2.shape)
    if mode == "full":
        starts, lengths = (0,) * len(s1), tuple(n + m - 1 for n, m in zip(s1, s2))
    elif mode == "same":
        starts, lengths = tuple((m - 1) // 2 for m in s2), s1
    elif mode == "valid":
        if not (all(n >= m for n, m in zip(s1, s2)) or all(m >= n for n, m in zip(s1, s2))):
            raise ValueError(f"{fname}: for 'valid' mode, one must be at least as large "
                             f"as the other in every dimension, got shapes {s1} and {s2}")
        starts = tuple(min(n, m) - 1 for n, m in zip(s1, s2))
        lengths = tuple(abs(n - m) + 1 for n, m in zip(s1, s2))
    else:
        raise ValueError(f"{fname}: acceptable mode flags are 'valid', 'same', or 'full', "
                         f"got {mode!r}")
    return in1, in2, starts, lengths


def _check_method(fname, method):
    if method not in _METHODS:
        raise ValueError(f"{fname}: method must be 'auto', 'direct' or 'fft', got {method!r}")


def convolve(in1, in2, mode="full", method="auto"):
    """n-D convolution ``z = sum_j in1[p - j] * in2[j]`` cropped to ``mode``."""
    _check_method("convolve", method)
    in1, in2, starts, lengths = _window("convolve", in1, in2, mode)
    return correlate_window(in1, _sh.rev(in2, tuple(range(in2.ndim))), starts, lengths)


def correlate(in1, in2, mode="full", method="auto"):
    """n-D cross-correlation ``z[k] = sum_j in1[j + k - (m - 1)] * conj(in2[j])``
    cropped to ``mode``."""
    _check_method("correlate", method)
    in1, in2, starts, lengths = _window("correlate", in1, in2, mode)
    if np.dtype(in2.dtype).kind == "c":
        in2 = conj(in2)
    return correlate_window(in1, in2, starts, lengths)


def _check_2d(fname, in1, in2, boundary, fillvalue):
    if boundary not in ("fill", "pad"):
        raise NotImplementedError(f"{fname}: only boundary='fill' is supported, got "
                                  f"{boundary!r}")
    if fillvalue != 0:
        raise NotImplementedError(f"{fname}: only fillvalue=0 is supported, got {fillvalue!r}")
    if np.ndim(in1) != 2 or np.ndim(in2) != 2:
        raise ValueError(f"{fname}: inputs must both be 2-D arrays, got shapes "
                         f"{np.shape(in1)} and {np.shape(in2)}")


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """2-D convolution (``boundary='fill'`` with zeros only)."""
    _check_2d("convolve2d", in1, in2, boundary, fillvalue)
    in1, in2, starts, lengths = _window("convolve2d", in1, in2, mode)
    return correlate_window(in1, _sh.rev(in2, (0, 1)), starts, lengths)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    """2-D cross-correlation (``boundary='fill'`` with zeros only). As SciPy's,
    in ``'valid'`` mode with ``in2`` the larger the complex result is the
    conjugate of ``correlate``'s, and ``'same'`` centres an even-sized
    ``in2`` one element later than ``correlate`` does."""
    _check_2d("correlate2d", in1, in2, boundary, fillvalue)
    in1, in2, starts, lengths = _window("correlate2d", in1, in2, mode)
    if mode == "same":
        # SciPy's 2-D routine centres an even kernel one step later than correlate
        starts = tuple(m - 1 - (m - 1) // 2 for m in in2.shape)
    if np.dtype(in2.dtype).kind == "c":
        in2 = conj(in2)
    out = correlate_window(in1, in2, starts, lengths)
    s1, s2 = np.shape(in1), np.shape(in2)
    swapped = mode == "valid" and any(m > n for n, m in zip(s1, s2))
    if swapped and np.dtype(out.dtype).kind == "c":
        out = conj(out)
    return out
