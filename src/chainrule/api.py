"""The public transforms: grad, value_and_grad, vjp, jvp, linearize, jacfwd,
jacrev, hessian, make_jaxpr.

Pytrees, ``argnums`` and argument checking are handled here, once; the
interpreters underneath see flat lists of arrays.
"""

from __future__ import annotations

import functools

import numpy as np

from .core import (
    ShapedArray,
    StagingInterpreter,
    Tracer,
    float0,
    get_aval,
    is_float,
    new_interpreter,
    trace_to_jaxpr,
)
from .forward import JVPInterpreter
from .reverse import ReverseInterpreter
from .tree_util import tree_flatten, tree_map, tree_unflatten

# ------------------------------------------------------------- helpers ---


def describe(fun) -> str:
    """How errors name the user's function: its name and where it is defined."""
    name = getattr(fun, "__name__", None) or type(fun).__name__
    code = getattr(fun, "__code__", None)
    if code is not None:
        return f"{name} (defined at {code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"
    return name


def _as_leaf(x, where: str):
    """A pytree leaf as an array (or tracer), with a clear error otherwise."""
    if isinstance(x, Tracer):
        return x
    if isinstance(x, (np.ndarray, np.generic, bool, int, float, complex)):
        arr = np.asarray(x)
        if arr.dtype.kind in "biufc" or arr.dtype == float0:
            return arr
    raise TypeError(f"{where}: expected arrays or numbers as arguments, got a "
                    f"{type(x).__name__}"
                    f"{' of dtype ' + str(x.dtype) if hasattr(x, 'dtype') else ''}"
                    f" ({x!r:.60})")


def _flatten_args(args, where):
    leaves, tree = tree_flatten(args)
    return [_as_leaf(x, where) for x in leaves], tree


def _output(x):
    """Values handed back to the user are ndarrays (or outer tracers)."""
    return x if isinstance(x, (Tracer, np.ndarray)) else np.asarray(x)


def _argnums_tuple(argnums, nargs, where):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"{where}: argnums={argnums} but the function was called "
                             f"with {nargs} positional argument(s)")
    return tuple(i % nargs for i in nums)


def _partial_args(fun, args, kwargs, argnums, where):
    """Split args into the differentiated ones and a function of just those."""
    nums = _argnums_tuple(argnums, len(args), where)

    def dyn_fun(*dyn):
        full = list(args)
        for i, x in zip(nums, dyn):
            full[i] = x
        return fun(*full, **kwargs)

    return dyn_fun, tuple(args[i] for i in nums)


def _split_aux(out, has_aux, where):
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{where}: has_aux=True needs the function to return a pair "
                        f"(output, auxiliary data), got {type(out).__name__}")
    return out[0], out[1]


def _zero_cotangent(x):
    aval = get_aval(x)
    return np.zeros(aval.shape, aval.dtype if is_float(aval.dtype) else float0)


# ------------------------------------------------------------ reverse ---


def _vjp(fun, primals, has_aux, where):
    """Run ``fun`` on a tape. Returns (out, out_tree, pullback, aux)."""
    leaves, in_tree = _flatten_args(primals, where)
    with new_interpreter(ReverseInterpreter) as interp:
        interp.name = where
        tracers = [interp.new_input(x) if is_float(get_aval(x).dtype) else x for x in leaves]
        out = fun(*tree_unflatten(in_tree, tracers))
        out, aux = _split_aux(out, has_aux, where)
        out_leaves, out_tree = tree_flatten(out)
        out_leaves = [_as_leaf(o, f"{where}: the function's output") for o in out_leaves]
        out_nodes = [interp.node_of(o) for o in out_leaves]
        out_primals = [o.primal if n is not None else o for o, n in zip(out_leaves, out_nodes)]
        in_nodes = [t.node if isinstance(t, Tracer) and t._interp is interp else None
                    for t in tracers]
        if has_aux:
            aux = tree_map(lambda x: x.primal if interp.owns(x) else x, aux)

    def pullback(ct_leaves, consume=False):
        cts = interp.backward(out_nodes, ct_leaves, in_nodes, consume)
        return tree_unflatten(in_tree, [
            _output(c) if c is not None else _zero_cotangent(x) for c, x in zip(cts, leaves)])

    return [_output(o) for o in out_primals], out_tree, pullback, aux


def vjp(fun, *primals, has_aux=False):
    """``(fun(*primals), vjp_fun)``: ``vjp_fun(ct)`` is the vector-Jacobian
    product ``ctᵀ · J`` at ``primals``, one cotangent per primal (reverse
    mode). Integer inputs get zero cotangents of dtype ``chainrule.float0``."""
    where = f"vjp({describe(fun)})"
    out, out_tree, pullback, aux = _vjp(fun, primals, has_aux, where)

    def vjp_fun(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise TypeError(f"{where}: the cotangent has structure {ct_tree}, but the "
                            f"function's output has structure {out_tree}")
        checked = []
        for i, (c, o) in enumerate(zip(ct_leaves, out)):
            c = _as_leaf(c, where)
            if np.shape(c) != np.shape(o):
                raise ValueError(f"{where}: cotangent {i} has shape {np.shape(c)}, but "
                                 f"the output it pairs with has shape {np.shape(o)}")
            if is_float(o.dtype) and c.dtype != o.dtype:
                # real cotangents of complex outputs are cast too
                castable = "biuf" if o.dtype.kind == "f" else "biufc"
                if isinstance(c, np.ndarray) and c.dtype.kind in castable:
                    c = c.astype(o.dtype)
                else:
                    raise TypeError(f"{where}: cotangent {i} has dtype {c.dtype}, but the "
                                    f"output has dtype {o.dtype}")
            checked.append(c if is_float(o.dtype) else None)
        return pullback(checked)

    value = tree_unflatten(out_tree, out)
    return (value, vjp_fun, aux) if has_aux else (value, vjp_fun)


def _check_holomorphic_inputs(leaves, where, argnums):
    for x in leaves:
        if get_aval(x).dtype.kind != "c":
            raise TypeError(
                f"{where} with holomorphic=True needs complex inputs, but an argument in "
                f"argnums={argnums} has dtype {get_aval(x).dtype} (pass complex values, "
                "e.g. x.astype(complex))")


def _check_output_kind(out, where, holomorphic):
    """Complex outputs need ``holomorphic=True``, which needs them (as JAX)."""
    for o in out:
        if not is_float(o.dtype):
            continue
        if holomorphic and o.dtype.kind != "c":
            raise TypeError(f"{where} with holomorphic=True needs complex outputs, but the "
                            f"function returned {o.dtype}")
        if not holomorphic and o.dtype.kind == "c":
            raise TypeError(
                f"{where} needs real-valued outputs, but the function returned "
                f"{o.dtype}. For a holomorphic function pass holomorphic=True (the result "
                "is then the complex derivative f'(z)); otherwise use vjp, or differentiate "
                "a real function of the output (its real part, abs(...)**2, ...). See "
                "docs/complex.md for the convention.")


def value_and_grad(fun, argnums=0, has_aux=False, holomorphic=False):
    """A function returning ``(fun(*args), gradient)`` of a scalar ``fun``
    with respect to the arguments named by ``argnums`` (reverse mode).
    ``holomorphic`` as for ``grad``."""
    where = f"grad({describe(fun)})"

    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        dyn_fun, dyn = _partial_args(fun, args, kwargs, argnums, where)
        leaves, _ = tree_flatten(dyn)
        leaves = [_as_leaf(x, where) for x in leaves]
        for x in leaves:
            if not is_float(get_aval(x).dtype):
                raise TypeError(
                    f"{where} needs floating-point inputs, but an argument in argnums="
                    f"{argnums} has dtype {get_aval(x).dtype}. Pass floats (e.g. "
                    "x.astype(float)) or leave that argument out of argnums.")
        if holomorphic:
            _check_holomorphic_inputs(leaves, where, argnums)
        out, out_tree, pullback, aux = _vjp(dyn_fun, dyn, has_aux, where)
        if len(out) != 1 or np.shape(out[0]) != () or not is_float(out[0].dtype):
            got = tree_unflatten(out_tree, [f"{o.dtype}{list(np.shape(o))}" for o in out])
            raise TypeError(
                f"{where} needs a function that returns one real scalar, but it returned "
                f"{got}. For a non-scalar output use jacrev for the Jacobian or vjp for "
                "vector-Jacobian products (or reduce it, e.g. with sum).")
        _check_output_kind(out, where, holomorphic)
        g = pullback([np.ones((), out[0].dtype)], consume=True)  # used once: free as we go
        g = g[0] if isinstance(argnums, int) else g
        value = tree_unflatten(out_tree, out)
        return ((value, aux) if has_aux else value), g

    return value_and_grad_fun


def grad(fun, argnums=0, has_aux=False, holomorphic=False):
    """The gradient of a scalar function, by reverse mode.

    ``grad(f)(x)`` has the structure of ``x``; with ``argnums`` a tuple, a
    tuple of gradients; with ``has_aux``, ``(gradient, aux)``.

    Complex numbers (JAX's convention, see docs/complex.md): ``f`` must return
    a real scalar, and for complex ``z = x + iy`` the result is
    ``∂f/∂x - i ∂f/∂y`` (step along its conjugate to increase ``f``;
    PyTorch returns the conjugate, ``∂f/∂x + i ∂f/∂y``). With
    ``holomorphic=True``, ``f`` takes complex inputs and returns a complex
    scalar, and the result is the complex derivative ``f'(z)``.
    """
    vg = value_and_grad(fun, argnums, has_aux, holomorphic)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_fun


# ------------------------------------------------------------ forward ---


def _check_tangents(primals, tangents, where):
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"{where}: primals and tangents must be tuples (one entry per "
                        f"argument), got {type(primals).__name__} and "
                        f"{type(tangents).__name__}")
    p_leaves, p_tree = _flatten_args(tuple(primals), where)
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise TypeError(f"{where}: primals have structure {p_tree} but tangents have "
                        f"structure {t_tree}")
    checked = []
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        if not is_float(get_aval(p).dtype):
            checked.append(None)  # integer inputs have no tangent
            continue
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            t = np.asarray(t, get_aval(p).dtype)
        t = _as_leaf(t, where)
        if np.shape(t) != np.shape(p):
            raise ValueError(f"{where}: tangent {i} has shape {np.shape(t)}, but its "
                             f"primal has shape {np.shape(p)}")
        if get_aval(t).dtype != get_aval(p).dtype:
            raise TypeError(f"{where}: tangent {i} has dtype {get_aval(t).dtype}, but its "
                            f"primal has dtype {get_aval(p).dtype}")
        checked.append(t)
    return p_leaves, p_tree, checked


def _run_jvp(fun, p_leaves, p_tree, t_leaves, has_aux, where):
    with new_interpreter(JVPInterpreter) as interp:
        interp.name = where
        tracers = [p if t is None else interp.lift(p, t) for p, t in zip(p_leaves, t_leaves)]
        out = fun(*tree_unflatten(p_tree, tracers))
        out, aux = _split_aux(out, has_aux, where)
        out_leaves, out_tree = tree_flatten(out)
        pairs = [interp.unpack(_as_leaf(o, f"{where}: the function's output"))
                 for o in out_leaves]
        if has_aux:
            aux = tree_map(lambda x: x.primal if interp.owns(x) else x, aux)
    return pairs, out_tree, aux


def jvp(fun, primals, tangents, has_aux=False):
    """``(fun(*primals), J · tangents)``: the Jacobian-vector product, by
    forward mode, in one pass alongside the function."""
    where = f"jvp({describe(fun)})"
    p_leaves, p_tree, t_leaves = _check_tangents(primals, tangents, where)
    pairs, out_tree, aux = _run_jvp(fun, p_leaves, p_tree, t_leaves, has_aux, where)
    outs = [_output(p) for p, _ in pairs]
    touts = [_output(t) if t is not None else _zero_cotangent(p) for p, t in pairs]
    result = tree_unflatten(out_tree, outs), tree_unflatten(out_tree, touts)
    return result + (aux,) if has_aux else result


def linearize(fun, *primals, has_aux=False):
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` is the JVP at
    ``primals``. The primal work is done once; ``f_jvp`` replays only the
    linear (tangent) part, which is staged into a Jaxpr (``f_jvp.jaxpr``).
    With ``has_aux``, returns ``(out, f_jvp, aux)``."""
    where = f"linearize({describe(fun)})"
    p_leaves, p_tree = _flatten_args(primals, where)
    float_idx = [i for i, p in enumerate(p_leaves) if is_float(get_aval(p).dtype)]
    with new_interpreter(StagingInterpreter, where) as stage:
        t_in = [stage.new_arg(get_aval(p_leaves[i])) for i in float_idx]
        t_leaves = [None] * len(p_leaves)
        for i, t in zip(float_idx, t_in):
            t_leaves[i] = t
        pairs, out_tree, aux = _run_jvp(fun, p_leaves, p_tree, t_leaves, has_aux, where)
        t_out = [t if t is not None else _zero_cotangent(p) for p, t in pairs]
        jaxpr = stage.build(t_in, t_out)
    out = tree_unflatten(out_tree, [_output(p) for p, _ in pairs])

    def f_jvp(*tangents):
        _, _, t_leaves = _check_tangents(primals, tangents, f"{where}'s f_jvp")
        t_args = [t_leaves[i] for i in float_idx]
        return tree_unflatten(out_tree, [_output(t) for t in jaxpr(*t_args)])

    f_jvp.jaxpr = jaxpr
    return (out, f_jvp, aux) if has_aux else (out, f_jvp)


# ---------------------------------------------------------- Jacobians ---


def _basis(leaves, start, stop):
    """Rows ``start:stop`` of the identity over the flattened leaves, split
    back into one ``(rows, *leaf.shape)`` array per leaf."""
    sizes = [int(np.size(x)) for x in leaves]
    eye = np.eye(sum(sizes), dtype=np.result_type(*[get_aval(x).dtype for x in leaves]))
    out, offset = [], 0
    for x, n in zip(leaves, sizes):
        aval = get_aval(x)
        out.append(eye[start:stop, offset:offset + n].astype(aval.dtype).reshape(
            (stop - start,) + tuple(aval.shape)))
        offset += n
    return out


def _batched(fn, leaves, chunk_size):
    """``vmap(fn)`` over the standard basis of ``leaves``, ``chunk_size`` rows
    at a time (to cap memory), concatenated: one result per output leaf with
    the basis as its leading axis."""
    from . import numpy as cnp

    total = sum(int(np.size(x)) for x in leaves)
    step = chunk_size or max(total, 1)
    chunks = []
    for start in range(0, total or 1, step):  # no rows: one empty chunk
        basis = _basis(leaves, start, min(start + step, total))
        chunks.append(vmap(fn)(*basis))
    if len(chunks) == 1:
        return chunks[0]
    return [cnp.concatenate(parts, axis=0) for parts in zip(*chunks)]


def _jacobian_args(fun, args, kwargs, argnums, where, holomorphic=False, real_inputs=False):
    """The differentiated arguments (one pytree, or a tuple for tuple
    argnums), their float leaves, and ``fun`` as a function of that pytree.
    ``holomorphic`` requires complex leaves; ``real_inputs`` (forward mode
    without it) rejects them, as JAX does."""
    dyn_fun, dyn = _partial_args(fun, args, kwargs, argnums, where)
    dyn = dyn[0] if isinstance(argnums, int) else dyn
    leaves, in_tree = _flatten_args(dyn, where)
    for x in leaves:
        if not is_float(get_aval(x).dtype):
            raise TypeError(f"{where} needs floating-point inputs, got {get_aval(x).dtype}")
        if real_inputs and not holomorphic and get_aval(x).dtype.kind == "c":
            raise TypeError(
                f"{where} needs real inputs, got {get_aval(x).dtype}. For a holomorphic "
                "function pass holomorphic=True; otherwise use jvp, or jacrev of a "
                "real-valued function")
    if holomorphic:
        _check_holomorphic_inputs(leaves, where, argnums)
    call = (lambda d: dyn_fun(d)) if isinstance(argnums, int) else (lambda d: dyn_fun(*d))
    return call, dyn, leaves, in_tree


def jacfwd(fun, argnums=0, has_aux=False, chunk_size=None, holomorphic=False):
    """The Jacobian by forward mode: a JVP per input element, all of them in
    one batched (vmapped) pass, so it is the cheaper mode when inputs are
    fewer than outputs. The result has shape ``out.shape + in.shape`` for each
    (output, input) pair of leaves; ``chunk_size`` caps the batch. Inputs are
    real; with ``holomorphic=True`` inputs and outputs are complex and the
    result is the complex Jacobian ``∂f/∂z``."""
    from . import numpy as cnp

    where = f"jacfwd({describe(fun)})"

    def jac_fun(*args, **kwargs):
        call, dyn, leaves, in_tree = _jacobian_args(fun, args, kwargs, argnums, where,
                                                    holomorphic, real_inputs=True)
        if has_aux:
            out, f_jvp, aux = linearize(call, dyn, has_aux=True)
        else:
            out, f_jvp = linearize(call, dyn)
        out_leaves, out_tree = tree_flatten(out)
        if holomorphic:
            _check_output_kind([get_aval(o) for o in out_leaves], where, True)
        if not leaves:
            return tree_unflatten(out_tree, [tree_unflatten(in_tree, []) for _ in out_leaves])
        columns = _batched(lambda *t: tree_flatten(f_jvp(tree_unflatten(in_tree, list(t))))[0],
                           leaves, chunk_size)
        jac = []
        for y, col in zip(out_leaves, columns):  # col: (n_in, *y.shape)
            blocks, offset = [], 0
            moved = cnp.moveaxis(col, 0, -1)
            for x in leaves:
                n = int(np.size(x))
                block = moved[..., offset:offset + n]
                blocks.append(cnp.reshape(block, np.shape(y) + np.shape(x)))
                offset += n
            jac.append(tree_unflatten(in_tree, blocks))
        jac = tree_unflatten(out_tree, jac)
        return (jac, aux) if has_aux else jac

    return jac_fun


def jacrev(fun, argnums=0, has_aux=False, chunk_size=None, holomorphic=False):
    """The Jacobian by reverse mode: a VJP per output element, all of them in
    one batched (vmapped) backward pass over a single recorded tape, so it is
    the cheaper mode when outputs are fewer than inputs. The result has shape
    ``out.shape + in.shape`` for each (output, input) pair of leaves. Outputs
    are real (complex inputs follow ``grad``'s convention); with
    ``holomorphic=True`` inputs and outputs are complex and the result is the
    complex Jacobian ``∂f/∂z``."""
    from . import numpy as cnp

    where = f"jacrev({describe(fun)})"

    def jac_fun(*args, **kwargs):
        call, dyn, leaves, in_tree = _jacobian_args(fun, args, kwargs, argnums, where,
                                                    holomorphic)
        out, out_tree, pullback, aux = _vjp(call, (dyn,), has_aux, where)
        _check_output_kind(out, where, holomorphic)
        float_out = [o for o in out if is_float(o.dtype)]
        if not float_out or not leaves:
            rows = None
        else:
            def row(*cts):
                it = iter(cts)
                full = [next(it) if is_float(o.dtype) else None for o in out]
                return tree_flatten(pullback(full)[0])[0]
            rows = _batched(row, float_out, chunk_size)  # per input: (n_out, *x.shape)
        jac, offset = [], 0
        for y in out:
            n = int(np.size(y))
            blocks = []
            for j, x in enumerate(leaves):
                shape = np.shape(y) + np.shape(x)
                if rows is None or not is_float(y.dtype):
                    blocks.append(np.zeros(shape, get_aval(x).dtype))
                else:
                    blocks.append(cnp.reshape(rows[j][offset:offset + n], shape))
            offset += n if is_float(y.dtype) else 0
            jac.append(tree_unflatten(in_tree, blocks))
        jac = tree_unflatten(out_tree, jac)
        return (jac, aux) if has_aux else jac

    return jac_fun


def hessian(fun, argnums=0, has_aux=False, holomorphic=False):
    """Second derivatives, forward-over-reverse: ``jacfwd(jacrev(fun))``."""
    return jacfwd(jacrev(fun, argnums, has_aux, holomorphic=holomorphic), argnums, has_aux,
                  holomorphic=holomorphic)


# ------------------------------------------------------------ staging ---


def make_jaxpr(fun, static_argnums=()):
    """``make_jaxpr(f)(*args)`` traces ``f`` at the shapes and dtypes of
    ``args`` and returns its IR (a ``ClosedJaxpr``; print it to read it)."""
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def jaxpr_fun(*args, **kwargs):
        where = f"make_jaxpr({describe(fun)})"
        dyn_idx = [i for i in range(len(args)) if i not in static]
        leaves, in_tree = _flatten_args(tuple(args[i] for i in dyn_idx), where)

        def flat_fun(*tracers):
            full = list(args)
            for i, x in zip(dyn_idx, tree_unflatten(in_tree, list(tracers))):
                full[i] = x
            out_leaves, _ = tree_flatten(fun(*full, **kwargs))
            return out_leaves

        return trace_to_jaxpr(flat_fun, [get_aval(x) for x in leaves], where)

    return jaxpr_fun


# --------------------------------------------------------------- vmap ---


def _axes_for_leaves(axes, tree, where, what):
    """Broadcast an ``in_axes``/``out_axes`` prefix tree to one entry per leaf."""
    if axes is None or isinstance(axes, int):
        return [axes] * len(tree_flatten(tree)[0])
    if isinstance(axes, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(axes) != len(tree):
            raise ValueError(f"{where}: {what} has {len(axes)} entries but there are "
                             f"{len(tree)} {'arguments' if what == 'in_axes' else 'outputs'}")
        return [a for sub_axes, sub in zip(axes, tree)
                for a in _axes_for_leaves(sub_axes, sub, where, what)]
    if isinstance(axes, dict) and isinstance(tree, dict):
        if set(axes) != set(tree):
            raise ValueError(f"{where}: {what} keys {sorted(axes)} differ from {sorted(tree)}")
        return [a for k in sorted(tree) for a in _axes_for_leaves(axes[k], tree[k], where, what)]
    raise ValueError(f"{where}: {what} {axes!r} does not match the structure of {tree!r:.80}")


def vmap(fun, in_axes=0, out_axes=0, axis_size=None, axis_name=None):
    """Vectorise ``fun`` over a batch axis of its arguments.

    ``in_axes`` says which axis of each argument is the batch (``None``: not
    batched); ``out_axes`` where the batch axis goes in the outputs. Every
    primitive has a batching rule, so this is one pass, not a loop.
    ``axis_name`` names the batch axis for collectives (``lax.psum(x, name)``
    sums over the batch, ``lax.axis_index(name)`` is each example's index).
    """
    from .batching import inherited_axis
    from .primitives.collectives import NamedAxis

    where = f"vmap({describe(fun)})"
    # a batching rule vmapping an inner function passes its named axis on
    inherited = inherited_axis.get() if axis_name is None else None

    def named(size):
        if axis_name is not None:
            return NamedAxis(axis_name, size)
        return inherited if inherited is not None and inherited.size == size else None

    return _batched_call(fun, in_axes, out_axes, axis_size, named, where)


def _batched_call(fun, in_axes, out_axes, axis_size, named, where, unit_unbatched=False):
    """``vmap``'s body, shared with ``pmap``: ``named(size)`` gives the
    batch axis's ``NamedAxis`` (or None). With ``unit_unbatched``, an axis of
    size 1 (pmap's one shard per process) is squeezed away and ``fun`` runs
    unbatched, only its collectives seeing the axis: no batching rules at all."""
    from .batching import BatchInterpreter, BatchTracer, bdim_to_front, inherited_axis, moveaxis
    from .primitives.collectives import axis_env

    @functools.wraps(fun)
    def vmapped(*args):
        in_list = (list(in_axes) if isinstance(in_axes, (tuple, list)) else in_axes)
        leaves, in_tree = _flatten_args(args, where)
        axes = _axes_for_leaves(tuple(in_list) if isinstance(in_list, list) else in_list,
                                args, where, "in_axes")
        sizes = set()
        norm = []
        for x, a in zip(leaves, axes):
            if a is None:
                norm.append(None)
                continue
            nd = len(np.shape(x))
            if not -nd <= a < nd:
                raise ValueError(f"{where}: in_axes={a} is out of range for an argument of "
                                 f"shape {np.shape(x)}")
            norm.append(a % nd)
            sizes.add(np.shape(x)[a % nd])
        if len(sizes) > 1:
            raise ValueError(f"{where}: batched arguments have different sizes along their "
                             f"in_axes: {sorted(sizes)}")
        if not sizes and axis_size is None:
            raise ValueError(f"{where}: no argument is batched; pass axis_size")
        size = sizes.pop() if sizes else axis_size
        axis = named(size)
        env = axis_env.get() + ((axis,) if axis is not None else ())
        env_token, inherit_token = axis_env.set(env), inherited_axis.set(None)
        try:
            with new_interpreter(BatchInterpreter, size, axis) as interp:
                interp.name = where
                if unit_unbatched and size == 1:
                    from .numpy import squeeze
                    tracers = [x if a is None else squeeze(x, a) for x, a in zip(leaves, norm)]
                else:
                    tracers = [x if a is None else BatchTracer(interp, x, a)
                               for x, a in zip(leaves, norm)]
                out = fun(*tree_unflatten(in_tree, tracers))
                out_leaves, out_tree = tree_flatten(out)
                pairs = [interp.unpack(_as_leaf(o, f"{where}: output")) for o in out_leaves]
        finally:
            inherited_axis.reset(inherit_token)
            axis_env.reset(env_token)
        o_axes = _axes_for_leaves(out_axes, out, where, "out_axes")
        results = []
        for (val, bdim), a in zip(pairs, o_axes):
            if a is None:
                if bdim is not None:
                    raise ValueError(f"{where}: out_axes=None for an output that depends on "
                                     "the batched inputs")
                results.append(_output(val))
                continue
            val = bdim_to_front(val, bdim, size)
            results.append(_output(moveaxis(val, 0, a % len(np.shape(val)))))
        return tree_unflatten(out_tree, results)

    return vmapped


__all__ = ["vmap", "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev",
           "hessian", "make_jaxpr", "ShapedArray"]
