"""A variational autoencoder on the 8x8 digits, with the reparameterisation trick.

Encoder 64-128-(2 x 8) gives the mean and log-variance of a diagonal Gaussian
q(z | x); a sample ``z = mu + exp(logvar / 2) * eps`` with
``eps = chainrule.random.normal(key, ...)`` is decoded by 8-128-64 into
Bernoulli pixel logits. The loss is the negative ELBO (reconstruction
cross-entropy plus the closed-form KL to N(0, I)), and one training step --
a fresh key per step from ``random.fold_in``, the sample, the gradient through
it, and an Adam update -- is compiled whole with ``chainrule.jit``.

Prints the ELBO per epoch (it must improve) and, when matplotlib is installed,
saves ``vae_digits.png`` with test digits and their reconstructions.
Run with ``python examples/vae_digits.py`` (needs scikit-learn).
"""

import time

import numpy as np
from sklearn.datasets import load_digits

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp
from chainrule import random
from chainrule.tree_util import tree_map

SEED = 0
LATENT = 8
HIDDEN = 128
EPOCHS = 40
BATCH = 64
LEARNING_RATE = 2e-3


def dense(rng, m, n):
    return {"w": rng.normal(0.0, np.sqrt(2.0 / (m + n)), (m, n)), "b": np.zeros(n)}


def init_params(rng):
    return {"enc": dense(rng, 64, HIDDEN), "mu": dense(rng, HIDDEN, LATENT),
            "logvar": dense(rng, HIDDEN, LATENT),
            "dec": dense(rng, LATENT, HIDDEN), "out": dense(rng, HIDDEN, 64)}


def apply(layer, x):
    return x @ layer["w"] + layer["b"]


def encode(params, x):
    h = cnp.tanh(apply(params["enc"], x))
    return apply(params["mu"], h), apply(params["logvar"], h)


def decode(params, z):
    return apply(params["out"], cnp.tanh(apply(params["dec"], z)))  # pixel logits


def negative_elbo(params, key, x):
    """-ELBO per image: E_q[-log p(x | z)] + KL(q(z | x) || N(0, I)), one sample."""
    mu, logvar = encode(params, x)
    eps = random.normal(key, mu.shape)
    z = mu + cnp.exp(0.5 * logvar) * eps          # reparameterised: gradients reach mu, logvar
    logits = decode(params, z)
    # Bernoulli log-likelihood of intensities in [0, 1]: x log s(l) + (1 - x) log s(-l)
    recon = -cnp.sum(x * nn.log_sigmoid(logits) + (1 - x) * nn.log_sigmoid(-logits), axis=-1)
    kl = 0.5 * cnp.sum(cnp.exp(logvar) + mu * mu - 1.0 - logvar, axis=-1)
    return cnp.mean(recon + kl)


def train_step(params, m, v, step, key, x, b1=0.9, b2=0.999, eps=1e-8):
    value, grads = cr.value_and_grad(negative_elbo)(params, random.fold_in(key, step), x)
    m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    t = step + 1.0
    scale = LEARNING_RATE * cnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    params = tree_map(lambda p, m, v: p - scale * m / (cnp.sqrt(v) + eps), params, m, v)
    return params, m, v, value


def save_reconstructions(params, x, path="vae_digits.png"):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    mu, _ = encode(params, x)
    recon = 1 / (1 + np.exp(-decode(params, mu)))
    fig, axes = plt.subplots(2, len(x), figsize=(len(x), 2.2))
    for i in range(len(x)):
        for row, img in enumerate((x[i], recon[i])):
            axes[row, i].imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].axis("off")
    fig.suptitle("test digits (top) and their reconstructions (bottom)")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main():
    start = time.perf_counter()
    rng = np.random.default_rng(SEED)
    x_all = load_digits().data / 16.0
    order = rng.permutation(len(x_all))
    n_test = len(x_all) // 5
    x_test, x_train = x_all[order[:n_test]], x_all[order[n_test:]]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images; latent size {LATENT}")

    params = init_params(rng)
    m, v = tree_map(np.zeros_like, params), tree_map(np.zeros_like, params)
    key = random.PRNGKey(SEED)
    step_fn = cr.jit(train_step)
    test_elbo = cr.jit(lambda p, x: -negative_elbo(p, random.PRNGKey(1), x))

    n_full = len(x_train) // BATCH * BATCH
    step, history = 0, []
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(len(x_train))[:n_full]
        total = 0.0
        for i in range(0, n_full, BATCH):
            batch = x_train[perm[i:i + BATCH]]
            params, m, v, value = step_fn(params, m, v, np.uint32(step), key, batch)
            step += 1
            total += float(value)
        history.append(float(test_elbo(params, x_test)))
        if epoch == 1 or epoch % 5 == 0:
            print(f"epoch {epoch:3d}  train ELBO {-total / (n_full // BATCH):8.3f}  "
                  f"test ELBO {history[-1]:8.3f} nats per image")

    path = save_reconstructions(params, x_test[:10])
    print(f"elapsed {time.perf_counter() - start:.1f} s ({step} steps, compilation included)"
          + (f"; reconstructions in {path}" if path else ""))
    assert history[-1] > history[0] + 5.0, f"the test ELBO did not improve: {history}"


if __name__ == "__main__":
    main()
