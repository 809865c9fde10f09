"""SciPy's API on arrays and tracers: ``import chainrule.scipy.special``.

Only NumPy is needed at run time; the special functions are chainrule
primitives (see ``chainrule.primitives.special``).
"""

from . import (
    special,  # noqa: F401
    stats,  # noqa: F401,E402
)
