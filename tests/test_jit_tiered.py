"""Tiered jit: NumPy at once, compiled kernels from the compile process later.

Each scenario runs in a fresh process with an empty disk cache (kernels, and
Numba's cache of the vectorised-math helpers), in ``jit_compile="async"``
mode (conftest.py makes the rest of the suite "sync"). The NumPy tier and the
compiled tier must agree to the accuracy docs/sharp_bits.md states for the
vectorised math (a few ulp per function), and both must match a NumPy
reference. No timing thresholds: "later" is polled with a generous timeout.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))

# a loss with fused chains of tanh, exp, log, sin (whose checked fast form
# needs its libm form too: x holds operands beyond vmath.TRIG_LIMIT)
PRELUDE = textwrap.dedent(f"""
    import json, sys, time, warnings
    sys.path.insert(0, {SRC!r})
    import numpy as np
    import chainrule as cr
    import chainrule.numpy as cnp
    from chainrule.jit import cache, compiler

    def loss(w, x):
        h = cnp.tanh(x @ w)
        return cnp.sum(cnp.log(1.0 + cnp.exp(h)) * cnp.sin(x[:, :3] * 3e6).sum())

    def reference(w, x):
        h = np.tanh(x @ w)
        s = np.sin(x[:, :3] * 3e6).sum()
        e = np.exp(h)
        dh = s * e / (1.0 + e) * (1.0 - h * h)
        return x.T @ dh

    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4))
    x = rng.standard_normal((5, 3))

    def plan(f):
        (entry,) = f._entries.values()
        return entry.executable

    def wait_compiled(f, *args, timeout=120.0):
        start = time.monotonic()
        while plan(f).tier != "compiled" and time.monotonic() - start < timeout:
            f(*args)
            time.sleep(0.02)
        return plan(f).tier
""")


def _run(code, cache_dir, extra_env=None, timeout=300):
    env = dict(os.environ, CHAINRULE_CACHE_DIR=str(cache_dir),
               NUMBA_CACHE_DIR=str(cache_dir / "numba"), CHAINRULE_JIT_COMPILE="async")
    env.pop("CHAINRULE_DISABLE_JIT_CACHE", None)
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _close(a, b):
    # vmath: exp/sin/cos within 1 ulp, tanh 1.5, logistic 2.5 (docs/sharp_bits.md);
    # through a short chain and a sum that stays well inside 1e-12 relative
    np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-12, atol=1e-13)


@pytest.fixture(scope="module")
def cold_then_compiled(tmp_path_factory):
    return _run("""
        g = cr.jit(cr.grad(loss))
        first = g(w, x)
        tier0 = plan(g).tier
        tier1 = wait_compiled(g, w, x)
        later = g(w, x)
        print(json.dumps({"first": first.tolist(), "later": later.tolist(),
                          "ref": reference(w, x).tolist(), "tiers": [tier0, tier1],
                          "numba": "numba" in sys.modules,
                          "fallbacks": len(plan(g).fallbacks)}))
    """, tmp_path_factory.mktemp("tiered"), {"CHAINRULE_LOG_COMPILES": "1"})


def test_first_call_runs_numpy_tier_then_compiled_tier(cold_then_compiled):
    out, _ = cold_then_compiled
    assert out["tiers"] == ["NumPy", "compiled"]
    assert out["fallbacks"] == 0
    _close(out["first"], out["ref"])
    _close(out["later"], out["ref"])
    _close(out["first"], out["later"])


def test_async_path_never_imports_numba(cold_then_compiled):
    out, _ = cold_then_compiled
    assert out["numba"] is False


def test_log_compiles_shows_the_tier_of_each_call(cold_then_compiled):
    _, err = cold_then_compiled
    assert "call on the NumPy tier" in err
    assert "call on the compiled tier" in err
    assert "now on the compiled tier" in err


def test_killed_compiler_warns_once_and_stays_right(tmp_path):
    out, err = _run("""
        g = cr.jit(cr.grad(loss))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = g(w, x)
            c = compiler.current()
            c.proc.kill()
            c.reader.join(60)
            results = [g(w, x) for _ in range(3)]
            h = cr.jit(lambda w, x: cnp.exp(cnp.tanh(x @ w)))   # a new plan after the death
            results.append(h(w, x))
            # a loop compiled whole asks the dead compiler too: step by step, no second warning
            loop = cr.jit(lambda x: cr.lax.fori_loop(0, 4, lambda i, c: cnp.tanh(c) * 1.5, x))
            results.append(loop(x))
        loop_ref = x
        for _ in range(4):
            loop_ref = np.tanh(loop_ref) * 1.5
        msgs = [str(m.message) for m in caught if "compile process" in str(m.message)]
        print(json.dumps({"first": first.tolist(), "again": [r.tolist() for r in results[:3]],
                          "h": results[3].tolist(), "h_ref": np.exp(np.tanh(x @ w)).tolist(),
                          "loop": results[4].tolist(), "loop_ref": loop_ref.tolist(),
                          "ref": reference(w, x).tolist(), "warnings": msgs,
                          "tier": plan(g).tier, "numba": "numba" in sys.modules}))
    """, tmp_path, extra_env={"CHAINRULE_LOG_COMPILES": "1"})
    assert "kept on the step-by-step path: the compile process ended" in err, err[-2000:]
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "NumPy" in out["warnings"][0]
    _close(out["first"], out["ref"])
    for r in out["again"]:
        _close(r, out["ref"])
    _close(out["h"], out["h_ref"])
    _close(out["loop"], out["loop_ref"])
    assert out["tier"] == "NumPy" and out["numba"] is False


def test_sync_mode_and_lower_compile_wait_for_the_compiled_tier(tmp_path):
    out, _ = _run("""
        try:
            cr.config.update("jit_compile", "later")
            bad = None
        except ValueError as err:
            bad = str(err)
        # lower().compile() in async mode: waits for the compile process
        f = cr.jit(cr.grad(loss))
        compiled = f.lower(w, x).compile()
        tier_lowered = compiled.tier
        r_lowered = compiled(w, x)
        numba_after_lower = "numba" in sys.modules
        # sync mode: this process compiles before the call returns
        cr.config.update("jit_compile", "sync")
        g = cr.jit(cr.grad(lambda w, x: cnp.sum(cnp.cos(x @ w) ** 3)))   # new kernels
        r_sync = g(w, x)
        z = x @ w
        ref_sync = x.T @ (-3.0 * np.cos(z) ** 2 * np.sin(z))
        print(json.dumps({"bad": bad, "tier_lowered": tier_lowered,
                          "lowered": r_lowered.tolist(), "sync": r_sync.tolist(),
                          "tier_sync": plan(g).tier, "ref": reference(w, x).tolist(),
                          "numba_after_lower": numba_after_lower,
                          "compiles": cache.stats["kernel_compiles"],
                          "ref_sync": ref_sync.tolist(), "numba": "numba" in sys.modules}))
    """, tmp_path)
    assert out["bad"] and "jit_compile" in out["bad"]
    assert out["tier_lowered"] == "compiled" and out["numba_after_lower"] is False
    _close(out["lowered"], out["ref"])
    assert out["tier_sync"] == "compiled" and out["compiles"] > 0 and out["numba"]
    _close(out["sync"], out["ref_sync"])


def test_two_processes_compiling_the_same_kernels_share_one_intact_cache(tmp_path):
    code = PRELUDE + textwrap.dedent("""
        g = cr.jit(cr.grad(loss))
        c = g.lower(w, x).compile()
        print(json.dumps({"r": c(w, x).tolist(), "tier": c.tier}))
    """)
    env = dict(os.environ, CHAINRULE_CACHE_DIR=str(tmp_path),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"), CHAINRULE_JIT_COMPILE="async")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, e[-3000:]
        res = json.loads(o.strip().splitlines()[-1])
        assert res["tier"] == "compiled"
    kernels = tmp_path / "kernels"
    assert not [p for p in kernels.iterdir() if p.name.startswith(".tmp-")]
    entries = sorted(kernels.glob("*.kernel"))
    assert entries
    from chainrule.jit import cache
    for p in entries:
        cache._parse_entry(p.read_bytes())   # intact: raises otherwise
    # a third process finds every kernel on disk: compiled tier at the first call
    out, _ = _run("""
        g = cr.jit(cr.grad(loss))
        r = g(w, x)
        print(json.dumps({"r": r.tolist(), "tier": plan(g).tier,
                          "ref": reference(w, x).tolist(), "numba": "numba" in sys.modules,
                          "started": compiler.current() is not None}))
    """, tmp_path)
    assert out["tier"] == "compiled" and not out["numba"] and not out["started"]
    _close(out["r"], out["ref"])


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_compile_process_never_outlives_its_parent(tmp_path):
    code = PRELUDE + textwrap.dedent("""
        g = cr.jit(cr.grad(loss))
        g(w, x)
        print(compiler.current().proc.pid, flush=True)
        time.sleep(600)
    """)
    env = dict(os.environ, CHAINRULE_CACHE_DIR=str(tmp_path),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"), CHAINRULE_JIT_COMPILE="async")
    parent = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        pid = int(parent.stdout.readline())
        assert _alive(pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_threads_share_one_compile_process(tmp_path):
    out, _ = _run("""
        import subprocess, threading
        started = []
        popen = subprocess.Popen

        def counting(*a, **k):
            started.append(a)
            return popen(*a, **k)

        subprocess.Popen = counting
        g = cr.jit(cr.grad(loss))
        h = cr.jit(lambda w, x: cnp.tanh(x @ w) * 2.0)
        results, errors = [], []

        def work(f, ref):
            try:
                for _ in range(5):
                    results.append(bool(np.allclose(f(w, x), ref, rtol=1e-12, atol=1e-13)))
                f.lower(w, x).compile()
                results.append(bool(np.allclose(f(w, x), ref, rtol=1e-12, atol=1e-13)))
            except Exception as err:   # reported below
                errors.append(repr(err))

        threads = [threading.Thread(target=work, args=(f, ref)) for f, ref in
                   [(g, reference(w, x)), (h, 2.0 * np.tanh(x @ w))] * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(json.dumps({"ok": all(results), "n": len(results), "errors": errors,
                          "started": len(started), "tiers": [plan(g).tier, plan(h).tier],
                          "numba": "numba" in sys.modules}))
    """, tmp_path)
    assert out["errors"] == [] and out["ok"] and out["n"] == 36
    assert out["started"] == 1
    assert out["tiers"] == ["compiled", "compiled"] and out["numba"] is False


# -- the NumPy tier in this process: every kernel still "compiling" -----------

@pytest.fixture
def numpy_tier(monkeypatch):
    """Plans built from now on run every kernel's equations with NumPy, as on
    a cold cache before the compile process has answered."""
    import chainrule.jit as _  # noqa: F401  (the package, for its modules)
    cache = sys.modules["chainrule.jit.cache"]
    monkeypatch.setattr(cache, "asynchronous", lambda: True)
    monkeypatch.setattr(cache, "request", lambda source: cache.PENDING)
    monkeypatch.setattr(cache, "settled", lambda source: False)


def test_numpy_tier_computes_a_value_shared_by_two_kernels_once(numpy_tier):
    # The partitioner recomputes a cheap value inside more than one kernel of
    # this step; run by NumPy the plan must define it once (it once defined the
    # same name twice and deleted it before its last reader).
    import chainrule as cr
    import chainrule.nn as nn
    import chainrule.numpy as cnp
    from chainrule import lax

    def loss(p, x, onehot):
        y = lax.conv_general_dilated(x, p["k"], (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = lax.reduce_window(nn.relu(y + p["b"]), -np.inf, lax.max, (1, 2, 2, 1),
                              (1, 2, 2, 1), "VALID")
        logits = y.reshape(y.shape[0], -1) @ p["w"]
        return -cnp.mean(cnp.sum(onehot * nn.log_softmax(logits, axis=-1), axis=-1))

    def adam(p, m, v, x, onehot):
        value, g = cr.value_and_grad(loss)(p, x, onehot)
        m = {k: 0.9 * m[k] + 0.1 * g[k] for k in p}
        v = {k: 0.999 * v[k] + 0.001 * g[k] ** 2 for k in p}
        return {k: p[k] - 1e-3 * m[k] / (cnp.sqrt(v[k]) + 1e-8) for k in p}, m, v, value

    rng = np.random.default_rng(1)
    p = {"k": rng.normal(size=(3, 3, 1, 4)), "b": rng.normal(size=4),
         "w": rng.normal(size=(16, 10))}
    zeros = {k: np.zeros_like(a) for k, a in p.items()}
    x = rng.normal(size=(6, 4, 4, 1))
    onehot = np.eye(10)[rng.integers(0, 10, 6)]
    step = cr.jit(adam)
    got = step(p, zeros, zeros, x, onehot)
    (entry,) = step._entries.values()
    assert entry.executable.tier == "NumPy"
    want = adam(p, zeros, zeros, x, onehot)
    for a, b in zip(cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_numpy_tier_computes_a_squeeze_read_by_a_kernel_and_a_loop_once(numpy_tier):
    # theta[0] (a slice and a squeeze) is read by a fused kernel and by the
    # while_loop: the partitioner puts the squeeze in both
    import chainrule as cr
    import chainrule.numpy as cnp
    from chainrule import lax

    def f(theta):
        e, m = theta[0], theta[1]
        scale = e * m + e * e
        x = lax.while_loop(lambda x: x < 10.0 * m, lambda x: x + e, m)
        return cnp.sin(x) * scale

    theta = np.array([0.6, 1.2])
    got = cr.jit(f)(theta)
    np.testing.assert_allclose(got, f(theta), rtol=1e-14)


@pytest.mark.parametrize("user_flag", [None, "1"])
def test_compile_process_numba_set_up_compiles_right_kernels(tmp_path, user_flag):
    # what the compile process does before its first compile (compiler._lighten_numba):
    # no scipy, cffi or yaml, no coloured messages, and NUMBA_* (in the cache key) as it
    # was
    code = textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {SRC!r})
        import numpy as np
        from chainrule.jit import compiler
        before = os.environ.get("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING")
        compiler._lighten_numba()
        after = os.environ.get("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING")
        import chainrule as cr
        import chainrule.numpy as cnp
        from chainrule.jit import cache
        f = cr.jit(cr.grad(lambda x: cnp.sum(cnp.tanh(x) * cnp.exp(x))))
        x = np.linspace(-3.0, 3.0, 101)
        t = np.tanh(x)
        ref = (1.0 - t * t) * np.exp(x) + t * np.exp(x)
        blocked = []
        for name in ("scipy.linalg", "cffi", "yaml"):
            try:
                __import__(name)
            except ImportError:
                blocked.append(name)
        print(json.dumps({{"got": f(x).tolist(), "ref": ref.tolist(), "blocked": blocked,
                          "flag": [before, after], "compiles": cache.stats["kernel_compiles"],
                          "fallbacks": len(next(iter(f._entries.values())).executable.fallbacks)}}))
    """)
    env = dict(os.environ, CHAINRULE_CACHE_DIR=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "nb"),
               CHAINRULE_JIT_COMPILE="sync")
    env.pop("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING", None)
    if user_flag:
        env["NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING"] = user_flag
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)   # (no .numba_config.yaml there)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["blocked"] == ["scipy.linalg", "cffi", "yaml"]
    assert out["flag"] == [user_flag, user_flag]
    assert out["compiles"] >= 1 and out["fallbacks"] == 0
    _close(out["got"], out["ref"])
