"""The compile process: Numba compiles kernels for the disk cache elsewhere.

With ``config.jit_compile == "async"`` (the default), a jit cache miss does
not wait for Numba: the plan runs with NumPy implementations at once, and
each kernel it lacks is sent here, to one compile process per user process,
started on the first request and shared by all its threads. The compile
process compiles the kernel (``cache._compile``), writes its entry to the
disk cache (a temporary file renamed into place, as a synchronous compile
does) and answers with the entry's path. A thread of the user's process
then loads the entry through ``native.load`` (its header and checksum
checked) and bumps ``cache.generation``; the next call of a plan that was
waiting for it rebuilds the plan with the compiled kernel. The user's
process never imports Numba on this path.

The protocol is one JSON object per line: requests on the compile process's
stdin, answers on a pipe that was its stdout (its own stdout goes to stderr,
so that nothing Numba prints can garble it). The compile process exits when
its stdin reaches end-of-file, that is when the user's process closes it or
dies: it never outlives its parent. If it dies first (killed, crashed),
plans keep running on the NumPy tier; the user's process warns once (on the
thread that next runs a jit function) and sends nothing more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import warnings

_lock = threading.Lock()
_client = None


class _Client:
    """The user's side: the compile process, the reader of its answers."""

    def __init__(self, on_answer):
        from .cache import _chainrule_version
        jit_dir = os.path.dirname(os.path.abspath(__file__))
        # chainrule and chainrule.jit as bare packages: the compile process needs
        # cache, native, rt and vmath, not the library (a fifth of a second)
        code = ("import sys, types\n"
                f"pkg = types.ModuleType('chainrule'); pkg.__path__ = "
                f"[{os.path.dirname(jit_dir)!r}]; pkg.__version__ = {_chainrule_version()!r}\n"
                f"jit = types.ModuleType('chainrule.jit'); jit.__path__ = [{jit_dir!r}]\n"
                "pkg.jit = jit; sys.modules.update({'chainrule': pkg, 'chainrule.jit': jit})\n"
                "from chainrule.jit.compiler import main; main()\n")
        quiet = os.environ.get("CHAINRULE_LOG_COMPILES", "") in ("", "0")
        self.pid = os.getpid()
        self.died = None      # why the compile process ended, once it has
        self.warned = False
        self.on_answer = on_answer
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else None, close_fds=True)
        self.reader = threading.Thread(target=self._read, name="chainrule-compile-reader",
                                       daemon=True)
        self.reader.start()

    def send(self, request: dict) -> bool:
        if self.died is not None:
            return False
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            return True
        except (OSError, ValueError) as err:   # the pipe is gone: it died
            self._die(f"could not send it a kernel ({err})")
            return False

    def _read(self):
        for line in self.proc.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            self.on_answer(answer)
        code = self.proc.wait()
        self._die(f"it exited with status {code}")

    def _die(self, why):
        if self.died is None:
            self.died = why
            self.on_answer(None)

    def warn_if_dead(self, stacklevel=3):
        """The one warning about a dead compile process, on the caller's thread."""
        if self.died is not None and not self.warned:
            self.warned = True
            warnings.warn(f"chainrule.jit: the kernel compile process ended ({self.died}); "
                          "jit functions keep running with NumPy implementations (same "
                          "results, slower). config.update('jit_compile', 'sync') compiles "
                          "in this process instead.", RuntimeWarning, stacklevel=stacklevel)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass


def client(on_answer):
    """This process's compile process, started on first use (and again in a
    forked child, which does not share its parent's pipes)."""
    global _client
    c = _client
    if c is not None and c.pid == os.getpid():
        return c
    with _lock:
        if _client is None or _client.pid != os.getpid():
            _client = _Client(on_answer)
        return _client


def current():
    """The compile process if one was started by this process, else None."""
    c = _client
    return c if c is not None and c.pid == os.getpid() else None


# ------------------------------------------------------ the compile process ---

def _serve_one(request, cache):
    from pathlib import Path
    source, path = request["source"], Path(request["path"])
    if cache._key(source) != request["key"]:
        return {"key": request["key"], "error": "the compile process computes another key "
                "(a different environment)"}
    try:   # another process may have written it meanwhile
        cache._parse_entry(path.read_bytes())
        return {"key": request["key"], "path": str(path)}
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    try:
        cf, obj, needs = cache._compile(source)
    except Exception as err:   # Numba's errors: the kernel stays on NumPy
        return {"key": request["key"], "error": f"{type(err).__name__}: {str(err)[:300]}"}
    if obj is None:
        return {"key": request["key"], "error": "Numba's object code is not accessible"}
    cache._write_atomic(path, cache._entry_bytes(obj, cf.native_name, needs))
    return {"key": request["key"], "path": str(path)}


def _lighten_numba():
    """Import Numba without costs that kernels do not need: on its first
    compile Numba imports ``scipy.linalg`` (a seventh of a second) to see
    whether ``np.dot`` can call BLAS and ``cffi`` (with its C parser, 30 ms)
    to type cffi functions, ``yaml`` (15 ms) in case the working directory
    has a ``.numba_config.yaml``, and while resolving overloads it formats every
    rejected candidate's message with terminal colours. All are off here
    only: kernels call no BLAS and no cffi (``codegen``'s whitelist, and
    ``loops`` writes its contractions as loops), and the compile process
    reports only an error's text. The NumPy tier shares the core with this
    process, so its CPU time is the time to the compiled tier."""
    sys.modules.setdefault("scipy", None)   # "import scipy..." raises ImportError
    sys.modules.setdefault("cffi", None)    # Numba types cffi functions only if it imports
    if not os.path.exists(".numba_config.yaml"):   # the one file Numba reads with yaml
        sys.modules.setdefault("yaml", None)
    flag = "NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING"
    ours = flag not in os.environ
    if ours:   # read when numba.core.errors is imported; NUMBA_* is in the cache key
        os.environ[flag] = "1"
    try:
        import numba.core.errors  # noqa: F401
    finally:
        if ours:
            del os.environ[flag]


# Numba's compiler makes many short-lived reference cycles: with Python's
# collector on, a tenth of the compile process's time goes to collections
# while kernels are waiting. It runs off, and collects when no request is
# waiting (or after this many kernels in a row, which bounds the garbage to
# about a megabyte per kernel).
_COLLECT_EVERY = 32


def main():
    """Compile kernels from stdin until it closes."""
    import gc
    gc.disable()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)   # stray prints go to stderr, not into the answers
    warnings.simplefilter("ignore")
    import queue
    requests: queue.Queue = queue.Queue()

    def read():
        for line in sys.stdin.buffer:
            try:
                requests.put(json.loads(line))
            except ValueError:
                continue
        os._exit(0)   # the parent closed the pipe or died: never outlive it

    threading.Thread(target=read, daemon=True).start()
    _lighten_numba()
    from . import cache, vmath  # noqa: F401  (Numba and the math helpers, once)
    gc.freeze()   # what the imports made stays: collections need not scan it
    uncollected = 0
    while True:
        if uncollected and (requests.empty() or uncollected >= _COLLECT_EVERY):
            gc.collect()
            uncollected = 0
        request = requests.get()
        uncollected += 1
        try:
            answer = _serve_one(request, cache)
        except Exception as err:   # e.g. the cache directory became unwritable
            answer = {"key": request.get("key"), "error": f"{type(err).__name__}: {err}"}
        out.write(json.dumps(answer).encode() + b"\n")
        out.flush()
