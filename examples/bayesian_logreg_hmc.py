"""Hamiltonian Monte Carlo for Bayesian logistic regression on real data.

The model: scikit-learn's breast-cancer data (569 tumours, 30 standardised
features plus an intercept), ``w ~ N(0, 1)`` a priori (``scipy.stats.norm``),
``y_i ~ Bernoulli(sigmoid(x_i . w))``. The log likelihood is written with
``log_sigmoid`` (the Bernoulli log-pmf of a logit), which stays finite where
``sigmoid`` rounds to 1.

The sampler: the Laplace approximation (MAP by Newton's method with
``chainrule.hessian``) whitens the posterior, ``w = w_map + L u`` with
``L Lᵀ`` the inverse Hessian; HMC runs on ``u`` with leapfrog steps in
``lax.fori_loop``, momenta from ``random.normal`` and Metropolis acceptance
with ``random.uniform`` -- one ``chainrule.jit``-compiled function per step,
keys derived with ``random.fold_in``. It prints the acceptance rate, the
effective sample size of every coefficient and the posterior means, and checks
them against the Laplace approximation (close for this well-identified model).

Run with ``python examples/bayesian_logreg_hmc.py`` (needs scikit-learn).
"""

import time

import numpy as np
from sklearn.datasets import load_breast_cancer

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp
from chainrule import lax, random
from chainrule.scipy import stats

SEED = 0
WARMUP, SAMPLES = 300, 2000
STEP_SIZE, LEAPFROG_STEPS = 0.2, 8  # a quarter period of the whitened posterior


def load():
    data = load_breast_cancer()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    return np.hstack([np.ones((len(x), 1)), x]), data.target.astype(np.float64)


def make_log_posterior(x, y):
    def log_posterior(w):
        logits = x @ w
        log_lik = cnp.sum(y * nn.log_sigmoid(logits) + (1 - y) * nn.log_sigmoid(-logits))
        return log_lik + cnp.sum(stats.norm.logpdf(w, 0.0, 1.0))
    return log_posterior


def laplace(log_posterior, dim):
    """MAP by Newton's method, and the Cholesky factor of the inverse Hessian."""
    w = np.zeros(dim)
    grad, hess = cr.jit(cr.grad(log_posterior)), cr.jit(cr.hessian(log_posterior))
    for _ in range(50):
        step = np.linalg.solve(-hess(w), grad(w))
        w = w + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w, np.linalg.cholesky(np.linalg.inv(-hess(w)))


def make_hmc_step(log_posterior, w_map, chol):
    def potential(u):
        return -log_posterior(w_map + chol @ u)

    grad_u = cr.grad(potential)

    def hmc_step(u, key):
        k_momentum, k_accept = random.split(key)
        p0 = random.normal(k_momentum, u.shape)

        def leapfrog(i, state):
            q, p = state
            p = p - 0.5 * STEP_SIZE * grad_u(q)
            q = q + STEP_SIZE * p
            return q, p - 0.5 * STEP_SIZE * grad_u(q)

        q, p = lax.fori_loop(0, LEAPFROG_STEPS, leapfrog, (u, p0))
        log_ratio = (potential(u) + 0.5 * cnp.sum(p0 * p0)) - (potential(q) + 0.5 * cnp.sum(p * p))
        accept = cnp.log(random.uniform(k_accept)) < log_ratio
        return cnp.where(accept, q, u), accept

    return cr.jit(hmc_step)


def effective_sample_size(chain):
    """Per column: n / (-1 + 2 sum_k (rho_2k + rho_2k+1)), summed over Geyer's
    initial positive sequence of autocorrelation pairs; HMC's antithetic draws
    can make it exceed n."""
    n = len(chain)
    c = chain - chain.mean(0)
    f = np.fft.rfft(c, 2 * n, axis=0)
    acf = np.fft.irfft(f * np.conj(f), axis=0)[:n] / (c.var(0) * n)
    ess = []
    for rho in acf.T:
        total, t = 0.0, 0
        while t + 1 < n and rho[t] + rho[t + 1] > 0:
            total += rho[t] + rho[t + 1]
            t += 2
        ess.append(n / (-1 + 2 * total))
    return np.array(ess)


def main():
    start = time.perf_counter()
    x, y = load()
    log_posterior = make_log_posterior(x, y)
    w_map, chol = laplace(log_posterior, x.shape[1])
    print(f"breast cancer: {len(x)} cases, {x.shape[1]} coefficients; MAP log posterior "
          f"{float(log_posterior(w_map)):.2f}")

    step = make_hmc_step(log_posterior, w_map, chol)
    key = random.PRNGKey(SEED)
    u = np.zeros(x.shape[1])
    draws, accepted = [], 0
    for i in range(WARMUP + SAMPLES):
        u, acc = step(u, random.fold_in(key, i))
        if i >= WARMUP:
            draws.append(w_map + chol @ u)
            accepted += bool(acc)
    chain = np.array(draws)
    rate = accepted / SAMPLES
    ess = effective_sample_size(chain)
    mean, sd = chain.mean(0), chain.std(0)
    laplace_sd = np.sqrt(np.sum(chol ** 2, axis=1))
    names = ["intercept"] + list(load_breast_cancer().feature_names)
    print(f"{SAMPLES} draws after {WARMUP} warm-up steps; acceptance rate {rate:.3f}; "
          f"{LEAPFROG_STEPS} leapfrog steps of {STEP_SIZE}")
    print(f"{'coefficient':>24} {'mean':>8} {'sd':>7} {'MAP':>8} {'Laplace sd':>10} {'ESS':>7}")
    for j in range(0, len(names), 3):
        print(f"{names[j]:>24} {mean[j]:8.3f} {sd[j]:7.3f} {w_map[j]:8.3f} "
              f"{laplace_sd[j]:10.3f} {ess[j]:7.0f}")
    z = np.abs(mean - w_map) / sd
    print(f"effective sample size: min {ess.min():.0f}, median {np.median(ess):.0f}; "
          f"|mean - MAP| / sd at most {z.max():.2f}")
    print(f"elapsed {time.perf_counter() - start:.1f} s (compilation included)")
    assert 0.6 < rate < 0.995, rate
    assert ess.min() > 200, ess.min()
    assert z.max() < 0.6 and np.all((sd / laplace_sd > 0.7) & (sd / laplace_sd < 1.4))


if __name__ == "__main__":
    main()
