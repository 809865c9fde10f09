"""Pytree utilities, following the public names and semantics of ``jax.tree_util``.

A *pytree* is a nested container (tuple, list, dict, namedtuple, dataclass,
None, or any registered type) whose non-container parts are *leaves* (numbers,
NumPy arrays, arbitrary objects).  Transforms such as ``grad`` take their
parameters as pytrees -- e.g. ``{'w': W, 'b': b}`` -- so every transform call
flattens its inputs into a flat list of arrays plus a hashable ``PyTreeDef``
describing the structure, works on the flat list, and unflattens the results.
"""
import collections
import dataclasses
import functools
from itertools import islice

__all__ = [
    "PyTreeDef", "register_pytree_node", "register_pytree_node_class",
    "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure",
    "tree_map", "tree_all", "tree_reduce", "tree_transpose", "all_leaves",
]


class _NodeType:
    __slots__ = ("flatten", "unflatten")

    def __init__(self, flatten, unflatten):
        self.flatten = flatten      # x -> (children_iterable, aux_data)
        self.unflatten = unflatten  # (aux_data, children_list) -> x


_registry = {}   # explicitly registered type -> _NodeType
_lookup = {}     # type -> _NodeType, or None for leaf types (cache of _classify)
_MISSING = object()


def register_pytree_node(nodetype, flatten_func, unflatten_func):
    """Register ``nodetype`` as a pytree node.

    ``flatten_func(x) -> (children, aux_data)`` and
    ``unflatten_func(aux_data, children) -> x``.  ``aux_data`` should be
    hashable and comparable with ``==``; it becomes part of the ``PyTreeDef``.
    """
    if nodetype in _registry:
        raise ValueError(f"Duplicate pytree registration for {nodetype!r}")
    _registry[nodetype] = _lookup[nodetype] = _NodeType(flatten_func, unflatten_func)


def register_pytree_node_class(cls):
    """Class decorator: use ``x.tree_flatten()`` and ``cls.tree_unflatten(aux, children)``."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def _sorted_keys(d):
    try:
        return sorted(d)
    except TypeError:  # keys of mixed, incomparable types: still deterministic
        return sorted(d, key=lambda k: (type(k).__qualname__, repr(k)))


def _dict_flatten(d):
    keys = _sorted_keys(d)
    return [d[k] for k in keys], tuple(keys)


def _ordered_dict_flatten(d):
    keys = tuple(d)
    return [d[k] for k in keys], keys


def _defaultdict_flatten(d):
    children, keys = _dict_flatten(d)
    return children, (d.default_factory, keys)


register_pytree_node(tuple, lambda x: (x, None), lambda _, ch: tuple(ch))
register_pytree_node(list, lambda x: (x, None), lambda _, ch: list(ch))
register_pytree_node(dict, _dict_flatten, lambda keys, ch: dict(zip(keys, ch, strict=True)))
register_pytree_node(type(None), lambda x: ((), None), lambda _, ch: None)
register_pytree_node(collections.OrderedDict, _ordered_dict_flatten,
                     lambda keys, ch: collections.OrderedDict(zip(keys, ch, strict=True)))
register_pytree_node(collections.defaultdict, _defaultdict_flatten,
                     lambda aux, ch: collections.defaultdict(aux[0], zip(aux[1], ch, strict=True)))


def _dataclass_node(cls):
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static", False))
    static = tuple(f.name for f in fields if f.metadata.get("static", False))

    def flatten(x):
        return ([getattr(x, n) for n in data],
                (data, static, tuple(getattr(x, n) for n in static)))

    def unflatten(aux, children):
        # Bypass __init__/__post_init__ (leaves may be placeholders); works for frozen too.
        obj = cls.__new__(cls)
        for name, value in zip(aux[0], children, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(aux[1], aux[2], strict=True):
            object.__setattr__(obj, name, value)
        return obj

    return _NodeType(flatten, unflatten)


def _classify(t):
    """Node handler for a type not yet in the cache (namedtuple, dataclass or leaf)."""
    if issubclass(t, tuple) and hasattr(t, "_fields"):
        node = _NodeType(lambda x: (x, None), lambda _, ch, t=t: t(*ch))
    elif dataclasses.is_dataclass(t):
        node = _dataclass_node(t)
    else:
        node = None
    _lookup[t] = node
    return node


def _node_type(t):
    node = _lookup.get(t, _MISSING)
    return _classify(t) if node is _MISSING else node


# A treedef node is either _LEAF or a tuple (type, aux, kids, num_leaves, flat),
# where ``flat`` means every child is a leaf.  Plain tuples give C-speed ==/hash.
_LEAF = None


def _flatten(x, is_leaf, leaves):
    nt = None if (is_leaf is not None and is_leaf(x)) else _node_type(type(x))
    if nt is None:
        leaves.append(x)
        return _LEAF
    children, aux = nt.flatten(x)
    start = len(leaves)
    kids = []
    flat = True
    for c in children:
        if is_leaf is None and _node_type(type(c)) is None:  # fast path for leaves
            leaves.append(c)
            kids.append(_LEAF)
        else:
            k = _flatten(c, is_leaf, leaves)
            kids.append(k)
            flat = flat and k is _LEAF
    return (type(x), aux, tuple(kids), len(leaves) - start, flat)


def _unflatten(node, it):
    if node is _LEAF:
        return next(it)
    t, aux, kids, n, flat = node
    if flat:
        children = list(islice(it, n))
    else:
        children = [_unflatten(k, it) for k in kids]
    return _node_type(t).unflatten(aux, children)


def _repr(node):
    if node is _LEAF:
        return "*"
    t, aux, kids, _, _ = node
    parts = [_repr(k) for k in kids]
    if t is tuple:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if t is list:
        return "[" + ", ".join(parts) + "]"
    if t is type(None):
        return "None"
    if t in (dict, collections.OrderedDict, collections.defaultdict):
        keys = aux[1] if t is collections.defaultdict else aux
        body = "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(keys, parts, strict=True)) + "}"
        if t is dict:
            return body
        if t is collections.OrderedDict:
            return f"OrderedDict({body})"
        return f"defaultdict({aux[0]!r}, {body})"
    if t not in _registry and issubclass(t, tuple) and hasattr(t, "_fields"):
        items = [f"{f}={p}" for f, p in zip(t._fields, parts, strict=True)]
        return f"{t.__name__}(" + ", ".join(items) + ")"
    if t not in _registry and dataclasses.is_dataclass(t):
        items = [f"{n}={p}" for n, p in zip(aux[0], parts, strict=True)]
        items += [f"{n}={v!r}" for n, v in zip(aux[1], aux[2], strict=True)]
        return f"{t.__name__}(" + ", ".join(items) + ")"
    return f"CustomNode({t.__name__}[{aux!r}], [" + ", ".join(parts) + "])"


class PyTreeDef:
    """Hashable description of a pytree's structure (everything except the leaves)."""
    __slots__ = ("_node",)

    def __init__(self, node):
        self._node = node

    @property
    def num_leaves(self):
        return 1 if self._node is _LEAF else self._node[3]

    def unflatten(self, leaves):
        return tree_unflatten(self, leaves)

    def __eq__(self, other):
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self._node == other._node

    def __hash__(self):
        return hash(self._node)

    def __repr__(self):
        return f"PyTreeDef({_repr(self._node)})"


def tree_flatten(tree, is_leaf=None):
    """Return ``(leaves, treedef)``; ``is_leaf(x)`` True stops descent at ``x``."""
    leaves = []
    return leaves, PyTreeDef(_flatten(tree, is_leaf, leaves))


def tree_unflatten(treedef, leaves):
    """Rebuild a pytree of structure ``treedef`` from an iterable of leaves."""
    leaves = leaves if isinstance(leaves, (list, tuple)) else list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"Tree structure {treedef} expects {treedef.num_leaves} "
                         f"leaves, got {len(leaves)}")
    return _unflatten(treedef._node, iter(leaves))


def tree_leaves(tree, is_leaf=None):
    leaves = []
    _flatten(tree, is_leaf, leaves)
    return leaves


def tree_structure(tree, is_leaf=None):
    return PyTreeDef(_flatten(tree, is_leaf, []))


def _flatten_up_to(node, x, out):
    """Append to ``out`` the subtrees of ``x`` sitting at the leaves of ``node``.

    Returns False if ``x`` does not have ``node`` as a prefix of its structure.
    """
    if node is _LEAF:
        out.append(x)
        return True
    t, aux, kids, n, flat = node
    if type(x) is not t:
        return False
    children, x_aux = _node_type(t).flatten(x)
    children = list(children)
    if len(children) != len(kids) or x_aux != aux:
        return False
    if flat:
        out.extend(children)
        return True
    return all(_flatten_up_to(k, c, out) for k, c in zip(kids, children, strict=True))


def tree_map(f, tree, *rest, is_leaf=None):
    """Apply ``f`` leafwise; ``rest`` trees must share ``tree``'s structure."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves])
    all_leaves_ = [leaves]
    for r in rest:
        r_leaves = []
        if not _flatten_up_to(treedef._node, r, r_leaves):
            raise ValueError(f"tree_map: structure mismatch between {treedef} "
                             f"and {tree_structure(r)}")
        all_leaves_.append(r_leaves)
    return treedef.unflatten([f(*xs) for xs in zip(*all_leaves_, strict=True)])


def tree_all(tree, is_leaf=None):
    return all(tree_leaves(tree, is_leaf))


_NO_INIT = object()


def tree_reduce(function, tree, initializer=_NO_INIT, is_leaf=None):
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INIT:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def all_leaves(iterable, is_leaf=None):
    """True if every element of ``iterable`` is a leaf (flattens to itself)."""
    for x in iterable:
        leaves = tree_leaves(x, is_leaf)
        if len(leaves) != 1 or leaves[0] is not x:
            return False
    return True


def _compose(outer, inner):
    if outer is _LEAF:
        return inner
    t, aux, kids, n, flat = outer
    kids = tuple(_compose(k, inner) for k in kids)
    inner_n = 1 if inner is _LEAF else inner[3]
    return (t, aux, kids, n * inner_n, flat and inner is _LEAF)


def tree_transpose(outer_treedef, inner_treedef, pytree_to_transpose):
    """Turn an outer-of-inner pytree into an inner-of-outer one."""
    composed = _compose(outer_treedef._node, inner_treedef._node)
    leaves = []
    if not _flatten_up_to(composed, pytree_to_transpose, leaves):
        raise ValueError(f"tree_transpose: expected structure {PyTreeDef(composed)}, "
                         f"got {tree_structure(pytree_to_transpose)}")
    m = inner_treedef.num_leaves
    groups = [leaves[i * m:(i + 1) * m] for i in range(outer_treedef.num_leaves)]
    inner_leaves = [outer_treedef.unflatten([g[j] for g in groups]) for j in range(m)]
    return inner_treedef.unflatten(inner_leaves)
