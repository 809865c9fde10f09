"""Pictures and code a person reads: the computational graph of a function
with values and gradients on its edges (``draw``), and its forward and
backward pass as flat NumPy code (``flat_code``).

``draw(f, *args).dot`` is Graphviz source and needs nothing else;
``.render("graph.svg")`` needs the Graphviz ``dot`` program
(``apt-get install graphviz``) and uses the ``graphviz`` Python package when
it is installed (``pip install 'chainrule[viz]'``).
"""

from ._trace import node
from .flat import FlatCode, flat_code
from .graph import Graph, GraphEdge, GraphNode, draw, format_value

__all__ = ["draw", "node", "flat_code", "Graph", "GraphNode", "GraphEdge", "FlatCode",
           "format_value"]
