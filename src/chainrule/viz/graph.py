"""``draw``: the computational graph of a function, with the forward value
above each edge and the gradient below it, as the lectures draw it."""

from __future__ import annotations

import html
import shutil
import subprocess
from typing import Any, NamedTuple

import numpy as np

from ..core import Literal, get_aval, is_float
from . import _trace


class GraphNode(NamedTuple):
    """A node of the drawn graph.

    ``kind`` is ``"input"``, ``"const"``, ``"op"`` (one primitive),
    ``"group"`` (a user function drawn as one node) or ``"output"``;
    ``eqns`` the indices of the Jaxpr equations it stands for.
    """

    id: str
    label: str
    kind: str
    eqns: tuple = ()


class GraphEdge(NamedTuple):
    """A value flowing from ``src`` to ``dst``: its forward ``value`` and the
    gradient ``dst`` sends back along it (``None`` without a backward pass or
    for values with no gradient, such as integers and constants)."""

    src: str
    dst: str
    name: str
    value: Any
    grad: Any


_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "max": "max",
            "min": "min", "logistic": "σ", "integer_pow": "**", "reduce_sum": "sum",
            "reduce_max": "max", "reduce_min": "min", "reduce_prod": "prod",
            "broadcast_in_dim": "broadcast", "dot_general": "dot"}


def _num(x, precision=2) -> str:
    x = np.asarray(x)
    if x.dtype.kind == "b":
        return str(bool(x))
    if x.dtype.kind in "iu":
        return str(int(x))
    if x.dtype.kind == "c":
        return f"{complex(x):.{precision}g}"
    v = float(x)
    return f"{v:.{precision}f}" if abs(v) < 1e5 else f"{v:.{precision}e}"


def format_value(x, precision=2, max_size=6) -> str:
    """A value as the edge label shows it: numbers for small arrays, the
    shape and dtype (and mean absolute value) for larger ones."""
    x = np.asarray(x)
    if x.ndim == 0:
        return _num(x, precision)
    if x.dtype.names is not None:  # float0
        return "0"
    if x.size <= max_size:
        if x.ndim == 1:
            return "[" + ", ".join(_num(v, precision) for v in x) + "]"
        if x.ndim == 2:
            return "[" + ",\n ".join("[" + ", ".join(_num(v, precision) for v in row) + "]"
                                      for row in x) + "]"
    aval = get_aval(x)
    if x.dtype.kind in "fc" and x.size:
        return f"{aval.str_short()} |·|≈{float(np.mean(np.abs(x))):.{precision}g}"
    return aval.str_short()


def _literal_text(v: Literal) -> str:
    val = v.val
    if val.dtype.kind == "f" and float(val).is_integer():
        return str(int(val))
    return _num(val, 3)


def op_label(eqn) -> str:
    """A short label for a primitive node: the lectures' '+1', '*-1', '1/x',
    'exp', with scalar constants written into the node."""
    name = eqn.prim.name
    ins = eqn.inputs
    lit = [isinstance(v, Literal) for v in ins]
    if name == "neg":
        return "*-1"
    if name == "div" and lit[0] and not lit[1]:
        num = _literal_text(ins[0])
        return "1/x" if num == "1" else f"{num}/x"
    if name in ("max", "min") and any(lit) and not all(lit):
        c = _literal_text(ins[lit.index(True)])
        return f"{name}({c}, ·)"
    if name in ("add", "sub", "mul", "div", "pow") and len(ins) == 2 and any(lit) \
            and not all(lit):
        c = _literal_text(ins[lit.index(True)])
        sym = _SYMBOLS[name]
        if lit[1] or name in ("add", "mul"):
            return f"{sym}{c}"
        return f"{c}{sym}x"
    if name == "integer_pow":
        return f"x**{eqn.params['y']}"
    if name == "dot_general":
        (lc, rc), (lb, _) = eqn.params["dimension_numbers"]
        return "@" if not lb else "batched @"
    return _SYMBOLS.get(name, name)


class Graph:
    """The drawn graph of one function at one point.

    ``nodes`` and ``edges`` hold the data (``GraphNode``, ``GraphEdge``);
    ``dot`` is Graphviz source; ``render(path)`` writes SVG or PNG. In a
    notebook the graph shows itself as SVG when Graphviz is installed.
    ``value`` is the function's output and ``grads`` the gradient of each
    input by name (``None`` without a backward pass).
    """

    def __init__(self, nodes, edges, value, grads, inputs, title=""):
        self.nodes: list[GraphNode] = nodes
        self.edges: list[GraphEdge] = edges
        self.value = value
        self.grads: dict | None = grads
        self.inputs: list[str] = inputs
        self.title = title
        self.precision = 2
        self.max_size = 6

    def node(self, id_or_label: str) -> GraphNode:
        """The node with this id, or else the only node with this label."""
        for n in self.nodes:
            if n.id == id_or_label:
                return n
        found = [n for n in self.nodes if n.label == id_or_label]
        if len(found) != 1:
            raise KeyError(f"{len(found)} nodes are labelled {id_or_label!r}")
        return found[0]

    def edges_from(self, node: str) -> list[GraphEdge]:
        nid = self.node(node).id
        return [e for e in self.edges if e.src == nid]

    def edges_to(self, node: str) -> list[GraphEdge]:
        nid = self.node(node).id
        return [e for e in self.edges if e.dst == nid]

    # -- Graphviz ---------------------------------------------------------
    @property
    def dot(self) -> str:
        """Graphviz DOT source: values above the edges, gradients (red) below."""
        lines = ["digraph chainrule {",
                 "  rankdir=LR;",
                 '  graph [fontname="Helvetica"];',
                 '  node [fontname="Helvetica", fontsize=12];',
                 '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.6];']
        if self.title:
            lines.append(f'  label="{_esc(self.title)}"; labelloc=t;')
        style = {"input": 'shape=plaintext, fontsize=14',
                 "const": 'shape=box, style="rounded,dashed", fontsize=10',
                 "op": 'shape=circle, fixedsize=false, width=0.5',
                 "group": 'shape=box, style="rounded,filled", fillcolor="#eef3ff"',
                 "output": 'shape=plaintext, fontsize=14'}
        for n in self.nodes:
            lines.append(f'  {n.id} [label="{_esc(n.label)}", {style[n.kind]}];')
        for e in self.edges:
            top = _html(format_value(e.value, self.precision, self.max_size))
            label = top
            if e.grad is not None:
                bottom = _html(format_value(e.grad, self.precision, self.max_size))
                label = f'{top}<br/><font color="red">{bottom}</font>'
            lines.append(f'  {e.src} -> {e.dst} [label=<{label}>, '
                         f'tooltip="{_esc(e.name)}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def pipe(self, format: str = "svg") -> bytes:
        """The rendered picture as bytes (needs the Graphviz ``dot`` program)."""
        _require_dot()
        try:
            import graphviz
        except ImportError:
            graphviz = None
        if graphviz is not None:
            return graphviz.Source(self.dot).pipe(format=format)
        done = subprocess.run(["dot", f"-T{format}"], input=self.dot.encode(),
                              capture_output=True, check=False)
        if done.returncode:
            raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def render(self, path, format: str | None = None) -> str:
        """Write the picture to ``path`` as ``format`` ('svg' or 'png'; by
        default the path's suffix, else SVG). Needs the Graphviz ``dot``
        program; the ``graphviz`` Python package is used when installed."""
        path = str(path)
        if format is None:
            suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
            format = suffix if suffix in ("svg", "png", "pdf") else "svg"
        data = self.pipe(format)
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def _repr_svg_(self):
        if shutil.which("dot") is None:
            return None
        return self.pipe("svg").decode()

    def __repr__(self):
        ops = sum(n.kind in ("op", "group") for n in self.nodes)
        return (f"<chainrule.viz.Graph {self.title or ''}: {len(self.inputs)} inputs, "
                f"{ops} nodes, {len(self.edges)} edges; .dot for Graphviz source, "
                ".render(path) for SVG/PNG>")


def _html(s: str) -> str:
    return "<br/>".join(html.escape(line) for line in s.split("\n"))


def _esc(s: str) -> str:
    return str(s).replace("\\", "\\\\").replace('"', '\\"')


def _require_dot():
    if shutil.which("dot") is None:
        raise RuntimeError(
            "rendering needs the Graphviz 'dot' program, which is not on PATH. Install "
            "Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
            "graphviz; conda: conda install graphviz) and, optionally, the Python package "
            "(pip install graphviz, or pip install 'chainrule[viz]'). Graph.dot gives the "
            "DOT source without it.")


# ----------------------------------------------------------------- draw ---


def draw(f, *args, group=None, backward=True, precision: int = 2,
         max_size: int = 6) -> Graph:
    """The computational graph of ``f`` at ``args``, as the lectures draw it.

    One node per primitive (or per call of a grouped function), one edge per
    value, labelled with its forward value above and, after the backward
    pass, its gradient below: each node receives the upstream gradient and
    sends the downstream gradients along its input edges. A value used by two
    nodes has two edges, each with the gradient its consumer sends back; the
    gradient of the value is their sum.

    - ``group``: ``{"sigmoid": sigmoid}`` draws every call of ``sigmoid`` as
      one node (or mark the function with ``@chainrule.viz.node("sigmoid")``).
    - ``backward``: ``True`` runs the backward pass of a scalar ``f`` from
      the cotangent 1.0; an array (or list of arrays, one per output) gives
      the output cotangent of a non-scalar ``f``; ``False`` draws values only.
    - ``precision``: decimals shown; ``max_size``: arrays up to this many
      elements are shown in full, larger ones by shape and mean magnitude.

    Indexing ``x[i]`` (a slice then a squeeze in the IR) is drawn as one node.

    Returns a ``Graph``: ``.dot`` is Graphviz source (always available),
    ``.render("g.svg")`` needs the Graphviz ``dot`` program.
    """
    traced = _trace.trace(f, args, group)
    jaxpr = traced.jaxpr
    env, residuals = _trace.evaluate(traced)
    outs = [_trace._read(env, v) for v in jaxpr.outvars]

    contrib: dict[tuple, Any] = {}
    totals = None
    if backward is not False and backward is not None:
        out_cts = _output_cotangents(backward, outs, traced)

        def on_contribution(k, i, v, c, prev):
            key = (k, id(v))
            contrib[key] = contrib[key] + c if key in contrib else c
            return prev + c if prev is not None else c

        totals = _trace.backward(jaxpr, lambda v: _trace._read(env, v), out_cts, residuals,
                                 on_contribution)
        totals = {k: np.asarray(v) for k, v in totals.items()}

    nodes: list[GraphNode] = []
    owner: dict[int, str] = {}
    names: dict[int, str] = {}
    for j, (v, name) in enumerate(zip(jaxpr.invars, traced.in_names)):
        nodes.append(GraphNode(f"in{j}", name, "input"))
        owner[id(v)], names[id(v)] = f"in{j}", name
    for j, v in enumerate(jaxpr.constvars):
        nodes.append(GraphNode(f"c{j}", f"const {v.aval.str_short()}", "const"))
        owner[id(v)], names[id(v)] = f"c{j}", f"const{j}"

    # One node per equation, or per group instance (outermost group wins).
    group_nodes: dict[int, int] = {}
    node_of_eqn: list[str] = []
    merged = _index_pairs(jaxpr, traced.tags)
    for k, (eqn, tags) in enumerate(zip(jaxpr.eqns, traced.tags)):
        if k in merged:  # the squeeze after a slice: x[i] is one node
            j, label = merged[k]
            nid = node_of_eqn[j]
            idx = next(i for i, n in enumerate(nodes) if n.id == nid)
            nodes[idx] = nodes[idx]._replace(label=label, eqns=nodes[idx].eqns + (k,))
        elif tags:
            label, inst = tags[0]
            if inst not in group_nodes:
                group_nodes[inst] = len(nodes)
                nodes.append(GraphNode(f"g{inst}", label, "group", ()))
            idx = group_nodes[inst]
            nodes[idx] = nodes[idx]._replace(eqns=nodes[idx].eqns + (k,))
            nid = nodes[idx].id
        else:
            nid = f"e{k}"
            nodes.append(GraphNode(nid, op_label(eqn), "op", (k,)))
        node_of_eqn.append(nid)
        for m, v in enumerate(eqn.outputs):
            owner[id(v)], names[id(v)] = nid, f"s{k}" + (f"_{m}" if m else "")

    edges: dict[tuple, GraphEdge] = {}
    for k, eqn in enumerate(jaxpr.eqns):
        dst = node_of_eqn[k]
        for v in eqn.inputs:
            if isinstance(v, Literal) or owner[id(v)] == dst:
                continue
            key = (owner[id(v)], dst, id(v))
            g = contrib.get((k, id(v)))
            if key in edges:
                old = edges[key]
                if g is not None:
                    g = g if old.grad is None else old.grad + g
                edges[key] = old._replace(grad=np.asarray(g) if g is not None else old.grad)
            else:
                grad = None
                if totals is not None and is_float(v.aval.dtype) and id(v) in totals:
                    grad = np.asarray(g) if g is not None else np.zeros(v.aval.shape,
                                                                        v.aval.dtype)
                edges[key] = GraphEdge(owner[id(v)], dst, names[id(v)], env[id(v)], grad)
    out_names = ["out"] if len(jaxpr.outvars) == 1 else [
        f"out{j}" for j in range(len(jaxpr.outvars))]
    for j, (v, label) in enumerate(zip(jaxpr.outvars, out_names)):
        nodes.append(GraphNode(f"out{j}", label, "output"))
        if isinstance(v, Literal):
            continue
        grad = None
        if totals is not None and id(v) in totals:
            grad = out_cts[j]
        edges[(owner[id(v)], f"out{j}", id(v))] = GraphEdge(owner[id(v)], f"out{j}",
                                                           names[id(v)], env[id(v)], grad)

    grads = None
    if totals is not None:
        grads = {}
        for v, name in zip(jaxpr.invars, traced.in_names):
            if id(v) in totals:
                grads[name] = totals[id(v)]
            elif is_float(v.aval.dtype):
                grads[name] = np.zeros(v.aval.shape, v.aval.dtype)
    value = outs[0] if len(outs) == 1 else outs
    g = Graph(nodes, list(edges.values()), value, grads, list(traced.in_names),
              title=traced.fun_name if traced.fun_name != "<lambda>" else "")
    g.precision, g.max_size = precision, max_size
    return g


def _index_pairs(jaxpr, tags) -> dict:
    """``{k: (j, "[i]")}`` for each squeeze ``k`` of a slice ``j`` used only
    there: what ``x[i]`` stages to, drawn as one node."""
    uses: dict[int, int] = {}
    producer: dict[int, int] = {}
    for k, eqn in enumerate(jaxpr.eqns):
        for v in eqn.inputs:
            uses[id(v)] = uses.get(id(v), 0) + 1
        for v in eqn.outputs:
            producer[id(v)] = k
    for v in jaxpr.outvars:
        uses[id(v)] = uses.get(id(v), 0) + 1
    pairs = {}
    for k, eqn in enumerate(jaxpr.eqns):
        if eqn.prim.name != "squeeze" or isinstance(eqn.inputs[0], Literal):
            continue
        j = producer.get(id(eqn.inputs[0]))
        if j is None or jaxpr.eqns[j].prim.name != "slice" or uses[id(eqn.inputs[0])] != 1 \
                or tags[j] != tags[k]:
            continue
        sl, dims = jaxpr.eqns[j], set(eqn.params["dimensions"])
        start, limit = sl.params["start_indices"], sl.params["limit_indices"]
        strides = sl.params.get("strides") or (1,) * len(start)
        full = sl.inputs[0].aval.shape
        parts = []
        for d, (a, b, st) in enumerate(zip(start, limit, strides)):
            if d in dims:
                parts.append(str(a))
            elif (a, b, st) == (0, full[d], 1):
                parts.append(":")
            else:
                parts.append(f"{a}:{b}" + (f":{st}" if st != 1 else ""))
        while len(parts) > 1 and parts[-1] == ":":
            parts.pop()
        pairs[k] = (j, "[" + ", ".join(parts) + "]")
    return pairs


def _output_cotangents(backward, outs, traced):
    if backward is True:
        if len(outs) != 1 or np.shape(outs[0]) != () or not is_float(np.asarray(outs[0]).dtype):
            shapes = [f"{np.asarray(o).dtype}{list(np.shape(o))}" for o in outs]
            raise TypeError(
                f"draw({traced.fun_name}): backward=True needs a function returning one real "
                f"scalar, but it returned {shapes}. Pass the output cotangent instead "
                "(backward=np.ones(shape)) or backward=False to draw values only.")
        return [np.ones((), np.asarray(outs[0]).dtype)]
    cts = list(backward) if isinstance(backward, (list, tuple)) else [backward]
    if len(cts) != len(outs):
        raise ValueError(f"draw: {len(cts)} cotangent(s) for {len(outs)} output(s)")
    fixed = []
    for c, o in zip(cts, outs):
        c = np.asarray(c, dtype=np.asarray(o).dtype) if c is not None else None
        if c is not None and c.shape != np.shape(o):
            raise ValueError(f"draw: a cotangent of shape {c.shape} for an output of shape "
                             f"{np.shape(o)}")
        fixed.append(c)
    return fixed
