"""Neural-network functions with JAX's ``jax.nn`` names and conventions.

All are differentiable compositions of ``chainrule.numpy`` and
``chainrule.scipy.special``. The conventions at kinks follow JAX: the
derivative of ``relu`` at 0 is 0, of ``relu6`` at 0 and 6 is 0. ``softmax``,
``log_softmax`` and ``logsumexp`` shift by a stop-gradient maximum, so they
neither overflow nor lose exactness of their derivatives.
"""

from __future__ import annotations

import numpy as np

from . import numpy as cnp
from .numpy._promote import as_float as _float
from .numpy._promote import asarray, canonical_axes, cast
from .numpy._promote import scalar_like as _c
from .primitives import elementwise as ew
from .scipy import special
from .scipy.special import logsumexp  # noqa: F401  (re-exported, as jax.nn)

__all__ = ["celu", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu", "hard_swish",
           "hard_tanh", "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp", "mish",
           "one_hot", "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign", "softmax",
           "softplus", "standardize", "swish"]


# ------------------------------------------------------ rectifiers ---

def relu(x):
    """``max(x, 0)``, with derivative 0 at ``x == 0`` (as JAX)."""
    x = asarray(x, "relu")
    return cnp.where(cnp.greater(x, 0), x, _c(0, x))


def relu6(x):
    """``min(max(x, 0), 6)``, with derivative 0 at 0 and at 6 (as JAX)."""
    x = asarray(x, "relu6")
    inside = cnp.logical_and(cnp.greater(x, 0), cnp.less(x, 6))
    return cnp.where(inside, x, cnp.where(cnp.greater_equal(x, 6), _c(6, x), _c(0, x)))


def leaky_relu(x, negative_slope=0.01):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below."""
    x = _float(x, "leaky_relu")
    return cnp.where(cnp.greater_equal(x, 0), x, x * _c(negative_slope, x))


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below."""
    x = _float(x, "elu")
    pos = cnp.greater(x, 0)
    safe = cnp.where(pos, _c(0, x), x)  # exp never sees a large positive x
    return cnp.where(pos, x, _c(alpha, x) * cnp.expm1(safe))


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * min(0, exp(x / alpha) - 1)``."""
    x = _float(x, "celu")
    pos = cnp.greater(x, 0)
    safe = cnp.where(pos, _c(0, x), x)
    return cnp.where(pos, x, _c(alpha, x) * cnp.expm1(safe / _c(alpha, x)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """Scaled ELU with the self-normalising constants."""
    x = _float(x, "selu")
    return _c(_SELU_SCALE, x) * elu(x, _SELU_ALPHA)


# --------------------------------------------------------- smooth gates ---

def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))`` (one primitive, stable)."""
    return ew.logistic(_float(x, "sigmoid"))


def softplus(x):
    """``log(1 + exp(x))``, computed as ``logaddexp(x, 0)`` (no overflow)."""
    x = _float(x, "softplus")
    return cnp.logaddexp(x, _c(0, x))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, finite for large negative ``x``."""
    x = _float(x, "log_sigmoid")
    return -softplus(-x)


def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    x = _float(x, "silu")
    return x * ew.logistic(x)


swish = silu


def gelu(x, approximate=True):
    """Gaussian error linear unit ``x Φ(x)``.

    ``approximate=True`` (JAX's default) uses ``0.5 x (1 + tanh(√(2/π) (x +
    0.044715 x³)))``; ``False`` the exact ``x erfc(-x/√2) / 2`` (erfc keeps
    relative accuracy for large negative ``x``).
    """
    x = _float(x, "gelu")
    if approximate:
        inner = _c(np.sqrt(2 / np.pi), x) * (x + _c(0.044715, x) * x * x * x)
        return _c(0.5, x) * x * (_c(1, x) + cnp.tanh(inner))
    return _c(0.5, x) * x * special.erfc(x * _c(-np.sqrt(0.5), x))


def mish(x):
    """``x * tanh(softplus(x))``."""
    x = _float(x, "mish")
    return x * cnp.tanh(softplus(x))


def soft_sign(x):
    """``x / (|x| + 1)``."""
    x = _float(x, "soft_sign")
    return x / (cnp.abs(x) + _c(1, x))


def hard_tanh(x):
    """``x`` clipped to [-1, 1] (derivative 1 inside, 0 outside)."""
    x = _float(x, "hard_tanh")
    return cnp.clip(x, -1, 1)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6``."""
    x = _float(x, "hard_sigmoid")
    return relu6(x + _c(3, x)) / _c(6, x)


def hard_silu(x):
    """``x * hard_sigmoid(x)``."""
    x = _float(x, "hard_silu")
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def glu(x, axis=-1):
    """Gated linear unit: the halves ``a, b`` of ``x`` along ``axis`` give
    ``a * sigmoid(b)``."""
    x = _float(x, "glu")
    axis = canonical_axes(axis, x.ndim, "glu")[0]
    n = x.shape[axis]
    if n % 2:
        raise ValueError(f"glu: axis {axis} has odd size {n}; it must split in two halves")
    a, b = cnp.split(x, 2, axis=axis)
    return a * ew.logistic(b)


# ---------------------------------------------------- normalisations ---

def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` over ``axis`` (last by default, as JAX)."""
    return special.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` over ``axis`` (last by default, as JAX)."""
    return special.log_softmax(x, axis=axis)


def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5):
    """``(x - mean) / sqrt(variance + epsilon)``, statistics over ``axis``
    unless given."""
    x = _float(x, "standardize")
    if mean is None:
        mean = cnp.mean(x, axis=axis, keepdims=True)
    if variance is None:
        centered = x - mean
        variance = cnp.mean(centered * centered, axis=axis, keepdims=True)
    return (x - mean) / cnp.sqrt(variance + _c(epsilon, x))


def one_hot(x, num_classes, *, dtype=np.float64, axis=-1):
    """``x[..., None] == arange(num_classes)`` as ``dtype``, the new axis at
    ``axis``. Out-of-range labels give all-zero rows (as JAX)."""
    x = asarray(x, "one_hot")
    num_classes = int(num_classes)
    axis = canonical_axes(axis, x.ndim + 1, "one_hot")[0]
    shape = [1] * (x.ndim + 1)
    shape[axis] = num_classes
    classes = np.arange(num_classes).reshape(shape)
    hot = cnp.equal(cnp.expand_dims(x, axis), classes)
    return cast(hot, dtype)
