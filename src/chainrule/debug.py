"""``chainrule.debug``: ``print`` and ``callback`` of runtime values, eagerly
and inside ``jit``, ``vmap``, ``grad`` (JAX's ``jax.debug``).

Both bind ``debug_callback``, a primitive with no outputs that is an
*effect*: ``jit``'s dead-code elimination keeps it although nothing uses its
(absent) results, and the compiled plan runs it as a library call with the
actual arrays. Under ``jvp``/``grad`` it sees the primal values (tangents
pass by; its transpose does nothing); under ``vmap`` it runs once per
example, in order, as JAX's does. Values that do not depend on a traced
input are printed when the function is traced (once per compilation under
``jit``), not on every call.
"""

from __future__ import annotations

import string

import numpy as np

from . import tree_util
from .core import Primitive, registry  # noqa: F401

__all__ = ["print", "callback"]

debug_callback_p = Primitive("debug_callback", multiple_results=True)
debug_callback_p.effect = True   # kept by jit's dead-code elimination


class _Callback:
    """The user's callback and the structure of its arguments, as one
    hashable parameter (compared by identity)."""

    __slots__ = ("fn", "tree")

    def __init__(self, fn, tree):
        self.fn, self.tree = fn, tree

    def __repr__(self):
        return f"<callback {getattr(self.fn, '__name__', 'fn')}>"


def _impl(*args, callback):
    args, kwargs = tree_util.tree_unflatten(callback.tree, [np.asarray(a) for a in args])
    callback.fn(*args, **kwargs)
    return []


def _abstract_eval(*avals, callback):
    return []


def _jvp(primals, tangents, out, *, callback):
    return []


def _vjp(ct, out, *primals, wants, callback):
    return (None,) * len(primals)


def _batch(axis_size, args, dims, *, callback):
    from .batching import moveaxis
    moved = [a if d is None else moveaxis(a, d, 0) for a, d in zip(args, dims)]
    for i in range(axis_size):
        debug_callback_p.bind(*[a if d is None else a[i] for a, d in zip(moved, dims)],
                              callback=callback)
    return [], []


debug_callback_p.impl = _impl
debug_callback_p.abstract_eval = _abstract_eval
debug_callback_p.jvp = _jvp
debug_callback_p.vjp = _vjp
debug_callback_p.batch = _batch


def _samples(rng):
    return [((rng.normal(size=(2, 3)),),
             {"callback": _Callback(lambda *a, **k: None,
                                    tree_util.tree_structure(((0,), {})))})]


debug_callback_p.samples = _samples


def callback(fn, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` with the runtime values of ``args`` (pytrees
    of arrays, given to ``fn`` as NumPy arrays); returns None. ``fn``'s
    result is ignored."""
    if not callable(fn):
        raise TypeError(f"debug.callback: expected a callable, got {type(fn).__name__}")
    leaves, tree = tree_util.tree_flatten((args, kwargs))
    from .numpy._promote import asarray
    leaves = [asarray(x, "debug.callback") for x in leaves]
    debug_callback_p.bind(*leaves, callback=_Callback(fn, tree))


def _check_format(fmt):
    if not isinstance(fmt, str):
        raise TypeError(f"debug.print: the format must be a str, got {type(fmt).__name__}")
    list(string.Formatter().parse(fmt))   # raises ValueError on a malformed format


def print(fmt, *args, **kwargs):  # noqa: A001
    """``print(fmt.format(*args, **kwargs))`` with the runtime values of the
    arguments (NumPy arrays, so ``{}`` shows them as ``str`` of an array does
    and ``{:.3f}`` works on scalars)."""
    _check_format(fmt)

    def show(*a, **k):
        builtins_print(fmt.format(*a, **k))

    callback(show, *args, **kwargs)


import builtins as _builtins  # noqa: E402

builtins_print = _builtins.print
