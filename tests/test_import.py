"""``import chainrule``: fast, no optional packages, and the public
submodules reachable as attributes (as ``jax.nn`` after ``import jax``)."""

import os
import subprocess
import sys
import textwrap

import pytest

SRC = os.path.join(os.path.dirname(__file__), "..", "src")

_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {src!r})
    import chainrule as cr
    heavy = [m for m in ("scipy", "mpi4py", "jax", "torch", "sklearn", "numba", "chainrule.nn",
                         "chainrule.scipy") if m in sys.modules]
    assert not heavy, heavy
    assert cr.nn.relu and cr.scipy.special.erf and cr.lax.cond and cr.tree_util.tree_map
    assert cr.numpy.fft.rfft and cr.lax.fft
    assert "chainrule.nn" in sys.modules and "scipy" not in sys.modules
    assert {{"nn", "scipy", "lax", "tree_util", "numpy"}} <= set(dir(cr))
    try:
        cr.no_such_module
    except AttributeError as err:
        assert "no_such_module" in str(err)
    else:
        raise AssertionError("no AttributeError")
    print("ok")
""")


def test_import_is_light_and_submodules_are_attributes():
    code = _CHILD.format(src=os.path.abspath(SRC))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_lazy_submodules_in_process():
    import chainrule as cr
    from chainrule import nn
    assert cr.nn is nn
    assert cr.scipy.special is sys.modules["chainrule.scipy.special"]
    with pytest.raises(AttributeError, match="has no attribute"):
        cr.definitely_not_a_submodule  # noqa: B018
