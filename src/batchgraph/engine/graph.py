"""The graph core: nodes that hold a value and a gradient, and a Graph that orders and runs them."""

from __future__ import annotations

from operator import attrgetter

import numpy as np

_value = attrgetter("value")


class Node:
    """A value computed from its input nodes.

    Subclasses implement ``forward(*input_values) -> value`` and
    ``backward(grad) -> one gradient per input`` (the local chain rule, as in
    PyTorch's ``autograd.Function``). Leaves (``Input``, ``Parameter``) have no inputs.
    """

    __slots__ = ("grad", "inputs", "needs_grad", "value")

    def __init__(self, *inputs: Node):
        for node in inputs:
            if not isinstance(node, Node):
                raise TypeError(f"{type(self).__name__} takes nodes, got {type(node).__name__}")
        self.inputs = inputs
        self.value = None
        self.grad = None
        # False when nothing it depends on can have a gradient (set by Graph): a backward may then
        # skip computing its gradient, and its .grad stays None.
        self.needs_grad = True

    def forward(self, *values):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    def __repr__(self) -> str:
        shape = None if self.value is None else np.shape(self.value)
        return f"{type(self).__name__}(shape={shape})"


class Input(Node):
    """A leaf whose value is fed to ``Graph.forward`` (data, labels).

    A value given here is a constant: a feed may leave this Input out while it still holds
    exactly that array. Once anything else has been assigned, every feed must include it.
    ``requires_grad=False`` (PyTorch's name) says no one reads dL/d value: backward leaves its
    ``.grad`` None and skips computing it (for data, the biggest gradient of a batch).
    """

    __slots__ = ("_constant", "requires_grad")

    def __init__(self, value=None, requires_grad: bool = True):
        super().__init__()
        self.value = None if value is None else np.asarray(value, dtype=np.float64)
        self._constant = self.value
        self.requires_grad = bool(requires_grad)


class Parameter(Node):
    """A trainable leaf; its value is a float64 array that optimisers update in place."""

    __slots__ = ()

    def __init__(self, value):
        super().__init__()
        self.value = np.array(value, dtype=np.float64)


def topological_order(output: Node) -> list[Node]:
    """Every ancestor of ``output`` before its users (iterative DFS: no recursion limit).

    ValueError if a node is its own ancestor (a cycle, e.g. made by reassigning ``.inputs``):
    such a graph has no order, and walking it would never end.
    """
    order: list[Node] = []
    done: set[int] = set()
    on_path: set[int] = set()  # expanded, not yet done: the ancestors of what is being visited
    stack: list[tuple[Node, bool]] = [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            on_path.discard(id(node))
            done.add(id(node))
            order.append(node)
            continue
        if id(node) in on_path:
            raise ValueError(f"the graph has a cycle through {node!r}: a node cannot be its own input")
        on_path.add(id(node))
        stack.append((node, True))
        for parent in reversed(node.inputs):
            if id(parent) not in done:
                stack.append((parent, False))
    return order


def _describe(obj, limit: int = 60) -> str:
    """``obj`` for an error message: a node's repr, else its type and repr cut to ``limit``."""
    text = repr(obj)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text if isinstance(obj, Node) else f"{type(obj).__name__} {text}"


def _explain(node: Node, exc: Exception) -> Exception:
    """The error of ``node.forward`` as a ValueError naming the node and its inputs' shapes."""
    name = type(node).__name__
    if str(exc).startswith(f"{name}:"):
        return exc
    empty = [type(n).__name__ for n in node.inputs if n.value is None]
    if empty:
        return ValueError(f"{name}: its input {empty[0]} has no value; feed it to Graph.forward")
    shapes = ", ".join(str(np.shape(n.value)) for n in node.inputs)
    return ValueError(f"{name}: cannot combine inputs of shapes {shapes} ({exc})")


class Graph:
    """Runs the forward pass in topological order and the backward pass in reverse."""

    def __init__(self, output: Node):
        if not isinstance(output, Node):
            raise TypeError(f"Graph takes its output Node, got {_describe(output)}")
        self.output = output
        self.nodes = topological_order(output)
        self.inputs = [n for n in self.nodes if isinstance(n, Input)]
        self._input_ids = {id(n) for n in self.inputs}
        self.parameters = [n for n in self.nodes if isinstance(n, Parameter)]
        for node in self.nodes:  # topological: a node's inputs are settled before it
            if isinstance(node, Input):
                node.needs_grad = node.requires_grad
            elif node.inputs:
                node.needs_grad = any(parent.needs_grad for parent in node.inputs)
        # The hot loops touch only computed nodes, with their inputs resolved once here.
        self._ops = [n for n in self.nodes if n.inputs]
        # In reverse order, the first edge that reaches a node sets its gradient and later ones
        # add to it: known once here, so backward needs no reset pass and no None checks.
        seen: set[int] = set()
        self._backward_plan = []
        for node in reversed(self._ops):
            edges = []
            if not node.needs_grad:
                continue
            for parent in node.inputs:
                edges.append((parent, id(parent) not in seen and parent.needs_grad))
                if parent.needs_grad:
                    seen.add(id(parent))
            self._backward_plan.append((node, edges))

    def forward(self, feed=None):
        """Set each ``Input`` from ``feed`` (a mapping node -> array), compute every node.

        A feed must hold every Input of this graph, except one still holding the constant it was
        built with, and nothing else. Without a feed the Inputs keep the values already set on
        them (``model.set_batch`` assigns ``.value`` directly).
        """
        if feed is not None:
            self._check_feed(feed)
            for node, value in feed.items():
                node.value = value
        try:
            for node in self._ops:
                node.value = node.forward(*map(_value, node.inputs))
        except (ValueError, TypeError, AttributeError) as exc:
            raise _explain(node, exc) from exc
        return self.output.value

    def _check_feed(self, feed) -> None:
        """Refuse a feed key that is not an Input of this graph, and a feed that leaves out an
        Input whose value came from an earlier call (it would silently run on the last batch)."""
        ids = self._input_ids
        for key in feed:
            if id(key) not in ids:  # keys are alive, so an id match is this graph's own Input
                if not isinstance(key, Input):
                    raise TypeError(f"feed keys must be Input nodes of the graph, got {_describe(key)}")
                raise ValueError(f"feed key {key!r} is not an Input of this graph (another graph's?)")
        if len(feed) == len(self.inputs):  # distinct keys, each one of ours: all are there
            return
        for i, node in enumerate(self.inputs):
            if node not in feed and (node.value is None or node.value is not node._constant):
                stale = "" if node.value is None else " (else it reuses its value from an earlier call)"
                raise ValueError(
                    f"Input node {node!r} (input {i} of {len(self.inputs)} in the graph's order) is not in "
                    f"the feed; every Input must be fed on each forward{stale}"
                )

    def backward(self, grad=None):
        """Fill ``.grad`` = dL/d value on every node, summed over fan-out, fresh on every call.

        ``grad`` seeds the output's gradient; by default ones (1.0 for a scalar loss).
        """
        out = self.output
        if out.value is None:
            raise ValueError(f"{out!r} has no value: run forward before backward")
        if grad is None:
            grad = np.empty(np.shape(out.value))
            grad.fill(1.0)  # np.ones, without its Python wrapper
        elif np.shape(grad) != np.shape(out.value):
            raise ValueError(
                f"the seed gradient of {type(out).__name__} must have the output's shape "
                f"{np.shape(out.value)}, got {np.shape(grad)}"
            )
        out.grad = np.asarray(grad, dtype=np.float64)
        for node, edges in self._backward_plan:
            for (parent, first), g in zip(edges, node.backward(node.grad)):
                if not parent.needs_grad:
                    continue  # a node may still have computed it (or given None)
                # `+` (not `+=`) never writes into an array another node still holds.
                parent.grad = g if first else parent.grad + g
        return self
