"""Security: no user text in generated code; an owner-only disk cache that
trusts nothing it did not write.

- Generated code (each kernel's source and the plan that calls the kernels,
  both compiled and executed) holds only generated names, a fixed set of
  library names and numbers, whatever the user's function is called, says in
  its docstring or receives as static arguments.
- The cache directory is created 0700; one that another user owns or can
  write to is refused (with a warning; jit still works, without the disk
  cache), because the entries in it are machine code this process runs.
- An entry whose bytes are not exactly what chainrule writes (header,
  checksum, code) is never run: it is replaced and recompiled. Nothing in
  the directory is unpickled or imported.
"""

import ast
import os
import pickle
import re
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.jit import cache, codegen, stats

HOSTILE_NAME = "__import__('os').system('touch {marker}')"
HOSTILE_DOC = '"""\nimport os\nos.system("touch {marker}")\n"""'
HOSTILE_STATIC = "');import os;os.system('touch {marker}');#"
MARKERS = ("__import__", "os.system", "touch", "import os", "system")

# independent of codegen's own whitelist: what generated code may name
KERNEL_NAME = re.compile(r"^([ionrsjtaxfq][0-9]+|np|math|vm|rt|range|abs|min|max|kernel)$")
KERNEL_ATTR_BASE = {"np", "math", "vm", "rt"}
PLAN_NAME = re.compile(r"^(run|[A-Z]|[A-Za-z][0-9]+|_[a-z][a-z_]*)$")


def _hostile_function(marker):
    def f(x, s, scale=1.0):
        if s.startswith("'"):          # the static string steers the trace
            y = cnp.sin(x) * len(s) + x ** 2
        else:
            y = cnp.cos(x)
        inner = cr.jit(lambda z: cnp.tanh(z) * 2.0)
        inner.__name__ = HOSTILE_NAME.format(marker=marker)
        return cnp.sum(inner(y) * scale), {"'); os.system('touch x') #": y * 3.0}

    f.__name__ = HOSTILE_NAME.format(marker=marker)
    f.__qualname__ = f.__name__
    f.__doc__ = HOSTILE_DOC.format(marker=marker)
    return f


def _check_kernel_source(src):
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert KERNEL_NAME.match(node.id), node.id
        elif isinstance(node, ast.arg):
            assert KERNEL_NAME.match(node.arg), node.arg
        elif isinstance(node, ast.Attribute):
            assert isinstance(node.value, ast.Name) and node.value.id in KERNEL_ATTR_BASE
            assert re.match(r"^[a-z_0-9]+$", node.attr), node.attr
        elif isinstance(node, ast.Constant):
            assert type(node.value) in (int, float, bool) or node.value is None, node.value
        elif isinstance(node, (ast.Import, ast.ImportFrom, ast.Lambda, ast.ClassDef,
                               ast.With, ast.Try, ast.Global, ast.Nonlocal)):
            raise AssertionError(f"{type(node).__name__} in a kernel")


def _check_plan_source(src):
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert PLAN_NAME.match(node.id), node.id
        elif isinstance(node, ast.arg):
            assert PLAN_NAME.match(node.arg), node.arg
        elif isinstance(node, ast.Attribute):
            assert node.attr in ("flags", "c_contiguous"), node.attr
        elif isinstance(node, ast.Constant):
            assert type(node.value) in (int, float, bool) or node.value is None, node.value
        elif isinstance(node, (ast.Import, ast.ImportFrom, ast.Lambda, ast.ClassDef)):
            raise AssertionError(f"{type(node).__name__} in a plan")


def _no_user_text(text, marker):
    for bad in MARKERS + (marker, "'); os"):
        assert bad not in text, bad


def test_generated_code_holds_no_user_text(tmp_path, cache_root):
    marker = str(tmp_path / "pwned")
    f = _hostile_function(marker)
    jf = cr.jit(f, static_argnums=1, static_argnames="scale")
    x = np.linspace(-1, 1, 5)
    static = HOSTILE_STATIC.format(marker=marker)
    sources = []
    for fun, args in [(jf, (x, static)),
                      (cr.jit(cr.grad(lambda x: f(x, static)[0])), (x,)),
                      (cr.jit(cr.vmap(lambda x: f(x, static)[0])), (np.stack([x, x]),))]:
        out = fun(*args)
        assert out is not None
        lowered = fun.lower(*args)
        assert lowered.kernels, "expected fused kernels"
        for k in lowered.kernels:
            if k.source:
                _check_kernel_source(k.source)
                _no_user_text(k.source, marker)
                sources.append(k.source)
        _check_plan_source(lowered.executable.source)
        _no_user_text(lowered.executable.source, marker)
    assert sources
    # what went to disk is generated text too
    files = list((cache_root / "kernels").glob("k*"))
    assert files
    for path in files:
        _no_user_text(path.read_bytes().decode("latin-1"), marker)
        assert re.fullmatch(r"k[0-9a-f]{40}\.kernel", path.name)
    assert not os.path.exists(marker)
    # and the answers are right
    out, aux = jf(x, static)
    y = np.sin(x) * len(static) + x ** 2
    np.testing.assert_allclose(out, np.sum(np.tanh(y) * 2.0), rtol=1e-12)


def test_codegen_validation_rejects_injected_text():
    good = "def kernel(n0, o0, i0):\n    for j0 in range(n0):\n        o0[j0] = i0[j0] * 2.0\n"
    codegen.validate(good)
    bad_sources = [
        good + "import os\n",
        good.replace("2.0", "__import__('os').system('true')"),
        good.replace("2.0", "'text'"),
        good.replace("i0[j0] * 2.0", "np.load('x')"),
        good.replace("o0[j0] =", "evil ="),
        good.replace("def kernel", "@np.vectorize\ndef kernel"),
        good.replace("kernel(n0", "kernel(self, n0"),
        good + "def other():\n    pass\n",
        good.replace("i0[j0] * 2.0", "(lambda: 0)()"),
        good.replace("i0[j0] * 2.0", "i0.__class__"),
    ]
    for src in bad_sources:
        with pytest.raises(codegen.CodegenError):
            codegen.validate(src)


def test_literals_are_numbers_only():
    for value, dtype in [(2.5, np.float64), (np.nan, np.float32), (-np.inf, np.float64),
                         (3, np.int8), (True, np.bool_)]:
        text = codegen.literal(value, dtype)
        _check_kernel_source(f"def kernel(o0):\n    o0[0] = {text}\n")
    with pytest.raises(codegen.CodegenError):
        codegen.literal("abc", np.dtype("<U3"))


# ------------------------------------------------------- the cache dir ---


def _compile_something():
    cache._memory.clear()
    f = cr.jit(lambda x: cnp.sum(cnp.exp(-x * x) * 1.5 + cnp.cos(x)))
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(f(x), np.sum(np.exp(-x * x) * 1.5 + np.cos(x)), rtol=1e-12)


def test_cache_directory_is_created_owner_only(cache_root):
    old = os.umask(0)     # whatever the umask
    try:
        _compile_something()
    finally:
        os.umask(old)
    for d in (cache_root, cache_root / "kernels"):
        assert d.stat().st_mode & 0o777 == 0o700, oct(d.stat().st_mode)
        assert d.stat().st_uid == os.getuid()
    for entry in (cache_root / "kernels").glob("k*.kernel"):
        assert entry.stat().st_mode & 0o077 == 0, oct(entry.stat().st_mode)


def test_readable_by_others_is_tightened(cache_root):
    (cache_root / "kernels").mkdir(parents=True)
    os.chmod(cache_root, 0o755)
    os.chmod(cache_root / "kernels", 0o750)
    _compile_something()
    assert cache_root.stat().st_mode & 0o777 == 0o700
    assert (cache_root / "kernels").stat().st_mode & 0o777 == 0o700
    assert list((cache_root / "kernels").glob("k*.kernel"))


def _plant_payload(kdir, marker):
    """What an attacker would leave: pickles that run code when loaded, under
    the names Numba's cache files have, and a module next to each entry."""
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    pyc = kdir / "__pycache__"
    pyc.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(Payload())
    for stem in [p.stem for p in kdir.glob("k*.kernel")] or ["k" + "0" * 40]:
        for name in ("kernel-6.py311.nbi", "kernel-6.py311.1.nbc"):
            (pyc / f"{stem}.{name}").write_bytes(data)
        (kdir / f"{stem}.py").write_text(f"import os\nos.system('touch {marker}')\n")


@pytest.mark.parametrize("mode,where", [(0o777, "root"), (0o775, "root"), (0o722, "kernels"),
                                       (0o730, "kernels")])
def test_a_directory_others_can_write_is_refused(cache_root, tmp_path, mode, where):
    _compile_something()                  # a real cache, then someone opens it up
    marker = tmp_path / "pwned"
    kdir = cache_root / "kernels"
    _plant_payload(kdir, marker)
    os.chmod(cache_root if where == "root" else kdir, mode)
    before = dict(stats)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _compile_something()              # still right: compiled in memory
    msgs = [str(w.message) for w in caught if "disk cache disabled" in str(w.message)]
    assert msgs and "writable by other users" in msgs[0], [str(w.message) for w in caught]
    assert stats["kernel_compiles"] == before["kernel_compiles"] + 1
    assert stats["kernel_disk_loads"] == before["kernel_disk_loads"]
    assert not marker.exists()            # nothing in it was unpickled
    # refused, not repaired: the mode is left for its owner to look at
    assert (cache_root if where == "root" else kdir).stat().st_mode & 0o777 == mode


def test_a_directory_owned_by_someone_else_is_refused(cache_root, tmp_path, monkeypatch):
    _compile_something()
    marker = tmp_path / "pwned"
    _plant_payload(cache_root / "kernels", marker)
    if os.getuid() == 0:
        os.chown(cache_root / "kernels", 4321, -1)     # really someone else's
    else:
        real_uid = os.getuid()
        monkeypatch.setattr(cache.os, "getuid", lambda: real_uid + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _compile_something()
    assert any("owned by another user" in str(w.message) for w in caught)
    assert not marker.exists()


def test_an_entry_we_did_not_write_is_never_run(cache_root, tmp_path):
    _compile_something()
    marker = tmp_path / "pwned"
    (entry,) = (cache_root / "kernels").glob("k*.kernel")
    good = entry.read_bytes()
    obj, symbol, needs = cache._parse_entry(good)
    # other code behind the header of the real one (its checksum no longer
    # matches), and pickles and modules planted next to it
    entry.write_bytes(good[: len(good) - len(obj)] + b"\xcc" * len(obj))
    _plant_payload(cache_root / "kernels", marker)
    before = stats["kernel_disk_corrupt"]
    _compile_something()
    assert stats["kernel_disk_corrupt"] == before + 1
    assert not marker.exists()           # none of it ran
    cache._parse_entry(entry.read_bytes())   # replaced by an intact entry
