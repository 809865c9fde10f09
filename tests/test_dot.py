"""dot_general and NumPy's products (matmul, dot, tensordot, einsum, ...):
values against NumPy, shape errors, and derivatives in both modes."""

import string

import numpy as np
import pytest

import chainrule
from chainrule.core import get_aval
from chainrule.numpy import _dot as cd
from chainrule.primitives.dot import dot_general, dot_general_p
from chainrule.test_util import check_grads

rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float64):
    return rng.normal(size=shape).astype(dtype)


def ref_dot_general(lhs, rhs, dimension_numbers):
    """dot_general written as np.einsum, as an independent reference."""
    (lc, rc), (lb, rb) = dimension_numbers
    letters = iter(string.ascii_letters)
    ll = [next(letters) for _ in range(lhs.ndim)]
    rl = [next(letters) for _ in range(rhs.ndim)]
    for i, j in zip(lc + lb, rc + rb, strict=True):
        rl[j] = ll[i]
    out = ([ll[i] for i in lb] + [c for i, c in enumerate(ll) if i not in lc + lb]
           + [c for i, c in enumerate(rl) if i not in rc + rb])
    return np.einsum(f"{''.join(ll)},{''.join(rl)}->{''.join(out)}", lhs, rhs)


# ------------------------------------------------------------ the primitive --

NB = ((), ())
DOT_CASES = [
    ((2, 3), (3, 4), (((1,), (0,)), NB)),
    ((3, 2), (3, 4), (((0,), (0,)), NB)),          # x.T @ y
    ((2, 3), (4, 3), (((1,), (1,)), NB)),          # x @ y.T
    ((3, 2), (4, 3), (((0,), (1,)), NB)),          # x.T @ y.T
    ((3,), (3, 4), (((0,), (0,)), NB)),
    ((2, 3), (3,), (((1,), (0,)), NB)),
    ((3,), (3,), (((0,), (0,)), NB)),
    ((4, 2, 3), (3, 5), (((2,), (0,)), NB)),       # one GEMM over leading axes
    ((4, 2, 3), (3,), (((2,), (0,)), NB)),
    ((5, 2, 3), (5, 3, 4), (((2,), (1,)), ((0,), (0,)))),
    ((5, 3, 2), (5, 4, 3), (((1,), (2,)), ((0,), (0,)))),
    ((2, 5, 2, 3), (2, 5, 3, 4), (((3,), (2,)), ((0, 1), (0, 1)))),
    ((2, 4, 3), (3, 5, 2), (((2,), (0,)), ((0,), (2,)))),
    ((2, 3, 4, 5), (4, 6, 3), (((1, 2), (2, 0)), NB)),
    ((2, 3), (4,), (((), ()), NB)),
    ((), (3,), (((), ()), NB)),
    ((), (), (((), ()), NB)),
    ((3, 4, 2), (2, 4, 3), (((0, 1), (2, 1)), ((2,), (0,)))),
    ((4, 2, 3), (4, 2, 5), (((0, 1), (0, 1)), NB)),   # no-copy transposed views
    ((3, 4, 2), (5, 3, 4), (((0, 1), (1, 2)), NB)),
    ((6, 2, 5, 3), (6, 4, 2, 5), (((1, 2), (2, 3)), ((0,), (0,)))),
    ((0, 3), (3, 4), (((1,), (0,)), NB)),          # empty free axis
    ((2, 0), (0, 4), (((1,), (0,)), NB)),          # empty contraction: zeros
]


@pytest.mark.parametrize("ls,rs,dims", DOT_CASES)
def test_dot_general_values_and_shapes(ls, rs, dims):
    lhs, rhs = randn(*ls), randn(*rs)
    out = dot_general(lhs, rhs, dims)
    expected = ref_dot_general(lhs, rhs, dims)
    assert isinstance(out, np.ndarray)
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    aval = dot_general_p.abstract_eval(get_aval(lhs), get_aval(rhs), dimension_numbers=dims)
    assert aval.shape == expected.shape


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32, np.complex128])
def test_dot_general_keeps_dtype(dtype):
    lhs = (randn(3, 2, 4) * 3).astype(dtype)
    rhs = (randn(3, 4, 5) * 3).astype(dtype)
    dims = (((2,), (1,)), ((0,), (0,)))
    out = dot_general(lhs, rhs, dims)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref_dot_general(lhs, rhs, dims), rtol=1e-5)


@pytest.mark.parametrize("ls,rs,dims", [c for c in DOT_CASES if 0 not in c[0] + c[1]])
def test_dot_general_grads(ls, rs, dims):
    check_grads(lambda a, b: dot_general(a, b, dims), (randn(*ls), randn(*rs)), order=2)


def test_dot_general_samples_cover_grads():
    for args, params in dot_general_p.samples(np.random.default_rng(1)):
        np.testing.assert_allclose(dot_general_p.bind(*args, **params),
                                   ref_dot_general(*args, params["dimension_numbers"]))
        check_grads(lambda a, b, params=params: dot_general_p.bind(a, b, **params), args,
                    order=2)


def test_dot_general_vjp_only_computes_what_is_wanted():
    x, w = randn(2, 3), randn(3, 4)
    dims = (((1,), (0,)), NB)
    ct = randn(2, 4)
    out = dot_general(x, w, dims)
    cx, cw = dot_general_p.vjp(ct, out, x, w, wants=(True, False), dimension_numbers=dims)
    assert cw is None
    np.testing.assert_allclose(cx, ct @ w.T)
    cx, cw = dot_general_p.vjp(ct, out, x, w, wants=(False, True), dimension_numbers=dims)
    assert cx is None
    np.testing.assert_allclose(cw, x.T @ ct)


def test_dot_general_jvp_skips_zero_tangents():
    x, w = randn(2, 3), randn(3, 4)
    dims = (((1,), (0,)), NB)
    out = x @ w
    assert dot_general_p.jvp((x, w), (None, None), out, dimension_numbers=dims) is None
    tw = randn(3, 4)
    np.testing.assert_allclose(
        dot_general_p.jvp((x, w), (None, tw), out, dimension_numbers=dims), x @ tw)


@pytest.mark.parametrize("ls,rs,dims,msg", [
    ((2, 3), (4, 5), (((1,), (0,)), NB),
     "dot_general: shapes (2, 3) and (4, 5) are not aligned: 3 (dim 1) != 4 (dim 0)"),
    ((2, 3, 4), (5, 4, 6), (((2,), (1,)), ((0,), (0,))), "batch dimensions differ"),
    ((2, 3), (3, 4), (((2,), (0,)), NB), "out of bounds"),
    ((2, 3), (3, 4), (((1,), (0, 1)), NB), "pairs"),
])
def test_dot_general_shape_errors(ls, rs, dims, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        dot_general(randn(*ls), randn(*rs), dims)
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        dot_general_p.abstract_eval(get_aval(randn(*ls)), get_aval(randn(*rs)),
                                    dimension_numbers=dims)


def test_dot_general_needs_one_dtype():
    with pytest.raises(TypeError, match="dot_general"):
        dot_general(randn(2, 3), randn(3, 4, dtype=np.float32), (((1,), (0,)), NB))


# ------------------------------------------------------ the lectures' example --

def test_lecture_matmul_example():
    x = np.array([[2., 1, -3], [-3, 4, 2]])
    w = np.array([[3., 2, 1, -1], [2, 1, 3, 2], [3, 2, 1, -2]])
    upstream = np.array([[2., 3, -3, 9], [-8, 1, 4, 6]])
    y, f_vjp = chainrule.vjp(cd.matmul, x, w)
    np.testing.assert_allclose(y, x @ w)
    dx, dw = f_vjp(upstream)
    np.testing.assert_allclose(dx, [[0, 16, -9], [-24, 9, -30]])
    np.testing.assert_allclose(dw, x.T @ upstream)


def test_matmul_ir_is_one_dot_general():
    jaxpr = chainrule.make_jaxpr(cd.matmul)(randn(2, 3), randn(3, 4))
    assert [e.prim.name for e in jaxpr.eqns] == ["dot_general"]
    # the backward pass is traced too: dL/dx and dL/dw are contractions again
    loss = chainrule.grad(lambda x, w: cd.einsum("ij,jk->", x, w), argnums=(0, 1))
    grad_jaxpr = chainrule.make_jaxpr(loss)(randn(2, 3), randn(3, 4))
    assert "dot_general" in str(grad_jaxpr)


# ------------------------------------------------------------------ matmul --

MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)), ((5, 2, 3), (3,)), ((3,), (5, 3, 4)), ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (1, 3, 4)), ((1, 2, 3), (5, 3, 4)),
    ((6, 1, 2, 3), (5, 3, 4)), ((2, 3), (6, 5, 3, 4)), ((1, 1, 2, 3), (5, 3, 4)),
    ((7, 1, 2, 3), (1, 5, 3, 4)), ((0, 2, 3), (3, 4)), ((2, 0), (0, 3)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_matches_numpy(sa, sb):
    a, b = randn(*sa), randn(*sb)
    out = cd.matmul(a, b)
    expected = np.matmul(a, b)
    assert np.shape(out) == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sa,sb", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]])
def test_matmul_grads(sa, sb):
    check_grads(cd.matmul, (randn(*sa), randn(*sb)), order=2)


@pytest.mark.parametrize("da,db", [(np.float32, np.float64), (np.int64, np.float32),
                                   (np.int32, np.int64), (np.bool_, np.bool_),
                                   (np.int64, np.complex128)])
def test_matmul_promotes_like_numpy(da, db):
    a, b = (randn(2, 3) > 0).astype(da), (randn(3, 4) * 3).astype(db)
    out, expected = cd.matmul(a, b), np.matmul(a, b)
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_matmul_accepts_lists():
    np.testing.assert_allclose(cd.matmul([[1, 2], [3, 4]], [1.0, 1.0]), [3.0, 7.0])


@pytest.mark.parametrize("sa,sb,msg", [
    ((2, 3), (4, 5), "matmul: shapes (2, 3) and (4, 5) are not aligned: 3 (dim 1) != 4 (dim 0)"),
    ((3,), (4,), "matmul: shapes (3,) and (4,) are not aligned"),
    ((2, 2, 3), (3, 3, 4), "matmul: batch dimensions of shapes (2, 2, 3) and (3, 3, 4)"),
    ((), (3,), "matmul: operands must be at least 1-d"),
])
def test_matmul_errors(sa, sb, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        cd.matmul(randn(*sa), randn(*sb))


# ------------------------------------------ dot, tensordot, inner, outer ... --

@pytest.mark.parametrize("sa,sb", [((), ()), ((), (3,)), ((2, 3), ()), ((3,), (3,)),
                                   ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((4, 2, 3), (3,)), ((4, 2, 3), (5, 3, 6)),
                                   ((3,), (5, 3, 6))])
def test_dot_and_grads(sa, sb):
    a, b = randn(*sa), randn(*sb)
    np.testing.assert_allclose(cd.dot(a, b), np.dot(a, b), rtol=1e-12, atol=1e-12)
    assert np.shape(cd.dot(a, b)) == np.shape(np.dot(a, b))
    check_grads(cd.dot, (a, b), order=2)


@pytest.mark.parametrize("sa,sb,axes", [((3, 4, 5), (4, 5, 6), 2), ((3, 4), (4, 5), 1),
                                        ((3,), (4,), 0), ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])),
                                        ((2, 3, 4), (4, 5), (-1, 0)), ((2, 3), (2, 3), 2),
                                        ((3, 4, 2), (2, 3), ((0, 2), (1, 0)))])
def test_tensordot_and_grads(sa, sb, axes):
    a, b = randn(*sa), randn(*sb)
    np.testing.assert_allclose(cd.tensordot(a, b, axes), np.tensordot(a, b, axes), rtol=1e-12)
    check_grads(lambda x, y: cd.tensordot(x, y, axes), (a, b), order=2)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (4, 3)), ((2, 5, 3), (3,)),
                                   ((), (2, 3)), ((2, 3), (4, 2, 3))])
def test_inner_and_grads(sa, sb):
    a, b = randn(*sa), randn(*sb)
    np.testing.assert_allclose(cd.inner(a, b), np.inner(a, b), rtol=1e-12)
    check_grads(cd.inner, (a, b), order=2)


@pytest.mark.parametrize("fname", ["outer", "kron"])
@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 3), (4,)), ((), (3,)), ((2, 2), (3, 1)),
                                   ((2, 1, 3), (2, 2))])
def test_outer_kron_and_grads(fname, sa, sb):
    a, b = randn(*sa), randn(*sb)
    ours, theirs = getattr(cd, fname), getattr(np, fname)
    out = ours(a, b)
    assert np.shape(out) == np.shape(theirs(a, b))
    np.testing.assert_allclose(out, theirs(a, b), rtol=1e-12)
    check_grads(ours, (a, b), order=2)


def test_vdot():
    a, b = randn(2, 3), randn(3, 2)
    np.testing.assert_allclose(cd.vdot(a, b), np.vdot(a, b))
    check_grads(cd.vdot, (a, b), order=2)
    ca, cb = randn(3) + 1j * randn(3), randn(3) + 1j * randn(3)
    np.testing.assert_allclose(cd.vdot(ca, cb), np.vdot(ca, cb))
    with pytest.raises(ValueError, match=r"vdot: shapes \(2, 3\) and \(5,\)"):
        cd.vdot(a, randn(5))


@pytest.mark.parametrize("shape,offset,a1,a2", [((3, 3), 0, 0, 1), ((3, 4), 1, 0, 1),
                                               ((4, 3), -2, 0, 1), ((2, 3, 4), 0, 2, 0),
                                               ((3, 4), 5, 0, 1), ((2, 3, 3), -1, -1, -2)])
def test_trace_and_diagonal(shape, offset, a1, a2):
    a = randn(*shape)
    np.testing.assert_allclose(cd.diagonal(a, offset, a1, a2), np.diagonal(a, offset, a1, a2))
    np.testing.assert_allclose(cd.trace(a, offset, a1, a2), np.trace(a, offset, a1, a2))
    check_grads(lambda x: cd.trace(x, offset, a1, a2), (a,), order=2)
    check_grads(lambda x: cd.diagonal(x, offset, a1, a2), (a,), order=1)


def test_trace_of_ints_sums_in_int64():
    a = np.arange(9, dtype=np.int32).reshape(3, 3)
    assert cd.trace(a).dtype == np.trace(a).dtype


@pytest.mark.parametrize("fname,sa,sb,msg", [
    ("dot", (2, 3), (4, 5), "dot: shapes (2, 3) and (4, 5) are not aligned: 3 (dim 1) != 4"),
    ("inner", (2, 3), (4, 5), "inner: shapes (2, 3) and (4, 5) are not aligned"),
    ("tensordot", (2, 3), (4, 5), "tensordot: shape mismatch for sum over shapes (2, 3)"),
])
def test_product_errors(fname, sa, sb, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        getattr(cd, fname)(randn(*sa), randn(*sb))


# ------------------------------------------------------------------ einsum --

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij,kj->ki", [(2, 3), (4, 3)]),
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
    ("i,i->", [(3,), (3,)]),
    ("i,i", [(3,), (3,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("ij->ji", [(2, 3)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("iii->i", [(3, 3, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,ij->i", [(1, 3), (4, 3)]),
    ("ijk,jil->kl", [(3, 4, 5), (4, 3, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,jk,kl", [(2, 3), (3, 4), (4, 5)]),
    ("ab,bc,cd,de->ae", [(2, 6), (6, 3), (3, 5), (5, 2)]),
    ("ij,j,jk->ik", [(2, 3), (3,), (3, 4)]),
    ("ijk,k->i", [(2, 3, 4), (4,)]),
    ("ij,kl->", [(2, 3), (4, 5)]),
    ("ii,ij->j", [(3, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (5, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (5, 3, 4)]),
    ("...ij,...jk", [(7, 2, 3), (3, 4)]),
    ("i...->...", [(3, 2, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("...ii", [(2, 3, 3)]),
    ("...,...", [(2, 1), (3,)]),
    ("b i j , b j -> b i", [(4, 2, 3), (4, 3)]),
    ("ij,ik,il->jkl", [(2, 3), (2, 4), (2, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUM_CASES)
def test_einsum_matches_numpy(subscripts, shapes):
    ops = [randn(*s) for s in shapes]
    out, expected = cd.einsum(subscripts, *ops), np.einsum(subscripts, *ops)
    assert np.shape(out) == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("subscripts,shapes", EINSUM_CASES[::2] + EINSUM_CASES[13:17])
def test_einsum_grads(subscripts, shapes):
    check_grads(lambda *ops: cd.einsum(subscripts, *ops), [randn(*s) for s in shapes],
                order=2)


def test_einsum_promotes_and_casts():
    a, b = np.arange(6, dtype=np.int32).reshape(2, 3), np.ones(3, np.float32)
    assert cd.einsum("ij,j->i", a, b).dtype == np.einsum("ij,j->i", a, b).dtype
    assert cd.einsum("ij,j->i", a, a[0]).dtype == np.int32
    assert cd.einsum("ij->i", a, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("subscripts,shapes,msg", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "einsum: operands 0 and 1 of 'ij,jk->ik' have shapes "
                                    "(2, 3) and (4, 5): label 'j' has length 3 and 4"),
    ("ij,jk->ik", [(2, 3)], "names 2 operands but 1 were given"),
    ("ijk", [(2, 3)], "operand 0 has shape (2, 3) (2 axes) but its subscripts 'ijk' name 3"),
    ("ij->ix", [(2, 3)], "output label 'x'"),
    ("ij->ii", [(2, 3)], "output label 'i' repeated"),
    ("ii", [(2, 3)], "label 'i' repeated in operand 0 (shape (2, 3)) has lengths 2 and 3"),
    ("...i->i", [(2, 3)], "no '...'"),
    ("i1", [(2, 3)], "invalid subscript"),
])
def test_einsum_errors(subscripts, shapes, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        cd.einsum(subscripts, *[randn(*s) for s in shapes])


# ------------------------------------------------- inside other transforms --

def test_mlp_layer_grad_matches_manual_backprop():
    x, w, b = randn(8, 3), randn(3, 4), randn(4)

    def loss(w, b):
        return cd.einsum("ij,ij->", cd.matmul(x, w) + b, cd.matmul(x, w) + b)

    gw, gb = chainrule.grad(loss, argnums=(0, 1))(w, b)
    y = x @ w + b
    np.testing.assert_allclose(gw, x.T @ (2 * y))
    np.testing.assert_allclose(gb, (2 * y).sum(0))


def test_matmul_under_jvp_of_grad():
    x, w = randn(2, 3), randn(3, 4)
    check_grads(lambda x, w: chainrule.grad(lambda x: cd.einsum("ij,ij->", cd.matmul(x, w),
                                                                cd.matmul(x, w)))(x),
                (x, w), order=1)


# -------------------------------------------------------------------- vmap --

@pytest.mark.parametrize("ls,rs,dims", [c for c in DOT_CASES if 0 not in c[0] + c[1]])
@pytest.mark.parametrize("in_axes", [(0, 0), (0, None), (None, 0), (-1, -1), (None, -1)])
def test_dot_general_vmap_matches_loop(ls, rs, dims, in_axes):
    n = 3

    def batched(shape, axis):
        if axis is None:
            return randn(*shape)
        return np.moveaxis(randn(n, *shape), 0, axis)

    lhs, rhs = batched(ls, in_axes[0]), batched(rs, in_axes[1])
    out = chainrule.vmap(lambda a, b: dot_general(a, b, dims), in_axes=in_axes)(lhs, rhs)
    take = lambda x, ax, i: x if ax is None else np.take(x, i, axis=ax)  # noqa: E731
    expected = np.stack([ref_dot_general(take(lhs, in_axes[0], i), take(rhs, in_axes[1], i),
                                         dims) for i in range(n)])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_per_example_grads_of_a_linear_layer():
    x, w = randn(5, 3), randn(3, 4)

    def loss(w, xi):
        y = cd.matmul(xi, w)
        return cd.einsum("i,i->", y, y)

    per_example = chainrule.vmap(chainrule.grad(loss), in_axes=(None, 0))(w, x)
    expected = np.stack([np.outer(xi, 2 * (xi @ w)) for xi in x])
    np.testing.assert_allclose(per_example, expected, rtol=1e-12)
