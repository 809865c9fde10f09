"""NumPy's products on arrays and tracers: matmul, dot, tensordot, inner,
outer, vdot, einsum, trace, diagonal, kron.

Every contraction is one ``dot_general`` (see ``primitives/dot.py``), so its
derivatives in both modes come from that one primitive. This layer does what
NumPy adds on top: dtype promotion, 1-d operands, broadcasting of batch axes,
and error messages that name the function the user called and both shapes.
"""

from __future__ import annotations

import numpy as np

from ..core import Tracer
from ..primitives import elementwise as ew
from ..primitives.dot import dot_general_p
from ..primitives.reductions import reduce_sum
from ..primitives.shape import broadcast_to, reshape, slice_, transpose
from ._promote import asarray, cast, promote
from ._reductions import sum as _sum

_NO_BATCH = ((), ())
_ARRAYS = (np.ndarray, Tracer)


def _dg(a, b, dims):  # dims are built here, as tuples of ints already
    return dot_general_p.bind(a, b, dimension_numbers=dims)


def _promote2(a, b, fname):
    # the common case (two arrays of one dtype) skips the general machinery
    if isinstance(a, _ARRAYS) and isinstance(b, _ARRAYS) and a.dtype == b.dtype:
        return a, b
    return promote(a, b, fname=fname)


def _not_aligned(fname, sa, sb, i, j):
    return ValueError(f"{fname}: shapes {sa} and {sb} are not aligned: "
                      f"{sa[i]} (dim {i}) != {sb[j]} (dim {j})")


# ------------------------------------------------------------ matmul & dot ---

def matmul(a, b, /):
    """``a @ b``: 1-d operands are promoted to matrices and the promoted axis
    removed again; leading (batch) axes broadcast."""
    a, b = _promote2(a, b, "matmul")
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise ValueError(f"matmul: operands must be at least 1-d, got shapes {sa} and "
                         f"{sb} (use multiply or * for scalars)")
    kb = nb - 2 if nb >= 2 else 0
    if sa[-1] != sb[kb]:
        raise _not_aligned("matmul", sa, sb, na - 1, kb)
    if na == 1 or nb <= 2:
        # no batch axes on one side: a single contraction, no broadcasting
        return _dg(a, b, (((na - 1,), (kb,)), _NO_BATCH))
    if na == 2:
        # (m, k) @ (..., k, n): contract, then move m behind the batch axes
        y = _dg(a, b, (((1,), (kb,)), _NO_BATCH))
        nbat = nb - 2
        return transpose(y, tuple(range(1, nbat + 1)) + (0, nbat + 1))
    try:
        batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {sa} and {sb} cannot be "
                         f"broadcast together ({sa[:-2]} and {sb[:-2]})") from None
    # one side is a single matrix: contract without making copies of it
    if all(n == 1 for n in sb[:-2]):
        y = matmul(a, reshape(b, sb[-2:]))
        return reshape(y, batch + sa[-2:-1] + sb[-1:])
    if all(n == 1 for n in sa[:-2]):
        y = matmul(reshape(a, sa[-2:]), b)
        return reshape(y, batch + sa[-2:-1] + sb[-1:])
    a = broadcast_to(a, batch + sa[-2:])
    b = broadcast_to(b, batch + sb[-2:])
    nbat = len(batch)
    dims = (((nbat + 1,), (nbat,)), (tuple(range(nbat)), tuple(range(nbat))))
    return _dg(a, b, dims)


def dot(a, b, /):
    """NumPy's ``dot``: the last axis of ``a`` against the second-to-last axis
    of ``b`` (its only axis if 1-d); a product if either is a scalar."""
    a, b = _promote2(a, b, "dot")
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    if not sa or not sb:
        return ew.mul(a, b)
    kb = max(len(sb) - 2, 0)
    if sa[-1] != sb[kb]:
        raise _not_aligned("dot", sa, sb, len(sa) - 1, kb)
    return _dg(a, b, (((len(sa) - 1,), (kb,)), _NO_BATCH))


def tensordot(a, b, axes=2):
    """Sum over ``axes`` (an int N: the last N of ``a`` and first N of ``b``;
    or a pair of axis lists); the result has ``a``'s remaining axes, then
    ``b``'s."""
    a, b = _promote2(a, b, "tensordot")
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > len(sa) or n > len(sb):
            raise ValueError(f"tensordot: cannot sum over {n} axes of shapes {sa} and {sb}")
        la, lb = tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    else:
        try:
            la, lb = axes
        except (TypeError, ValueError):
            raise ValueError("tensordot: axes must be an int or a pair of axis lists, "
                             f"got {axes!r}") from None
        la, lb = ((x,) if isinstance(x, (int, np.integer)) else tuple(x) for x in (la, lb))
        if len(la) != len(lb):
            raise ValueError(f"tensordot: axes {la} and {lb} must have the same length "
                             f"(shapes {sa} and {sb})")
        la = tuple(_axis("tensordot", x, len(sa), sa) for x in la)
        lb = tuple(_axis("tensordot", x, len(sb), sb) for x in lb)
    for i, j in zip(la, lb, strict=True):
        if sa[i] != sb[j]:
            raise ValueError(f"tensordot: shape mismatch for sum over shapes {sa} and "
                             f"{sb}: {sa[i]} (dim {i}) != {sb[j]} (dim {j})")
    return _dg(a, b, ((la, lb), _NO_BATCH))


def _axis(fname, axis, ndim, shape):
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{fname}: axis {axis} is out of bounds for an array of shape "
                         f"{shape}")
    return axis % ndim


def inner(a, b, /):
    """Sum over the last axes of ``a`` and ``b``; a product for scalars."""
    a, b = _promote2(a, b, "inner")
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    if not sa or not sb:
        return ew.mul(a, b)
    if sa[-1] != sb[-1]:
        raise _not_aligned("inner", sa, sb, len(sa) - 1, len(sb) - 1)
    return _dg(a, b, (((len(sa) - 1,), (len(sb) - 1,)), _NO_BATCH))


def outer(a, b, /):
    """``out[i, j] = a.ravel()[i] * b.ravel()[j]``."""
    a, b = _promote2(a, b, "outer")
    flat = [reshape(x, (int(np.size(x)),)) for x in (a, b)]
    return _dg(flat[0], flat[1], (((), ()), _NO_BATCH))


def _conj(x):
    if np.dtype(x.dtype).kind != "c":
        return x
    from ..primitives.complex import conj
    return conj(x)


def vdot(a, b, /):
    """``sum(conj(a.ravel()) * b.ravel())``."""
    a, b = _promote2(a, b, "vdot")
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    if int(np.size(a)) != int(np.size(b)):
        raise ValueError(f"vdot: shapes {sa} and {sb} have different sizes "
                         f"({int(np.size(a))} and {int(np.size(b))})")
    a = reshape(_conj(a), (int(np.size(a)),))
    b = reshape(b, (int(np.size(b)),))
    return _dg(a, b, (((0,), (0,)), _NO_BATCH))


def kron(a, b, /):
    """Kronecker product: blocks ``a[i, j] * b`` laid out like ``a``."""
    a, b = _promote2(a, b, "kron")
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    y = _dg(reshape(a, sa), reshape(b, sb), (((), ()), _NO_BATCH))
    y = transpose(y, tuple(p for i in range(nd) for p in (i, nd + i)))
    return reshape(y, tuple(m * n for m, n in zip(sa, sb, strict=True)))


# -------------------------------------------------------- diagonal & trace ---

def diagonal(a, offset=0, axis1=0, axis2=1):
    """NumPy's ``diagonal``: the two axes are removed and the diagonal appended
    as the last axis. Taken as a strided slice of the flattened pair of axes,
    so its transpose (for gradients) is a strided pad."""
    a = asarray(a, "diagonal")
    shape = tuple(np.shape(a))
    if len(shape) < 2:
        raise ValueError(f"diagonal: array of shape {shape} has fewer than 2 axes")
    ax1, ax2 = (_axis("diagonal", ax, len(shape), shape) for ax in (axis1, axis2))
    if ax1 == ax2:
        raise ValueError(f"diagonal: axis1 and axis2 cannot be the same ({axis1})")
    rest = [i for i in range(len(shape)) if i not in (ax1, ax2)]
    x = transpose(a, tuple(rest) + (ax1, ax2))
    n, m = shape[ax1], shape[ax2]
    offset = int(offset)
    start = offset if offset >= 0 else -offset * m
    count = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    start, limit = (start, start + (count - 1) * (m + 1) + 1) if count else (0, 0)
    lead = tuple(shape[i] for i in rest)
    x = reshape(x, lead + (n * m,))
    zeros = (0,) * len(lead)
    return slice_(x, zeros + (start,), lead + (limit,), (1,) * len(lead) + (m + 1,))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    """Sum along a diagonal (integer inputs sum in int64, as in NumPy)."""
    d = diagonal(asarray(a, "trace"), offset, axis1, axis2)
    return _sum(d, axis=-1, dtype=dtype)


# ----------------------------------------------------------------- einsum ---

def _sublists_to_subscripts(first, rest):
    """NumPy's interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``
    (integer labels, ``...`` as Ellipsis) as a subscripts string."""
    import string
    args = [first, *rest]
    letters = string.ascii_letters

    def spell(sub):
        out = []
        for lab in sub:
            if lab is Ellipsis:
                out.append("...")
            elif isinstance(lab, (int, np.integer)) and 0 <= int(lab) < len(letters):
                out.append(letters[int(lab)])
            else:
                raise TypeError("einsum: sublist labels must be integers in [0, 52) or "
                                f"Ellipsis, got {lab!r}")
        return "".join(out)

    out = None
    if len(args) % 2:
        out, args = args[-1], args[:-1]
    ops, subs = args[0::2], args[1::2]
    if not ops or not all(isinstance(sb, (list, tuple)) for sb in subs):
        raise TypeError("einsum: in the interleaved form each operand is followed by its "
                        "sublist: einsum(a, [0, 1], b, [1, 2], [0, 2])")
    text = ",".join(spell(sb) for sb in subs)
    if out is not None:
        text += "->" + spell(out)
    return text, tuple(ops)


def einsum_path(subscripts, *operands, optimize="greedy"):
    """NumPy's contraction path for these shapes (only shapes are used)."""
    if not isinstance(subscripts, str):
        subscripts, operands = _sublists_to_subscripts(subscripts, operands)
    shapes = [np.empty(np.shape(x), dtype=np.float64) for x in operands]
    return np.einsum_path(subscripts, *shapes, optimize=optimize)


def einsum(subscripts, *operands, dtype=None, optimize=None):
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", x, y)``.

    The interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` is accepted
    too. Implicit (no ``->``) and explicit forms, ``...`` for broadcast axes, a
    label repeated in one operand for its diagonal. Labels summed in only one
    operand are reduced first; then operands are contracted two at a time,
    the pair with the smallest result first, each as one ``dot_general``.
    ``optimize`` is accepted for NumPy compatibility and ignored.
    """
    if not isinstance(subscripts, str):
        subscripts, operands = _sublists_to_subscripts(subscripts, operands)
    if not operands:
        raise ValueError("einsum: no operands given")
    ops = promote(*operands, fname="einsum")
    if dtype is not None:
        ops = [cast(x, dtype) for x in ops]
    shapes = [tuple(np.shape(x)) for x in ops]
    in_labels, out_labels = _parse(subscripts, shapes)
    sizes = _label_sizes(in_labels, shapes, subscripts)
    terms = []
    for x, labels in zip(ops, in_labels, strict=True):
        # an axis of length 1 whose label is longer elsewhere broadcasts: drop it
        drop = [i for i, lab in enumerate(labels) if x.shape[i] == 1 and sizes[lab] > 1]
        if drop:
            labels = [lab for i, lab in enumerate(labels) if i not in drop]
            x = reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))
        terms.append(_diagonals(x, list(labels)))
    out_set = set(out_labels)
    while len(terms) > 1:
        i, j, later = _pick_pair(terms, out_set, sizes)
        pair = _contract_pair(terms[i], terms[j], later)
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [pair]
    x, labels = _sum_unneeded(*terms[0], out_set)
    return transpose(x, tuple(labels.index(lab) for lab in out_labels))


def _split(spec, where, subscripts):
    if spec.count("...") > 1 or "." in spec.replace("...", "", 1):
        raise ValueError(f"einsum: bad ellipsis in {where} of '{subscripts}' "
                         "(use '...' at most once)")
    head, ell, tail = spec.partition("...")
    bad = [c for c in head + tail if not c.isalpha()]
    if bad:
        raise ValueError(f"einsum: invalid subscript {bad[0]!r} in '{subscripts}' "
                         "(labels are letters)")
    return list(head), bool(ell), list(tail)


def _parse(subscripts, shapes):
    """Labels per operand and for the output; ``...`` axes become labels
    -1, -2, ... counted from the right, so that they broadcast."""
    s = subscripts.replace(" ", "")
    ins, arrow, out = s.partition("->")
    if "->" in out:
        raise ValueError(f"einsum: '->' appears more than once in '{subscripts}'")
    specs = ins.split(",")
    if len(specs) != len(shapes):
        raise ValueError(f"einsum: '{subscripts}' names {len(specs)} operands but "
                         f"{len(shapes)} were given")
    in_labels, n_ell = [], 0
    for k, (spec, shape) in enumerate(zip(specs, shapes, strict=True)):
        head, ell, tail = _split(spec, f"operand {k}", subscripts)
        n = len(shape) - len(head) - len(tail)
        if n < 0 or (n > 0 and not ell):
            raise ValueError(f"einsum: operand {k} has shape {shape} ({len(shape)} axes) "
                             f"but its subscripts '{spec}' name {len(head) + len(tail)}")
        n_ell = max(n_ell, n)
        in_labels.append(head + list(range(-n, 0)) + tail)
    ell_labels = list(range(-n_ell, 0))
    if not arrow:
        letters = [lab for labels in in_labels for lab in labels if isinstance(lab, str)]
        once = sorted(lab for lab in set(letters) if letters.count(lab) == 1)
        return in_labels, ell_labels + once
    head, ell, tail = _split(out, "the output", subscripts)
    if n_ell and not ell:
        raise ValueError(f"einsum: '{subscripts}': the operands have '...' axes but the "
                         "output has no '...' to put them in")
    out_labels = head + ell_labels + tail
    seen = set(lab for labels in in_labels for lab in labels)
    for lab in head + tail:
        if (head + tail).count(lab) > 1:
            raise ValueError(f"einsum: output label '{lab}' repeated in '{subscripts}'")
        if lab not in seen:
            raise ValueError(f"einsum: output label '{lab}' of '{subscripts}' is not in "
                             "any operand")
    return in_labels, out_labels


def _label_sizes(in_labels, shapes, subscripts):
    sizes, where = {}, {}
    for k, (labels, shape) in enumerate(zip(in_labels, shapes, strict=True)):
        mine = {}
        for lab, n in zip(labels, shape, strict=True):
            if mine.setdefault(lab, n) != n:
                raise ValueError(f"einsum: label '{lab}' repeated in operand {k} (shape "
                                 f"{shape}) has lengths {mine[lab]} and {n}")
        for lab, n in mine.items():
            if sizes.get(lab, 1) == 1:
                sizes[lab], where[lab] = n, k
            elif n not in (1, sizes[lab]):
                j = where[lab]
                name = f"'{lab}'" if isinstance(lab, str) else "'...'"
                raise ValueError(f"einsum: operands {j} and {k} of '{subscripts}' have "
                                 f"shapes {shapes[j]} and {shape}: label {name} has "
                                 f"length {sizes[lab]} and {n}")
    return sizes


def _diagonals(x, labels):
    """Replace each label repeated within one operand by its diagonal."""
    while True:
        rep = next((lab for lab in labels if labels.count(lab) > 1), None)
        if rep is None:
            return x, labels
        i = labels.index(rep)
        j = labels.index(rep, i + 1)
        x = diagonal(x, 0, i, j)
        labels = [lab for k, lab in enumerate(labels) if k not in (i, j)] + [rep]


def _sum_unneeded(x, labels, keep):
    axes = tuple(i for i, lab in enumerate(labels) if lab not in keep)
    if not axes:
        return x, labels
    return reduce_sum(x, axes), [lab for lab in labels if lab in keep]


def _pick_pair(terms, out_set, sizes):
    """The pair whose contraction is smallest, and the labels needed after it."""
    best = None
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            later = out_set.union(*(set(t[1]) for k, t in enumerate(terms)
                                    if k not in (i, j)))
            labels = (set(terms[i][1]) | set(terms[j][1])) & later
            cost = int(np.prod([sizes[lab] for lab in labels], dtype=np.int64))
            if best is None or cost < best[0]:
                best = (cost, i, j, later)
    return best[1:]


def _contract_pair(tx, ty, later):
    """One dot_general: shared labels needed later are batch axes, the other
    shared labels are summed; labels of one side only stay free."""
    (x, lx), (y, ly) = tx, ty
    x, lx = _sum_unneeded(x, lx, later | set(ly))
    y, ly = _sum_unneeded(y, ly, later | set(lx))
    shared = [lab for lab in lx if lab in ly]
    batch = [lab for lab in shared if lab in later]
    summed = [lab for lab in shared if lab not in later]
    dims = ((tuple(lx.index(lab) for lab in summed), tuple(ly.index(lab) for lab in summed)),
            (tuple(lx.index(lab) for lab in batch), tuple(ly.index(lab) for lab in batch)))
    labels = batch + [lab for lab in lx if lab not in ly] + [lab for lab in ly if lab not in lx]
    return _dg(x, y, dims), labels
