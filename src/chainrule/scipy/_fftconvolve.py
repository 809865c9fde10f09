"""``scipy.signal.fftconvolve`` on arrays and tracers (NumPy only at run time).

The convolution theorem: both operands are zero-padded to at least
``s1 + s2 - 1`` along the convolved axes (rounded up to a 5-smooth length,
which pocketfft transforms fastest), transformed with ``rfftn`` (``fftn``
when either is complex), multiplied, transformed back and cropped to the
``mode``. It is built from ``chainrule.numpy.fft``, so it is differentiable
in both operands, and its transpose is again a pair of FFTs (a correlation),
never a dense matrix. Shapes, broadcasting over the other axes, the swap of
operands in ``'valid'`` mode, dtypes and errors follow SciPy.
"""

from __future__ import annotations

import operator

import numpy as np

from ..numpy import _promote
from ..numpy import fft as _fft
from ..primitives import shape as _sh


def _next_fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n."""
    best, p5 = 2 * n, 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best if n > 1 else 1


def _axes(axes, ndim):
    if axes is None:
        return list(range(ndim))
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    if not axes:
        raise ValueError("when provided, axes cannot be empty")
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError("axes exceeds dimensionality of input")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("all axes must be unique")
    return out


def _swap_needed(mode, s1, s2, axes):
    if mode != "valid" or not s1:
        return False
    ok1 = all(s1[i] >= s2[i] for i in axes)
    ok2 = all(s2[i] >= s1[i] for i in axes)
    if not (ok1 or ok2):
        raise ValueError("For 'valid' mode, one must be at least as large as the other in "
                         "every dimension")
    return not ok1


def _centered(x, newshape):
    shape = np.shape(x)
    start = [(n - m) // 2 for n, m in zip(shape, newshape)]
    return _sh.slice_(x, start, [s + m for s, m in zip(start, newshape)])


def fftconvolve(in1, in2, mode="full", axes=None):
    """``scipy.signal.fftconvolve``: the convolution of ``in1`` and ``in2``
    along ``axes`` (all by default) by FFT, ``mode`` one of ``'full'``,
    ``'same'`` (the size of ``in1``), ``'valid'``. Other axes broadcast."""
    from ..numpy import multiply
    in1 = _promote.asarray(in1, "fftconvolve")
    in2 = _promote.asarray(in2, "fftconvolve")
    if np.ndim(in1) == np.ndim(in2) == 0:
        return multiply(in1, in2)
    if np.ndim(in1) != np.ndim(in2):
        raise ValueError("in1 and in2 should have the same dimensionality")
    if np.size(in1) == 0 or np.size(in2) == 0:
        return np.asarray([])
    if mode not in ("full", "same", "valid"):
        raise ValueError("acceptable mode flags are 'valid', 'same', or 'full'")
    s1, s2 = tuple(np.shape(in1)), tuple(np.shape(in2))
    axes = [a for a in _axes(axes, np.ndim(in1)) if s1[a] != 1 and s2[a] != 1]
    if not all(s1[a] == s2[a] or s1[a] == 1 or s2[a] == 1
               for a in range(np.ndim(in1)) if a not in axes):
        raise ValueError(f"incompatible shapes for in1 and in2: {s1} and {s2}")
    if _swap_needed(mode, s1, s2, axes):
        in1, in2, s1, s2 = in2, in1, s2, s1
    if not axes:
        ret = multiply(in1, in2)
    else:
        ret = _freq_conv(in1, in2, axes, s1, s2)
    if mode == "full":
        return ret
    if mode == "same":
        return _centered(ret, s1)
    return _centered(ret, [np.shape(ret)[a] if a not in axes else s1[a] - s2[a] + 1
                           for a in range(np.ndim(ret))])


def _freq_conv(in1, in2, axes, s1, s2):
    from ..numpy import multiply
    shape = [s1[a] + s2[a] - 1 for a in axes]
    fshape = [_next_fast_len(n) for n in shape]
    if in1.dtype.kind in "biu":
        in1 = _promote.cast(in1, np.float64)
    if in2.dtype.kind in "biu":
        in2 = _promote.cast(in2, np.float64)
    if in1.dtype.kind == "c" or in2.dtype.kind == "c":
        ret = _fft.ifftn(multiply(_fft.fftn(in1, fshape, axes), _fft.fftn(in2, fshape, axes)),
                         fshape, axes)
    else:
        ret = _fft.irfftn(multiply(_fft.rfftn(in1, fshape, axes),
                                   _fft.rfftn(in2, fshape, axes)), fshape, axes)
    limit = list(np.shape(ret))
    for a, n in zip(axes, shape):
        limit[a] = n
    return _sh.slice_(ret, [0] * len(limit), limit)
