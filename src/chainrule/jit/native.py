"""Kernels' machine code as Python callables, without importing Numba.

Numba compiles each kernel as a CPython fastcall function (``rt.py``). Here
its address becomes a builtin function object (``PyCFunction_NewEx`` with a
``METH_FASTCALL`` method definition), and machine code read back from the
disk cache is linked into the process with llvmlite's MCJIT, which Numba is
built on. Numba's import and set-up cost about half a second per process;
llvmlite's, a tenth of that.

The object code of a Numba function refers to a few symbols besides
CPython's: ``numba_gil_ensure``/``numba_gil_release`` (on its error path)
and ``NRT_MemInfo_call_dtor`` (reference counting that kernels, which never
allocate, do not reach). When Numba is not loaded they are defined here, in
LLVM IR. Any other symbol an object needs must already resolve in the
process, or the object is not loaded (the caller compiles the kernel again).
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

# where an ndarray keeps its data pointer: right after the object header
DATA_OFFSET = object.__basicsize__
# kernels release the GIL around loops of at least this many iterations
RELEASE_GIL_WORK = 1 << 14

_METH_FASTCALL = 0x0080


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.restype = ctypes.py_object
_new_function.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]
_alive: list = []   # method definitions and code owners: kernels live as long as the process
_lock = threading.Lock()


def _supported() -> bool:
    a = np.empty(2)
    return ctypes.c_void_p.from_address(id(a) + DATA_OFFSET).value == a.ctypes.data


_SUPPORTED = _supported()


def supported() -> bool:
    """Whether ndarrays keep their data pointer where kernels read it."""
    return _SUPPORTED


def function(address: int, owner) -> object:
    """The fastcall function at ``address`` as a Python builtin; ``owner``
    (what holds the machine code) is kept alive with it."""
    md = _MethodDef(b"kernel", address, _METH_FASTCALL, None)
    fn = _new_function(ctypes.byref(md), None, None)
    with _lock:
        _alive.append((md, owner))
    return fn


# ------------------------------------------------------------ loading ---

_SHIMS = r"""
declare i32 @PyGILState_Ensure()
declare void @PyGILState_Release(i32)
define void @numba_gil_ensure(i32* %s) {
  %r = call i32 @PyGILState_Ensure()
  store i32 %r, i32* %s
  ret void
}
define void @numba_gil_release(i32* %s) {
  %v = load i32, i32* %s
  call void @PyGILState_Release(i32 %v)
  ret void
}
define void @NRT_MemInfo_call_dtor(i8* %m) {
  ret void
}
"""
_SHIM_NAMES = ("numba_gil_ensure", "numba_gil_release", "NRT_MemInfo_call_dtor")
_state: dict = {}


def _llvm():
    """llvmlite's binding, initialised once, with the shims defined."""
    with _lock:
        if "llvm" not in _state:
            import llvmlite.binding as llvm
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            tm = llvm.Target.from_default_triple().create_target_machine()
            missing = [n for n in _SHIM_NAMES if not llvm.address_of_symbol(n)]
            if missing:   # Numba not loaded: define them here
                mod = llvm.parse_assembly(_SHIMS)
                eng = llvm.create_mcjit_compiler(mod, tm)
                eng.finalize_object()
                for n in missing:
                    llvm.add_symbol(n, eng.get_function_address(n))
                _alive.append(eng)
            _state["tm"] = tm
            _state["llvm"] = llvm
    return _state["llvm"]


def host() -> str:
    """What machine code compiled here depends on: the CPU, its features, and
    the Numba settings that change code generation."""
    if "host" not in _state:
        llvm = _llvm()
        env = sorted((k, v) for k, v in os.environ.items() if k.startswith("NUMBA_")
                     and k not in ("NUMBA_CACHE_DIR", "NUMBA_NUM_THREADS"))
        cpu = f"{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"
        _state["host"] = f"{cpu} {env}"
    return _state["host"]


def load(obj: bytes, symbol: str, needs: list[str]) -> int:
    """Link object code into the process; the address of ``symbol``.

    LookupError if a symbol it needs does not resolve here (MCJIT would abort
    the process on it)."""
    llvm = _llvm()
    for name in needs:
        if not name.startswith("llvm.") and not llvm.address_of_symbol(name):
            raise LookupError(f"symbol {name!r} is not available in this process")
    eng = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _state["tm"])
    eng.add_object_file(llvm.ObjectFileRef.from_data(obj))
    eng.finalize_object()
    address = eng.get_function_address(symbol)
    if not address:
        raise LookupError(f"the object does not define {symbol!r}")
    with _lock:
        _alive.append(eng)
    return address
