"""lax.conv_general_dilated and its wrappers against a naive loop reference
(and against JAX when it is installed): layouts, strides, paddings,
dilations, feature and batch groups; derivatives to second order in both
modes, the VJP as the transpose of the JVP, vmap over every axis of each
operand against a loop, jit against eager, dtypes and errors. The
primitive's registry samples are also swept by test_primitives.py."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import lax
from chainrule.test_util import check_grads

RNG = np.random.default_rng(0)


# ------------------------------------------------------------ reference ---

def reference(x, w, strides, padding, lhs_dil, rhs_dil, G=1, B=1):
    """Canonical layout (N, C, X...), (O, I, K...): for each output position
    and kernel offset, the padded, dilated coordinate ``q = p*s + k*r - lo``
    is an input element iff ``q % a == 0`` and ``0 <= q // a < n``."""
    n, c = x.shape[:2]
    o, i = w.shape[:2]
    sp_in, sp_k = x.shape[2:], w.shape[2:]
    out_sp = []
    for m, k, s, (lo, hi), a, r in zip(sp_in, sp_k, strides, padding, lhs_dil, rhs_dil):
        size = (m - 1) * a + 1 + lo + hi
        kd = (k - 1) * r + 1
        out_sp.append(max(0, (size - kd) // s + 1) if size >= kd else 0)
    out = np.zeros((n // B, o) + tuple(out_sp), np.result_type(x, w))
    og, ob = o // G, o // B
    for p in itertools.product(*map(range, out_sp)):
        for k in itertools.product(*map(range, sp_k)):
            idx = []
            for pd, kd_, s, (lo, _), a, r, m in zip(p, k, strides, padding, lhs_dil,
                                                   rhs_dil, sp_in):
                q = pd * s + kd_ * r - lo
                if q % a or not 0 <= q // a < m:
                    break
                idx.append(q // a)
            else:
                for oc in range(o):
                    g, b = oc // og, oc // ob
                    xs = x[(slice(b * (n // B), (b + 1) * (n // B)), slice(g * i, (g + 1) * i))
                           + tuple(idx)]
                    out[(slice(None), oc) + p] += xs @ w[(oc, slice(None)) + k]
    return out


@st.composite
def configs(draw, max_nsp=2):
    nsp = draw(st.integers(1, max_nsp))
    G = draw(st.sampled_from([1, 1, 2, 3]))
    B = draw(st.sampled_from([1, 1, 2])) if G == 1 else 1
    i = draw(st.integers(1, 2))
    n = B * draw(st.integers(1, 2))
    o = G * B * draw(st.integers(1, 2))
    x_sp = tuple(draw(st.integers(1, 5)) for _ in range(nsp))
    k_sp = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    padding = tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(nsp))
    lhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    rhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    perms = [tuple(draw(st.permutations(range(nsp + 2)))) for _ in range(3)]
    return dict(x_shape=(n, i * G) + x_sp, w_shape=(o, i) + k_sp, strides=strides,
                padding=padding, lhs_dil=lhs_dil, rhs_dil=rhs_dil, G=G, B=B, dn=perms)


def _user(canon, spec):
    """An array in the layout ``spec`` from the canonical one."""
    return np.transpose(canon, np.argsort(spec))


def _conv_fn(cfg):
    dn = lax.ConvDimensionNumbers(*cfg["dn"])
    return lambda x, w: lax.conv_general_dilated(
        x, w, cfg["strides"], cfg["padding"], cfg["lhs_dil"], cfg["rhs_dil"], dn,
        cfg["G"], cfg["B"])


def _args(cfg, rng=RNG, dtype=np.float64):
    x = rng.normal(size=cfg["x_shape"]).astype(dtype)
    w = rng.normal(size=cfg["w_shape"]).astype(dtype)
    return x, w


# ---------------------------------------------------------------- values ---

@settings(max_examples=60, deadline=None)
@given(configs(max_nsp=3))
def test_values_vs_loop_reference(cfg):
    x, w = _args(cfg)
    want = reference(x, w, cfg["strides"], cfg["padding"], cfg["lhs_dil"], cfg["rhs_dil"],
                     cfg["G"], cfg["B"])
    lspec, rspec, ospec = cfg["dn"]
    got = np.asarray(_conv_fn(cfg)(_user(x, lspec), _user(w, rspec)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(np.transpose(got, ospec), want, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(configs(max_nsp=2), st.sampled_from([np.float64, np.float32, np.int64]))
def test_values_in_chunks_of_patch_rows(cfg, dtype):
    # the impl runs one GEMM per cache-sized chunk of the batch: with one
    # byte per chunk every entry of the leading axis is its own GEMM
    conv = __import__("chainrule.primitives.conv", fromlist=["_CHUNK_BYTES"])
    x, w = _args(cfg)
    if dtype == np.int64:
        x, w = np.round(3 * x).astype(dtype), np.round(3 * w).astype(dtype)
    want = reference(x.astype(np.float64), w.astype(np.float64), cfg["strides"],
                     cfg["padding"], cfg["lhs_dil"], cfg["rhs_dil"], cfg["G"], cfg["B"])
    lspec, rspec, ospec = cfg["dn"]
    saved, conv._CHUNK_BYTES = conv._CHUNK_BYTES, 1
    try:
        got = np.asarray(_conv_fn(cfg)(_user(x.astype(dtype), lspec),
                                       _user(w.astype(dtype), rspec)))
    finally:
        conv._CHUNK_BYTES = saved
    assert got.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.transpose(got, ospec), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", ["valid", "full", "same"])
def test_single_channel_is_scipy_correlate(mode):
    scipy_signal = pytest.importorskip("scipy.signal")
    x, w = RNG.normal(size=(6, 7)), RNG.normal(size=(3, 2))
    pads = {"valid": [(0, 0)] * 2, "full": [(2, 2), (1, 1)], "same": "SAME"}[mode]
    got = lax.conv(x[None, None], w[None, None], (1, 1), pads)[0, 0]
    want = scipy_signal.correlate(x, w, mode="valid" if mode == "valid" else "full")
    if mode == "same":  # SAME pads (k - 1) // 2 low, the rest high
        want = want[1:7, 1:8]
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("padding,shape", [("SAME", (2, 4, 3, 5)), ("VALID", (2, 4, 2, 4)),
                                           ("SAME_LOWER", (2, 4, 3, 5)),
                                           ([(1, -1), (0, 2)], (2, 4, 2, 5))])
def test_padding_strings_and_layout_strings(padding, shape):
    x = RNG.normal(size=(2, 5, 9, 3))  # NHWC
    w = RNG.normal(size=(3, 3, 3, 4))  # HWIO
    got = lax.conv_general_dilated(x, w, (2, 2), padding,
                                   dimension_numbers=("NHWC", "HWIO", "NCHW"))
    assert got.shape == shape
    dn = lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NCHW"))
    assert dn == lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 1, 2, 3))
    if isinstance(padding, str):
        pads = {"VALID": [(0, 0), (0, 0)], "SAME": [(1, 1), (1, 1)],
                "SAME_LOWER": [(1, 1), (1, 1)]}[padding]
    else:
        pads = padding
    want = reference(np.transpose(x, (0, 3, 1, 2)), np.transpose(w, (3, 2, 0, 1)), (2, 2),
                     pads, (1, 1), (1, 1))
    np.testing.assert_allclose(got, want, atol=1e-12)


JAX_CASES = [
    ((2, 5, 6, 3), (3, 3, 3, 4), (1, 1), "SAME", None, None, ("NHWC", "HWIO", "NHWC"), 1, 1),
    ((2, 5, 6, 3), (3, 2, 3, 4), (2, 1), "SAME_LOWER", None, (1, 2),
     ("NHWC", "HWIO", "NHWC"), 1, 1),
    ((2, 5, 6, 3), (3, 2, 3, 4), (2, 1), [(1, 0), (2, -1)], (2, 1), None,
     ("NHWC", "HWIO", "NCHW"), 1, 1),
    ((2, 3, 7), (4, 3, 3), (2,), [(-1, 2)], (1,), (2,), None, 1, 1),
    ((2, 6, 7), (6, 2, 3), (1,), "SAME", None, None, None, 3, 1),
    ((4, 6, 7), (4, 6, 3), (1,), "SAME", None, None, None, 1, 2),
    ((2, 4, 5, 3, 2), (2, 3, 2, 2, 4), (1, 2, 1), "SAME", None, None,
     ("NDHWC", "DHWIO", "NDHWC"), 1, 1),
]


@pytest.mark.parametrize("case", JAX_CASES, ids=str)
def test_values_and_grads_vs_jax(case):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    xs, ws, *rest = case
    x, w = RNG.normal(size=xs), RNG.normal(size=ws)
    got = lax.conv_general_dilated(x, w, *rest)
    want = jax.lax.conv_general_dilated(x, w, *rest)
    np.testing.assert_allclose(got, np.asarray(want), atol=1e-12)
    g = cr.grad(lambda x, w: cnp.sum(cnp.sin(lax.conv_general_dilated(x, w, *rest))),
                argnums=(0, 1))(x, w)
    gj = jax.grad(lambda x, w: jax.numpy.sum(jax.numpy.sin(
        jax.lax.conv_general_dilated(x, w, *rest))), argnums=(0, 1))(x, w)
    for a, b in zip(g, gj):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-11)


@pytest.mark.parametrize("padding", ["SAME", "VALID", [(1, 2), (0, 1)]])
@pytest.mark.parametrize("transpose_kernel", [False, True])
def test_conv_transpose_vs_jax(padding, transpose_kernel):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    x = RNG.normal(size=(2, 5, 4, 3))
    w = RNG.normal(size=(3, 2, 3, 4) if not transpose_kernel else (3, 2, 4, 3))
    got = lax.conv_transpose(x, w, (2, 2), padding, transpose_kernel=transpose_kernel)
    want = jax.lax.conv_transpose(x, w, (2, 2), padding, transpose_kernel=transpose_kernel)
    np.testing.assert_allclose(got, np.asarray(want), atol=1e-12)


def test_conv_transpose_with_transposed_kernel_is_the_input_gradient():
    x = RNG.normal(size=(1, 6, 6, 2))
    w = RNG.normal(size=(3, 3, 2, 4))
    dn = ("NHWC", "HWIO", "NHWC")
    y, pullback = cr.vjp(lambda x: lax.conv_general_dilated(x, w, (2, 2), "SAME",
                                                           dimension_numbers=dn), x)
    ct = RNG.normal(size=y.shape)
    (want,) = pullback(ct)
    got = lax.conv_transpose(ct, w, (2, 2), "SAME", dimension_numbers=dn,
                             transpose_kernel=True)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_conv_and_conv_with_general_padding():
    x, w = RNG.normal(size=(2, 3, 6, 5)), RNG.normal(size=(4, 3, 2, 2))
    np.testing.assert_allclose(lax.conv(x, w, (1, 2), "VALID"),
                               reference(x, w, (1, 2), [(0, 0)] * 2, (1, 1), (1, 1)),
                               atol=1e-12)
    got = lax.conv_with_general_padding(x, w, (2, 1), [(1, 0), (0, 1)], (2, 1), (1, 2))
    np.testing.assert_allclose(got, reference(x, w, (2, 1), [(1, 0), (0, 1)], (2, 1), (1, 2)),
                               atol=1e-12)


# ----------------------------------------------------------- derivatives ---

GRAD_CASES = [
    dict(x_shape=(2, 2, 5), w_shape=(3, 2, 2), strides=(2,), padding=((1, 0),),
         lhs_dil=(1,), rhs_dil=(2,), G=1, B=1, dn=[(0, 1, 2)] * 3),
    dict(x_shape=(1, 4, 4, 3), w_shape=(4, 2, 2, 2), strides=(1, 2), padding=((0, 1), (1, -1)),
         lhs_dil=(2, 1), rhs_dil=(1, 1), G=2, B=1, dn=[(0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2)]),
    dict(x_shape=(4, 2, 5), w_shape=(4, 2, 2), strides=(1,), padding=((1, 1),),
         lhs_dil=(1,), rhs_dil=(1,), G=1, B=2, dn=[(0, 1, 2)] * 3),
    dict(x_shape=(1, 3, 5), w_shape=(3, 1, 3), strides=(2,), padding=((2, 1),),
         lhs_dil=(1,), rhs_dil=(1,), G=3, B=1, dn=[(2, 1, 0), (0, 1, 2), (1, 0, 2)]),
]


@pytest.mark.parametrize("cfg", GRAD_CASES, ids=lambda c: f"G{c['G']}B{c['B']}{c['x_shape']}")
def test_check_grads_order_two(cfg):
    lspec, rspec, _ = cfg["dn"]
    x, w = _args(cfg)
    f = _conv_fn(cfg)
    check_grads(lambda x, w: cnp.tanh(f(x, w)), (_user(x, lspec), _user(w, rspec)), order=2,
                modes=("fwd", "rev"))


@settings(max_examples=25, deadline=None)
@given(configs(), st.integers(0, 2**31))
def test_vjp_is_transpose_of_jvp(cfg, seed):
    rng = np.random.default_rng(seed)
    lspec, rspec, _ = cfg["dn"]
    x, w = _args(cfg, rng)
    x, w = _user(x, lspec), _user(w, rspec)
    f = _conv_fn(cfg)
    tx, tw = rng.normal(size=x.shape), rng.normal(size=w.shape)
    y, jt = cr.jvp(f, (x, w), (tx, tw))
    c = rng.normal(size=np.shape(y))
    _, pullback = cr.vjp(f, x, w)
    cx, cw = pullback(c)
    lhs = np.sum(np.asarray(jt) * c)
    rhs = np.sum(tx * np.asarray(cx)) + np.sum(tw * np.asarray(cw))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


def test_hessian_and_jvp_of_grad():
    x, w = RNG.normal(size=(1, 2, 4)), RNG.normal(size=(2, 2, 2))
    f = lambda x: cnp.sum(lax.conv(x, w, (1,), "SAME") ** 3)  # noqa: E731
    h = np.asarray(cr.hessian(f)(x)).reshape(x.size, x.size)
    t = RNG.normal(size=x.shape)
    _, hvp = cr.jvp(cr.grad(f), (x,), (t,))
    np.testing.assert_allclose(np.asarray(hvp).ravel(), h @ t.ravel(), atol=1e-10)
    np.testing.assert_allclose(h, h.T, atol=1e-10)


# -------------------------------------------------------------- batching ---

VMAP_CASES = [GRAD_CASES[0], GRAD_CASES[1], GRAD_CASES[2], GRAD_CASES[3]]


@pytest.mark.parametrize("cfg", VMAP_CASES, ids=lambda c: f"G{c['G']}B{c['B']}{c['x_shape']}")
def test_vmap_over_every_axis_vs_loop(cfg):
    lspec, rspec, _ = cfg["dn"]
    f = _conv_fn(cfg)
    x, w = _args(cfg)
    x, w = _user(x, lspec), _user(w, rspec)
    size = 3
    xs = RNG.normal(size=(size,) + x.shape)
    ws = RNG.normal(size=(size,) + w.shape)
    for ax in range(x.ndim + 1):
        got = cr.vmap(f, in_axes=(ax, None))(np.moveaxis(xs, 0, ax), w)
        want = np.stack([np.asarray(f(xs[k], w)) for k in range(size)])
        np.testing.assert_allclose(got, want, atol=1e-12)
    for ax in range(w.ndim + 1):
        got = cr.vmap(f, in_axes=(None, ax))(x, np.moveaxis(ws, 0, ax))
        want = np.stack([np.asarray(f(x, ws[k])) for k in range(size)])
        np.testing.assert_allclose(got, want, atol=1e-12)
    for ax, bx in [(0, 0), (x.ndim, 1), (1, w.ndim)]:
        got = cr.vmap(f, in_axes=(ax, bx))(np.moveaxis(xs, 0, ax), np.moveaxis(ws, 0, bx))
        want = np.stack([np.asarray(f(xs[k], ws[k])) for k in range(size)])
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_vmap_of_grad_vs_loop():
    cfg = GRAD_CASES[1]
    f = _conv_fn(cfg)
    lspec, rspec, _ = cfg["dn"]
    x, w = _args(cfg)
    w = _user(w, rspec)
    xs = RNG.normal(size=(3,) + _user(x, lspec).shape)
    g = cr.grad(lambda x, w: cnp.sum(cnp.tanh(f(x, w))), argnums=1)
    got = cr.vmap(g, in_axes=(0, None))(xs, w)
    want = np.stack([np.asarray(g(xs[k], w)) for k in range(3)])
    np.testing.assert_allclose(got, want, atol=1e-12)


# ------------------------------------------------------------ jit, dtypes ---

def test_jit_vs_eager_with_grad():
    cfg = GRAD_CASES[1]
    f = _conv_fn(cfg)
    lspec, rspec, _ = cfg["dn"]
    x, w = _args(cfg)
    x, w = _user(x, lspec), _user(w, rspec)
    loss = lambda x, w: cnp.sum(cnp.maximum(f(x, w) + 0.1, 0.0) ** 2)  # noqa: E731
    vg = cr.value_and_grad(loss, argnums=(0, 1))
    v1, g1 = cr.jit(vg)(x, w)
    v2, g2 = vg(x, w)
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_float32_and_integer_keep_their_dtype():
    cfg = GRAD_CASES[1]
    lspec, rspec, _ = cfg["dn"]
    x, w = _args(cfg, dtype=np.float32)
    x, w = _user(x, lspec), _user(w, rspec)
    f = _conv_fn(cfg)
    y = f(x, w)
    assert y.dtype == np.float32
    assert cr.jit(f)(x, w).dtype == np.float32
    gx, gw = cr.grad(lambda x, w: cnp.sum(f(x, w)), argnums=(0, 1))(x, w)
    assert gx.dtype == np.float32 and gw.dtype == np.float32
    np.testing.assert_allclose(y, f(x.astype(np.float64), w.astype(np.float64)), rtol=1e-4,
                               atol=1e-4)
    xi = RNG.integers(-3, 4, size=(2, 2, 5)).astype(np.int32)
    wi = RNG.integers(-3, 4, size=(3, 2, 2)).astype(np.int32)
    yi = lax.conv(xi, wi, (1,), "SAME")
    assert yi.dtype == np.int32
    np.testing.assert_array_equal(yi, reference(xi, wi, (1,), [(0, 1)], (1,), (1,)))
    assert lax.conv(xi, wi, (1,), "VALID", preferred_element_type=np.float64).dtype == \
        np.float64


def test_complex_values():
    x = RNG.normal(size=(1, 2, 5)) + 1j * RNG.normal(size=(1, 2, 5))
    w = RNG.normal(size=(2, 2, 3)) + 1j * RNG.normal(size=(2, 2, 3))
    np.testing.assert_allclose(lax.conv(x, w, (1,), [(1, 1)]),
                               reference(x, w, (1,), [(1, 1)], (1,), (1,)), atol=1e-12)


# ---------------------------------------------------------------- errors ---

@pytest.mark.parametrize("x_shape,w_shape,kw,match", [
    ((1, 3, 5), (2, 2, 3), {}, "input features"),
    ((1, 4, 5), (3, 2, 3), {"feature_group_count": 2}, "not divisible by feature_group"),
    ((3, 2, 5), (2, 2, 3), {"batch_group_count": 2}, "divisible by batch_group_count"),
    ((1, 2, 5), (2, 2, 3, 3), {}, "same number of axes"),
    ((1, 2, 5), (2, 2, 3), {"window_strides": (1, 1)}, "one per spatial"),
    ((1, 2, 5), (2, 2, 3), {"window_strides": (0,)}, "positive"),
    ((1, 2, 5), (2, 2, 3), {"padding": "FULL"}, "SAME"),
    ((1, 2, 5), (2, 2, 3), {"padding": "SAME", "lhs_dilation": (2,)}, "conv_transpose"),
    ((1, 2, 5), (2, 2, 3), {"dimension_numbers": ("NCH", "OIW", "NCH")}, "spatial letters"),
    ((2, 2, 5), (2, 2, 3), {"feature_group_count": 2, "batch_group_count": 2},
     "at most one"),
])
def test_errors(x_shape, w_shape, kw, match):
    kw = {"window_strides": (1,), "padding": "VALID", **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        lax.conv_general_dilated(np.ones(x_shape), np.ones(w_shape), **kw)


def test_same_lower_puts_the_odd_pad_first():
    x, w = RNG.normal(size=(1, 1, 4)), RNG.normal(size=(1, 1, 2))
    np.testing.assert_allclose(lax.conv(x, w, (1,), "SAME"),
                               reference(x, w, (1,), [(0, 1)], (1,), (1,)), atol=1e-12)
    np.testing.assert_allclose(lax.conv(x, w, (1,), "SAME_LOWER"),
                               reference(x, w, (1,), [(1, 0)], (1,), (1,)), atol=1e-12)


def test_empty_output_has_zero_gradients():
    x, w = np.ones((1, 1, 2)), np.ones((1, 1, 3))
    assert lax.conv(x, w, (1,), "VALID").shape == (1, 1, 0)
    gx, gw = cr.grad(lambda x, w: cnp.sum(lax.conv(x, w, (1,), "VALID")), argnums=(0, 1))(x, w)
    np.testing.assert_array_equal(gx, np.zeros_like(x))
    np.testing.assert_array_equal(gw, np.zeros_like(w))
