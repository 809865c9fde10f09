"""Collectives over named axes in one process, through ``vmap(axis_name=)``
and one-process ``pmap``: values against NumPy on the stacked batch, both
modes of derivatives to second order, the SPMD transposition identities,
batching by an outer vmap, and composition with jit, scan and grad.
(Across processes: tests/test_mpi.py.)"""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import lax
from chainrule.test_util import check_grads

RNG = np.random.default_rng(0)
N = 4


def named(f, name="i", **kw):
    return cr.vmap(f, axis_name=name, **kw)


def stacked(x):
    """The same value on every entry of the axis, as vmap returns it."""
    return np.broadcast_to(x, (N,) + np.shape(x))


# ---------------------------------------------------- NumPy references ---

def ref_all_to_all(X, split, concat, tiled):
    n = X.shape[0]
    if tiled:
        return np.stack([np.concatenate([np.split(X[i], n, axis=split)[j] for i in range(n)],
                                        axis=concat) for j in range(n)])
    return np.stack([np.stack([np.take(X[i], j, axis=split) for i in range(n)], axis=concat)
                     for j in range(n)])


def ref_psum_scatter(X, sd, tiled):
    total = X.sum(0)
    n = X.shape[0]
    if tiled:
        return np.stack(np.split(total, n, axis=sd))
    return np.stack([np.take(total, i, axis=sd) for i in range(n)])


def ref_ppermute(X, perm):
    out = np.zeros_like(X)
    for s, d in perm:
        out[d] = X[s]
    return out


PERM = [(0, 2), (2, 1), (1, 3)]   # entry 0 receives nothing

CASES = {
    "psum": (lambda v: lax.psum(v, "i"), lambda X: stacked(X.sum(0))),
    "pmean": (lambda v: lax.pmean(v, "i"), lambda X: stacked(X.mean(0))),
    "pmax": (lambda v: lax.pmax(v, "i"), lambda X: stacked(X.max(0))),
    "pmin": (lambda v: lax.pmin(v, "i"), lambda X: stacked(X.min(0))),
    "all_gather": (lambda v: lax.all_gather(v, "i"), lambda X: stacked(X)),
    "all_gather_axis1": (lambda v: lax.all_gather(v, "i", axis=1),
                         lambda X: stacked(np.moveaxis(X, 0, 1))),
    "all_gather_tiled": (lambda v: lax.all_gather(v, "i", axis=1, tiled=True),
                         lambda X: stacked(np.concatenate(list(X), axis=1))),
    "psum_scatter": (lambda v: lax.psum_scatter(v, "i", scatter_dimension=0),
                     lambda X: ref_psum_scatter(X, 0, False)),
    "psum_scatter_tiled": (lambda v: lax.psum_scatter(v, "i", scatter_dimension=1, tiled=True),
                           lambda X: ref_psum_scatter(X, 1, True)),
    "ppermute": (lambda v: lax.ppermute(v, "i", PERM), lambda X: ref_ppermute(X, PERM)),
    "all_to_all": (lambda v: lax.all_to_all(v, "i", 0, 1),
                   lambda X: ref_all_to_all(X, 0, 1, False)),
    "all_to_all_tiled": (lambda v: lax.all_to_all(v, "i", 1, 0, tiled=True),
                         lambda X: ref_all_to_all(X, 1, 0, True)),
}

X = RNG.normal(size=(N, 4, 8))   # entries of shape (4, 8): axis sizes fit every case


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_against_numpy(name):
    f, ref = CASES[name]
    np.testing.assert_allclose(named(f)(X), ref(X), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CASES))
def test_derivatives_second_order(name):
    f, _ = CASES[name]
    x = RNG.normal(size=(N, 4, 4))
    check_grads(named(lambda v: cnp.sin(f(v))), (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_vjp_is_the_transpose_of_the_jvp(name):
    """<J t, c> == <t, J^T c> for the (linear) collective on random vectors."""
    f, _ = CASES[name]
    g = named(f)
    t = RNG.normal(size=X.shape)
    _, jt = cr.jvp(g, (X,), (t,))
    c = RNG.normal(size=jt.shape)
    _, pullback = cr.vjp(g, X)
    (jtc,) = pullback(c)
    np.testing.assert_allclose(np.vdot(jt, c), np.vdot(t, jtc), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_vmap_of_grad_is_grad_of_summed_vmap(name):
    """The SPMD transposes: each entry's gradient is that of the sum of every
    entry's loss, so the two orders agree."""
    f, _ = CASES[name]

    def loss(v):
        return cnp.sum(cnp.tanh(f(v)) * cnp.arange(f(v).size).reshape(f(v).shape))

    inside = named(cr.grad(loss))(X)
    outside = cr.grad(lambda x: cnp.sum(named(loss)(x)))(X)
    np.testing.assert_allclose(inside, outside, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("axis", [0, 2])
def test_batched_by_an_outer_vmap(name, axis):
    """A vmap over another axis treats the collective as elementwise over its batch."""
    f, ref = CASES[name]
    Z = RNG.normal(size=(3, N, 4, 8))
    got = cr.vmap(named(f), in_axes=0 if axis == 0 else 2)(np.moveaxis(Z, 0, axis))
    want = np.stack([ref(z) for z in Z])
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_unbatched_operands_and_constants():
    np.testing.assert_allclose(named(lambda v: lax.psum(1.0, "i"))(X), np.full(N, N))
    np.testing.assert_allclose(named(lambda v: lax.psum(2.0 * v.sum() * 0 + 3.0, "i"))(X),
                               np.full(N, 3.0 * N))
    np.testing.assert_allclose(named(lambda v: lax.all_gather(np.arange(2.0), "i"))(X),
                               stacked(np.tile(np.arange(2.0), (N, 1))))
    assert named(lambda v: lax.axis_size("i"))(X).tolist() == [N] * N


def test_axis_index_and_its_dtype():
    idx = named(lambda v: lax.axis_index("i"))(X)
    assert idx.dtype == np.int32 and idx.tolist() == list(range(N))
    # one-hot by index: the classic use
    oh = named(lambda v: (cnp.arange(N) == lax.axis_index("i")) * 1.0)(X)
    np.testing.assert_array_equal(oh, np.eye(N))


def test_pytrees_in_one_bind():
    tree = {"w": X, "b": X[:, 0, :2]}
    out = named(lambda t: lax.psum(t, "i"))(tree)
    np.testing.assert_allclose(out["w"], stacked(X.sum(0)))
    np.testing.assert_allclose(out["b"], stacked(X[:, 0, :2].sum(0)))
    jaxpr = cr.make_jaxpr(lambda t: lax.psum(t, "i"))
    # one psum equation for the whole tree (what pmap sends as one buffer)
    with pytest.raises(NameError):
        jaxpr(tree)


def test_nested_names_taken_together():
    Y = RNG.normal(size=(2, 3, 5))

    def f(v):
        return (lax.psum(v, ("i", "j")), lax.axis_index(("i", "j")),
                lax.all_gather(v, ("i", "j")), lax.psum(v, "j"), lax.pmax(v, ("j", "i")))

    s, idx, gathered, sj, mx = cr.vmap(cr.vmap(f, axis_name="j"), axis_name="i")(Y)
    np.testing.assert_allclose(s, np.broadcast_to(Y.sum((0, 1)), Y.shape))
    np.testing.assert_array_equal(idx, np.arange(6).reshape(2, 3))
    np.testing.assert_allclose(gathered[1, 2], Y.reshape(6, 5))
    np.testing.assert_allclose(sj, np.broadcast_to(Y.sum(1, keepdims=True), Y.shape))
    np.testing.assert_allclose(mx, np.broadcast_to(Y.max((0, 1)), Y.shape))


def test_pmax_ties_share_the_gradient():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    g = cr.grad(lambda x: cnp.sum(named(lambda v: lax.pmax(v, "i"))(x)))(x)
    np.testing.assert_allclose(g, [0, 2.0, 2.0, 0])   # N outputs, two tied maxima


# ------------------------------------------------------- composition ---

def test_inside_scan_cond_and_jit():
    def f(v):
        def body(c, _):
            c = c - 0.1 * (c - lax.pmean(c, "i"))
            return c, lax.psum(c * c, "i")
        c, ys = lax.scan(body, v, None, length=5)
        c = lax.cond(lax.axis_index("i") % 2 == 0, lambda c: c + lax.pmax(c, "i"),
                     lambda c: c, c)
        return c, ys

    x = RNG.normal(size=(N, 3))
    want = [np.stack(a) for a in zip(*[_loop_ref(x)])]
    for g in (named(f), cr.jit(named(f)), named(cr.jit(f))):
        c, ys = g(x)
        np.testing.assert_allclose(c, want[0][0], rtol=1e-12)
        np.testing.assert_allclose(ys, want[1][0], rtol=1e-12)
    gr = cr.grad(lambda x: cnp.sum(named(f)(x)[0] ** 2) + cnp.sum(named(f)(x)[1]))
    check_grads(lambda x: cnp.sum(named(f)(x)[0] ** 2) + cnp.sum(named(f)(x)[1]), (x,),
                order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(cr.jit(gr)(x), gr(x), rtol=1e-12)


def _loop_ref(x):
    c = x.copy()
    ys = []
    for _ in range(5):
        c = c - 0.1 * (c - c.mean(0))
        ys.append(np.broadcast_to((c * c).sum(0), c.shape))
    c = c + np.where((np.arange(N) % 2 == 0)[:, None], c.max(0), 0)
    return c, np.stack(ys, 1)


def test_pmap_in_one_process_is_vmap_with_a_name():
    def step(w, x, lr):
        g = cr.grad(lambda w: cnp.mean((x @ w) ** 2))(w)
        return w - lr * lax.pmean(g, "batch")

    w = RNG.normal(size=(N, 3))
    x = RNG.normal(size=(N, 5, 3))
    want = named(lambda w, x: step(w, x, 0.1), "batch")(w, x)
    got = cr.pmap(step, "batch", static_broadcasted_argnums=2)(w, x, 0.1)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_allclose(cr.jit(cr.pmap(step, "batch", static_broadcasted_argnums=2),
                                      static_argnums=2)(w, x, 0.1), want, rtol=1e-13)
    np.testing.assert_allclose(cr.pmap(cr.jit(step, static_argnums=2), "batch",
                                       static_broadcasted_argnums=2)(w, x, 0.1), want,
                               rtol=1e-13)
    g1 = cr.grad(lambda w: cnp.sum(cr.pmap(step, "batch", static_broadcasted_argnums=2)(
        w, x, 0.1) ** 2))(w)
    g2 = cr.grad(lambda w: cnp.sum(named(lambda w, x: step(w, x, 0.1), "batch")(w, x) ** 2))(w)
    np.testing.assert_allclose(g1, g2, rtol=1e-13)
    assert cr.pmap(lambda v: v * 2)(x).shape == x.shape   # no axis name, no collectives


# ------------------------------------------------------------ errors ---

def test_unbound_axis_name_is_a_clear_error():
    with pytest.raises(NameError, match="unbound axis name 'k'"):
        named(lambda v: lax.psum(v, "k"))(X)
    with pytest.raises(NameError, match="unbound axis name 'i'"):
        lax.psum(X, "i")
    with pytest.raises(NameError, match="unbound axis name 'i'"):
        cr.jit(lambda v: lax.pmean(v, "i"))(X)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="psum_scatter: dimension 0 has size 3"):
        named(lambda v: lax.psum_scatter(v, "i"))(np.ones((N, 3)))
    with pytest.raises(ValueError, match="all_to_all: split axis has size 3"):
        named(lambda v: lax.all_to_all(v, "i", 0, 0))(np.ones((N, 3)))
    with pytest.raises(ValueError, match="sends from or to an entry twice"):
        named(lambda v: lax.ppermute(v, "i", [(0, 1), (2, 1)]))(X)
    with pytest.raises(ValueError, match="out of range"):
        named(lambda v: lax.ppermute(v, "i", [(0, 9)]))(X)
    with pytest.raises(NotImplementedError, match="one axis name"):
        cr.vmap(named(lambda v: lax.ppermute(v, ("i", "j"), [(0, 1)])), axis_name="j")(
            np.ones((2, N, 3)))


def test_distributed_without_a_launcher_is_one_process():
    from chainrule import distributed
    comm = distributed.initialize()
    assert distributed.is_initialized() and comm is distributed.initialize()
    assert distributed.process_index() == 0 and distributed.process_count() == 1
    data = {"x": np.arange(10.0), "y": np.arange(10)}
    parts = [distributed.shard(data, index=r, count=3) for r in range(3)]
    assert [len(p["x"]) for p in parts] == [3, 3, 4]
    np.testing.assert_array_equal(np.concatenate([p["y"] for p in parts]), data["y"])


def _run(code, **env):
    import os
    import subprocess
    import sys
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_LOCAL"))}
    full.update(env, PYTHONPATH=src)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=full)


def test_import_and_one_process_pmap_never_import_mpi4py():
    proc = _run("import sys, numpy as np, chainrule as cr\n"
                "from chainrule import lax\n"
                "print(cr.pmap(lambda v: lax.psum(v, 'i'), 'i')(np.ones((2, 3))).sum())\n"
                "print('mpi4py' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["12.0", "False"]


def test_a_launch_without_mpi4py_names_the_extra():
    proc = _run("import sys; sys.modules['mpi4py'] = None\n"
                "from chainrule import distributed\n"
                "distributed.initialize()", PMI_SIZE="2", PMI_RANK="0")
    assert proc.returncode != 0
    assert "pip install 'chainrule[distributed]'" in proc.stderr


def test_asking_for_more_processes_without_a_launcher_warns_once():
    proc = _run("import warnings; warnings.simplefilter('always')\n"
                "from chainrule import distributed\n"
                "distributed.initialize(num_processes=4); distributed.initialize(4)\n"
                "print(distributed.process_count())")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"
    assert proc.stderr.count("no MPI launcher started this process") == 1


@pytest.mark.parametrize("entries", [1, 3])
def test_collectives_inside_jit_and_loops_with_unbatched_operands(entries):
    """A jit, scan, while_loop or cond whose operands are not batched still
    holds collectives over the axis (pmap's one entry per process runs
    unbatched): the vmap must see them."""
    x = np.arange(1.0, 4.0)[None].repeat(entries, 0)
    total = x.sum(0)
    cases = [
        (lambda v: cr.jit(lambda v: lax.psum(v, "i"))(v), lambda: total),
        (lambda v: lax.scan(lambda c, _: (c + lax.psum(c, "i"), None), v, None, length=2)[0],
         lambda: None),
        (lambda v: cr.jit(lambda: lax.psum(1.0, "i"))() + 0 * v, lambda: entries + 0 * total),
        (lambda v: lax.while_loop(lambda c: c[0] < 50, lambda c: c + lax.pmean(c, "i"), v),
         lambda: None),
    ]
    for f, want in cases:
        got = cr.pmap(f, "i")(x)
        ref = cr.vmap(f, axis_name="i")(x)   # the batched path
        np.testing.assert_allclose(got, ref, rtol=1e-14)
        if want() is not None:
            np.testing.assert_allclose(got, np.broadcast_to(want(), x.shape))


def test_custom_rules_and_checkpoint_keep_the_axis():
    x = np.arange(4.0)

    @cr.custom_jvp
    def f(x):
        return lax.psum(x, "i") * 2.0

    @f.defjvp
    def f_jvp(p, t):
        return f(p[0]), lax.psum(t[0], "i") * 2.0

    @cr.custom_vjp
    def g(x):
        return lax.pmean(x, "i")

    g.defvjp(lambda x: (g(x), None), lambda r, c: (lax.pmean(c, "i"),))
    np.testing.assert_allclose(named(f)(x), np.full(4, 12.0))
    np.testing.assert_allclose(named(cr.grad(f))(x), np.full(4, 8.0))
    np.testing.assert_allclose(cr.jvp(named(f), (x,), (np.ones(4),))[1], np.full(4, 8.0))
    np.testing.assert_allclose(named(cr.grad(g))(x), np.ones(4))
    # the custom backward pass runs after the vmap has returned
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(named(g)(x)))(x), np.ones(4))
    sq = cr.checkpoint(lambda v: lax.psum(v * v, "i"))
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(named(sq)(x)))(x), 8 * x)
    np.testing.assert_allclose(named(cr.grad(sq))(x), 8 * x)


def test_integer_and_boolean_dtypes():
    v = np.arange(4.0)
    ints = v.astype(np.int32)
    out = named(lambda v, k: (lax.psum(v > 1, "i"), lax.pmax(v > 1, "i"), lax.psum(3, "i"),
                              lax.pmean(k, "i"), lax.pmin(k, "i")))(v, ints)
    assert out[0].dtype == np.int64 and out[0].tolist() == [2] * 4
    assert out[1].dtype == np.bool_ and out[1].all()
    assert out[2].tolist() == [12] * 4
    assert out[3].dtype == np.float64 and out[3].tolist() == [1.5] * 4
    assert out[4].dtype == np.int32 and out[4].tolist() == [0] * 4
