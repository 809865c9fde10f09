"""Checking derivatives against finite differences.

``check_grads`` tests forward mode by comparing ``jvp`` with a central
difference along a random direction, and reverse mode by the identity
``<ct, J t> = <Jᵀ ct, t>`` (the VJP against the numerical JVP), then repeats
both on the derivative functions themselves for higher orders.

Complex arguments are perturbed in both their real and imaginary parts, and
the pairing of cotangents with tangents is ``Re(sum(a * b))``, without
conjugation: reverse mode is the transpose of forward mode under that real
inner product, which is JAX's convention (``vjp`` of a holomorphic ``f`` is
``ct * f'(z)``; see docs/complex.md). It is the same check as JAX's
``Re<t, conj(vjp(conj(ct)))>`` with the conjugating inner product.
"""

from __future__ import annotations

import numpy as np

from .api import jvp, vjp
from .tree_util import tree_flatten, tree_map

_EPS = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 1e-2, np.dtype(np.float16): 1e-1}
_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 2e-2, np.dtype(np.float16): 1e-1}


def _is_float(x):
    return np.asarray(x).dtype.kind in "fc"


def _is_complex(x):
    return np.asarray(x).dtype.kind == "c"


def _as_wide(x):
    """float64, or complex128 for complex values: where differences are taken."""
    return np.asarray(x, np.complex128 if _is_complex(x) else np.float64)


def _random_like(rng, x):
    x = np.asarray(x)
    if not _is_float(x):
        return np.zeros(x.shape, x.dtype)
    if _is_complex(x):  # a direction in both the real and the imaginary part
        return (rng.standard_normal(x.shape)
                + 1j * rng.standard_normal(x.shape)).astype(x.dtype)
    return rng.standard_normal(x.shape).astype(x.dtype)


def _inner(xs, ys):
    """``Re(sum(x * y))`` over the float leaves: the real pairing under which
    the VJP is the transpose of the JVP (no conjugation, JAX's convention)."""
    total = 0.0
    for x, y in zip(tree_flatten(xs)[0], tree_flatten(ys)[0]):
        if _is_float(x) and _is_float(y):
            total += float(np.real(np.sum(_as_wide(x) * _as_wide(y))))
    return total


def _dtype_of(tree):
    """The least precise float dtype among the leaves (complex64 counts as
    float32, complex128 as float64): it sets the step and the tolerance."""
    dtypes = [np.asarray(x).dtype for x in tree_flatten(tree)[0] if _is_float(x)]
    dtypes = [np.dtype(np.finfo(d).dtype) for d in dtypes]
    return min(dtypes, key=lambda d: d.itemsize) if dtypes else np.dtype(np.float64)


def numerical_jvp(f, primals, tangents, eps):
    """Central difference ``(f(x + eps t) - f(x - eps t)) / 2 eps``."""
    def shifted(sign):
        return f(*tree_map(lambda p, t: p + sign * eps * t if _is_float(p) else p,
                           primals, tangents))
    plus, minus = shifted(1.0), shifted(-1.0)
    def difference(a, b):
        if not _is_float(a):  # integer (or float0) outputs have no derivative
            return np.zeros(np.shape(a))
        return (_as_wide(a) - _as_wide(b)) / (2 * eps)
    return tree_map(difference, plus, minus)


def _assert_close(actual, expected, atol, rtol, what):
    a_leaves, e_leaves = tree_flatten(actual)[0], tree_flatten(expected)[0]
    for a, e in zip(a_leaves, e_leaves):
        if not _is_float(a):
            continue  # integer outputs: their tangents are float0 zeros
        a, e = _as_wide(a), _as_wide(e)
        np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=what)


def check_jvp(f, args, atol=None, rtol=None, eps=None, rng=None):
    rng = rng or np.random.default_rng(0)
    dtype = _dtype_of(args)
    eps, atol, rtol = eps or _EPS[dtype], atol or _TOL[dtype], rtol or _TOL[dtype]
    tangents = tree_map(lambda x: _random_like(rng, x), args)
    _, t_out = jvp(f, args, tangents)
    expected = numerical_jvp(f, args, tangents, eps)
    _assert_close(t_out, expected, atol, rtol, "JVP does not match finite differences")


def check_vjp(f, args, atol=None, rtol=None, eps=None, rng=None):
    rng = rng or np.random.default_rng(1)
    dtype = _dtype_of(args)
    eps, atol, rtol = eps or _EPS[dtype], atol or _TOL[dtype], rtol or _TOL[dtype]
    out, vjp_fun = vjp(f, *args)
    ct = tree_map(lambda x: _random_like(rng, x), out)
    tangents = tree_map(lambda x: _random_like(rng, x), args)
    lhs = _inner(vjp_fun(ct), tangents)
    rhs = _inner(ct, numerical_jvp(f, args, tangents, eps))
    _assert_close(lhs, rhs, atol, rtol,
                  "VJP does not match finite differences: <vjp(ct), t> != <ct, jvp(t)>")


def check_grads(f, args, order, modes=("fwd", "rev"), atol=None, rtol=None, eps=None,
                seed=0):
    """Check ``f``'s derivatives up to ``order`` in the given modes.

    ``args`` is a tuple of arguments (pytrees of float arrays). Raises
    ``AssertionError`` on a mismatch.
    """
    args = tuple(args)
    rng = np.random.default_rng(seed)
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {mode!r} (use 'fwd' and/or 'rev')")
    if "fwd" in modes:
        check_jvp(f, args, atol, rtol, eps, rng)
        if order > 1:
            tangents = tree_map(lambda x: _random_like(rng, x), args)

            def f_jvp(*primals):
                return jvp(f, primals, tangents)[1]
            check_grads(f_jvp, args, order - 1, modes, atol, rtol, eps, seed + 1)
    if "rev" in modes:
        check_vjp(f, args, atol, rtol, eps, rng)
        if order > 1:
            ct = tree_map(lambda x: _random_like(rng, x), f(*args))

            def f_vjp(*primals):
                return vjp(f, *primals)[1](ct)
            check_grads(f_vjp, args, order - 1, modes, atol, rtol, eps, seed + 1)
