"""batchgraph: a small, exact NumPy computation graph, and a batch-size study built on it.

The engine's names are importable from here (``from batchgraph import Graph, Linear``) and are
loaded on first use, so that a study stage importing ``batchgraph.study…`` does not load the
engine unless it uses it.
"""

from importlib import import_module

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
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module(".engine", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
