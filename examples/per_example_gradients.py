"""Per-example gradients with ``vmap(grad(loss))``.

The gradient of each training example on its own, not averaged over the
batch, is what differential privacy (clip each example, then add noise),
influence functions and gradient-noise diagnostics need. ``grad`` of the
per-example loss, vmapped over the examples with the parameters shared
(``in_axes=(None, 0, 0)``), computes all of them in one batched pass; the
reference is a Python loop of ``grad`` calls, one example at a time.

A 64-128-64-10 MLP (tanh, softmax cross-entropy, integer labels) on
scikit-learn's bundled digits (8x8 images; nothing is downloaded). The
script asserts that both ways agree, prints the per-example gradient norms'
distribution and the time of each way (eager, and vmap under ``jit``).

Run with ``python examples/per_example_gradients.py`` (needs scikit-learn).
"""

import time

import numpy as np
from sklearn.datasets import load_digits

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp
from chainrule.tree_util import tree_flatten, tree_map

SIZES = [64, 128, 64, 10]
BATCH = 256


def init_params(rng, sizes):
    return [{"w": rng.normal(0.0, np.sqrt(2.0 / (m + n)), (m, n)), "b": np.zeros(n)}
            for m, n in zip(sizes[:-1], sizes[1:], strict=True)]


def predict(params, x):
    *hidden, last = params
    for layer in hidden:
        x = cnp.tanh(x @ layer["w"] + layer["b"])
    return x @ last["w"] + last["b"]


def example_loss(params, x, y):
    """Softmax cross-entropy of ONE example (x: 64 pixels, y: an int label)."""
    return -nn.log_softmax(predict(params, x))[y]


def global_norms(grads):
    """The L2 norm over all parameters, per example (leading axis)."""
    leaves = tree_flatten(grads)[0]
    return np.sqrt(sum(np.sum(np.reshape(g, (g.shape[0], -1)) ** 2, axis=1) for g in leaves))


def timed(fn, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def main():
    rng = np.random.default_rng(0)
    digits = load_digits()
    idx = rng.permutation(len(digits.data))[:BATCH]
    xs, ys = digits.data[idx] / 16.0, digits.target[idx]
    params = init_params(rng, SIZES)
    n_params = sum(np.size(p) for p in tree_flatten(params)[0])
    print(f"MLP {'-'.join(map(str, SIZES))} ({n_params} parameters), {BATCH} digits")

    per_example_grad = cr.vmap(cr.grad(example_loss), in_axes=(None, 0, 0))
    one_grad = cr.grad(example_loss)

    def loop():
        grads = [one_grad(params, x, y) for x, y in zip(xs, ys, strict=True)]
        return tree_map(lambda *g: np.stack(g), *grads)

    batched, t_vmap = timed(lambda: per_example_grad(params, xs, ys))
    looped, t_loop = timed(loop, repeat=1)
    jitted_fn = cr.jit(per_example_grad)
    _, t_compile = timed(lambda: jitted_fn(params, xs, ys), repeat=1)
    jitted, t_jit = timed(lambda: jitted_fn(params, xs, ys))

    # the same gradients, leaf by leaf, whichever way they are computed
    for a, b, c in zip(tree_flatten(batched)[0], tree_flatten(looped)[0],
                       tree_flatten(jitted)[0], strict=True):
        assert a.shape == b.shape == c.shape and a.shape[0] == BATCH
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(c, b, rtol=1e-9, atol=1e-12)
    # their mean is the gradient of the mean loss
    mean_loss = lambda p: cnp.mean(cr.vmap(example_loss, in_axes=(None, 0, 0))(p, xs, ys))  # noqa
    for m, g in zip(tree_flatten(tree_map(lambda g: g.mean(0), batched))[0],
                    tree_flatten(cr.grad(mean_loss)(params))[0], strict=True):
        np.testing.assert_allclose(m, g, rtol=1e-9, atol=1e-13)
    # the output bias gradient of softmax cross-entropy is p - onehot(y)
    logits = np.asarray(predict(params, xs))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(batched[-1]["b"], p - np.eye(10)[ys], rtol=1e-9, atol=1e-12)

    norms = global_norms(batched)
    np.testing.assert_allclose(norms, global_norms(looped), rtol=1e-10)
    q = np.percentile(norms, [0, 25, 50, 75, 100])
    print("per-example gradient norms: min {:.3f}, quartiles {:.3f} / {:.3f} / {:.3f}, "
          "max {:.3f}".format(*q))
    worst = np.argsort(norms)[-3:][::-1]
    print(f"largest: examples {worst.tolist()} (labels {ys[worst].tolist()}, "
          f"norms {np.round(norms[worst], 3).tolist()})")
    print("vmap(grad) == loop of grad == jit(vmap(grad)): ok")
    print(f"\n{'method':<32}{'time':>10}{'speed-up':>10}")
    print(f"{'Python loop of grad':<32}{t_loop * 1e3:>8.1f}ms{1.0:>9.1f}x")
    print(f"{'vmap(grad)':<32}{t_vmap * 1e3:>8.1f}ms{t_loop / t_vmap:>9.1f}x")
    print(f"{'jit(vmap(grad))':<32}{t_jit * 1e3:>8.1f}ms{t_loop / t_jit:>9.1f}x"
          f"   (first call, with compilation: {t_compile:.2f}s)")


if __name__ == "__main__":
    main()
