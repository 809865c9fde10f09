"""Fit the hyperparameters of a Gaussian-process regression with chainrule.

Data: 80 noisy samples of ``f(x) = sin(2x) + 0.3 x`` on [-4, 4], with
Gaussian noise of standard deviation 0.1 (generated here, nothing is
downloaded). Model: a zero-mean GP with the RBF kernel

    k(x, x') = s² exp(-(x - x')² / (2 l²)),   K = k(X, X) + σ² I,

and its negative log marginal likelihood, computed through the Cholesky
factor K = L Lᵀ without forming K⁻¹:

    NLML = ½ |L⁻¹ y|² + Σ log L_ii + (n/2) log 2π.

The hyperparameters (log l, log σ, log s) are fitted with Adam on
``chainrule.value_and_grad`` of the NLML; its gradient flows back through
``cholesky`` and ``solve`` by their own rules (two triangular solves and one
more solve per step, no Jacobian). A few Newton steps with
``chainrule.hessian`` (second order through the Cholesky factorisation)
polish the optimum. The script asserts convergence and that the fitted
noise level and the posterior mean are close to the truth.

The likelihood has a second, worse local minimum with a very long length
scale (the data explained as a straight line plus large noise); starting
from l = 1 rather than l = 3 is what keeps Adam away from it.

Run with ``python examples/gaussian_process.py`` (a couple of seconds).
"""

import time

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp

SEED = 0
N = 80
TRUE_NOISE = 0.1
STEPS = 300
LEARNING_RATE = 0.05


def truth(x):
    return np.sin(2 * x) + 0.3 * x


def make_data(rng):
    x = np.sort(rng.uniform(-4.0, 4.0, N))
    return x, truth(x) + TRUE_NOISE * rng.normal(size=N)


def rbf(xa, xb, length_scale, signal):
    d = xa[:, None] - xb[None, :]
    return signal ** 2 * cnp.exp(-0.5 * d ** 2 / length_scale ** 2)


def nlml(theta, x, y):
    """Negative log marginal likelihood of (log l, log σ, log s)."""
    length_scale, noise, signal = cnp.exp(theta[0]), cnp.exp(theta[1]), cnp.exp(theta[2])
    K = rbf(x, x, length_scale, signal) + noise ** 2 * cnp.eye(len(x))
    L = cnp.linalg.cholesky(K)
    z = cnp.linalg.solve(L, y)                     # L⁻¹ y (L is triangular)
    return (0.5 * cnp.sum(z ** 2) + cnp.sum(cnp.log(cnp.diagonal(L)))
            + 0.5 * len(x) * np.log(2 * np.pi))


def posterior_mean(theta, x, y, x_new):
    length_scale, noise, signal = np.exp(theta)
    K = rbf(x, x, length_scale, signal) + noise ** 2 * np.eye(len(x))
    return rbf(x_new, x, length_scale, signal) @ cnp.linalg.solve(K, y)


def adam(value_and_grad, theta, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    history = []
    for t in range(1, steps + 1):
        value, g = value_and_grad(theta)
        history.append(value)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        theta = theta - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return theta, history


def main():
    start = time.perf_counter()
    rng = np.random.default_rng(SEED)
    x, y = make_data(rng)
    objective = cr.value_and_grad(lambda theta: nlml(theta, x, y))

    theta0 = np.log(np.array([1.0, 0.5, 1.0]))        # l = 1, σ = 0.5, s = 1
    theta, history = adam(objective, theta0, STEPS, LEARNING_RATE)
    hessian = cr.hessian(lambda theta: nlml(theta, x, y))
    for _ in range(5):                                 # Newton polish, second order
        theta = theta - np.linalg.solve(hessian(theta), objective(theta)[1])
    final, grad = objective(theta)

    length_scale, noise, signal = np.exp(theta)
    grid = np.linspace(-3.5, 3.5, 200)
    rmse = np.sqrt(np.mean((posterior_mean(theta, x, y, grid) - truth(grid)) ** 2))
    print(f"NLML: {history[0]:.3f} at the start -> {final:.3f} "
          f"(|grad| = {np.linalg.norm(grad):.1e})")
    print(f"fitted length scale {length_scale:.3f}, noise {noise:.3f} (true {TRUE_NOISE}), "
          f"signal {signal:.3f}")
    print(f"posterior mean vs the true function: RMSE {rmse:.3f} on [-3.5, 3.5]")
    print(f"{time.perf_counter() - start:.1f} s")

    assert final < history[0] - 10, "the likelihood did not improve"
    assert np.linalg.norm(grad) < 1e-6, "not converged: the gradient is not zero"
    assert np.all(np.linalg.eigvalsh(hessian(theta)) > 0), "not a minimum"
    assert 0.5 * TRUE_NOISE < noise < 2 * TRUE_NOISE, noise
    assert rmse < 0.1, rmse


if __name__ == "__main__":
    main()
