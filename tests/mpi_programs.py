"""Programs that tests/test_mpi.py runs under ``mpiexec -n K``: each rank
checks its own results against NumPy on the global data and prints
``ok <scenario> rank <r>``. Run one by hand with
``mpiexec -n 2 python tests/mpi_programs.py collectives``."""

import sys

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import distributed, lax

sys.path.insert(0, __import__("os").path.dirname(__file__))
from test_collectives import ref_all_to_all, ref_ppermute, ref_psum_scatter  # noqa: E402


def local_rows(total):
    """This rank's rows of a global axis of ``total`` entries (uneven shares)."""
    r, n = distributed.process_index(), distributed.process_count()
    return slice(r * total // n, (r + 1) * total // n)


def collectives():
    G = 2 * distributed.process_count() + 1           # odd: uneven shards
    rng = np.random.default_rng(7)
    X = rng.normal(size=(G, G, 2 * G))
    mine = local_rows(G)
    ring = [(k, (k + 1) % G) for k in range(G - 1)]   # entry 0 receives nothing
    cases = {
        "psum": (lambda v: lax.psum(v, "i"), lambda X: np.broadcast_to(X.sum(0), X.shape)),
        "pmean": (lambda v: lax.pmean(v, "i"), lambda X: np.broadcast_to(X.mean(0), X.shape)),
        "pmax": (lambda v: lax.pmax(v, "i"), lambda X: np.broadcast_to(X.max(0), X.shape)),
        "pmin": (lambda v: lax.pmin(v, "i"), lambda X: np.broadcast_to(X.min(0), X.shape)),
        "all_gather": (lambda v: lax.all_gather(v, "i", axis=1),
                       lambda X: np.broadcast_to(np.moveaxis(X, 0, 1), (G,) + X.shape)),
        "all_gather_tiled": (lambda v: lax.all_gather(v, "i", tiled=True),
                             lambda X: np.broadcast_to(np.concatenate(list(X)),
                                                       (G, G * G, 2 * G))),
        "psum_scatter": (lambda v: lax.psum_scatter(v, "i"),
                         lambda X: ref_psum_scatter(X, 0, False)),
        "psum_scatter_tiled": (lambda v: lax.psum_scatter(v, "i", scatter_dimension=1,
                                                          tiled=True),
                               lambda X: ref_psum_scatter(X, 1, True)),
        "ppermute": (lambda v: lax.ppermute(v, "i", ring), lambda X: ref_ppermute(X, ring)),
        "all_to_all": (lambda v: lax.all_to_all(v, "i", 0, 1),
                       lambda X: ref_all_to_all(X, 0, 1, False)),
        "all_to_all_tiled": (lambda v: lax.all_to_all(v, "i", 1, 0, tiled=True),
                             lambda X: ref_all_to_all(X, 1, 0, True)),
        "axis_index": (lambda v: lax.axis_index("i") + 0 * v[0, 0],
                       lambda X: np.arange(G) + 0.0),
    }
    for name, (f, ref) in cases.items():
        for g in (cr.pmap(f, "i"), cr.jit(cr.pmap(f, "i"))):
            np.testing.assert_allclose(g(X[mine]), ref(X)[mine], rtol=1e-12, atol=1e-12,
                                       err_msg=name)
        # gradient of the sum over every rank's entries, two ways
        def loss(v, f=f):
            y = f(v)
            return cnp.sum(cnp.sin(y) * cnp.arange(y.size).reshape(y.shape))
        if name == "axis_index":
            continue
        ref_g = cr.grad(lambda x, loss=loss: cnp.sum(cr.vmap(loss, axis_name="i")(x)))(X)[mine]
        got = cr.pmap(cr.grad(loss), "i")(X[mine])
        np.testing.assert_allclose(got, ref_g, rtol=1e-10, atol=1e-12, err_msg=name)
        got = cr.grad(lambda x, loss=loss: cnp.sum(cr.pmap(loss, "i")(x)))(X[mine])
        np.testing.assert_allclose(got, ref_g, rtol=1e-10, atol=1e-12, err_msg=name)
        got = cr.jit(cr.grad(lambda x, loss=loss: cnp.sum(cr.pmap(loss, "i")(x))))(X[mine])
        np.testing.assert_allclose(got, ref_g, rtol=1e-10, atol=1e-12, err_msg=name)
    # results live in reused buffers: earlier results held by the caller must survive
    psum = cr.pmap(lambda v: lax.psum(v, "i"), "i")
    held = [psum(X[mine] * k) for k in range(6)]
    for k, h in enumerate(held):
        np.testing.assert_allclose(h, np.broadcast_to(X.sum(0) * k, X.shape)[mine], rtol=1e-12)
    flags = cr.pmap(lambda v: (lax.pmax(v[0, 0] > 0, "i"), lax.psum(v[0, 0] > 0, "i"),
                               lax.pmin(lax.axis_index("i"), "i")), "i")(X[mine])
    assert flags[0].dtype == np.bool_ and (flags[0] == (X[:, 0, 0] > 0).any()).all()
    assert (flags[1] == (X[:, 0, 0] > 0).sum()).all() and (flags[2] == 0).all()
    # a whole pytree in one collective, mixed dtypes
    tree = {"a": X[mine], "n": np.ones((len(range(G)[mine]), 3), np.int64)}
    out = cr.pmap(lambda t: lax.psum(t, "i"), "i")(tree)
    np.testing.assert_allclose(out["a"], np.broadcast_to(X.sum(0), X.shape)[mine])
    assert out["n"].dtype == np.int64 and (out["n"] == G).all()


def data_parallel():
    """Sharded gradients, summed with psum, equal the one-process gradient of
    the global batch."""
    rng = np.random.default_rng(3)
    B = 37
    x, y = rng.normal(size=(B, 6)), rng.integers(0, 3, B)
    params = {"w": rng.normal(size=(6, 3)) * 0.3, "b": np.zeros(3)}

    def loss(p, x, y):
        logits = x @ p["w"] + p["b"]
        logp = logits - cr.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
        return -cnp.sum(logp[cnp.arange(y.shape[0]), y]) / B

    def shard_grad(p, x, y):   # one entry of the mapped axis = this process's shard
        return lax.psum(cr.grad(loss)(p, x, y), "batch")

    mine = local_rows(B)
    want = cr.grad(loss)(params, x, y)
    for step in (cr.jit(cr.pmap(shard_grad, "batch", in_axes=(None, 0, 0))),
                 cr.pmap(cr.jit(shard_grad), "batch", in_axes=(None, 0, 0)),
                 cr.pmap(shard_grad, "batch", in_axes=(None, 0, 0))):
        g = step(params, x[mine][None], y[mine][None])
        for k in params:
            np.testing.assert_allclose(g[k][0], want[k], rtol=1e-12, atol=1e-15, err_msg=k)


def raise_on_rank1():
    if distributed.process_index() == 1:
        raise ValueError("boom from rank 1")
    cr.pmap(lambda v: lax.psum(v, "i"), "i")(np.ones((1, 3)))   # waits for rank 1
    print("rank 0 passed the collective: the job did not abort", flush=True)


def debug_mismatch():
    cr.config.update("debug_collectives", True)
    r = distributed.process_index()
    try:
        cr.pmap(lambda v: lax.psum(v, "i"), "i")(np.ones((1, 2 + r)))
    except ValueError as err:
        assert "disagree" in str(err), err
    else:
        raise AssertionError("no error for mismatched shapes")


if __name__ == "__main__":
    scenario = sys.argv[1]
    distributed.initialize()
    globals()[scenario]()
    print(f"ok {scenario} rank {distributed.process_index()} of "
          f"{distributed.process_count()}", flush=True)
