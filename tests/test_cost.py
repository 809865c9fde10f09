"""chainrule.cost: FLOP and byte counts match hand counts; the advisor picks
the mode the lectures predict."""

import numpy as np
import pytest

import chainrule.numpy as cnp
from chainrule import make_jaxpr
from chainrule.cost import Cost, Machine, advise, calibrate, cost_analysis, eqn_cost, jaxpr_cost

F8 = 8  # bytes per float64


def _only_eqn(f, *args):
    (eqn,) = make_jaxpr(f)(*args).eqns
    return eqn_cost(eqn)


def test_matmul_is_2mnk():
    a, b = np.ones((3, 4)), np.ones((4, 5))
    c = _only_eqn(lambda a, b: a @ b, a, b)
    assert c.flops == 2 * 3 * 5 * 4 == c.matmul_flops
    assert c.bytes == (12 + 20 + 15) * F8
    # batched: 2 * batch * M * N * K
    c = _only_eqn(lambda a, b: cnp.matmul(a, b), np.ones((7, 3, 4)), np.ones((7, 4, 5)))
    assert c.flops == 2 * 7 * 3 * 5 * 4
    # matrix-vector and dot product
    assert _only_eqn(lambda a, x: a @ x, a, np.ones(4)).flops == 2 * 3 * 4
    assert _only_eqn(lambda x, y: cnp.dot(x, y), np.ones(6), np.ones(6)).flops == 12


def test_elementwise_counts_outputs_and_transcendentals():
    x = np.ones((10,))
    c = _only_eqn(lambda x, y: x * y, x, x)
    assert (c.flops, c.transcendentals, c.bytes) == (10, 0, 3 * 10 * F8)
    c = _only_eqn(lambda x: cnp.exp(x), x)
    assert (c.flops, c.transcendentals, c.bytes) == (10, 10, 2 * 10 * F8)
    # a broadcast scalar literal moves no bytes; the output size counts
    c = _only_eqn(lambda x: x + 1.0, np.ones((2, 5)))
    assert (c.flops, c.bytes) == (10, 2 * 10 * F8)


def test_reductions_count_inputs_and_shape_ops_are_free():
    c = _only_eqn(lambda x: cnp.sum(x), np.ones((4, 5)))
    assert (c.flops, c.bytes) == (20, 21 * F8)
    c = _only_eqn(lambda x: cnp.max(x, axis=0), np.ones((4, 5)))
    assert (c.flops, c.bytes) == (20, 25 * F8)
    c = _only_eqn(lambda x: x.T, np.ones((3, 4)))
    assert (c.flops, c.transcendentals, c.bytes) == (0, 0, 24 * F8)


def test_totals_of_a_layer():
    W, x = np.ones((8, 5)), np.ones(5)
    total = jaxpr_cost(make_jaxpr(lambda W, x: cnp.sum(cnp.tanh(W @ x)))(W, x).jaxpr)
    assert total.flops == 2 * 8 * 5 + 8 + 8
    assert total.transcendentals == 8
    assert total.eqns == 3
    assert total == Cost(96, 8, (40 + 5 + 8) * F8 + 2 * 8 * F8 + 9 * F8, 3, 80)


def test_jvp_and_vjp_per_direction_of_a_linear_map():
    A = np.ones((6, 4))
    rep = cost_analysis(lambda x: A @ x, np.ones(4))
    assert (rep.n, rep.m) == (4, 6)
    assert rep.f.flops == 2 * 6 * 4
    assert rep.jvp.flops == 2 * 6 * 4      # A @ t
    assert rep.vjp.flops == 2 * 6 * 4      # ct @ A
    assert rep.jvp_once.flops == 0 and rep.vjp_once.flops == 0
    assert "per output direction" in repr(rep)


def test_nonlinear_jvp_splits_once_and_per_direction():
    # tanh's derivative 1 - y*y depends only on the primal: paid once
    rep = cost_analysis(lambda x: cnp.tanh(x), np.ones(10))
    assert rep.f == Cost(10, 10, 160, 1, 0)
    assert rep.jvp.flops == 10              # t * (1 - y*y)
    assert rep.jvp_once.flops == 20         # y*y, 1 - .
    assert rep.vjp.flops == 10
    assert rep.vjp_once.flops == 20


def test_residual_memory():
    n = 50
    # tanh's VJP reads its output; sum's reads nothing
    rep = cost_analysis(lambda x: cnp.sum(cnp.tanh(x)), np.ones(n))
    assert rep.residual_bytes == n * F8 and rep.residual_bytes_inputs == 0
    # mul swaps: x * x needs x itself
    rep = cost_analysis(lambda x: cnp.sum(x * x), np.ones(n))
    assert rep.residual_bytes == n * F8 == rep.residual_bytes_inputs
    # a deeper chain keeps every layer's output
    rep = cost_analysis(lambda x: cnp.sum(cnp.tanh(cnp.tanh(cnp.tanh(x)))), np.ones(n))
    assert rep.residual_bytes == 3 * n * F8


def test_advisor_follows_the_lectures():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(200, 16)), rng.normal(size=(16, 3))
    wide = advise(lambda x: cnp.tanh(A @ cnp.tanh(B @ x)), np.ones(3))   # R^3 -> R^200
    assert wide.choice == "jacfwd" and wide.confidence > 0.8
    assert (wide.jacfwd.passes, wide.jacrev.passes) == (3, 200)
    assert wide.jacfwd.seconds < wide.jacrev.seconds
    tall = advise(lambda x: cnp.tanh(B.T @ cnp.tanh(A.T @ x)), np.ones(200))  # R^200 -> R^3
    assert tall.choice == "jacrev" and tall.confidence > 0.8
    assert tall.hessian is None
    text = repr(tall)
    assert "use jacrev" in text and "R^200 -> R^3" in text


def test_hessian_advice_for_scalar_functions():
    x = np.linspace(-1, 1, 20)
    a = advise(lambda x: cnp.sum(cnp.tanh(x) ** 2), x)
    assert a.choice == "jacrev" and a.jacrev.passes == 1
    h = a.hessian
    assert h is not None and (h.n, h.m) == (20, 20)
    assert h.choice in ("jacfwd(jacrev(f))", "jacrev(jacrev(f))")
    assert 0.5 <= h.confidence <= 1
    assert "Hessian" in repr(a)


def test_machine_model():
    m = Machine()
    c = Cost(flops=2e9, transcendentals=0, bytes=0, eqns=0, matmul_flops=2e9)
    assert m.seconds(c) == pytest.approx(2e9 / m.matmul_flops)
    assert m.seconds(c, batch=3) == pytest.approx(3 * 2e9 / m.matmul_flops)
    assert m.seconds(Cost(eqns=10), batched=True) == pytest.approx(10 * m.batched_overhead)
    cal = calibrate(repeat=2)
    assert all(v > 0 for v in cal.__dict__.values())
