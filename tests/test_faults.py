"""Faults: a damaged disk cache is detected and rebuilt; Numba failures fall back.

The disk cache (chainrule/jit/cache.py) keeps each kernel's machine code in
one file, behind a header with its checksum. These tests damage it the ways
it gets damaged in real life (truncated, from another version, a writer
killed mid-write, two processes filling it at once, code needing symbols
the process lacks) and
check that the answer stays right, that the damage is counted
(``stats["kernel_disk_corrupt"]``) and recompiled, and that the entry is
whole again afterwards. test_jit.py::test_numba_failure_falls_back covers the
NumPy fallback; here it is shown to warn once and to stay right for
gradients.
"""

import os
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.jit import cache, plan, stats

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))


def kernel_fun(x):
    return cnp.sum(cnp.exp(-x * x) * 1.5 + cnp.cos(x))


X = np.linspace(0, 1, 11)
WANT = np.sum(np.exp(-X * X) * 1.5 + np.cos(X))


def run_once():
    """Compile (or load) kernel_fun's kernel afresh: new jit, cold memory."""
    cache._memory.clear()
    before = dict(stats)
    out = cr.jit(kernel_fun)(X)
    np.testing.assert_allclose(out, WANT, rtol=1e-12)
    return {k: stats[k] - before[k] for k in
            ("kernel_compiles", "kernel_disk_loads", "kernel_disk_corrupt")}


def entries(root):
    return sorted((root / "kernels").glob("k*.kernel"))


COLD = {"kernel_compiles": 1, "kernel_disk_loads": 0, "kernel_disk_corrupt": 0}
WARM = {"kernel_compiles": 0, "kernel_disk_loads": 1, "kernel_disk_corrupt": 0}
REPAIRED = {"kernel_compiles": 1, "kernel_disk_loads": 0, "kernel_disk_corrupt": 1}


def _intact(root):
    """Every entry holds exactly what chainrule writes for its kernel."""
    for path in entries(root):
        obj, symbol, needs = cache._parse_entry(path.read_bytes())
        assert path.read_bytes() == cache._entry_bytes(obj, symbol, needs), path


def test_cold_then_warm(cache_root):
    assert run_once() == COLD
    assert run_once() == WARM
    (entry,) = entries(cache_root)
    _intact(cache_root)
    assert not list((cache_root / "kernels").glob(".tmp-*"))   # no temporary files left


@pytest.mark.parametrize("damage", ["truncated", "one code byte changed", "header changed",
                                    "garbage", "empty", "other format", "appended bytes"])
def test_a_damaged_entry_is_detected_and_recompiled(cache_root, damage):
    run_once()
    (entry,) = entries(cache_root)
    data = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "one code byte changed":
        i = len(data) - 100
        entry.write_bytes(data[:i] + bytes([data[i] ^ 1]) + data[i + 1:])
    elif damage == "header changed":
        entry.write_bytes(data.replace(b'"symbol": "', b'"symbol": "x', 1))
    elif damage == "garbage":
        entry.write_bytes(os.urandom(300))
    elif damage == "other format":
        # an entry written by a chainrule whose file format differed
        entry.write_bytes(data.replace(b"chainrule-kernel 2", b"chainrule-kernel 1", 1))
    else:
        entry.write_bytes(data + b"\x90\xc3")
    assert run_once() == REPAIRED
    _intact(cache_root)
    assert run_once() == WARM


def test_entries_of_other_versions_are_never_looked_at(cache_root, monkeypatch):
    run_once()
    (old,) = entries(cache_root)
    old_text = old.read_bytes()
    # the version is part of the kernel's key, so another version has its own entry
    monkeypatch.setattr(cache, "_chainrule_version", lambda: "0.0.1-test")
    monkeypatch.setattr(cache, "_versions", [])
    assert run_once() == COLD
    assert len(entries(cache_root)) == 2 and old.read_bytes() == old_text
    assert run_once() == WARM


def test_code_needing_what_this_process_lacks_is_compiled_here(cache_root):
    run_once()
    (entry,) = entries(cache_root)
    obj, symbol, needs = cache._parse_entry(entry.read_bytes())
    # as if Numba had compiled it calling a helper only a Numba process provides:
    # intact, so not counted as damage, but not loaded (MCJIT would abort on it)
    entry.write_bytes(cache._entry_bytes(obj, symbol, needs + ["numba_no_such_helper"]))
    assert run_once() == COLD
    assert run_once() == WARM


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {src!r})
    import numpy as np, chainrule as cr, chainrule.numpy as cnp
    from chainrule.jit import cache
    real_fdopen = os.fdopen

    class HalfWriter:
        # writes half of the entry, then the process dies (SIGKILL: no cleanup)
        def __init__(self, f):
            self.f = f
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return False
        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    os.fdopen = lambda fd, mode="r", *a, **k: HalfWriter(real_fdopen(fd, mode, *a, **k))
    cr.jit(lambda x: cnp.sum(cnp.exp(-x * x) * 1.5 + cnp.cos(x)))(np.linspace(0, 1, 11))
    print("not killed")
""")


def test_a_writer_killed_mid_write_leaves_no_half_entry(cache_root):
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER.format(src=SRC)],
                          env=dict(os.environ), capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr      # killed in the middle of the write
    kdir = cache_root / "kernels"
    assert entries(cache_root) == []               # the half-written file has a temp name
    (tmp,) = kdir.glob(".tmp-*")
    assert 0 < tmp.stat().st_size
    assert run_once() == COLD                      # nothing half-made is ever read
    _intact(cache_root)
    assert run_once() == WARM


def test_a_half_written_entry_from_a_non_atomic_writer_is_repaired(cache_root):
    # what a writer that wrote in place would leave when killed: half a file
    run_once()
    (entry,) = entries(cache_root)
    data = entry.read_bytes()
    cache._memory.clear()
    entry.write_bytes(data[: len(data) * 2 // 3])
    assert run_once() == REPAIRED
    _intact(cache_root)


def test_entries_are_written_by_rename(cache_root, monkeypatch):
    """The entry appears by os.replace of a complete temporary file."""
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.basename(src), os.path.basename(dst),
                         open(src, "rb").read() if str(dst).endswith(".kernel") else None))
        return real_replace(src, dst)

    monkeypatch.setattr(cache.os, "replace", spy)
    run_once()
    ours = [r for r in replaced if r[1].startswith("k") and r[1].endswith(".kernel")]
    assert len(ours) == 1
    tmp_name, final, data = ours[0]
    assert tmp_name.startswith(".tmp-")
    assert data == (cache_root / "kernels" / final).read_bytes()


_FILLER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {src!r})
    import numpy as np, chainrule as cr, chainrule.numpy as cnp
    from chainrule.jit import stats
    import numba  # loaded before the start line, so that the processes race
    open({ready!r} + str(os.getpid()), "w").close()
    while not os.path.exists({go!r}):
        time.sleep(0.005)
    x = np.linspace(-1, 1, 7)
    fs = [lambda x: cnp.sum(cnp.exp(-x * x) * 1.5 + cnp.cos(x)),
          lambda x: cnp.tanh(x) * 2.0 - x,
          lambda x: cnp.sum(cnp.sqrt(x * x + 1.0) * x, axis=0)]
    outs = [cr.jit(f)(x) for f in fs] + [cr.jit(cr.grad(fs[0]))(x)]
    want = [np.sum(np.exp(-x * x) * 1.5 + np.cos(x)), np.tanh(x) * 2.0 - x,
            np.sum(np.sqrt(x * x + 1.0) * x, axis=0), -3 * x * np.exp(-x * x) - np.sin(x)]
    for o, w in zip(outs, want):
        assert np.allclose(o, w, rtol=1e-12, atol=1e-12), (o, w)
    print(stats["kernel_compiles"], stats["kernel_disk_loads"], stats["kernel_disk_corrupt"])
""")


def test_processes_filling_the_cache_at_once_do_not_corrupt_it(cache_root, tmp_path):
    ready, go = str(tmp_path / "ready-"), str(tmp_path / "go")
    code = _FILLER.format(src=SRC, ready=ready, go=go)
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    deadline = time.time() + 120
    while len(list(tmp_path.glob("ready-*"))) < len(procs) and time.time() < deadline:
        time.sleep(0.01)
    open(go, "w").close()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(tuple(map(int, out.split())))
    # every process got the right answers (asserted in the child) and saw no
    # damage; together they compiled at least what one process needs
    assert all(r[2] == 0 for r in results), results
    n_kernels = len(entries(cache_root))
    assert n_kernels >= 3 and all(r[0] + r[1] == n_kernels for r in results), results
    _intact(cache_root)
    # a process that comes later loads everything from disk
    out = subprocess.run([sys.executable, "-c", code.replace(
        "while not os.path.exists", "while False and os.path.exists")], env=env,
        capture_output=True, text=True, check=True).stdout
    assert tuple(map(int, out.split())) == (0, n_kernels, 0)
    assert not list((cache_root / "kernels").glob(".tmp-*"))


# ------------------------------------------------------- Numba failures ---


def test_a_numba_failure_falls_back_to_numpy_with_one_warning(monkeypatch, cache_root):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated Numba failure")

    monkeypatch.setattr(cache, "_compile", boom)
    monkeypatch.setattr(plan, "_warned", set())
    f = lambda x: cnp.sum(cnp.tanh(x) * 3.0 + x * x)  # noqa: E731
    jf = cr.jit(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x in (np.linspace(-1, 1, 5), np.linspace(-1, 1, 5) * 2, np.ones((2, 3))):
            for _ in range(3):
                np.testing.assert_allclose(jf(x), f(x), rtol=1e-12)
    ours = [w for w in caught if "Numba could not compile" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    msg = str(ours[0].message)
    assert "simulated Numba failure" in msg and "NumPy" in msg
    assert ours[0].category is RuntimeWarning
    assert "(NumPy fallback)" in str(jf.lower(np.ones(4)))
    # gradients under the fallback are right too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = np.linspace(-1, 1, 5)
        np.testing.assert_allclose(cr.jit(cr.grad(f))(x), 3 / np.cosh(x) ** 2 + 2 * x,
                                   rtol=1e-12)


def test_a_numba_failure_after_a_damaged_entry_falls_back(monkeypatch, cache_root):
    run_once()
    (entry,) = entries(cache_root)
    entry.write_bytes(b"damaged")

    def boom(*args, **kwargs):
        raise RuntimeError("simulated Numba failure")

    monkeypatch.setattr(cache, "_compile", boom)
    monkeypatch.setattr(plan, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache._memory.clear()
        np.testing.assert_allclose(cr.jit(kernel_fun)(X), WANT, rtol=1e-12)
    assert sum("Numba could not compile" in str(w.message) for w in caught) == 1
