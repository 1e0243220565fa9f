"""Graph: topological order, forward feeding, backward seeding, fan-out sums, fresh gradients."""

from __future__ import annotations

import numpy as np
import pytest

from batchgraph import Add, Graph, Input, Multiply, Parameter, Sigmoid


def test_order_puts_every_node_after_its_inputs():
    x, w = Input(), Parameter(2.0)
    h = Multiply(x, w)
    out = Add(h, Sigmoid(h))
    nodes = Graph(out).nodes
    position = {id(n): i for i, n in enumerate(nodes)}
    assert len(nodes) == 5
    for node in nodes:
        assert all(position[id(parent)] < position[id(node)] for parent in node.inputs)
    assert nodes[-1] is out


def test_deep_chain_needs_no_recursion():
    x = Input(np.array(1.0))
    node = x
    for _ in range(20_000):
        node = Add(node, Parameter(0.0))
    graph = Graph(node)
    assert len(graph.nodes) == 40_001
    assert graph.forward() == 1.0
    graph.backward()
    assert x.grad == 1.0


def test_forward_feeds_inputs():
    x, w = Input(), Parameter(3.0)
    graph = Graph(Multiply(x, w))
    assert graph.forward({x: np.array([1.0, 2.0])}).tolist() == [3.0, 6.0]
    assert graph.forward({x: np.array([-1.0])}).tolist() == [-3.0]


def test_backward_seeds_one_for_a_scalar_and_fills_every_node():
    x, w = Input(np.array(2.0)), Parameter(5.0)
    out = Multiply(x, w)
    graph = Graph(out)
    graph.forward()
    graph.backward()
    assert out.grad == 1.0
    assert w.grad == 2.0 and x.grad == 5.0


def test_fan_out_gradients_sum():
    """y = x·x + x: dy/dx = 2x + 1 (the early-tinygrad bug overwrote instead of summing)."""
    x = Parameter(3.0)
    graph = Graph(Add(Multiply(x, x), x))
    graph.forward()
    graph.backward()
    assert x.grad == pytest.approx(7.0)


def test_gradients_are_fresh_on_every_backward():
    x = Parameter(3.0)
    graph = Graph(Multiply(x, x))
    graph.forward()
    graph.backward()
    graph.backward()
    assert x.grad == pytest.approx(6.0)


def test_backward_accepts_an_upstream_gradient():
    x = Parameter(np.array([1.0, 2.0]))
    graph = Graph(Multiply(x, x))
    graph.forward()
    graph.backward(np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad, [2.0, -4.0])


def test_nodes_take_only_nodes():
    with pytest.raises(TypeError, match="takes nodes"):
        Add(Parameter(1.0), 2.0)


def test_fan_out_gradients_are_fresh_and_summed_on_every_backward():
    """The first edge into a node sets its gradient and later edges add: no carry-over between calls."""
    x, w = Input(), Parameter(2.0)
    h = Multiply(x, w)
    graph = Graph(Add(Multiply(h, h), Add(h, x)))  # h and x each feed two ops
    for value in (3.0, -1.0, 3.0):
        graph.forward({x: np.array(value)})
        graph.backward()
        h_value = 2.0 * value
        assert h.grad == pytest.approx(2 * h_value + 1)
        assert x.grad == pytest.approx((2 * h_value + 1) * 2.0 + 1)
        assert w.grad == pytest.approx((2 * h_value + 1) * value)


def test_every_node_gets_a_gradient_of_its_shape():
    x, w, c = Input(np.ones((4, 3))), Parameter(np.ones(3)), Parameter(0.5)
    graph = Graph(Sigmoid(Add(Multiply(x, w), c)))
    graph.forward()
    graph.backward()
    for node in graph.nodes:
        assert node.grad is not None and np.shape(node.grad) == np.shape(node.value)
