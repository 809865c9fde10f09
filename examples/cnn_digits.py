"""Train a small convolutional network on handwritten digits with chainrule.

Two 3x3 convolutions (16 and 32 channels, ReLU, 2x2 max pooling each), a dense
layer and softmax cross-entropy, on scikit-learn's bundled 8x8 ``load_digits``
images (nothing is downloaded). The layers are JAX's: ``lax.conv_general_dilated``
in NHWC/HWIO layout and ``lax.reduce_window`` with ``lax.max``. The whole
training step -- forward pass, reverse-mode gradient and the Adam update written
below -- is one ``chainrule.jit``-compiled function.

Run with ``python examples/cnn_digits.py``; needs scikit-learn
(``pip install -e '.[examples]'``); shows a tqdm progress bar if tqdm is installed.
"""

import time

import numpy as np
from sklearn.datasets import load_digits

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp
from chainrule import lax
from chainrule.tree_util import tree_map

SEED = 0
EPOCHS = 30
BATCH = 32
LEARNING_RATE = 3e-3
LAYOUT = ("NHWC", "HWIO", "NHWC")


def init_params(rng):
    def conv(cin, cout):
        return {"w": rng.normal(0.0, np.sqrt(2.0 / (9 * cin)), (3, 3, cin, cout)),
                "b": np.zeros(cout)}
    return {"conv1": conv(1, 16), "conv2": conv(16, 32),
            "dense": {"w": rng.normal(0.0, np.sqrt(1.0 / 128), (2 * 2 * 32, 10)),
                      "b": np.zeros(10)}}


def conv_relu_pool(x, layer):
    y = lax.conv_general_dilated(x, layer["w"], (1, 1), "SAME", dimension_numbers=LAYOUT)
    y = nn.relu(y + layer["b"])
    return lax.reduce_window(y, -np.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def predict(params, x):
    """Logits for a batch of 8x8x1 images: 8x8 -> 4x4x16 -> 2x2x32 -> 10."""
    x = conv_relu_pool(x, params["conv1"])
    x = conv_relu_pool(x, params["conv2"])
    x = x.reshape(x.shape[0], -1)
    return x @ params["dense"]["w"] + params["dense"]["b"]


def loss(params, x, onehot):
    return -cnp.mean(cnp.sum(onehot * nn.log_softmax(predict(params, x), axis=-1), axis=-1))


def adam_step(params, m, v, step, x, onehot, b1=0.9, b2=0.999, eps=1e-8):
    """Loss, gradient and one Adam update; jitted whole below."""
    value, grads = cr.value_and_grad(loss)(params, x, onehot)
    m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    scale = LEARNING_RATE * cnp.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    params = tree_map(lambda p, m, v: p - scale * m / (cnp.sqrt(v) + eps), params, m, v)
    return params, m, v, value


def progress(iterable, desc):
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, leave=False)


def main():
    start = time.perf_counter()
    rng = np.random.default_rng(SEED)
    digits = load_digits()
    images = (digits.images / 16.0)[..., None]  # NHWC, intensities in [0, 1]
    labels = digits.target
    order = rng.permutation(len(images))
    n_test = len(images) // 5
    test, train = order[:n_test], order[n_test:]
    x_train, y_train, x_test, y_test = images[train], labels[train], images[test], labels[test]
    onehot = np.eye(10)[y_train]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, 8x8x1")

    params = init_params(rng)
    m = tree_map(np.zeros_like, params)
    v = tree_map(np.zeros_like, params)
    step_fn = cr.jit(adam_step)
    predict_fn = cr.jit(predict)

    def accuracy(x, y):
        return float(np.mean(np.argmax(predict_fn(params, x), axis=-1) == y))

    step = 0
    n_full = len(x_train) // BATCH * BATCH  # whole batches only: one compiled shape
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(len(x_train))[:n_full]
        total = 0.0
        for i in progress(range(0, n_full, BATCH), f"epoch {epoch}"):
            idx = perm[i:i + BATCH]
            step += 1
            params, m, v, value = step_fn(params, m, v, float(step), x_train[idx], onehot[idx])
            total += float(value) * len(idx)
        print(f"epoch {epoch:3d}  train loss {total / n_full:.4f}  "
              f"test accuracy {accuracy(x_test, y_test):.3f}")

    test_acc = accuracy(x_test, y_test)
    elapsed = time.perf_counter() - start
    print(f"final: train accuracy {accuracy(x_train, y_train):.3f}, test accuracy {test_acc:.3f}")
    print(f"elapsed {elapsed:.1f} s ({step} steps, compilation included)")
    assert test_acc >= 0.97, f"test accuracy {test_acc:.3f} is below 0.97"


if __name__ == "__main__":
    main()
