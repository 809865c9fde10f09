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
