"""Compiled kernels, cached in memory and on disk.

A kernel is identified by its canonical form: its generated source (which
names nothing from the function it came from) and its argument types. In
memory, that identifies the Numba dispatcher. On disk, in a per-user
directory (``CHAINRULE_CACHE_DIR``, default ``~/.cache/chainrule``, created
owner-only), each kernel is a small Python module named by a hash of the
canonical form and the Numba, chainrule and Python versions. It holds the
generated source and a checksum line; it is used (run, and compiled by
Numba with ``cache=True``, whose machine-code cache lives next to it) only
if its bytes are exactly what we would write now, so a corrupt or stale
entry is rewritten and recompiled, never trusted. Entries are written to a
temporary file and renamed into place, so a reader never sees half an entry.
A directory that another user owns or can write to is refused.
``CHAINRULE_DISABLE_JIT_CACHE=1`` turns the disk cache off.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import types
import warnings
from pathlib import Path

import numpy as np

_VERSION = "0.1.0"
stats = {"kernel_compiles": 0, "kernel_memory_hits": 0, "kernel_disk_loads": 0,
         "kernel_disk_corrupt": 0}
_memory: dict[str, object] = {}
# compile_kernel runs under this lock: threads that need the same kernel at the
# same time compile it once (and the counters above stay exact)
_lock = threading.RLock()
_HEADER = "import math\nimport numpy as np\nfrom chainrule.jit import vmath as vm\n\n"
_vmath_hash: list = []


def _chainrule_version():
    try:
        from .. import __version__
        return __version__
    except ImportError:  # pragma: no cover (during package import)
        return _VERSION


def cache_dir() -> Path | None:
    """The disk cache directory, created owner-only; None when disabled or unsafe.

    Numba's cache files next to the kernels are pickles, so a directory that
    another user owns or can write to (group/other write permission) is refused
    (with a warning), not repaired: what is in it may not be ours. Read and
    execute bits for others are only tightened to 0700.
    """
    if os.environ.get("CHAINRULE_DISABLE_JIT_CACHE", "") not in ("", "0"):
        return None
    path = Path(os.environ.get("CHAINRULE_CACHE_DIR")
                or Path.home() / ".cache" / "chainrule").expanduser() / "kernels"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        for p in (path.parent, path):
            st = p.stat()
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise PermissionError(f"{p} is owned by another user")
            if st.st_mode & 0o022:
                raise PermissionError(f"{p} is writable by other users (mode "
                                      f"{oct(st.st_mode & 0o777)}; use chmod 700)")
            if st.st_mode & 0o077:
                os.chmod(p, 0o700)
    except OSError as err:
        warnings.warn(f"chainrule.jit: disk cache disabled ({err})", stacklevel=3)
        return None
    return path


def array_type(dtype, ndim, readonly=False):
    import numba
    from numba import types as nt
    return nt.Array(numba.from_dtype(np.dtype(dtype)), ndim, "C", readonly=readonly)


def signature(n_extents, arrays, restype=None):
    """``void(int64 * n, arrays...)`` with ``arrays = [(dtype, ndim)]`` or
    ``[(dtype, ndim, readonly)]``: kernel inputs are declared read-only, so that
    read-only arrays (np.broadcast_to views, arrays with writeable=False) are
    accepted as they are; a writeable array converts to that type too.
    ``restype="int64"``: kernels that return a flag (``codegen.checked``)."""
    from numba import types as nt
    ret = nt.void if restype is None else getattr(nt, restype)
    return ret(*([nt.int64] * n_extents + [array_type(*a) for a in arrays]))


def _vmath_version() -> str:
    """A hash of vmath.py: kernels inline its functions, so it is part of their key."""
    if not _vmath_hash:
        data = (Path(__file__).with_name("vmath.py")).read_bytes()
        _vmath_hash.append(hashlib.sha256(data).hexdigest()[:16])
    return _vmath_hash[0]


def _key(source, sig) -> str:
    import numba
    text = "\n".join([source, str(sig), numba.__version__, _chainrule_version(),
                      sys.version.split()[0], np.__version__, _vmath_version()])
    return hashlib.sha256(text.encode()).hexdigest()


def _file_text(source):
    digest = hashlib.sha256(source.encode()).hexdigest()
    return f"# chainrule kernel sha256={digest}\n{_HEADER}{source}"


def _write_atomic(path: Path, text: str):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _njit(py_func, sig, cache):
    import numba  # imported on first compile: `import chainrule` stays light
    return numba.njit(sig, cache=cache, error_model="numpy", nogil=True)(py_func)


def _from_exec(source, sig):
    from . import vmath
    ns = {"np": np, "math": __import__("math"), "vm": vmath}
    exec(compile(source, "<chainrule-kernel>", "exec"), ns)
    return _njit(ns["kernel"], sig, cache=False)


def _numba_cache_files(path: Path):
    pyc = path.parent / "__pycache__"
    return list(pyc.glob(path.stem + "*.nb[ic]")) if pyc.is_dir() else []


def _from_disk(directory: Path, key: str, source, sig):
    path = directory / f"k{key[:40]}.py"
    text = _file_text(source)
    try:
        current = path.read_text() if path.exists() else None
    except (OSError, UnicodeDecodeError):
        current = ""
    if current != text:
        if current is not None:
            stats["kernel_disk_corrupt"] += 1
            for f in _numba_cache_files(path):
                f.unlink(missing_ok=True)
        _write_atomic(path, text)
    # Run the text just checked (or written), named by the file so that Numba's
    # cache lives next to it, rather than importing the file: an import would
    # read it again and trust a __pycache__/*.pyc, neither of which was checked.
    name = f"chainrule_kernel_{key[:16]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(text, str(path), "exec"), module.__dict__)
    sys.modules[name] = module  # Numba's cached environment re-imports it by name
    try:
        disp = _njit(module.kernel, sig, cache=True)
    except Exception:
        # a damaged Numba cache file: drop it and compile afresh
        stats["kernel_disk_corrupt"] += 1
        for f in _numba_cache_files(path):
            f.unlink(missing_ok=True)
        disp = _njit(module.kernel, sig, cache=True)
    return disp


def compile_kernel(source: str, sig):
    """The compiled kernel for this canonical form (source, signature)."""
    with _lock:
        return _compile_kernel(source, sig)


def _compile_kernel(source: str, sig):
    key = _key(source, sig)
    disp = _memory.get(key)
    if disp is not None:
        stats["kernel_memory_hits"] += 1
        return disp
    directory = cache_dir()
    if directory is None:
        disp = _from_exec(source, sig)
        stats["kernel_compiles"] += 1
    else:
        disp = _from_disk(directory, key, source, sig)
        hits = sum(disp.stats.cache_hits.values())
        stats["kernel_disk_loads" if hits else "kernel_compiles"] += 1
    _memory[key] = disp
    return disp
