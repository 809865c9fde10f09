"""chainrule.debug.print / callback (issue 13): runtime values, eagerly and
under jit (not removed as dead code), vmap (once per example), grad, jvp."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as jnp
from chainrule import lax


def _f(x):
    y = jnp.sin(x)
    cr.debug.print("y = {}, s={s:.3f}", y, s=jnp.sum(x))
    return jnp.sum(y * 2)


X = np.array([0.0, 1.0])
LINE = f"y = {np.sin(X)}, s=1.000\n"


@pytest.mark.parametrize("wrap", ["eager", "jit", "grad", "jit_grad", "jvp", "hessian"])
def test_print_runtime_values(capsys, wrap):
    if wrap == "eager":
        _f(X)
    elif wrap == "jit":
        jf = cr.jit(_f)
        jf(X)
        assert capsys.readouterr().out == LINE
        jf(X + 1)  # a second call prints its own values (no retrace)
        assert capsys.readouterr().out == f"y = {np.sin(X + 1)}, s=3.000\n"
        return
    elif wrap == "grad":
        np.testing.assert_allclose(cr.grad(_f)(X), 2 * np.cos(X))
    elif wrap == "jit_grad":
        np.testing.assert_allclose(cr.jit(cr.grad(_f))(X), 2 * np.cos(X))
    elif wrap == "jvp":
        cr.jvp(_f, (X,), (np.ones(2),))
    else:
        cr.hessian(_f)(X)
    assert capsys.readouterr().out == LINE


@pytest.mark.parametrize("jit", [False, True])
def test_vmap_prints_each_example(capsys, jit):
    xs = np.array([[0.0, 1.0], [2.0, 3.0]])
    g = cr.vmap(_f)
    np.testing.assert_allclose((cr.jit(g) if jit else g)(xs), 2 * np.sin(xs).sum(1))
    assert capsys.readouterr().out == "".join(
        f"y = {np.sin(x)}, s={x.sum():.3f}\n" for x in xs)


def test_print_in_jitted_scan(capsys):
    def body(c, x):
        cr.debug.print("step {}", x)
        return c + x, c
    out = cr.jit(lambda xs: lax.scan(body, 0.0, xs))(np.arange(3.0))
    assert float(out[0]) == 3.0
    assert capsys.readouterr().out == "step 0.0\nstep 1.0\nstep 2.0\n"


def test_callback_pytrees_and_jit():
    got = []

    def f(x):
        cr.debug.callback(lambda a, b: got.append((a, b)), x, b={"t": x * 2})
        return x + 1

    np.testing.assert_allclose(cr.jit(f)(X), X + 1)
    (a, b), = got
    assert isinstance(a, np.ndarray)
    np.testing.assert_allclose(a, X)
    np.testing.assert_allclose(b["t"], 2 * X)
    got.clear()
    cr.grad(lambda x: jnp.sum(f(x)))(X)
    np.testing.assert_allclose(got[0][0], X)


def test_reachable_and_errors():
    import chainrule
    assert "debug" in dir(chainrule)
    with pytest.raises(TypeError, match="callable"):
        cr.debug.callback(3, X)
    with pytest.raises(TypeError, match="format"):
        cr.debug.print(3)
