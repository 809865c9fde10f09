"""cond, switch, scan, fori_loop and while_loop against Python control flow,
in value and derivatives, eagerly, staged (make_jaxpr/jit) and under vmap."""

import functools

import numpy as np
import pytest
from helpers import tree_close as _close
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import lax
from chainrule.test_util import check_grads

RNG = np.random.default_rng(0)


def _prims(closed):
    return [e.prim.name for e in closed.eqns]


# ------------------------------------------------------------------ cond ---


def branchy(x):
    return lax.cond(cnp.sum(x) > 0, lambda x: cnp.sin(x) * x, lambda x: cnp.cos(x) * 2.0, x)


def branchy_ref(x):
    return np.sin(x) * x if x.sum() > 0 else np.cos(x) * 2.0


def branchy_grad_ref(x):
    return np.cos(x) * x + np.sin(x) if x.sum() > 0 else -2.0 * np.sin(x)


def test_cond_concrete_runs_one_branch():
    def boom(x):
        raise AssertionError("the branch not taken must not run")

    x = np.array([0.5, 1.0])
    _close(lax.cond(True, lambda x: x * 2.0, boom, x), x * 2.0)
    _close(lax.cond(np.array(0), boom, lambda x: x - 1.0, x), x - 1.0)
    for x in (np.array([0.5, 1.0]), np.array([-0.5, -1.0])):
        _close(branchy(x), branchy_ref(x))
        _close(cr.grad(lambda x: cnp.sum(branchy(x)))(x), branchy_grad_ref(x))
        _close(cr.jvp(branchy, (x,), (np.ones(2),))[1], branchy_grad_ref(x))


def test_cond_traced_by_make_jaxpr():
    x = np.array([0.5, 1.0])
    closed = cr.make_jaxpr(branchy)(x)
    assert "cond" in _prims(closed)
    for x in (np.array([0.5, 1.0]), np.array([-0.5, -1.0]), np.array([0.3, -0.1])):
        _close(closed(x)[0], branchy_ref(x))
        f = lambda x: cnp.sum(closed(x)[0])  # noqa: E731  derivatives of the staged cond
        _close(cr.grad(f)(x), branchy_grad_ref(x))
        _close(cr.jvp(lambda x: closed(x)[0], (x,), (np.ones(2),))[1], branchy_grad_ref(x))
        check_grads(lambda x: closed(x)[0], (x,), order=2, modes=("fwd", "rev"))
    # the backward pass of a traced cond is a cond too
    g = cr.make_jaxpr(cr.grad(lambda x: cnp.sum(branchy(x))))(x)
    assert _prims(g).count("cond") == 2
    for x in (np.array([0.5, 1.0]), np.array([-0.5, -1.0])):
        _close(g(x)[0], branchy_grad_ref(x))


def test_cond_batched_predicate_under_vmap():
    xs = RNG.normal(size=(6, 2))
    xs[0] = [1.0, 1.0]
    xs[1] = [-1.0, -1.0]
    _close(cr.vmap(branchy)(xs), np.stack([branchy_ref(x) for x in xs]))
    _close(cr.vmap(cr.grad(lambda x: cnp.sum(branchy(x))))(xs),
           np.stack([branchy_grad_ref(x) for x in xs]))
    _close(cr.grad(lambda xs: cnp.sum(cr.vmap(branchy)(xs)))(xs),
           np.stack([branchy_grad_ref(x) for x in xs]))
    _close(cr.jacfwd(cr.vmap(branchy))(xs), cr.jacrev(cr.vmap(branchy))(xs))
    # predicate batched, operand not
    y = np.array([0.2, 0.7])
    out = cr.vmap(lambda p: lax.cond(p, lambda y: y + 1.0, lambda y: y * 3.0, y))(
        np.array([True, False, True]))
    _close(out, np.stack([y + 1.0, y * 3.0, y + 1.0]))


def test_cond_under_jit():
    f = cr.jit(branchy)
    for x in (np.array([0.5, 1.0]), np.array([-0.5, -1.0])):
        _close(f(x), branchy_ref(x))


def test_cond_errors():
    x = np.array([0.5, 1.0])
    with pytest.raises(TypeError, match=r"shapes and dtypes.*f64\[\].*f64\[2\]"):
        cr.make_jaxpr(lambda x: lax.cond(x[0] > 0, lambda x: x, lambda x: x[0], x))(x)
    with pytest.raises(TypeError, match=r"f32\[2\].*f64\[2\]"):
        cr.make_jaxpr(lambda x: lax.cond(x[0] > 0, lambda x: x,
                                         lambda x: x.astype(np.float32), x))(x)
    with pytest.raises(TypeError, match=r"predicate must be a scalar, got shape \(2,\)"):
        lax.cond(np.array([True, False]), lambda x: x, lambda x: x, x)
    with pytest.raises(TypeError, match=r"predicate must be a scalar"):
        cr.make_jaxpr(lambda x: lax.cond(x > 0, lambda x: x, lambda x: x, x))(x)


# ---------------------------------------------------------------- switch ---

BRANCHES = [lambda x: x * 1.0, lambda x: x ** 2, lambda x: cnp.exp(x)]


def _switch_ref(i, x):
    i = min(max(int(i), 0), 2)
    return [x * 1.0, x ** 2, np.exp(x)][i]


def _switch_grad_ref(i, x):
    i = min(max(int(i), 0), 2)
    return [1.0, 2 * x, np.exp(x)][i]


def test_switch_concrete_and_clamped():
    for i in (-3, 0, 1, 2, 7):
        _close(lax.switch(i, BRANCHES, 1.5), _switch_ref(i, 1.5))
        _close(cr.grad(lambda x, i=i: lax.switch(i, BRANCHES, x))(1.5), _switch_grad_ref(i, 1.5))


def test_switch_traced_and_batched():
    idx = np.array([-1, 0, 1, 2, 5])
    xs = RNG.normal(size=5)
    f = lambda i, x: lax.switch(i, BRANCHES, x)  # noqa: E731
    _close(cr.vmap(f)(idx, xs), np.array([_switch_ref(i, x) for i, x in zip(idx, xs)]))
    _close(cr.vmap(cr.grad(f, argnums=1))(idx, xs),
           np.array([_switch_grad_ref(i, x) for i, x in zip(idx, xs)]))
    closed = cr.make_jaxpr(f)(0, 1.0)
    assert "cond" in _prims(closed)
    for i in (-1, 0, 1, 2, 5):
        _close(closed(np.array(i), np.array(0.3))[0], _switch_ref(i, 0.3))
        _close(cr.grad(lambda x, i=i: closed(np.array(i), x)[0])(0.3), _switch_grad_ref(i, 0.3))


# ------------------------------------------------------------------ scan ---

W = RNG.normal(size=(3, 3)) * 0.5


def rnn_body(c, x):
    h = cnp.tanh(W @ c["h"] + x["a"] * x["b"])
    return {"h": h, "s": c["s"] + cnp.sum(h)}, (h * 2.0, cnp.sum(h * x["a"]))


def scan_loss(h0, xa, xb, reverse=False, use_scan=True):
    init = {"h": h0, "s": cnp.asarray(0.0)}
    xs = {"a": xa, "b": xb}
    if use_scan:
        c, (ys, zs) = lax.scan(rnn_body, init, xs, reverse=reverse)
    else:
        c, out = init, []
        order = range(len(xa) - 1, -1, -1) if reverse else range(len(xa))
        for i in order:
            c, y = rnn_body(c, {"a": xa[i], "b": xb[i]})
            out.append(y)
        out = out[::-1] if reverse else out
        ys, zs = cnp.stack([o[0] for o in out]), cnp.stack([o[1] for o in out])
    return c["s"] + cnp.sum(ys ** 2) + cnp.sum(zs * c["h"][0])


def _scan_args(n=5):
    return RNG.normal(size=3), RNG.normal(size=(n, 3)), RNG.normal(size=(n, 3))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_pytrees_match_python_loop(reverse):
    h0, xa, xb = _scan_args()
    init = {"h": h0, "s": np.asarray(0.0)}
    carry, (ys, zs) = lax.scan(rnn_body, init, {"a": xa, "b": xb}, reverse=reverse)
    c, out = init, []
    for i in (range(4, -1, -1) if reverse else range(5)):
        c, y = rnn_body(c, {"a": xa[i], "b": xb[i]})
        out.append(y)
    out = out[::-1] if reverse else out
    _close(carry, c)
    _close(ys, np.stack([o[0] for o in out]))
    _close(zs, np.stack([o[1] for o in out]))
    loss = lambda *a: scan_loss(*a, reverse=reverse)  # noqa: E731
    ref = lambda *a: scan_loss(*a, reverse=reverse, use_scan=False)  # noqa: E731
    args = (h0, xa, xb)
    _close(loss(*args), ref(*args))
    _close(cr.grad(loss, argnums=(0, 1, 2))(*args), cr.grad(ref, argnums=(0, 1, 2))(*args))
    tangents = tuple(RNG.normal(size=np.shape(a)) for a in args)
    _close(cr.jvp(loss, args, tangents), cr.jvp(ref, args, tangents))
    check_grads(loss, args, order=2, modes=("fwd", "rev"))


def test_scan_length_without_xs_and_none_ys():
    c, ys = lax.scan(lambda c, _: (c * 2.0, None), 1.0, None, length=4)
    _close(c, 16.0)
    assert ys is None
    c, ys = lax.scan(lambda c, _: (c * 2.0, c), 1.0, length=4)
    _close(ys, [1.0, 2.0, 4.0, 8.0])
    power = lambda a: lax.scan(lambda c, _: (c * a, None), 1.0, None, length=4)[0]  # noqa
    _close(power(1.5), 1.5 ** 4)
    _close(cr.grad(power)(1.5), 4 * 1.5 ** 3)
    _close(cr.grad(cr.grad(power))(1.5), 12 * 1.5 ** 2)
    _close(cr.jvp(power, (1.5,), (1.0,))[1], 4 * 1.5 ** 3)
    c, ys = lax.scan(lambda c, _: (c + 1.0, None), 3.0, None, length=0)
    _close(c, 3.0)


def test_scan_integer_carry_and_closure():
    a = np.array([1.0, 2.0])

    def f(x):
        def body(c, xi):
            i, acc = c
            return (i + 1, acc * x + a * i + xi), acc
        return lax.scan(body, (0, cnp.zeros(2)), cnp.ones((4, 2)))

    def ref(x):
        i, acc, ys = 0, np.zeros(2), []
        for _ in range(4):
            ys.append(acc)
            i, acc = i + 1, acc * x + a * i + 1.0
        return (i, acc), np.stack(ys)

    (i, acc), ys = f(0.7)
    (ri, racc), rys = ref(0.7)
    assert int(i) == ri
    _close(acc, racc)
    _close(ys, rys)
    g = cr.grad(lambda x: cnp.sum(f(x)[0][1]) + cnp.sum(f(x)[1]))(0.7)
    eps = 1e-6
    num = (np.sum(ref(0.7 + eps)[0][1]) + np.sum(ref(0.7 + eps)[1])
           - np.sum(ref(0.7 - eps)[0][1]) - np.sum(ref(0.7 - eps)[1])) / (2 * eps)
    _close(g, num, rtol=1e-6)


def test_scan_under_vmap_and_jit():
    h0s = RNG.normal(size=(4, 3))
    _, xa, xb = _scan_args()
    f = lambda h0: scan_loss(h0, xa, xb)  # noqa: E731
    _close(cr.vmap(f)(h0s), np.array([f(h) for h in h0s]))
    _close(cr.vmap(cr.grad(f))(h0s), np.stack([cr.grad(f)(h) for h in h0s]))
    # xs batched along a later axis, carry unbatched
    xas = RNG.normal(size=(5, 2, 3))
    g = lambda xa: scan_loss(h0s[0], xa, xb)  # noqa: E731
    _close(cr.vmap(g, in_axes=1)(xas), np.array([g(xas[:, i]) for i in range(2)]))
    _close(cr.vmap(cr.grad(g), in_axes=1)(xas),
           np.stack([cr.grad(g)(xas[:, i]) for i in range(2)]))
    _close(cr.jit(cr.grad(f))(h0s[0]), cr.grad(f)(h0s[0]), rtol=1e-9)
    closed = cr.make_jaxpr(cr.grad(f))(h0s[0])
    assert _prims(closed).count("scan") == 2  # forward and backward loops, not unrolled


def _scans(closed):
    return [e for e in closed.eqns if e.prim.name == "scan"]


def _after_last_scan(closed):
    names = _prims(closed)
    return names[len(names) - names[::-1].index("scan"):]


def test_scan_reverse_mode_stacks_residuals_instead_of_recomputing():
    """The backward loop reads what the forward loop stacked: no tanh, no
    product that only the forward needs; broadcasts are redone
    from their small operand rather than stacked; values of the consts
    alone (``w.T``) are computed once, outside the loop."""
    w, xs = RNG.normal(size=(4, 4)) / 2, RNG.normal(size=(6, 4))

    def loss(w, xs):
        def step(h, x):
            h = cnp.tanh(w @ h + x * cnp.sum(h))
            return h, cnp.sum(h * h)
        h, ys = lax.scan(step, cnp.ones(4), xs)
        return cnp.sum(ys) + cnp.sum(h)

    closed = cr.make_jaxpr(cr.grad(loss))(w, xs)
    fwd, bwd = _scans(closed)
    back_body = _prims(cr.core.ClosedJaxpr(bwd.params["jaxpr"], []))
    assert "tanh" not in back_body
    assert back_body.count("dot_general") == 1  # w.T @ g
    # the outer products g_t h_t^T summed into w's cotangent: one product
    # of their stacks after the loop
    assert _after_last_scan(closed).count("dot_general") == 1
    stacked = [v.aval.shape for v in fwd.outputs[2:]]
    assert stacked and all(s == (6, 4) for s in stacked), stacked  # nothing broadcast
    # the carry entering each step and tanh's output; tanh's derivative
    # 1 - y*y is recomputed from the latter rather than stacked
    assert len(stacked) == 2, stacked
    _close(cr.grad(loss)(w, xs), cr.jit(cr.grad(loss))(w, xs), rtol=1e-12)
    check_grads(loss, (w, xs), order=2, modes=("fwd", "rev"))


def test_scan_reverse_mode_recomputes_a_checkpointed_body():
    w, xs = RNG.normal(size=(4, 4)) / 2, RNG.normal(size=(6, 4))

    def loss(w, xs, remat):
        def step(h, x):
            h = cnp.tanh(w @ h + x)
            return h, cnp.sum(cnp.sin(h))
        h, ys = lax.scan(cr.checkpoint(step) if remat else step, cnp.ones(4), xs)
        return cnp.sum(ys)

    plain = cr.make_jaxpr(cr.grad(lambda w: loss(w, xs, False)))(w)
    remat = cr.make_jaxpr(cr.grad(lambda w: loss(w, xs, True)))(w)
    as_prims = lambda e: _prims(cr.core.ClosedJaxpr(e.params["jaxpr"], []))  # noqa: E731
    assert "tanh" not in as_prims(_scans(plain)[1])
    # the checkpointed body stacks only its carry, and the backward loop
    # runs the step again
    assert len(_scans(remat)[0].outputs) < len(_scans(plain)[0].outputs)
    assert "checkpoint" in as_prims(_scans(remat)[1]) or "tanh" in as_prims(_scans(remat)[1])
    # and sums w's cotangent in that loop: stacking the products' factors
    # would spend the memory checkpoint saves
    assert _after_last_scan(plain).count("dot_general") == 1
    assert _after_last_scan(remat).count("dot_general") == 0
    _close(cr.grad(loss)(w, xs, True), cr.grad(loss)(w, xs, False), rtol=1e-12)
    _close(cr.jit(cr.grad(loss), static_argnums=2)(w, xs, True),
           cr.grad(loss)(w, xs, False), rtol=1e-12)


def test_scan_reverse_mode_runs_a_callback_once_per_step():
    seen = []

    def loss(a):
        def step(c, x):
            cr.debug.callback(lambda v: seen.append(float(v)), x)
            return c * a + x, c
        return cnp.sum(lax.scan(step, 1.0, cnp.arange(5.0))[1])

    cr.grad(loss)(0.5)
    assert seen == [0.0, 1.0, 2.0, 3.0, 4.0]
    seen.clear()
    cr.jit(cr.grad(loss))(0.5)
    assert seen == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_scan_forward_mode_stacks_what_the_tangent_loop_reads():
    w, xs = RNG.normal(size=(4, 4)) / 2, RNG.normal(size=(6, 4))

    def f(w, xs, inner=None):
        def step(h, x):
            h = cnp.tanh(w @ h + x)
            if inner == "cond":
                h = lax.cond(cnp.sum(h) > 0, lambda v: v * 2.0, lambda v: cnp.sin(v), h)
            return h, cnp.sum(h * h)
        h, ys = lax.scan(cr.checkpoint(step) if inner == "checkpoint" else step,
                         cnp.ones(4), xs)
        return cnp.sum(ys) + cnp.sum(h)

    tw, txs = RNG.normal(size=w.shape), RNG.normal(size=xs.shape)
    closed = cr.make_jaxpr(lambda w, xs: cr.jvp(f, (w, xs), (tw, txs)))(w, xs)
    primal, tangent = _scans(closed)
    assert "tanh" in _prims(cr.core.ClosedJaxpr(primal.params["jaxpr"], []))
    assert "tanh" not in _prims(cr.core.ClosedJaxpr(tangent.params["jaxpr"], []))
    for inner in (None, "cond", "checkpoint"):
        fi = functools.partial(f, inner=inner)
        g = cr.grad(fi, argnums=(0, 1))(w, xs)
        _, t = cr.jvp(fi, (w, xs), (tw, txs))
        _close(t, np.sum(g[0] * tw) + np.sum(g[1] * txs), rtol=1e-10)
        _, tj = cr.jit(lambda w, xs, fi=fi: cr.jvp(fi, (w, xs), (tw, txs)))(w, xs)
        _close(tj, t, rtol=1e-12)
        check_grads(lambda w, fi=fi: fi(w, xs), (w,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("unroll", [2, 3, 7, 10, True, False])
def test_scan_unroll_gives_the_same_results(unroll, reverse):
    """``unroll=k`` runs k steps per loop iteration (7 steps: chunks and a
    remainder that comes first when reversed), in value, gradient and jvp,
    eagerly and under jit, with pytrees of xs and ys."""
    xs = {"a": RNG.normal(size=(7, 3)), "b": RNG.normal(size=7)}

    def f(c, x):
        c = cnp.tanh(c * 0.9 + x["a"] * x["b"])
        return c, (cnp.sum(c), c * 2)

    def loss(c, unroll):
        c, (s, ys) = lax.scan(f, c, xs, reverse=reverse, unroll=unroll)
        return cnp.sum(c) + cnp.sum(s * cnp.arange(7.0)) + cnp.sum(ys ** 2)

    c0 = RNG.normal(size=3)
    _close(lax.scan(f, c0, xs, reverse=reverse, unroll=unroll),
           lax.scan(f, c0, xs, reverse=reverse), rtol=1e-14)
    ref = cr.grad(loss)(c0, 1)
    _close(cr.grad(loss)(c0, unroll), ref, rtol=1e-13)
    _close(cr.jit(cr.grad(loss), static_argnums=1)(c0, unroll), ref, rtol=1e-13)
    t = RNG.normal(size=3)
    _close(cr.jvp(lambda c: loss(c, unroll), (c0,), (t,))[1], np.dot(ref, t), rtol=1e-12)


def test_unroll_without_xs_and_in_fori_loop():
    _close(lax.scan(lambda c, _: (c * 2.0, c), 1.0, None, length=5, unroll=2)[1],
           [1.0, 2.0, 4.0, 8.0, 16.0])
    _close(lax.fori_loop(0, 10, lambda i, v: v * 0.5 + i, 1.0, unroll=3),
           lax.fori_loop(0, 10, lambda i, v: v * 0.5 + i, 1.0))
    with pytest.raises(ValueError, match="unroll must be a positive int or a bool, got 0"):
        lax.scan(lambda c, x: (c, None), 1.0, np.zeros(3), unroll=0)
    with pytest.raises(ValueError, match="fori_loop: unroll needs concrete loop bounds"):
        cr.jit(lambda n: lax.fori_loop(0, n, lambda i, v: v + 1.0, 0.0, unroll=2))(3)


def test_scan_errors():
    with pytest.raises(TypeError, match=r"carry must keep its shapes and dtypes.*f64\[\] "
                                        r"became f32\[\]"):
        lax.scan(lambda c, x: (c.astype(np.float32), None), 1.0, np.zeros(3))
    with pytest.raises(TypeError, match=r"f64\[\] became f64\[2\]"):
        lax.scan(lambda c, x: (cnp.stack([c, c]), None), 1.0, np.zeros(3))
    with pytest.raises(TypeError, match="structure of init"):
        lax.scan(lambda c, x: ((c, c), None), 1.0, np.zeros(3))
    with pytest.raises(ValueError, match="different leading sizes"):
        lax.scan(lambda c, x: (c, None), 1.0, (np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="give length"):
        lax.scan(lambda c, x: (c, None), 1.0, None)
    with pytest.raises(ValueError, match="length=2"):
        lax.scan(lambda c, x: (c, None), 1.0, np.zeros(3), length=2)
    with pytest.raises(TypeError, match="length must be a static integer"):
        cr.jit(lambda n: lax.scan(lambda c, _: (c, None), 1.0, None, length=n))(3)
    with pytest.raises(TypeError, match="length must be a static integer, got 2.5"):
        lax.scan(lambda c, _: (c, None), 1.0, None, length=2.5)
    # a concrete 0-d integer array is a length (vmap passes unbatched ints so)
    _close(lax.scan(lambda c, _: (c * 2.0, None), 1.0, None, length=np.asarray(3))[0], 8.0)
    _close(cr.vmap(lambda x, n: lax.scan(lambda c, _: (c * x, None), 1.0, None, length=n)[0],
                   in_axes=(0, None))(np.array([1.0, 2.0]), 3), [1.0, 8.0])


# ------------------------------------------------------------- fori_loop ---


def test_fori_loop():
    f = lambda x: lax.fori_loop(0, 5, lambda i, v: v * x + i, 1.0)  # noqa: E731

    def ref(x):
        v = 1.0
        for i in range(5):
            v = v * x + i
        return v

    _close(f(2.0), ref(2.0))
    eps = 1e-6
    num = (ref(2.0 + eps) - ref(2.0 - eps)) / (2 * eps)
    _close(cr.grad(f)(2.0), num, rtol=1e-7)
    _close(cr.jvp(f, (2.0,), (1.0,))[1], num, rtol=1e-7)
    check_grads(f, (0.8,), order=2)
    closed = cr.make_jaxpr(cr.grad(f))(2.0)
    assert "scan" in _prims(closed)  # static bounds: a scan, so reverse mode works staged
    _close(closed(2.0)[0], num, rtol=1e-7)
    xs = np.array([0.5, 1.0, 2.0])
    _close(cr.vmap(cr.grad(f))(xs), np.array([cr.grad(f)(x) for x in xs]))


def test_fori_loop_traced_bounds():
    def f(n, x):
        return lax.fori_loop(0, n, lambda i, v: v * x, 1.0)

    closed = cr.make_jaxpr(f)(3, 2.0)
    assert "while" in _prims(closed)
    _close(closed(np.array(3), np.array(2.0))[0], 8.0)
    _close(closed(np.array(5), np.array(2.0))[0], 32.0)
    # forward mode through the staged while works
    _close(cr.jvp(lambda x: closed(np.array(3), x)[0], (2.0,), (1.0,))[1], 12.0)
    _close(cr.vmap(f)(np.array([1, 2, 3]), np.array([2.0, 3.0, 4.0])), [2.0, 9.0, 64.0])


# ------------------------------------------------------------ while_loop ---


def newton_sqrt(a):
    """sqrt(a) by Newton's method on x^2 - a, to convergence."""
    def cond(c):
        x, _ = c
        return cnp.abs(x * x - a) > 1e-12 * a

    def body(c):
        x, n = c
        return 0.5 * (x + a / x), n + 1

    x, _ = lax.while_loop(cond, body, (a + 1.0, 0))
    return x


def test_while_loop_eager_newton_sqrt():
    for a in (2.0, 9.0, 1e4):
        _close(newton_sqrt(a), np.sqrt(a))
        # grad differentiates the iterations that ran (unrolled on the tape),
        # which at convergence is the derivative of sqrt
        _close(cr.grad(newton_sqrt)(a), 0.5 / np.sqrt(a), rtol=1e-8)
        _close(cr.jvp(newton_sqrt, (a,), (1.0,))[1], 0.5 / np.sqrt(a), rtol=1e-8)
        _close(cr.grad(cr.grad(newton_sqrt))(a), -0.25 * a ** -1.5, rtol=1e-6)


def collatz_steps(n):
    def body(c):
        n, k = c
        return cnp.where(n % 2 == 0, n // 2, 3 * n + 1), k + 1
    return lax.while_loop(lambda c: c[0] != 1, body, (n, 0))[1]


def _collatz_ref(n):
    k = 0
    while n != 1:
        n, k = (n // 2 if n % 2 == 0 else 3 * n + 1), k + 1
    return k


def test_while_loop_vmap_batched_termination():
    ns = np.array([1, 2, 3, 6, 7, 27])
    out = cr.vmap(collatz_steps)(ns)
    np.testing.assert_array_equal(out, [_collatz_ref(int(n)) for n in ns])
    assert out.dtype.kind == "i"
    a = np.array([1.0, 2.0, 100.0, 1e6])
    _close(cr.vmap(newton_sqrt)(a), np.sqrt(a))
    closed = cr.make_jaxpr(cr.vmap(newton_sqrt))(a)
    assert "while" in _prims(closed)
    _close(closed(a)[0], np.sqrt(a))
    # forward mode through the batched loop
    _close(cr.jvp(cr.vmap(newton_sqrt), (a,), (np.ones(4),))[1], 0.5 / np.sqrt(a), rtol=1e-8)


def test_while_loop_reverse_mode_of_the_primitive():
    # under vmap the predicate is batched, so the loop is a primitive; reverse
    # mode records its trip count (the longest in the batch) and replays it
    a = np.array([1.0, 2.0, 100.0, 1e6])
    expected = 0.5 / np.sqrt(a)
    _close(cr.vmap(cr.grad(newton_sqrt))(a), expected, rtol=1e-8)
    _close(cr.grad(lambda a: cnp.sum(cr.vmap(newton_sqrt)(a)))(a), expected, rtol=1e-8)
    _close(cr.jacrev(cr.vmap(newton_sqrt))(a), np.diag(expected), rtol=1e-8)
    # and a staged while_loop, evaluated eagerly, is differentiable too
    closed = cr.make_jaxpr(newton_sqrt)(2.0)
    assert "while" in _prims(closed)
    _close(cr.grad(lambda a: closed(a)[0])(2.0), 0.5 / np.sqrt(2.0), rtol=1e-8)
    check_grads(lambda a: closed(a)[0], (3.0,), order=1, modes=("rev",), rtol=1e-6)


def test_while_loop_max_steps_under_grad():
    def sqrt_bounded(a, steps=50):
        return lax.while_loop(lambda x: cnp.abs(x * x - a) > 1e-12 * a,
                              lambda x: 0.5 * (x + a / x), a, max_steps=steps)

    _close(sqrt_bounded(2.0), np.sqrt(2.0))
    _close(cr.grad(sqrt_bounded)(2.0), 0.5 / np.sqrt(2.0), rtol=1e-8)
    # traced predicate: the loop is a bounded scan that reverse mode handles
    closed = cr.make_jaxpr(cr.grad(sqrt_bounded))(2.0)
    assert "scan" in _prims(closed) and "while" not in _prims(closed)
    for a in (2.0, 9.0, 1e4):
        _close(closed(a)[0], 0.5 / np.sqrt(a), rtol=1e-8)
    _close(cr.jit(cr.grad(sqrt_bounded))(9.0), 1 / 6, rtol=1e-8)
    xs = np.array([2.0, 9.0, 1e4])
    _close(cr.vmap(cr.grad(sqrt_bounded))(xs), 0.5 / np.sqrt(xs), rtol=1e-8)
    # max_steps cuts the loop short, eagerly and staged alike
    x2 = 0.5 * (2.0 + 2.0 / 2.0)
    x2 = 0.5 * (x2 + 2.0 / x2)
    _close(sqrt_bounded(2.0, steps=2), x2)
    _close(cr.make_jaxpr(lambda a: sqrt_bounded(a, steps=2))(2.0)(2.0)[0], x2)


def test_while_loop_reverse_mode_with_traced_trip_count_is_refused():
    with pytest.raises(NotImplementedError, match="max_steps"):
        cr.make_jaxpr(cr.grad(newton_sqrt))(2.0)
    with pytest.raises(NotImplementedError, match="while_loop with a traced trip count"):
        cr.jit(cr.grad(newton_sqrt))(2.0)
    # forward mode is fine
    closed = cr.make_jaxpr(lambda a: cr.jvp(newton_sqrt, (a,), (1.0,))[1])(2.0)
    _close(closed(4.0)[0], 0.25, rtol=1e-8)


def test_while_loop_errors():
    with pytest.raises(TypeError, match=r"cond_fun must return a boolean scalar, got f64\[\]"):
        lax.while_loop(lambda c: c, lambda c: c - 1.0, 3.0)
    with pytest.raises(TypeError, match=r"cond_fun must return a boolean scalar, got f64\[\]"):
        cr.make_jaxpr(lambda a: lax.while_loop(lambda c: c, lambda c: c - 1.0, a))(3.0)
    with pytest.raises(TypeError, match=r"cond_fun must return a boolean scalar, got bool\[2\]"):
        lax.while_loop(lambda c: c > 0, lambda c: c - 1.0, np.ones(2))
    with pytest.raises(TypeError, match=r"shapes and dtypes.*f64\[\] became f32\[\]"):
        lax.while_loop(lambda c: c > 0, lambda c: (c - 1.0).astype(np.float32),
                       np.float64(3.0))
    with pytest.raises(TypeError, match=r"shapes and dtypes.*f64\[\] became f32\[\]"):
        cr.make_jaxpr(lambda a: lax.while_loop(
            lambda c: c > 0, lambda c: (c - 1.0).astype(np.float32), a))(3.0)
    with pytest.raises(TypeError, match="structure of init_val"):
        lax.while_loop(lambda c: c > 0, lambda c: (c - 1.0, c), 3.0)


# ------------------------------------------------------------ hypothesis ---


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 6), st.booleans(), st.integers(1, 3), st.integers(1, 4),
       st.integers(0, 2 ** 31 - 1))
def test_random_scans_match_python_loop(length, reverse, width, unroll, seed):
    """Values, gradients (also of the loop constant ``w``, whose cotangent
    is summed by one product after the loop) and JVPs against a Python loop."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(width, width)) * 0.5
    h0, xs = rng.normal(size=width), rng.normal(size=(length, width))

    def body(w, h, x):
        h = cnp.tanh(w @ h + x)
        return h, cnp.sum(h * x)

    def with_scan(w, h0, xs):
        h, ys = lax.scan(lambda h, x: body(w, h, x), h0, xs, reverse=reverse, unroll=unroll)
        return cnp.sum(h) + cnp.sum(ys * cnp.arange(1.0, length + 1.0))

    def with_loop(w, h0, xs):
        h, ys = h0, [None] * length
        for i in (range(length - 1, -1, -1) if reverse else range(length)):
            h, ys[i] = body(w, h, xs[i])
        total = cnp.sum(h)
        for i, y in enumerate(ys):
            total = total + y * (i + 1.0)
        return total

    args = (w, h0, xs)
    _close(with_scan(*args), with_loop(*args))
    ref = cr.grad(with_loop, argnums=(0, 1, 2))(*args)
    _close(cr.grad(with_scan, argnums=(0, 1, 2))(*args), ref)
    _close(cr.jit(cr.grad(with_scan, argnums=(0, 1, 2)))(*args), ref)
    t = tuple(rng.normal(size=np.shape(a)) for a in args)
    _close(cr.jvp(with_scan, args, t), cr.jvp(with_loop, args, t))
