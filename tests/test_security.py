"""Security: no user text in generated code; an owner-only disk cache that
trusts nothing it did not write.

- Generated code (each kernel's source and the plan that calls the kernels,
  both compiled and executed) holds only generated names, a fixed set of
  library names and numbers, whatever the user's function is called, says in
  its docstring or receives as static arguments.
- The cache directory is created 0700; one that another user owns or can
  write to is refused (with a warning; jit still works, without the disk
  cache), because Numba's cache files in it are pickles.
- An entry whose text is not exactly what chainrule writes is never run:
  it is replaced and recompiled. Numba's files next to a replaced entry are
  deleted unread.
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
KERNEL_NAME = re.compile(r"^([ionrjtaxf][0-9]+|np|math|vm|range|abs|min|max|kernel)$")
KERNEL_ATTR_BASE = {"np", "math", "vm"}
PLAN_NAME = re.compile(r"^(run|[A-Z]|[A-Za-z][0-9]+|_[a-z][a-z_]*)$")


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "crcache"
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(root))
    monkeypatch.delenv("CHAINRULE_DISABLE_JIT_CACHE", raising=False)
    monkeypatch.setattr(cache, "_memory", {})
    return root


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
            assert node.attr in ("reshape",), node.attr
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
    files = list((cache_root / "kernels").glob("k*.py"))
    assert files
    for path in files:
        _no_user_text(path.read_text(), marker)
        assert re.fullmatch(r"k[0-9a-f]{40}\.py", path.name)
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
    for entry in (cache_root / "kernels").glob("k*.py"):
        assert entry.stat().st_mode & 0o077 == 0, oct(entry.stat().st_mode)


def test_readable_by_others_is_tightened(cache_root):
    (cache_root / "kernels").mkdir(parents=True)
    os.chmod(cache_root, 0o755)
    os.chmod(cache_root / "kernels", 0o750)
    _compile_something()
    assert cache_root.stat().st_mode & 0o777 == 0o700
    assert (cache_root / "kernels").stat().st_mode & 0o777 == 0o700
    assert list((cache_root / "kernels").glob("k*.py"))


def _plant_payload(kdir, marker):
    """What an attacker would leave: a pickle that runs code when loaded,
    under the names Numba's cache index and data files have."""
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    pyc = kdir / "__pycache__"
    pyc.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(Payload())
    for name in ("kernel-6.py311.nbi", "kernel-6.py311.1.nbc"):
        for stem in [p.stem for p in kdir.glob("k*.py")] or ["k" + "0" * 40]:
            (pyc / f"{stem}.{name}").write_bytes(data)


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
    (entry,) = (cache_root / "kernels").glob("k*.py")
    good = entry.read_text()
    # an entry with a forged checksum line and code that would run on import,
    # and the pickles to go with it
    forged = good.replace("import math", f"import os; os.system('touch {marker}')\nimport math")
    entry.write_text(forged)
    _plant_payload(cache_root / "kernels", marker)
    before = stats["kernel_disk_corrupt"]
    _compile_something()
    assert stats["kernel_disk_corrupt"] == before + 1
    assert not marker.exists()           # neither the module nor the pickles ran
    assert entry.read_text() == good     # replaced by what we write


def test_a_bytecode_file_next_to_an_entry_is_not_used(cache_root, tmp_path):
    import importlib.util
    import marshal
    _compile_something()
    marker = tmp_path / "pwned"
    (entry,) = (cache_root / "kernels").glob("k*.py")
    # a .pyc that Python's import system would accept for this entry (right
    # source mtime and size in its header) but whose code is someone else's
    code = compile(f"import os\nos.system('touch {marker}')\n", str(entry), "exec")
    st = entry.stat()
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little") + \
        int(st.st_mtime).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    pyc = importlib.util.cache_from_source(str(entry))
    os.makedirs(os.path.dirname(pyc), exist_ok=True)
    with open(pyc, "wb") as fh:
        fh.write(header + marshal.dumps(code))
    _compile_something()
    assert not marker.exists()
