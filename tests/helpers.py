"""Assertions shared by the test modules."""

import numpy as np

import chainrule as cr


def tree_close(a, b, rtol=1e-10, atol=1e-12):
    """Two pytrees of arrays: the same structure and shapes, values close
    (a list of Python numbers on the right counts as one array)."""
    if isinstance(b, list) and all(np.isscalar(v) for v in b):
        b = np.array(b)
    la, ta = cr.tree_util.tree_flatten(a)
    lb, tb = cr.tree_util.tree_flatten(b)
    assert ta == tb, (ta, tb)
    for x, y in zip(la, lb):
        assert np.shape(x) == np.shape(y), (np.shape(x), np.shape(y))
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)
