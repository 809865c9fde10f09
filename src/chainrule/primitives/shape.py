"""Shape primitives: broadcast, reshape, transpose, squeeze, expand_dims,
concatenate, slice, pad, rev.

All of them are linear, so forward mode applies them to the tangent and
reverse mode applies their transpose: broadcasting transposes to a sum,
slicing to padding with zeros, concatenation to slicing.
"""

from __future__ import annotations

import numpy as np

from ..batching import batch_unary_axes, bdim_to_front, moveaxis
from ..core import Primitive, ShapedArray
from ._helpers import deflinear

# ----------------------------------------------------- broadcast_in_dim ---

broadcast_in_dim_p = Primitive("broadcast_in_dim")


def _broadcast_in_dim_impl(x, *, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    for d, n in zip(broadcast_dimensions, np.shape(x)):
        expanded[d] = n
    return np.broadcast_to(np.reshape(x, expanded), shape)


def _broadcast_in_dim_aval(x, *, shape, broadcast_dimensions):
    ok = len(broadcast_dimensions) == x.ndim and all(
        0 <= d < len(shape) and n in (1, shape[d])
        for d, n in zip(broadcast_dimensions, x.shape))
    if not ok or list(broadcast_dimensions) != sorted(set(broadcast_dimensions)):
        raise ValueError(f"broadcast: cannot broadcast shape {tuple(x.shape)} to "
                         f"{tuple(shape)} (dimensions {broadcast_dimensions})")
    return ShapedArray(tuple(shape), np.dtype(x.dtype))


def _broadcast_in_dim_transpose(ct, x, *, shape, broadcast_dimensions):
    from .reductions import reduce_sum
    xshape = np.shape(x)
    new = tuple(i for i in range(len(shape)) if i not in broadcast_dimensions)
    stretched = tuple(d for d, n in zip(broadcast_dimensions, xshape) if n == 1 and shape[d] != 1)
    summed = reduce_sum(ct, tuple(sorted(new + stretched)))
    return (reshape(summed, xshape),)


broadcast_in_dim_p.impl = _broadcast_in_dim_impl
broadcast_in_dim_p.abstract_eval = _broadcast_in_dim_aval
deflinear(broadcast_in_dim_p, _broadcast_in_dim_transpose)

# -------------------------------------------------------------- reshape ---

reshape_p = Primitive("reshape")
reshape_p.impl = lambda x, *, new_sizes: np.reshape(x, new_sizes)


def _reshape_aval(x, *, new_sizes):
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise ValueError(f"reshape: cannot reshape an array of shape {tuple(x.shape)} "
                         f"(size {x.size}) into shape {tuple(new_sizes)}")
    return ShapedArray(tuple(new_sizes), np.dtype(x.dtype))


reshape_p.abstract_eval = _reshape_aval
deflinear(reshape_p, lambda ct, x, *, new_sizes: (reshape(ct, np.shape(x)),))

# ------------------------------------------------------------ transpose ---

transpose_p = Primitive("transpose")
transpose_p.impl = lambda x, *, permutation: np.transpose(x, permutation)


def _transpose_aval(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {permutation} are not a permutation of the "
                         f"{x.ndim} axes of an array of shape {tuple(x.shape)}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), np.dtype(x.dtype))


transpose_p.abstract_eval = _transpose_aval
deflinear(transpose_p, lambda ct, x, *, permutation: (
    transpose(ct, tuple(np.argsort(permutation).tolist())),))

# ---------------------------------------------------- squeeze & expand ---

squeeze_p = Primitive("squeeze")
squeeze_p.impl = lambda x, *, dimensions: np.squeeze(x, axis=dimensions)


def _squeeze_aval(x, *, dimensions):
    for d in dimensions:
        if not 0 <= d < x.ndim or x.shape[d] != 1:
            raise ValueError(f"squeeze: cannot squeeze axis {d} of an array of shape "
                             f"{tuple(x.shape)}: only axes of length 1 can be squeezed")
    return ShapedArray(tuple(n for i, n in enumerate(x.shape) if i not in dimensions),
                       np.dtype(x.dtype))


squeeze_p.abstract_eval = _squeeze_aval
deflinear(squeeze_p, lambda ct, x, *, dimensions: (reshape(ct, np.shape(x)),))

expand_dims_p = Primitive("expand_dims")
expand_dims_p.impl = lambda x, *, dimensions: np.expand_dims(x, dimensions)


def _expand_dims_aval(x, *, dimensions):
    ndim = x.ndim + len(dimensions)
    if any(not 0 <= d < ndim for d in dimensions) or len(set(dimensions)) != len(dimensions):
        raise ValueError(f"expand_dims: bad axes {dimensions} for an array of shape "
                         f"{tuple(x.shape)}")
    shape = iter(x.shape)
    return ShapedArray(tuple(1 if i in dimensions else next(shape) for i in range(ndim)),
                       np.dtype(x.dtype))


expand_dims_p.abstract_eval = _expand_dims_aval
deflinear(expand_dims_p, lambda ct, x, *, dimensions: (reshape(ct, np.shape(x)),))

# ----------------------------------------------------------- concatenate ---

concatenate_p = Primitive("concatenate")
concatenate_p.impl = lambda *xs, dimension: np.concatenate(xs, axis=dimension)


def _concatenate_aval(*xs, dimension):
    first = xs[0]
    if not 0 <= dimension < first.ndim:
        raise ValueError(f"concatenate: axis {dimension} is out of bounds for arrays "
                         f"of dimension {first.ndim}")
    for x in xs[1:]:
        if x.ndim != first.ndim or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dimension):
            raise ValueError("concatenate: all shapes must agree except on the "
                             f"concatenation axis {dimension}, got "
                             f"{', '.join(str(tuple(x.shape)) for x in xs)}")
        if np.dtype(x.dtype) != np.dtype(first.dtype):
            raise TypeError("concatenate: operands must have one dtype")
    shape = list(first.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(tuple(shape), np.dtype(first.dtype))


def _concatenate_transpose(ct, *xs, dimension):
    out, start = [], 0
    shape = np.shape(ct)
    for x in xs:
        n = np.shape(x)[dimension]
        lo = [0] * len(shape)
        hi = list(shape)
        lo[dimension], hi[dimension] = start, start + n
        out.append(slice_(ct, tuple(lo), tuple(hi)))
        start += n
    return tuple(out)


concatenate_p.abstract_eval = _concatenate_aval
deflinear(concatenate_p, _concatenate_transpose)

# ------------------------------------------------------------ slice & pad ---

slice_p = Primitive("slice")


def _slice_impl(x, *, start_indices, limit_indices, strides):
    return x[tuple(slice(s, e, st) for s, e, st in zip(start_indices, limit_indices, strides))]


def _slice_aval(x, *, start_indices, limit_indices, strides):
    if not (len(start_indices) == len(limit_indices) == len(strides) == x.ndim) or any(
            not (0 <= s <= e <= n) or st < 1
            for s, e, st, n in zip(start_indices, limit_indices, strides, x.shape)):
        raise ValueError(f"slice: bad slice start={start_indices} limit={limit_indices} "
                         f"strides={strides} for shape {tuple(x.shape)}")
    shape = tuple(len(range(s, e, st)) for s, e, st in zip(start_indices, limit_indices, strides))
    return ShapedArray(shape, np.dtype(x.dtype))


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    # the transpose of taking a slice is putting it back among zeros
    config = []
    for s, st, n, m in zip(start_indices, strides, np.shape(x), np.shape(ct)):
        if m == 0:
            config.append((n, 0, 0))
        else:
            last = s + (m - 1) * st
            config.append((s, n - 1 - last, st - 1))
    return (pad(ct, tuple(config)),)


slice_p.impl = _slice_impl
slice_p.abstract_eval = _slice_aval
deflinear(slice_p, _slice_transpose)

pad_p = Primitive("pad")


def _pad_impl(x, *, padding_config):
    shape = tuple(lo + hi + n + max(n - 1, 0) * interior
                  for (lo, hi, interior), n in zip(padding_config, np.shape(x)))
    out = np.zeros(shape, dtype=np.asarray(x).dtype)
    index = tuple(slice(lo, lo + n + max(n - 1, 0) * interior, interior + 1)
                  for (lo, hi, interior), n in zip(padding_config, np.shape(x)))
    out[index] = x
    return out


def _pad_aval(x, *, padding_config):
    if len(padding_config) != x.ndim or any(min(c) < 0 for c in padding_config):
        raise ValueError(f"pad: bad padding {padding_config} for shape {tuple(x.shape)} "
                         "(non-negative (low, high, interior) per axis)")
    shape = tuple(lo + hi + n + max(n - 1, 0) * interior
                  for (lo, hi, interior), n in zip(padding_config, x.shape))
    return ShapedArray(shape, np.dtype(x.dtype))


def _pad_transpose(ct, x, *, padding_config):
    start = tuple(lo for lo, _, _ in padding_config)
    limit = tuple(lo + n + max(n - 1, 0) * interior
                  for (lo, _, interior), n in zip(padding_config, np.shape(x)))
    strides = tuple(interior + 1 for _, _, interior in padding_config)
    return (slice_(ct, start, limit, strides),)


pad_p.impl = _pad_impl
pad_p.abstract_eval = _pad_aval
deflinear(pad_p, _pad_transpose)

# -------------------------------------------------------------------- rev ---

rev_p = Primitive("rev")
rev_p.impl = lambda x, *, dimensions: np.flip(x, dimensions) if dimensions else x
rev_p.abstract_eval = lambda x, *, dimensions: ShapedArray(tuple(x.shape), np.dtype(x.dtype))
deflinear(rev_p, lambda ct, x, *, dimensions: (rev(ct, dimensions),))


# ------------------------------------------------------------ batching ---
# The batch axis goes first; each rule then describes the same operation on
# an array with one more leading axis.

def _plus1(axes):
    return tuple(a + 1 for a in axes)


def _batch_broadcast_in_dim(axis_size, args, dims, *, shape, broadcast_dimensions):
    x = moveaxis(args[0], dims[0], 0)
    return broadcast_in_dim_p.bind(x, shape=(axis_size,) + tuple(shape),
                                   broadcast_dimensions=(0,) + _plus1(broadcast_dimensions)), 0


def _batch_concatenate(axis_size, args, dims, *, dimension):
    xs = [bdim_to_front(x, d, axis_size) for x, d in zip(args, dims)]
    return concatenate_p.bind(*xs, dimension=dimension + 1), 0


broadcast_in_dim_p.batch = _batch_broadcast_in_dim
transpose_p.batch = batch_unary_axes(lambda *, permutation: {
    "permutation": (0,) + _plus1(permutation)})(transpose_p)
squeeze_p.batch = batch_unary_axes(lambda *, dimensions: {
    "dimensions": _plus1(dimensions)})(squeeze_p)
expand_dims_p.batch = batch_unary_axes(lambda *, dimensions: {
    "dimensions": _plus1(dimensions)})(expand_dims_p)
concatenate_p.batch = _batch_concatenate
pad_p.batch = batch_unary_axes(lambda *, padding_config: {
    "padding_config": ((0, 0, 0),) + tuple(padding_config)})(pad_p)
rev_p.batch = batch_unary_axes(lambda *, dimensions: {"dimensions": _plus1(dimensions)})(rev_p)


def _batch_reshape(axis_size, args, dims, *, new_sizes):
    x = moveaxis(args[0], dims[0], 0)
    return reshape_p.bind(x, new_sizes=(axis_size,) + tuple(new_sizes)), 0


def _batch_slice(axis_size, args, dims, *, start_indices, limit_indices, strides):
    x = moveaxis(args[0], dims[0], 0)
    return slice_p.bind(x, start_indices=(0,) + tuple(start_indices),
                        limit_indices=(axis_size,) + tuple(limit_indices),
                        strides=(1,) + tuple(strides)), 0


reshape_p.batch = _batch_reshape
slice_p.batch = _batch_slice


# ------------------------------------------------------ functions to call ---

def broadcast_in_dim(x, shape, broadcast_dimensions):
    shape, dims = tuple(shape), tuple(broadcast_dimensions)
    if np.shape(x) == shape and dims == tuple(range(len(shape))):
        return x
    return broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=dims)


def broadcast_to(x, shape):
    """NumPy's broadcast_to: align trailing axes."""
    shape = tuple(shape)
    nd = len(np.shape(x))
    return broadcast_in_dim(x, shape, tuple(range(len(shape) - nd, len(shape))))


def reshape(x, new_sizes):
    new_sizes = tuple(int(n) for n in new_sizes)
    if tuple(np.shape(x)) == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes)


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind(x, permutation=permutation)


def squeeze(x, dimensions):
    return squeeze_p.bind(x, dimensions=tuple(dimensions)) if dimensions else x


def expand_dims(x, dimensions):
    return expand_dims_p.bind(x, dimensions=tuple(dimensions)) if dimensions else x


def concatenate(xs, dimension):
    return xs[0] if len(xs) == 1 else concatenate_p.bind(*xs, dimension=int(dimension))


def slice_(x, start_indices, limit_indices, strides=None):
    strides = tuple(strides) if strides is not None else (1,) * len(start_indices)
    if tuple(start_indices) == (0,) * len(start_indices) and tuple(limit_indices) == tuple(
            np.shape(x)) and strides == (1,) * len(strides):
        return x
    return slice_p.bind(x, start_indices=tuple(start_indices),
                        limit_indices=tuple(limit_indices), strides=strides)


def pad(x, padding_config):
    config = tuple(tuple(int(v) for v in c) for c in padding_config)
    if all(c == (0, 0, 0) for c in config):
        return x
    return pad_p.bind(x, padding_config=config)


def rev(x, dimensions):
    return rev_p.bind(x, dimensions=tuple(dimensions)) if dimensions else x


# ---------------------------------------------------------------- samples ---

broadcast_in_dim_p.samples = lambda rng: [
    ((rng.normal(size=(3,)),), {"shape": (2, 3), "broadcast_dimensions": (1,)}),
    ((rng.normal(size=(2, 1)),), {"shape": (4, 2, 3), "broadcast_dimensions": (1, 2)}),
    ((rng.normal(size=()),), {"shape": (2,), "broadcast_dimensions": ()})]
reshape_p.samples = lambda rng: [((rng.normal(size=(2, 3)),), {"new_sizes": (3, 2)}),
                                 ((rng.normal(size=(6,)),), {"new_sizes": (1, 2, 3)})]
transpose_p.samples = lambda rng: [((rng.normal(size=(2, 3, 4)),), {"permutation": (2, 0, 1)})]
squeeze_p.samples = lambda rng: [((rng.normal(size=(2, 1, 3)),), {"dimensions": (1,)})]
expand_dims_p.samples = lambda rng: [((rng.normal(size=(2, 3)),), {"dimensions": (0, 2)})]
concatenate_p.samples = lambda rng: [
    ((rng.normal(size=(2, 3)), rng.normal(size=(1, 3))), {"dimension": 0}),
    ((rng.normal(size=(2, 1)), rng.normal(size=(2, 2)), rng.normal(size=(2, 3))),
     {"dimension": 1})]
slice_p.samples = lambda rng: [
    ((rng.normal(size=(5, 4)),), {"start_indices": (1, 0), "limit_indices": (4, 3),
                                  "strides": (1, 1)}),
    ((rng.normal(size=(7,)),), {"start_indices": (1,), "limit_indices": (7,), "strides": (3,)})]
pad_p.samples = lambda rng: [((rng.normal(size=(2, 3)),),
                              {"padding_config": ((1, 0, 0), (0, 2, 1))})]
rev_p.samples = lambda rng: [((rng.normal(size=(2, 3)),), {"dimensions": (1,)})]
