"""chainrule in five minutes: the lectures' worked examples, computed for you.

Run it with ``python examples/quickstart.py``. Every number printed is also
checked against the lectures' values, so if the library were wrong this
script would stop with an error instead of printing a wrong answer.
"""

import numpy as np
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.nn as nn
import chainrule.numpy as cnp

np.set_printoptions(precision=2, suppress=True)


def section(title):
    print(f"\n=== {title} ===")


# -- (a) A scalar graph: f(x, y, z) = (x + y) * z --------------------------
# Backward: the add node hands its upstream gradient to both inputs
# unchanged; the mul node swaps its inputs (df/dz = x + y, d(x+y) = z).
section("(a) f(x, y, z) = (x + y) * z at (-2, 5, -4)")


def f(x, y, z):
    q = x + y
    return q * z


print("f =", f(-2.0, 5.0, -4.0))
dx, dy, dz = cr.grad(f, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
print(f"df/dx = {dx}, df/dy = {dy}, df/dz = {dz}")
assert_allclose([dx, dy, dz], [-4.0, -4.0, 3.0])

# -- (b) The sigmoid neuron ------------------------------------------------
# sigma(w0*x0 + w1*x1 + w2); the sigmoid's local gradient is (1 - s) * s.
section("(b) sigmoid neuron at w = (2, -3, -3), x = (-1, -2)")


def neuron(w0, x0, w1, x1, w2):
    s0 = w0 * x0
    s1 = w1 * x1
    s2 = s0 + s1
    s3 = s2 + w2
    return nn.sigmoid(s3)


args = (2.0, -1.0, -3.0, -2.0, -3.0)  # w0, x0, w1, x1, w2
grads = cr.grad(neuron, argnums=(0, 1, 2, 3, 4))(*args)
print("L =", neuron(*args))
for name, g in zip(["w0", "x0", "w1", "x1", "w2"], grads, strict=True):
    print(f"dL/d{name} = {float(g):+.2f}")
assert_allclose(grads, [-0.20, 0.39, -0.39, -0.59, 0.20], atol=0.005)

# -- (c) ReLU routes the upstream gradient ---------------------------------
# vjp returns the function's value and a function that pulls an upstream
# gradient back through it: ReLU passes it where x > 0 and blocks it elsewhere.
section("(c) ReLU: upstream (4, -1, 5, 9) on x = (1, -2, 3, -1)")
x = np.array([1.0, -2.0, 3.0, -1.0])
y, relu_vjp = cr.vjp(nn.relu, x)
(dx,) = relu_vjp(np.array([4.0, -1.0, 5.0, 9.0]))
print("relu(x)     =", y)
print("downstream  =", dx)
assert_allclose(y, [1.0, 0.0, 3.0, 0.0])
assert_allclose(dx, [4.0, 0.0, 5.0, 0.0])

# -- (d) Matrix multiply ---------------------------------------------------
# For y = x @ w the backward pass never builds the Jacobian:
# dL/dx = upstream @ w.T and dL/dw = x.T @ upstream.
section("(d) y = x @ w with upstream dL/dy")
x = np.array([[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]])
w = np.array([[3.0, 2.0, 1.0, -1.0], [2.0, 1.0, 3.0, 2.0], [3.0, 2.0, 1.0, -2.0]])
upstream = np.array([[2.0, 3.0, -3.0, 9.0], [-8.0, 1.0, 4.0, 6.0]])
y, mm_vjp = cr.vjp(cnp.matmul, x, w)
dx, dw = mm_vjp(upstream)
print("dL/dx =\n", dx)
print("dL/dw =\n", dw)
assert_allclose(dx, [[0.0, 16.0, -9.0], [-24.0, 9.0, -30.0]])
assert_allclose(dw, x.T @ upstream)

# -- (e) The backward pass is code -----------------------------------------
# make_jaxpr traces a function into chainrule's IR. For grad(neuron) the IR
# is the forward pass followed by the lectures' "flat" backward code: one
# line per local-times-upstream product, in reverse order.
section("(e) make_jaxpr(grad(neuron)): forward then backward, as flat code")
print(cr.make_jaxpr(cr.grad(neuron, argnums=(0, 1, 2, 3, 4)))(*args))
print("Read it against the lectures: after `logistic` (L = sigmoid(s3)) come\n"
      "grad_s3 = grad_L * (1 - L) * L, then one `mul` per input where the mul\n"
      "nodes swap their inputs (grad_w1 = grad_s3 * x1, grad_x1 = grad_s3 * w1, ...);\n"
      "the add nodes pass grad_s3 through unchanged, so they cost no equation.")

# -- (f) Forward mode and reverse mode -------------------------------------
# jvp pushes a tangent forward (J @ v, one pass per input direction); vjp
# pulls a cotangent back (u @ J, one pass per output direction). Both give
# the same Jacobian; they differ in cost.
section("(f) forward vs reverse mode on g(x) = (sum(x**2), prod(sin(x)))")


def g(x):
    return cnp.stack([cnp.sum(x ** 2), cnp.prod(cnp.sin(x))])


x = np.array([0.5, 1.0, 2.0])
v = np.array([1.0, 0.0, 0.0])
u = np.array([0.0, 1.0])
J_fwd = cr.jacfwd(g)(x)
J_rev = cr.jacrev(g)(x)
_, Jv = cr.jvp(g, (x,), (v,))
_, g_vjp = cr.vjp(g, x)
(uJ,) = g_vjp(u)
print("jacfwd(g)(x) =\n", J_fwd)
print("J @ v  (jvp) =", Jv)
print("u @ J  (vjp) =", uJ)
J_exact = np.array([2 * x, np.cos(x) * np.prod(np.sin(x)) / np.sin(x)])
assert_allclose(J_fwd, J_exact)
assert_allclose(J_rev, J_fwd)
assert_allclose(Jv, J_exact @ v)
assert_allclose(uJ, u @ J_exact)


def h(x):
    return cnp.sum(x ** 3) + x[0] * x[1]


H = cr.hessian(h)(x)
print("hessian of sum(x**3) + x0*x1 =\n", H)
assert_allclose(H, np.diag(6 * x) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]))

print("\nAll results match the lectures.")
