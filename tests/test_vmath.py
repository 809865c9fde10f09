"""jit's vectorisable math (chainrule.jit.vmath) and the kernels built on it.

The functions are checked against NumPy evaluated in extended precision
(``np.longdouble``, 64-bit mantissa on x86) to a stated bound in units in
the last place of the float64 result, over wide ranges and at the special
values; then through ``jit``: odd sizes, empty arrays, float32, broadcasting,
the libm re-run for sin/cos arguments beyond the fast reduction, the same
kernel text for the same chain, and that LLVM inlined every helper (a call
left in the loop would stop vectorisation, which is the point of vmath).
"""


import numpy as np
import pytest

numba = pytest.importorskip("numba")

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule import lax  # noqa: E402
from chainrule.jit import stats  # noqa: E402
from chainrule.jit import vmath as vm  # noqa: E402

# ulp bounds against the extended-precision value (NumPy's own float64
# functions are within about 0.5-1 ulp of it)
BOUNDS = {"exp": 1.0, "sin": 1.0, "cos": 1.0, "tanh": 1.5, "logistic": 2.5}
_EXTENDED = np.finfo(np.longdouble).nmant >= 63


pytestmark = pytest.mark.usefixtures("jit_cache_dir")  # tests/conftest.py


@numba.njit
def _exp(o, x):
    for i in range(x.size):
        o[i] = vm.exp(x[i])


@numba.njit
def _sin(o, x):
    for i in range(x.size):
        o[i] = vm.sin(x[i])


@numba.njit
def _cos(o, x):
    for i in range(x.size):
        o[i] = vm.cos(x[i])


@numba.njit
def _tanh(o, x):
    for i in range(x.size):   # what tanh_p.lower emits
        o[i] = vm.tanh_finish(x[i], vm.exp(80.0 if abs(x[i]) > 40.0 else 2.0 * abs(x[i])))


@numba.njit
def _logistic(o, x):
    for i in range(x.size):
        o[i] = vm.logistic_finish(x[i], vm.exp(-abs(x[i])))


def _np_logistic(x):
    e = np.exp(-np.abs(x))   # the stable form of eager chainrule's implementation
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


KERNELS = {"exp": (_exp, np.exp), "sin": (_sin, np.sin), "cos": (_cos, np.cos),
           "tanh": (_tanh, np.tanh), "logistic": (_logistic, _np_logistic)}
LIMITS = {"exp": 746.0, "sin": vm.TRIG_LIMIT, "cos": vm.TRIG_LIMIT, "tanh": 50.0,
          "logistic": 746.0}
SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310, 2.2250738585072014e-308, 1e-20,
           -1e-20, 1e-8, 0.5, -0.625, 0.625, 1.0, -1.0, 709.78, 709.79, -708.4, -745.13,
           -745.14, 40.0, 41.0, 1e300, -1e300, np.inf, -np.inf, np.nan]


def _points(name, n=100_000, seed=0):
    rng = np.random.default_rng(seed)
    lim = LIMITS[name]
    mags = np.exp(rng.uniform(np.log(1e-300), np.log(lim), n))   # log-uniform magnitudes
    uni = rng.uniform(-lim, lim, n)
    x = np.concatenate([mags * rng.choice([-1.0, 1.0], n), uni, rng.normal(size=n)])
    if name in ("sin", "cos"):
        k = np.concatenate([np.arange(1, 2000), rng.integers(1, 2 ** 20 - 1, 2000)])
        near = k * (np.pi / 2)
        x = np.concatenate([x, near, np.nextafter(near, 0), np.nextafter(near, np.inf)])
    return x[np.abs(x) < lim]


def _ulps(got, x, fn):
    """|got - f(x)| in ulps of the float64 result, f evaluated in extended precision."""
    if _EXTENDED:
        with np.errstate(all="ignore"):
            want = fn(x.astype(np.longdouble))
            want64 = want.astype(np.float64)
    else:  # pragma: no cover (no extended precision: NumPy's float64, one ulp more slack)
        with np.errstate(all="ignore"):
            want = want64 = fn(x)
    ok = np.isfinite(want64) & (want64 != 0)
    err = np.zeros(x.shape)
    err[ok] = (np.abs(got[ok].astype(want.dtype) - want[ok])
               / np.spacing(np.abs(want64[ok])).astype(want.dtype))
    return err, 0.0 if _EXTENDED else 1.0


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_accuracy_against_numpy(name):
    kernel, fn = KERNELS[name]
    x = _points(name)
    out = np.empty_like(x)
    kernel(out, x)
    err, slack = _ulps(out, x, fn)
    worst = np.argmax(err)
    assert err[worst] <= BOUNDS[name] + slack, (name, x[worst], out[worst], err[worst])


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_special_values_match_numpy(name):
    kernel, fn = KERNELS[name]
    x = np.array(SPECIAL)
    if name in ("sin", "cos"):   # large finite arguments are the libm re-run's job
        x = x[~(np.isfinite(x) & (np.abs(x) >= vm.TRIG_LIMIT))]
    out = np.empty_like(x)
    kernel(out, x)
    with np.errstate(all="ignore"):
        want = fn(x)
    # same NaNs, infinities, zeros (with their sign) and subnormal-range results
    assert np.array_equal(np.isnan(out), np.isnan(want)), (x, out, want)
    exact = ~np.isfinite(want) | (want == 0)
    np.testing.assert_array_equal(out[exact], want[exact])
    np.testing.assert_array_equal(np.signbit(out[want == 0]), np.signbit(want[want == 0]))
    err, slack = _ulps(out, x, fn)
    assert err.max() <= BOUNDS[name] + slack, (x, out, want, err)


def test_trig_range_check():
    from chainrule.primitives.elementwise import cos_p, sin_p
    for prim in (sin_p, cos_p):
        text = prim.lower_check("x")
        assert repr(vm.TRIG_LIMIT) in text
        check = eval(f"lambda x: {text}", {"np": np})
        big = [vm.TRIG_LIMIT, -vm.TRIG_LIMIT, 1e10, -1e300, 1.7e308]
        small = [0.0, 1.0, -vm.TRIG_LIMIT + 1, np.inf, -np.inf, np.nan]
        assert [check(v) for v in big] == [1] * len(big)
        assert [check(v) for v in small] == [0] * len(small)


# ----------------------------------------------------------- under jit ---

FUNCS = {"exp": (cnp.exp, np.exp), "sin": (cnp.sin, np.sin), "cos": (cnp.cos, np.cos),
         "tanh": (cnp.tanh, np.tanh), "logistic": (lax.logistic, _np_logistic)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [0, 1, 7, 1001])
def test_jit_kernels_odd_sizes_empty_and_float32(n, dtype):
    rng = np.random.default_rng(n)
    x = (rng.normal(size=n) * 3).astype(dtype)
    for name, (f, ref) in FUNCS.items():
        got = cr.jit(lambda x, f=f: f(x) * 2 + 1)(x)
        with np.errstate(all="ignore"):
            want = (ref(x.astype(np.float64)) * 2 + 1).astype(dtype)
        assert got.dtype == np.dtype(dtype) and got.shape == x.shape, name
        tol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=name)


def test_jit_fused_chain_matches_numpy_2d_broadcast():
    def f(x, b):
        return cnp.sum(cnp.sin(x + b) * cnp.cos(x) + cnp.tanh(x) ** 2 + cnp.exp(-x ** 2)
                       + lax.logistic(x - b), axis=0)

    rng = np.random.default_rng(1)
    x, b = rng.normal(size=(33, 17)) * 4, rng.normal(size=17)
    want = np.sum(np.sin(x + b) * np.cos(x) + np.tanh(x) ** 2 + np.exp(-x ** 2)
                  + _np_logistic(x - b), axis=0)
    np.testing.assert_allclose(cr.jit(f)(x, b), want, rtol=1e-13, atol=1e-13)
    g = cr.jit(cr.grad(lambda x, b: cnp.sum(f(x, b))))(x, b)
    np.testing.assert_allclose(g, cr.grad(lambda x, b: cnp.sum(f(x, b)))(x, b),
                               rtol=1e-12, atol=1e-12)


def test_large_trig_arguments_rerun_with_libm():
    f = cr.jit(lambda x: cnp.sin(x) * cnp.cos(x) + x)
    x = np.linspace(-3, 3, 101)
    np.testing.assert_allclose(f(x), np.sin(x) * np.cos(x) + x, rtol=1e-15, atol=1e-15)
    before = stats["kernel_compiles"]
    x[[3, 50]] = [1e7, -3e12]                   # beyond TRIG_LIMIT: the libm form runs
    got = f(x)
    assert stats["kernel_compiles"] == before + 1   # compiled when first needed
    np.testing.assert_array_equal(got, np.sin(x) * np.cos(x) + x)
    x[3] = np.inf
    with np.errstate(invalid="ignore"):
        want = np.sin(x) * np.cos(x) + x
    got = f(x)
    assert np.isnan(got[3]) and np.array_equal(got[4:], want[4:])
    assert stats["kernel_compiles"] == before + 1   # and then kept


def test_scalar_kernels_use_libm():
    """A rank-0 kernel has no loop to vectorise: it calls libm (compiles faster)."""
    f = cr.jit(lambda x: cnp.sin(x) * cnp.exp(x) + cnp.tanh(x))
    x = np.array(0.7)
    np.testing.assert_allclose(f(x), np.sin(0.7) * np.exp(0.7) + np.tanh(0.7), rtol=1e-15)
    (k,) = f.lower(x).kernels
    assert "math.sin(" in k.source and "vm." not in k.source
    g = cr.jit(lambda x: cnp.sin(x) * 2.0 + cnp.cos(x))
    np.testing.assert_allclose(g(np.array(2e9)), np.sin(2e9) * 2.0 + np.cos(2e9), rtol=1e-15)


def test_same_chain_same_kernel_text():
    a = cr.jit(lambda x: cnp.tanh(x * 2.0) + 1.0).lower(np.ones(5))
    b = cr.jit(lambda y: cnp.tanh(y * 2.0) + 1.0).lower(np.ones(9))
    assert a.kernels[0].source == b.kernels[0].source


def test_helpers_are_inlined():
    """No call to a vmath function survives in a compiled kernel."""
    f = cr.jit(lambda x: cnp.sin(x) + cnp.cos(x) * cnp.tanh(x) + lax.logistic(x)
               + cnp.exp(x))
    x = np.linspace(-1, 1, 64)
    f(x)
    from chainrule.jit import cache
    kernels = f.lower(x).kernels
    assert kernels
    for k in kernels:
        compiled, _, _ = cache._compile(k.source)
        ir = compiled.inspect_llvm()
        calls = [line for line in ir.splitlines()
                 if " call " in line and "vmath" in line and "declare" not in line]
        assert not calls, calls[:3]
