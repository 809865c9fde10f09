"""Bitwise functions and operators on integer tracers (issue 13), vs NumPy,
eager, under jit (uint32/uint64 as random-number code uses them) and vmap."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as jnp

DTYPES = ["uint32", "uint64", "int32", "int64", "uint8"]


def _ints(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor",
                                  "left_shift", "right_shift"])
def test_binary_vs_numpy(name, dtype):
    rng = np.random.default_rng(0)
    x = _ints(rng, dtype, (3, 4))
    bits = 8 * np.dtype(dtype).itemsize
    y = (rng.integers(0, bits, size=(4,)).astype(dtype) if "shift" in name
         else _ints(rng, dtype, (4,)))
    f = getattr(jnp, name)
    want = getattr(np, name)(x, y)
    for got in (f(x, y), cr.jit(f)(x, y)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES + ["bool"])
def test_invert(dtype):
    x = (np.array([True, False]) if dtype == "bool"
         else _ints(np.random.default_rng(1), dtype, (5,)))
    for f in (jnp.invert, jnp.bitwise_not, cr.jit(jnp.invert), cr.jit(lambda a: ~a)):
        got = f(x)
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got, np.invert(x))


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
def test_operators_on_tracers_under_jit(dtype):
    rng = np.random.default_rng(2)
    x, y = _ints(rng, dtype, (6,)), _ints(rng, dtype, (6,))
    d = np.dtype(dtype).type

    def rotl_mix(x, y):  # a Threefry-style round
        x = x + y
        r = (y << d(13)) | (y >> d(8 * np.dtype(dtype).itemsize - 13))
        return (r ^ x) & ~(x >> d(1)), 3 ^ x, 1 | x, 7 & x

    want = rotl_mix(x, y)
    for got in (rotl_mix(x, y), cr.jit(rotl_mix)(x, y)):
        for g, w in zip(got, want):
            assert np.asarray(g).dtype == w.dtype
            np.testing.assert_array_equal(g, w)
    got = cr.vmap(rotl_mix)(x.reshape(2, 3), y.reshape(2, 3))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w.reshape(2, 3))


def test_python_int_keeps_dtype():
    x = np.array([1, 2, 0xffffffff], np.uint32)
    assert cr.jit(lambda x: x << 3)(x).dtype == np.uint32
    np.testing.assert_array_equal(cr.jit(lambda x: x << 3)(x), x << np.uint32(3))
    np.testing.assert_array_equal(cr.jit(lambda x: 1 << x)(np.array([0, 5], np.int64)), [1, 32])


def test_shift_counts_out_of_range():
    x = np.array([5, -8], np.int32)
    np.testing.assert_array_equal(jnp.left_shift(x, np.int32(32)), [0, 0])
    np.testing.assert_array_equal(jnp.right_shift(x, np.int32(40)), [0, -1])
    u = np.array([5, 0xffffffff], np.uint32)
    np.testing.assert_array_equal(jnp.right_shift(u, np.uint32(32)), [0, 0])


def test_booleans_logical_and_grad_through_masks():
    a, b = np.array([True, True, False]), np.array([True, False, False])
    np.testing.assert_array_equal(jnp.bitwise_and(a, b), a & b)
    np.testing.assert_array_equal(cr.jit(lambda a, b: (a | b) ^ a)(a, b), (a | b) ^ a)
    g = cr.grad(lambda x: jnp.sum(jnp.where((x > 0) & (x < 2), x * x, 0.0)))(
        np.array([-1.0, 1.0, 3.0]))
    np.testing.assert_allclose(g, [0.0, 2.0, 0.0])


def test_bad_dtype_errors():
    with pytest.raises(TypeError, match="bitwise_and"):
        jnp.bitwise_and(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="left_shift"):
        jnp.left_shift(np.array([True]), np.array([True]))
