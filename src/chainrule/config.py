"""Global switches, JAX-style: ``chainrule.config.update("debug_nans", True)``.

``debug_nans`` (or the environment variable ``CHAINRULE_DEBUG_NANS=1``)
makes every primitive check its result: the first NaN raises
``FloatingPointError`` naming the primitive, whether it came from the
forward pass or from a JVP/VJP rule, and the line of user code that led to it.

``jit_compile`` (or ``CHAINRULE_JIT_COMPILE``) says when ``jit`` waits for
Numba: ``"async"`` (the default) runs a new plan at once with NumPy
implementations while a compile process compiles its kernels, and swaps
them in as they arrive (``chainrule/jit/compiler.py``); ``"sync"`` compiles
every kernel in this process before the first call returns.

``jit_threads`` (or ``CHAINRULE_JIT_THREADS``) is how many threads a large
fused kernel is split over (``chainrule/jit/threads.py``); ``None`` (the
default) means the CPUs this process may run on, at most
``NUMBA_NUM_THREADS``; 1 runs every kernel serially.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import traceback

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


_JIT_COMPILE = ("async", "sync")


def _threads(value, where):
    """A thread count: a positive int, or None (automatic)."""
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or (not isinstance(value, str) and n != value) or isinstance(value, bool):
        raise ValueError(f"{where} must be a positive integer (or None: automatic), "
                         f"got {value!r}")
    return n


class _Config:
    def __init__(self):
        self.debug_nans = os.environ.get("CHAINRULE_DEBUG_NANS", "") not in ("", "0")
        # pmap's collectives first check that every process brings the same
        # shapes and dtypes (one small extra message per collective)
        self.debug_collectives = os.environ.get("CHAINRULE_DEBUG_COLLECTIVES", "") not in (
            "", "0")
        self.jit_compile = os.environ.get("CHAINRULE_JIT_COMPILE", "") or "async"
        if self.jit_compile not in _JIT_COMPILE:
            raise ValueError(f"CHAINRULE_JIT_COMPILE must be one of {_JIT_COMPILE}, got "
                             f"{self.jit_compile!r}")
        self.jit_threads = _threads(os.environ.get("CHAINRULE_JIT_THREADS", ""),
                                    "CHAINRULE_JIT_THREADS")

    def update(self, name, value):
        if not hasattr(self, name):
            raise AttributeError(f"chainrule.config has no option {name!r}")
        if name == "jit_compile" and value not in _JIT_COMPILE:
            raise ValueError(f"config.update('jit_compile', ...): expected one of "
                             f"{_JIT_COMPILE}, got {value!r}")
        if name == "jit_threads":
            value = _threads(value, "config.update('jit_threads', ...)")
        setattr(self, name, value)


config = _Config()

# Which rule is running, for error messages ("the VJP rule of 'log'").
phase: contextvars.ContextVar[str] = contextvars.ContextVar("chainrule_phase",
                                                            default="the forward pass")


# The user's line a running rule belongs to, when it is not on the stack (a
# VJP rule runs in the backward pass, long after its primitive was recorded).
origin: contextvars.ContextVar[str | None] = contextvars.ContextVar("chainrule_origin",
                                                                   default=None)


@contextlib.contextmanager
def in_rule(kind: str, prim_name: str, line: str | None = None):
    if not config.debug_nans:
        yield
        return
    token = phase.set(f"the {kind} rule of '{prim_name}'")
    token_line = origin.set(line) if line is not None else None
    try:
        yield
    finally:
        phase.reset(token)
        if token_line is not None:
            origin.reset(token_line)


def user_line() -> str:
    """The innermost stack frame outside chainrule: the user's own call."""
    line = origin.get()
    if line is not None:
        return line
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR):
            return f"{frame.filename}:{frame.lineno} ({frame.line})"
    return "<unknown>"


def check_nans(prim_name: str, out, what: str | None = None) -> None:
    """Raise if a concrete result (an ndarray or a NumPy scalar) holds a NaN."""
    import numpy as np
    outs = out if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        if (isinstance(o, (np.ndarray, np.generic)) and o.dtype.kind in "fc"
                and np.isnan(o).any()):
            raise FloatingPointError(
                f"debug_nans: primitive '{prim_name}' produced NaN in "
                f"{what or phase.get()}, called from {user_line()}")
