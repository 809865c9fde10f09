"""vmap: axis specifications, every primitive's batch rule against a Python
loop, per-example gradients, and vmap composed with the other transforms."""

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import nn
from chainrule.core import registry

RNG = np.random.default_rng(0)


def _loop(f, *args, in_axes=0):
    """The reference: call ``f`` per batch element and stack (batch axis 0)."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    sizes = {np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None}
    (n,) = sizes
    outs = [f(*[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, axes)])
            for i in range(n)]
    return cr.tree_util.tree_map(lambda *o: np.stack([np.asarray(v) for v in o]), *outs)


def _close(a, b, **kw):
    kw.setdefault("rtol", 1e-10)
    kw.setdefault("atol", 1e-12)
    la, ta = cr.tree_util.tree_flatten(a)
    lb, tb = cr.tree_util.tree_flatten(b)
    assert ta == tb, (ta, tb)
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, (x.shape, y.shape)
        assert x.dtype == y.dtype, (x.dtype, y.dtype)
        np.testing.assert_allclose(x, y, equal_nan=True, **kw)


# ----------------------------------------------------------- in/out axes ---


def f2(x, y):
    return cnp.sin(x) * y + cnp.sum(x)


def test_in_axes_int_and_default():
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    _close(cr.vmap(f2)(x, y), _loop(f2, x, y))
    _close(cr.vmap(f2, in_axes=0)(x, y), _loop(f2, x, y))
    _close(cr.vmap(f2, in_axes=1)(x.T, y.T), _loop(f2, x, y))


def test_in_axes_none_and_tuple():
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(3,))
    out = cr.vmap(f2, in_axes=(0, None))(x, y)
    _close(out, _loop(f2, x, y, in_axes=(0, None)))
    out = cr.vmap(f2, in_axes=(None, 0))(y, x)
    _close(out, _loop(f2, y, x, in_axes=(None, 0)))
    out = cr.vmap(f2, in_axes=[1, None])(x.T, y)  # a list works like a tuple
    _close(out, _loop(f2, x, y, in_axes=(0, None)))


def test_negative_axes():
    x = RNG.normal(size=(2, 3, 5))
    f = lambda x: cnp.sum(x ** 2, axis=0) + x[1]  # noqa: E731
    expected = _loop(f, x, in_axes=2)
    _close(cr.vmap(f, in_axes=-1)(x), expected)
    _close(cr.vmap(f, in_axes=-1, out_axes=-1)(x), np.moveaxis(expected, 0, -1))
    _close(cr.vmap(f, in_axes=2, out_axes=1)(x), np.moveaxis(expected, 0, 1))


def test_pytree_in_axes_dict_and_nested_tuple():
    params = {"w": RNG.normal(size=(3, 2)), "b": RNG.normal(size=(5, 2))}
    x = RNG.normal(size=(5, 3))

    def f(p, x):
        return cnp.tanh(x @ p["w"] + p["b"])

    out = cr.vmap(f, in_axes=({"w": None, "b": 0}, 0))(params, x)
    expected = np.stack([np.tanh(x[i] @ params["w"] + params["b"][i]) for i in range(5)])
    _close(out, expected)
    # a nested tuple prefix
    g = lambda ab, c: ab[0] * ab[1] + c  # noqa: E731
    a, b, c = RNG.normal(size=(2,)), RNG.normal(size=(2, 4)), RNG.normal(size=())
    out = cr.vmap(g, in_axes=((None, 1), None))((a, b), c)
    _close(out, np.stack([a * b[:, i] + c for i in range(4)]))


def test_pytree_out_axes():
    x = RNG.normal(size=(4, 3))

    def f(x):
        return {"s": cnp.sum(x), "v": x * 2.0}, (x[0], cnp.cos(x))

    out = cr.vmap(f, out_axes=({"s": 0, "v": 1}, (0, -1)))(x)
    assert out[0]["s"].shape == (4,)
    _close(out[0]["s"], x.sum(1))
    _close(out[0]["v"], (x * 2.0).T)
    _close(out[1][0], x[:, 0])
    _close(out[1][1], np.cos(x).T)


def test_out_axes_none_for_unbatched_output():
    x = RNG.normal(size=(4, 3))
    c = RNG.normal(size=(2,))
    out = cr.vmap(lambda x: (x + 1.0, c * 2.0), out_axes=(0, None))(x)
    _close(out[0], x + 1.0)
    _close(out[1], c * 2.0)
    with pytest.raises(ValueError, match="out_axes=None"):
        cr.vmap(lambda x: x + 1.0, out_axes=None)(x)


def test_unbatched_output_is_broadcast():
    x = RNG.normal(size=(4, 3))
    c = RNG.normal(size=(2,))
    out = cr.vmap(lambda x: c)(x)
    _close(out, np.broadcast_to(c, (4, 2)))


def test_axis_size_without_batched_argument():
    c = RNG.normal(size=(3,))
    out = cr.vmap(lambda c: cnp.sin(c), in_axes=None, axis_size=5)(c)
    _close(out, np.broadcast_to(np.sin(c), (5, 3)))
    out = cr.vmap(lambda: cnp.ones(2), axis_size=3)()
    _close(out, np.ones((3, 2)))
    with pytest.raises(ValueError, match="axis_size"):
        cr.vmap(lambda c: c, in_axes=None)(c)


def test_errors():
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(5, 3))
    with pytest.raises(ValueError, match=r"different sizes.*\[4, 5\]"):
        cr.vmap(f2)(x, y)
    with pytest.raises(ValueError, match="in_axes has 3 entries but there are 2 arguments"):
        cr.vmap(f2, in_axes=(0, 0, 0))(x, x)
    with pytest.raises(ValueError, match="out of range"):
        cr.vmap(f2, in_axes=(2, 0))(x, x)
    with pytest.raises(ValueError, match="out of range"):
        cr.vmap(f2, in_axes=(-3, 0))(x, x)
    with pytest.raises(ValueError, match="keys"):
        cr.vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": x})
    with pytest.raises(TypeError, match="expected arrays"):
        cr.vmap(lambda s: s)("not an array")


# ---------------------------------------------- every primitive's rule ---

# Primitives whose operands are inner functions: their batch rules are
# tested through their public APIs (tests/test_control_flow.py,
# test_custom.py, test_checkpoint.py and below).
WITHOUT_SAMPLES = {"cond", "scan", "while", "saved", "checkpoint", "custom_jvp_call",
                   "custom_vjp_call", "jit"}



def test_every_primitive_has_a_batch_rule():
    missing = sorted(n for n, p in registry.items() if p.batch is None)
    assert not missing, f"primitives without a vmap rule: {missing}"


def _variants(n):
    """in_axes per operand: all at axis 0, all at the last axis, each alone."""
    out = [("axis0", (0,) * n), ("last", (-1,) * n)]
    if n > 1:
        out += [(f"only{j}", tuple(0 if i == j else None for i in range(n)))
                for j in range(n)]
    return out


def _batch_cases():
    cases = []
    for name in sorted(registry):
        prim = registry[name]
        if prim.samples is None:
            continue
        seed = zlib.crc32(name.encode())
        triples = [prim.samples(np.random.default_rng(seed + k)) for k in range(3)]
        for i in range(len(triples[0])):
            samples = [t[i] for t in triples]
            cases.append(pytest.param(prim, samples, id=f"{name}-{i}"))
    return cases


@pytest.mark.parametrize("prim,samples", _batch_cases())
def test_batch_rule_matches_loop(prim, samples):
    """vmap over 3 stacked samples equals binding per sample, for every
    operand batched at axis 0, at the last axis, and each operand alone."""
    args0, params = samples[0]
    n = len(args0)
    for args, p in samples:  # the three draws differ only in values
        assert repr(p) == repr(params)
        assert [np.shape(a) for a in args] == [np.shape(a) for a in args0]
    for label, axes in _variants(n):
        per = [[a[j] if axes[j] is not None else args0[j] for j in range(n)]
               for a, _ in samples]
        ins = [args0[j] if axes[j] is None
               else np.stack([np.asarray(p[j]) for p in per], axis=axes[j])
               for j in range(n)]
        out = cr.vmap(lambda *xs: prim.bind(*xs, **params), in_axes=axes)(*ins)
        refs = [prim.bind(*p, **params) for p in per]
        outs = list(out) if prim.multiple_results else [out]
        refs = [list(r) if prim.multiple_results else [r] for r in refs]
        assert len(outs) == len(refs[0])
        for k, o in enumerate(outs):
            expected = np.stack([np.asarray(r[k]) for r in refs])
            assert o.shape == expected.shape, (label, k, o.shape, expected.shape)
            assert o.dtype == expected.dtype, (label, k, o.dtype, expected.dtype)
            np.testing.assert_allclose(o, expected, rtol=1e-9, atol=1e-11, equal_nan=True,
                                       err_msg=f"{prim.name} {label} output {k}")


def test_column_gather_under_vmap_of_grad():
    xs = RNG.normal(size=(2, 3, 4))
    idx = np.array([0, 2])
    f = lambda x: cnp.sum(x[:, idx] ** 2)  # noqa: E731
    mask = np.zeros((3, 4))
    mask[:, idx] = 1
    _close(np.stack([cr.grad(f)(x) for x in xs]), 2 * xs * mask)
    _close(cr.vmap(cr.grad(f))(xs), 2 * xs * mask)


def test_column_gather_with_batched_indices():
    xs = RNG.normal(size=(2, 3, 4))
    ix = np.array([[0, 2], [1, 3]])
    out = cr.vmap(lambda x, i: x[:, i])(xs, ix)
    _close(out, np.stack([xs[b][:, ix[b]] for b in range(2)]))


# ----------------------------------------------- per-example gradients ---


def _mlp_params(rng, sizes):
    return [{"w": rng.normal(size=(m, n)) / np.sqrt(m), "b": rng.normal(size=(n,)) * 0.1}
            for m, n in zip(sizes[:-1], sizes[1:])]


def _mlp(params, x):
    for layer in params[:-1]:
        x = cnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _xent(params, x, y):
    """Softmax cross-entropy of one example with an integer label."""
    return -nn.log_softmax(_mlp(params, x))[y]


def test_per_example_gradients_match_a_loop():
    rng = np.random.default_rng(1)
    params = _mlp_params(rng, [6, 8, 8, 4])
    xs = rng.normal(size=(7, 6))
    ys = rng.integers(0, 4, size=7)
    g = cr.vmap(cr.grad(_xent), in_axes=(None, 0, 0))(params, xs, ys)
    loop = [cr.grad(_xent)(params, x, y) for x, y in zip(xs, ys)]
    expected = cr.tree_util.tree_map(lambda *o: np.stack(o), *loop)
    _close(g, expected)
    # the loop itself is right: the mean of per-example gradients is the
    # gradient of the mean loss
    mean_loss = lambda p: cnp.mean(cr.vmap(_xent, in_axes=(None, 0, 0))(p, xs, ys))  # noqa
    _close(cr.tree_util.tree_map(lambda a: a.mean(0), g), cr.grad(mean_loss)(params),
           rtol=1e-9)
    # and the softmax cross-entropy gradient of the last bias is p - onehot
    logits = np.stack([_mlp(params, x) for x in xs])
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    _close(g[-1]["b"], p - np.eye(4)[ys])


def test_per_example_gradients_under_jit():
    rng = np.random.default_rng(2)
    params = _mlp_params(rng, [3, 4, 2])
    xs, ys = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)
    f = cr.vmap(cr.grad(_xent), in_axes=(None, 0, 0))
    _close(cr.jit(f)(params, xs, ys), f(params, xs, ys), rtol=1e-9)


# ------------------------------------------------------- compositions ---


def g3(x):
    return cnp.stack([cnp.sum(cnp.sin(x) * x), x[0] * x[1] ** 2, cnp.prod(cnp.exp(x / 3))])


def _jac_ref(x):
    c = np.cos(x) * x + np.sin(x)
    e = np.exp(x / 3)
    return np.array([c, [x[1] ** 2, 2 * x[0] * x[1], 0.0], np.prod(e) / 3 * np.ones(3)])


def test_vmap_of_jacrev_and_jacfwd():
    xs = RNG.normal(size=(4, 3))
    expected = np.stack([_jac_ref(x) for x in xs])
    _close(cr.vmap(cr.jacrev(g3))(xs), expected, rtol=1e-9)
    _close(cr.vmap(cr.jacfwd(g3))(xs), expected, rtol=1e-9)


def test_jacrev_of_vmap():
    xs = RNG.normal(size=(4, 3))
    jac = cr.jacrev(cr.vmap(g3))(xs)  # (4, 3) -> (4, 3): block diagonal in the batch
    assert jac.shape == (4, 3, 4, 3)
    for i in range(4):
        for j in range(4):
            _close(jac[i, :, j, :], _jac_ref(xs[i]) if i == j else np.zeros((3, 3)),
                   rtol=1e-9)
    _close(cr.jacfwd(cr.vmap(g3))(xs), jac, rtol=1e-9)


def test_vmap_of_vmap():
    x = RNG.normal(size=(2, 3, 4))
    y = RNG.normal(size=(3,))
    f = lambda a, b: cnp.sum(a * b[0]) + cnp.tanh(a)  # noqa: E731
    out = cr.vmap(cr.vmap(f, in_axes=(0, None)), in_axes=(1, None))(x, y)
    expected = np.stack([np.stack([np.sum(x[i, j] * y[0]) + np.tanh(x[i, j])
                                   for i in range(2)]) for j in range(3)])
    _close(out, expected)
    # inner batch over the last axis, outer over the first
    out = cr.vmap(cr.vmap(lambda v: v @ v, in_axes=-1), in_axes=0)(x)
    _close(out, np.einsum("ijk,ijk->ik", x, x))


def test_vmap_of_hessian():
    xs = RNG.normal(size=(3, 4))
    f = lambda x: cnp.sum(x ** 3) + cnp.prod(x[:2])  # noqa: E731

    def ref(x):
        h = np.diag(6 * x)
        h[0, 1] += 1.0
        h[1, 0] += 1.0
        return h

    _close(cr.vmap(cr.hessian(f))(xs), np.stack([ref(x) for x in xs]), rtol=1e-9)


def test_vmap_of_jvp_and_vjp():
    xs, ts = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    out, t = cr.vmap(lambda x, t: cr.jvp(g3, (x,), (t,)))(xs, ts)
    _close(out, np.stack([np.asarray(g3(x)) for x in xs]))
    _close(t, np.einsum("bij,bj->bi", np.stack([_jac_ref(x) for x in xs]), ts), rtol=1e-9)
    cts = RNG.normal(size=(4, 3))
    (ct_in,) = cr.vmap(lambda x, c: cr.vjp(g3, x)[1](c))(xs, cts)
    _close(ct_in, np.einsum("bij,bi->bj", np.stack([_jac_ref(x) for x in xs]), cts),
           rtol=1e-9)


def test_grad_of_vmap():
    xs = RNG.normal(size=(5, 3))
    f = lambda x: cnp.sum(cr.vmap(lambda r: cnp.sum(cnp.sin(r)) ** 2)(x))  # noqa: E731
    expected = 2 * np.sin(xs).sum(1, keepdims=True) * np.cos(xs)
    _close(cr.grad(f)(xs), expected, rtol=1e-9)


@pytest.mark.parametrize("chunk_size", [1, 2, 5, 100])
def test_jacobians_with_chunk_size(chunk_size):
    x = {"a": RNG.normal(size=(2,)), "b": RNG.normal(size=(3,))}

    def f(p):
        return {"u": cnp.tanh(p["a"]) * cnp.sum(p["b"]), "v": p["b"] ** 2 * p["a"][0]}

    for jac in (cr.jacfwd, cr.jacrev):
        _close(jac(f, chunk_size=chunk_size)(x), jac(f)(x), rtol=1e-12)
    _close(cr.jacfwd(f, chunk_size=chunk_size)(x), cr.jacrev(f, chunk_size=chunk_size)(x),
           rtol=1e-9)
    y = RNG.normal(size=(4,))
    _close(cr.jacrev(g3, chunk_size=chunk_size)(y[:3]), _jac_ref(y[:3]), rtol=1e-9)
    _close(cr.jacfwd(g3, chunk_size=chunk_size)(y[:3]), _jac_ref(y[:3]), rtol=1e-9)


# ------------------------------------------------------------ hypothesis ---



def _composite(x, y):
    """Elementwise, reduction, broadcasting, matmul and indexing in one."""
    z = cnp.tanh(x) * y[..., :1] + cnp.sum(y ** 2, axis=-1, keepdims=True)
    return {"z": z, "m": z @ cnp.ones((z.shape[-1], 2)), "first": x[..., 0]}


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from([0, 1, -1, None]), st.sampled_from([0, 1, -1, None]),
       st.sampled_from([0, 1, -1]), st.integers(0, 2 ** 31 - 1))
def test_random_axes_match_loop(n, a, b, ax_x, ax_y, out_ax, seed):
    """vmap with random batch sizes, shapes and in/out axes equals a loop."""
    if ax_x is None and ax_y is None:
        ax_y = 0
    rng = np.random.default_rng(seed)
    x0, y0 = rng.normal(size=(n, a, b)), rng.normal(size=(n, a, 3))
    x = x0[0] if ax_x is None else np.moveaxis(x0, 0, ax_x)
    y = y0[0] if ax_y is None else np.moveaxis(y0, 0, ax_y)
    out = cr.vmap(_composite, in_axes=(ax_x, ax_y), out_axes=out_ax)(x, y)
    per = [_composite(x0[0] if ax_x is None else x0[i], y0[0] if ax_y is None else y0[i])
           for i in range(n)]
    for k in ("z", "m", "first"):
        expected = np.moveaxis(np.stack([np.asarray(p[k]) for p in per]), 0, out_ax)
        _close(out[k], expected)
    g = cr.vmap(cr.grad(lambda x, y: cnp.sum(_composite(x, y)["m"] ** 2)),
                in_axes=(ax_x, ax_y))(x, y)
    g_loop = [cr.grad(lambda x, y: cnp.sum(_composite(x, y)["m"] ** 2))(
        x0[0] if ax_x is None else x0[i], y0[0] if ax_y is None else y0[i]) for i in range(n)]
    _close(g, np.stack(g_loop))
