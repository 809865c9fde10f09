"""The discrete Fourier transform: one primitive, ``fft``, as JAX's ``lax.fft``.

``fft(x, fft_type=..., fft_lengths=s)`` transforms the trailing ``len(s)``
axes of ``x`` (``chainrule.numpy.fft`` moves the user's axes there, pads or
crops them and applies ``norm``). Four types, unnormalised forward and
``1/N``-normalised inverse (NumPy's ``norm="backward"``), ``N = prod(s)``:

=====  ==========================  ===========================================
type   operand -> result           trailing shape
=====  ==========================  ===========================================
FFT    complex -> complex          s -> s
IFFT   complex -> complex          s -> s
RFFT   real -> complex             s -> s[:-1] + (s[-1] // 2 + 1,)
IRFFT  complex -> real             s[:-1] + (s[-1] // 2 + 1,) -> s
=====  ==========================  ===========================================

All four are (real-)linear, so the JVP applies the same transform to the
tangent. The VJPs are the transposes under the real pairing
``<a, b> = Re(sum(a * b))`` of docs/complex.md (no conjugation):

- FFT and IFFT: the DFT matrix is symmetric, so each is its own transpose.
- RFFT: ``Re(sum(c * P F x)) = sum(x * Re(F Pᵀ c))`` (``P`` keeps the half
  spectrum). ``N * irfft(w * conj(c))`` computes ``Re(F Pᵀ c)`` with one
  half-size transform when ``w`` is 1 at the zero (and, for even lengths,
  the Nyquist) frequency and 1/2 elsewhere: irfft counts the middle
  frequencies twice, once for their conjugate mirror.
- IRFFT: ``conj(W * rfft(c)) / N`` with ``W`` = 1 at those frequencies and 2
  elsewhere (irfft reads each middle frequency twice; it ignores the
  imaginary part of the others, and so does the cotangent).

The weights are on the last transformed axis only; the other axes are full
complex transforms. Never a dense matrix. Under ``jit`` the primitive is a
library call to ``numpy.fft``.
"""

from __future__ import annotations

import enum

import numpy as np

from ..batching import moveaxis
from ..core import Primitive, ShapedArray
from . import complex as cx
from . import elementwise as ew


class FftType(enum.IntEnum):
    """JAX's ``lax.FftType``."""

    FFT = 0
    IFFT = 1
    RFFT = 2
    IRFFT = 3


_TYPES = ("FFT", "IFFT", "RFFT", "IRFFT")

fft_p = Primitive("fft")


def _impl(x, *, fft_type, fft_lengths):
    # numpy.fft would pad or crop a wrong shape silently: check it as tracing does
    _aval(ShapedArray(x.shape, x.dtype), fft_type=fft_type, fft_lengths=fft_lengths)
    axes = tuple(range(-len(fft_lengths), 0))
    fn = {"FFT": np.fft.fftn, "IFFT": np.fft.ifftn,
          "RFFT": np.fft.rfftn, "IRFFT": np.fft.irfftn}[fft_type]
    return fn(x, s=fft_lengths, axes=axes)


def _aval(x, *, fft_type, fft_lengths):
    s, shape, dtype = tuple(fft_lengths), tuple(x.shape), np.dtype(x.dtype)
    if fft_type not in _TYPES:
        raise ValueError(f"fft: fft_type must be one of {', '.join(_TYPES)}, got {fft_type!r}")
    if not s or any(int(n) < 1 for n in s):
        raise ValueError(f"fft: fft_lengths must be one or more positive lengths, got {s}")
    if len(shape) < len(s):
        raise ValueError(f"fft: operand of shape {shape} has fewer axes than fft_lengths {s}")
    want = s[:-1] + (s[-1] // 2 + 1,) if fft_type == "IRFFT" else s
    if shape[len(shape) - len(s):] != want:
        raise ValueError(f"fft: {fft_type} with fft_lengths {s} needs trailing axes {want}, "
                         f"got operand of shape {shape}")
    if fft_type == "RFFT":
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"fft: RFFT needs a float32/float64 operand, got {dtype.name}")
    elif dtype not in (np.complex64, np.complex128):
        raise TypeError(f"fft: {fft_type} needs a complex64/complex128 operand, got "
                        f"{dtype.name}")
    lead = shape[:len(shape) - len(s)]
    if fft_type == "RFFT":
        return ShapedArray(lead + s[:-1] + (s[-1] // 2 + 1,), cx.complex_dtype(dtype))
    if fft_type == "IRFFT":
        return ShapedArray(lead + s, cx.real_dtype(dtype))
    return ShapedArray(shape, dtype)


def _jvp(primals, tangents, out, *, fft_type, fft_lengths):
    (t,) = tangents
    return None if t is None else fft(t, fft_type, fft_lengths)


def _half_weights(n, dtype, middle, edge):
    """Along a half spectrum of a length-``n`` signal: ``edge`` at frequency
    0 (and n/2 for even n), ``middle`` at the others."""
    w = np.full(n // 2 + 1, middle, dtype=cx.real_dtype(dtype))
    w[0] = edge
    if n % 2 == 0:
        w[-1] = edge
    return w.astype(dtype)


def _vjp(ct, out, x, *, wants, fft_type, fft_lengths):
    s = tuple(fft_lengths)
    if fft_type in ("FFT", "IFFT"):
        return (fft(_as(ct, x.dtype), fft_type, s),)
    size = float(np.prod(s))
    if fft_type == "RFFT":
        ct = _as(ct, cx.complex_dtype(x.dtype))
        w = _half_weights(s[-1], ct.dtype, 0.5 * size, size)
        return (fft(ew.mul(cx.conj(ct), w), "IRFFT", s),)
    ct = _as(ct, cx.real_dtype(x.dtype))
    w = _half_weights(s[-1], x.dtype, 2.0 / size, 1.0 / size)
    return (cx.conj(ew.mul(fft(ct, "RFFT", s), w)),)


def _as(ct, dtype):
    """The cotangent in the dtype the transpose needs (a real cotangent of a
    complex output is accepted, as elsewhere, and a complex one of a real
    output keeps its real part)."""
    dtype = np.dtype(dtype)
    if np.dtype(ct.dtype) == dtype:
        return ct
    if np.dtype(ct.dtype).kind == "c" and dtype.kind != "c":
        ct = cx.real(ct)
    return ew.convert_element_type(ct, dtype)


def _batch(axis_size, args, dims, *, fft_type, fft_lengths):
    (x,), (d,) = args, dims
    return fft(moveaxis(x, d, 0), fft_type, fft_lengths), 0


fft_p.impl = _impl
fft_p.abstract_eval = _aval
fft_p.jvp = _jvp
fft_p.vjp = _vjp
fft_p.batch = _batch


def fft(x, fft_type, fft_lengths):
    """JAX's ``lax.fft``: the transform ``fft_type`` (an ``FftType`` or its
    name) over the trailing ``len(fft_lengths)`` axes of ``x``."""
    if isinstance(fft_type, FftType):
        name = fft_type.name
    elif isinstance(fft_type, str) and fft_type.upper() in _TYPES:
        name = fft_type.upper()
    else:
        raise ValueError(f"fft: fft_type must be an FftType or one of {', '.join(_TYPES)}, "
                         f"got {fft_type!r}")
    if isinstance(fft_lengths, (int, np.integer)):
        fft_lengths = (fft_lengths,)
    return fft_p.bind(x, fft_type=name, fft_lengths=tuple(int(n) for n in fft_lengths))


# ---------------------------------------------------------------- samples ---

def _c(rng, shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def _samples(rng):
    out = []
    for shape, s in [((4,), (4,)), ((2, 5), (5,)), ((3, 4), (3, 4)), ((2, 2, 3), (2, 3))]:
        out.append(((_c(rng, shape),), {"fft_type": "FFT", "fft_lengths": s}))
        out.append(((_c(rng, shape),), {"fft_type": "IFFT", "fft_lengths": s}))
    for shape, s in [((4,), (4,)), ((5,), (5,)), ((2, 6), (6,)), ((3, 4), (3, 4)),
                     ((2, 3, 5), (3, 5)), ((1,), (1,)), ((2,), (2,))]:
        out.append(((rng.normal(size=shape),), {"fft_type": "RFFT", "fft_lengths": s}))
        half = shape[:-1] + (s[-1] // 2 + 1,)
        out.append(((_c(rng, half),), {"fft_type": "IRFFT", "fft_lengths": s}))
    return out


fft_p.samples = _samples
