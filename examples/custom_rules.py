"""Custom derivative rules: when the derivative autodiff would compute is
not the one you want.

1. Numerical stability (``custom_jvp``): ``logsumexp`` and ``softplus``
   written naively overflow at x = 1000, and so does their derivative, which
   comes out as NaN; a rule that states the derivative (softmax, sigmoid)
   directly is exact there.
2. Gradient clipping in the backward pass (``custom_vjp``): the identity
   going forward, a clip of the cotangent coming back.
3. Implicit differentiation (``custom_vjp``): the root x*(θ) of
   g(x, θ) = 0 found by Newton's method in a ``lax.while_loop``,
   differentiated by the implicit function theorem, dx*/dθ = -g_θ / g_x at
   the root, so the solver's iterations are never taped or unrolled. It
   works even under ``jit``, where reverse mode through a ``while_loop``
   whose trip count is only known at run time is refused.

Run it with ``python examples/custom_rules.py``; every result is asserted.
"""

import functools

import numpy as np
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp
from chainrule import custom_jvp, custom_vjp, lax
from chainrule.test_util import check_grads

np.set_printoptions(precision=6, suppress=True)


def section(title):
    print(f"\n=== {title} ===")


# ----------------------------------------------------------------------------
section("1. Stable logsumexp and softplus with custom_jvp")


def logsumexp_naive(x):
    return cnp.log(cnp.sum(cnp.exp(x)))


@custom_jvp
def logsumexp(x):
    m = cnp.max(x)
    return m + cnp.log(cnp.sum(cnp.exp(x - m)))  # exp of values <= 0: no overflow


@logsumexp.defjvp
def logsumexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    out = logsumexp(x)
    softmax = cnp.exp(x - out)  # d logsumexp / dx, computed stably
    return out, cnp.sum(softmax * t)


def softplus_naive(x):
    return cnp.log1p(cnp.exp(x))


@custom_jvp
def softplus(x):
    return cnp.maximum(x, 0.0) + cnp.log1p(cnp.exp(-cnp.abs(x)))


@softplus.defjvp
def softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), t * nn.sigmoid(x)  # sigmoid is written stably too


x = np.array([1000.0, 999.0, 998.0])
with np.errstate(over="ignore", invalid="ignore"):
    naive_value = logsumexp_naive(x)
    naive_grad = cr.grad(logsumexp_naive)(x)
    naive_sp_value = softplus_naive(1000.0)
    naive_sp_grad = cr.grad(softplus_naive)(1000.0)
value, grad = logsumexp(x), cr.grad(logsumexp)(x)
expected = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
print(f"logsumexp at x = {x}:")
print(f"  naive:  value {naive_value}, gradient {naive_grad}")
print(f"  custom: value {float(value):.6f}, gradient {grad}  (= softmax(x))")
assert np.isinf(naive_value) and np.all(np.isnan(naive_grad))
assert_allclose(value, 1000.0 + np.log(np.sum(np.exp(x - 1000.0))), rtol=1e-15)
assert_allclose(grad, expected, rtol=1e-12)

sp_grad = cr.grad(softplus)(1000.0)
print("softplus at x = 1000:")
print(f"  naive:  value {naive_sp_value}, gradient {naive_sp_grad}")
print(f"  custom: value {float(softplus(1000.0))}, gradient {float(sp_grad)}")
assert np.isinf(naive_sp_value) and np.isnan(naive_sp_grad)
assert_allclose(softplus(1000.0), 1000.0)
assert_allclose(sp_grad, 1.0)
# the rules agree with the plain formulas where those are fine, in every mode
xs = np.array([-30.0, -1.0, 0.0, 2.5, 30.0])
assert_allclose(cr.vmap(cr.grad(softplus))(xs), 1 / (1 + np.exp(-xs)), rtol=1e-12)
assert_allclose(cr.vmap(cr.grad(cr.grad(softplus)))(xs),
                np.exp(-xs) / (1 + np.exp(-xs)) ** 2, rtol=1e-9, atol=1e-15)
y = np.array([0.3, -1.2, 2.0])
assert_allclose(cr.hessian(logsumexp)(y), cr.hessian(logsumexp_naive)(y), rtol=1e-12)
check_grads(logsumexp, (y,), order=2)
print("second derivatives (grad of grad, hessian) agree with the naive formulas: ok")

# ----------------------------------------------------------------------------
section("2. Gradient clipping in the backward pass with custom_vjp")


@functools.partial(custom_vjp, nondiff_argnums=(1,))
def clip_gradient(x, max_norm):
    """The identity; on the way back the cotangent's norm is capped."""
    return x


def clip_fwd(x, max_norm):
    return x, None  # nothing to save for the backward pass


def clip_bwd(max_norm, _, g):
    norm = cnp.sqrt(cnp.sum(g * g))
    return (g * cnp.minimum(1.0, max_norm / cnp.maximum(norm, 1e-30)),)


clip_gradient.defvjp(clip_fwd, clip_bwd)


def loss(w, clip=None):
    h = w if clip is None else clip_gradient(w, clip)
    return 50.0 * cnp.sum(h ** 2)  # a steep loss: large gradients


w = np.array([3.0, -4.0])
g_plain = cr.grad(loss)(w)
g_clip = cr.grad(loss)(w, 1.0)
print(f"gradient {g_plain} (norm {np.linalg.norm(g_plain):.1f}); clipped to norm 1: {g_clip}")
assert_allclose(loss(w, 1.0), loss(w))  # forward pass unchanged
assert_allclose(g_plain, 100.0 * w)
assert_allclose(g_clip, w / 5.0)  # same direction, unit norm
assert_allclose(cr.grad(loss)(w * 1e-4, 1.0), g_plain * 1e-4)  # small ones pass through
# per-example clipping, as in DP-SGD: vmap the clipped gradient
ws = np.array([[3.0, -4.0], [0.001, 0.002], [0.0, 10.0]])
per_example = cr.vmap(lambda w: cr.grad(loss)(w, 1.0))(ws)
print("per-example clipped gradients:\n", per_example)
assert_allclose(per_example, np.stack([cr.grad(loss)(w, 1.0) for w in ws]))
assert np.all(np.linalg.norm(per_example, axis=1) <= 1.0 + 1e-12)

# ----------------------------------------------------------------------------
section("3. Implicit differentiation of a Newton solver with custom_vjp")
# Kepler's equation: the eccentric anomaly E solves g(E, θ) = E - e sin E - M = 0
# for θ = (e, M). No closed form; Newton's method finds it.


def g(x, theta):
    e, m = theta[0], theta[1]
    return x - e * cnp.sin(x) - m


def newton_solve(theta, tol=1e-13):
    g_x = cr.grad(g, argnums=0)

    def cond(state):
        x, _ = state
        return cnp.abs(g(x, theta)) > tol

    def body(state):
        x, n = state
        return x - g(x, theta) / g_x(x, theta), n + 1

    x, steps = lax.while_loop(cond, body, (theta[1] + 0.5 * theta[0], 0))
    return x, steps


@custom_vjp
def solve(theta):
    return newton_solve(theta)[0]


def solve_fwd(theta):
    x = newton_solve(theta)[0]
    return x, (x, theta)  # the root is all the backward pass needs


def solve_bwd(res, ct):
    x, theta = res
    g_x = cr.grad(g, argnums=0)(x, theta)
    g_theta = cr.grad(g, argnums=1)(x, theta)
    return (-ct * g_theta / g_x,)  # implicit function theorem


solve.defvjp(solve_fwd, solve_bwd)

theta = np.array([0.6, 1.2])
root, steps = newton_solve(theta)
dtheta = cr.grad(solve)(theta)
eps = 1e-6
fd = np.array([(solve(theta + eps * d) - solve(theta - eps * d)) / (2 * eps)
               for d in np.eye(2)])
e, M = theta
analytic = np.array([np.sin(root), 1.0]) / (1 - e * np.cos(root))
print(f"theta = (e, M) = {theta}: root E = {float(root):.12f} after {int(steps)} Newton steps")
print(f"  g(E, theta) = {float(g(root, theta)):.1e}")
print(f"  dE/dtheta implicit  = {dtheta}")
print(f"  finite differences  = {fd}")
print(f"  analytic            = {analytic}  (sin E, 1) / (1 - e cos E)")
assert abs(float(g(root, theta))) < 1e-12
assert_allclose(dtheta, fd, rtol=1e-7)
assert_allclose(dtheta, analytic, rtol=1e-12)

# forward mode through the custom_vjp (the transpose of bwd) and vmap over θ
_, tangent = cr.jvp(solve, (theta,), (np.array([0.0, 1.0]),))
assert_allclose(tangent, analytic[1], rtol=1e-12)
thetas = np.array([[0.1, 0.5], [0.6, 1.2], [0.9, 3.0]])
jac = cr.vmap(cr.grad(solve))(thetas)
for t, row in zip(thetas, jac):
    r = solve(t)
    assert_allclose(row, np.array([np.sin(r), 1.0]) / (1 - t[0] * np.cos(r)), rtol=1e-10)
print("jvp and vmap(grad) over several θ agree with the analytic derivative: ok")

# Under jit the solver's trip count is a run-time value. Reverse mode through
# the while_loop itself is refused there, but the implicit rule needs no tape
# of the iterations, so jit(grad(solve)) works.
unrolled = lambda theta: newton_solve(theta)[0]  # noqa: E731
try:
    cr.jit(cr.grad(unrolled))(theta)
    raise AssertionError("expected reverse mode through a traced while_loop to be refused")
except NotImplementedError as err:
    print(f"jit(grad) through the loop itself: NotImplementedError ({str(err)[:60]}...)")
names = [e.prim.name for e in cr.make_jaxpr(cr.grad(solve))(theta).eqns]
print(f"make_jaxpr(grad(solve)): {names.count('while')} while (the forward solve), "
      f"{names.count('scan')} scans, {len(names)} equations in all")
assert names.count("while") == 1 and "scan" not in names  # the backward pass has no loop
jitted = cr.jit(cr.grad(solve))(theta)
assert_allclose(jitted, dtheta, rtol=1e-12)
print(f"jit(grad(solve)) via the implicit rule: {jitted}")
# outside jit, grad through the unrolled loop also works (the trip count is
# recorded), but it differentiates every Newton step; the implicit rule
# differentiates g once, at the root
assert_allclose(cr.grad(unrolled)(theta), dtheta, rtol=1e-9)
print("\nall custom-rule checks passed")
