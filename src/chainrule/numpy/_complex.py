"""NumPy's complex-number functions: real, imag, conj, angle and the dtype tests.

On complex arrays they bind the primitives of ``chainrule/primitives/complex.py``;
on real arrays they do what NumPy does (``real`` and ``conj`` return the
array, ``imag`` zeros). Derivatives follow JAX's convention (see
``docs/complex.md``): for a real-valued ``f``, ``grad(f)(z) = ∂f/∂x - i ∂f/∂y``.
"""

from __future__ import annotations

import numpy as np

from ..primitives import complex as cx
from ._promote import asarray, cast, float_dtype


def _is_complex(x) -> bool:
    return np.dtype(x.dtype).kind == "c"


def real(val, /):
    """The real part (``val`` itself when it is real)."""
    x = asarray(val, "real")
    return cx.real(x) if _is_complex(x) else x


def imag(val, /):
    """The imaginary part (zeros, with no derivative, when ``val`` is real)."""
    x = asarray(val, "imag")
    return cx.imag(x) if _is_complex(x) else np.zeros(np.shape(x), x.dtype)


def conjugate(x, /):
    """The complex conjugate (``x`` itself when it is real)."""
    x = asarray(x, "conjugate")
    return cx.conj(x) if _is_complex(x) else x


conj = conjugate


def angle(z, deg=False):
    """The argument of ``z``, ``arctan2(imag(z), real(z))``, in radians (or
    degrees with ``deg=True``); real input gives 0 or π."""
    from ._ufuncs import arctan2, multiply
    z = asarray(z, "angle")
    if _is_complex(z):
        re, im = cx.real(z), cx.imag(z)
    else:
        re = cast(z, float_dtype(z.dtype))
        im = np.zeros(np.shape(z), re.dtype)
    a = arctan2(im, re)
    return multiply(a, np.asarray(180 / np.pi, a.dtype)) if deg else a


def iscomplexobj(x):
    """Whether ``x`` has a complex dtype (whatever its values)."""
    dtype = getattr(x, "dtype", None)
    return np.dtype(dtype if dtype is not None else asarray(x).dtype).kind == "c"


def isrealobj(x):
    """Whether ``x`` has a non-complex dtype."""
    return not iscomplexobj(x)


def iscomplex(x):
    """Elementwise: a non-zero imaginary part (no derivative)."""
    from ._ufuncs import not_equal
    x = asarray(x, "iscomplex")
    if not _is_complex(x):
        return np.zeros(np.shape(x), bool)
    return not_equal(cx.imag(x), 0)


def isreal(x):
    """Elementwise: a zero imaginary part (no derivative)."""
    from ._ufuncs import equal
    x = asarray(x, "isreal")
    if not _is_complex(x):
        return np.ones(np.shape(x), bool)
    return equal(cx.imag(x), 0)
