"""NumPy's ``numpy.fft`` on arrays and tracers: ``chainrule.numpy.fft``.

Same signatures and results as NumPy's (``n``/``s`` pad with zeros or crop,
``-1`` in ``s`` keeps the input's length, negative axes, ``norm`` one of
``"backward"``, ``"ortho"``, ``"forward"``, ``None``; float32 gives
complex64). Every transform is the ``fft`` primitive
(``chainrule.primitives.fft``) over the trailing axes, with the user's axes
moved there and back, so it is differentiable in both modes, batched and
compiled. ``out=`` is not supported: results are new arrays, as in JAX.
"""

from __future__ import annotations

import operator

import numpy as np

from ..core import Tracer
from ..primitives import fft as _fft
from ..primitives import shape as _sh
from ._promote import asarray, cast
from ._shape import roll

__all__ = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
           "ifftn", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq", "fftshift",
           "ifftshift"]

_NORMS = (None, "backward", "ortho", "forward")
_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


# --------------------------------------------------------------- checks ---

def _check_norm(norm):
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or '
                         '"forward".')
    return norm


def _length(n, fname, what="n", allow=None):
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{fname}: {what} must be an integer, got "
                        f"{type(n).__name__} {n!r}") from None
    if n < 1 and n != allow:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    return n


def _axis(axis, ndim, fname):
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{fname}: axes must be integers, got {axis!r}") from None
    if not -ndim <= axis < ndim:
        # AxisError is both an IndexError (what NumPy raises) and a ValueError
        raise np.exceptions.AxisError(
            f"{fname}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def _complex_operand(a, fname):
    a = asarray(a, fname)
    return cast(a, np.result_type(a.dtype, 1j))


def _real_operand(a, fname):
    a = asarray(a, fname)
    if a.dtype.kind == "c":
        raise TypeError(f"{fname}: needs a real operand, got {a.dtype.name} (take the real "
                        "part first, or use fft/fftn for complex input)")
    return cast(a, np.finfo(np.result_type(a.dtype, 1j)).dtype)


# ----------------------------------------------------- the one transform ---

def _resize(a, axis, n):
    """``a`` cropped or zero-padded to length ``n`` along ``axis``."""
    m = np.shape(a)[axis]
    if n < m:
        lo, hi = [0] * np.ndim(a), list(np.shape(a))
        hi[axis] = n
        return _sh.slice_(a, lo, hi)
    if n > m:
        config = [(0, 0, 0)] * np.ndim(a)
        config[axis] = (0, n - m, 0)
        return _sh.pad(a, config)
    return a


def _scale(out, norm, size, inverse):
    """NumPy's normalisation; the primitive is "backward" (``1/N`` on the inverse)."""
    norm = "backward" if norm is None else norm
    if norm == "backward":
        return out
    if norm == "ortho":
        factor = np.sqrt(size) if inverse else 1 / np.sqrt(size)
    else:
        factor = size if inverse else 1 / size
    from ..primitives.elementwise import mul
    return mul(out, np.asarray(factor, out.dtype))


def _transform(a, kind, lengths, axes, norm):
    """The ``kind`` transform (FFT, IFFT, RFFT, IRFFT) of ``a`` over distinct
    ``axes`` with output lengths ``lengths`` (the last axis is the real one)."""
    nd = np.ndim(a)
    for ax, n in zip(axes, lengths):
        a = _resize(a, ax, n // 2 + 1 if kind == "IRFFT" and ax == axes[-1] else n)
    perm = [i for i in range(nd) if i not in axes] + list(axes)
    out = _fft.fft(_sh.transpose(a, perm), kind, lengths)
    out = _sh.transpose(out, list(np.argsort(perm)))
    return _scale(out, norm, float(np.prod(lengths)), kind in ("IFFT", "IRFFT"))


def _cook(a, s, axes, fname, invreal=False):
    """NumPy's ``_cook_nd_args``: the lengths and (normalised) axes."""
    shape, nd = np.shape(a), np.ndim(a)
    if axes is None:
        axes = list(range(nd)) if s is None else list(range(nd - len(s), nd))
        if s is not None and len(s) > nd:
            raise ValueError(f"{fname}: s {tuple(s)} has more entries than the array has "
                             f"axes ({nd})")
    else:
        axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
        axes = [_axis(ax, nd, fname) for ax in axes]
    default = s is None
    s = [shape[ax] for ax in axes] if s is None else list(s)
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    if invreal and default and axes:
        s[-1] = (shape[axes[-1]] - 1) * 2
    out = []
    for i, (n, ax) in enumerate(zip(s, axes)):
        if n is None:   # deprecated in NumPy 2.0: the 1-D default
            n = (shape[ax] - 1) * 2 if invreal and i == len(axes) - 1 else shape[ax]
        elif _length(n, fname, "s", allow=-1) == -1:   # NumPy 2.0: the whole input
            n = shape[ax]
        out.append(_length(n, fname, "s"))
    return out, axes


def _operand(a, kind, fname):
    if kind == "RFFT":
        return _real_operand(a, fname), None
    a = asarray(a, fname)
    # NumPy's irfft returns float16 for float16 input (its "real dtype")
    half = np.float16 if kind == "IRFFT" and a.dtype == np.float16 else None
    return _complex_operand(a, fname), half


def _nd(a, s, axes, norm, kind, fname):
    _check_norm(norm)
    a = asarray(a, fname)
    s, axes = _cook(a, s, axes, fname, invreal=kind == "IRFFT")
    if not axes:
        if kind in ("RFFT", "IRFFT"):
            raise IndexError(f"{fname}: needs at least one axis to transform")
        return a   # as NumPy: nothing to transform, nothing done
    a, half = _operand(a, kind, fname)
    if half is not None:
        return cast(_nd(a, s, axes, norm, kind, fname), half)
    if len(set(axes)) == len(axes):
        return _transform(a, kind, s, axes, norm)
    # repeated axes: NumPy transforms along each in turn (in its order)
    if kind in ("FFT", "IFFT"):
        for ax, n in reversed(list(zip(axes, s))):
            a = _transform(a, kind, [n], [ax], norm)
        return a
    if kind == "RFFT":
        a = _transform(a, "RFFT", [s[-1]], [axes[-1]], norm)
        for ax, n in reversed(list(zip(axes[:-1], s[:-1]))):
            a = _transform(a, "FFT", [n], [ax], norm)
        return a
    for ax, n in zip(axes[:-1], s[:-1]):
        a = _transform(a, "IFFT", [n], [ax], norm)
    return _transform(a, "IRFFT", [s[-1]], [axes[-1]], norm)


def _one(a, n, axis, norm, kind, fname):
    _check_norm(norm)
    a, half = _operand(a, kind, fname)
    if half is not None:
        return cast(_one(a, n, axis, norm, kind, fname), half)
    ax = _axis(axis, np.ndim(a), fname)
    if n is None:
        n = (np.shape(a)[ax] - 1) * 2 if kind == "IRFFT" else np.shape(a)[ax]
    return _transform(a, kind, [_length(n, fname)], [ax], norm)


# ------------------------------------------------------------ 1-D, 2-D, N-D ---

def fft(a, n=None, axis=-1, norm=None):
    """The 1-D discrete Fourier transform, as ``numpy.fft.fft``."""
    return _one(a, n, axis, norm, "FFT", "fft")


def ifft(a, n=None, axis=-1, norm=None):
    """The 1-D inverse transform, as ``numpy.fft.ifft``."""
    return _one(a, n, axis, norm, "IFFT", "ifft")


def rfft(a, n=None, axis=-1, norm=None):
    """The transform of real input, ``n // 2 + 1`` frequencies, as ``numpy.fft.rfft``."""
    return _one(a, n, axis, norm, "RFFT", "rfft")


def irfft(a, n=None, axis=-1, norm=None):
    """The inverse of ``rfft``: ``n`` real points (default ``2 (m - 1)``)."""
    return _one(a, n, axis, norm, "IRFFT", "irfft")


def hfft(a, n=None, axis=-1, norm=None):
    """The transform of a Hermitian-symmetric signal given by its first half
    (real output), as ``numpy.fft.hfft``: ``irfft(conj(a))`` with the
    normalisation swapped."""
    from ._complex import conjugate
    _check_norm(norm)
    return irfft(conjugate(asarray(a, "hfft")), n, axis, _SWAP[norm])


def ihfft(a, n=None, axis=-1, norm=None):
    """The inverse of ``hfft``: ``conj(rfft(a))`` with the normalisation swapped."""
    from ..primitives.complex import conj
    _check_norm(norm)
    return conj(rfft(a, n, axis, _SWAP[norm]))


def fftn(a, s=None, axes=None, norm=None):
    """The N-D transform over ``axes`` (all by default), as ``numpy.fft.fftn``."""
    return _nd(a, s, axes, norm, "FFT", "fftn")


def ifftn(a, s=None, axes=None, norm=None):
    return _nd(a, s, axes, norm, "IFFT", "ifftn")


def rfftn(a, s=None, axes=None, norm=None):
    """Real input; the last of ``axes`` is halved (``s[-1] // 2 + 1``)."""
    return _nd(a, s, axes, norm, "RFFT", "rfftn")


def irfftn(a, s=None, axes=None, norm=None):
    """The inverse of ``rfftn``; pass ``s`` to get an odd last length."""
    return _nd(a, s, axes, norm, "IRFFT", "irfftn")


def fft2(a, s=None, axes=(-2, -1), norm=None):
    return _nd(a, s, axes, norm, "FFT", "fft2")


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    return _nd(a, s, axes, norm, "IFFT", "ifft2")


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    return _nd(a, s, axes, norm, "RFFT", "rfft2")


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    return _nd(a, s, axes, norm, "IRFFT", "irfft2")


# ------------------------------------------------------ frequencies, shifts ---

def fftfreq(n, d=1.0, *, dtype=None, device=None):
    """Sample frequencies ``[0, 1, ..., -1] / (n d)``; differentiable in ``d``."""
    return _freqs(np.fft.fftfreq, n, d, dtype)


def rfftfreq(n, d=1.0, *, dtype=None, device=None):
    """Sample frequencies of ``rfft``: ``[0, 1, ..., n // 2] / (n d)``."""
    return _freqs(np.fft.rfftfreq, n, d, dtype)


def _freqs(np_fn, n, d, dtype):
    if not isinstance(d, Tracer):
        out = np_fn(n, d)
        return out if dtype is None else out.astype(dtype)
    n = operator.index(n)
    from ._ufuncs import divide
    k = np_fn(n, 1.0) * n   # the integers, exactly
    out = divide(k.astype(np.result_type(d.dtype, np.float16)), d * n)
    return out if dtype is None else cast(out, dtype)


def _shifts(x, axes, sign):
    x = asarray(x, "fftshift")
    if axes is None:
        axes = tuple(range(np.ndim(x)))
    elif isinstance(axes, (int, np.integer)):
        axes = (axes,)
    axes = tuple(_axis(ax, np.ndim(x), "fftshift") for ax in axes)
    shape = np.shape(x)
    return x, axes, [sign * (shape[ax] // 2) for ax in axes]


def fftshift(x, axes=None):
    """The zero frequency moved to the centre: ``roll`` by ``n // 2``."""
    x, axes, shift = _shifts(x, axes, 1)
    return roll(x, shift, axes) if axes else x


def ifftshift(x, axes=None):
    """The inverse of ``fftshift`` (they differ for odd lengths)."""
    x, axes, shift = _shifts(x, axes, -1)
    return roll(x, shift, axes) if axes else x
