"""NumPy names (issue 13): every public name of ``numpy``'s main namespace
that ``jax.numpy`` (0.10.2) also has exists in ``chainrule.numpy``, except a
short documented list; and value/grad/jit checks of the functions added."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cn
from chainrule.test_util import check_grads

# set(dir(jax.numpy)) & set(dir(numpy)), public names; generated with
# JAX 0.10.2 and NumPy 2.4 (see docs/coverage.md), kept literal so the test
# needs no JAX.
NUMPY_AND_JAX = [
    "abs", "absolute", "acos", "acosh", "add", "all", "allclose", "amax", "amin", "angle",
    "any", "append", "apply_along_axis", "apply_over_axes", "arange", "arccos", "arccosh",
    "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "argmax", "argmin", "argpartition",
    "argsort", "argwhere", "around", "array", "array_equal", "array_equiv", "array_repr",
    "array_split", "array_str", "asarray", "asin", "asinh", "astype", "atan", "atan2",
    "atanh", "atleast_1d", "atleast_2d", "atleast_3d", "average", "bartlett", "bincount",
    "bitwise_and", "bitwise_count", "bitwise_invert", "bitwise_left_shift", "bitwise_not",
    "bitwise_or", "bitwise_right_shift", "bitwise_xor", "blackman", "block", "bool",
    "bool_", "broadcast_arrays", "broadcast_shapes", "broadcast_to", "c_", "can_cast",
    "cbrt", "cdouble", "ceil", "character", "choose", "clip", "column_stack", "complex128",
    "complex64", "complexfloating", "compress", "concat", "concatenate", "conj",
    "conjugate", "convolve", "copy", "copysign", "corrcoef", "correlate", "cos", "cosh",
    "count_nonzero", "cov", "cross", "csingle", "cumprod", "cumsum", "cumulative_prod",
    "cumulative_sum", "deg2rad", "degrees", "delete", "diag", "diag_indices",
    "diag_indices_from", "diagflat", "diagonal", "diff", "digitize", "divide", "divmod",
    "dot", "double", "dsplit", "dstack", "dtype", "e", "ediff1d", "einsum", "einsum_path",
    "empty", "empty_like", "equal", "euler_gamma", "exp", "exp2", "expand_dims", "expm1",
    "extract", "eye", "fabs", "fft", "fill_diagonal", "finfo", "flatnonzero", "flexible",
    "flip", "fliplr", "flipud", "float16", "float32", "float64", "float_power", "floating",
    "floor", "floor_divide", "fmax", "fmin", "fmod", "frexp", "from_dlpack", "frombuffer",
    "fromfile", "fromfunction", "fromiter", "frompyfunc", "fromstring", "full", "full_like",
    "gcd", "generic", "geomspace", "get_printoptions", "gradient", "greater",
    "greater_equal", "hamming", "hanning", "heaviside", "histogram", "histogram2d",
    "histogram_bin_edges", "histogramdd", "hsplit", "hstack", "hypot", "i0", "identity",
    "iinfo", "imag", "index_exp", "indices", "inexact", "inf", "inner", "insert", "int16",
    "int32", "int64", "int8", "int_", "integer", "interp", "intersect1d", "invert",
    "isclose", "iscomplex", "iscomplexobj", "isdtype", "isfinite", "isin", "isinf", "isnan",
    "isneginf", "isposinf", "isreal", "isrealobj", "isscalar", "issubdtype", "iterable",
    "ix_", "kaiser", "kron", "lcm", "ldexp", "left_shift", "less", "less_equal", "lexsort",
    "linalg", "linspace", "load", "log", "log10", "log1p", "log2", "logaddexp",
    "logaddexp2", "logical_and", "logical_not", "logical_or", "logical_xor", "logspace",
    "mask_indices", "matmul", "matrix_transpose", "matvec", "max", "maximum", "mean",
    "median", "meshgrid", "mgrid", "min", "minimum", "mod", "modf", "moveaxis", "multiply",
    "nan", "nan_to_num", "nanargmax", "nanargmin", "nancumprod", "nancumsum", "nanmax",
    "nanmean", "nanmedian", "nanmin", "nanpercentile", "nanprod", "nanquantile", "nanstd",
    "nansum", "nanvar", "ndarray", "ndim", "negative", "newaxis", "nextafter", "nonzero",
    "not_equal", "number", "object_", "ogrid", "ones", "ones_like", "outer", "packbits",
    "pad", "partition", "percentile", "permute_dims", "pi", "piecewise", "place", "poly",
    "polyadd", "polyder", "polydiv", "polyfit", "polyint", "polymul", "polysub", "polyval",
    "positive", "pow", "power", "printoptions", "prod", "promote_types", "ptp", "put",
    "put_along_axis", "quantile", "r_", "rad2deg", "radians", "ravel", "ravel_multi_index",
    "real", "reciprocal", "remainder", "repeat", "reshape", "resize", "result_type",
    "right_shift", "rint", "roll", "rollaxis", "roots", "rot90", "round", "s_", "save",
    "savez", "searchsorted", "select", "set_printoptions", "setdiff1d", "setxor1d", "shape",
    "sign", "signbit", "signedinteger", "sin", "sinc", "single", "sinh", "size", "sort",
    "sort_complex", "spacing", "split", "sqrt", "square", "squeeze", "stack", "std",
    "subtract", "sum", "swapaxes", "take", "take_along_axis", "tan", "tanh", "tensordot",
    "tile", "trace", "transpose", "trapezoid", "tri", "tril", "tril_indices",
    "tril_indices_from", "trim_zeros", "triu", "triu_indices", "triu_indices_from",
    "true_divide", "trunc", "ufunc", "uint", "uint16", "uint32", "uint64", "uint8",
    "union1d", "unique", "unique_all", "unique_counts", "unique_inverse", "unique_values",
    "unpackbits", "unravel_index", "unsignedinteger", "unstack", "unwrap", "vander", "var",
    "vdot", "vecdot", "vecmat", "vectorize", "vsplit", "vstack", "where", "zeros",
    "zeros_like",
]

EXCLUDED = {
    "frompyfunc": "object arrays of Python callables: nothing to trace or differentiate",
    "ufunc": "JAX's own ufunc class (reduce/accumulate/at methods); not offered",
    "i0": "the modified Bessel function belongs with scipy.special (i0, i0e, i1, i1e)",
    "nextafter": "bit-level float stepping needs a primitive of its own (no derivative)",
    "spacing": "bit-level float stepping needs a primitive of its own (no derivative)",
}


def test_every_shared_numpy_name_exists():
    missing = [n for n in NUMPY_AND_JAX if n not in EXCLUDED and not hasattr(cn, n)]
    assert missing == []
    assert all(not hasattr(cn, n) for n in EXCLUDED), "an excluded name now exists: update"
    assert "row_stack" in dir(cn) and "r_" in dir(cn) and "c_" in dir(cn)


rng = np.random.default_rng(0)
A, B = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
V = rng.normal(size=5)
NANS = np.array([[1.0, np.nan, 3.0, 0.5], [2.0, 2.0, np.nan, -1.0]])
X3 = rng.normal(size=(2, 3, 4))

VALUE_CASES = [
    ("rot90", (A,), {}), ("rot90", (A, 2), {}), ("rot90", (A, 3), {}), ("rot90", (A, -1), {}),
    ("rot90", (X3, 1, (1, 2)), {}), ("append", (A, B), {}), ("append", (A, B, 0), {}),
    ("append", (V, 3.0), {}), ("fabs", (V,), {}), ("modf", (V * 3,), {}),
    ("divmod", (V * 3, 1.5), {}), ("ldexp", (V, np.array([1, 2, 3, 0, -1])), {}),
    ("isposinf", (np.array([np.inf, -np.inf, 1.0]),), {}),
    ("isneginf", (np.array([np.inf, -np.inf, 1.0]),), {}),
    ("frexp", (np.array([0.0, 1.0, -3.0, 8.0, 0.3, np.inf]),), {}),
    ("array_split", (np.arange(7.0), 3), {}), ("array_split", (A, [1, 3], 1), {}),
    ("hsplit", (A, 2), {}), ("vsplit", (rng.normal(size=(4, 2)), 2), {}),
    ("dsplit", (rng.normal(size=(2, 2, 4)), 2), {}), ("rollaxis", (X3, 2), {}),
    ("rollaxis", (X3, 0, 3), {}), ("matrix_transpose", (X3,), {}), ("unstack", (A,), {}),
    ("resize", (V, (2, 4)), {}), ("resize", (A, 7), {}), ("delete", (V, 1), {}),
    ("delete", (A, [0, 2], 1), {}), ("insert", (V, 1, 9.0), {}),
    ("insert", (V, [1, 3], [7.0, 8.0]), {}), ("insert", (A, 1, 0.0, 1), {}),
    ("block", ([[A, B], [B, A]],), {}), ("block", ([V, V],), {}),
    ("select", ([V > 0, V < -1], [V, V * 2], -1.0), {}),
    ("choose", (np.array([0, 1, 2, 1]), [np.ones(4), np.zeros(4), 2 * np.ones(4)]), {}),
    ("compress", ([True, False, True], A, 0), {}), ("extract", (A > 0, A), {}),
    ("sort_complex", (V,), {}),
    ("lexsort", ((np.array([1, 1, 0, 0]), np.array([3, 2, 2, 1])),), {}),
    ("nanargmax", (NANS[0],), {}), ("nanargmin", (NANS, 1), {}),
    ("digitize", (V, np.array([-1.0, 0, 1])), {}), ("digitize", (V, np.array([1.0, 0, -1])), {}),
    ("digitize", (V, np.array([-1.0, 0, 1]), True), {}),
    ("isin", (np.array([1, 2, 3, 4]), [2, 4]), {}), ("intersect1d", ([1, 2, 3], [2, 3, 4]), {}),
    ("union1d", ([1, 2], [2, 5]), {}), ("setdiff1d", ([1, 2, 3], [2]), {}),
    ("setxor1d", ([1, 2, 3], [2, 4]), {}), ("bincount", (np.array([0, 1, 1, 3]),), {}),
    ("bincount", (np.array([0, 1, 1, 3]), np.array([0.5, 1, 2, 3])), {}),
    ("trim_zeros", (np.array([0, 0, 1, 2, 0]),), {}),
    ("unravel_index", (np.array([5, 7]), (3, 4)), {}),
    ("ravel_multi_index", ((np.array([1, 2]), np.array([0, 3])), (3, 4)), {}),
    ("gradient", (V,), {}), ("gradient", (V, 0.5), {}), ("gradient", (A,), {}),
    ("gradient", (A, 2.0, 3.0), {}), ("gradient", (V, np.cumsum(np.arange(1, 6.0))), {}),
    ("gradient", (V,), {"edge_order": 2}),
    ("gradient", (V, np.cumsum(np.arange(1, 6.0))), {"edge_order": 2}),
    ("gradient", (A,), {"axis": 1}),
    ("bartlett", (6,), {}), ("blackman", (6,), {}), ("hamming", (6,), {}),
    ("hanning", (6,), {}), ("kaiser", (6, 2.0), {}), ("cumulative_sum", (V,), {}),
    ("cumulative_sum", (A,), {"axis": 1, "include_initial": True}),
    ("cumulative_prod", (V,), {}), ("nanmedian", (NANS[0],), {}), ("nanmedian", (NANS, 1), {}),
    ("nanquantile", (NANS[0], 0.3), {}), ("nanquantile", (NANS, [0.3, 0.9], 1), {}),
    ("nanpercentile", (NANS[0], 30), {}),
    ("interp", (np.linspace(-1, 5, 9), np.array([0.0, 1, 3]), np.array([1.0, 2, 0])), {}),
    ("unwrap", (np.array([0.0, 3, 6.5, 9, 13]),), {}),
    ("apply_along_axis", (np.sum, 1, A), {}), ("apply_along_axis", (lambda x: x * 2, 0, A), {}),
    ("apply_over_axes", (np.sum, A, [0]), {}),
    ("piecewise", (V, [V < 0, V >= 0], [lambda x: -x, lambda x: x ** 2]), {}),
    ("vecdot", (A, B), {}), ("matvec", (A, rng.normal(size=4)), {}),
    ("vecmat", (rng.normal(size=3), A), {}), ("polyval", ([1.0, 2, 3], V), {}),
    ("polyadd", ([1.0, 2], [1.0, 2, 3]), {}), ("polysub", ([1.0, 2], [1.0, 2, 3]), {}),
    ("polymul", ([1.0, 2], [1.0, 2, 3]), {}), ("polyder", ([1.0, 2, 3, 4],), {}),
    ("polyder", ([1.0, 2, 3, 4], 2), {}), ("polyint", ([1.0, 2, 3],), {}),
    ("polyint", ([1.0, 2, 3], 2, 1.0), {}), ("poly", ([1.0, 2, 3],), {}),
    ("polyfit", (np.arange(6.0), np.arange(6.0) ** 2 + 1, 2), {}),
    ("polydiv", ([1.0, -6, 11, -6], [1.0, -1]), {}), ("polydiv", ([3.0, 2, 1], [2.0, 1]), {}),
    ("fromfunction", (lambda i, j: i + j, (2, 3)), {}), ("ix_", ([0, 1], [2, 3]), {}),
    ("concat", ([A, B],), {}), ("gcd", (np.array([12, 18, 0, -7]), np.array([8, 27, 5, 21])), {}),
    ("lcm", (np.array([12, 18, 0, -7]), np.array([8, 27, 5, 21])), {}),
    ("bitwise_count", (np.array([0, 7, -3, 255]),), {}),
    ("unpackbits", (np.array([[3, 255], [128, 7]], np.uint8),), {"axis": 1}),
    ("unpackbits", (np.array([3, 255], np.uint8),), {}),
    ("packbits", (rng.integers(0, 2, size=(3, 11)).astype(np.uint8),), {"axis": 1}),
    ("packbits", (rng.integers(0, 2, size=(13,)).astype(np.uint8),), {}),
    ("histogram", (V,), {}), ("histogram", (V,), {"bins": 3, "range": (-1, 1)}),
    ("histogram", (V,), {"weights": np.arange(5.0), "density": True}),
    ("histogram2d", (V, V[::-1]), {"bins": 3}),
    ("histogramdd", (np.stack([V, V ** 2], 1),), {"bins": (2, 3), "density": True}),
    ("histogram_bin_edges", (V,), {"bins": 4}),
    ("real_if_close", (np.array([1 + 1e-16j, 2]),), {}),
    ("real_if_close", (np.array([1 + 1j]),), {}),
]


def _same(got, want):
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
        return
    got = np.asarray(got)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("name,args,kwargs", VALUE_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(VALUE_CASES)])
def test_values_vs_numpy(name, args, kwargs):
    _same(getattr(cn, name)(*args, **kwargs), getattr(np, name)(*args, **kwargs))


def test_inplace_functions():
    a = np.zeros((5, 3))
    want = a.copy()
    np.fill_diagonal(want, [1, 2], wrap=True)
    _same(cn.fill_diagonal(a, [1, 2], wrap=True, inplace=False), want)
    with pytest.raises(ValueError, match="inplace"):
        cn.fill_diagonal(a, 1.0)
    v = np.arange(6.0)
    want = v.copy()
    np.put(want, [0, 2], [9, 8])
    _same(cn.put(v, [0, 2], [9, 8], inplace=False), want)
    want = v.copy()
    np.place(want, v > 3, [1, 2])
    _same(cn.place(v, v > 3, [1, 2], inplace=False), want)
    i = np.argmax(A, axis=1)[:, None]
    want = A.copy()
    np.put_along_axis(want, i, -1.0, 1)
    _same(cn.put_along_axis(A, i, -1.0, 1, inplace=False), want)


def test_index_tricks_and_row_stack():
    _same(cn.r_[1:4, 0, np.array([7, 8])], np.r_[1:4, 0, np.array([7, 8])])
    _same(cn.r_[-1:1:5j], np.r_[-1:1:5j])
    _same(cn.r_["0,2", [1, 2], [3, 4]], np.r_["0,2", [1, 2], [3, 4]])
    _same(cn.r_["1", A, B], np.r_["1", A, B])
    _same(cn.c_[np.array([1, 2]), np.array([3, 4])], np.c_[np.array([1, 2]), np.array([3, 4])])
    _same(cn.c_[A, B], np.c_[A, B])
    _same(cn.mgrid[0:3, 0:2], np.mgrid[0:3, 0:2])
    _same(cn.mgrid[0:1:4j], np.mgrid[0:1:4j])
    _same(cn.ogrid[0:3, 0:2], np.ogrid[0:3, 0:2])
    _same(cn.row_stack([A, B]), np.vstack([A, B]))
    assert cn.s_[1:2] == np.s_[1:2] and cn.index_exp[1] == np.index_exp[1]


def test_partition_and_roots():
    a = rng.normal(size=(3, 7))
    p = np.asarray(cn.partition(a, 3, axis=1))
    np.testing.assert_allclose(p[:, 3], np.partition(a, 3, axis=1)[:, 3])
    assert np.all(p[:, :3] <= p[:, 3:4]) and np.all(p[:, 4:] >= p[:, 3:4])
    idx = np.asarray(cn.argpartition(a, 3, axis=1))
    np.testing.assert_allclose(np.take_along_axis(a, idx, 1)[:, 3], p[:, 3])
    r = np.sort_complex(np.asarray(cn.roots([1.0, -6, 11, -6, 0])))
    np.testing.assert_allclose(r, np.sort_complex(np.roots([1.0, -6, 11, -6, 0])), atol=1e-10)


def test_einsum_interleaved_and_optimize():
    a, b, c = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(5, 2, 3))
    _same(cn.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    _same(cn.einsum(a, [0, 1], b, [1, 2]), np.einsum(a, [0, 1], b, [1, 2]))
    _same(cn.einsum(c, [Ellipsis, 1], b, [1, 2], [Ellipsis, 2]),
          np.einsum(c, [Ellipsis, 1], b, [1, 2], [Ellipsis, 2]))
    _same(cn.einsum("ij,jk", a, b, optimize="optimal"), a @ b)
    _same(cn.einsum("ij,jk", a, b, optimize=True), a @ b)
    assert cn.einsum_path("ij,jk", a, b)[0] == np.einsum_path("ij,jk", a, b)[0]
    check_grads(lambda a, b: cn.einsum(a, [0, 1], b, [1, 2]), (a, b), order=2,
                modes=("fwd", "rev"))
    with pytest.raises(TypeError, match="sublist"):
        cn.einsum(a, 1, b, [1, 2])


def test_vectorize():
    vf = cn.vectorize(lambda a, b: a * cn.sin(b))
    _same(vf(np.ones((2, 3)), np.arange(3.0)), np.sin(np.arange(3.0)) * np.ones((2, 3)))
    vs = cn.vectorize(lambda x: cn.sum(x ** 2), signature="(n)->()")
    _same(vs(A), (A ** 2).sum(1))
    _same(cr.grad(lambda x: cn.sum(vs(x)))(A), 2 * A)


GRAD_CASES = [
    ("rot90", lambda x: cn.rot90(x, 1), (A,)),
    ("append", lambda x: cn.append(x, x[:1] * 2, axis=0), (A,)),
    ("select", lambda x: cn.select([x > 0.5, x < -0.5], [x ** 2, cn.sin(x)], x * 3), (V,)),
    ("gradient", lambda x: cn.gradient(x ** 2), (V,)),
    ("gradient_coords", lambda x: cn.gradient(cn.sin(x), np.cumsum(np.arange(1, 6.0)),
                                              edge_order=2), (V,)),
    ("fabs", lambda x: cn.fabs(x), (V,)),
    ("interp", lambda f: cn.interp(np.array([0.3, 1.7, 2.5]), np.array([0.0, 1, 2, 3]), f),
     (rng.normal(size=4),)),
    ("polyval", lambda p: cn.polyval(p, V), (rng.normal(size=3),)),
    ("nanquantile", lambda x: cn.nanquantile(x, 0.3), (np.array([1.0, 3.0, 2.5, 0.5]),)),
    ("vecdot", lambda x: cn.vecdot(x, B), (A,)),
    ("block", lambda x: cn.block([[x, x * 2], [x ** 2, x]]), (A,)),
    ("r_", lambda x: cn.r_[x, x * 2, 1.0], (V,)),
    ("insert", lambda x: cn.insert(x, [1, 3], x[:2] ** 2), (V,)),
    ("delete", lambda x: cn.delete(x, [0, 2]) ** 2, (V,)),
    ("cumulative_sum", lambda x: cn.cumulative_sum(x ** 2, include_initial=True), (V,)),
    ("unwrap", lambda x: cn.unwrap(x * 4), (V,)),
    ("piecewise", lambda x: cn.piecewise(x, [x < 0], [lambda t: t ** 2, lambda t: cn.sin(t)]),
     (V + 0.05,)),
    ("histogram_weights", lambda w: cn.histogram(V, bins=3, weights=w)[0], (np.arange(1, 6.0),)),
    ("polydiv", lambda p: cn.polydiv(p, np.array([2.0, 1.0]))[0], (rng.normal(size=4),)),
]


@pytest.mark.parametrize("name,f,args", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_grads(name, f, args):
    check_grads(f, args, order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name,f,args", GRAD_CASES[:8], ids=[c[0] for c in GRAD_CASES[:8]])
def test_jit_matches_eager(name, f, args):
    np.testing.assert_allclose(cr.jit(f)(*args), f(*args), rtol=1e-12, atol=1e-12)


def test_jit_integer_functions():
    a, b = np.array([12, 18, 0, -7]), np.array([8, 27, 5, 21])
    _same(cr.jit(cn.gcd)(a, b), np.gcd(a, b))
    bits = rng.integers(0, 2, size=(2, 16)).astype(np.uint8)
    _same(cr.jit(lambda x: cn.packbits(x, axis=1))(bits), np.packbits(bits, axis=1))
    x = np.array([1, 2, 3, 255], np.uint32)
    _same(cr.jit(cn.bitwise_count)(x), np.bitwise_count(x))


def test_lists_of_arrays_accepted():
    _same(cn.append([1.0, 2.0], [3.0]), np.append([1.0, 2.0], [3.0]))
    _same(cn.row_stack([[1.0, 2.0], np.array([3.0, 4.0])]), np.vstack([[1.0, 2.0], [3.0, 4.0]]))
    _same(cn.select([np.array([True, False])], [[1.0, 2.0]]), np.select([np.array([True, False])],
                                                                         [[1.0, 2.0]]))
    _same(cn.rot90([[1.0, 2.0], [3.0, 4.0]]), np.rot90([[1.0, 2.0], [3.0, 4.0]]))
    _same(cn.gradient([1.0, 4.0, 9.0]), np.gradient([1.0, 4.0, 9.0]))


def test_errors_name_the_call():
    with pytest.raises(ValueError, match="select"):
        cn.select([V > 0], [V, V])
    with pytest.raises(ValueError, match="rot90"):
        cn.rot90(A, axes=(0, 0))
    with pytest.raises(TypeError, match="real_if_close"):
        cr.jit(cn.real_if_close)(np.array([1 + 0j]))
    with pytest.raises(TypeError, match="union1d"):
        cr.jit(cn.union1d)(V, V)
    with pytest.raises(ValueError, match="gradient"):
        cn.gradient(np.array([1.0]))
