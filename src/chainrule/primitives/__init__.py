"""Every primitive, one family per file, each with all of its rules.

Importing this package registers them all in ``chainrule.core.registry``.
"""

from . import dot, elementwise, indexing, reductions, scans, shape, special  # noqa: F401
from . import linalg, scatter  # noqa: F401,E402  (linear algebra; indexed updates)
from . import complex  # noqa: F401,E402  (real/imag/conj/complex; complex cases of abs, sign)
