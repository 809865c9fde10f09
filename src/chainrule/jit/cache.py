"""Compiled kernels, cached in memory and on disk.

A kernel is identified by its canonical form, its generated source (which
names nothing from the function it came from). In memory, that identifies
the callable. On disk, in a per-user directory (``CHAINRULE_CACHE_DIR``,
default ``~/.cache/chainrule``, created owner-only), each kernel is one
file named by a hash of the source, the Numba, llvmlite, NumPy, Python and
chainrule versions, ``vmath.py`` and the host CPU (``native.host``). It holds
the kernel's machine code as Numba compiled it, with a header naming its
entry symbol, the symbols it needs, and a SHA-256 of the code. A later
process links that code in with llvmlite (``native.load``) without importing
Numba, if the header and checksum are exactly right; a corrupt or stale
entry is recompiled and rewritten, never trusted. Entries are written to a
temporary file and renamed into place, so a reader never sees half an entry.
A directory that another user owns or can write to is refused: the checksum
catches damage, not someone who can write there (llvmlite links and runs
whatever object code it is given). ``CHAINRULE_DISABLE_JIT_CACHE=1`` turns
the disk cache off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from . import native

_VERSION = "0.1.0"
_MAGIC = b"chainrule-kernel 2\n"
stats = {"kernel_compiles": 0, "kernel_memory_hits": 0, "kernel_disk_loads": 0,
         "kernel_disk_corrupt": 0, "loops_compiled_whole": 0}
_memory: dict[str, object] = {}
# compile_kernel runs under this lock: threads that need the same kernel at the
# same time compile it once (and the counters above stay exact)
_lock = threading.RLock()
_versions: list = []
log = logging.getLogger("chainrule.jit")   # CHAINRULE_LOG_COMPILES=1 shows it


def _chainrule_version():
    try:
        from .. import __version__
        return __version__
    except ImportError:  # pragma: no cover (during package import)
        return _VERSION


def cache_dir() -> Path | None:
    """The disk cache directory, created owner-only; None when disabled or unsafe.

    Entries are machine code that this process will run, so a directory that
    another user owns or can write to (group/other write permission) is
    refused (with a warning), not repaired: what is in it may not be ours.
    Read and execute bits for others are only tightened to 0700.
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


def _environment() -> str:
    """Everything besides the source that the machine code depends on."""
    if not _versions:
        import llvmlite
        vmath = hashlib.sha256(Path(__file__).with_name("vmath.py").read_bytes()).hexdigest()
        _versions.append("\n".join([
            _numba_version(), llvmlite.__version__, np.__version__, sys.version.split()[0],
            _chainrule_version(), vmath[:16], native.host()]))
    return _versions[0]


def _numba_version() -> str:
    """Numba's version, without importing Numba (or ``importlib.metadata``,
    a sixth of a cold jit call): the text of its generated ``_version.py``,
    which holds the version and the revision it was built from."""
    import importlib.util
    spec = importlib.util.find_spec("numba")
    try:
        text = Path(spec.submodule_search_locations[0], "_version.py").read_bytes()
        return "numba " + hashlib.sha256(text).hexdigest()[:16]
    except (AttributeError, TypeError, IndexError, OSError):
        from importlib.metadata import version
        return version("numba")


def _key(source) -> str:
    return hashlib.sha256(f"{source}\n{_environment()}".encode()).hexdigest()


# ------------------------------------------------------------ compile ---

def _compile(source):
    """Numba compiles the kernel: (the ``numba.cfunc``, its object code or
    None, the symbols the code needs)."""
    from numba import cfunc, types  # imported on first compile

    from . import rt, vmath
    ns = {"np": np, "math": math, "vm": vmath, "rt": rt}
    exec(compile(source, "<chainrule-kernel>", "exec"), ns)
    fn = cfunc(types.voidptr(types.voidptr, types.voidptr, types.intp),
               error_model="numpy")(ns["kernel"])
    lib = fn._library
    try:
        obj = lib._get_compiled_object()
        mod = lib._final_module
        needs = sorted({f.name for f in mod.functions if f.is_declaration}
                       | {g.name for g in mod.global_variables if g.is_declaration})
    except Exception:   # Numba's internals moved: run it, but do not cache it
        obj, needs = None, []
    return fn, obj, needs


# ---------------------------------------------------------- disk entries ---

def _digest(obj, symbol, needs) -> str:
    return hashlib.sha256("\n".join([symbol, *needs, ""]).encode() + obj).hexdigest()


def _entry_bytes(obj, symbol, needs) -> bytes:
    head = json.dumps({"sha256": _digest(obj, symbol, needs), "symbol": symbol,
                       "needs": needs}, sort_keys=True).encode()
    return _MAGIC + head + b"\n" + obj


def _parse_entry(data: bytes):
    """(object code, symbol, needs), or ValueError if the entry is not intact."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a chainrule kernel entry of this format")
    head, sep, obj = data[len(_MAGIC):].partition(b"\n")
    meta = json.loads(head)
    if not sep or not isinstance(meta, dict) or set(meta) != {"sha256", "symbol", "needs"}:
        raise ValueError("malformed header")
    symbol, needs = meta["symbol"], meta["needs"]
    if not (isinstance(symbol, str) and isinstance(needs, list)
            and all(isinstance(s, str) for s in needs)):
        raise ValueError("malformed symbol names")
    if _digest(obj, symbol, needs) != meta["sha256"]:
        raise ValueError("checksum mismatch")
    return obj, symbol, needs


def _write_atomic(path: Path, data: bytes):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".kernel")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def entry_path(directory: Path, key: str) -> Path:
    return directory / f"k{key[:40]}.kernel"


def _from_disk(path: Path):
    """The kernel in the entry at ``path``, or None (missing, corrupt, or not
    loadable in this process)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        stats["kernel_disk_corrupt"] += 1
        return None
    try:
        obj, symbol, needs = _parse_entry(data)
    except (ValueError, UnicodeDecodeError):
        stats["kernel_disk_corrupt"] += 1
        return None
    try:
        address = native.load(obj, symbol, needs)
    except LookupError:
        return None   # intact, but needs what only Numba provides: compile here
    except Exception:
        stats["kernel_disk_corrupt"] += 1   # llvmlite refused the object
        return None
    return native.function(address, None)


def compile_kernel(source: str):
    """The compiled kernel for this canonical form (its source)."""
    with _lock:
        return _compile_kernel(source)


def _compile_kernel(source: str):
    key = _key(source)
    fn = _memory.get(key)
    if fn is not None:
        stats["kernel_memory_hits"] += 1
        return fn
    directory = cache_dir()
    path = None if directory is None else entry_path(directory, key)
    start = time.perf_counter()
    fn = None if path is None else _from_disk(path)
    if fn is not None:
        stats["kernel_disk_loads"] += 1
        log.info("kernel %s loaded from %s (%.3f s)", key[:12], path,
                 time.perf_counter() - start)
    else:
        cf, obj, needs = _compile(source)
        fn = native.function(cf.address, cf)
        stats["kernel_compiles"] += 1
        log.info("kernel %s compiled by Numba (%.3f s; %s)", key[:12],
                 time.perf_counter() - start, "not in the disk cache" if path else "no disk cache")
        if path is not None and obj is not None:
            try:
                _write_atomic(path, _entry_bytes(obj, cf.native_name, needs))
            except OSError as err:
                warnings.warn(f"chainrule.jit: could not write the kernel cache ({err})",
                              stacklevel=3)
    _memory[key] = fn
    return fn


# ------------------------------------------------------ the tiered path ---
# config.jit_compile == "async": kernels come from the compile process
# (compiler.py) and are swapped into plans between calls (plan.Executable).

# bumped whenever a requested kernel settles (loaded, failed, or the compile
# process died): plans waiting for kernels rebuild when it changes
generation = 0
_requests: dict[str, dict] = {}   # key -> {"source", "path", "done": Event, "error"}
_failed: dict[str, str] = {}      # key -> why the compile process could not compile it
PENDING = object()                # request(): the kernel is being compiled


def asynchronous() -> bool:
    """Whether kernels are compiled in the compile process (the disk cache is
    how they come back, so without one they are compiled here)."""
    from ..config import config
    return config.jit_compile == "async" and cache_dir() is not None


def _answer(answer):
    """The compile process answered (``answer``) or died (None)."""
    global generation
    if answer is None:
        with _lock:
            for req in _requests.values():
                req["done"].set()
            _requests.clear()
            generation += 1
        return
    key = answer.get("key")
    req = _requests.get(key)
    if req is None:
        return
    fn = None
    if "path" in answer:
        start = time.perf_counter()
        with _lock:
            fn = _from_disk(Path(req["path"]))
            if fn is not None:
                stats["kernel_disk_loads"] += 1
        if fn is not None:
            log.info("kernel %s compiled by the compile process, loaded (%.3f s)", key[:12],
                     time.perf_counter() - start)
    with _lock:
        if fn is not None:
            _memory[key] = fn
        else:
            _failed[key] = answer.get("error") or "its cache entry did not load"
            log.info("kernel %s: the compile process could not compile it (%s)", key[:12],
                     _failed[key])
        _requests.pop(key, None)
        generation += 1
    req["done"].set()


def request(source: str):
    """The compiled kernel for ``source`` if it is in memory or on disk; else
    ``PENDING`` (sent to the compile process), None when the compile process
    is dead, or a ``RuntimeError`` raised when it could not compile it."""
    from . import compiler
    key = _key(source)
    with _lock:
        fn = _memory.get(key)
        if fn is not None:
            stats["kernel_memory_hits"] += 1
            return fn
        if key in _failed:
            raise RuntimeError(_failed[key])
        req = _requests.get(key)
        if req is not None and req["pid"] == os.getpid():
            return PENDING   # (a forked child asks its own compile process again)
        path = entry_path(cache_dir(), key)
        fn = _from_disk(path)
        if fn is not None:
            stats["kernel_disk_loads"] += 1
            _memory[key] = fn
            return fn
        c = compiler.current()
        if c is not None and c.died is not None:
            return None
        _requests[key] = {"source": source, "path": str(path), "done": threading.Event(),
                          "pid": os.getpid()}
    c = compiler.client(_answer)
    if not c.send({"key": key, "source": source, "path": str(path)}):
        return None
    log.info("kernel %s sent to the compile process", key[:12])
    return PENDING


def settled(source: str) -> bool:
    """Whether a requested kernel is no longer being compiled."""
    return _key(source) not in _requests


def wait(sources, timeout=None) -> bool:
    """Wait until the compile process has answered for every kernel in ``sources``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for source in sources:
        req = _requests.get(_key(source))
        if req is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not req["done"].wait(left):
                return False
    return True


def compiler_warning(stacklevel=4):
    """Warn (once) on this thread if the compile process has died."""
    from . import compiler
    c = compiler.current()
    if c is not None:
        c.warn_if_dead(stacklevel)
