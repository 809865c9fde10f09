"""The lectures' worked examples give exactly their numbers."""

import numpy as np

import chainrule.numpy as cnp
from chainrule import grad, jacfwd, jacrev, jvp, make_jaxpr, value_and_grad, vjp


def test_add_mul_circuit():
    # f(x, y, z) = (x + y) * z at (-2, 5, -4): q = 3, f = -12
    def f(x, y, z):
        return (x + y) * z

    value, grads = value_and_grad(f, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
    assert value == -12.0
    assert tuple(float(g) for g in grads) == (-4.0, -4.0, 3.0)
    # forward mode, one input direction at a time
    assert [float(jvp(f, (-2.0, 5.0, -4.0), t)[1])
            for t in [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]] == [-4.0, -4.0, 3.0]


def _neuron(w, x):
    return 1 / (1 + cnp.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


W = np.array([2.0, -3.0, -3.0])
X = np.array([-1.0, -2.0])
# (w0, x0, w1, x1, w2)
NEURON = (-0.20, 0.39, -0.39, -0.59, 0.20)


def _order(dw, dx):
    return tuple(np.round([dw[0], dx[0], dw[1], dx[1], dw[2]], 2).tolist())


def test_sigmoid_neuron_reverse():
    value, (dw, dx) = value_and_grad(_neuron, argnums=(0, 1))(W, X)
    assert round(float(value), 2) == 0.73
    assert _order(dw, dx) == NEURON

    # scalar arguments, the lecture's circuit form
    def neuron(w0, x0, w1, x1, w2):
        return 1 / (1 + cnp.exp(-(w0 * x0 + w1 * x1 + w2)))

    g = grad(neuron, argnums=(0, 1, 2, 3, 4))(2.0, -1.0, -3.0, -2.0, -3.0)
    assert tuple(np.round(g, 2).tolist()) == NEURON
    # jacrev of a scalar function is its gradient
    dw, dx = jacrev(_neuron, argnums=(0, 1))(W, X)
    assert _order(dw, dx) == NEURON


def test_sigmoid_neuron_forward():
    dw = [jvp(lambda w: _neuron(w, X), (W,), (e,))[1] for e in np.eye(3)]
    dx = [jvp(lambda x: _neuron(W, x), (X,), (e,))[1] for e in np.eye(2)]
    assert _order(dw, dx) == NEURON
    dw, dx = jacfwd(_neuron, argnums=(0, 1))(W, X)
    assert _order(dw, dx) == NEURON


def test_sigmoid_neuron_with_the_sigmoid_gate_gives_the_same():
    # the lecture's shortcut: dsigma/dz = (1 - sigma) * sigma
    def neuron(w, x):
        z = w[0] * x[0] + w[1] * x[1] + w[2]
        return cnp.tanh(z / 2) / 2 + 0.5  # the same sigmoid, another form

    dw, dx = grad(neuron, argnums=(0, 1))(W, X)
    assert _order(dw, dx) == NEURON


def test_relu_routes_the_upstream_gradient():
    x = np.array([1.0, -2.0, 3.0, -1.0])
    upstream = np.array([4.0, -1.0, 5.0, 9.0])
    out, pullback = vjp(lambda x: cnp.maximum(x, 0), x)
    np.testing.assert_array_equal(out, [1.0, 0.0, 3.0, 0.0])
    (dx,) = pullback(upstream)
    np.testing.assert_array_equal(dx, [4.0, 0.0, 5.0, 0.0])
    (dx,) = vjp(lambda x: cnp.maximum(0.0, x), x)[1](upstream)
    np.testing.assert_array_equal(dx, [4.0, 0.0, 5.0, 0.0])


MX = np.array([[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]])
MW = np.array([[3.0, 2.0, 1.0, -1.0], [2.0, 1.0, 3.0, 2.0], [3.0, 2.0, 1.0, -2.0]])
UPSTREAM = np.array([[2.0, 3.0, -3.0, 9.0], [-8.0, 1.0, 4.0, 6.0]])
DX = np.array([[0.0, 16.0, -9.0], [-24.0, 9.0, -30.0]])


def test_matmul_example():
    out, pullback = vjp(lambda x, w: x @ w, MX, MW)
    np.testing.assert_array_equal(out, MX @ MW)
    dx, dw = pullback(UPSTREAM)
    np.testing.assert_array_equal(dx, DX)
    np.testing.assert_array_equal(dw, MX.T @ UPSTREAM)
    np.testing.assert_array_equal(dx, UPSTREAM @ MW.T)
    # the same through cnp.matmul and a scalar loss with the upstream as weights
    dx, dw = grad(lambda x, w: cnp.sum(cnp.matmul(x, w) * UPSTREAM), argnums=(0, 1))(MX, MW)
    np.testing.assert_array_equal(dx, DX)
    np.testing.assert_array_equal(dw, MX.T @ UPSTREAM)


def test_matmul_backward_is_two_matmuls():
    # the rule never forms a Jacobian: the backward pass is dot_generals only
    closed = make_jaxpr(lambda x, w: vjp(lambda x, w: x @ w, x, w)[1](UPSTREAM))(MX, MW)
    names = [e.prim.name for e in closed.eqns]
    assert names.count("dot_general") == 3  # forward, dL/dx, dL/dw
    assert all(int(np.prod(v.aval.shape)) <= 12 for e in closed.eqns for v in e.outputs)
