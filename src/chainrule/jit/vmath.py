"""Vectorisable elementwise math for fused kernels.

Numba from PyPI has no vector math library (no SVML), so ``math.exp``,
``math.sin``, ``math.tanh`` ... in a loop are scalar libm calls that stop
LLVM's loop vectoriser: a fused kernel with one of them runs at libm's
scalar speed (6 ns per ``exp``, 12 per ``sin``, 22 per ``tanh`` on the
reference machine), where NumPy's own SIMD loops take about 1 ns. The
functions here are written with arithmetic, comparisons and selects only
(no calls, no branches that LLVM cannot turn into selects, integers only
through bit casts), so that once LLVM inlines them into a kernel the loop
vectorises.

Accuracy (float64), checked in ``tests/test_vmath.py`` against NumPy in
extended precision (``np.longdouble``):

- ``exp``: fdlibm's reduction ``x = k ln2 + r`` and rational kernel,
  scaled by ``2**k`` in two steps so that subnormal results are rounded
  once; within 1 ulp, exact ``inf``/``0``/``nan`` at the ends.
- ``sin``/``cos``: fdlibm's reduction by pi/2 for medium arguments (pi/2 in
  33-bit pieces, each product ``k * piece`` exact for ``|k| < 2**20``, the
  remainder kept as a head and a tail) and fdlibm's kernels on
  [-pi/4, pi/4]; within 1 ulp (correctly rounded near multiples of pi/2)
  for ``|x| < TRIG_LIMIT`` (about 1.6e6). Beyond that the reduction loses
  bits: the kernel flags such operands and is re-run with libm
  (``math.sin``/``math.cos``), see ``codegen``.
- ``tanh``: Cephes' rational function for ``|x| < 0.625`` and
  ``1 - 2 / (exp(2|x|) + 1)`` above; within 1.5 ulp.
- ``logistic``: ``1 / (1 + e)`` or ``e / (1 + e)`` with ``e = exp(-|x|)``,
  the formula of chainrule's NumPy implementation; within 2.5 ulp.

Each function converts its operand to float64; float32 kernels cast the
result back, which rounds to within 1 float32 ulp.

``tanh`` and ``logistic`` take their ``exp`` as an argument, which the
emitters write as ``vm.tanh_finish(x, vm.exp(...))``: LLVM does not inline
a function the size of ``exp`` and a rational function together, while it
does inline each (``tests/test_vmath.py`` checks that no call survives in a
compiled kernel).

Compile time. The public functions are ``numba.njit(cache=True)``: a kernel
links their LLVM IR (and is cached on disk with it inlined); Numba caches
their own compiled form next to this file, so a process compiles them only
if no earlier one has; ``cache.py`` puts a hash of this file into every
kernel's key, so that editing it recompiles the kernels. The private pieces
of ``sin``/``cos`` are inlined by Numba (``inline="always"``) rather than
compiled as functions of their own: each Numba function costs about 0.1 s to
compile, whatever its size.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_opts = dict(cache=True, error_model="numpy", nogil=True)

_SHIFT = 6755399441055744.0   # 1.5 * 2**52: (y + _SHIFT) - _SHIFT rounds y to an integer
_TINY = 3.725290298461914e-09  # 2**-28: below it, sin x and tanh x round to x

# ------------------------------------------------------------------ exp ---

_LOG2E = 1.44269504088896338700e+00
_LN2HI = 6.93147180369123816490e-01   # ln2 with 21 trailing zero bits: k * _LN2HI exact
_LN2LO = 1.90821492927058770002e-10
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_EXP_HI = 709.8    # exp overflows above 709.78
_EXP_LO = -745.2   # and rounds to 0 below -745.13


@njit(**_opts)
def exp(x):
    x = np.float64(x)
    # clamp so that 2**k stays in two normal factors; NaN passes through
    # (comparisons with NaN are false)
    xc = _EXP_HI if x > _EXP_HI else x
    xc = _EXP_LO if xc < _EXP_LO else xc
    k = (xc * _LOG2E + _SHIFT) - _SHIFT
    hi = xc - k * _LN2HI
    lo = k * _LN2LO
    r = hi - lo
    z = r * r
    c = r - z * (_P1 + z * (_P2 + z * (_P3 + z * (_P4 + z * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    ki = np.int64(k if k == k else 0.0)   # k is NaN only when x is
    k1 = ki >> 1
    k2 = ki - k1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)
    s2 = np.int64((k2 + 1023) << 52).view(np.float64)
    return (y * s1) * s2


# -------------------------------------------------------------- sin/cos ---

_TWO_OVER_PI = 6.36619772367581382433e-01
# pi/2 in 33-bit pieces (k * piece is exact for |k| < 2**20) and their tails
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
_PIO2_3T = 8.47842766036889956997e-32
TRIG_LIMIT = 1647099.0                  # ~ 2**20 * pi/2: |k| < 2**20
_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11


@njit(inline="always", **_opts)
def _two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(inline="always", **_opts)
def _reduce_pio2(x):
    """``(k, y0, y1)`` with ``x - k pi/2 = y0 + y1`` to about 150 bits,
    ``|y0| <= pi/4`` (fdlibm's medium-argument reduction, with every rounding
    error carried in the tail, so that there is no branch)."""
    k = (x * _TWO_OVER_PI + _SHIFT) - _SHIFT
    t = x - k * _PIO2_1                   # exact (Sterbenz)
    r, e1 = _two_sum(t, -(k * _PIO2_2))   # k * _PIO2_i exact for |k| < 2**20
    r, e2 = _two_sum(r, -(k * _PIO2_3))
    return (k,) + _two_sum(r, (e1 + e2) - k * _PIO2_3T)


@njit(inline="always", **_opts)
def _sin_kernel(x, y):
    """sin(x + y) on [-pi/4, pi/4], ``y`` the tail of ``x`` (fdlibm __kernel_sin)."""
    z = x * x
    v = z * x
    r = _S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))
    return x - ((z * (0.5 * y - v * r) - y) - v * _S1)


@njit(inline="always", **_opts)
def _cos_kernel(x, y):
    """cos(x + y) on [-pi/4, pi/4] (fdlibm __kernel_cos)."""
    z = x * x
    r = z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * r - x * y))


@njit(inline="always", **_opts)
def _odd(k):
    h = k * 0.5
    return h != np.floor(h)


@njit(**_opts)
def sin(x):
    x = np.float64(x)
    k, y0, y1 = _reduce_pio2(x)
    s = _sin_kernel(y0, y1)
    c = _cos_kernel(y0, y1)
    # sin(y + k pi/2) = s, c, -s, -c for k mod 4 = 0, 1, 2, 3
    v = c if _odd(k) else s
    v = -v if _odd(np.floor(k * 0.5)) else v
    return x if abs(x) < _TINY else v   # sin x = x there (and keeps -0.0)


@njit(**_opts)
def cos(x):
    x = np.float64(x)
    k, y0, y1 = _reduce_pio2(x)
    s = _sin_kernel(y0, y1)
    c = _cos_kernel(y0, y1)
    # cos(y + k pi/2) = c, -s, -c, s for k mod 4 = 0, 1, 2, 3
    v = s if _odd(k) else c
    return -v if _odd(np.floor((k + 1.0) * 0.5)) else v


# ----------------------------------------------------------------- tanh ---

_TP0 = -9.64399179425052238628e-01
_TP1 = -9.92877231001918586564e+01
_TP2 = -1.61468768441708447952e+03
_TQ0 = 1.12811678491632931402e+02
_TQ1 = 2.23548839060100448583e+03
_TQ2 = 4.84406305325125486048e+03


@njit(**_opts)
def tanh_finish(x, e):
    """tanh(x) given ``e = exp(min(2|x|, 80))`` (the emitter writes that part)."""
    x = np.float64(x)
    a = -x if x < 0.0 else x
    z = x * x
    small = x + x * z * (((_TP0 * z + _TP1) * z + _TP2)
                         / (((z + _TQ0) * z + _TQ1) * z + _TQ2))
    big = 1.0 - 2.0 / (e + 1.0)
    big = -big if x < 0.0 else big
    v = small if a < 0.625 else big
    return x if a < _TINY else v   # tanh x = x there (and keeps -0.0)


# ------------------------------------------------------------- logistic ---

@njit(**_opts)
def logistic_finish(x, e):
    """logistic(x) given ``e = exp(-|x|)``."""
    x = np.float64(x)
    d = 1.0 + e
    return 1.0 / d if x >= 0.0 else e / d
