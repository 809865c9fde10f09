"""What a kernel's prologue calls to read its arguments (Numba side).

A kernel is compiled (``numba.cfunc``) as a CPython *fastcall* function,
``PyObject *kernel(PyObject *self, PyObject *const *args, Py_ssize_t n)``,
and called by the plan like any builtin: about 0.1 µs per call, where a Numba
dispatcher unboxing the same arrays takes 0.5 µs. Its arguments are Python
ints (the loop extents) and C-contiguous ndarrays of the dtypes it was
generated for, which the plan guarantees; the prologue reads each array's data
pointer (the field right after the object header) and views it as an array
of the shape the kernel loops over (``array``). The machine code needs
nothing from Numba's runtime, so a later process loads it from the disk
cache without importing Numba (``native.py``).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .native import DATA_OFFSET, RELEASE_GIL_WORK

_i8p = ir.IntType(8).as_pointer()


@intrinsic
def argv(typingctx, args):
    """The fastcall argument vector, as object addresses."""
    def codegen(context, builder, sig, llargs):
        return builder.bitcast(llargs[0], ir.IntType(64).as_pointer())
    return types.CPointer(types.intp)(types.voidptr), codegen


@intrinsic
def array(typingctx, argv, index, dtype, shape):
    """Argument ``index`` (an ndarray) as a C-contiguous array of ``shape``."""
    from numba.np.arrayobj import make_array, populate_array
    elem = dtype.dtype
    arrty = types.Array(elem, len(shape), "C")

    def codegen(context, builder, sig, llargs):
        vec, idx, _, llshape = llargs
        obj = builder.load(builder.gep(vec, [idx]))
        base = builder.inttoptr(obj, _i8p)
        slot = builder.gep(base, [ir.Constant(ir.IntType(64), DATA_OFFSET)])
        ptr = builder.load(builder.bitcast(slot, _i8p.as_pointer()))
        data = builder.bitcast(ptr, context.get_data_type(elem).as_pointer())
        dims = cgutils.unpack_tuple(builder, llshape, len(shape))
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
            context.get_data_type(elem)))
        strides, step = [], itemsize
        for d in reversed(dims):
            strides.append(step)
            step = builder.mul(step, d)
        ary = make_array(arrty)(context, builder)
        populate_array(ary, data=data, shape=dims, strides=list(reversed(strides)),
                       itemsize=itemsize, meminfo=None)
        return ary._getvalue()
    return arrty(argv, index, dtype, shape), codegen


@intrinsic
def misaligned(typingctx, ary):
    """Whether ``ary``'s data does not start on a cache line (64 bytes): each
    vector load from it then spans two lines. NumPy aligns to 16 bytes; a
    64x64 matrix-vector product in a loop ran 1.5x slower from such memory."""
    from numba.np.arrayobj import make_array

    def codegen(context, builder, sig, llargs):
        data = make_array(sig.args[0])(context, builder, llargs[0]).data
        low = builder.and_(builder.ptrtoint(data, ir.IntType(64)), ir.Constant(ir.IntType(64), 63))
        return builder.icmp_unsigned("!=", low, ir.Constant(ir.IntType(64), 0))
    return types.boolean(ary), codegen


# CPython's own functions, resolved in the process when the code is loaded
long = types.ExternalFunction("PyLong_AsSsize_t", types.intp(types.intp))
done = types.ExternalFunction("PyLong_FromSsize_t", types.voidptr(types.intp))


def _cpython(builder, name, ret, args):
    fnty = ir.FunctionType(ret, args)
    return cgutils.get_or_insert_function(builder.module, fnty, name)


@intrinsic
def release(typingctx, work):
    """Let other threads run while a loop of ``work`` iterations does: the
    thread state to give back to ``acquire``, or null (small loops keep it).
    Intrinsics rather than Numba functions: they cost no type inference."""
    def codegen(context, builder, sig, llargs):
        state = cgutils.alloca_once_value(builder, ir.Constant(_i8p, None))
        big = builder.icmp_signed(">=", llargs[0],
                                  ir.Constant(llargs[0].type, RELEASE_GIL_WORK))
        with builder.if_then(big, likely=False):
            save = _cpython(builder, "PyEval_SaveThread", _i8p, [])
            builder.store(builder.call(save, []), state)
        return builder.load(state)
    return types.voidptr(work), codegen


@intrinsic
def acquire(typingctx, state):
    """Take the GIL back if ``release`` gave it up."""
    def codegen(context, builder, sig, llargs):
        held = cgutils.is_not_null(builder, llargs[0])
        with builder.if_then(held, likely=False):
            builder.call(_cpython(builder, "PyEval_RestoreThread", ir.VoidType(), [_i8p]),
                         [llargs[0]])
        return context.get_dummy_value()
    return types.void(state), codegen
