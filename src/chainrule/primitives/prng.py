"""Counter-based random bits: the Threefry-2x32 hash behind ``chainrule.random``.

A key is a ``uint32`` array of shape ``(2,)`` (or ``batch + (2,)``: the
primitives take leading batch axes of keys, which is also their ``vmap``
rule). Three primitives hash a key with counters, the way JAX's default
("partitionable") Threefry PRNG does, so the streams are JAX's bit for bit:

- ``random_bits(key, shape, bit_width)``: element ``i`` (row-major) hashes the
  64-bit counter ``i`` split into its high and low words ``(hi, lo)``; the two
  output words are xor-ed (32 bits), joined (64 bits) or truncated (8, 16).
- ``random_split(key, shape)``: the same hash of the counters, both words
  kept: a new key per element of ``shape``.
- ``random_fold_in(key, data)``: the hash of the counter pair ``(0, data)``.

Threefry-2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011) is 20 rounds of add / rotate / xor on two 32-bit words, with the key
injected every four rounds. Keys and bits are integers: they have no
derivative (``grad`` refuses integer inputs, and the rules return zeros).
"""

from __future__ import annotations

import numpy as np

from ..batching import bdim_to_front
from ..core import Primitive, ShapedArray
from ._helpers import defzero

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)
_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


def threefry2x32(k0, k1, x0, x1):
    """The Threefry-2x32 block cipher of counters ``(x0, x1)`` under key
    ``(k0, k1)``, on broadcasting uint32 arrays (wrapping arithmetic)."""
    u32 = np.uint32
    k0, k1, x0, x1 = (np.asarray(a, u32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    with np.errstate(over="ignore"):
        x0, x1 = x0 + ks[0], x1 + ks[1]
        for i in range(5):
            for r in _ROTATIONS[i % 2]:
                x0 = x0 + x1
                x1 = (x1 << u32(r)) | (x1 >> u32(32 - r))
                x1 = x1 ^ x0
            x0 = x0 + ks[(i + 1) % 3]
            x1 = x1 + ks[(i + 2) % 3] + u32(i + 1)
    return x0, x1


def _counters(shape):
    """The 64-bit row-major index of each element of ``shape``, as (hi, lo)."""
    i = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.uint64).reshape(shape)
    return (i >> np.uint64(32)).astype(np.uint32), i.astype(np.uint32)


def _hash_keys(keys, c0, c1):
    """Hash counters ``c0, c1`` (shape ``s``) under each key of ``keys``
    (shape ``b + (2,)``): two word arrays of shape ``b + s``."""
    b = keys.shape[:-1]
    k0 = keys[..., 0].reshape(b + (1,) * c0.ndim)
    k1 = keys[..., 1].reshape(b + (1,) * c0.ndim)
    return threefry2x32(k0, k1, c0, c1)


def _check_keys(name, keys):
    if np.dtype(keys.dtype) != np.uint32 or len(keys.shape) == 0 or keys.shape[-1] != 2:
        raise TypeError(f"{name}: a PRNG key is a uint32 array of shape (2,) (from "
                        f"chainrule.random.PRNGKey), got {keys.dtype} of shape "
                        f"{tuple(keys.shape)}")


# ----------------------------------------------------------- random_bits ---

def _bits_impl(keys, *, shape, bit_width):
    w0, w1 = _hash_keys(np.asarray(keys), *_counters(shape))
    if bit_width == 64:
        return (w0.astype(np.uint64) << np.uint64(32)) | w1.astype(np.uint64)
    return (w0 ^ w1).astype(_UINT[bit_width], copy=False)


def _bits_aval(keys, *, shape, bit_width):
    _check_keys("random_bits", keys)
    if bit_width not in _UINT:
        raise ValueError(f"random_bits: bit_width must be 8, 16, 32 or 64, got {bit_width}")
    return ShapedArray(tuple(keys.shape[:-1]) + tuple(shape), np.dtype(_UINT[bit_width]))


random_bits_p = Primitive("random_bits")
random_bits_p.impl = _bits_impl
random_bits_p.abstract_eval = _bits_aval

# ---------------------------------------------------------- random_split ---


def _split_impl(keys, *, shape):
    w0, w1 = _hash_keys(np.asarray(keys), *_counters(shape))
    return np.stack([w0, w1], axis=-1)


def _split_aval(keys, *, shape):
    _check_keys("random_split", keys)
    return ShapedArray(tuple(keys.shape[:-1]) + tuple(shape) + (2,), np.dtype(np.uint32))


random_split_p = Primitive("random_split")
random_split_p.impl = _split_impl
random_split_p.abstract_eval = _split_aval

# -------------------------------------------------------- random_fold_in ---


def _fold_in_impl(keys, data):
    keys, data = np.asarray(keys), np.asarray(data, np.uint32)
    w0, w1 = threefry2x32(keys[..., 0], keys[..., 1], np.zeros_like(data), data)
    return np.stack([w0, w1], axis=-1)


def _fold_in_aval(keys, data):
    _check_keys("random_fold_in", keys)
    if np.dtype(data.dtype) != np.uint32:
        raise TypeError(f"random_fold_in: data must be uint32, got {data.dtype}")
    if tuple(data.shape) != tuple(keys.shape[:-1]):
        raise ValueError(f"random_fold_in: data of shape {tuple(data.shape)} for keys of "
                         f"shape {tuple(keys.shape)}")
    return ShapedArray(tuple(keys.shape), np.dtype(np.uint32))


random_fold_in_p = Primitive("random_fold_in")
random_fold_in_p.impl = _fold_in_impl
random_fold_in_p.abstract_eval = _fold_in_aval

# ---------------------------------------------------------------- rules ---
# Bits have no derivative; every primitive takes leading batch axes of keys,
# so vmap moves the batch axis to the front (broadcasting unbatched operands).


def _batch_front(prim):
    def rule(axis_size, args, dims, **params):
        moved = [bdim_to_front(a, d, axis_size) for a, d in zip(args, dims)]
        return prim.bind(*moved, **params), 0
    return rule


for _p in (random_bits_p, random_split_p, random_fold_in_p):
    defzero(_p)
    _p.batch = _batch_front(_p)


def random_bits(keys, shape, bit_width=32):
    return random_bits_p.bind(keys, shape=tuple(int(d) for d in shape), bit_width=int(bit_width))


def random_split(keys, shape):
    return random_split_p.bind(keys, shape=tuple(int(d) for d in shape))


def random_fold_in(keys, data):
    return random_fold_in_p.bind(keys, data)


# ------------------------------------------------------------- samples ---

def _keys(rng, *batch):
    return rng.integers(0, 2 ** 32, size=batch + (2,), dtype=np.uint64).astype(np.uint32)


random_bits_p.samples = lambda rng: [
    ((_keys(rng),), {"shape": (3,), "bit_width": 32}),
    ((_keys(rng, 2),), {"shape": (2, 2), "bit_width": 64}),
    ((_keys(rng),), {"shape": (), "bit_width": 8})]
random_split_p.samples = lambda rng: [
    ((_keys(rng),), {"shape": (2,)}), ((_keys(rng, 3),), {"shape": (2, 2)})]
random_fold_in_p.samples = lambda rng: [
    ((_keys(rng), np.uint32(7)), {}),
    ((_keys(rng, 2), np.array([1, 2**31], np.uint32)), {})]


# ------------------------------------------------ samplers by rejection ---
# One key per element (``keys`` has shape ``a.shape + (2,)``), and element
# ``i``'s attempt ``t`` reads the 64-bit words of counters (t, 0), (t, 1), ...
# of its own key, so a sample depends only on its key and parameter: the same
# eagerly, under jit and under vmap, whatever else is drawn beside it.


def _unit_open(keys, t, j):
    """Floats in (0, 1) from counter (t, j) of each key (53 random bits)."""
    w0, w1 = threefry2x32(keys[..., 0], keys[..., 1], np.uint32(t), np.uint32(j))
    m = ((w0.astype(np.uint64) << np.uint64(32)) | w1.astype(np.uint64)) >> np.uint64(11)
    return (m.astype(np.float64) + 0.5) * 2.0 ** -53


def _gamma_impl(keys, a):
    """Marsaglia and Tsang (ACM TOMS 26, 2000): for a >= 1, d = a - 1/3,
    x = d v with v = (1 + c z)^3 accepted when log u < z²/2 + d - d v + d log v;
    a < 1 boosts with gamma(a + 1) u^(1/a)."""
    keys, a = np.asarray(keys), np.asarray(a)
    a64 = a.astype(np.float64)
    boost = a64 < 1.0
    d = np.where(boost, a64 + 1.0, a64) - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out = np.full(a.shape, np.nan)
    todo = np.flatnonzero(np.isfinite(a64) & (a64 > 0))
    kf, df, cf = keys.reshape(-1, 2), d.reshape(-1), c.reshape(-1)
    flat = out.reshape(-1)
    t = 0
    while todo.size:
        k = kf[todo]
        u1, u2, u3 = (_unit_open(k, t, j) for j in range(3))
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller
        v = (1.0 + cf[todo] * z) ** 3
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = (v > 0) & (np.log(u3) < 0.5 * z * z + df[todo] * (1.0 - v + np.log(v)))
        flat[todo[ok]] = df[todo[ok]] * v[ok]
        todo, t = todo[~ok], t + 1
    boosted = np.flatnonzero(boost.reshape(-1) & np.isfinite(flat))
    if boosted.size:
        u = _unit_open(kf[boosted], 0xFFFFFFFF, 0)
        flat[boosted] *= u ** (1.0 / a64.reshape(-1)[boosted])
    flat[(a64.reshape(-1) == np.inf)] = np.inf
    return out.astype(a.dtype)


def _gamma_aval(keys, a):
    _check_keys("random_gamma", keys)
    if tuple(keys.shape[:-1]) != tuple(a.shape):
        raise ValueError(f"random_gamma: one key per element: keys {tuple(keys.shape)} for a "
                         f"of shape {tuple(a.shape)}")
    if np.dtype(a.dtype).kind != "f":
        raise TypeError(f"random_gamma: a must be floating point, got {a.dtype}")
    return ShapedArray(tuple(a.shape), np.dtype(a.dtype))


def _gamma_grad_impl(a, x):
    """d x / d a of a gamma sample with the CDF held fixed (implicit
    reparameterisation): -(dP/da) / (dP/dx), P(a, x) the regularised lower
    incomplete gamma function (dP/da from its series, special_more)."""
    from .special import _lgamma_impl
    from .special_more import _igamma_da64
    a64, x64 = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    with np.errstate(all="ignore"):
        dpdx = np.exp((a64 - 1) * np.log(x64) - x64 - _lgamma_impl(a64))
        g = np.where(x64 > 0, -_igamma_da64(a64, x64) / dpdx, 0.0)
    return g.astype(np.result_type(a, x))


def _gamma_grad_aval(a, x):
    return ShapedArray(tuple(np.broadcast_shapes(a.shape, x.shape)),
                       np.dtype(np.result_type(a.dtype, x.dtype)))


def _no_second_order(*args, **params):
    raise NotImplementedError(
        "random.gamma (and beta, dirichlet, t): second derivatives of a sample with respect "
        "to its shape parameter are not implemented (the implicit-reparameterisation "
        "gradient has no derivative rule; JAX has none either)")


random_gamma_grad_p = Primitive("random_gamma_grad")
random_gamma_grad_p.impl = _gamma_grad_impl
random_gamma_grad_p.jvp = random_gamma_grad_p.vjp = _no_second_order
random_gamma_grad_p.abstract_eval = _gamma_grad_aval


def _gamma_grad_batch(axis_size, args, dims):
    a, x = (bdim_to_front(v, dd, axis_size) for v, dd in zip(args, dims))
    return random_gamma_grad_p.bind(a, x), 0


random_gamma_grad_p.batch = _gamma_grad_batch
random_gamma_grad_p.samples = lambda rng: [
    ((rng.uniform(0.5, 4, size=3), rng.uniform(0.2, 5, size=3)), {})]

random_gamma_p = Primitive("random_gamma")
random_gamma_p.impl = _gamma_impl
random_gamma_p.abstract_eval = _gamma_aval
random_gamma_p.batch = _batch_front(random_gamma_p)


def _gamma_jvp(primals, tangents, out, **params):
    _, ta = tangents
    if ta is None:
        return None
    from .elementwise import mul
    return mul(ta, random_gamma_grad_p.bind(primals[1], out))


def _gamma_vjp(ct, out, keys, a, *, wants, **params):
    from .elementwise import mul
    return None, (mul(ct, random_gamma_grad_p.bind(a, out)) if wants[1] else None)


random_gamma_p.jvp = _gamma_jvp
random_gamma_p.vjp = _gamma_vjp
random_gamma_p.samples = lambda rng: [
    ((_keys(rng, 3), rng.uniform(0.5, 4, size=3)), {})]


def _poisson_impl(keys, lam):
    """Knuth's product of uniforms for lam < 10; Hörmann's transformed
    rejection with squeeze (PTRS, 1993) otherwise."""
    from .special import _lgamma_impl
    keys, lam = np.asarray(keys), np.asarray(lam, np.float64)
    out = np.zeros(lam.shape, np.int64).reshape(-1)
    lf, kf = lam.reshape(-1), keys.reshape(-1, 2)
    small = np.flatnonzero((lf > 0) & (lf < 10))
    if small.size:
        limit, prod, count = np.exp(-lf[small]), np.ones(small.size), np.zeros(small.size, np.int64)
        live, t = np.arange(small.size), 0
        while live.size:
            prod[live] *= _unit_open(kf[small[live]], t, 0)
            more = prod[live] > limit[live]
            count[live[more]] += 1
            live, t = live[more], t + 1
        out[small] = count
    big = np.flatnonzero(lf >= 10)
    t = 0
    while big.size:
        lam_b = lf[big]
        slam, loglam = np.sqrt(lam_b), np.log(lam_b)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2)
        u = _unit_open(kf[big], t, 0) - 0.5
        v = _unit_open(kf[big], t, 1)
        us = 0.5 - np.abs(u)
        k = np.floor((2 * a / us + b) * u + lam_b + 0.43)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            accept = (us >= 0.07) & (v <= vr)
            reject = (k < 0) | ((us < 0.013) & (v > us))
            test = (np.log(v) + np.log(inv_alpha) - np.log(a / (us * us) + b)
                    <= -lam_b + k * loglam - _lgamma_impl(k + 1))
        ok = accept | (~reject & test)
        out[big[ok]] = k[ok]
        big, t = big[~ok], t + 1
    out = out.reshape(lam.shape)
    invalid = np.isnan(lam) | (lam < 0) | (lam == np.inf)
    return np.where(invalid, -1, out).astype(np.int64)


def _poisson_aval(keys, lam):
    _check_keys("random_poisson", keys)
    if tuple(keys.shape[:-1]) != tuple(lam.shape):
        raise ValueError(f"random_poisson: one key per element: keys {tuple(keys.shape)} for "
                         f"lam of shape {tuple(lam.shape)}")
    return ShapedArray(tuple(lam.shape), np.dtype(np.int64))


random_poisson_p = Primitive("random_poisson")
random_poisson_p.impl = _poisson_impl
random_poisson_p.abstract_eval = _poisson_aval
random_poisson_p.batch = _batch_front(random_poisson_p)
defzero(random_poisson_p)
random_poisson_p.samples = lambda rng: [
    ((_keys(rng, 4), np.array([0.5, 3.0, 12.0, 40.0])), {})]


def random_gamma(keys, a):
    return random_gamma_p.bind(keys, a)


def random_poisson(keys, lam):
    return random_poisson_p.bind(keys, lam)
