"""The computation graph: nodes with forward/backward, a Graph that orders and runs them, SGD (NumPy only)."""

from .graph import Graph, Input, Node, Parameter
from .nodes import BCE, Add, Linear, Multiply, Sigmoid
from .optim import SGD

__all__ = [
    "BCE",
    "SGD",
    "Add",
    "Graph",
    "Input",
    "Linear",
    "Multiply",
    "Node",
    "Parameter",
    "Sigmoid",
]
