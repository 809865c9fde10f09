"""Functional, counter-based random numbers with JAX's API and JAX's streams.

A key is a plain ``uint32`` array of shape ``(2,)``: ``PRNGKey(seed)``
makes one, ``split`` and ``fold_in`` derive new ones, and every sampler is a
pure function of its key, so the same key gives the same numbers eagerly,
under ``jit`` and under ``vmap`` over keys, on every run and machine. The
hash is Threefry-2x32 in the layout of JAX's default (partitionable) PRNG
(``primitives/prng.py``): ``split``, ``fold_in``, ``bits`` and ``uniform``
reproduce JAX's numbers bit for bit (with ``jax_enable_x64`` for float64);
``normal`` goes through ``erf_inv`` and agrees with JAX to a few ulp, as do
the samplers built on it. Samplers with their own algorithm (``randint``,
``permutation``, ``choice``, ``gamma``, ``poisson``, ...) follow JAX's
distributions, not its exact numbers: see docs/api.md.

Samples are differentiable in their float parameters where the distribution
is reparameterised (``mu + sigma * normal(key)``, ``uniform``'s bounds,
``truncated_normal``'s, ``gamma``/``beta``/``dirichlet`` by implicit
reparameterisation); keys and integer samples have no derivative.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import numpy as jnp
from .core import Tracer, get_aval
from .primitives import prng
from .primitives.special import erf, erf_inv

__all__ = ["PRNGKey", "key", "key_data", "wrap_key_data", "split", "fold_in", "bits",
           "uniform", "normal", "bernoulli", "categorical", "randint", "choice",
           "permutation", "truncated_normal", "multivariate_normal", "exponential",
           "gamma", "loggamma", "beta", "dirichlet", "laplace", "logistic", "gumbel",
           "cauchy", "poisson", "t", "rademacher", "chisquare"]

_UINT32 = 2 ** 32


# ------------------------------------------------------------------ keys ---

def PRNGKey(seed):
    """A key from an integer seed, as JAX's: ``[seed >> 32, seed & 0xFFFFFFFF]``
    (the shift is arithmetic, so negative seeds fill the high word with ones)."""
    if isinstance(seed, Tracer):
        if not np.issubdtype(get_aval(seed).dtype, np.integer):
            raise TypeError(f"PRNGKey: the seed must be an integer, got {get_aval(seed).dtype}")
        seed = jnp.asarray(seed).astype(jnp.int64)
        hi = jnp.floor_divide(seed, np.int64(_UINT32))
        lo = seed - hi * np.int64(_UINT32)
        return jnp.stack([hi.astype(jnp.uint32), lo.astype(jnp.uint32)])
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) and not (
            isinstance(seed, np.ndarray) and seed.ndim == 0
            and np.issubdtype(seed.dtype, np.integer)):
        raise TypeError(f"PRNGKey: the seed must be an integer, got {seed!r}")
    seed = int(seed)
    if not -2 ** 63 <= seed < 2 ** 64:
        raise OverflowError(f"PRNGKey: seed {seed} does not fit in 64 bits")
    return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], np.uint32)


def key(seed, *, impl=None):
    """``jax.random.key``: here the same raw uint32 key as ``PRNGKey``."""
    if impl not in (None, "threefry2x32"):
        raise ValueError(f"key: only impl='threefry2x32' is available, got {impl!r}")
    return PRNGKey(seed)


def key_data(keys):
    """The uint32 words of a key: keys already are their data."""
    return _check_key(keys, "key_data", batched=True)


def wrap_key_data(data, *, impl=None):
    """A key from its uint32 words."""
    return _check_key(data, "wrap_key_data", batched=True)


def _check_key(k, name, batched=False):
    if not isinstance(k, Tracer):
        k = np.asarray(k)
    aval = get_aval(k)
    if np.dtype(aval.dtype) != np.uint32 or not aval.shape or aval.shape[-1] != 2 or (
            not batched and aval.shape != (2,)):
        want = ("a uint32 array of shape (..., 2)" if batched
                else "one key, a uint32 array of shape (2,)")
        hint = ("; for one key per example, vmap over the keys" if np.dtype(aval.dtype) == np.uint32
                and aval.shape[-1:] == (2,) else "; make one with chainrule.random.PRNGKey(seed)")
        raise TypeError(f"random.{name}: expected {want}, got {np.dtype(aval.dtype).name} of "
                        f"shape {tuple(aval.shape)}{hint}")
    return k


def _shape(shape, name):
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"random.{name}: shape must be a tuple of integers, "
                        f"got {shape!r}") from None


def split(key, num=2):
    """``num`` new keys (shape ``(num, 2)``; a tuple ``num`` gives that shape)."""
    key = _check_key(key, "split")
    return prng.random_split(key, _shape(num, "split"))


def fold_in(key, data):
    """A new key that mixes the integer ``data`` (taken modulo 2**32) into ``key``."""
    key = _check_key(key, "fold_in")
    if isinstance(data, Tracer):
        data = jnp.asarray(data).astype(jnp.uint32)
    else:
        data = np.uint32(int(data) % _UINT32)
    return prng.random_fold_in(key, data)


def bits(key, shape=(), dtype=None):
    """Uniformly random unsigned integers (uint32 unless ``dtype`` says otherwise)."""
    key = _check_key(key, "bits")
    dtype = np.dtype(np.uint32 if dtype is None else dtype)
    if dtype.kind != "u":
        raise TypeError(f"random.bits: dtype must be an unsigned integer type, got {dtype}")
    return prng.random_bits(key, _shape(shape, "bits"), 8 * dtype.itemsize)


# -------------------------------------------------------------- helpers ---

def _float_dtype(dtype, name):
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"random.{name}: dtype must be float32 or float64, got {dtype}")
    return dtype


def _param(x, dtype):
    return x.astype(dtype) if isinstance(x, Tracer) else np.asarray(x, dtype)


def _broadcast_shape(name, shape, *params):
    shapes = [tuple(get_aval(p).shape) for p in params]
    if shape is None:
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    try:
        if tuple(np.broadcast_shapes(shape, *shapes)) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"random.{name}: shape {shape} is not a broadcast of the parameter "
                         f"shapes {', '.join(map(str, shapes))}") from None
    return shape


def _unit(key, shape, dtype):
    """Floats in [0, 1) from the top mantissa bits (JAX's construction)."""
    nbits, nmant = (64, 52) if dtype == np.float64 else (32, 23)
    raw = prng.random_bits(key, shape, nbits)
    udt = raw.dtype if not isinstance(raw, Tracer) else get_aval(raw).dtype
    mant = jnp.floor_divide(raw, np.asarray(2 ** (nbits - nmant), udt))
    return mant.astype(dtype) * np.asarray(2.0 ** -nmant, dtype)


# ------------------------------------------------------------- samplers ---

def uniform(key, shape=(), dtype=None, minval=0.0, maxval=1.0):
    """Uniform on ``[minval, maxval)``; differentiable in the bounds."""
    key = _check_key(key, "uniform")
    dtype = _float_dtype(dtype, "uniform")
    minval, maxval = _param(minval, dtype), _param(maxval, dtype)
    shape = _broadcast_shape("uniform", _shape(shape, "uniform"), minval, maxval)
    u = _unit(key, shape, dtype)
    return jnp.maximum(minval, u * (maxval - minval) + minval)


def normal(key, shape=(), dtype=None):
    """Standard normal: ``√2 erf⁻¹(u)`` with ``u`` uniform on (-1, 1)."""
    key = _check_key(key, "normal")
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    shape = _shape(shape, "normal")
    if dtype.kind == "c":
        real = np.dtype(np.float32 if dtype == np.complex64 else np.float64)
        kr, ki = split(key)
        return (jnp.asarray(_normal_real(kr, shape, real)) + 1j
                * _normal_real(ki, shape, real)).astype(dtype) * np.asarray(math.sqrt(0.5), real)
    return _normal_real(key, shape, _float_dtype(dtype, "normal"))


def _normal_real(key, shape, dtype):
    lo = np.nextafter(np.asarray(-1.0, dtype), np.asarray(0.0, dtype))
    u = uniform(key, shape, dtype, lo, 1.0)
    return erf_inv(u) * np.asarray(math.sqrt(2.0), dtype)


def bernoulli(key, p=0.5, shape=None):
    """Booleans, True with probability ``p``."""
    key = _check_key(key, "bernoulli")
    p_dtype = np.dtype(get_aval(p).dtype if isinstance(p, Tracer) else np.asarray(p).dtype)
    p = _param(p, p_dtype if p_dtype in (np.float32, np.float64) else np.float64)
    shape = _broadcast_shape("bernoulli", _shape(shape, "bernoulli"), p)
    return uniform(key, shape, get_aval(p).dtype) < p


def rademacher(key, shape=(), dtype=np.int64):
    """±1 with equal probability."""
    b = bernoulli(key, 0.5, _shape(shape, "rademacher"))
    return (2 * b.astype(dtype) - 1).astype(dtype)


def exponential(key, shape=(), dtype=None):
    """Exponential with rate 1: ``-log(1 - u)``."""
    dtype = _float_dtype(dtype, "exponential")
    return -jnp.log1p(-uniform(key, shape, dtype))


def _tiny_uniform(key, shape, dtype, name, low):
    dtype = _float_dtype(dtype, name)
    return uniform(key, shape, dtype, low(np.finfo(dtype)), 1.0)


def gumbel(key, shape=(), dtype=None):
    """Standard Gumbel: ``-log(-log(u))``."""
    u = _tiny_uniform(key, shape, dtype, "gumbel", lambda f: f.tiny)
    return -jnp.log(-jnp.log(u))


def logistic(key, shape=(), dtype=None):
    """Standard logistic: ``log(u / (1 - u))``."""
    u = _tiny_uniform(key, shape, dtype, "logistic", lambda f: f.tiny)
    return jnp.log(u) - jnp.log1p(-u)


def laplace(key, shape=(), dtype=None):
    """Standard Laplace: ``sign(u) log(1 - |u|)`` with ``u`` on (-1, 1)."""
    u = _tiny_uniform(key, shape, dtype, "laplace", lambda f: -1.0 + f.eps)
    return jnp.sign(u) * jnp.log1p(-jnp.abs(u))


def cauchy(key, shape=(), dtype=None):
    """Standard Cauchy: ``tan(π (u - 1/2))``."""
    u = _tiny_uniform(key, shape, dtype, "cauchy", lambda f: f.eps)
    return jnp.tan(np.pi * (u - 0.5))


def truncated_normal(key, lower, upper, shape=None, dtype=None):
    """Standard normal conditioned on ``lower < x < upper`` (by the inverse
    CDF, clipped to ``[lower, upper]``); differentiable in the bounds."""
    key = _check_key(key, "truncated_normal")
    dtype = _float_dtype(dtype, "truncated_normal")
    lower, upper = _param(lower, dtype), _param(upper, dtype)
    shape = _broadcast_shape("truncated_normal", _shape(shape, "truncated_normal"), lower, upper)
    sqrt2 = np.asarray(math.sqrt(2.0), dtype)
    a, b = erf(lower / sqrt2), erf(upper / sqrt2)
    x = erf_inv(uniform(key, shape, dtype, a, b)) * sqrt2
    return jnp.clip(x, lower, upper)


def categorical(key, logits, axis=-1, shape=None):
    """Indices drawn with probabilities ``softmax(logits)`` along ``axis``
    (the Gumbel-max trick); ``shape`` must end with the batch shape of logits."""
    key = _check_key(key, "categorical")
    logits = logits if isinstance(logits, Tracer) else np.asarray(logits)
    lshape = tuple(get_aval(logits).shape)
    if not lshape:
        raise ValueError("random.categorical: logits must have at least one axis")
    axis = axis % len(lshape)
    batch = lshape[:axis] + lshape[axis + 1:]
    shape = batch if shape is None else _shape(shape, "categorical")
    if shape[len(shape) - len(batch):] != batch:
        raise ValueError(f"random.categorical: shape {shape} must end with the logits' batch "
                         f"shape {batch}")
    dtype = get_aval(logits).dtype if np.dtype(get_aval(logits).dtype).kind == "f" else np.float64
    g_shape = shape[:len(shape) - len(batch)] + lshape[:axis] + (lshape[axis],) + lshape[axis + 1:]
    g = gumbel(key, g_shape, dtype)
    g_axis = len(shape) - len(batch) + axis
    return jnp.argmax(g + jnp.stop_gradient(logits), axis=g_axis)


def randint(key, shape, minval, maxval, dtype=np.int64):
    """Integers uniform on ``[minval, maxval)`` (clipped to ``dtype``'s range)."""
    key = _check_key(key, "randint")
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"random.randint: dtype must be an integer type, got {dtype}")
    info = np.iinfo(dtype)
    shape = _shape(shape, "randint")
    minval = jnp.clip(jnp.asarray(minval), info.min, info.max).astype(dtype)
    maxval = jnp.clip(jnp.asarray(maxval), info.min, info.max).astype(dtype)
    shape = _broadcast_shape("randint", shape, minval, maxval)
    nbits = max(32, 8 * dtype.itemsize)
    udt = np.dtype(np.uint64 if nbits == 64 else np.uint32)
    k1, k2 = split(key)
    hi, lo = prng.random_bits(k1, shape, nbits), prng.random_bits(k2, shape, nbits)
    # span as an unsigned integer; an empty range gives minval
    span = jnp.where(maxval > minval, maxval - minval, 1).astype(udt)
    # (hi * 2**nbits + lo) mod span, with 2**nbits mod span = (2**(nbits/2) mod span)**2 mod span
    half = jnp.remainder(np.asarray(2 ** (nbits // 2), udt), span)
    mult = jnp.remainder(half * half, span)
    offset = jnp.remainder(jnp.remainder(hi, span) * mult + jnp.remainder(lo, span), span)
    return (minval.astype(udt) + offset).astype(dtype)


def _shuffle_indices(key, n):
    """A random permutation of ``range(n)``: sort by random 32-bit keys, in
    enough rounds that ties are improbable (as JAX)."""
    x = np.arange(n)
    rounds = int(math.ceil(3 * math.log(max(1, n)) / math.log(_UINT32 - 1)))
    for _ in range(rounds):
        key, sub = split(key)
        sort_keys = prng.random_bits(sub, (n,), 32)
        x = jnp.take(x, jnp.argsort(sort_keys, stable=True), axis=0)
    return x


def permutation(key, x, axis=0, independent=False):
    """A shuffled ``arange(x)`` for an integer ``x``, else ``x`` shuffled along
    ``axis`` (each slice independently when ``independent``)."""
    key = _check_key(key, "permutation")
    if isinstance(x, (int, np.integer)):
        return _shuffle_indices(key, int(x))
    x = x if isinstance(x, Tracer) else np.asarray(x)
    shape = tuple(get_aval(x).shape)
    if not shape:
        raise TypeError("random.permutation: x must be an integer or an array with an axis")
    axis = axis % len(shape)
    if not independent:
        return jnp.take(x, _shuffle_indices(key, shape[axis]), axis=axis)
    sort_keys = prng.random_bits(key, shape, 32)
    return jnp.take_along_axis(x, jnp.argsort(sort_keys, axis=axis, stable=True), axis=axis)


def choice(key, a, shape=(), replace=True, p=None, axis=0):
    """Draws from ``a`` (an array, or ``arange(a)`` for an integer), with or
    without replacement, uniformly or with probabilities ``p``."""
    key = _check_key(key, "choice")
    shape = _shape(shape, "choice")
    if isinstance(a, (int, np.integer)):
        n, arr = int(a), None
    else:
        arr = a if isinstance(a, Tracer) else np.asarray(a)
        if not get_aval(arr).shape:
            raise ValueError("random.choice: a must be an integer or an array with an axis")
        axis = axis % len(get_aval(arr).shape)
        n = get_aval(arr).shape[axis]
    draws = int(np.prod(shape, dtype=np.int64))
    if n <= 0 and draws:
        raise ValueError("random.choice: a is empty")
    if not replace and draws > n:
        raise ValueError(f"random.choice: cannot take {draws} samples without replacement "
                         f"from {n} elements")
    if p is None:
        ind = (randint(key, shape, 0, n) if replace
               else _shuffle_indices(key, n)[:draws].reshape(shape))
    else:
        p = p if isinstance(p, Tracer) else np.asarray(p, np.float64)
        if tuple(get_aval(p).shape) != (n,):
            raise ValueError(f"random.choice: p must have shape ({n},), got "
                             f"{tuple(get_aval(p).shape)}")
        p = jnp.stop_gradient(p)
        if replace:
            cdf = jnp.cumsum(p)
            r = cdf[-1] * (1 - uniform(key, shape, get_aval(cdf).dtype))
            ind = jnp.searchsorted(cdf, r)
        else:
            logp = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), -np.inf)
            g = gumbel(key, (n,), get_aval(p).dtype) + logp
            ind = jnp.argsort(-g)[:draws].reshape(shape)
    return ind if arr is None else jnp.take(arr, ind, axis=axis)


def multivariate_normal(key, mean, cov, shape=None, dtype=None, method="cholesky"):
    """``mean + A z`` with ``A Aᵀ = cov`` (Cholesky, or ``'eigh'``/``'svd'`` for
    semidefinite ``cov``); ``shape`` is the batch shape."""
    key = _check_key(key, "multivariate_normal")
    dtype = _float_dtype(dtype, "multivariate_normal")
    if method not in ("cholesky", "eigh", "svd"):
        raise ValueError(f"random.multivariate_normal: method must be 'cholesky', 'eigh' or "
                         f"'svd', got {method!r}")
    mean, cov = _param(mean, dtype), _param(cov, dtype)
    ms, cs = tuple(get_aval(mean).shape), tuple(get_aval(cov).shape)
    if len(ms) < 1 or len(cs) < 2 or cs[-1] != cs[-2] or cs[-1] != ms[-1]:
        raise ValueError(f"random.multivariate_normal: mean of shape {ms} and cov of shape {cs} "
                         "must be (..., n) and (..., n, n)")
    batch = tuple(np.broadcast_shapes(ms[:-1], cs[:-2]))
    shape = batch if shape is None else _broadcast_shape(
        "multivariate_normal", _shape(shape, "multivariate_normal"),
        jnp.zeros(batch) if batch else np.zeros(()))
    if method == "cholesky":
        factor = jnp.linalg.cholesky(cov)
    elif method == "eigh":
        w, v = jnp.linalg.eigh(cov)
        factor = v * jnp.sqrt(jnp.maximum(w, 0.0))[..., None, :]
    else:
        u, s, _ = jnp.linalg.svd(cov)
        factor = u * jnp.sqrt(s)[..., None, :]
    z = normal(key, shape + ms[-1:], dtype)
    return mean + jnp.einsum("...ij,...j->...i", factor, z)


# ------------------------------------------- gamma and its relatives ---

def _per_element_keys(key, shape):
    return prng.random_split(key, shape)


def gamma(key, a, shape=None, dtype=None):
    """Gamma(a, 1) by Marsaglia-Tsang rejection; differentiable in ``a`` by
    implicit reparameterisation (``dx/da = -(∂F/∂a)/(∂F/∂x)``, F the CDF)."""
    key = _check_key(key, "gamma")
    dtype = _float_dtype(dtype, "gamma")
    a = _param(a, dtype)
    shape = _broadcast_shape("gamma", _shape(shape, "gamma"), a)
    return prng.random_gamma(_per_element_keys(key, shape), jnp.broadcast_to(a, shape))


def loggamma(key, a, shape=None, dtype=None):
    """``log`` of a gamma sample."""
    return jnp.log(gamma(key, a, shape, dtype))


def chisquare(key, df, shape=None, dtype=None):
    """Chi-squared with ``df`` degrees of freedom: ``2 gamma(df / 2)``."""
    return 2.0 * gamma(key, _param(df, _float_dtype(dtype, "chisquare")) / 2.0, shape, dtype)


def beta(key, a, b, shape=None, dtype=None):
    """Beta(a, b) as ``x / (x + y)`` of two gamma samples."""
    key = _check_key(key, "beta")
    dtype = _float_dtype(dtype, "beta")
    a, b = _param(a, dtype), _param(b, dtype)
    shape = _broadcast_shape("beta", _shape(shape, "beta"), a, b)
    ka, kb = split(key)
    x, y = gamma(ka, a, shape, dtype), gamma(kb, b, shape, dtype)
    return x / (x + y)


def dirichlet(key, alpha, shape=None, dtype=None):
    """Dirichlet(alpha) over the last axis: normalised gamma samples."""
    key = _check_key(key, "dirichlet")
    dtype = _float_dtype(dtype, "dirichlet")
    alpha = _param(alpha, dtype)
    ashape = tuple(get_aval(alpha).shape)
    if not ashape:
        raise ValueError("random.dirichlet: alpha must have at least one axis")
    shape = _broadcast_shape("dirichlet", None if shape is None else
                             _shape(shape, "dirichlet") + ashape[-1:], alpha)
    g = gamma(key, alpha, shape, dtype)
    return g / jnp.sum(g, axis=-1, keepdims=True)


def t(key, df, shape=(), dtype=None):
    """Student's t with ``df`` degrees of freedom: ``z sqrt(df / chi2(df))``."""
    key = _check_key(key, "t")
    dtype = _float_dtype(dtype, "t")
    df = _param(df, dtype)
    shape = _broadcast_shape("t", _shape(shape, "t"), df)
    kn, kg = split(key)
    z = normal(kn, shape, dtype)
    half = df / 2.0
    return z * jnp.sqrt(half / gamma(kg, half, shape, dtype))


def poisson(key, lam, shape=None, dtype=np.int64):
    """Poisson(lam) counts (Knuth below 10, transformed rejection above);
    -1 where ``lam`` is negative, NaN or infinite. No derivative."""
    key = _check_key(key, "poisson")
    lam = jnp.stop_gradient(_param(lam, np.float64))
    shape = _broadcast_shape("poisson", _shape(shape, "poisson"), lam)
    out = prng.random_poisson(_per_element_keys(key, shape), jnp.broadcast_to(lam, shape))
    return out.astype(dtype)
