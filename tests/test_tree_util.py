import collections
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import tree_util as tu
from chainrule.tree_util import (
    PyTreeDef,
    all_leaves,
    register_pytree_node,
    register_pytree_node_class,
    tree_all,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_reduce,
    tree_structure,
    tree_transpose,
    tree_unflatten,
)

Point = collections.namedtuple("Point", ["x", "y"])


@dataclasses.dataclass
class Params:
    w: object
    b: object
    name: str = dataclasses.field(default="layer", metadata={"static": True})


@dataclasses.dataclass(frozen=True)
class Frozen:
    a: object
    b: object


class Box:
    """A custom container registered by hand."""

    def __init__(self, items, label):
        self.items = list(items)
        self.label = label

    def __eq__(self, other):
        return isinstance(other, Box) and (self.items, self.label) == (other.items, other.label)


register_pytree_node(Box, lambda b: (b.items, b.label), lambda label, ch: Box(ch, label))


@register_pytree_node_class
class Pair:
    def __init__(self, first, second):
        self.first, self.second = first, second

    def tree_flatten(self):
        return (self.first, self.second), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def roundtrip(tree):
    leaves, treedef = tree_flatten(tree)
    assert treedef.num_leaves == len(leaves)
    return leaves, treedef, tree_unflatten(treedef, leaves)


@pytest.mark.parametrize("tree, expected_leaves", [
    ((1, 2, 3), [1, 2, 3]),
    ([1, [2, 3]], [1, 2, 3]),
    ({"b": 2, "a": 1}, [1, 2]),
    (Point(1, (2, 3)), [1, 2, 3]),
    (collections.OrderedDict([("b", 1), ("a", 2)]), [1, 2]),
    (None, []),
    ((), []),
    ([None, 1, (None,)], [1]),
    (5, [5]),
    ({"x": [1, {"y": (2, None)}], "z": ()}, [1, 2]),
])
def test_roundtrip_builtin_nodes(tree, expected_leaves):
    leaves, treedef, rebuilt = roundtrip(tree)
    assert leaves == expected_leaves
    assert rebuilt == tree
    assert type(rebuilt) is type(tree)


def test_dict_keys_sorted_and_rebuilt_equal():
    leaves, treedef = tree_flatten({"c": 3, "a": 1, "b": 2})
    assert leaves == [1, 2, 3]
    assert treedef == tree_structure({"a": 0, "b": 0, "c": 0})
    assert list(tree_unflatten(treedef, [10, 20, 30]).items()) == [("a", 10), ("b", 20), ("c", 30)]
    # incomparable keys still flatten deterministically
    assert tree_structure({1: 0, "a": 0}) == tree_structure({"a": 0, 1: 0})


def test_ordered_dict_keeps_insertion_order():
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    leaves, treedef = tree_flatten(od)
    assert leaves == [1, 2]
    rebuilt = treedef.unflatten([5, 6])
    assert isinstance(rebuilt, collections.OrderedDict)
    assert list(rebuilt.items()) == [("b", 5), ("a", 6)]
    assert treedef != tree_structure({"b": 1, "a": 2})


def test_defaultdict():
    dd = collections.defaultdict(list, {"b": 2, "a": 1})
    leaves, treedef = tree_flatten(dd)
    assert leaves == [1, 2]
    rebuilt = treedef.unflatten([3, 4])
    assert isinstance(rebuilt, collections.defaultdict)
    assert rebuilt.default_factory is list
    assert dict(rebuilt) == {"a": 3, "b": 4}


def test_none_is_empty_node_not_leaf():
    assert tree_leaves(None) == []
    assert tree_leaves([None, None]) == []
    assert tree_structure(None).num_leaves == 0
    assert tree_structure(None) != tree_structure(())
    assert tree_map(lambda x: x + 1, [1, None, 2]) == [2, None, 3]


def test_namedtuple():
    leaves, treedef, rebuilt = roundtrip(Point(1, 2))
    assert leaves == [1, 2]
    assert type(rebuilt) is Point and rebuilt == Point(1, 2)
    assert treedef != tree_structure((1, 2))
    assert repr(treedef) == "PyTreeDef(Point(x=*, y=*))"


def test_dataclass_with_static_field():
    p = Params(w=np.ones(2), b=3.0, name="dense")
    leaves, treedef = tree_flatten(p)
    assert len(leaves) == 2
    np.testing.assert_array_equal(leaves[0], np.ones(2))
    assert leaves[1] == 3.0
    rebuilt = treedef.unflatten([7, 8])
    assert isinstance(rebuilt, Params)
    assert (rebuilt.w, rebuilt.b, rebuilt.name) == (7, 8, "dense")
    # the static field is part of the structure
    assert treedef != tree_structure(Params(1, 2, name="other"))
    assert treedef == tree_structure(Params(1, 2, name="dense"))
    assert repr(treedef) == "PyTreeDef(Params(w=*, b=*, name='dense'))"


def test_frozen_dataclass():
    f = Frozen(a=1, b=[2, 3])
    leaves, _, rebuilt = roundtrip(f)
    assert leaves == [1, 2, 3]
    assert rebuilt == f
    assert tree_map(lambda x: x * 10, f) == Frozen(10, [20, 30])


def test_registered_custom_class():
    box = Box([1, (2, 3)], label="L")
    leaves, treedef, rebuilt = roundtrip(box)
    assert leaves == [1, 2, 3]
    assert rebuilt == box
    assert tree_map(lambda x: -x, box) == Box([-1, (-2, -3)], "L")
    assert treedef != tree_structure(Box([1, (2, 3)], label="M"))
    assert repr(treedef) == "PyTreeDef(CustomNode(Box['L'], [*, (*, *)]))"
    with pytest.raises(ValueError, match="Duplicate"):
        register_pytree_node(Box, lambda b: (b.items, None), lambda a, c: Box(c, None))


def test_register_pytree_node_class():
    p = tree_map(lambda x: x + 1, Pair(1, [2]))
    assert isinstance(p, Pair) and p.first == 2 and p.second == [3]


def test_arbitrary_objects_and_arrays_are_leaves():
    obj = object()
    arr = np.arange(3)
    leaves = tree_leaves([obj, arr, "s", 1.5, {1, 2}])
    assert leaves[0] is obj and leaves[1] is arr
    assert leaves[2:] == ["s", 1.5, {1, 2}]
    assert all_leaves([1, arr, obj])
    assert not all_leaves([1, (2,)])
    assert not all_leaves([None])


def test_tree_map_multiple_trees():
    a = {"w": np.array([1.0, 2.0]), "b": (1.0, 2.0)}
    g = {"b": (0.5, 0.5), "w": np.array([10.0, 10.0])}
    out = tree_map(lambda p, d: p - 0.1 * d, a, g)
    np.testing.assert_allclose(out["w"], [0.0, 1.0])
    assert out["b"] == pytest.approx((0.95, 1.95))
    assert tree_map(lambda x, y, z: x + y + z, [1, 2], [10, 20], [100, 200]) == [111, 222]


def test_tree_map_rest_may_have_subtrees_at_leaves():
    # like JAX: the first tree is a prefix of the others
    assert tree_map(lambda x, y: (x, y), [1, 2], [(3, 4), 5]) == [(1, (3, 4)), (2, 5)]
    assert tree_map(lambda x, y: y, [1, 2], [1, None]) == [1, None]


@pytest.mark.parametrize("tree, other", [
    ([1, 2], [1, 2, 3]),                 # wrong length
    ([1, 2], (1, 2)),                    # list vs tuple
    ([1, 2], {"a": 1, "b": 2}),          # different node type
    ([1, (2, 3)], [1, [2, 3]]),          # nested mismatch
    (Point(1, 2), (1, 2)),               # namedtuple vs tuple
    (None, 1),                           # None node vs leaf
])
def test_tree_map_structure_mismatch(tree, other):
    with pytest.raises(ValueError) as e:
        tree_map(lambda x, y: x, tree, other)
    assert str(tree_structure(tree)) in str(e.value)
    assert str(tree_structure(other)) in str(e.value)


def test_tree_map_mismatched_dict_keys():
    with pytest.raises(ValueError, match=r"\{'a': \*, 'b': \*\}.*\{'a': \*, 'c': \*\}"):
        tree_map(lambda x, y: x, {"a": 1, "b": 2}, {"a": 1, "c": 2})
    with pytest.raises(ValueError, match="mismatch"):
        tree_map(lambda x, y: x, {"a": (1, 2)}, {"a": 1})


def test_is_leaf():
    tree = {"a": (1, 2), "b": [3, (4, 5)]}
    leaves, treedef = tree_flatten(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), 3, (4, 5)]
    assert repr(treedef) == "PyTreeDef({'a': *, 'b': [*, *]})"
    assert tree_unflatten(treedef, leaves) == tree
    out = tree_map(lambda x: sum(x) if isinstance(x, tuple) else -x, tree,
                   is_leaf=lambda x: isinstance(x, tuple))
    assert out == {"a": 3, "b": [-3, 9]}
    # is_leaf on the root makes the whole tree a single leaf
    leaves, treedef = tree_flatten(tree, is_leaf=lambda x: x is tree)
    assert leaves[0] is tree and treedef.num_leaves == 1


def test_unflatten_wrong_number_of_leaves():
    treedef = tree_structure({"a": 1, "b": (2, 3)})
    with pytest.raises(ValueError, match="expects 3 leaves, got 2"):
        tree_unflatten(treedef, [1, 2])
    with pytest.raises(ValueError, match="expects 3 leaves, got 4"):
        treedef.unflatten(iter([1, 2, 3, 4]))


def test_pytreedef_eq_hash_repr():
    t1 = tree_structure({"a": 1, "b": (2, 3)})
    t2 = tree_structure({"b": ("x", "y"), "a": np.zeros(3)})
    t3 = tree_structure({"a": 1, "b": [2, 3]})
    assert isinstance(t1, PyTreeDef)
    assert t1 == t2 and hash(t1) == hash(t2)
    assert t1 != t3
    assert t1 != "not a treedef"
    assert len({t1, t2, t3}) == 2
    assert repr(t1) == "PyTreeDef({'a': *, 'b': (*, *)})"
    assert repr(t3) == "PyTreeDef({'a': *, 'b': [*, *]})"
    assert repr(tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree_structure(None)) == "PyTreeDef(None)"
    assert repr(tree_structure(7)) == "PyTreeDef(*)"
    assert repr(tree_structure(collections.OrderedDict(z=1, a=2))) == \
        "PyTreeDef(OrderedDict({'z': *, 'a': *}))"
    assert t1.num_leaves == 3 and tree_structure(7).num_leaves == 1


def test_tree_all_and_reduce():
    assert tree_all({"a": True, "b": [1, (True,)]})
    assert not tree_all([True, (0,)])
    assert tree_all([])
    assert tree_reduce(lambda a, b: a + b, {"a": 1, "b": [2, 3]}) == 6
    assert tree_reduce(lambda a, b: a + b, [], initializer=10) == 10
    assert tree_reduce(lambda a, b: a * b, (2, [3]), initializer=5) == 30
    with pytest.raises(TypeError):
        tree_reduce(lambda a, b: a + b, [])


def test_tree_transpose():
    outer = tree_structure([0, 0, 0])
    inner = tree_structure({"a": 0, "b": 0})
    tree = [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "b": 6}]
    assert tree_transpose(outer, inner, tree) == {"a": [1, 3, 5], "b": [2, 4, 6]}
    with pytest.raises(ValueError):
        tree_transpose(outer, inner, [{"a": 1, "b": 2}])


def test_flat_list_of_1000_arrays_round_trips_by_identity():
    # (its speed is measured, not asserted: no timing thresholds in tests)
    arrays = [np.zeros(2) for _ in range(1000)]
    leaves, treedef = tree_flatten(arrays)
    assert len(leaves) == 1000 and all(a is b for a, b in zip(leaves, arrays, strict=True))
    rebuilt = tree_unflatten(treedef, leaves)
    assert all(a is b for a, b in zip(rebuilt, arrays, strict=True))


leaf_values = st.integers(-1000, 1000)
trees = st.recursive(
    leaf_values | st.none(),
    lambda children: (st.lists(children, max_size=4)
                      | st.lists(children, max_size=4).map(tuple)
                      | st.dictionaries(st.text(max_size=3), children, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_roundtrip_property(tree):
    leaves, treedef = tree_flatten(tree)
    assert all(isinstance(x, int) for x in leaves)
    assert tree_unflatten(treedef, leaves) == tree
    assert tree_structure(tree_unflatten(treedef, leaves)) == treedef
    assert tree_map(lambda x: x + 1, tree) == treedef.unflatten([x + 1 for x in leaves])
    assert tree_map(lambda x, y: x - y, tree, tree) == treedef.unflatten([0] * len(leaves))
    assert tu.tree_leaves(tree) == leaves
