"""chainrule.viz: the drawn graphs carry the lectures' numbers, and flat_code
runs and agrees with grad."""

import re
import shutil

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import viz

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(
    not HAVE_DOT, reason="the Graphviz 'dot' program is not installed (apt-get install graphviz)")

NEURON_ARGS = (2.0, -1.0, -3.0, -2.0, -3.0)          # w0, x0, w1, x1, w2
NEURON_GRADS = (-0.20, 0.39, -0.39, -0.59, 0.20)


def neuron(w0, x0, w1, x1, w2):
    return 1 / (1 + cnp.exp(-(w0 * x0 + w1 * x1 + w2)))


def sigmoid(x):
    return 1 / (1 + cnp.exp(-x))


def neuron_gate(w0, x0, w1, x1, w2):
    return sigmoid(w0 * x0 + w1 * x1 + w2)


@viz.node("sigmoid")
def marked_sigmoid(x):
    return 1 / (1 + cnp.exp(-x))


def _input_edges(g):
    """(value, grad) on the edge leaving each input, in argument order."""
    out = []
    for name in g.inputs:
        (edge,) = g.edges_from(name)
        out.append((round(float(edge.value), 2), round(float(edge.grad), 2)))
    return out


def _dot_edges(dot):
    """Parse ``src -> dst [label=<value<br/><font ...>grad</font>>`` lines."""
    pat = re.compile(r'(\w+) -> (\w+) \[label=<(.*?)(?:<br/><font color="red">(.*?)</font>)?>')
    return [m.groups() for m in pat.finditer(dot)]


# ------------------------------------------------------------- draw ---


def test_sigmoid_neuron_has_the_slide_numbers():
    g = viz.draw(neuron, *NEURON_ARGS)
    assert _input_edges(g) == list(zip(NEURON_ARGS, NEURON_GRADS))
    assert {k: round(float(v), 2) for k, v in g.grads.items()} == dict(
        zip(["w0", "x0", "w1", "x1", "w2"], NEURON_GRADS))
    assert round(float(g.value), 2) == 0.73
    # the inside of the sigmoid, as on the slides: 1.00 -> *-1 -> exp -> +1 -> 1/x
    labels = [n.label for n in g.nodes if n.kind == "op"]
    assert labels == ["*", "*", "+", "+", "*-1", "exp", "+1", "1/x"]
    inner = [(round(float(g.edges_from(n.id)[0].value), 2),
              round(float(g.edges_from(n.id)[0].grad), 2))
             for n in g.nodes if n.kind == "op"][3:]
    assert inner == [(1.0, 0.2), (-1.0, -0.2), (0.37, -0.53), (1.37, -0.53), (0.73, 1.0)]


def test_sigmoid_neuron_dot_text():
    g = viz.draw(neuron, *NEURON_ARGS)
    edges = _dot_edges(g.dot)
    ids = {n.label: n.id for n in g.nodes if n.kind == "input"}
    got = {src: (float(v), float(gr)) for src, _, v, gr in edges if src.startswith("in")}
    assert [got[ids[n]] for n in ["w0", "x0", "w1", "x1", "w2"]] == list(
        zip(NEURON_ARGS, NEURON_GRADS))
    assert g.dot.startswith("digraph") and g.dot.rstrip().endswith("}")


@pytest.mark.parametrize("how", ["dict", "decorator"])
def test_sigmoid_gate_is_one_node(how):
    if how == "dict":
        g = viz.draw(neuron_gate, *NEURON_ARGS, group={"sigmoid": sigmoid})
    else:
        g = viz.draw(lambda w0, x0, w1, x1, w2: marked_sigmoid(w0 * x0 + w1 * x1 + w2),
                     *NEURON_ARGS)
    (gate,) = [n for n in g.nodes if n.kind == "group"]
    assert gate.label == "sigmoid" and len(gate.eqns) == 4
    assert not [n for n in g.nodes if n.label in ("exp", "1/x")]
    (into,) = g.edges_to(gate.id)
    (out,) = g.edges_from(gate.id)
    # the slide: sigmoid's local gradient (1 - 0.73) * 0.73 turns 1.00 into 0.20
    assert (round(float(into.value), 2), round(float(into.grad), 2)) == (1.0, 0.2)
    assert (round(float(out.value), 2), round(float(out.grad), 2)) == (0.73, 1.0)
    assert _input_edges(g) == list(zip(NEURON_ARGS, NEURON_GRADS))


def test_each_call_of_a_grouped_function_is_its_own_node():
    g = viz.draw(lambda x: marked_sigmoid(marked_sigmoid(x)), 0.5)
    assert [n.label for n in g.nodes if n.kind == "group"] == ["sigmoid", "sigmoid"]


def test_add_mul_circuit():
    g = viz.draw(lambda x, y, z: (x + y) * z, -2.0, 5.0, -4.0)
    assert _input_edges(g) == [(-2.0, -4.0), (5.0, -4.0), (-4.0, 3.0)]
    (q,) = g.edges_from(g.node("+").id)
    assert (float(q.value), float(q.grad)) == (3.0, -4.0)


def test_a_value_used_twice_has_an_edge_per_use_and_sums_them():
    g = viz.draw(lambda x: x * 3.0 + cnp.sin(x), 0.0)
    grads = sorted(float(e.grad) for e in g.edges_from("x"))
    assert grads == [1.0, 3.0]           # copy gate: gradient adder
    assert float(g.grads["x"]) == 4.0


def test_max_gate_routes_and_relu_masks():
    g = viz.draw(lambda x, y: cnp.maximum(x, y) * 2.0, 4.0, 1.0)
    assert [float(e.grad) for e in g.edges_to(g.node("max").id)] == [2.0, 0.0]
    x = np.array([-1.0, 2.0, 3.0])
    g = viz.draw(lambda x: cnp.sum(cnp.maximum(x, 0.0)), x)
    assert g.node("max(0, ·)").kind == "op"
    np.testing.assert_array_equal(g.grads["x"], [0.0, 1.0, 1.0])


def test_matmul_lecture_example():
    x = np.array([[2.0, 1, -3], [-3, 4, 2]])
    w = np.array([[3.0, 2, 1, -1], [2, 1, 3, 2], [3, 2, 1, -2]])
    dy = np.array([[2.0, 3, -3, 9], [-8, 1, 4, 6]])
    g = viz.draw(lambda x, w: x @ w, x, w, backward=dy, max_size=12)
    (ex,) = g.edges_from("x")
    np.testing.assert_array_equal(g.value, [[-1, -1, 2, 6], [5, 2, 11, 7]])
    np.testing.assert_array_equal(ex.grad, [[0, 16, -9], [-24, 9, -30]])
    np.testing.assert_array_equal(g.grads["w"], x.T @ dy)
    assert "16.00, -9.00" in g.dot


def test_mlp_with_pytree_arguments_matches_grad():
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(4, 3)), "W2": rng.normal(size=(1, 4))}
    x = rng.normal(size=3)

    def loss(params, x):
        h = cnp.maximum(params["W1"] @ x, 0.0)
        return cnp.sum((params["W2"] @ h) ** 2)

    g = viz.draw(loss, params, x)
    assert g.inputs == ["params_W1", "params_W2", "x"]
    want = cr.grad(loss)(params, x)
    np.testing.assert_allclose(g.grads["params_W1"], want["W1"])
    np.testing.assert_allclose(g.grads["params_W2"], want["W2"])
    assert "f64[4,3]" in g.dot  # large values are shown by shape


def test_indexing_is_one_node_and_integers_have_no_gradient():
    def f(w, x, n):
        return w[0] * x[1] * n

    g = viz.draw(f, np.array([2.0, 3.0]), np.array([5.0, 7.0]), 2)
    assert {n.label for n in g.nodes if n.kind == "op"} >= {"[0]", "[1]"}
    np.testing.assert_array_equal(g.grads["w"], [14.0, 0.0])
    assert "n" not in g.grads
    (en,) = g.edges_from("n")
    assert en.grad is None


def test_backward_options():
    g = viz.draw(neuron, *NEURON_ARGS, backward=False)
    assert g.grads is None and all(e.grad is None for e in g.edges)
    assert "red" not in g.dot
    with pytest.raises(TypeError, match="one real scalar"):
        viz.draw(lambda x: x * 2.0, np.ones(3))
    g = viz.draw(lambda x: x * 2.0, np.ones(3), backward=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g.grads["x"], [2.0, 0.0, 4.0])


def test_render_without_dot_names_the_program(monkeypatch):
    from chainrule.viz import graph
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    g = viz.draw(neuron, *NEURON_ARGS)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        g.render("never-written.svg")
    assert g._repr_svg_() is None
    assert "digraph" in g.dot  # DOT text needs nothing


@needs_dot
def test_render_svg_and_png(tmp_path):
    g = viz.draw(neuron_gate, *NEURON_ARGS, group={"sigmoid": sigmoid})
    svg = tmp_path / "neuron.svg"
    g.render(svg)
    text = svg.read_text()
    assert "<svg" in text and "sigmoid" in text and "0.59" in text
    png = tmp_path / "neuron.png"
    g.render(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -------------------------------------------------------- flat_code ---


def test_flat_code_of_the_neuron_reads_like_the_lecture():
    code = viz.flat_code(neuron, *NEURON_ARGS)
    src = str(code)
    for line in ["s0 = w0 * x0", "s1 = w1 * x1", "s2 = s0 + s1", "s3 = s2 + w2",
                 "grad_L = 1.0", "grad_w2 = grad_s3", "grad_s0 = grad_s2",
                 "grad_s1 = grad_s2", "grad_w1 = grad_s1 * x1", "grad_x1 = grad_s1 * w1",
                 "grad_w0 = grad_s0 * x0", "grad_x0 = grad_s0 * w0"]:
        assert f"    {line}\n" in src, line
    env = {}
    exec(src, env)  # plain Python + NumPy
    value, grads = env["neuron"](*NEURON_ARGS)
    assert round(float(value), 2) == 0.73
    assert tuple(round(float(g), 2) for g in grads) == NEURON_GRADS


def _check_flat(f, *args):
    code = viz.flat_code(f, *args)
    env = {}
    exec(str(code), env)
    value, grads = env[code.name](*args)
    want_value, want = cr.value_and_grad(f, argnums=tuple(range(len(args))))(*args)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    for g, w in zip(grads, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    return str(code)


def test_flat_code_mlp_matches_grad():
    rng = np.random.default_rng(1)

    def mlp(W1, b1, W2, x):
        h = cnp.maximum(W1 @ x + b1, 0.0)
        return cnp.mean((W2 @ h - 1.0) ** 2)

    src = _check_flat(mlp, rng.normal(size=(5, 3)), rng.normal(size=5),
                      rng.normal(size=(2, 5)), rng.normal(size=3))
    assert "W2.T @ grad_" in src  # dL/dx = W^T dL/dy


def test_flat_code_value_used_twice_sums_gradients():
    def f(x, y):
        a = x * x + cnp.tanh(x)
        return cnp.sum(a * y) + cnp.max(a) + cnp.sum(cnp.log(y) * x[::-1])

    src = _check_flat(f, np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    assert "grad_x = grad_x + " in src


def test_flat_code_shapes_reductions_and_batched_matmul():
    rng = np.random.default_rng(2)

    def f(a, b):
        c = cnp.einsum("bij,bjk->bik", a, b)
        d = cnp.transpose(c, (0, 2, 1)).reshape(2, -1)
        e = cnp.concatenate([d, cnp.exp(d[:, :2])], axis=1)
        return cnp.sum(cnp.cumsum(e, axis=1) * cnp.sqrt(cnp.abs(e) + 1.0)) / cnp.sum(
            cnp.max(a, axis=(1, 2)) ** 2)

    _check_flat(f, rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4, 2)))


def test_flat_code_float32_and_integer_arguments():
    def f(x, n):
        return cnp.sum(x ** 3) * n

    code = viz.flat_code(f, np.array([1.0, 2.0], np.float32), 3)
    value, (gx, gn) = code.compile()(np.array([1.0, 2.0], np.float32), 3)
    np.testing.assert_allclose(gx, 9 * np.array([1.0, 4.0]))
    assert gx.dtype == np.float32 and gn.dtype == cr.float0


def test_flat_code_needs_a_scalar():
    with pytest.raises(TypeError, match="one real scalar"):
        viz.flat_code(lambda x: x * 2.0, np.ones(3))


def test_flat_code_without_a_numpy_spelling_calls_the_primitive():
    def f(x, i):
        return cnp.sum(x[i] ** 2) + cnp.sum(cnp.pad(x, ((1, 2),)) * 3.0)

    x, i = np.arange(5.0), np.array([0, 2, 2])
    code = viz.flat_code(f, x, i)
    assert "np.pad(x, ((1, 2),))" in str(code)
    env = {}
    exec(str(code), env)
    np.testing.assert_allclose(env["f"](x, i)[1][0], cr.grad(f)(x, i))
