"""Data-parallel training of the digits MLP across processes with ``pmap``.

Every process (rank) holds the same parameters and its own share of each
global minibatch; ``pmap`` maps the gradient over the ranks, and
``lax.pmean`` averages the gradients across them in one MPI all-reduce per
step, so every rank takes the same Adam step. The result is the training run
of one process on the whole global batch, to rounding: the script checks it
at the end.

    mpiexec -n 2 python examples/data_parallel.py    # two processes
    python examples/data_parallel.py                 # the same script, one process

Needs scikit-learn, and mpi4py with an MPI for more than one process
(``pip install -e '.[examples,distributed]'``).
"""

import time

import numpy as np
from sklearn.datasets import load_digits

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp
from chainrule import distributed, lax
from chainrule.tree_util import tree_leaves, tree_map

SEED = 0
SIZES = [64, 128, 10]
EPOCHS = 15
GLOBAL_BATCH = 60          # divisible by 1..6 ranks: equal shares, so pmean is the batch mean
LEARNING_RATE = 3e-3


def init_params(rng, sizes):
    return [{"w": rng.normal(0.0, np.sqrt(2.0 / (m + n)), (m, n)), "b": np.zeros(n)}
            for m, n in zip(sizes[:-1], sizes[1:], strict=True)]


def predict(params, x):
    *hidden, last = params
    for layer in hidden:
        x = cnp.tanh(x @ layer["w"] + layer["b"])
    return x @ last["w"] + last["b"]


def loss(params, x, onehot):
    logp = nn.log_softmax(predict(params, x), axis=-1)
    return -cnp.mean(cnp.sum(onehot * logp, axis=-1))


def shard_step(params, x, onehot):
    """Loss and gradient of this rank's shard, averaged over all ranks."""
    value, grads = cr.value_and_grad(loss)(params, x, onehot)
    return lax.pmean((value, grads), "ranks")


# one entry of the mapped axis per rank: its shard of the global batch
parallel_step = cr.jit(cr.pmap(shard_step, "ranks", in_axes=(None, 0, 0), out_axes=None))
serial_step = cr.jit(cr.value_and_grad(loss))


def adam(params, grads, state, step, lr, b1=0.9, b2=0.999, eps=1e-8):
    m, v = state
    m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    scale = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    params = tree_map(lambda p, m, v: p - scale * m / (np.sqrt(v) + eps), params, m, v)
    return params, (m, v)


def train(x_train, onehot_train, x_test, y_test, *, parallel, report):
    rank, ranks = distributed.process_index(), distributed.process_count()
    rng = np.random.default_rng(SEED)          # the same stream on every rank
    params = init_params(rng, SIZES)
    zeros = tree_map(np.zeros_like, params)
    state, step = (zeros, zeros), 0
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(len(x_train))
        start, total = time.perf_counter(), 0.0
        n_steps = len(perm) // GLOBAL_BATCH
        for i in range(n_steps):
            batch = perm[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH]
            if parallel:
                mine = distributed.shard(batch)            # this rank's share
                value, grads = parallel_step(params, x_train[mine][None],
                                             onehot_train[mine][None])
            else:
                value, grads = serial_step(params, x_train[batch], onehot_train[batch])
            step += 1
            params, state = adam(params, grads, state, step, LEARNING_RATE)
            total += float(value)
        per_step = (time.perf_counter() - start) / n_steps
        if report and rank == 0 and (epoch == 1 or epoch % 5 == 0):
            acc = np.mean(np.argmax(predict(params, x_test), -1) == y_test)
            print(f"epoch {epoch:3d}  loss {total / n_steps:.4f}  test accuracy {acc:.3f}  "
                  f"{per_step * 1e3:.2f} ms/step on {ranks} rank(s)", flush=True)
    return params


def main():
    distributed.initialize()
    rank, ranks = distributed.process_index(), distributed.process_count()
    if GLOBAL_BATCH % ranks:
        raise SystemExit(f"GLOBAL_BATCH={GLOBAL_BATCH} does not split into {ranks} equal shares")
    digits = load_digits()
    x_all, y_all = digits.data / 16.0, digits.target
    order = np.random.default_rng(SEED).permutation(len(x_all))
    test, train_idx = order[:len(x_all) // 5], order[len(x_all) // 5:]
    x_train, y_train, x_test, y_test = x_all[train_idx], y_all[train_idx], x_all[test], y_all[test]
    if rank == 0:
        print(f"data-parallel MLP {'-'.join(map(str, SIZES))} on {ranks} rank(s), global batch "
              f"{GLOBAL_BATCH} ({GLOBAL_BATCH // ranks} per rank), {len(x_train)} digits")
    start = time.perf_counter()
    params = train(x_train, np.eye(10)[y_train], x_test, y_test, parallel=True, report=True)
    elapsed = time.perf_counter() - start
    if rank == 0:
        acc = np.mean(np.argmax(predict(params, x_test), -1) == y_test)
        print(f"final test accuracy {acc:.3f} after {elapsed:.1f} s")
        reference = train(x_train, np.eye(10)[y_train], x_test, y_test, parallel=False,
                          report=False)
        diff = max(float(np.max(np.abs(a - b)))
                   for a, b in zip(tree_leaves(params), tree_leaves(reference), strict=True))
        print(f"largest difference from one process training on the global batch: {diff:.1e}")
        assert diff < 1e-10, diff
        assert acc >= 0.95, acc


if __name__ == "__main__":
    main()
