"""Registry-driven checks of every primitive (STYLE.md point 10).

For each primitive in ``chainrule.core.registry`` and each of its samples:
abstract eval agrees with impl, staging gives the same avals and values,
derivatives match finite differences to second order in both modes, and
the elementwise family keeps float32 as float32.
"""

import zlib

import numpy as np
import pytest

import chainrule
from chainrule.core import Primitive, check_jaxpr, get_aval, is_float, registry
from chainrule.primitives import elementwise as ew
from chainrule.test_util import check_grads

RULES = ("impl", "abstract_eval", "jvp", "vjp", "samples")


def _rng(name, salt=0):
    return np.random.default_rng(zlib.crc32(name.encode()) + salt)


def _cases():
    cases = []
    for name in sorted(registry):
        prim = registry[name]
        if prim.samples is None:
            continue  # test_every_primitive_has_all_rules reports it
        for i, (args, params) in enumerate(prim.samples(_rng(name))):
            cases.append(pytest.param(prim, tuple(args), dict(params), id=f"{name}-{i}"))
    return cases


CASES = _cases()


def _outs(prim, out):
    return list(out) if prim.multiple_results else [out]


def _float_part(prim, args, params):
    """``prim`` as a function of its float operands only (others held fixed)."""
    idx = [i for i, a in enumerate(args) if is_float(get_aval(a).dtype)]

    def f(*floats):
        full = list(args)
        for i, x in zip(idx, floats, strict=True):
            full[i] = x
        return prim.bind(*full, **params)

    return f, tuple(args[i] for i in idx)


def _grad_tolerances(args, outs):
    """Finite differences in float32 need a larger step and tolerance, also when
    only the output is float32 (``convert_element_type`` to float32)."""
    dtypes = [get_aval(x).dtype for x in list(args) + list(outs) if is_float(get_aval(x).dtype)]
    if any(np.dtype(d).itemsize <= 4 for d in dtypes):
        return F32_TOL
    return {}


# A step of 1e-3 loses ~1e-4 relative to float32 rounding, and stays clear of the
# jumps of floor/ceil/fmod that the samples come near (a step of 1e-2 does not).
F32_TOL = {"eps": 1e-3, "atol": 2e-2, "rtol": 2e-2}


# ----------------------------------------------------------- registry ---


# Primitives registered without test samples, so that none of the sweeps
# below reaches them (jit's call primitive is tested in tests/test_jit.py; the
# collectives only mean something under a vmap or pmap that names their axis:
# tests/test_collectives.py sweeps them there, tests/test_mpi.py across processes).
WITHOUT_SAMPLES = {"jit", "psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "ppermute",
                   "all_to_all", "axis_index"}


def _rules_param(name):
    marks = [pytest.mark.xfail(strict=True, reason=f"primitive '{name}' has no samples")
             ] if name in WITHOUT_SAMPLES else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_rules_param(n) for n in sorted(registry)])
def test_primitive_has_all_rules_and_samples(name):
    prim = registry[name]
    missing = [r for r in RULES if getattr(prim, r) is None]
    assert not missing, f"primitive '{name}' has no {', '.join(missing)}"
    assert len(prim.samples(_rng(name))) > 0, name


def test_registry_has_no_primitive_without_rules_and_samples():
    """The same, as one test that also sees primitives registered after collection."""
    missing = {name: [r for r in RULES if getattr(prim, r) is None]
               for name, prim in registry.items() if name not in WITHOUT_SAMPLES}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"primitives without rules: {missing}"


def test_registry_is_not_trivially_small():
    # the list of required primitives
    required = ["add", "sub", "mul", "div", "neg", "integer_pow", "pow", "exp", "log",
                "log1p", "expm1", "sin", "cos", "tan", "tanh", "logistic", "sqrt", "abs",
                "sign", "max", "min", "select", "eq", "lt", "reduce_sum", "reduce_max",
                "reduce_min", "reduce_prod", "argmax", "argmin", "broadcast_in_dim",
                "reshape", "transpose", "squeeze", "expand_dims", "concatenate", "slice",
                "gather", "scatter_add", "dot_general", "convert_element_type",
                "stop_gradient", "cumsum", "clamp"]
    assert not [n for n in required if n not in registry]


# -------------------------------------------------- impl and avals ---


@pytest.mark.parametrize("prim,args,params", CASES)
def test_impl_matches_abstract_eval(prim, args, params):
    out = _outs(prim, prim.impl(*args, **params))
    avals = _outs(prim, prim.abstract_eval(*[get_aval(a) for a in args], **params))
    assert len(out) == len(avals)
    for o, a in zip(out, avals, strict=True):
        assert np.shape(o) == tuple(a.shape), (prim, np.shape(o), a)
        assert np.asarray(o).dtype == np.dtype(a.dtype), (prim, np.asarray(o).dtype, a)


@pytest.mark.parametrize("prim,args,params", CASES)
def test_staging(prim, args, params):
    closed = chainrule.make_jaxpr(lambda *xs: prim.bind(*xs, **params))(*args)
    check_jaxpr(closed.jaxpr)
    assert [e.prim for e in closed.eqns] == [prim]
    expected = _outs(prim, prim.impl(*args, **params))
    assert [(tuple(a.shape), np.dtype(a.dtype)) for a in closed.out_avals] == [
        (np.shape(o), np.asarray(o).dtype) for o in expected]
    assert prim.name in str(closed)
    got = closed(*args)
    for g, e in zip(got, expected, strict=True):
        assert np.asarray(g).dtype == np.asarray(e).dtype
        np.testing.assert_array_equal(g, e)


# ------------------------------------------------------ derivatives ---


def _has_float_output(prim, args, params):
    outs = _outs(prim, prim.impl(*args, **params))
    return all(is_float(np.asarray(o).dtype) for o in outs)


# ``saved`` (checkpoint.py) returns a value computed earlier, not from its
# operands, so finite differences cannot check it; its rules are the saved
# primitive's own, checked under that primitive. A gamma sample's derivative in
# ``a`` is the implicit-reparameterisation one (CDF held fixed), not the
# pathwise derivative of the rejection sampler that finite differences see:
# tests/test_random.py checks it against SciPy's inverse CDF. It, and gammainc's
# derivative in ``a``, have no second derivative (checked in tests/test_special_more.py).
GRAD_CASES = [c for c in CASES if c.values[0] is not registry["stop_gradient"]
              and c.values[0] is not registry["saved"]
              and c.values[0].name not in ("random_gamma", "random_gamma_grad",
                                           "igamma_grad_a")
              and _has_float_output(*c.values)
              and any(is_float(get_aval(a).dtype) for a in c.values[1])]


@pytest.mark.parametrize("prim,args,params", GRAD_CASES)
def test_grads_second_order(prim, args, params):
    f, floats = _float_part(prim, args, params)
    tol = _grad_tolerances(floats, _outs(prim, prim.impl(*args, **params)))
    check_grads(f, floats, order=2, modes=("fwd", "rev"), **tol)


def test_grad_cases_cover_the_float_primitives():
    covered = {c.values[0].name for c in GRAD_CASES}
    for name in ["add", "mul", "div", "pow", "integer_pow", "exp", "log", "tanh", "logistic",
                 "max", "select", "reduce_max", "reduce_prod", "broadcast_in_dim", "slice",
                 "concatenate", "gather", "scatter_add", "dot_general", "cumsum", "clamp",
                 "convert_element_type"]:
        assert name in covered, name


@pytest.mark.parametrize("prim,args,params",
                         [c for c in CASES if c.values[0] is registry["stop_gradient"]])
def test_stop_gradient_has_zero_derivatives(prim, args, params):
    (x,) = args
    out, t = chainrule.jvp(lambda x: prim.bind(x), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(t, np.zeros_like(x))
    assert t.dtype == x.dtype
    out, pullback = chainrule.vjp(lambda x: prim.bind(x), x)
    (ct,) = pullback(np.ones_like(x))
    np.testing.assert_array_equal(ct, np.zeros_like(x))
    assert ct.dtype == x.dtype
    g = chainrule.grad(lambda x: chainrule.numpy.sum(prim.bind(x) * x))(x)
    np.testing.assert_allclose(g, x)  # d/dx (const * x) with const = x
    gg = chainrule.grad(lambda x: chainrule.numpy.sum(
        chainrule.grad(lambda y: chainrule.numpy.sum(prim.bind(y) ** 2))(x)))(x)
    np.testing.assert_array_equal(gg, np.zeros_like(x))


# ------------------------------------------------------------ float32 ---

ELEMENTWISE = {v for v in vars(ew).values() if isinstance(v, Primitive)}
F32_CASES = [c for c in CASES if c.values[0] in ELEMENTWISE
             and c.values[0] is not ew.convert_element_type_p
             and any(is_float(get_aval(a).dtype) for a in c.values[1])]


def _f32(args):
    return tuple(np.asarray(a, np.float32) if is_float(get_aval(a).dtype) else a for a in args)


@pytest.mark.parametrize("prim,args,params", F32_CASES)
def test_float32_stays_float32(prim, args, params):
    args32 = _f32(args)
    out = prim.impl(*args32, **params)
    aval = prim.abstract_eval(*[get_aval(a) for a in args32], **params)
    assert np.dtype(aval.dtype) == np.asarray(out).dtype
    if not is_float(np.asarray(out).dtype):
        return
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_allclose(out, prim.impl(*args, **params), rtol=1e-5, atol=1e-6)
    if prim is ew.stop_gradient_p:
        return
    f, floats = _float_part(prim, args32, params)
    rng = _rng(prim.name, 1)
    tangents = tuple(rng.standard_normal(np.shape(x)).astype(np.float32) for x in floats)
    y, t = chainrule.jvp(f, floats, tangents)
    assert y.dtype == np.float32 and t.dtype == np.float32, (y.dtype, t.dtype)
    y, pullback = chainrule.vjp(f, *floats)
    cts = pullback(rng.standard_normal(np.shape(y)).astype(np.float32))
    assert all(c.dtype == np.float32 for c in cts), [c.dtype for c in cts]
    # second order stays float32 too
    g = chainrule.grad(lambda *xs: chainrule.numpy.sum(f(*xs)))(*floats)
    assert g.dtype == np.float32
    _, hvp = chainrule.jvp(chainrule.grad(lambda *xs: chainrule.numpy.sum(f(*xs))),
                           floats, tangents)
    assert hvp.dtype == np.float32
    check_grads(f, floats, order=1, modes=("fwd", "rev"), **F32_TOL)
