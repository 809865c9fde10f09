"""Every primitive, one family per file, each with all of its rules.

Importing this package registers them all in ``chainrule.core.registry``.
"""

from . import (  # noqa: F401  # noqa: F401,E402  (linear algebra; indexed updates)
    bitwise,  # noqa: F401  (bitwise_and/or/xor/not and shifts on integers)
    collectives,  # noqa: F401  (psum & co. over named axes; across processes for pmap)
    complex,  # noqa: F401,E402  (real/imag/conj/complex; complex cases of abs, sign)
    conv,  # noqa: F401  (conv_general_dilated)
    dot,
    elementwise,
    fft,  # noqa: F401  (the discrete Fourier transform)
    indexing,
    linalg,
    linalg_scipy,  # noqa: F401  (lu, lu_pivots_to_permutation, expm for chainrule.scipy.linalg)
    prng,  # noqa: F401  (Threefry-2x32 random bits for chainrule.random)
    reductions,
    scans,
    scatter,
    shape,
    special,
    special_more,  # noqa: F401  (incomplete gamma/beta, Bessel i0e/i1e)
)
