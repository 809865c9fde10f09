"""Differential testing: random programs, checked every way we can.

A hypothesis strategy draws a program, a DAG of 5-30 operations of
``chainrule.numpy`` over 1-3 inputs whose shapes broadcast together, and its
input values. Each operation comes from a table of NumPy functions written so
that their domains are safe (``log(a * a + 0.5)``); the values met while
drawing the program keep away from the kinks of ``abs``/``maximum``/``where``
and stay moderate, so that finite differences are meaningful. The same
program text then runs under NumPy, chainrule (eager, ``jit``, every
transform) and JAX, and:

- the value equals NumPy's, and ``jit``'s equals eager;
- ``grad``, ``jvp`` and ``vjp`` (and their second derivatives) match finite
  differences (``check_grads``);
- forward and reverse mode agree exactly (``jacfwd`` vs ``jacrev``, the
  gradient by ``jacfwd`` vs ``grad``, ``hessian`` vs ``jacrev(jacfwd)``);
- ``jit(grad)`` equals ``grad``; ``vmap(grad)`` equals a loop of ``grad``;
- with JAX installed, value, gradient, JVP and Hessian equal JAX's in float64.

A failing example is shrunk by hypothesis and printed as a Python program
(``Case.__repr__``) that can be pasted and run with any of the three
libraries. The example counts are modest and ``derandomize=True`` makes the
runs deterministic; ``-m slow`` runs many more.
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.test_util import check_grads

SETTINGS = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])

# ------------------------------------------------------------ the ops ---

BOUND = 25.0   # every intermediate value stays within +-BOUND
MARGIN = 1e-2  # and this far from a kink, a jump or a tie


def _far(a, b=0.0):
    """Every element of ``a`` differs from ``b`` by more than MARGIN."""
    d = np.abs(np.asarray(a) - np.asarray(b))
    return d.size == 0 or float(d.min()) > MARGIN


def _no_ties(a, axis):
    """The largest element along ``axis`` is unique, by a margin."""
    s = np.sort(np.asarray(a), axis=axis)
    if s.shape[axis] < 2:
        return True
    top = np.take(s, -1, axis=axis) - np.take(s, -2, axis=axis)
    return float(top.min()) > MARGIN


class Op(NamedTuple):
    name: str
    arity: int
    template: str   # a Python expression over {0}, {1}, {2} (operands) and {axis}
    shape: str = "elementwise"  # or "keep" (reduce, keepdims), "all" (to 0-d), "axis"
    ok: Callable = lambda *vals, axis=None: True   # operand values are safe here
    jax_nan_grad: bool = False  # JAX's gradient is NaN here (no NaN-safe where)


OPS = [
    # smooth unary functions, with their arguments kept in their domains
    Op("sin", 1, "np.sin({0})"),
    Op("cos", 1, "np.cos({0})"),
    Op("tanh", 1, "np.tanh({0})"),
    Op("exp", 1, "np.exp({0})"),
    Op("expm1", 1, "np.expm1({0})"),
    Op("sinh", 1, "np.sinh({0})"),
    Op("log", 1, "np.log({0} * {0} + 0.5)"),
    Op("log1p", 1, "np.log1p({0} * {0})"),
    Op("sqrt", 1, "np.sqrt({0} * {0} + 0.25)"),
    Op("arctan", 1, "np.arctan({0})"),
    Op("arcsin", 1, "np.arcsin(0.9 * np.tanh({0}))"),
    Op("square", 1, "np.square({0})"),
    Op("cube", 1, "{0} ** 3"),
    Op("neg", 1, "-{0}"),
    Op("affine", 1, "{0} * 0.75 + 0.5"),
    Op("int_scale", 1, "{0} * 2"),
    Op("recip", 1, "1.0 / ({0} * {0} + 1.0)"),
    Op("logistic", 1, "1.0 / (1.0 + np.exp(-{0}))"),
    # kinks and branches, away from the kink
    Op("abs", 1, "np.abs({0})", ok=lambda a, axis=None: _far(a)),
    Op("clip", 1, "np.clip({0}, -1.0, 1.0)",
       ok=lambda a, axis=None: _far(a, 1.0) and _far(a, -1.0)),
    # the NaN-safe `where` patterns: the branch not taken is NaN or infinite
    Op("where_sqrt", 1, "np.where({0} > 0.0, np.sqrt({0}), 0.0)",
       ok=lambda a, axis=None: _far(a, 0.0) and float(np.min(np.abs(a), initial=1.0)) > 0.05,
       jax_nan_grad=True),
    Op("where_log", 1, "np.where({0} > 0.5, np.log({0}), {0} - 0.5)",
       ok=lambda a, axis=None: _far(a, 0.5), jax_nan_grad=True),
    Op("where_div", 1, "np.where({0} != 0.0, np.sin({0}) / {0}, 1.0)", jax_nan_grad=True),
    Op("where_pow", 1, "np.where({0} > 0.0, {0} ** 1.5, 0.0)",
       ok=lambda a, axis=None: _far(a, 0.0), jax_nan_grad=True),
    # binary, broadcasting
    Op("add", 2, "{0} + {1}"),
    Op("sub", 2, "{0} - {1}"),
    Op("mul", 2, "{0} * {1}"),
    Op("div", 2, "{0} / {1}", ok=lambda a, b, axis=None: float(np.min(np.abs(b),
                                                                   initial=1.0)) > 0.2),
    Op("div_safe", 2, "{0} / (1.0 + {1} * {1})"),
    Op("pow", 2, "({0} * {0} + 0.5) ** np.tanh({1})"),
    Op("maximum", 2, "np.maximum({0}, {1})", ok=lambda a, b, axis=None: _far(a, b)),
    Op("minimum", 2, "np.minimum({0}, {1})", ok=lambda a, b, axis=None: _far(a, b)),
    Op("arctan2", 2, "np.arctan2({0}, {1})",
       ok=lambda a, b, axis=None: float(np.min(a * a + b * b, initial=1.0)) > 0.1),
    Op("hypot", 2, "np.hypot({0}, {1})",
       ok=lambda a, b, axis=None: float(np.min(a * a + b * b, initial=1.0)) > 0.1),
    Op("where_gt", 2, "np.where({0} > {1}, {0} * {1}, {0} + {1})",
       ok=lambda a, b, axis=None: _far(a, b)),
    Op("where3", 3, "np.where({0} > 0.0, {1}, {2})", ok=lambda a, b, c, axis=None: _far(a)),
    # reductions (keepdims, so that shapes keep broadcasting together)
    Op("sum", 1, "np.sum({0}, axis={axis}, keepdims=True)", shape="keep"),
    Op("max", 1, "np.max({0}, axis={axis}, keepdims=True)", shape="keep",
       ok=lambda a, axis=None: _no_ties(a, axis)),
    Op("prod", 1, "np.prod({0}, axis={axis}, keepdims=True)", shape="keep"),
    Op("mean_all", 1, "np.mean({0})", shape="all"),
    # shape-preserving moves along an axis
    Op("flip", 1, "np.flip({0}, axis={axis})", shape="axis"),
    Op("cumsum", 1, "np.cumsum({0}, axis={axis})", shape="axis"),
    Op("roll", 1, "np.roll({0}, 1, axis={axis})", shape="axis"),
]
OPS_BY_NAME = {op.name: op for op in OPS}


# ------------------------------------------------------- the programs ---


def _fmt_array(x):
    return f"np.array({np.asarray(x).tolist()!r})"


class Case:
    """A random program and the point to check it at, printable as Python."""

    def __init__(self, inputs, lines, ops_used):
        self.inputs = inputs          # list of float64 ndarrays
        self.lines = lines            # ["v3 = np.sin(x0)", ...]
        self.ops_used = ops_used      # names of the ops, in order

    @property
    def n_in(self):
        return len(self.inputs)

    @property
    def out_name(self):
        return self.lines[-1].split(" = ", 1)[0]

    def source(self):
        params = ", ".join(f"x{i}" for i in range(self.n_in))
        body = "\n".join(f"    {line}" for line in self.lines)
        return f"def f({params}):\n{body}\n    return {self.out_name}\n"

    def __repr__(self):
        shapes = ", ".join(f"x{i}: {x.shape}" for i, x in enumerate(self.inputs))
        points = "\n".join(f"x{i} = {_fmt_array(x)}" for i, x in enumerate(self.inputs))
        return ("\n# --- a random program (import chainrule.numpy as np, or numpy, or "
                f"jax.numpy); inputs {shapes}\n{self.source()}\n{points}\n"
                f"# f({', '.join(f'x{i}' for i in range(self.n_in))})\n")

    def function(self, lib):
        """``f`` with ``np`` bound to ``lib`` (numpy, chainrule.numpy, jax.numpy)."""
        namespace = {"np": lib}
        exec(compile(self.source(), "<random program>", "exec"), namespace)
        return namespace["f"]

    @property
    def jax_nan_grad(self):
        return any(OPS_BY_NAME[n].jax_nan_grad for n in self.ops_used)

    @property
    def has_where_pattern(self):
        """Uses ``where`` to avoid a NaN in the branch it does not take."""
        return any(n.startswith("where_") and n != "where_gt" for n in self.ops_used)

    def weights(self, shape):
        """Fixed weights that turn the output into a scalar loss."""
        return np.cos(np.arange(int(np.prod(shape, dtype=int)), dtype=float) + 0.5).reshape(shape)

    def loss(self, lib):
        f = self.function(lib)
        w = self.weights(np.shape(self.reference()))
        return lambda *xs: lib.sum(f(*xs) * w)

    def reference(self):
        with np.errstate(all="ignore"):
            return np.asarray(self.function(np)(*self.inputs))


def _eval_line(expr, env):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(eval(expr, {"np": np}, env))


@st.composite
def cases(draw, min_ops=5, max_ops=30):
    """A program of ``min_ops``..``max_ops`` operations and the point to run it at.

    Ops are drawn one at a time and evaluated with NumPy at the drawn inputs;
    one whose operands are unsafe for it (near a kink, a tie or a pole) or
    whose result is not moderate is drawn again.
    """
    n_in = draw(st.integers(1, 3), label="number of inputs")
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=n_in, min_dims=0, max_dims=3,
                                                    min_side=1, max_side=3), label="shapes")
    seed = draw(st.integers(0, 2 ** 32 - 1), label="seed of the input values")
    rng = np.random.default_rng(seed)
    # three decimals: printed programs stay short, values stay generic
    inputs = [np.round(rng.uniform(-1.5, 1.5, size=s), 3) for s in shapes.input_shapes]
    env = {f"x{i}": x for i, x in enumerate(inputs)}
    names = list(env)
    lines, used = [], []
    n_ops = draw(st.integers(min_ops, max_ops), label="number of ops")
    attempts = 0
    while len(lines) < n_ops and attempts < 4 * n_ops:
        attempts += 1
        op = draw(st.sampled_from(OPS))
        # operands counted from the most recent node: shrinks towards chains
        args = [names[-1 - draw(st.integers(0, len(names) - 1))] for _ in range(op.arity)]
        vals = [env[a] for a in args]
        axis = None
        if op.shape in ("keep", "axis"):
            ndim = vals[0].ndim
            if ndim == 0:
                continue
            axis = draw(st.integers(-ndim, ndim - 1))
        if not op.ok(*vals, axis=axis):
            continue
        expr = op.template.format(*args, axis=axis)
        out = _eval_line(expr, env)
        if not np.all(np.isfinite(out)) or float(np.max(np.abs(out), initial=0.0)) > BOUND:
            continue
        name = f"v{len(names)}"
        env[name] = out
        names.append(name)
        lines.append(f"{name} = {expr}")
        used.append(op.name)
    assume(len(lines) >= min_ops)
    return Case(inputs, lines, used)


# ----------------------------------------------------------- checking ---

TIGHT = {"rtol": 1e-9, "atol": 1e-9}   # the same math computed two ways


def assert_tree_close(got, want, **tol):
    got_leaves, want_leaves = cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_allclose(g, w, **(tol or TIGHT))


def _argnums(case):
    return tuple(range(case.n_in))


def check_values(case):
    # (operators on ndarrays are NumPy's own: a 0-d result may be a NumPy scalar)
    got = np.asarray(case.function(cnp)(*case.inputs))
    want = case.reference()
    assert got.dtype == want.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def check_derivatives(case):
    """Against finite differences, and forward against reverse mode."""
    f = case.function(cnp)
    xs = case.inputs
    # jvp and vjp against central differences, to second order
    if not case.has_where_pattern:
        check_grads(f, xs, order=2, modes=("fwd", "rev"))
    else:
        # where's NaN safety holds for first derivatives in both modes and for
        # second derivatives except reverse-over-forward (a known limitation,
        # see test_nans.py::test_where_safe_reverse_over_forward)
        check_grads(f, xs, order=1, modes=("fwd", "rev"))
        ts = tuple(np.cos(np.arange(x.size) + 2.0).reshape(x.shape) for x in xs)
        ct = np.cos(np.arange(np.size(case.reference())) + 3.0).reshape(
            np.shape(case.reference()))
        check_grads(lambda *p: cr.jvp(f, p, ts)[1], xs, order=1, modes=("fwd",))
        check_grads(lambda *p: cr.vjp(f, *p)[1](ct), xs, order=1, modes=("fwd", "rev"))
    # the full Jacobian both ways
    argnums = _argnums(case)
    assert_tree_close(cr.jacfwd(f, argnums=argnums)(*xs), cr.jacrev(f, argnums=argnums)(*xs))
    # the gradient of a scalar loss three ways: grad, vjp, jacfwd
    loss = case.loss(cnp)
    g = cr.grad(loss, argnums=argnums)(*xs)
    out, pullback = cr.vjp(loss, *xs)
    np.testing.assert_allclose(out, case.loss(np)(*xs), rtol=1e-12, atol=1e-12)
    assert_tree_close(pullback(np.ones(())), g)
    assert_tree_close(cr.jacfwd(loss, argnums=argnums)(*xs), g)
    for gi, x in zip(g, xs):
        assert gi.shape == x.shape and gi.dtype == x.dtype
    # second derivatives: forward-over-reverse against reverse-over-forward
    h = cr.hessian(loss, argnums=argnums)(*xs)
    outer = cr.jacfwd if case.has_where_pattern else cr.jacrev
    h2 = outer(cr.jacfwd(loss, argnums=argnums), argnums=argnums)(*xs)
    assert_tree_close(h, h2)
    # ... and the Hessian is symmetric
    for i in argnums:
        for j in argnums:
            a = np.reshape(h[i][j], (xs[i].size, xs[j].size))
            b = np.reshape(h[j][i], (xs[j].size, xs[i].size)).T
            np.testing.assert_allclose(a, b, **TIGHT)


def check_vmap_grad(case):
    loss = case.loss(cnp)
    argnums = _argnums(case)
    offsets = [0.0, 1e-3, -2e-3]
    batch = [np.stack([x + d for d in offsets]) for x in case.inputs]
    got = cr.vmap(cr.grad(loss, argnums=argnums))(*batch)
    for k in range(len(offsets)):
        want = cr.grad(loss, argnums=argnums)(*[b[k] for b in batch])
        assert_tree_close([g[k] for g in got], list(want))


def check_jit(case):
    f = case.function(cnp)
    xs = case.inputs
    assert_tree_close(cr.jit(f)(*xs), f(*xs))
    loss = case.loss(cnp)
    argnums = _argnums(case)
    assert_tree_close(cr.jit(cr.grad(loss, argnums=argnums))(*xs),
                      cr.grad(loss, argnums=argnums)(*xs))
    ts = tuple(np.cos(np.arange(x.size) + 1.0).reshape(x.shape) for x in xs)
    t = cr.jit(lambda *p: cr.jvp(f, p, ts)[1])(*xs)
    assert_tree_close(t, cr.jvp(f, tuple(xs), ts)[1])


# -------------------------------------------------------------- tests ---


@pytest.fixture(autouse=True, scope="module")
def _no_disk_cache():
    """Random programs make kernels nobody will need again: keep them in memory."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CHAINRULE_DISABLE_JIT_CACHE", "1")
    yield
    mp.undo()


def test_printed_program_runs_and_reads_as_python():
    case = Case([np.array([0.5, -1.25])], ["v1 = np.sin(x0)", "v2 = v1 * x0"], ["sin", "mul"])
    text = repr(case)
    assert "def f(x0):\n    v1 = np.sin(x0)\n    v2 = v1 * x0\n    return v2\n" in text
    assert "x0 = np.array([0.5, -1.25])" in text
    namespace = {}
    exec(compile(text.replace("# f(x0)", "out = f(x0)"), "<printed>", "exec"),
         {"np": cnp, "__builtins__": __builtins__}, namespace)
    np.testing.assert_allclose(namespace["out"], np.sin([0.5, -1.25]) * [0.5, -1.25])


def test_the_strategy_draws_varied_programs():
    """Guard against a strategy that quietly degenerates (all tiny, all one op)."""
    seen_ops, sizes, n_inputs = set(), [], set()

    @settings(SETTINGS, max_examples=40)
    @given(case=cases())
    def collect(case):
        seen_ops.update(case.ops_used)
        sizes.append(len(case.lines))
        n_inputs.add(case.n_in)
        assert 5 <= len(case.lines) <= 30

    collect()
    assert len(seen_ops) >= 25 and max(sizes) >= 15 and n_inputs == {1, 2, 3}


@settings(SETTINGS, max_examples=40)
@given(case=cases())
def test_random_programs_eager(case):
    check_values(case)
    check_derivatives(case)
    check_vmap_grad(case)


@settings(SETTINGS, max_examples=3)
@given(case=cases(max_ops=12))
def test_random_programs_jit(case):
    check_jit(case)


@pytest.mark.slow
@settings(SETTINGS, max_examples=300)
@given(case=cases())
def test_random_programs_eager_many(case):
    check_values(case)
    check_derivatives(case)
    check_vmap_grad(case)


@pytest.mark.slow
@settings(SETTINGS, max_examples=60)
@given(case=cases())
def test_random_programs_jit_many(case):
    check_jit(case)


# --------------------------------------------------------------- JAX ---


def check_against_jax(case, jax):
    jnp = jax.numpy
    xs = case.inputs
    argnums = _argnums(case)
    ts = tuple(np.cos(np.arange(x.size) + 1.0).reshape(x.shape) for x in xs)
    jf, jloss = case.function(jnp), case.loss(jnp)

    @jax.jit  # everything in one XLA compile per program (op by op is slow)
    def everything(*xs):
        return (jf(*xs), jax.jvp(jf, xs, ts)[1], jax.grad(jloss, argnums=argnums)(*xs),
                jax.hessian(jloss, argnums=argnums)(*xs))

    want, t_jax, g_jax, h_jax = jax.tree_util.tree_map(np.asarray, everything(*xs))
    assert want.dtype == np.float64
    f, loss = case.function(cnp), case.loss(cnp)
    np.testing.assert_allclose(f(*xs), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cr.jvp(f, tuple(xs), ts)[1], t_jax, **TIGHT)
    g_cr = cr.grad(loss, argnums=argnums)(*xs)
    if case.jax_nan_grad:
        # JAX's where is not NaN-safe in reverse mode: its gradient is NaN
        # wherever the branch not taken has a NaN derivative (chainrule's is
        # finite; see docs/errors.md). Compare where JAX's is finite.
        for a, b in zip(g_cr, g_jax):
            assert np.all(np.isfinite(a))
            np.testing.assert_allclose(a[np.isfinite(b)], b[np.isfinite(b)], **TIGHT)
        return
    assert_tree_close(g_cr, list(g_jax))
    h_cr = cr.hessian(loss, argnums=argnums)(*xs)
    assert_tree_close(h_cr, h_jax, rtol=1e-8, atol=1e-8)


@settings(SETTINGS, max_examples=6)
@given(case=cases())
def test_random_programs_match_jax(case, jax_x64):
    check_against_jax(case, jax_x64)


@pytest.mark.slow
@settings(SETTINGS, max_examples=200)
@given(case=cases())
def test_random_programs_match_jax_many(case, jax_x64):
    check_against_jax(case, jax_x64)
