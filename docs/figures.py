"""Regenerate the tutorial's pictures: python docs/figures.py

Needs the Graphviz ``dot`` program (apt-get install graphviz). Each figure
is ``chainrule.viz.draw`` of one of the lectures' examples, written to
docs/img/*.svg; the DOT source goes next to it (*.dot) so that the pictures
can be reviewed as text.
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import chainrule.numpy as cnp  # noqa: E402
from chainrule import lax  # noqa: E402
from chainrule import viz  # noqa: E402

IMG = ROOT / "docs" / "img"


def add_mul(x, y, z):
    return (x + y) * z


def neuron(w0, x0, w1, x1, w2):
    return 1 / (1 + cnp.exp(-(w0 * x0 + w1 * x1 + w2)))


def sigmoid(x):
    return 1 / (1 + cnp.exp(-x))


def neuron_gate(w0, x0, w1, x1, w2):
    return sigmoid(w0 * x0 + w1 * x1 + w2)


def gates(x, y, z, w):
    # add distributes, mul swaps, max routes, a copy adds
    return 2.0 * (x * y + cnp.maximum(z, w))


def relu(x):
    return cnp.maximum(x, 0.0)


def matmul(x, w):
    return x @ w


@viz.node("linear")
def linear(W, b, x):
    return W @ x + b


@viz.node("relu")
def relu_layer(h):
    return cnp.maximum(h, 0.0)


@viz.node("squared error")
def squared_error(y, target):
    return cnp.sum((y - target) ** 2)


def conv1d(x, w):
    # one image of 5 pixels, one channel in and out: layout (N, C, W), (O, I, W)
    return lax.conv_general_dilated(x, w, (1,), "VALID")


def mlp(W1, b1, W2, b2, x, target):
    return squared_error(linear(W2, b2, relu_layer(linear(W1, b1, x))), target)


def figures():
    rng = np.random.default_rng(0)
    yield "add_mul", viz.draw(add_mul, -2.0, 5.0, -4.0)
    yield "neuron", viz.draw(neuron, 2.0, -1.0, -3.0, -2.0, -3.0)
    yield "neuron_sigmoid", viz.draw(neuron_gate, 2.0, -1.0, -3.0, -2.0, -3.0,
                                     group={"sigmoid": sigmoid})
    yield "gates", viz.draw(gates, 3.0, -4.0, 2.0, -1.0)
    yield "relu", viz.draw(relu, np.array([1.0, -2.0, 3.0, -1.0]),
                           backward=np.array([4.0, -1.0, 5.0, 9.0]))
    x = np.array([[2.0, 1, -3], [-3, 4, 2]])
    w = np.array([[3.0, 2, 1, -1], [2, 1, 3, 2], [3, 2, 1, -2]])
    dy = np.array([[2.0, 3, -3, 9], [-8, 1, 4, 6]])
    yield "matmul", viz.draw(matmul, x, w, backward=dy, max_size=12, precision=0)
    yield "conv1d", viz.draw(conv1d, np.array([[[1.0, 2, -1, 3, 0]]]),
                             np.array([[[2.0, -1, 1]]]), backward=np.array([[[1.0, -2, 3]]]),
                             max_size=5, precision=0)
    W1, b1 = rng.normal(size=(16, 4)), np.zeros(16)
    W2, b2 = rng.normal(size=(3, 16)), np.zeros(3)
    yield "mlp", viz.draw(mlp, W1, b1, W2, b2, rng.normal(size=4), np.array([1.0, 0.0, 0.0]))


def main():
    IMG.mkdir(parents=True, exist_ok=True)
    for name, graph in figures():
        (IMG / f"{name}.dot").write_text(graph.dot)
        graph.render(IMG / f"{name}.svg")
        print(f"wrote docs/img/{name}.svg")


if __name__ == "__main__":
    main()
