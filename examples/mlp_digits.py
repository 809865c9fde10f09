"""Train a small neural network on handwritten digits with chainrule.

A 64-128-10 multilayer perceptron (tanh hidden layer, softmax cross-entropy)
is trained with minibatch Adam on scikit-learn's bundled ``load_digits`` data
(8x8 images, 1797 samples; nothing is downloaded). The parameters are a
pytree (a list of dicts), ``chainrule.value_and_grad`` gives the loss and its
gradient in one reverse-mode pass, and the optimiser updates every leaf with
``chainrule.tree_util.tree_map``.

Run with ``python examples/mlp_digits.py``; needs scikit-learn
(``pip install -e '.[examples]'``).
"""

import time

import numpy as np
from sklearn.datasets import load_digits

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp
from chainrule.tree_util import tree_map

SEED = 0
SIZES = [64, 128, 10]
EPOCHS = 25
BATCH = 64
LEARNING_RATE = 3e-3


def init_params(rng, sizes):
    """One {'w', 'b'} dict per layer, Glorot-scaled weights."""
    return [{"w": rng.normal(0.0, np.sqrt(2.0 / (m + n)), (m, n)), "b": np.zeros(n)}
            for m, n in zip(sizes[:-1], sizes[1:], strict=True)]


def predict(params, x):
    """Logits of the network: tanh hidden layers, linear output layer."""
    *hidden, last = params
    for layer in hidden:
        x = cnp.tanh(x @ layer["w"] + layer["b"])
    return x @ last["w"] + last["b"]


def loss(params, x, onehot):
    """Mean softmax cross-entropy: -mean(log p[label])."""
    logp = nn.log_softmax(predict(params, x), axis=-1)
    return -cnp.mean(cnp.sum(onehot * logp, axis=-1))


def accuracy(params, x, labels):
    return float(np.mean(np.argmax(predict(params, x), axis=-1) == labels))


def adam(params, grads, state, step, lr, b1=0.9, b2=0.999, eps=1e-8):
    """One Adam update, leaf by leaf over the parameter pytree."""
    m, v = state
    m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    scale = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    params = tree_map(lambda p, m, v: p - scale * m / (np.sqrt(v) + eps), params, m, v)
    return params, (m, v)


def main():
    start = time.perf_counter()
    rng = np.random.default_rng(SEED)

    digits = load_digits()
    x_all = digits.data / 16.0  # pixel intensities 0..16 -> 0..1
    y_all = digits.target
    order = rng.permutation(len(x_all))
    n_test = len(x_all) // 5
    test, train = order[:n_test], order[n_test:]
    x_train, y_train = x_all[train], y_all[train]
    x_test, y_test = x_all[test], y_all[test]
    onehot_train = np.eye(10)[y_train]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels")
    print(f"network: {'-'.join(map(str, SIZES))}, tanh, softmax cross-entropy, Adam")

    params = init_params(rng, SIZES)
    zeros = tree_map(np.zeros_like, params)
    state = (zeros, zeros)
    loss_and_grad = cr.value_and_grad(loss)

    step = 0
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(len(x_train))
        total = 0.0
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            value, grads = loss_and_grad(params, x_train[idx], onehot_train[idx])
            step += 1
            params, state = adam(params, grads, state, step, LEARNING_RATE)
            total += float(value) * len(idx)
        if epoch == 1 or epoch % 5 == 0:
            print(f"epoch {epoch:3d}  train loss {total / len(perm):.4f}  "
                  f"test accuracy {accuracy(params, x_test, y_test):.3f}")
        else:
            print(f"epoch {epoch:3d}  train loss {total / len(perm):.4f}")

    train_acc = accuracy(params, x_train, y_train)
    test_acc = accuracy(params, x_test, y_test)
    elapsed = time.perf_counter() - start
    print(f"final: train accuracy {train_acc:.3f}, test accuracy {test_acc:.3f}")
    print(f"elapsed {elapsed:.1f} s ({step} gradient steps)")
    assert test_acc >= 0.95, f"test accuracy {test_acc:.3f} is below 0.95"


if __name__ == "__main__":
    main()
