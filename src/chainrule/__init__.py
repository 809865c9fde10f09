"""chainrule: JAX-style functional automatic differentiation for NumPy.

``grad``/``vjp`` are reverse mode, ``jvp``/``linearize`` forward mode;
``jacfwd``, ``jacrev`` and ``hessian`` build Jacobians from them, and
``make_jaxpr`` shows the IR every transform works on. Write functions with
``chainrule.numpy``; they compose to any depth.
"""

from . import (  # noqa: F401
                  lax,
                  numpy,
                  primitives,  # noqa: F401  (registers every primitive)
                  tree_util,
)
from .api import (
                  grad,
                  hessian,
                  jacfwd,
                  jacrev,
                  jvp,
                  linearize,
                  make_jaxpr,
                  value_and_grad,
                  vjp,
                  vmap,
)
from .checkpoint import checkpoint, checkpoint_policies, remat
from .config import config
from .core import ClosedJaxpr, ConcretizationError, EscapedTracerError, Jaxpr, ShapedArray, float0
from .custom import custom_jvp, custom_vjp
from .jit import jit  # noqa: E402
from .numpy import stop_gradient
from .parallel import pmap

__version__ = "0.1.0"

__all__ = ["vmap", "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev",
           "hessian", "make_jaxpr", "stop_gradient", "float0", "Jaxpr", "ClosedJaxpr",
           "ShapedArray", "ConcretizationError", "EscapedTracerError", "custom_jvp",
           "custom_vjp", "checkpoint", "remat", "checkpoint_policies", "lax", "config", "pmap"]

# Submodules reachable as attributes of ``chainrule`` and imported on first
# use (as ``jax.nn`` after ``import jax``), so that ``import chainrule`` stays
# fast and never imports optional packages. Append a name to add one.
_LAZY_SUBMODULES = {"nn", "scipy", "random", "debug", "distributed"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _LAZY_SUBMODULES)
