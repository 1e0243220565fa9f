"""batchgraph: a small, exact NumPy computation graph, and a batch-size study built on it."""

from .graph import Graph, Input, Node, Parameter
from .nodes import BCE, Add, Linear, Multiply, Sigmoid
from .optim import SGD, scaled_lr

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
    "scaled_lr",
]
__version__ = "0.1.0"
