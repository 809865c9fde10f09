"""SciPy's API on arrays and tracers: ``import chainrule.scipy.special``.

Only NumPy is needed at run time; the special functions are chainrule
primitives (see ``chainrule.primitives.special``).
"""

from . import (
    linalg,  # noqa: F401,E402  (scipy.linalg: solve_triangular, lu, expm, ...)
    signal,  # noqa: F401,E402  (convolve, correlate, convolve2d, correlate2d)
    special,  # noqa: F401
    stats,  # noqa: F401,E402
)
