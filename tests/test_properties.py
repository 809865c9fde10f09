"""Property tests (hypothesis): chainrule.numpy against NumPy on random
broadcasting shapes and dtypes, derivatives against finite differences, and
random programs whose forward and reverse Jacobians must agree."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule.numpy as cnp
from chainrule import jacfwd, jacrev
from chainrule.test_util import check_grads
from chainrule.tree_util import tree_leaves, tree_structure

FAST = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FEW = settings(FAST, max_examples=15)

seeds = st.integers(0, 2 ** 32 - 1)
# shapes that broadcast together: 0-d, size-1 and empty axes included
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                min_side=0, max_side=3)
triple_shapes = hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                  min_side=0, max_side=3)

# ------------------------------------------------------- binary ops ---

# (chainrule function, NumPy function, value domain)
BINARY = {
    "add": (cnp.add, np.add, "any"),
    "subtract": (cnp.subtract, np.subtract, "any"),
    "multiply": (cnp.multiply, np.multiply, "any"),
    "divide": (cnp.divide, np.divide, "nonzero"),
    "maximum": (cnp.maximum, np.maximum, "any"),
    "minimum": (cnp.minimum, np.minimum, "any"),
    "power": (cnp.power, np.power, "positive"),
    "arctan2": (cnp.arctan2, np.arctan2, "any"),
}
KINDS = ["float64", "float32", "int8", "int32", "int64", "py_int", "py_float"]


def _values(rng, shape, kind, domain):
    """An operand of ``kind`` in ``domain``, with edge values among random ones."""
    if kind.startswith("py_"):
        if kind == "py_int":
            return int(rng.integers(1, 4)) if domain != "any" else int(rng.integers(-3, 4))
        v = float(rng.uniform(0.5, 2.0)) if domain == "positive" else float(rng.normal())
        return v if domain != "nonzero" or v != 0 else 1.5
    if kind.startswith("int"):
        lo = 1 if domain in ("positive", "nonzero") else -3
        return rng.integers(lo, 4, size=shape).astype(kind)
    if domain == "positive":
        x = rng.uniform(0.5, 2.0, size=shape)
    else:
        pool = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-3, 3.0])
        x = np.where(rng.uniform(size=shape) < 0.3, rng.choice(pool, size=shape),
                     rng.normal(size=shape) * 2)
    return x.astype(kind)


def _assert_same(got, expected, ndarray=True):
    """Same dtype, shape and values; ``got`` an ndarray (see also
    test_zero_d_results_are_ndarrays, which checks that separately for the
    functions composed of several primitives)."""
    expected = np.asarray(expected)
    if ndarray:
        assert isinstance(got, np.ndarray), type(got)
    got = np.asarray(got)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if expected.dtype.kind == "f":
        rtol = 1e-6 if expected.dtype.itemsize <= 4 else 1e-13
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=pair_shapes, kinds=st.tuples(st.sampled_from(KINDS), st.sampled_from(KINDS)),
       seed=seeds)
def test_binary_values_and_dtypes_match_numpy(name, shapes, kinds, seed):
    cfun, nfun, domain = BINARY[name]
    rng = np.random.default_rng(seed)
    x = _values(rng, shapes.input_shapes[0], kinds[0], "any" if name == "divide" else domain)
    y = _values(rng, shapes.input_shapes[1], kinds[1], domain)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected = nfun(x, y)
        got = cfun(x, y)
    _assert_same(got, expected)


@FAST
@given(shapes=triple_shapes, kinds=st.tuples(st.sampled_from(KINDS), st.sampled_from(KINDS)),
       seed=seeds)
def test_where_values_and_dtypes_match_numpy(shapes, kinds, seed):
    rng = np.random.default_rng(seed)
    cond = rng.uniform(size=shapes.input_shapes[0]) < 0.5
    x = _values(rng, shapes.input_shapes[1], kinds[0], "any")
    y = _values(rng, shapes.input_shapes[2], kinds[1], "any")
    _assert_same(cnp.where(cond, x, y), np.where(cond, x, y))


def _grad_operands(name, rng, sx, sy):
    if name == "divide":
        return rng.normal(size=sx), rng.uniform(0.5, 2, size=sy) * rng.choice([-1, 1], size=sy)
    if name == "power":
        return rng.uniform(0.5, 2, size=sx), rng.uniform(-2, 2, size=sy)
    x, y = rng.normal(size=sx), rng.normal(size=sy)
    if name in ("maximum", "minimum"):  # keep away from ties (no derivative there)
        assume(np.min(np.abs(x - y), initial=1.0) > 1e-2)
    if name == "arctan2":  # keep away from the origin
        assume(np.min(x * x + y * y, initial=1.0) > 0.1)
    return x, y


nonempty_pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                         min_side=1, max_side=3)


@pytest.mark.parametrize("name", sorted(BINARY) + ["where"])
@FEW
@given(shapes=nonempty_pair_shapes, seed=seeds)
def test_binary_grads_match_finite_differences(name, shapes, seed):
    rng = np.random.default_rng(seed)
    sx, sy = shapes.input_shapes
    if name == "where":
        cond = rng.uniform(size=shapes.result_shape) < 0.5
        x, y = rng.normal(size=sx), rng.normal(size=sy)
        f = lambda x, y: cnp.where(cond, x, y)  # noqa: E731
    else:
        x, y = _grad_operands(name, rng, sx, sy)
        f = BINARY[name][0]
    check_grads(f, (x, y), order=2, modes=("fwd", "rev"))
    # with one operand a Python scalar: only the array is differentiated
    s = float(np.ravel(y)[0])
    check_grads(lambda x: f(x, s), (x,), order=1, modes=("fwd", "rev"))


# -------------------------------------------------------- unary ops ---

any_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)

# (chainrule function, NumPy function, domain (lo, hi) for values and gradients)
UNARY = {
    "exp": (cnp.exp, np.exp, (-3, 3)), "log": (cnp.log, np.log, (0.2, 4)),
    "log1p": (cnp.log1p, np.log1p, (-0.5, 3)), "expm1": (cnp.expm1, np.expm1, (-3, 3)),
    "sin": (cnp.sin, np.sin, (-4, 4)), "cos": (cnp.cos, np.cos, (-4, 4)),
    "tan": (cnp.tan, np.tan, (-1.2, 1.2)), "tanh": (cnp.tanh, np.tanh, (-3, 3)),
    "arcsin": (cnp.arcsin, np.arcsin, (-0.9, 0.9)), "arctan": (cnp.arctan, np.arctan, (-3, 3)),
    "sinh": (cnp.sinh, np.sinh, (-3, 3)), "arccosh": (cnp.arccosh, np.arccosh, (1.2, 3)),
    "sqrt": (cnp.sqrt, np.sqrt, (0.2, 4)), "cbrt": (cnp.cbrt, np.cbrt, (0.2, 4)),
    "abs": (cnp.abs, np.abs, (-3, 3)), "negative": (cnp.negative, np.negative, (-3, 3)),
    "square": (cnp.square, np.square, (-3, 3)), "sign": (cnp.sign, np.sign, (-3, 3)),
    "floor": (cnp.floor, np.floor, (-3, 3)), "reciprocal": (cnp.reciprocal, np.reciprocal,
                                                            (0.5, 3)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FEW
@given(shape=any_shapes, kind=st.sampled_from(["float64", "float32", "int8", "int64"]),
       seed=seeds)
def test_unary_values_and_dtypes_match_numpy(name, shape, kind, seed):
    cfun, nfun, (lo, hi) = UNARY[name]
    rng = np.random.default_rng(seed)
    if kind.startswith("int"):
        if name == "reciprocal":  # NumPy's integer reciprocal is integer division
            return
        x = rng.integers(max(int(np.ceil(lo)), 1 if lo > 0 else -3), int(hi) + 1,
                         size=shape).astype(kind)
    else:
        x = rng.uniform(lo, hi, size=shape).astype(kind)
        if x.size and rng.uniform() < 0.5 and lo < 0 < hi:  # edge values
            x.flat[0] = 0.0
    with np.errstate(all="ignore"):
        _assert_same(cfun(x), nfun(x))


nonempty_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


@pytest.mark.parametrize("name", sorted(UNARY))
@FEW
@given(shape=nonempty_shapes, seed=seeds)
def test_unary_grads_match_finite_differences(name, shape, seed):
    cfun, _, (lo, hi) = UNARY[name]
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, size=shape)
    if name in ("abs", "sign", "floor"):  # keep away from the kinks and jumps
        assume(np.min(np.abs(x - np.round(x)), initial=1.0) > 1e-3)
    check_grads(cfun, (x,), order=2, modes=("fwd", "rev"))


# -------------------------------------------------------- shape ops ---


@st.composite
def shape_programs(draw):
    """A shape and a sequence of shape ops valid for it."""
    shape = start = draw(any_shapes)
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        ndim = len(shape)
        choices = ["reshape", "expand_dims", "broadcast_to", "flip", "concatenate"]
        if ndim:
            choices += ["transpose", "slice", "swapaxes"]
        if 1 in shape:
            choices.append("squeeze")
        op = draw(st.sampled_from(choices))
        if op == "transpose":
            arg = tuple(draw(st.permutations(range(ndim))))
            shape = tuple(shape[a] for a in arg)
        elif op == "reshape":
            arg = tuple(reversed(shape)) + (1,) if draw(st.booleans()) else (-1,)
            shape = arg if arg != (-1,) else (int(np.prod(shape, dtype=int)),)
        elif op == "expand_dims":
            arg = draw(st.integers(-ndim - 1, ndim))
            shape = shape[:arg % (ndim + 1)] + (1,) + shape[arg % (ndim + 1):]
        elif op == "squeeze":
            arg = draw(st.sampled_from([i for i, n in enumerate(shape) if n == 1]))
            shape = shape[:arg] + shape[arg + 1:]
        elif op == "broadcast_to":
            arg = (draw(st.integers(0, 2)),) + shape
            shape = arg
        elif op == "flip":
            arg = None if not ndim or draw(st.booleans()) else draw(st.integers(0, ndim - 1))
        elif op == "concatenate":
            if not ndim:
                continue
            arg = draw(st.integers(0, ndim - 1))
            shape = shape[:arg] + (2 * shape[arg],) + shape[arg + 1:]
        elif op == "slice":
            axis = draw(st.integers(0, ndim - 1))
            start, stop = sorted(draw(st.lists(st.integers(-4, 4), min_size=2, max_size=2)))
            step = draw(st.sampled_from([1, 2, -1]))
            arg = (axis, slice(start, stop, step))
            shape = shape[:axis] + (len(range(*arg[1].indices(shape[axis]))),) + shape[axis + 1:]
        elif op == "swapaxes":
            a, b = draw(st.integers(0, ndim - 1)), draw(st.integers(0, ndim - 1))
            arg = (a, b)
            shape = list(shape)
            shape[a], shape[b] = shape[b], shape[a]
            shape = tuple(shape)
        ops.append((op, arg))
    return start, ops


def _apply_shape_ops(lib, ops, x):
    for op, arg in ops:
        if op == "transpose":
            x = lib.transpose(x, arg)
        elif op == "reshape":
            x = lib.reshape(x, arg)
        elif op == "expand_dims":
            x = lib.expand_dims(x, arg)
        elif op == "squeeze":
            x = lib.squeeze(x, arg)
        elif op == "broadcast_to":
            x = lib.broadcast_to(x, arg)
        elif op == "flip":
            x = lib.flip(x, arg)
        elif op == "concatenate":
            x = lib.concatenate([x, x * 2], axis=arg)
        elif op == "slice":
            axis, sl = arg
            x = x[(slice(None),) * axis + (sl,)]
        elif op == "swapaxes":
            x = lib.swapaxes(x, *arg)
    return x


@FAST
@given(shape_program=shape_programs(), seed=seeds)
def test_shape_ops_match_numpy_and_have_right_gradients(shape_program, seed):
    shape, program = shape_program
    x = np.random.default_rng(seed).normal(size=shape)
    expected = _apply_shape_ops(np, program, x)
    _assert_same(_apply_shape_ops(cnp, program, x), expected)
    if x.size and expected.size:
        check_grads(lambda x: _apply_shape_ops(cnp, program, x), (x,), order=1)
        w = np.random.default_rng(seed + 1).normal(size=expected.shape)
        check_grads(lambda x: cnp.sum(_apply_shape_ops(cnp, program, x) ** 2 * w), (x,),
                    order=2)


# ---------------------------------------------------------- reductions ---

REDUCTIONS = {
    "sum": (cnp.sum, np.sum), "mean": (cnp.mean, np.mean), "max": (cnp.max, np.max),
    "min": (cnp.min, np.min), "prod": (cnp.prod, np.prod), "var": (cnp.var, np.var),
    "std": (cnp.std, np.std),
}
shapes_0, shapes_1 = any_shapes, nonempty_shapes


@st.composite
def axis_args(draw, shape):
    """NumPy's ``axis`` in all its forms: None, an int (maybe negative), a tuple."""
    ndim = len(shape)
    choice = draw(st.sampled_from(["none", "int", "tuple"] if ndim else ["none", "tuple"]))
    if choice == "none":
        return None
    if choice == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim)) if ndim else []
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


def _reduced_count(shape, axis):
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@FAST
@given(data=st.data(), shape=shapes_0,
       kind=st.sampled_from(["float64", "float32", "int32", "int64"]), keepdims=st.booleans(),
       seed=seeds)
def test_reduction_values_match_numpy(name, data, shape, kind, keepdims, seed):
    cfun, nfun = REDUCTIONS[name]
    axis = data.draw(axis_args(shape))
    kwargs = {"axis": axis, "keepdims": keepdims}
    if name in ("var", "std"):
        kwargs["ddof"] = data.draw(st.sampled_from([0, 1]))
    rng = np.random.default_rng(seed)
    x = _values(rng, shape, kind, "any")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            expected = nfun(x, **kwargs)
        except ValueError:  # max/min of nothing
            with pytest.raises(ValueError, match=name):
                cfun(x, **kwargs)
            return
        got = cfun(x, **kwargs)
    if kind == "float32" or name in ("var", "std", "mean"):
        # float32 sums, and means and variances, may round differently
        expected, got = np.asarray(expected), np.asarray(got)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        rtol = 1e-5 if expected.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    else:
        _assert_same(got, expected)


# Outside transforms chainrule.numpy returns ndarrays, also for 0-d results
# (DESIGN.md: "Arrays in and out are plain numpy.ndarray"), including the
# functions composed of several primitives.
ZERO_D_CALLS = [
    ("sum", lambda x: cnp.sum(x)), ("max", lambda x: cnp.max(x)),
    ("sin", lambda x: cnp.sin(x)), ("add", lambda x: cnp.add(x, x)),
    ("std", lambda x: cnp.std(x)), ("hypot", lambda x: cnp.hypot(x, x)),
    ("mean", lambda x: cnp.mean(x)), ("var", lambda x: cnp.var(x)),
    ("average", lambda x: cnp.average(x)), ("ptp", lambda x: cnp.ptp(x)),
    ("log2", lambda x: cnp.log2(x)), ("log10", lambda x: cnp.log10(x)),
    ("logaddexp", lambda x: cnp.logaddexp(x, x)),
    ("remainder", lambda x: cnp.remainder(x, 0.3)),
    ("deg2rad", lambda x: cnp.deg2rad(x)), ("rad2deg", lambda x: cnp.rad2deg(x)),
    ("logaddexp2", lambda x: cnp.logaddexp2(x, x)), ("nanmean", lambda x: cnp.nanmean(x)),
    ("mod", lambda x: cnp.mod(x, 0.3)),
]


@pytest.mark.parametrize("name,call", ZERO_D_CALLS, ids=[n for n, _ in ZERO_D_CALLS])
def test_zero_d_results_are_ndarrays(name, call):
    for x in (np.asarray(0.7), np.ones(3)):
        out = call(x)
        assert isinstance(out, np.ndarray), (name, type(out))


EDGE_REDUCTIONS = [
    ("var", (0,), {"ddof": 1}), ("var", (1,), {"ddof": 2}),
    ("std", (2, 0), {"axis": 1, "ddof": 1}),
    ("var", (3,), {"ddof": 3}), ("std", (2, 3), {"axis": 0, "ddof": 2}),
    ("mean", (0, 2), {"axis": 0}), ("sum", (0, 2), {"axis": 1, "keepdims": True}),
    ("prod", (0,), {}), ("max", (), {"axis": ()}), ("min", (2, 3), {"axis": ()}),
    ("max", (2, 0), {"axis": 0}), ("sum", (), {"axis": ()}), ("mean", (), {}),
]


@pytest.mark.parametrize("name,shape,kwargs", EDGE_REDUCTIONS)
def test_reduction_edge_cases_match_numpy(name, shape, kwargs):
    cfun, nfun = REDUCTIONS[name]
    x = np.arange(float(np.prod(shape, dtype=int))).reshape(shape)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        _assert_same(cfun(x, **kwargs), nfun(x, **kwargs), ndarray=False)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@FEW
@given(data=st.data(), shape=shapes_1, keepdims=st.booleans(), seed=seeds)
def test_reduction_grads_match_finite_differences(name, data, shape, keepdims, seed):
    cfun, _ = REDUCTIONS[name]
    axis = data.draw(axis_args(shape))
    if name == "std":  # the square root has no derivative at a zero spread
        assume(_reduced_count(shape, axis) >= 2)
    x = np.random.default_rng(seed).normal(size=shape)
    check_grads(lambda x: cfun(x, axis=axis, keepdims=keepdims), (x,), order=2,
                modes=("fwd", "rev"))


# ------------------------------------------------------ random programs ---

UNARY_OPS = {
    "sin": cnp.sin, "cos": cnp.cos, "tanh": cnp.tanh, "neg": lambda a: -a,
    "gauss": lambda a: cnp.exp(-a * a), "softplus_sq": lambda a: cnp.log1p(a * a),
    "hypot1": lambda a: cnp.sqrt(1 + a * a), "sigmoid": lambda a: 1 / (1 + cnp.exp(-a)),
    "square": lambda a: a ** 2,
    "sum_last": lambda a: cnp.sum(a, axis=-1, keepdims=True) if np.ndim(a) else a,
    "mean_all": lambda a: cnp.mean(a), "abs_shift": lambda a: cnp.abs(a + 3.0),
}
BINARY_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1 + b * b), "max": cnp.maximum, "min": cnp.minimum,
    "where": lambda a, b: cnp.where(a > b, a * b, a + b),
}


@st.composite
def programs(draw):
    """A random DAG: inputs are nodes 0..n_in-1; each op reads earlier nodes."""
    n_in = draw(st.integers(1, 2))
    shapes = draw(st.sampled_from([[(3,)], [(2, 3)], [()]] if n_in == 1 else
                                  [[(3,), (3,)], [(2, 3), (3,)], [(2, 1), (3,)], [(), (2,)]]))
    ops = []
    for i in range(draw(st.integers(3, 10))):
        n_nodes = n_in + i
        if draw(st.booleans()):
            ops.append((draw(st.sampled_from(sorted(UNARY_OPS))),
                        (draw(st.integers(0, n_nodes - 1)),)))
        else:
            ops.append((draw(st.sampled_from(sorted(BINARY_OPS))),
                        (draw(st.integers(0, n_nodes - 1)), draw(st.integers(0, n_nodes - 1)))))
    n_out = draw(st.integers(1, 2))
    return n_in, shapes, ops, n_out


def _run(program, *inputs):
    n_in, _, ops, n_out = program
    nodes = list(inputs)
    for name, args in ops:
        fn = UNARY_OPS[name] if len(args) == 1 else BINARY_OPS[name]
        nodes.append(fn(*(nodes[a] for a in args)))
    return nodes[-1] if n_out == 1 else (nodes[-1], nodes[-2])


def _nodes_are_tame(program, inputs):
    """No huge values (finite differences need a smooth, moderate function) and
    no near-ties in max/min/where comparisons."""
    n_in, _, ops, _ = program
    nodes = list(inputs)
    for name, args in ops:
        vals = [nodes[a] for a in args]
        if name in ("max", "min", "where"):
            a, b = np.broadcast_arrays(*vals)
            if a.size and np.min(np.abs(a - b)) < 1e-3 and args[0] != args[1]:
                return False
        fn = UNARY_OPS[name] if len(args) == 1 else BINARY_OPS[name]
        nodes.append(np.asarray(fn(*vals)))
        if not np.all(np.abs(nodes[-1]) < 20):
            return False
    return True


@settings(FAST, max_examples=100)
@given(program=programs(), seed=seeds)
def test_random_programs(program, seed):
    n_in, shapes, ops, _ = program
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(-1.5, 1.5, size=s) for s in shapes]
    assume(_nodes_are_tame(program, inputs))
    f = lambda *xs: _run(program, *xs)  # noqa: E731
    argnums = tuple(range(n_in))
    jf = jacfwd(f, argnums=argnums)(*inputs)
    jr = jacrev(f, argnums=argnums)(*inputs)
    assert tree_structure(jf) == tree_structure(jr)
    outs = f(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    shapes_f = [np.shape(a) for a in tree_leaves(jf)]
    assert shapes_f == [np.shape(o) + np.shape(x) for o in outs for x in inputs]
    for a, b in zip(tree_leaves(jf), tree_leaves(jr), strict=True):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    check_grads(f, inputs, order=2, modes=("fwd", "rev"))
