"""Convolution: one primitive, ``conv_general_dilated``, as JAX's.

``conv_general_dilated(lhs, rhs, window_strides=s, padding=((lo, hi), ...),
lhs_dilation=a, rhs_dilation=r, dimension_numbers=(lhs_spec, rhs_spec,
out_spec), feature_group_count=G, batch_group_count=B)`` with the specs as
axis permutations (``lhs_spec = (batch, feature, spatial...)``, ``rhs_spec =
(out feature, in feature, spatial...)``, ``out_spec = (batch, feature,
spatial...)``). In the canonical layout (N, C, X...), (O, I, K...)::

    out[n, o, p] = sum_{c, k} xd[n, g*I + c, p*s + k*r] * rhs[o, c, k]

where ``xd`` is ``lhs`` dilated by ``a`` (``a - 1`` zeros between
elements) and padded by ``(lo, hi)`` (negative pads crop), and ``g`` is
``o``'s feature group (``O / G`` outputs per group). With ``B > 1`` the batch
is split into ``B`` groups (group-major) and group ``b`` meets the outputs
``b*O/B ... (b+1)*O/B - 1``; the output batch is ``N / B``.

It is bilinear, so the JVP is ``conv(t_lhs, rhs) + conv(lhs, t_rhs)``. Each
transpose is again a ``conv_general_dilated`` (so the rules compose to any
order): the lhs cotangent convolves the output cotangent, dilated by the
strides, with the spatially flipped kernel whose in/out features are swapped;
the rhs cotangent convolves the input with the output cotangent, treating
the batch as the contracted feature axis (feature groups become batch
groups and back). Batching folds the mapped axis into the batch (lhs) or
the feature groups (rhs), as JAX's rule does.

The impl is im2col + GEMM in the operands' own memory order: the input is
padded without changing its layout (NHWC stays channels-last), a strided
sliding-window view of it is copied into patch rows a cache-sized chunk of
the batch at a time, and each chunk is one BLAS GEMM with the kernel viewed
as a matrix (copied only if its axes cannot be merged in place). The
transposes' contractions over the batch (the kernel cotangent) take the
same route with the contracted axes first. Never a dense convolution
matrix. Under ``jit`` it is a library call to the impl.
"""

from __future__ import annotations

import numpy as np

from ..core import Primitive, ShapedArray
from ._helpers import same_dtype
from .elementwise import add
from .shape import reshape, rev, transpose

conv_general_dilated_p = Primitive("conv_general_dilated")

_NAME = "conv_general_dilated"


def _dilate(n, d):
    return 0 if n == 0 else 1 + d * (n - 1)


def _out_spatial(in_sp, k_sp, strides, padding, lhs_dilation, rhs_dilation):
    out = []
    for n, k, s, (lo, hi), a, r in zip(in_sp, k_sp, strides, padding, lhs_dilation,
                                      rhs_dilation, strict=True):
        size = _dilate(n, a) + lo + hi
        kd = _dilate(k, r)
        out.append(max(0, (size - kd) // s + 1) if size >= kd else 0)
    return tuple(out)


# ----------------------------------------------------------------- shapes ---

def _aval(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
          dimension_numbers, feature_group_count, batch_group_count):
    ls, rs = tuple(lhs.shape), tuple(rhs.shape)
    where = f"{_NAME}: lhs of shape {ls}, rhs of shape {rs}"
    if len(ls) != len(rs) or len(ls) < 2:
        raise ValueError(f"{where}: operands must have the same number of axes (at least 2)")
    nsp = len(ls) - 2
    for name, v in (("window_strides", window_strides), ("padding", padding),
                    ("lhs_dilation", lhs_dilation), ("rhs_dilation", rhs_dilation)):
        if len(v) != nsp:
            raise ValueError(f"{where}: {name} {tuple(v)} needs {nsp} entries, one per "
                             "spatial dimension")
    for name, v in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                    ("rhs_dilation", rhs_dilation)):
        if any(int(x) < 1 for x in v):
            raise ValueError(f"{where}: {name} must be positive, got {tuple(v)}")
    for spec in dimension_numbers:
        if sorted(spec) != list(range(len(ls))):
            raise ValueError(f"{where}: dimension_numbers {dimension_numbers} are not "
                             f"permutations of {len(ls)} axes")
    lspec, rspec, ospec = dimension_numbers
    G, B = int(feature_group_count), int(batch_group_count)
    if G < 1 or B < 1:
        raise ValueError(f"{where}: group counts must be positive, got "
                         f"feature_group_count={G}, batch_group_count={B}")
    if G > 1 and B > 1:
        raise ValueError(f"{where}: at most one of feature_group_count ({G}) and "
                         f"batch_group_count ({B}) may exceed 1")
    n, c = ls[lspec[0]], ls[lspec[1]]
    o, i = rs[rspec[0]], rs[rspec[1]]
    if c != i * G:
        raise ValueError(f"{where}: lhs has {c} input features but rhs expects {i} per "
                         f"group x feature_group_count {G} = {i * G}")
    if o % G:
        raise ValueError(f"{where}: rhs output features {o} not divisible by "
                         f"feature_group_count {G}")
    if n % B or o % B:
        raise ValueError(f"{where}: lhs batch {n} and rhs output features {o} must be "
                         f"divisible by batch_group_count {B}")
    dtype = same_dtype(_NAME, lhs, rhs)
    if dtype == np.bool_:
        raise TypeError(f"{_NAME}: boolean operands are not supported")
    sp = _out_spatial([ls[d] for d in lspec[2:]], [rs[d] for d in rspec[2:]],
                      window_strides, padding, lhs_dilation, rhs_dilation)
    canon = (n // B, o) + sp
    shape = [0] * len(ls)
    for k, d in enumerate(ospec):
        shape[d] = canon[k]
    return ShapedArray(tuple(shape), dtype)


# ------------------------------------------------------------------- impl ---

# rows of the patch matrix per GEMM: a chunk's patches stay in the cache
# while BLAS reads them (measured on the CNN benchmark's convolutions)
_CHUNK_BYTES = 1 << 20


def _padded(x, spatial, padding, lhs_dil):
    """``x`` dilated and padded (negative pads crop) along ``spatial``, in
    ``x``'s own memory order, so that a channels-last input stays channels-last."""
    if all(a == 1 for a in lhs_dil) and all(lo == 0 and hi == 0 for lo, hi in padding):
        return x
    order = sorted(range(x.ndim), key=lambda d: -x.strides[d])   # memory order
    shape = list(x.shape)
    dst, src = [slice(None)] * x.ndim, [slice(None)] * x.ndim
    empty = False
    for d, (lo, hi), a in zip(spatial, padding, lhs_dil, strict=True):
        n = x.shape[d]
        shape[d] = size = max(0, _dilate(n, a) + lo + hi)
        first = 0 if lo >= 0 else (-lo + a - 1) // a        # first input index kept
        last = min(n, (size - 1 - lo) // a + 1) if size - 1 - lo >= 0 else 0   # one past
        empty = empty or last <= first
        dst[d] = slice(lo + first * a, lo + (last - 1) * a + 1, a)
        src[d] = slice(first, last)
    if empty:
        return np.zeros(shape, x.dtype)
    buf = np.zeros([shape[d] for d in order], x.dtype)
    out = np.transpose(buf, np.argsort(order))
    out[tuple(dst)] = x[tuple(src)]
    return out


def _matrix(a, contracted):
    """``a`` as a (free, contracted) matrix, both groups in ``a``'s memory
    order, copied only where the axes cannot be merged in place. The
    contracted axes come in the order given (the other operand's matrix must
    use the same order)."""
    free = sorted((d for d in range(a.ndim) if d not in contracted), key=lambda d: -a.strides[d])
    nf = int(np.prod([a.shape[d] for d in free], dtype=np.int64))
    nc = int(np.prod([a.shape[d] for d in contracted], dtype=np.int64))
    inner = min(range(a.ndim), key=lambda d: (a.strides[d], d in contracted))
    if inner in contracted:
        return np.transpose(a, free + list(contracted)).reshape(nf, nc)
    return np.transpose(a, list(contracted) + free).reshape(nc, nf).T


def _contract(v, w, v_con, w_con, out):
    """``out[free_v..., free_w] = sum over the paired contracted axes``: one
    GEMM per chunk of ``v``'s outermost free axis, written into ``out``."""
    order = sorted(range(len(v_con)), key=lambda k: -v.strides[v_con[k]])
    v_con = [v_con[k] for k in order]
    w_con = [w_con[k] for k in order]
    mw = _matrix(w, w_con).T                   # (con, free_w)
    free = sorted((d for d in range(v.ndim) if d not in v_con), key=lambda d: -v.strides[d])
    lead = free[0]   # outermost in memory (there is one: the batch axis is free)
    row_bytes = v.itemsize * int(np.prod([v.shape[d] for d in v_con], dtype=np.int64)) * max(
        1, int(np.prod([v.shape[d] for d in free[1:]], dtype=np.int64)))
    step = max(1, min(v.shape[lead], _CHUNK_BYTES // max(row_bytes, 1)))
    flat = out.reshape(out.shape[0], -1, out.shape[-1])
    for start in range(0, v.shape[lead], step):
        idx = [slice(None)] * v.ndim
        idx[lead] = slice(start, start + step)
        mv = _matrix(v[tuple(idx)], v_con)     # (free_v, con): the patch matrix
        rows = flat[start:start + step].reshape(-1, out.shape[-1])
        np.matmul(mv, mw, out=rows)


def _impl(lhs, rhs, **params):
    aval = _aval(ShapedArray(lhs.shape, lhs.dtype), ShapedArray(rhs.shape, rhs.dtype),
                 **params)
    lspec, rspec, ospec = params["dimension_numbers"]
    strides, padding = params["window_strides"], params["padding"]
    lhs_dil, rhs_dil = params["lhs_dilation"], params["rhs_dilation"]
    G, B = params["feature_group_count"], params["batch_group_count"]
    if 0 in aval.shape or 0 in lhs.shape or 0 in rhs.shape:
        return np.zeros(aval.shape, aval.dtype)
    x = np.asarray(lhs, aval.dtype)
    w = np.asarray(rhs, aval.dtype)
    spatial = tuple(lspec[2:])
    x = _padded(x, spatial, padding, lhs_dil)
    kd = tuple(_dilate(w.shape[d], r) for d, r in zip(rspec[2:], rhs_dil, strict=True))
    # windows: x's axes (spatial ones now over output positions) and then one
    # axis per kernel offset, all views
    v = np.lib.stride_tricks.sliding_window_view(x, kd, axis=spatial)
    idx = [slice(None)] * v.ndim
    for d, s in zip(spatial, strides, strict=True):
        idx[d] = slice(None, None, s)
    for k, r in enumerate(rhs_dil):
        idx[x.ndim + k] = slice(None, None, r)
    v = v[tuple(idx)]
    kaxes = list(range(x.ndim, v.ndim))
    n, c = v.shape[lspec[0]], v.shape[lspec[1]]
    o = w.shape[rspec[0]]
    og = o // (B * G)
    # the result as (free axes of the windows in memory order..., out feature)
    free = sorted((d for d in range(v.ndim) if d not in [lspec[1]] + kaxes),
                  key=lambda d: -v.strides[d])
    shape = [v.shape[d] for d in free]
    where = {lspec[0]: ospec[0], **{d: ospec[2 + k] for k, d in enumerate(spatial)}}
    out_axes = [where[d] for d in free] + [ospec[1]]
    res = np.empty([n // B if d == lspec[0] else s for d, s in zip(free, shape)] + [o],
                   aval.dtype)
    for b in range(B):
        for g in range(G):
            sel = [slice(None)] * v.ndim
            sel[lspec[0]] = slice(b * (n // B), (b + 1) * (n // B))
            sel[lspec[1]] = slice(g * (c // G), (g + 1) * (c // G))
            wsel = [slice(None)] * w.ndim
            j = b * G + g
            wsel[rspec[0]] = slice(j * og, (j + 1) * og)
            target = res[..., j * og:(j + 1) * og]
            part = res if B * G == 1 else np.empty(target.shape, aval.dtype)
            _contract(v[tuple(sel)], w[tuple(wsel)], [lspec[1]] + kaxes,
                      [rspec[1]] + list(rspec[2:]), part)
            if part is not res:
                target[...] = part
    out = np.transpose(res, np.argsort(out_axes))
    return np.ascontiguousarray(out)


# -------------------------------------------------------------------- jvp ---

def _jvp(primals, tangents, out, **params):
    (lhs, rhs), (tl, tr) = primals, tangents
    terms = []
    if tl is not None:
        terms.append(conv_general_dilated_p.bind(tl, rhs, **params))
    if tr is not None:
        terms.append(conv_general_dilated_p.bind(lhs, tr, **params))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else add(terms[0], terms[1])


# ------------------------------------------------------- axis reshaping ---

def _reshape_axis_into(src, dst, x):
    """Merge axis ``src`` into axis ``dst`` (an index among the other axes),
    ``src`` as the major part."""
    shape = tuple(x.shape)
    perm = [d for d in range(len(shape)) if d != src]
    perm.insert(dst, src)
    new = [shape[d] for d in range(len(shape)) if d != src]
    new[dst] *= shape[src]
    return reshape(transpose(x, perm), new)


def _reshape_axis_out_of(src, size1, x):
    """Split axis ``src`` into ``(size1, n // size1)``."""
    shape = list(x.shape)
    shape[src:src + 1] = [size1, shape[src] // size1]
    return reshape(x, shape)


def _spec_transpose(spec):
    return (spec[1], spec[0]) + tuple(spec[2:])


# -------------------------------------------------------------------- vjp ---

def _lhs_padding(in_sp, k_sp, strides, out_sp, padding, lhs_dil, rhs_dil):
    res = []
    for n, k, s, m, (lo, _), a, r in zip(in_sp, k_sp, strides, out_sp, padding, lhs_dil,
                                        rhs_dil, strict=True):
        before = _dilate(k, r) - lo - 1
        after = _dilate(n, a) + _dilate(k, r) - 1 - _dilate(m, s) - before
        res.append((before, after))
    return tuple(res)


def _rhs_padding(in_sp, k_sp, strides, out_sp, padding, lhs_dil, rhs_dil):
    res = []
    for n, k, s, m, (lo, _), a, r in zip(in_sp, k_sp, strides, out_sp, padding, lhs_dil,
                                        rhs_dil, strict=True):
        hi = (_dilate(m, s) - _dilate(n, a)) + (_dilate(k, r) - lo - 1)
        res.append((lo, hi))
    return tuple(res)


def _ct_lhs(ct, lhs_shape, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
            dimension_numbers, feature_group_count, batch_group_count):
    lspec, rspec, ospec = dimension_numbers
    G, B = feature_group_count, batch_group_count
    if G > 1:
        rhs = _reshape_axis_out_of(rspec[0], G, rhs)
        rhs = _reshape_axis_into(rspec[0], rspec[1], rhs)
    elif B > 1:
        rhs = _reshape_axis_out_of(rspec[0], B, rhs)
        rhs = _reshape_axis_into(rspec[0], rspec[1], rhs)
        G = B
    k_sp = [rhs.shape[d] for d in rspec[2:]]
    pad = _lhs_padding([lhs_shape[d] for d in lspec[2:]], k_sp, window_strides,
                       [ct.shape[d] for d in ospec[2:]], padding, lhs_dilation, rhs_dilation)
    out = conv_general_dilated_p.bind(
        ct, rev(rhs, tuple(rspec[2:])), window_strides=tuple(lhs_dilation), padding=pad,
        lhs_dilation=tuple(window_strides), rhs_dilation=tuple(rhs_dilation),
        dimension_numbers=(tuple(ospec), _spec_transpose(rspec), tuple(lspec)),
        feature_group_count=G, batch_group_count=1)
    if B > 1:
        out = _reshape_axis_out_of(lspec[1], B, out)
        out = _reshape_axis_into(lspec[1], lspec[0], out)
    return out


def _ct_rhs(ct, lhs, rhs_shape, *, window_strides, padding, lhs_dilation, rhs_dilation,
            dimension_numbers, feature_group_count, batch_group_count):
    lspec, rspec, ospec = dimension_numbers
    G, B = feature_group_count, batch_group_count
    if B > 1:
        G, B = B, 1
    elif G > 1:
        G, B = 1, G
    pad = _rhs_padding([lhs.shape[d] for d in lspec[2:]], [rhs_shape[d] for d in rspec[2:]],
                       window_strides, [ct.shape[d] for d in ospec[2:]], padding,
                       lhs_dilation, rhs_dilation)
    return conv_general_dilated_p.bind(
        lhs, ct, window_strides=tuple(rhs_dilation), padding=pad,
        lhs_dilation=tuple(lhs_dilation), rhs_dilation=tuple(window_strides),
        dimension_numbers=(_spec_transpose(lspec), _spec_transpose(ospec),
                           _spec_transpose(rspec)),
        feature_group_count=G, batch_group_count=B)


def _vjp(ct, out, lhs, rhs, *, wants, **params):
    a = _ct_lhs(ct, tuple(lhs.shape), rhs, **params) if wants[0] else None
    b = _ct_rhs(ct, lhs, tuple(rhs.shape), **params) if wants[1] else None
    return a, b


# --------------------------------------------------------------- batching ---

def _batch(axis_size, args, dims, **params):
    (lhs, rhs), (dl, dr) = args, dims
    lspec, rspec, ospec = params["dimension_numbers"]
    G, B = params["feature_group_count"], params["batch_group_count"]
    bind = conv_general_dilated_p.bind
    if dl is not None and dr is not None:
        size = lhs.shape[dl]
        p = dict(params)
        if B > 1:
            new_lhs = _reshape_axis_into(dl, lspec[0], lhs)
            p["batch_group_count"] = B * size
        else:
            new_lhs = _reshape_axis_into(dl, lspec[1], lhs)
            p["feature_group_count"] = G * size
        new_rhs = _reshape_axis_into(dr, rspec[0], rhs)
        out = bind(new_lhs, new_rhs, **p)
        return _reshape_axis_out_of(ospec[1], size, out), ospec[1]
    if dl is not None:
        size = lhs.shape[dl]
        if B == 1:
            new_lhs = _reshape_axis_into(dl, lspec[0], lhs)
        else:
            new_lhs = _reshape_axis_out_of(lspec[0] + int(dl <= lspec[0]), B, lhs)
            new_lhs = _reshape_axis_into(dl + int(lspec[0] < dl), lspec[0] + 1, new_lhs)
            new_lhs = _reshape_axis_into(lspec[0], lspec[0], new_lhs)
        out = bind(new_lhs, rhs, **params)
        return _reshape_axis_out_of(ospec[0], size, out), ospec[0]
    size = rhs.shape[dr]
    if G == 1 and B == 1:
        new_rhs = _reshape_axis_into(dr, rspec[0], rhs)
        out = bind(lhs, new_rhs, **params)
        return _reshape_axis_out_of(ospec[1], size, out), ospec[1]
    groups = G if G > 1 else B
    new_rhs = _reshape_axis_out_of(rspec[0] + int(dr <= rspec[0]), groups, rhs)
    new_rhs = _reshape_axis_into(dr + int(rspec[0] < dr), rspec[0] + 1, new_rhs)
    new_rhs = _reshape_axis_into(rspec[0], rspec[0], new_rhs)
    out = bind(lhs, new_rhs, **params)
    out = _reshape_axis_out_of(ospec[1], groups, out)
    out = _reshape_axis_out_of(ospec[1] + 1, size, out)
    out = _reshape_axis_into(ospec[1], ospec[1] + 1, out)
    return out, ospec[1]


conv_general_dilated_p.impl = _impl
conv_general_dilated_p.abstract_eval = _aval
conv_general_dilated_p.jvp = _jvp
conv_general_dilated_p.vjp = _vjp
conv_general_dilated_p.batch = _batch


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                         dimension_numbers, feature_group_count=1, batch_group_count=1):
    """Bind the primitive with normalised params (padding as (lo, hi) pairs,
    dimension_numbers as three axis permutations); ``chainrule.lax`` parses
    JAX's spellings into these."""
    return conv_general_dilated_p.bind(
        lhs, rhs, window_strides=tuple(int(s) for s in window_strides),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        lhs_dilation=tuple(int(a) for a in lhs_dilation),
        rhs_dilation=tuple(int(r) for r in rhs_dilation),
        dimension_numbers=tuple(tuple(int(d) for d in s) for s in dimension_numbers),
        feature_group_count=int(feature_group_count),
        batch_group_count=int(batch_group_count))


# ---------------------------------------------------------------- samples ---

def _p(nsp, strides=None, padding=None, lhs_dil=None, rhs_dil=None, dn=None, G=1, B=1):
    return {"window_strides": strides or (1,) * nsp,
            "padding": padding or ((0, 0),) * nsp,
            "lhs_dilation": lhs_dil or (1,) * nsp,
            "rhs_dilation": rhs_dil or (1,) * nsp,
            "dimension_numbers": dn or tuple(tuple(range(nsp + 2)) for _ in range(3)),
            "feature_group_count": G, "batch_group_count": B}


def _samples(rng):
    r = rng.normal
    nhwc = ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))  # NHWC, HWIO, NHWC
    return [
        ((r(size=(2, 2, 5)), r(size=(3, 2, 2))), _p(1)),
        ((r(size=(1, 2, 7)), r(size=(2, 2, 3))), _p(1, strides=(2,), padding=((1, 2),))),
        ((r(size=(2, 1, 4)), r(size=(2, 1, 2))), _p(1, lhs_dil=(2,), padding=((1, -1),))),
        ((r(size=(1, 2, 6)), r(size=(2, 2, 2))), _p(1, rhs_dil=(2,), strides=(2,))),
        ((r(size=(1, 2, 4, 5)), r(size=(3, 2, 2, 3))), _p(2, padding=((1, 1), (0, 2)))),
        ((r(size=(2, 4, 4, 2)), r(size=(2, 2, 2, 3))), _p(2, strides=(2, 1), dn=nhwc)),
        ((r(size=(1, 4, 5)), r(size=(6, 2, 2))), _p(1, G=2)),
        ((r(size=(1, 3, 5)), r(size=(3, 1, 2))), _p(1, G=3, strides=(2,))),
        ((r(size=(4, 2, 5)), r(size=(4, 2, 3))), _p(1, B=2)),
        ((r(size=(1, 1, 3, 3, 3)), r(size=(2, 1, 2, 2, 2))), _p(3, padding=((0, 1),) * 3)),
    ]


conv_general_dilated_p.samples = _samples
